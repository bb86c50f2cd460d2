"""Calls a person had a hand in, and records that are no call of their own: their outcome
and the one-line account (postcall/summary.py) say what happened, and what is left to do."""

from __future__ import annotations

import datetime as dt
from typing import Any

from postcall import summary
from postcall.outcome import CallFacts, Outcome, outcome

T0 = dt.datetime(2026, 11, 2, 10, 0)
TALK = [{"role": "user", "text": "My order is late."}, {"role": "agent", "text": "Checking."}]


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def tool(name: str, minute: int, **result: Any) -> dict[str, Any]:
    return {"name": name, "ok": True, "args": {}, "result": {"ok": True, **result},
            "started_at": at(minute)}  # fmt: skip


def staff(kind: str, minute: int, text: str = "") -> dict[str, Any]:
    return {"kind": kind, "staff": "meera", "at": at(minute), **({"text": text} if text else {})}


def call(**fields: Any) -> dict[str, Any]:
    return {"call_id": "CALL-1", "end_reason": "caller_hung_up", "transcript": TALK,
            "tool_calls": [], "staff_events": [], **fields}  # fmt: skip


def test_a_ticket_a_colleague_joined_is_theirs_not_left_for_a_colleague_to_pick_up() -> None:
    """Warm escalation: the agent opens a ticket, meera joins the call from the queue (the
    ticket is hers: support.escalations.join_live_escalation), hands it back, the agent ends."""
    record = call(tool_calls=[tool("escalate_to_human", 1, ticket_id="TKT-9")],
                  staff_events=[staff("take_over", 2), staff("hand_back", 5, "Refund done")])

    written = summary.account(record)

    assert outcome(CallFacts.from_record(record)) == Outcome.TRANSFERRED
    assert written["text"] == ("Transferred to a person: opened ticket TKT-9; meera took the "
                               "call over and handed it back.")  # fmt: skip
    assert written["follow_up"] == "Ticket TKT-9 is with meera, who took the call over."
    assert written["resolved"] is None  # what meera settled is not in the tool results


def test_a_ticket_opened_after_the_hand_back_still_waits_for_a_colleague() -> None:
    record = call(tool_calls=[tool("escalate_to_human", 9, ticket_id="TKT-10")],
                  staff_events=[staff("take_over", 2), staff("hand_back", 5)])

    assert summary.account(record)["follow_up"] == "A colleague should pick up ticket TKT-10."


def test_a_callback_a_colleague_placed_says_so_and_leaves_nothing_to_pick_up() -> None:
    record = call(staff_events=[staff("take_over", 0, "a callback they placed")])

    written = summary.account(record)

    assert outcome(CallFacts.from_record(record)) == Outcome.TRANSFERRED
    assert written["text"] == "Transferred to a person: meera called the customer back."
    assert (written["follow_up"], written["resolved"]) == ("", None)


def test_a_call_a_colleague_ended_is_neither_information_given_nor_abandoned() -> None:
    answered = call(end_reason="ended_by_staff", staff_events=[staff("end_call", 3, "spam")])
    silent = call(end_reason="ended_by_staff", transcript=[])

    for record in (answered, silent):
        assert outcome(CallFacts.from_record(record)) == Outcome.TRANSFERRED
    assert summary.account(answered)["text"] == "Transferred to a person: meera ended the call."
    assert summary.account(silent)["text"] == ("Transferred to a person: a colleague ended the "
                                               "call.")  # fmt: skip
    assert summary.account(answered)["resolved"] is None


def test_a_callback_booked_after_a_ticket_nobody_joined_is_left_to_do_with_the_ticket() -> None:
    """Nobody joined in time, so the agent booked a callback: that is what comes next (the
    outcome), and the ticket still waits in the queue: both are left to do."""
    record = call(tool_calls=[tool("escalate_to_human", 1, ticket_id="TKT-9"),
                              tool("schedule_callback", 3, callback_id="CBK-7KQ2XD")])

    written = summary.account(record)

    assert outcome(CallFacts.from_record(record)) == Outcome.CALLBACK_SCHEDULED
    assert written["follow_up"] == ("A colleague should pick up ticket TKT-9. Call the customer "
                                    "back (CBK-7KQ2XD).")  # fmt: skip


def test_a_record_opened_again_on_another_server_says_so_not_abandoned() -> None:
    """Its server began to stop before the call was answered: the page opened the call again
    elsewhere as a new record. Nothing happened on this one, and nobody abandoned anything."""
    written = summary.account(call(end_reason="moved_before_ready", transcript=[]))

    assert not written["text"].startswith("Abandoned")
    assert written["text"].startswith("Opened again on another server")
    assert (written["follow_up"], written["resolved"]) == ("", None)
