"""A refund of unknown outcome reaches the call's record with the ticket it opened for staff,
so that the call reads as escalated and its account names that ticket (postcall/)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from postcall import summary
from postcall.outcome import CallFacts, Outcome, outcome
from support import mongo, refunds
from support.models import Customer, RefundTier
from support.tests.test_refund_concurrency import (
    ASHA,
    lose_the_acknowledgement,
    ticket_refused_at_first,
)
from support.tools import Result, run_tool

pytestmark = pytest.mark.django_db

ARGS = {"order_id": "ord 1001", "reason": "cold"}  # as spoken: the record keeps the real id


@pytest.fixture(autouse=True)
def prompt_follow_ups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refunds, "FOLLOW_UP_EVERY_S", 0.05)


def a_call_of(*tool_calls: tuple[str, dict[str, str], Result]) -> dict[str, Any]:
    """A call's record whose tools answered `tool_calls` (realtime/call_record.py's entries)."""
    return {
        "call_id": "call-asha",
        "end_reason": "caller_hung_up",
        "transcript": [{"role": "user", "text": "Refund my cold biryani"},
                       {"role": "agent", "text": "A colleague will check it."}],
        "tool_calls": [{"name": name, "args": args, "result": result, "ok": result["ok"]}
                       for name, args, result in tool_calls],
    }  # fmt: skip


async def follow_ups_done() -> None:
    async with asyncio.timeout(5):
        await asyncio.gather(*refunds._follow_ups)


async def test_a_refund_of_unknown_outcome_is_escalated_and_its_account_names_the_ticket(
    asha: Customer, tiers: list[RefundTier], monkeypatch: pytest.MonkeyPatch
) -> None:
    lose_the_acknowledgement(monkeypatch, committed=False)
    looked = await run_tool("check_order_status", {}, ASHA)

    result = await run_tool("initiate_refund", ARGS, ASHA)
    await follow_ups_done()

    ticket = await mongo.async_db().escalations.find_one({"order_id": "ORD-1001"})
    assert ticket is not None and ticket["origin"] == refunds.REFUND_UNCONFIRMED
    assert (result["reason"], result["message"]) == ("unavailable", refunds.UNKNOWN_OUTCOME_MESSAGE)
    assert (result["ticket_id"], result["order_id"]) == (ticket["ticket_id"], "ORD-1001")
    call = a_call_of(("check_order_status", {}, looked), ("initiate_refund", ARGS, result))
    # Not "Information given": the customer was promised a colleague would check it.
    assert outcome(CallFacts.from_record(call)) == Outcome.ESCALATED
    written = summary.account(call)
    assert written["text"] == (
        "Escalated to a person: looked up the customer's orders; could not confirm a refund on "
        "ORD-1001."
    )
    assert written["follow_up"] == (
        f"A colleague should check a refund on ORD-1001 (ticket {ticket['ticket_id']}): it "
        "could not be confirmed during the call."
    )
    assert written["resolved"] is False


async def test_a_refund_of_unknown_outcome_whose_ticket_waits_for_the_database_is_escalated(
    asha: Customer, tiers: list[RefundTier], monkeypatch: pytest.MonkeyPatch
) -> None:
    lose_the_acknowledgement(monkeypatch, committed=False)
    ticket_refused_at_first(monkeypatch)

    result = await run_tool("initiate_refund", ARGS, ASHA)
    await follow_ups_done()

    assert result["reason"] == "unavailable" and result["ticket_id"] is None
    call = a_call_of(("initiate_refund", ARGS, result))
    assert outcome(CallFacts.from_record(call)) == Outcome.ESCALATED
    assert summary.account(call)["follow_up"] == (
        "A colleague should check a refund on ORD-1001 (a ticket still to be opened when the "
        "call ended): it could not be confirmed during the call."
    )


async def test_other_refusals_carry_no_ticket_and_stay_an_answer(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    result = await run_tool("initiate_refund", {"order_id": "ORD-1002", "reason": "cold"}, ASHA)

    assert result["ok"] is False and "ticket_id" not in result
    call = a_call_of(("initiate_refund", {"order_id": "ORD-1002"}, result))
    assert outcome(CallFacts.from_record(call)) == Outcome.RESOLVED_INFO
    assert summary.account(call)["follow_up"] == ""
