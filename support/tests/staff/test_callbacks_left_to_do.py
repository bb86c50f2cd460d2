"""What a call left to do on its pages: the callbacks it booked, not those it cancelled itself
(support/staff/aftercall.py booked_on), though its own cancel finished after its end: a call
whose caller's line went ended then, and a tool under way finished while it waited for her."""

from __future__ import annotations

import datetime as dt

from support.staff.aftercall import booked_on, cancelled_by_the_call

ENDED = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)


def callback(callback_id: str, status: str, closed_after_s: float | None) -> dict[str, object]:
    closed = None if closed_after_s is None else ENDED + dt.timedelta(seconds=closed_after_s)
    return {"callback_id": callback_id, "call_id": "CALL-1", "status": status,
            "slot_start": ENDED + dt.timedelta(days=1), "closed_at": closed}  # fmt: skip


def test_a_callback_the_call_cancelled_after_her_line_went_is_not_left_to_do() -> None:
    record = {"call_id": "CALL-1", "ended_at": ENDED, "tool_calls": [
        {"name": "cancel_callback", "args": {"callback_id": "CBK-OLD"}, "ok": True,
         "result": {"ok": True, "callback_id": "CBK-OLD", "when": "tomorrow at 3:30 pm"}},
    ]}  # fmt: skip
    found = [callback("CBK-OLD", "cancelled", closed_after_s=4),
             callback("CBK-NEW", "scheduled", closed_after_s=None),
             callback("CBK-LATER", "cancelled", closed_after_s=3600)]  # fmt: skip

    left = booked_on("CALL-1", ENDED, found, cancelled_by_the_call(record))

    # CBK-LATER was cancelled an hour on, not by this call: still one it booked.
    assert [b.callback_id for b in left] == ["CBK-NEW", "CBK-LATER"]


def test_a_cancel_that_failed_or_a_record_of_another_shape_cancels_nothing() -> None:
    record = {"tool_calls": [
        {"name": "cancel_callback", "ok": False, "result": {"ok": False, "reason": "not_found"}},
        {"name": "cancel_callback", "ok": True, "result": "unreadable"},
        "not a tool call",
    ]}  # fmt: skip

    assert cancelled_by_the_call(record) == set()
