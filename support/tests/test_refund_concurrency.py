"""Exactly one refund per order, however many times it is requested at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import ExecutionTimeout, ServerSelectionTimeoutError

from support import mongo, refunds
from support.models import Customer, RefundTier
from support.tests.conftest import make_order
from support.tools import ToolContext, registry, run_tool

pytestmark = pytest.mark.django_db

ASHA = ToolContext(user_id=101, call_id="call-asha")


@pytest.fixture(autouse=True)
def prompt_follow_ups(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refund of unknown outcome is looked at again after FOLLOW_UP_EVERY_S: sooner here."""
    monkeypatch.setattr(refunds, "FOLLOW_UP_EVERY_S", 0.05)


async def test_twenty_simultaneous_refunds_of_one_order_pay_once(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    args = {"order_id": "ORD-1001", "reason": "The biryani was cold"}

    results = await asyncio.gather(*(run_tool("initiate_refund", args, ASHA) for _ in range(20)))

    winners = [result for result in results if result["ok"]]
    assert len(winners) == 1
    assert [result["reason"] for result in results if not result["ok"]] == (
        ["already_refunded"] * 19
    )
    db = mongo.async_db()
    refunds = await db.refunds.find({"order_id": "ORD-1001"}).to_list()
    assert [refund["refund_id"] for refund in refunds] == [winners[0]["refund_id"]]
    customer = await db.customers.find_one({"user_id": 101})
    assert customer is not None
    assert customer["wallet_balance"] == 12_000 + 16_875  # credited once
    order = await db.orders.find_one({"order_id": "ORD-1001"})
    assert order is not None
    assert order["refund"]["refund_id"] == winners[0]["refund_id"]


async def test_simultaneous_refunds_of_two_orders_both_reach_the_wallet(
    asha: Customer, ravi: Customer, tiers: list[RefundTier]
) -> None:
    ravi_refund = run_tool(
        "initiate_refund", {"order_id": "ORD-2001", "reason": "late"}, ToolContext(user_id=202)
    )
    asha_refund = run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    results = await asyncio.gather(asha_refund, ravi_refund)

    assert [result["ok"] for result in results] == [True, True]
    db = mongo.async_db()
    balances = {c["user_id"]: c["wallet_balance"] async for c in db.customers.find({})}
    assert balances == {101: 12_000 + 16_875, 202: 14_400}


async def test_a_refund_already_on_record_blocks_another_even_if_the_order_missed_it(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    # An order whose refund document exists but whose own `refund` field was never set (a
    # half-done manual fix): the unique index on refunds.order_id still stops a second one.
    db = mongo.async_db()
    await db.refunds.insert_one({"refund_id": "RFD-MANUAL", "order_id": "ORD-1001",
                                 "user_id": 101, "amount": 100, "percent": 30})

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    assert result["reason"] == "already_refunded"
    order = await db.orders.find_one({"order_id": "ORD-1001"})
    assert order is not None and (order["status"], order["refund"]) == ("delivered", None)
    customer = await db.customers.find_one({"user_id": 101})
    assert customer is not None and customer["wallet_balance"] == 12_000


async def test_simultaneous_refunds_of_one_customers_two_orders_credit_both_exactly(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    await sync_to_async(make_order)(
        asha, "ORD-1006", status="delivered", amount=20_000,
        placed_hours_ago=1, delivered_hours_ago=0.2,
    )  # fmt: skip

    results = await asyncio.gather(*(
        run_tool("initiate_refund", {"order_id": order_id, "reason": "cold"}, ASHA)
        for order_id in ("ORD-1001", "ORD-1006")
    ))  # fmt: skip

    assert [result["ok"] for result in results] == [True, True]
    customer = await mongo.async_db().customers.find_one({"user_id": 101})
    assert customer is not None and customer["wallet_balance"] == 12_000 + 16_875 + 10_000
    # Each answer tells the balance right after its own credit: one of them saw both.
    told = sorted(result["wallet_balance"] for result in results)
    assert told[-1] == "388.75" and told[0] in ("288.75", "220.00")


async def test_a_refund_with_no_account_to_credit_changes_nothing(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    db = mongo.async_db()
    await db.customers.delete_one({"user_id": 101})  # the account went during the call

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    assert result["reason"] == "not_identified"
    order = await db.orders.find_one({"order_id": "ORD-1001"})
    assert order is not None and (order["status"], order["refund"]) == ("delivered", None)
    assert await db.refunds.count_documents({}) == 0


# --- An order changed under its refund ------------------------------------------------------


def a_colleague_edits_the_amount(monkeypatch: pytest.MonkeyPatch, *, times: int) -> None:
    """A colleague corrects the order's amount in the admin (a partial cancellation, say)
    between the policy's read and the refund's write, on the first `times` tries."""
    real_record, edits = refunds._record, iter(range(times))

    async def edit_lands_first(db: Any, order: Any, *args: Any) -> Any:
        if next(edits, None) is not None:
            amount = 30_000 if order["amount"] != 30_000 else 29_000
            await db.orders.update_one({"_id": order["_id"]}, {"$set": {"amount": amount}})
        return await real_record(db, order, *args)

    monkeypatch.setattr(refunds, "_record", edit_lands_first)


async def test_an_order_edited_during_its_refund_is_refunded_on_its_new_amount(
    asha: Customer, tiers: list[RefundTier], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_colleague_edits_the_amount(monkeypatch, times=1)

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    assert result["ok"] and (result["amount"], result["percent"]) == ("150.00", 50)
    order = await mongo.async_db().orders.find_one({"order_id": "ORD-1001"})
    assert order is not None and order["refund"]["amount"] == 15_000


async def test_an_order_edited_under_every_try_is_not_called_already_refunded(
    asha: Customer, tiers: list[RefundTier], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_colleague_edits_the_amount(monkeypatch, times=2)

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    assert (result["ok"], result["reason"]) == (False, "unavailable")
    assert "nothing was refunded" in result["message"]
    order = await mongo.async_db().orders.find_one({"order_id": "ORD-1001"})
    assert order is not None and (order["status"], order["refund"]) == ("delivered", None)
    assert await mongo.async_db().refunds.count_documents({}) == 0


async def test_an_order_moved_to_another_account_during_its_refund_is_not_refunded(
    asha: Customer, ravi: Customer, tiers: list[RefundTier], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reload of the orders (load_support_data upserts by order_id) gives the order to Ravi
    between the policy's read and the refund's write: it is no longer Asha's to refund."""
    real_record = refunds._record

    async def reload_lands_first(db: Any, order: Any, *args: Any) -> Any:
        await db.orders.update_one({"_id": order["_id"]}, {"$set": {"user_id": 202}})
        return await real_record(db, order, *args)

    monkeypatch.setattr(refunds, "_record", reload_lands_first)

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    assert (result["ok"], result["reason"]) == (False, "not_found")
    db = mongo.async_db()
    order = await db.orders.find_one({"order_id": "ORD-1001"})
    assert order is not None and (order["status"], order["refund"]) == ("delivered", None)
    assert await db.refunds.count_documents({}) == 0
    customer = await db.customers.find_one({"user_id": 101})
    assert customer is not None and customer["wallet_balance"] == 12_000


# --- A refund whose acknowledgement is lost ---------------------------------------------------


def ticket_refused_at_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The database does not take the first ticket the refund opens (frozen), then does."""
    open_escalation = refunds.open_escalation
    tries = 0

    async def unreachable_at_first(**ticket: Any) -> str:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise ServerSelectionTimeoutError("the database is frozen")
        return await open_escalation(**ticket)

    monkeypatch.setattr(refunds, "open_escalation", unreachable_at_first)


def lose_the_acknowledgement(
    monkeypatch: pytest.MonkeyPatch, *, committed: bool, wait_s: float = 0.0
) -> None:
    """The database runs the refund's transaction (and commits it, if `committed`) but the
    answer to the bridge is a timeout, `wait_s` seconds later."""
    original = AsyncClientSession.with_transaction

    async def timed_out(self: AsyncClientSession, callback: Any, *args: Any, **kwargs: Any) -> Any:
        async def body(session: AsyncClientSession) -> Any:
            done = await callback(session)
            if not committed:  # the body ran, the commit did not
                raise ExecutionTimeout("operation exceeded time limit")
            return done

        await original(self, body, *args, **kwargs)
        await asyncio.sleep(wait_s)
        raise ExecutionTimeout("operation exceeded time limit")

    monkeypatch.setattr(AsyncClientSession, "with_transaction", timed_out)


async def test_a_refund_made_but_not_acknowledged_is_answered_as_made(
    asha: Customer, tiers: list[RefundTier], monkeypatch: pytest.MonkeyPatch
) -> None:
    lose_the_acknowledgement(monkeypatch, committed=True)

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    assert result["ok"] is True
    assert (result["amount"], result["percent"], result["wallet_balance"]) == (
        "168.75", 50, "288.75",
    )  # fmt: skip
    db = mongo.async_db()
    refunds = await db.refunds.find({"order_id": "ORD-1001"}).to_list()
    assert [refund["refund_id"] for refund in refunds] == [result["refund_id"]]
    customer = await db.customers.find_one({"user_id": 101})
    assert customer is not None and customer["wallet_balance"] == 12_000 + 16_875


async def test_a_refund_made_after_the_tools_time_ran_out_is_still_found(
    asha: Customer, tiers: list[RefundTier], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The usual way an acknowledgement is lost: the tool's whole time went, so the check that
    # follows needs time of its own.
    monkeypatch.setattr(registry, "TOOL_TIMEOUT_S", 0.5)
    lose_the_acknowledgement(monkeypatch, committed=True, wait_s=0.6)

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    assert result["ok"] is True
    refund = await mongo.async_db().refunds.find_one({"order_id": "ORD-1001"})
    assert refund is not None and refund["refund_id"] == result["refund_id"]


async def test_a_refund_whose_outcome_is_unknown_does_not_invite_a_retry(
    asha: Customer, tiers: list[RefundTier], monkeypatch: pytest.MonkeyPatch
) -> None:
    lose_the_acknowledgement(monkeypatch, committed=False)

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    assert result["ok"] is False and result["reason"] == "unavailable"
    assert "may or may not" in result["message"] and "colleague" in result["message"]
    assert "try again" not in result["message"]


async def the_ticket_for(order_id: str) -> dict[str, Any]:
    """The ticket a refund of unknown outcome opens, once the follow-up has looked again."""
    async with asyncio.timeout(5):
        await asyncio.gather(*refunds._follow_ups)
    ticket = await mongo.async_db().escalations.find_one({"order_id": order_id})
    assert ticket is not None, f"no ticket for {order_id}"
    return ticket


async def test_the_ticket_is_open_before_the_customer_hears_a_colleague_will_check(
    asha: Customer, tiers: list[RefundTier], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(refunds, "FOLLOW_UP_EVERY_S", 60.0)
    lose_the_acknowledgement(monkeypatch, committed=False)

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)
    # The process stops before its follow-up looks again (a restart, a crash).
    for follow_up in list(refunds._follow_ups):
        follow_up.cancel()

    assert result["reason"] == "unavailable" and "colleague" in result["message"]
    ticket = await mongo.async_db().escalations.find_one({"order_id": "ORD-1001"})
    assert ticket is not None, "the promise to the customer was lost with the process"
    assert (ticket["user_id"], ticket["priority"], ticket["status"], ticket["origin"]) == (
        101, "high", "open", refunds.REFUND_UNCONFIRMED,
    )  # fmt: skip
    assert "could not be confirmed" in ticket["reason"]
    assert "check the order and the wallet" in ticket["reason"]


async def test_a_refund_whose_outcome_is_unknown_opens_the_ticket_it_promises(
    asha: Customer, tiers: list[RefundTier], monkeypatch: pytest.MonkeyPatch
) -> None:
    lose_the_acknowledgement(monkeypatch, committed=False)

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    assert result["reason"] == "unavailable"
    ticket = await the_ticket_for("ORD-1001")
    assert (ticket["user_id"], ticket["call_id"], ticket["priority"], ticket["status"]) == (
        101, "call-asha", "high", "open",
    )  # fmt: skip
    assert ticket["origin"] == refunds.REFUND_UNCONFIRMED and ticket["live"] is False
    assert "₹168.75" in ticket["reason"] and "No refund" in ticket["reason"]
    assert "could not be confirmed" in ticket["reason"]


async def test_the_ticket_waits_for_the_database_and_says_the_refund_was_made_after_all(
    asha: Customer, tiers: list[RefundTier], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The commit landed, but neither its answer nor the first looks for it came back.
    lose_the_acknowledgement(monkeypatch, committed=True)
    find_refund = refunds._find_refund
    looks = 0

    async def unreachable_at_first(*args: Any) -> int | None:
        nonlocal looks
        looks += 1
        if looks <= 3:
            raise ServerSelectionTimeoutError("the database is frozen")
        return await find_refund(*args)

    monkeypatch.setattr(refunds, "_find_refund", unreachable_at_first)

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    assert result["reason"] == "unavailable"
    ticket = await the_ticket_for("ORD-1001")
    refund = await mongo.async_db().refunds.find_one({"order_id": "ORD-1001"})
    assert refund is not None
    assert f"It was made after all ({refund['refund_id']})" in ticket["reason"]
    assert await mongo.async_db().escalations.count_documents({}) == 1


async def test_a_ticket_the_database_would_not_take_during_the_call_is_opened_once_it_does(
    asha: Customer, tiers: list[RefundTier], monkeypatch: pytest.MonkeyPatch
) -> None:
    lose_the_acknowledgement(monkeypatch, committed=False)
    ticket_refused_at_first(monkeypatch)

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    assert result["reason"] == "unavailable"
    ticket = await the_ticket_for("ORD-1001")
    assert "No refund" in ticket["reason"] and ticket["origin"] == refunds.REFUND_UNCONFIRMED
    assert await mongo.async_db().escalations.count_documents({}) == 1
