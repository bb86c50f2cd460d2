"""Contract section 6, sentence by sentence, where no other test proved it against the real
database: the refund "whatever the percentage", the lifetime spend at the tiers' edges with the
order being refunded counted, rounding half-up, the same refund asked at once in several
spoken forms, statuses the policy does not name, a tier edited mid-call, another customer's
order named in an escalation, and an absurd number of arguments."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from support import mongo
from support.models import Customer, RefundTier
from support.tests.conftest import State, make_order
from support.tools import ToolContext, run_tool

pytestmark = pytest.mark.django_db

ASHA = ToolContext(user_id=101, call_id="call-asha", channel="web")
NEHA = ToolContext(user_id=606, call_id="call-neha", channel="web")
add_order = sync_to_async(make_order)


@pytest.fixture
def neha(db: Any) -> Customer:
    """A customer with no orders yet: each test gives her the ones it needs."""
    return Customer.objects.create(
        user_id=606, name="Neha Rao", phone="+919800000606", wallet_balance=5_000
    )


async def a_fresh_order(customer: Customer, amount: int, order_id: str = "ORD-6001") -> None:
    """Delivered 30 minutes ago: inside the window."""
    await add_order(customer, order_id, status="delivered", amount=amount,
                    placed_hours_ago=1, delivered_hours_ago=0.5)  # fmt: skip


async def refund(ctx: ToolContext, order_id: str = "ORD-6001") -> dict[str, Any]:
    return await run_tool("initiate_refund", {"order_id": order_id, "reason": "cold"}, ctx)


# --- "the order's status becomes refunded and its refund field is set, whatever the percentage"


async def test_a_refund_at_a_nought_percent_tier_still_settles_the_order(
    neha: Customer, tiers: list[RefundTier]
) -> None:
    await RefundTier.objects.filter(name="Bronze").aupdate(percent=0)
    await a_fresh_order(neha, 45_000)

    result = await refund(NEHA)
    again = await refund(NEHA)

    assert (result["ok"], result["amount"], result["percent"], result["tier"]) == (
        True, "0.00", 0, "Bronze",
    )  # fmt: skip
    assert result["wallet_balance"] == "50.00"
    assert again["reason"] == "already_refunded"  # one refund per order, even of nothing
    db = mongo.async_db()
    order = await db.orders.find_one({"order_id": "ORD-6001"})
    assert order is not None and order["status"] == "refunded"
    assert order["refund"] == {"amount": 0, "percent": 0, "refund_id": result["refund_id"],
                               "at": order["refund"]["at"]}  # fmt: skip
    record = await db.refunds.find_one({"order_id": "ORD-6001"}, {"_id": 0})
    assert record is not None
    assert record.keys() >= {"refund_id", "order_id", "user_id", "amount", "percent", "tier",
                             "reason", "call_id", "created_at"}  # fmt: skip
    assert (record["amount"], record["user_id"], record["call_id"]) == (0, 606, "call-neha")
    customer = await db.customers.find_one({"user_id": 606})
    assert customer is not None and customer["wallet_balance"] == 5_000


# --- the lifetime spend, at the tiers' edges ------------------------------------------------


@pytest.mark.parametrize(
    ("earlier", "this_one", "tier", "percent", "credited"),
    [
        # Silver from ₹2,000: the order being refunded takes her there.
        ([("delivered", 150_000)], 50_000, "Silver", 50, "250.00"),
        ([("delivered", 149_999)], 50_000, "Bronze", 30, "150.00"),  # ₹1,999.99
        # Orders in progress and refunded ones count; cancelled ones do not.
        ([("out_for_delivery", 100_000), ("refunded", 350_000), ("cancelled", 900_000)],
         50_000, "Gold", 75, "375.00"),
        # Platinum from ₹10,000: all of it back.
        ([("delivered", 950_000)], 50_000, "Platinum", 100, "500.00"),
        ([("delivered", 949_999)], 50_000, "Gold", 75, "375.00"),
    ],
)  # fmt: skip
async def test_the_tier_is_the_highest_the_lifetime_spend_reaches_with_this_order_in_it(
    neha: Customer,
    tiers: list[RefundTier],
    earlier: list[tuple[str, int]],
    this_one: int,
    tier: str,
    percent: int,
    credited: str,
) -> None:
    for n, (status, amount) in enumerate(earlier):
        delivered = status in ("delivered", "refunded")
        await add_order(neha, f"OLD-{n}", status=status, amount=amount, placed_hours_ago=50,
                        delivered_hours_ago=49 if delivered else None)  # fmt: skip
    await a_fresh_order(neha, this_one)

    profile = await run_tool("get_user_profile", {}, NEHA)
    result = await refund(NEHA)

    assert (profile["tier"], profile["refund_percent"]) == (tier, percent)
    assert (result["tier"], result["percent"], result["amount"]) == (tier, percent, credited)


@pytest.mark.parametrize(
    ("amount", "credited", "paise"),
    [(33_333, "166.67", 16_667),  # ₹166.665 rounds half up
     (10_001, "50.01", 5_001),  # ₹50.005
     (1, "0.01", 1)],  # half a paisa is a paisa
)  # fmt: skip
async def test_the_amount_credited_is_rounded_half_up_to_the_paisa(
    neha: Customer, tiers: list[RefundTier], amount: int, credited: str, paise: int
) -> None:
    await add_order(neha, "OLD-1", status="delivered", amount=200_000, placed_hours_ago=50,
                    delivered_hours_ago=49)  # fmt: skip
    await a_fresh_order(neha, amount)  # Silver: half of it

    result = await refund(NEHA)

    assert (result["percent"], result["amount"]) == (50, credited)
    customer = await mongo.async_db().customers.find_one({"user_id": 606})
    assert customer is not None and customer["wallet_balance"] == 5_000 + paise


# --- the same refund asked again at once ----------------------------------------------------


async def test_one_refund_asked_at_once_in_several_spoken_forms_pays_once(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    """The model's parallel calls in one turn, each with the id as it heard it."""
    forms = ["ORD-1001", "ord 1001", "Ord-1001", "ORD1001"]

    results = await asyncio.gather(*(refund(ASHA, form) for form in forms))

    assert sorted(str(r.get("reason")) for r in results) == ["None"] + ["already_refunded"] * 3
    customer = await mongo.async_db().customers.find_one({"user_id": 101})
    assert customer is not None and customer["wallet_balance"] == 12_000 + 16_875
    assert await mongo.async_db().refunds.count_documents({"order_id": "ORD-1001"}) == 1


