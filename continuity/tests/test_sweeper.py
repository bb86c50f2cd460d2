"""Calls no process carries any more are ended by the sweeper (continuity/sweeper.py) and get
what any ended call gets: the after-call fields of contract section 10 (outcome, duration,
turns, cost, summary), and a warm escalation's ticket back in the queue as a plain one."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

import pytest
from channels.layers import get_channel_layer
from pymongo.errors import ServerSelectionTimeoutError

from continuity import calls, process, sweeper
from continuity.sweeper import sweep_once
from livestaff.link import LIVE_CALLS_GROUP, call_group
from postcall import logs, summary
from realtime.call_record import CallRecord
from realtime.call_record import now as utcnow
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.voice_harness import BrowserCall, call_record, wait_until_ended
from support import mongo
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)


def stored_call(call_id: str, started: datetime, **fields: Any) -> dict[str, Any]:
    """A call a process was carrying: the customer asked for a person, the agent escalated."""
    return {
        "call_id": call_id, "user_id": 101, "channel": "web", "started_at": started,
        "ended_at": None, "end_reason": None, "worker": "w1",
        "transcript": [
            {"role": "user", "text": "I want to talk to a person.", "at": started},
            {"role": "agent", "text": "I'm fetching a colleague for you now.", "at": started},
        ],
        "tool_calls": [{
            "name": "escalate_to_human", "args": {"reason": "Wants a person"},
            "result": {"ok": True, "ticket_id": f"TKT-{call_id}"}, "ok": True,
            "started_at": started, "ms": 12,
        }],
        "usage": {"prompt_token_count": 4000, "response_token_count": 900,
                  "total_token_count": 4900},
        "turns": [{"at": started, "user_ms": 310, "first_audio_ms": 820, "tools_ms": 12,
                   "source": "live"}],
        **fields,
    }  # fmt: skip


async def live_ticket(call_id: str) -> None:
    await mongo.async_db().escalations.insert_one({
        "ticket_id": f"TKT-{call_id}", "user_id": 101, "reason": "Wants a person",
        "priority": "normal", "status": "open", "assignee": None, "notes": [],
        "call_id": call_id, "origin": "agent", "live": True, "created_at": utcnow(),
        "resolved_at": None,
    })  # fmt: skip


async def test_calls_nobody_carries_get_their_after_call_fields_and_tickets_leave_live(
    settings: Any,
) -> None:
    settings.VOICE_RESUME_GRACE_S = 30
    now = utcnow()
    started = (now - timedelta(minutes=3)).replace(microsecond=0)  # as MongoDB keeps it
    calls = mongo.async_db().calls
    await calls.insert_many([
        # The customer's page went and did not come back within the grace period.
        stored_call("CALL-left", started, carrier=None, last_seen_at=now,
                    detached_at=now - timedelta(minutes=1)),
        # Its process died: nobody stamps its record any more.
        stored_call("CALL-lost", started, carrier="process-gone",
                    last_seen_at=now - timedelta(minutes=2)),
        # Still carried: left alone.
        stored_call("CALL-up", started, carrier="process-up", last_seen_at=now),
    ])  # fmt: skip
    for call_id in ("CALL-left", "CALL-lost", "CALL-up"):
        await live_ticket(call_id)

    assert await sweep_once() == 2
    await summary.pending()

    left = await calls.find_one({"call_id": "CALL-left"})
    lost = await calls.find_one({"call_id": "CALL-lost"})
    up = await calls.find_one({"call_id": "CALL-up"})
    assert left is not None and lost is not None and up is not None
    assert (left["end_reason"], lost["end_reason"]) == ("caller_left", "lost")
    for ended in (left, lost):
        assert ended["outcome"] == "escalated"
        assert ended["cost"]["amount"] > 0
        assert ended["turns"] == stored_call("x", started)["turns"]
        assert ended["summary"]["text"]  # without GEMINI_API_KEY: the account from its tools
    # A call nobody came back for ended when its page went, a minute ago (not when its grace
    # period ran out); a lost call when last seen.
    assert left["ended_at"] == left["detached_at"]
    assert left["duration_s"] == pytest.approx(120, abs=2)
    assert lost["duration_s"] == pytest.approx(60, abs=2)
    assert "outcome" not in up and up["ended_at"] is None
    live = {t["call_id"]: t["live"] async for t in mongo.async_db().escalations.find()}
    assert live == {"CALL-left": False, "CALL-lost": False, "CALL-up": True}


async def test_a_call_its_living_process_carries_is_not_lost_for_a_database_outage(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database was away for three minutes: the process carrying the call could not
    stamp its record, but carried it all along. The first sweep once it is back leaves it."""
    page = await BrowserCall.open()
    call_id = str((await page.next_event("ready"))["call_id"])
    await live.wait_for_session()

    async def away(self: CallRecord, extra: Any = None) -> None:
        raise ServerSelectionTimeoutError("database away")

    monkeypatch.setattr(CallRecord, "_flush", away)  # no stamps meanwhile
    await mongo.async_db().calls.update_one(
        {"call_id": call_id}, {"$set": {"last_seen_at": utcnow() - timedelta(minutes=3)}}
    )  # as the record stood when the database went away
    ended = await sweep_once()
    monkeypatch.undo()

    assert ended == 0
    assert (await call_record(call_id))["ended_at"] is None
    await page.send({"type": "end"})
    assert (await wait_until_ended(call_id))["end_reason"] == "caller_hung_up"


