"""What the server process sets up at start (voiceproject/lifecycle.py, run from asgi.py)."""

from __future__ import annotations

import importlib
import sys

import pytest

from voiceproject.lifecycle import GIL_SWITCH_INTERVAL_S


def test_a_page_being_rendered_gives_the_event_loop_the_gil_within_half_a_millisecond() -> None:
    importlib.import_module("voiceproject.asgi")

    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)
    assert GIL_SWITCH_INTERVAL_S <= 0.0005  # CPython's default, 5 ms, doubled a call's p99 gap
