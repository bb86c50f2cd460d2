"""Every rule of postcall.outcome, one row each, then the same rules read off a call record."""

from __future__ import annotations

from typing import Any

import pytest

from postcall.outcome import CallFacts, Outcome, outcome


def ok(*names: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts


TALKED = {"customer_spoke": True, "agent_answered": True}

CASES = [
    # (what happened, facts, outcome)
    ("the model failed and the call was handed to a ticket",
     CallFacts("agent_unavailable", ok("escalate_to_human"), **TALKED), Outcome.AGENT_UNAVAILABLE),
    ("the model failed before anyone spoke",
     CallFacts("agent_unavailable"), Outcome.AGENT_UNAVAILABLE),
    ("a phone call transferred to the escalation number",
     CallFacts("transferred_to_human", ok("escalate_to_human"), **TALKED), Outcome.TRANSFERRED),
    ("a staff member took the call over",
     CallFacts("caller_hung_up", ok("initiate_refund"), taken_over=True, **TALKED),
     Outcome.TRANSFERRED),
    ("a colleague ended the call from its live page after the agent answered",
     CallFacts("ended_by_staff", {}, **TALKED), Outcome.TRANSFERRED),
    ("a colleague ended the call before anyone spoke: nobody abandoned it",
     CallFacts("ended_by_staff"), Outcome.TRANSFERRED),
    ("a ticket was opened, even after a refund",
     CallFacts("caller_hung_up", ok("initiate_refund", "escalate_to_human"), **TALKED),
     Outcome.ESCALATED),
    ("a refund of unknown outcome left a ticket for staff to check it, after a look-up",
     CallFacts("caller_hung_up", ok("check_order_status"), ticket_for_staff=True, **TALKED),
     Outcome.ESCALATED),
    ("a callback was booked",
     CallFacts("caller_hung_up", ok("list_callback_slots", "schedule_callback"),
               callback_booked=True, **TALKED),
     Outcome.CALLBACK_SCHEDULED),
    ("a ticket nobody could join in time, then a callback: the callback comes next",
     CallFacts("caller_hung_up", ok("escalate_to_human", "schedule_callback"),
               callback_booked=True, **TALKED),
     Outcome.CALLBACK_SCHEDULED),
    ("a callback was booked then cancelled, nothing else: an answer",
     CallFacts("caller_hung_up", ok("schedule_callback", "cancel_callback"), **TALKED),
     Outcome.RESOLVED_INFO),
    ("our server failed after the agent answered: the customer was not served",
     CallFacts("server_error", ok("check_order_status"), **TALKED), Outcome.AGENT_UNAVAILABLE),
    ("the call's process died and nothing was settled",
     CallFacts("lost", {}, **TALKED), Outcome.AGENT_UNAVAILABLE),
    ("the call's process died before anyone spoke: not abandoned by the customer",
     CallFacts("lost"), Outcome.AGENT_UNAVAILABLE),
    ("the call's process died after a ticket was opened: the ticket stands",
     CallFacts("lost", ok("escalate_to_human"), **TALKED), Outcome.ESCALATED),
    ("our server failed after a refund was made: the refund stands",
     CallFacts("server_error", ok("initiate_refund"), **TALKED), Outcome.RESOLVED_REFUND),
    ("a refund was made",
     CallFacts("caller_hung_up", ok("get_order_details", "initiate_refund"), **TALKED),
     Outcome.RESOLVED_REFUND),
    ("a refund and a complaint: the refund settled it",
     CallFacts("caller_left", ok("file_complaint", "initiate_refund"), **TALKED),
     Outcome.RESOLVED_REFUND),
    ("a complaint was filed",
     CallFacts("caller_hung_up", ok("file_complaint"), **TALKED), Outcome.COMPLAINT_FILED),
    ("an order status was looked up",
     CallFacts("caller_hung_up", ok("check_order_status")), Outcome.RESOLVED_INFO),
    ("the agent answered a question without a tool",
     CallFacts("caller_hung_up", {}, **TALKED), Outcome.RESOLVED_INFO),
    ("a refused refund only: the customer was still answered",
     CallFacts("caller_hung_up", {}, **TALKED), Outcome.RESOLVED_INFO),
    ("the customer spoke and left before any answer",
     CallFacts("caller_left", {}, customer_spoke=True), Outcome.ABANDONED),
    ("nobody said anything",
     CallFacts("caller_left"), Outcome.ABANDONED),
]  # fmt: skip


@pytest.mark.parametrize(("facts", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule(facts: CallFacts, expected: Outcome) -> None:
    assert outcome(facts) == expected


def test_every_outcome_of_the_contract_has_a_case_and_a_label() -> None:
    assert {case[2] for case in CASES} == set(Outcome)
    assert all(o.label for o in Outcome)


def record(**fields: Any) -> dict[str, Any]:
    return {"end_reason": "caller_hung_up", "transcript": [], "tool_calls": [], **fields}


def test_facts_from_a_record_count_only_tools_that_answered_ok() -> None:
    call = record(
        tool_calls=[
            {"name": "initiate_refund", "ok": False, "result": {"reason": "outside_window"}},
            {"name": "file_complaint", "ok": True},
        ],
        transcript=[{"role": "user", "text": "It was cold"}, {"role": "agent", "text": "Sorry"}],
    )
    facts = CallFacts.from_record(call)
    assert facts.ok("initiate_refund") == 0 and facts.ok("file_complaint") == 1
    assert facts.customer_spoke and facts.agent_answered
    assert outcome(facts) == Outcome.COMPLAINT_FILED


def test_an_agent_greeting_alone_is_not_an_answer() -> None:
    call = record(end_reason="caller_left", transcript=[{"role": "agent", "text": "Hello!"}])
    assert outcome(CallFacts.from_record(call)) == Outcome.ABANDONED


def test_a_staff_take_over_in_the_record_is_a_transfer() -> None:
    call = record(staff_events=[{"kind": "listen"}, {"kind": "take_over", "staff": "meera"}])
    assert outcome(CallFacts.from_record(call)) == Outcome.TRANSFERRED


def test_a_callback_is_scheduled_when_one_booked_on_the_call_is_still_on() -> None:
    def booked(callback_id: str) -> dict[str, Any]:
        return {"name": "schedule_callback", "ok": True, "result": {"callback_id": callback_id}}

    def cancelled(callback_id: str, said: str | None = None) -> dict[str, Any]:
        # The record keeps the model's own argument, which may be spoken ("cbk 7kq2xd").
        return {"name": "cancel_callback", "ok": True,
                "args": {"callback_id": said or callback_id},
                "result": {"ok": True, "callback_id": callback_id}}  # fmt: skip

    moved = record(tool_calls=[cancelled("CBK-EARLIER"), booked("CBK-NEW")])
    withdrawn = record(tool_calls=[booked("CBK-NEW"), cancelled("CBK-NEW")])
    by_ear = record(tool_calls=[booked("CBK-7KQ2XD"), cancelled("CBK-7KQ2XD", "cbk 7kq2xd")])
    refused = record(tool_calls=[{**booked("CBK-NEW"), "ok": False}])

    assert outcome(CallFacts.from_record(moved)) == Outcome.CALLBACK_SCHEDULED
    assert outcome(CallFacts.from_record(withdrawn)) != Outcome.CALLBACK_SCHEDULED
    assert outcome(CallFacts.from_record(by_ear)) != Outcome.CALLBACK_SCHEDULED
    assert outcome(CallFacts.from_record(refused)) != Outcome.CALLBACK_SCHEDULED


def test_a_failed_tool_that_left_staff_a_ticket_is_escalated() -> None:
    """A refund of unknown outcome (support/refunds.py) answers `unavailable` with the ticket
    that asks staff to check it; null while the database has not taken it yet."""
    looked = {"name": "check_order_status", "ok": True, "result": {"ok": True, "orders": []}}

    def unconfirmed(ticket_id: str | None) -> dict[str, Any]:
        return {"name": "initiate_refund", "ok": False, "args": {"order_id": "ORD-1001"},
                "result": {"ok": False, "reason": "unavailable", "message": "...",
                           "order_id": "ORD-1001", "ticket_id": ticket_id}}  # fmt: skip

    refused = {"name": "initiate_refund", "ok": False,
               "result": {"ok": False, "reason": "unavailable", "message": "..."}}  # fmt: skip
    for entry in (unconfirmed("TKT-3"), unconfirmed(None)):
        call = record(tool_calls=[looked, entry], transcript=[{"role": "user"}, {"role": "agent"}])
        assert outcome(CallFacts.from_record(call)) == Outcome.ESCALATED
    # Refused, or the database out of reach before anything was written: an answer.
    assert outcome(CallFacts.from_record(record(tool_calls=[looked, refused]))) == (
        Outcome.RESOLVED_INFO
    )