async def test_a_call_its_living_process_lost_track_of_is_ended_by_that_process() -> None:
    """A record naming this process, unstamped, for a call this process does not carry (it
    would be a bug): only this process can tell, and its sweep ends it."""
    now = utcnow()
    started = (now - timedelta(minutes=5)).replace(microsecond=0)
    mine = await process.process_channel()
    await mongo.async_db().calls.insert_one(stored_call(
        "CALL-astray", started, carrier=mine, last_seen_at=now - timedelta(minutes=3)
    ))  # fmt: skip

    assert await sweep_once() == 1
    await summary.pending()
    assert (await call_record("CALL-astray"))["end_reason"] == "lost"


async def test_a_call_let_go_waits_out_a_grace_period_longer_than_a_lost_records(
    settings: Any,
) -> None:
    """An operator gives pages five minutes to come back (mobile networks): a call let go
    (its page dropped as its process drained) is nobody's, and unstamped, for longer than a
    dead process's record may be; it is still waiting for its page, not lost."""
    settings.VOICE_RESUME_GRACE_S = 300.0
    now = utcnow()
    left = now - timedelta(minutes=3)
    await mongo.async_db().calls.insert_one(stored_call(
        "CALL-waiting", now - timedelta(minutes=10), carrier=None, detached_at=left,
        last_seen_at=left,
    ))  # fmt: skip

    assert await sweep_once() == 0
    assert (await call_record("CALL-waiting"))["ended_at"] is None
    assert await calls.end_expired(now + timedelta(minutes=3)) == [("CALL-waiting", "caller_left")]


async def test_staff_pages_on_a_call_the_sweeper_ended_are_told_it_ended(settings: Any) -> None:
    settings.VOICE_RESUME_GRACE_S = 30
    now = utcnow()
    await mongo.async_db().calls.insert_one(stored_call(
        "CALL-left", now - timedelta(minutes=3), carrier=None, last_seen_at=now,
        detached_at=now - timedelta(minutes=1),
    ))  # fmt: skip
    layer = get_channel_layer()
    assert layer is not None
    live_view, live_calls = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(call_group("CALL-left"), live_view)  # a lead's view of the call
    await layer.group_add(LIVE_CALLS_GROUP, live_calls)  # the live calls page

    await sweep_once()

    assert await asyncio.wait_for(layer.receive(live_view), 2) == {
        "type": "live.event", "event": {"type": "ended", "reason": "caller_left"}}  # fmt: skip
    assert await asyncio.wait_for(layer.receive(live_calls), 2) == {
        "type": "live.call", "call": {"call_id": "CALL-left", "ended": True}}  # fmt: skip


async def test_the_sweeper_logs_as_the_process_not_as_the_call_that_started_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first call on a process starts the sweeper: its lines (and the summaries it asks
    for) must not all carry that call's id."""
    seen: list[str | None] = []

    async def sweep_forever() -> None:
        seen.append(logs.call_id.get())

    monkeypatch.setattr(sweeper, "_sweep_forever", sweep_forever)
    monkeypatch.setattr(sweeper, "_sweepers", {})

    async def a_call_starts() -> None:
        logs.call_id.set("CALL-first")  # as CallObserver does for the call's task
        sweeper.ensure_sweeping()

    await asyncio.create_task(a_call_starts())
    await asyncio.sleep(0.01)

    assert seen == [None]


