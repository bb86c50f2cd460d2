"""What the server process sets up at start and does at its end (voiceproject/lifecycle.py,
run from asgi.py)."""

from __future__ import annotations

import datetime as dt
import importlib
import sys
from typing import Any

import pytest

from postcall import summary
from postcall.tests.test_summary import CALL, FakeGemini, gemini, no_backoff
from support import mongo
from voiceproject import lifecycle
from voiceproject.lifecycle import GIL_SWITCH_INTERVAL_S

__all__ = ["gemini", "no_backoff"]  # fixtures: the fake summary model, without its pauses


def test_a_page_being_rendered_gives_the_event_loop_the_gil_within_half_a_millisecond() -> None:
    importlib.import_module("voiceproject.asgi")

    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)
    assert GIL_SWITCH_INTERVAL_S <= 0.0005  # CPython's default, 5 ms, doubled a call's p99 gap


# --- At shutdown ------------------------------------------------------------------------------


async def ended_call(call_id: str) -> None:
    ended = dt.datetime.now(dt.UTC)
    await mongo.async_db().calls.insert_one({
        **CALL, "call_id": call_id, "started_at": ended - dt.timedelta(minutes=2),
        "ended_at": ended,
    })  # fmt: skip


async def summary_of(call_id: str) -> Any:
    return ((await mongo.async_db().calls.find_one({"call_id": call_id})) or {}).get("summary")


@pytest.mark.django_db(transaction=True)
async def test_at_shutdown_a_summary_being_written_is_waited_for(gemini: FakeGemini) -> None:
    await ended_call("CALL-1")
    gemini.delay_s = 0.3
    summary.schedule("CALL-1")  # the last call of a draining process just ended

    await lifecycle.close_when_written()

    assert (await summary_of("CALL-1"))["source"] == "model"


@pytest.mark.django_db(transaction=True)
async def test_at_shutdown_a_call_whose_summary_is_too_slow_gets_the_account_from_its_tools(
    gemini: FakeGemini, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CALL_SUMMARY_TIMEOUT_S = 10
    monkeypatch.setattr(lifecycle, "SUMMARIES_WAIT_S", 0.3)
    await ended_call("CALL-1")
    gemini.delay_s = 1.5
    summary.schedule("CALL-1")

    await lifecycle.close_when_written()

    written = await summary_of("CALL-1")
    assert written["text"] == "Resolved with a refund: refunded ₹337.50 (100%) on ORD-1001."
    assert written["error"] == "the server stopped before the model answered"
    await summary.pending()  # nothing left running