# --- statuses the policy does not name as refundable ---------------------------------------


@pytest.mark.parametrize("status", ["placed", "preparing", "out_for_delivery"])
async def test_an_order_still_on_its_way_is_refused_as_not_delivered_and_nothing_changes(
    neha: Customer, tiers: list[RefundTier], database_state: State, status: str
) -> None:
    await add_order(neha, "ORD-6001", status=status, amount=45_000, placed_hours_ago=0.2)
    before = await database_state()

    result = await refund(NEHA)

    assert (result["ok"], result["reason"]) == (False, "not_delivered")
    assert "hasn't been delivered" in result["message"]
    assert await database_state() == before


# --- a tier edited mid-call -------------------------------------------------------------------


async def test_a_tier_threshold_raised_mid_call_applies_to_the_refund_after_it(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    """Asha (₹2,500) heard Silver at the start of the call; a lead then moved Silver to
    ₹3,000. The refund follows the tiers as they are when it is made, and says so."""
    before = await run_tool("get_user_profile", {}, ASHA)
    await RefundTier.objects.filter(name="Silver").aupdate(min_lifetime_spend=300_000)

    result = await refund(ASHA, "ORD-1001")
    after = await run_tool("get_user_profile", {}, ASHA)

    assert (before["tier"], before["refund_percent"]) == ("Silver", 50)
    assert (result["tier"], result["percent"], result["amount"]) == ("Bronze", 30, "101.25")
    assert (after["tier"], after["refund_percent"]) == ("Bronze", 30)


# --- another customer's data ------------------------------------------------------------------


async def test_an_escalation_naming_another_customers_order_carries_no_order(
    asha: Customer, ravi: Customer
) -> None:
    ravis_order = await mongo.async_db().orders.find_one({"order_id": "ORD-2001"}, {"_id": 0})

    result = await run_tool(
        "escalate_to_human", {"reason": "about my order", "order_id": "ORD-2001"}, ASHA
    )

    assert result.keys() == {"ok", "ticket_id"} and result["ok"]
    ticket = await mongo.async_db().escalations.find_one({"ticket_id": result["ticket_id"]})
    assert ticket is not None and (ticket["user_id"], ticket["order_id"]) == (101, None)
    assert await mongo.async_db().orders.find_one({"order_id": "ORD-2001"}, {"_id": 0}) == (
        ravis_order
    )


# --- arguments of absurd size ----------------------------------------------------------------


async def test_an_absurd_number_of_unknown_arguments_is_refused_in_a_sentence(
    asha: Customer, database_state: State
) -> None:
    """The message is said to the model: it named every one, half a megabyte of them."""
    before = await database_state()
    args = {f"argument_{n:05d}": "x" for n in range(20_000)}

    result = await run_tool("get_user_profile", args, ASHA)

    assert (result["ok"], result["reason"]) == (False, "invalid_argument")
    assert len(result["message"]) < 300
    assert result["message"] == (
        "get_user_profile takes no argument named argument_00000, argument_00001, "
        "argument_00002, argument_00003, argument_00004 and 19995 more."
    )
    assert await database_state() == before


async def test_a_few_unknown_arguments_are_all_named(asha: Customer) -> None:
    result = await run_tool("check_order_status", {"user_id": 202, "all": "yes"}, ASHA)

    assert result["message"] == "check_order_status takes no argument named all, user_id."
