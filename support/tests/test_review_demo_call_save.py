"""A call's record is the voice path's: an ORM save of a call loaded before the bridge and
postcall wrote to it (a shell, a script, a future admin action) leaves what they wrote."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from support import mongo
from support.models import Call, Customer

pytestmark = pytest.mark.django_db

STARTED = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)


def _opened_by_the_bridge() -> None:
    """The record as realtime/call_record.py opens it, with a line and a tool call in it."""
    mongo.sync_db().calls.insert_one({
        "call_id": "CALL-live", "user_id": None, "channel": "phone", "started_at": STARTED,
        "ended_at": None, "end_reason": "", "last_seen_at": STARTED, "usage": {},
        "transcript": [{"role": "user", "text": "Hi", "at": STARTED}],
        "tool_calls": [{"name": "get_user_profile", "args": {}, "result": {"ok": True},
                        "ok": True, "started_at": STARTED, "ms": 12, "call_ids": ["fc-1"],
                        "cancelled": []}],
    })  # fmt: skip


def _ended_and_finished() -> None:
    """What the bridge writes as the call goes on and ends, and postcall after it."""
    ended = STARTED + dt.timedelta(minutes=3)
    mongo.sync_db().calls.update_one({"call_id": "CALL-live"}, {
        "$push": {"transcript": {"role": "agent", "text": "Hello!", "at": ended}},
        "$set": {"ended_at": ended, "end_reason": "caller_hung_up", "last_seen_at": ended,
                 "usage": {"total_token_count": 900}, "outcome": "resolved_info"},
    })  # fmt: skip


def _stored() -> dict[str, Any]:
    return mongo.sync_db().calls.find_one({"call_id": "CALL-live"}) or {}


def test_saving_a_call_loaded_before_it_ended_keeps_its_outcome_and_its_end() -> None:
    _opened_by_the_bridge()
    call = Call.objects.get(call_id="CALL-live")
    _ended_and_finished()

    call.save()

    stored = _stored()
    assert stored["outcome"] == "resolved_info"
    assert (stored["end_reason"], stored["ended_at"]) == (
        "caller_hung_up", STARTED + dt.timedelta(minutes=3))
    assert [line["text"] for line in stored["transcript"]] == ["Hi", "Hello!"]
    assert stored["tool_calls"][0]["call_ids"] == ["fc-1"]  # keys the ORM does not declare
    assert stored["usage"] == {"total_token_count": 900}


def test_a_call_without_an_outcome_stays_without_one_for_postcall_to_finish() -> None:
    _opened_by_the_bridge()

    Call.objects.get(call_id="CALL-live").save()

    # postcall/finish.py writes an outcome only where there is none ($exists: false).
    assert "outcome" not in _stored()


def test_a_full_save_still_writes_what_the_voice_path_leaves_alone() -> None:
    _opened_by_the_bridge()
    asha = Customer.objects.create(user_id=101, name="Asha Verma", phone="+919800000101")
    call = Call.objects.get(call_id="CALL-live")
    _ended_and_finished()

    call.customer = asha  # the caller identified afterwards, by hand
    call.save()

    stored = _stored()
    assert (stored["user_id"], stored["outcome"]) == (101, "resolved_info")
