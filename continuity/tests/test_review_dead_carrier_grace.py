"""A call whose page dropped, and whose process then died, ends when its grace period is over.

Its process would have ended it then (VOICE_RESUME_GRACE_S); dead, it cannot. The sweeper ends
it as the customer left, not two minutes later as lost (a server's fault on the call's record),
and a page coming back after the grace period finds it over, as it would have been.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache

from continuity import process
from continuity.sweeper import sweep_once
from realtime.call_record import now as utcnow
from realtime.tests.voice_harness import call_record
from support import mongo

pytestmark = pytest.mark.django_db(transaction=True)


def dropped_call(call_id: str, carrier: str, **fields: Any) -> dict[str, Any]:
    """A web call whose page dropped a minute ago; its process stamped it until 50 s ago."""
    now = utcnow()
    return {
        "call_id": call_id, "user_id": 101, "channel": "web", "carrier": carrier,
        "detached_at": now - timedelta(seconds=60), "last_seen_at": now - timedelta(seconds=50),
        "ended_at": None, "started_at": now - timedelta(minutes=5), "transcript": [],
        **fields,
    }  # fmt: skip


async def test_a_dropped_call_whose_process_died_ends_as_left_after_its_grace_period(
    settings: Any,
) -> None:
    settings.VOICE_RESUME_GRACE_S = 30.0
    await cache.aset(process._alive_key("process-up"), "w2:1234", 30)
    await mongo.async_db().calls.insert_many([
        dropped_call("CALL-orphaned", carrier="process-gone"),
        # Its process is alive: it ends the call itself, as its own grace period runs out.
        dropped_call("CALL-ending-there", carrier="process-up"),
    ])  # fmt: skip

    assert await sweep_once() == 1

    orphaned = await call_record("CALL-orphaned")
    assert orphaned["end_reason"] == "caller_left"
    assert orphaned["ended_at"] is not None
    assert (await call_record("CALL-ending-there"))["ended_at"] is None


async def test_a_dropped_transfer_whose_process_died_ends_as_the_process_said(
    settings: Any,
) -> None:
    settings.VOICE_RESUME_GRACE_S = 30.0
    await mongo.async_db().calls.insert_one(dropped_call(
        "CALL-transferring", carrier="process-gone", channel="phone",
        end_reason_if_left="transfer_unconfirmed",
    ))  # fmt: skip

    assert await sweep_once() == 1

    assert (await call_record("CALL-transferring"))["end_reason"] == "transfer_unconfirmed"
