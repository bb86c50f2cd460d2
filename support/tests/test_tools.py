"""The agent's six tools against the real database: answers, refusals, scoping, validation."""

from __future__ import annotations

import asyncio
import importlib
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.apps import apps

from support import mongo
from support.escalations import resolve
from support.models import Complaint, Customer, Escalation, Refund, RefundTier
from support.tests.conftest import CONTRACT_TIERS, State, make_order
from support.tools import TOOLS, ToolContext, function_declarations, run_tool

pytestmark = pytest.mark.django_db

ASHA = ToolContext(user_id=101, call_id="call-asha", channel="web")
RAVI = ToolContext(user_id=202, call_id="call-ravi", channel="web")
UNKNOWN_CALLER = ToolContext(user_id=None, call_id="call-unknown", channel="phone")

READABLE_ID = r"[A-HJKMNP-Z2-9]{6}"

ORDER_TOOLS = [
    ("get_order_details", {}),
    ("initiate_refund", {"reason": "cold food"}),
    ("file_complaint", {"category": "food_quality", "description": "cold food"}),
]
CUSTOMER_TOOLS = [
    ("get_user_profile", {}),
    ("check_order_status", {}),
    ("get_order_details", {"order_id": "ORD-1001"}),
    ("initiate_refund", {"order_id": "ORD-1001", "reason": "cold food"}),
]


async def db_doc(collection: str, **query: Any) -> dict[str, Any] | None:
    return await mongo.async_db()[collection].find_one(query, {"_id": 0})


# --- Declarations -----------------------------------------------------------------------------


def test_there_is_one_declaration_per_tool() -> None:
    declarations = {d["name"]: d for d in function_declarations()}

    assert tuple(declarations) == tuple(TOOLS)
    assert set(TOOLS) >= {
        "get_user_profile",
        "check_order_status",
        "get_order_details",
        "initiate_refund",
        "file_complaint",
        "escalate_to_human",
        "verify_caller",
    }
    assert all(d["description"] for d in declarations.values())


def test_declarations_are_in_the_live_api_schema() -> None:
    declarations = {d["name"]: d for d in function_declarations()}

    assert "parameters" not in declarations["get_user_profile"]
    assert "parameters" not in declarations["check_order_status"]
    refund = declarations["initiate_refund"]["parameters"]
    assert refund["type"] == "OBJECT"
    assert refund["required"] == ["order_id", "reason"]
    assert refund["properties"]["order_id"]["type"] == "STRING"
    complaint = declarations["file_complaint"]["parameters"]
    assert complaint["required"] == ["category", "description"]
    assert complaint["properties"]["category"]["enum"] == [
        "food_quality", "late_delivery", "missing_items", "wrong_order", "hygiene", "other",
    ]  # fmt: skip
    escalation = declarations["escalate_to_human"]["parameters"]
    assert escalation["required"] == ["reason"]
    assert escalation["properties"]["priority"]["enum"] == ["low", "normal", "high", "urgent"]


# --- get_user_profile -------------------------------------------------------------------------


