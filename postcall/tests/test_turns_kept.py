"""A call's turns (contract section 10) are kept whoever finishes the call and whenever the
database blinks: those of the process that ended it when another finished it first (the
webhook correcting a transfer, a sweeper), and those of a process the call moved on from while
the database was away, written once it is back, in the order they were taken."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from postcall import finish, summary
from postcall.observer import CallObserver
from postcall.tests.test_finished_once import TURN, add_call, now, record
from realtime import live_protocol as lp

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_ending_process_keeps_its_turns_when_another_finished_the_call_first(
    transactional_db: Any,
) -> None:
    await add_call("CALL-1", ended_ago=dt.timedelta(seconds=1))
    # /twilio/voice correcting how a transfer went finishes a closed call it finds unfinished
    # while the process that ended it is still writing the last of its recording.
    assert await finish.correct_outcome("CALL-1") == "escalated"
    turn = {"at": now(), **TURN}

    assert await finish.finish_call("CALL-1", [turn]) is None  # finished already
    assert await finish.finish_call("CALL-1", [turn]) is None  # and not written twice
    await summary.pending()

    done = await record("CALL-1")
    assert done["outcome"] == "escalated" and done["turns"] == [turn]


async def test_the_turns_of_a_call_that_moved_on_while_the_database_was_away_are_kept(
    transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_call("CALL-1", ended_ago=None)
    moments = iter([100.0, 100.0])  # the observer's start, then its move
    observer = CallObserver(call_id="CALL-1", channel="web", clock=lambda: next(moments))
    await observer.started(moved_in=True)
    observer.on_live_event(lp.VoiceActivity(start=True), at=97.0)
    observer.on_live_event(lp.VoiceActivity(start=False), at=98.0)
    observer.on_live_event(lp.AudioChunk(data=b"\x00\x00" * 480), at=98.6)
    observer.on_live_event(lp.TurnComplete(), at=99.0)
    written = finish.keep_turns
    blinks = [AutoReconnect("connection refused")]

    async def blinking(call_id: str, turns: list[dict[str, Any]]) -> None:
        if blinks:
            raise blinks.pop()
        await written(call_id, turns)

    monkeypatch.setattr(finish, "keep_turns", blinking)
    await observer.moved_out()  # the database away as the call moves on

    # Meanwhile the next process ended the call, and finished it with its own turn.
    later = {"at": now() + dt.timedelta(seconds=30), **TURN}
    started = (await record("CALL-1"))["started_at"]
    closed = {"ended_at": started + dt.timedelta(minutes=4), "end_reason": "caller_hung_up"}
    await mongo_calls().update_one({"call_id": "CALL-1"}, {"$set": closed})
    assert await finish.finish_call("CALL-1", [later]) == "escalated"

    async with asyncio.timeout(5):  # the database is back: written by the retry
        while len((await record("CALL-1"))["turns"]) < 2:
            await asyncio.sleep(0.1)
    await summary.pending()

    turns = (await record("CALL-1"))["turns"]
    assert [turn["first_audio_ms"] for turn in turns] == [600, 700]  # in the order taken
    assert turns[1] == later


def mongo_calls() -> Any:
    from support import mongo

    return mongo.async_db().calls
