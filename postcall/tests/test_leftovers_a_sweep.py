"""A backlog of calls never finished (a deployment down for long, a week of calls from before
outcomes were kept) is finished a few calls at each sweep, the latest ended first
(postcall.finish.LEFTOVERS_A_SWEEP): finished all in one sweep, at tens of milliseconds a call,
it held the sweeper for minutes (a call whose process died stayed open meanwhile, counted as
its customer's call), and a call cut short just now waited behind it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from postcall import finish
from postcall.tests.test_finished_once import add_call, now, record
from support import mongo

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_backlog_of_unfinished_calls_is_finished_a_few_at_each_sweep_latest_first(
    transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(finish, "LEFTOVERS_A_SWEEP", 3, raising=False)
    for n in range(4):
        await add_call(f"CALL-OLD-{n}", ended_ago=dt.timedelta(days=4, minutes=n))
    await add_call("CALL-JUST-NOW", ended_ago=dt.timedelta(minutes=1))
    # Null outcomes (a record written whole by the ORM) are no calls to finish, nor count.
    await mongo.async_db().calls.insert_many([
        {"call_id": f"CALL-NULL-{n}", "outcome": None, "ended_at": now() - dt.timedelta(hours=1)}
        for n in range(4)
    ])  # fmt: skip

    assert await finish.finish_leftovers(now()) == 3
    assert "outcome" in await record("CALL-JUST-NOW")
    assert await finish.finish_leftovers(now()) == 2
    assert await finish.finish_leftovers(now()) == 0
    unfinished = await mongo.async_db().calls.count_documents({"outcome": {"$exists": False}})
    assert unfinished == 0


async def test_calls_ended_before_the_look_back_are_history_left_to_summarize_calls(
    transactional_db: Any,
) -> None:
    """A call ended more than a week ago without an outcome is one of the first release's
    (before outcomes were kept), not one cut short by an outage: the sweeper leaves it as it
    is, rather than counting months of history as calls ended today."""
    long_ago = finish.UNFINISHED_LOOK_BACK + dt.timedelta(hours=1)
    await add_call("CALL-FIRST-RELEASE", ended_ago=long_ago)

    assert await finish.finish_leftovers(now()) == 0
    assert "outcome" not in await record("CALL-FIRST-RELEASE")


async def test_a_record_of_an_unexpected_shape_does_not_stop_the_others_being_finished(
    transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start written as text (a record edited by hand) still gets its outcome (no
    duration); a record that breaks finishing is logged, and the others are finished."""
    await add_call("CALL-EDITED", ended_ago=dt.timedelta(minutes=2), started_at="yesterday")
    await add_call("CALL-BROKEN", ended_ago=dt.timedelta(minutes=3))
    await add_call("CALL-FINE", ended_ago=dt.timedelta(minutes=4))
    finish_call = finish.finish_call

    async def breaks_on_one(call_id: str, turns: Any = None) -> str | None:
        if call_id == "CALL-BROKEN":
            raise KeyError("transcript")
        return await finish_call(call_id, turns)

    monkeypatch.setattr(finish, "finish_call", breaks_on_one)
    monkeypatch.setattr(finish, "_broken", {}, raising=False)

    assert await finish.finish_leftovers(now()) == 2
    edited = await record("CALL-EDITED")
    assert edited["outcome"] == "escalated" and "duration_s" not in edited
    assert "outcome" in await record("CALL-FINE")


async def test_records_that_break_finishing_wait_their_retry_and_take_no_place_of_the_others(
    transactional_db: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A record that breaks finishing is tried again after BROKEN_RETRY, not at every sweep
    (its error logged every 15 s for a week), and meanwhile takes no place of a sweep: the
    latest ended first, a few of them took every place, and no other call was finished."""
    monkeypatch.setattr(finish, "LEFTOVERS_A_SWEEP", 2, raising=False)
    monkeypatch.setattr(finish, "_broken", {}, raising=False)
    await add_call("CALL-BROKEN-1", ended_ago=dt.timedelta(minutes=2))
    await add_call("CALL-BROKEN-2", ended_ago=dt.timedelta(minutes=3))
    await add_call("CALL-FINE", ended_ago=dt.timedelta(minutes=4))
    finish_call = finish.finish_call
    tried: list[str] = []

    async def breaks(call_id: str, turns: Any = None) -> str | None:
        tried.append(call_id)
        if call_id.startswith("CALL-BROKEN"):
            raise KeyError("transcript")
        return await finish_call(call_id, turns)

    monkeypatch.setattr(finish, "finish_call", breaks)

    assert await finish.finish_leftovers(now()) == 0
    assert await finish.finish_leftovers(now()) == 1
    assert "outcome" in await record("CALL-FINE")
    assert await finish.finish_leftovers(now()) == 0
    assert tried == ["CALL-BROKEN-1", "CALL-BROKEN-2", "CALL-FINE"]
    later = now() + finish.BROKEN_RETRY
    assert await finish.finish_leftovers(later) == 0
    assert tried[3:] == ["CALL-BROKEN-1", "CALL-BROKEN-2"]
    assert len([r for r in caplog.records if "could not be finished" in r.getMessage()]) == 4