async def test_a_sweep_that_fails_unexpectedly_does_not_stop_the_sweeper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever a sweep meets (a record of a shape nothing expects), the next one comes: a
    dead sweeper would sweep no more until the process's next call, and calls nobody
    carries would stay open meanwhile."""
    sweeps: list[int] = []

    async def sweep() -> int:
        sweeps.append(1)
        if len(sweeps) == 1:
            raise TypeError("unsupported operand type(s) for -: 'datetime' and 'str'")
        return 0

    monkeypatch.setattr(sweeper, "sweep_once", sweep)
    monkeypatch.setattr(sweeper, "SWEEP_EVERY_S", 0.01)
    sweeping = asyncio.create_task(sweeper._sweep_forever())
    try:
        async with asyncio.timeout(5):
            while len(sweeps) < 2:
                await asyncio.sleep(0.01)
    finally:
        sweeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeping


async def test_a_call_whose_wrap_up_fails_does_not_cost_the_others_theirs(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two calls ended at one sweep, the first's finishing breaking: the other still gets its
    ticket out of live (no later sweep finds an ended call to wrap up)."""
    settings.VOICE_RESUME_GRACE_S = 30
    now = utcnow()
    started = (now - timedelta(minutes=3)).replace(microsecond=0)
    await mongo.async_db().calls.insert_many([
        stored_call(f"CALL-{n}", started, carrier=None, last_seen_at=now,
                    detached_at=now - timedelta(minutes=1, seconds=n))
        for n in range(2)
    ])  # fmt: skip
    for n in range(2):
        await live_ticket(f"CALL-{n}")
    finish_call = sweeper.finish_call
    wrapped: list[str] = []

    async def breaks_on_the_first(call_id: str, turns: Any = None) -> str | None:
        wrapped.append(call_id)
        if len(wrapped) == 1:
            raise KeyError("transcript")
        return await finish_call(call_id, turns)

    monkeypatch.setattr(sweeper, "finish_call", breaks_on_the_first)

    assert await sweep_once() == 2

    assert sorted(wrapped) == ["CALL-0", "CALL-1"]
    live = {t["call_id"]: t["live"] async for t in mongo.async_db().escalations.find()}
    assert live == {"CALL-0": False, "CALL-1": False}


async def test_a_process_that_carries_no_call_sweeps_from_the_start(fake_live: Any) -> None:
    """After a crash or a drain, the calls nobody came back to are ended by any process,
    even a fresh one that has not carried a call yet."""
    now = utcnow()
    await mongo.async_db().calls.insert_one(stored_call(
        "CALL-orphan", now - timedelta(minutes=5), carrier="process-gone",
        last_seen_at=now - timedelta(minutes=3),
    ))  # fmt: skip

    with DaphneServer(gemini_live_url=fake_live.url) as server:
        await asyncio.to_thread(server.start)
        print("daphne:", server.output(), sep="\n")  # shown if the test fails
        async with asyncio.timeout(15):
            while not await mongo.async_db().calls.find_one(
                {"call_id": "CALL-orphan", "ended_at": {"$ne": None}}
            ):
                await asyncio.sleep(0.1)

    ended = await mongo.async_db().calls.find_one({"call_id": "CALL-orphan"})
    assert ended is not None and ended["end_reason"] == "lost"


async def test_the_sweeper_stops_when_cancelled_whoever_swallowed_the_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At shutdown (and when a test's event loop closes) the sweeper is cancelled. Were the
    cancellation swallowed in a sweep (by the database driver, say), it would sleep its 15 s
    and sweep again, for good, and the event loop would wait for it."""
    sweeping = asyncio.Event()

    async def a_sweep_that_swallows_cancellation() -> int:
        sweeping.set()
        with contextlib.suppress(asyncio.CancelledError):  # the driver's doing
            await asyncio.sleep(60)
        return 0

    monkeypatch.setattr(sweeper, "sweep_once", a_sweep_that_swallows_cancellation)
    task = asyncio.create_task(sweeper._sweep_forever())
    await sweeping.wait()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
