"""A call this process is taking up is its own to the sweeper, before the call has started.

With a long VOICE_RESUME_GRACE_S a page may come back to a call let go minutes ago, whose
record nobody stamped meanwhile. Between the claim (continuity.calls.take_over) and the
session registering, the process's own sweep must not take the record it just claimed for
one whose process lost track of it, and end the call under the page coming back.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from continuity import calls, process
from continuity.sweeper import sweep_once
from realtime.call_record import now as utcnow
from realtime.tests.voice_harness import call_record
from support import mongo

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_call_claimed_here_and_still_starting_is_not_swept_as_lost(
    settings: Any,
) -> None:
    settings.VOICE_RESUME_GRACE_S = 300.0
    now = utcnow()
    left = now - timedelta(minutes=3)  # let go three minutes ago; unstamped since
    await mongo.async_db().calls.insert_one({
        "call_id": "CALL-back", "user_id": 101, "channel": "web", "carrier": None,
        "detached_at": left, "last_seen_at": left, "ended_at": None,
        "started_at": now - timedelta(minutes=10), "transcript": [],
    })  # fmt: skip
    stored = await calls.find_call(call_id="CALL-back", with_sizes=True)
    assert stored is not None
    try:
        assert await calls.take_over(stored)  # the page is back: claimed, starting here

        assert await sweep_once() == 0
        record = await call_record("CALL-back")
        assert record["ended_at"] is None
        assert record["carrier"] == await process.process_channel()
    finally:
        process.unclaim("CALL-back")
