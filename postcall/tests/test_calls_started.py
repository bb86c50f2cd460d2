"""`voice_calls_started_total` counts a call once, when the caller is put through (postcall
observer), or as it moves on to another process before that: there it is a call moved in,
whose start is not counted again. A phone call released as its process drained, its model's
session not up yet, counted as ended but never as started."""

from __future__ import annotations

from typing import Any

import pytest

from postcall import finish, metrics
from postcall.observer import CallObserver
from realtime.live_client import Ready


@pytest.fixture
def nothing_written(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.RECORD_CALLS = False

    async def written(call_id: str, turns: list[dict[str, Any]]) -> str:
        return "resolved_info"

    monkeypatch.setattr(finish, "finish_call", written)
    monkeypatch.setattr(finish, "hand_on_turns", written)
    monkeypatch.setattr(finish, "keep_turns", written)


def started_count() -> float:
    return metrics.CALLS_STARTED.labels("phone")._value.get()


async def moved(before_ready: bool) -> None:
    """A phone call begun here, moved to another process, and ended there."""
    here = CallObserver(call_id="CALL-MOVED", channel="phone", clock=lambda: 0.0)
    await here.started()
    if not before_ready:
        here.on_live_event(Ready(queued_audio_bytes=0))
    await here.moved_out()
    there = CallObserver(call_id="CALL-MOVED", channel="phone", clock=lambda: 0.0)
    await there.started(moved_in=True)
    there.on_live_event(Ready(queued_audio_bytes=0))
    await there.ended("caller_hung_up")


@pytest.mark.parametrize("before_ready", [True, False])
async def test_a_call_that_moves_on_counts_as_started_once(
    nothing_written: None, before_ready: bool
) -> None:
    before = started_count()

    await moved(before_ready)

    assert started_count() == before + 1