async def test_profile_tells_asha_her_wallet_spend_and_silver_tier(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    result = await run_tool("get_user_profile", {}, ASHA)

    assert result == {
        "ok": True,
        "name": "Asha Verma",
        "phone": "+919800000101",
        "email": "asha@example.com",
        "wallet_balance": "120.00",
        "wallet_balance_text": "₹120.00",
        "total_orders": 5,
        "lifetime_spend": "2500.00",
        "lifetime_spend_text": "₹2,500.00",
        "tier": "Silver",
        "refund_percent": 50,
        "verified": True,
        "currency": "INR",
    }


async def test_profile_of_a_customer_not_in_the_database_is_not_identified(
    tiers: list[RefundTier],
) -> None:
    result = await run_tool("get_user_profile", {}, ToolContext(user_id=999))

    assert result["ok"] is False
    assert result["reason"] == "not_identified"


# --- check_order_status -----------------------------------------------------------------------


async def test_order_status_lists_ashas_orders_newest_first_with_refund_eligibility(
    asha: Customer,
) -> None:
    result = await run_tool("check_order_status", {}, ASHA)

    assert result["ok"] is True
    assert result["more_orders"] is False
    orders = result["orders"]
    assert [o["order_id"] for o in orders] == [
        "ORD-1003", "ORD-1001", "ORD-1002", "ORD-1004", "ORD-1005",
    ]  # fmt: skip
    on_its_way, recent, *_ = orders
    assert on_its_way["status"] == "out_for_delivery"
    assert on_its_way["delivered_at"] is None
    assert on_its_way["refund_eligible"] is False
    assert on_its_way["refund_refusal"] == "not_delivered"
    assert recent["restaurant"] == "Biryani Blues"
    assert recent["amount"] == "337.50"
    assert recent["refund_eligible"] is True
    assert "refund_refusal" not in recent
    assert [o.get("refund_refusal") for o in orders[2:]] == [
        "outside_window", "not_delivered", "already_refunded",
    ]  # fmt: skip


@pytest.fixture
def meera(db: Any) -> Customer:
    """A regular with twelve orders, one a day."""
    meera = Customer.objects.create(user_id=303, name="Meera Iyer", phone="+919800000303")
    for n in range(12):
        make_order(
            meera, f"ORD-3{n:03d}", status="delivered", amount=10_000,
            placed_hours_ago=24 * n + 5, delivered_hours_ago=24 * n + 4,
        )  # fmt: skip
    return meera


async def test_order_status_lists_the_ten_newest_and_says_there_are_more(meera: Customer) -> None:
    result = await run_tool("check_order_status", {}, ToolContext(user_id=303))

    assert [o["order_id"] for o in result["orders"]] == [f"ORD-3{n:03d}" for n in range(10)]
    assert result["more_orders"] is True


async def test_order_status_of_a_customer_without_orders_is_an_empty_list(ravi: Customer) -> None:
    result = await run_tool("check_order_status", {}, ToolContext(user_id=404))

    assert result == {"ok": True, "orders": [], "more_orders": False, "currency": "INR"}


# --- get_order_details ------------------------------------------------------------------------


async def test_order_details_show_items_hours_since_delivery_and_the_window(
    asha: Customer,
) -> None:
    result = await run_tool("get_order_details", {"order_id": "ORD-1001"}, ASHA)

    assert result["ok"] is True
    assert result["order_id"] == "ORD-1001"
    assert result["status"] == "delivered"
    assert result["amount"] == "337.50"
    assert result["items"] == [
        {"name": "Chicken Biryani", "qty": 1, "price": "337.50", "price_text": "₹337.50"}
    ]
    assert result["hours_since_delivery"] == pytest.approx(0.5, abs=0.02)
    assert result["inside_refund_window"] is True
    assert result["refund_eligible"] is True
    assert result["refund"] is None


async def test_order_details_say_an_older_order_is_outside_the_window(asha: Customer) -> None:
    result = await run_tool("get_order_details", {"order_id": "ORD-1002"}, ASHA)

    assert result["hours_since_delivery"] == pytest.approx(3, abs=0.02)
    assert result["inside_refund_window"] is False
    assert result["refund_refusal"] == "outside_window"


async def test_order_details_of_a_refunded_order_show_the_refund(asha: Customer) -> None:
    result = await run_tool("get_order_details", {"order_id": "ORD-1005"}, ASHA)

    assert result["refund"]["amount"] == "375.00"
    assert result["refund"]["percent"] == 30
    assert result["refund"]["refund_id"] == "RFD-K7M2QP"
    assert result["refund_refusal"] == "already_refunded"


async def test_an_order_id_spoken_in_lower_case_is_understood(asha: Customer) -> None:
    result = await run_tool("get_order_details", {"order_id": " ord-1001 "}, ASHA)

    assert result["ok"] is True
    assert result["order_id"] == "ORD-1001"


async def test_order_details_of_an_unknown_order_are_not_found(asha: Customer) -> None:
    result = await run_tool("get_order_details", {"order_id": "ORD-9999"}, ASHA)

    assert result["ok"] is False
    assert result["reason"] == "not_found"
    assert result["message"]


# --- initiate_refund --------------------------------------------------------------------------


async def test_refund_credits_half_of_ashas_order_to_her_wallet(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    result = await run_tool(
        "initiate_refund", {"order_id": "ORD-1001", "reason": "The biryani was cold"}, ASHA
    )

    assert result["ok"] is True
    assert re.fullmatch(f"RFD-{READABLE_ID}", result["refund_id"])
    assert result | {"refund_id": "…"} == {
        "ok": True,
        "refund_id": "…",
        "order_id": "ORD-1001",
        "amount": "168.75",
        "amount_text": "₹168.75",
        "percent": 50,
        "tier": "Silver",
        "wallet_balance": "288.75",
        "wallet_balance_text": "₹288.75",
        "currency": "INR",
    }
    refund = await Refund.objects.aget(order_id="ORD-1001")  # the admin reads it too
    assert (refund.refund_id, refund.customer_id, refund.amount) == (
        result["refund_id"], 101, 16_875,
    )  # fmt: skip
    assert (refund.percent, refund.tier, refund.call_id) == (50, "Silver", "call-asha")
    assert refund.reason == "The biryani was cold"
    order = await db_doc("orders", order_id="ORD-1001")
    assert order is not None
    assert order["status"] == "refunded"
    assert order["refund"]["amount"] == 16_875
    assert order["refund"]["refund_id"] == result["refund_id"]
    customer = await db_doc("customers", user_id=101)
    assert customer is not None and customer["wallet_balance"] == 12_000 + 16_875


async def test_ravi_a_bronze_customer_gets_thirty_percent(
    ravi: Customer, tiers: list[RefundTier]
) -> None:
    result = await run_tool("initiate_refund", {"order_id": "ORD-2001", "reason": "late"}, RAVI)

    assert (result["amount"], result["percent"], result["tier"]) == ("144.00", 30, "Bronze")


@pytest.mark.parametrize(
    ("order_id", "reason"),
    [
        ("ORD-1003", "not_delivered"),
        ("ORD-1004", "not_delivered"),  # cancelled
        ("ORD-1002", "outside_window"),
        ("ORD-1005", "already_refunded"),
    ],
)
async def test_a_refund_the_policy_refuses_says_why_and_changes_nothing(
    asha: Customer, tiers: list[RefundTier], database_state: State, order_id: str, reason: str
) -> None:
    before = await database_state()

    result = await run_tool("initiate_refund", {"order_id": order_id, "reason": "cold"}, ASHA)

    assert result["ok"] is False
    assert result["reason"] == reason
    assert result["message"]
    assert await database_state() == before


@pytest.mark.parametrize(
    ("order_id", "said"),
    [
        ("ORD-1003", "That order hasn't been delivered yet, so it can't be refunded."),
        ("ORD-1004", "That order was cancelled, so there's nothing to refund."),
    ],
)
async def test_a_cancelled_order_is_not_called_not_yet_delivered(
    asha: Customer, tiers: list[RefundTier], order_id: str, said: str
) -> None:
    result = await run_tool("initiate_refund", {"order_id": order_id, "reason": "cold"}, ASHA)

    assert (result["reason"], result["message"]) == ("not_delivered", said)


async def test_an_order_whose_delivery_time_is_still_to_come_is_not_yet_delivered(
    asha: Customer, tiers: list[RefundTier], database_state: State
) -> None:
    """Only a direct database write sets one; the window must not stay open until then."""
    await mongo.async_db().orders.update_one(
        {"order_id": "ORD-1002"},
        {"$set": {"delivered_at": datetime.now(UTC) + timedelta(days=300)}},
    )
    before = await database_state()

    details = await run_tool("get_order_details", {"order_id": "ORD-1002"}, ASHA)
    refund = await run_tool("initiate_refund", {"order_id": "ORD-1002", "reason": "cold"}, ASHA)

    assert (details["inside_refund_window"], details["hours_since_delivery"]) == (False, None)
    assert (details["refund_eligible"], details["refund_refusal"]) == (False, "not_delivered")
    assert (refund["ok"], refund["reason"]) == (False, "not_delivered")
    assert "delivery time" in refund["message"]
    assert await database_state() == before


async def test_a_second_refund_of_the_same_order_is_already_refunded(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    args = {"order_id": "ORD-1001", "reason": "cold"}
    first = await run_tool("initiate_refund", args, ASHA)

    second = await run_tool("initiate_refund", args, ASHA)

    assert first["ok"] is True
    assert second["reason"] == "already_refunded"
    assert await mongo.async_db().refunds.count_documents({"order_id": "ORD-1001"}) == 1


async def test_a_tier_edit_changes_the_very_next_refund(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    await RefundTier.objects.filter(name="Silver").aupdate(percent=60)

    result = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA)

    assert (result["amount"], result["percent"], result["tier"]) == ("202.50", 60, "Silver")


def test_the_migration_creates_the_contracts_tiers(db: Any) -> None:
    """Contract section 5: `refund_tiers` starts as section 6's table, made by a migration."""
    migration = importlib.import_module("support.migrations.0002_default_refund_tiers")
    RefundTier.objects.all().delete()  # the suite flushed those migrate made

    migration.create_default_tiers(apps, None)

    made = RefundTier.objects.order_by("-min_lifetime_spend")
    assert [(t.name, t.min_lifetime_spend, t.percent) for t in made] == CONTRACT_TIERS


async def test_without_a_tier_for_the_customer_the_refund_is_not_guessed(
    ravi: Customer, tiers: list[RefundTier], database_state: State
) -> None:
    await RefundTier.objects.filter(name="Bronze").adelete()
    before = await database_state()

    result = await run_tool("initiate_refund", {"order_id": "ORD-2001", "reason": "late"}, RAVI)

    assert result["ok"] is False
    assert result["reason"] == "unavailable"
    assert await database_state() == before


# --- Money in answers -------------------------------------------------------------------------

AMOUNTS = {"amount", "price", "wallet_balance", "lifetime_spend"}


def amounts_without_currency(answer: Any) -> list[str]:
    """Every amount in `answer` (at any depth) not beside its `_text` in rupees."""
    if isinstance(answer, list):
        return [miss for item in answer for miss in amounts_without_currency(item)]
    if not isinstance(answer, dict):
        return []
    missing = [key for key in AMOUNTS & answer.keys()
               if not str(answer.get(f"{key}_text", "")).startswith("₹")]  # fmt: skip
    return missing + [miss for value in answer.values() for miss in amounts_without_currency(value)]


async def test_every_amount_an_answer_gives_carries_its_currency(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    answers = [
        await run_tool("get_user_profile", {}, ASHA),
        await run_tool("check_order_status", {}, ASHA),
        await run_tool("get_order_details", {"order_id": "ORD-1005"}, ASHA),  # with its refund
        await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA),
    ]

    assert all(answer["ok"] and answer["currency"] == "INR" for answer in answers), answers
    assert [amounts_without_currency(answer) for answer in answers] == [[], [], [], []]
    profile, listing, details, refund = answers
    assert profile["lifetime_spend_text"] == "₹2,500.00"  # as said: Indian digit grouping
    assert listing["orders"][1]["amount_text"] == "₹337.50"
    assert details["refund"]["amount_text"] == "₹375.00"
    assert (refund["amount_text"], refund["wallet_balance_text"]) == ("₹168.75", "₹288.75")


# --- file_complaint ---------------------------------------------------------------------------


async def test_asha_files_a_complaint_about_her_order(asha: Customer) -> None:
    result = await run_tool(
        "file_complaint",
        {"order_id": "ORD-1001", "category": "missing_items", "description": "No raita"},
        ASHA,
    )

    assert result["ok"] is True
    assert re.fullmatch(f"CMP-{READABLE_ID}", result["complaint_id"])
    assert result["status"] == "open"
    complaint = await Complaint.objects.aget(complaint_id=result["complaint_id"])
    assert (complaint.customer_id, complaint.order_id, complaint.category) == (
        101, "ORD-1001", "missing_items",
    )  # fmt: skip
    assert (complaint.description, complaint.status, complaint.call_id) == (
        "No raita", "open", "call-asha",
    )  # fmt: skip


async def test_an_unidentified_caller_can_complain_without_an_order(db: Any) -> None:
    result = await run_tool(
        "file_complaint", {"category": "hygiene", "description": "Dirty bag"}, UNKNOWN_CALLER
    )

    assert result["ok"] is True
    complaint = await db_doc("complaints", complaint_id=result["complaint_id"])
    assert complaint is not None
    assert (complaint["user_id"], complaint["order_id"]) == (None, None)


async def test_an_unidentified_caller_cannot_name_an_order(asha: Customer) -> None:
    result = await run_tool(
        "file_complaint",
        {"order_id": "ORD-1001", "category": "hygiene", "description": "Dirty bag"},
        UNKNOWN_CALLER,
    )

    assert result["reason"] == "not_identified"
    assert await mongo.async_db().complaints.count_documents({}) == 0


async def test_a_complaint_with_an_unknown_category_is_refused(asha: Customer) -> None:
    result = await run_tool(
        "file_complaint", {"category": "rude_rider", "description": "Rude"}, ASHA
    )

    assert result["reason"] == "invalid_argument"
    assert "food_quality" in result["message"]


# --- escalate_to_human ------------------------------------------------------------------------


async def test_escalation_opens_a_normal_priority_ticket(asha: Customer) -> None:
    result = await run_tool("escalate_to_human", {"reason": "Wants a manager"}, ASHA)

    assert result.keys() == {"ok", "ticket_id"}
    assert re.fullmatch(f"TKT-{READABLE_ID}", result["ticket_id"])
    ticket = await Escalation.objects.aget(ticket_id=result["ticket_id"])
    assert (ticket.customer_id, ticket.priority) == (101, "normal")
    assert ticket.reason == "Wants a manager"
    assert (ticket.status, ticket.assignee, ticket.notes) == ("open", None, [])
    assert (ticket.call_id, ticket.order_id, ticket.resolved_at) == ("call-asha", None, None)


async def test_escalations_asked_at_once_in_one_call_open_one_ticket(asha: Customer) -> None:
    """The model calling it in parallel, or again while the first is running: one warm
    escalation a call, the others' reasons noted on it."""
    reasons = ["wants a person", "very upset, wants a manager", "asks again for a human"]

    results = await asyncio.gather(
        *(run_tool("escalate_to_human", {"reason": reason}, ASHA) for reason in reasons)
    )

    assert all(result["ok"] for result in results)
    assert len({result["ticket_id"] for result in results}) == 1
    [ticket] = await mongo.async_db().escalations.find({"call_id": "call-asha"}).to_list()
    assert len(ticket["notes"]) == 2


async def test_once_its_ticket_is_resolved_a_call_can_escalate_again(asha: Customer) -> None:
    first = await run_tool("escalate_to_human", {"reason": "wants a person"}, ASHA)
    await sync_to_async(resolve)(first["ticket_id"], "arjun")

    second = await run_tool("escalate_to_human", {"reason": "another problem"}, ASHA)

    assert second["ok"] and second["ticket_id"] != first["ticket_id"]


async def test_an_unidentified_caller_can_escalate_urgently(db: Any) -> None:
    result = await run_tool(
        "escalate_to_human", {"reason": "Allergic reaction", "priority": "urgent"}, UNKNOWN_CALLER
    )

    ticket = await db_doc("escalations", ticket_id=result["ticket_id"])
    assert ticket is not None
    assert (ticket["user_id"], ticket["priority"]) == (None, "urgent")


async def test_ticket_ids_are_distinct(db: Any) -> None:
    # One call each: a call asking again while it waits answers its one ticket.
    results = [await run_tool("escalate_to_human", {"reason": "help"},
                              ToolContext(user_id=101, call_id=f"call-{n}", channel="web"))
               for n in range(20)]  # fmt: skip

    assert len({result["ticket_id"] for result in results}) == 20


# --- verify_caller when the call moves ---------------------------------------------------------

WRONG = [{"restaurant": f"Nowhere {n}"} for n in range(8)]


async def a_phone_call_record(call_id: str) -> None:
    """The call's record as the process that began it opened it (realtime/call_record.py)."""
    await mongo.async_db().calls.insert_one({
        "call_id": call_id, "user_id": 101, "channel": "phone", "started_at": datetime.now(UTC),
        "ended_at": None, "verified": False,
    })  # fmt: skip


def carried_here(call_id: str) -> ToolContext:
    """The call's tools in a process carrying it: a fresh context, as after a move."""
    return ToolContext(user_id=101, call_id=call_id, channel="phone")


async def test_a_call_moved_to_another_process_keeps_its_count_of_verify_tries(
    asha: Customer,
) -> None:
    await a_phone_call_record("moving")
    before_the_move = carried_here("moving")
    for answer in WRONG[:2]:
        await run_tool("verify_caller", answer, before_the_move)

    after_the_move = carried_here("moving")
    third = await run_tool("verify_caller", WRONG[2], after_the_move)
    right = await run_tool("verify_caller", {"restaurant": "Dosa Point"}, after_the_move)

    assert third["message"] == "That doesn't match a recent order, and that was the last try."
    assert (right["ok"], right["reason"]) == (False, "not_verified")
    assert "can't confirm" in right["message"]
    record = await db_doc("calls", call_id="moving")
    assert record is not None and record["verify_tries"] == 3


async def test_guesses_sent_at_once_from_two_processes_get_three_tries_a_call(
    asha: Customer,
) -> None:
    """The old process still finishing its tools as the new one runs the model's."""
    await a_phone_call_record("moving")
    old, new = carried_here("moving"), carried_here("moving")

    results = await asyncio.gather(
        *(run_tool("verify_caller", answer, old) for answer in WRONG[:4]),
        *(run_tool("verify_caller", answer, new) for answer in WRONG[4:]),
    )

    assert sum("doesn't match" in result["message"] for result in results) == 3


async def test_a_right_answer_verifies_after_the_move_while_tries_are_left(
    asha: Customer,
) -> None:
    await a_phone_call_record("moving")
    await run_tool("verify_caller", WRONG[0], carried_here("moving"))

    right = await run_tool("verify_caller", {"restaurant": "Dosa Point"}, carried_here("moving"))

    assert right == {"ok": True, "verified": True}


# --- Scoping and identity ---------------------------------------------------------------------


@pytest.mark.parametrize(("tool", "args"), ORDER_TOOLS)
async def test_another_customers_order_is_not_found(
    asha: Customer,
    ravi: Customer,
    tiers: list[RefundTier],
    database_state: State,
    tool: str,
    args: dict[str, str],
) -> None:
    before = await database_state()

    result = await run_tool(tool, {"order_id": "ORD-2001", **args}, ASHA)

    assert result["ok"] is False
    assert result["reason"] == "not_found"
    assert await database_state() == before


async def test_order_status_never_lists_another_customers_orders(
    asha: Customer, ravi: Customer
) -> None:
    result = await run_tool("check_order_status", {}, RAVI)

    assert [o["order_id"] for o in result["orders"]] == ["ORD-2001"]


@pytest.mark.parametrize(("tool", "args"), CUSTOMER_TOOLS)
async def test_customer_tools_answer_not_identified_for_an_unknown_caller(
    asha: Customer, tiers: list[RefundTier], database_state: State, tool: str, args: dict[str, str]
) -> None:
    before = await database_state()

    result = await run_tool(tool, args, UNKNOWN_CALLER)

    assert result["ok"] is False
    assert result["reason"] == "not_identified"
    assert await database_state() == before


# --- Invalid and injection-shaped arguments ---------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("get_order_details", {"order_id": {"$ne": None}}),
        ("get_order_details", {"order_id": {"$regex": ".*"}}),
        ("get_order_details", {"order_id": ["ORD-1001"]}),
        ("get_order_details", {"order_id": 1001}),
        ("get_order_details", {"order_id": True}),
        ("get_order_details", {"order_id": "ORD-1001\nx"}),
        ("get_order_details", {}),
        ("get_order_details", {"order_id": "ORD-1001", "user_id": 202}),
        ("initiate_refund", {"order_id": {"$ne": None}, "reason": "cold"}),
        ("initiate_refund", {"order_id": "ORD-1001", "reason": {"$gt": ""}}),
        ("initiate_refund", {"order_id": "ORD-1001", "reason": "x" * 501}),
        ("initiate_refund", {"order_id": "ORD-1001", "reason": "   "}),
        ("initiate_refund", {"order_id": "ORD-1001"}),
        ("initiate_refund", {"order_id": "ORD-1001", "reason": "cold", "percent": "100"}),
        ("initiate_refund", {"order_id": "ORD-1001", "reason": "cold", "amount": 337.5}),
        ("file_complaint", {"category": ["hygiene"], "description": "dirty"}),
        ("file_complaint", {"category": "hygiene", "description": "d" * 1001}),
        ("escalate_to_human", {"reason": "help", "priority": "ASAP"}),
        ("escalate_to_human", {"reason": 42}),
        ("escalate_to_human", {"reason": "help \ud800"}),  # a lone surrogate, unstorable
        ("file_complaint", {"category": "other", "description": "a\udfff"}),
        ("get_user_profile", {"user_id": 202}),
        ("check_order_status", {"user_id": {"$exists": True}}),
        ("get_user_profile", "ORD-1001"),
        ("get_user_profile", None),
        ("initiate_refund", ["ORD-1001", "cold"]),
        ("drop_database", {}),
        ("__class__", {}),
    ],
)
async def test_wrongly_typed_or_injection_shaped_arguments_are_refused_and_change_nothing(
    asha: Customer,
    ravi: Customer,
    tiers: list[RefundTier],
    database_state: State,
    tool: str,
    args: Any,
) -> None:
    before = await database_state()

    result = await run_tool(tool, args, ASHA)

    assert result["ok"] is False
    assert result["reason"] == "invalid_argument"
    assert result["message"]
    assert await database_state() == before


@pytest.mark.parametrize(
    ("tool", "args", "ctx"),
    [
        ("file_complaint", {"order_id": "", "category": "hygiene", "description": "Dirty bag"},
         UNKNOWN_CALLER),
        ("escalate_to_human", {"reason": "Allergic reaction", "priority": "  "}, ASHA),
        ("verify_caller", {"restaurant": "", "amount": "337.50"},
         ToolContext(user_id=101, call_id="call-phone", channel="phone")),
    ],
)  # fmt: skip
async def test_an_optional_argument_given_as_blank_text_is_taken_as_not_given(
    asha: Customer, tool: str, args: dict[str, str], ctx: ToolContext
) -> None:
    """Models send `""` for an optional argument they have no value for: the complaint of a
    caller we cannot identify, an urgent escalation, a caller verifying by the amount alone
    are carried out, not refused."""
    result = await run_tool(tool, args, ctx)

    assert result["ok"] is True, result


# Odd but possible text, in pieces: scripts whose case folding grows, digits of other scripts,
# currency words, number spellings, invisible and control characters, operators.
ODD_PIECES = [
    "ORD", "-", "1001", " ", "ß", "İ", "₹", "rs", "1e5", "..", "/", "\u200b", "\u0301", "𝟙", "٣",
    "३३७.५०", "NaN", "Infinity", "-0", "0", "$ne", "{", "'", "\\", "\t", "\ufeff", "\u2028",
    "x" * 40, "Dosa Point", "dosa", "Rs.", "INR", "/-", "1,000", "1_000", "0x10", "337.50", "   ",
    "\x00", "🍕", "e", "E", "+", "%", "1e-2",
]


def odd_text(rng: random.Random) -> str:
    return "".join(rng.choice(ODD_PIECES) for _ in range(rng.randint(1, 6)))


@pytest.mark.parametrize("seed", range(6))
async def test_odd_text_in_any_argument_of_any_tool_is_answered_never_raised(
    asha: Customer, tiers: list[RefundTier], seed: int
) -> None:
    """A tool that raised would leave the bridge only "Something went wrong" to say. Each
    seed replays: 60 calls of random tools (the callback tools too), on the web and by phone."""
    rng = random.Random(seed)
    failures: list[Any] = []
    for _ in range(60):
        name = rng.choice(list(TOOLS))
        params = {param.name for param in TOOLS[name].params} or {"x"}
        args = {param: odd_text(rng) for param in params if rng.random() < 0.8}
        ctx = ToolContext(user_id=101, call_id=f"odd-{seed}", channel=rng.choice(["web", "phone"]))
        try:
            result = await run_tool(name, args, ctx)
        except Exception as error:  # noqa: BLE001  (what the test looks for)
            failures.append((name, args, repr(error)))
            continue
        if not isinstance(result, dict) or "ok" not in result:
            failures.append((name, args, result))

    assert not failures, failures


# --- Database unreachable ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "args", "ctx"),
    [
        ("get_user_profile", {}, ASHA),
        ("check_order_status", {}, ASHA),
        ("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ASHA),
        ("escalate_to_human", {"reason": "help"}, UNKNOWN_CALLER),
    ],
)
async def test_an_unreachable_database_answers_unavailable(
    unreachable_database: None, tool: str, args: dict[str, str], ctx: ToolContext
) -> None:
    result = await run_tool(tool, args, ctx)

    await mongo.close_async_client()
    assert result["ok"] is False
    assert result["reason"] == "unavailable"
    assert result["message"]

