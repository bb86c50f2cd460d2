"""Taking a call over from the process carrying it (continuity/calls.py `take_over`): the
carrier is asked to let go, and the call is claimed once it has, so that the Live API session
is never open in two processes at once (contract section 7)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.core.cache import cache
from pymongo.errors import AutoReconnect

import realtime.call_session  # noqa: F401  (a call's messages to this process: its handlers)
from continuity import process
from continuity.calls import RELEASE_WAIT_S, _claim, find_call, take_over
from realtime.call_record import CallRecord, closing_later
from realtime.call_record import now as utcnow
from support import mongo

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_carrier_that_missed_the_ask_to_let_go_is_asked_again_before_it_is_taken() -> None:
    layer = get_channel_layer()
    assert layer is not None
    carrier = await layer.new_channel()  # another process, alive and carrying the call
    await cache.aset(process._alive_key(carrier), "w2:1234", 30)
    calls = mongo.async_db().calls
    await calls.insert_one({
        "call_id": "CALL-busy", "user_id": 101, "channel": "web", "carrier": carrier,
        "ended_at": None, "started_at": utcnow(),
    })  # fmt: skip
    asked: list[dict[str, Any]] = []

    async def carry() -> None:
        while True:
            asked.append(await layer.receive(carrier))
            if len(asked) == 2:  # the first ask was lost on its way: it lets go on the second
                await calls.update_one({"call_id": "CALL-busy"}, {"$set": {"carrier": None}})

    carrying = asyncio.create_task(carry())
    try:
        call = await find_call(call_id="CALL-busy")
        assert call is not None
        taken = await take_over(call)
        record = await calls.find_one({"call_id": "CALL-busy"})
    finally:
        carrying.cancel()

    assert taken and asked == [{"type": "call.release", "call_id": "CALL-busy"}] * 2
    assert record is not None and record["carrier"] == await process.process_channel()


async def test_of_two_take_overs_from_one_reading_only_one_claims_the_call(db: Any) -> None:
    mine = await process.process_channel()
    calls = mongo.async_db().calls
    # This process claimed the call already, and its start failed: nobody carries it here.
    await calls.insert_one({
        "call_id": "CALL-twice", "user_id": 101, "channel": "web", "carrier": mine,
        "ended_at": None, "started_at": utcnow(), "claim": "claimed-before",
    })  # fmt: skip
    call = await find_call(call_id="CALL-twice")
    assert call is not None

    taken = await asyncio.gather(take_over(call), take_over(call))

    assert sorted(taken) == [False, True]
    process.unclaim("CALL-twice")  # that start failed too
    again = await find_call(call_id="CALL-twice")  # a later try reads the new claim
    assert again is not None and await take_over(again)


async def test_a_call_ended_here_while_the_database_was_away_is_closed_when_another_asks_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its stream came back to another process as the database came back, before this one's
    retry of the record's close (up to a quarter of a minute away after a long freeze): asked
    to let go, this process closes the call at once, and the other finds it ended rather than
    taking over, after RELEASE_WAIT_S, a call that ended here."""
    monkeypatch.setattr(mongo, "FIRST_RETRY_S", 60.0)  # the retry's next turn: far off
    record = CallRecord(
        call_id="CALL-ended-here", user_id=101, channel="phone",
        owner=await process.process_channel(),
    )  # fmt: skip
    await record.open()
    written = record._flush
    away = [AutoReconnect("database away")]

    async def away_at_first(extra: dict[str, Any] | None = None) -> None:
        if away:
            raise away.pop()
        await written(extra)

    record._flush = away_at_first  # type: ignore[method-assign]
    await record.close("ended_by_staff")
    assert closing_later("CALL-ended-here") is not None
    call = await find_call(call_id="CALL-ended-here")
    assert call is not None and not call.ended

    started = time.monotonic()
    taken = await _claim(call, "another-process")  # its take_over, as this process is asked
    waited = time.monotonic() - started

    ended = await find_call(call_id="CALL-ended-here")
    assert not taken and waited < RELEASE_WAIT_S
    assert ended is not None and ended.ended and ended.end_reason == "ended_by_staff"
    assert closing_later("CALL-ended-here") is None
