"""The agent's tools (contract sections 6 and 9), each declared next to what it does.

Every tool acts for the session's customer only (`ctx`): queries always filter by its
`user_id`, so another customer's order simply does not exist here. Decisions come from pure
rules (support/policy.py, support/order_ids.py); the writes that matter have their own
modules (support/refunds.py, support/escalations.py). Answers are small dicts of what the
model should say, with money as rupee strings ("337.50") and times in UTC and in the
customer's local time. A refusal is raised as ToolError; registry.run_tool answers it.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from support import mongo, order_ids
from support.escalations import open_escalation
from support.ids import insert_with_fresh_id
from support.models import ComplaintCategory, Priority
from support.money import MoneyError, rupees, to_paise
from support.mongo import Document
from support.policy import OrderFacts, lifetime_spend, refusal, tier_for, within_window
from support.refunds import RefundRefused, customer_orders, refund_order, refund_tiers
from support.tools.registry import (
    Access,
    Reason,
    Result,
    StringParam,
    ToolContext,
    ToolError,
    order_id_param,
    tool,
)

# check_order_status lists this many orders: enough for "my order from yesterday", small
# enough for the model to read out.
ORDER_LIST_LIMIT = 10
# verify_caller: how many tries a phone caller gets, and which orders it may name.
VERIFY_ATTEMPTS = 3  # tries a call
VERIFY_FAILURES_A_DAY = 5  # wrong answers a customer's account takes in a day, over all calls
# On the customer: when its last tries were taken (wrong answers, and answers being checked).
VERIFY_FAILURES = "verify_failures"
VERIFY_RECENT_ORDERS = 10
VERIFY_REFUSED_MESSAGE = (
    "I can't confirm the account over the phone. The customer can use the app, or I can get "
    "a colleague to help."
)
UNVERIFIED_ORDER_NOTE = (
    "Restaurant, amount and items are told once verify_caller has confirmed the caller."
)
_CURRENCY_WORDS = re.compile(r"₹|\binr\b|\brs\b\.?|\brs(?=\d)|\brupees?\b")
NOT_FOUND_MESSAGE = "I couldn't find an order with that id on your account."

_ORDER_SUMMARY = {
    "_id": 0,
    "order_id": 1,
    "restaurant": 1,
    "status": 1,
    "amount": 1,
    "placed_at": 1,
    "delivered_at": 1,
    "refund": 1,
}


# --- Who is calling --------------------------------------------------------------------------


@tool(
    "get_user_profile",
    "Look up the caller's own profile: name, phone, email, wallet balance, number of orders, "
    "lifetime spend and loyalty tier (which sets the refund percentage). Call it at the start "
    "of a call to greet the customer by name, and before any refund. For a phone caller not "
    "yet verified it answers the name and tier only.",
)
async def get_user_profile(ctx: ToolContext) -> Result:
    user_id = ctx.identified()
    db = mongo.async_db()
    customer, orders, tiers = await asyncio.gather(
        db.customers.find_one(
            {"user_id": user_id},
            {"_id": 0, "name": 1, "phone": 1, "email": 1, "wallet_balance": 1},
        ),
        customer_orders(db, user_id),
        refund_tiers(db),
    )
    if customer is None:
        raise ToolError(Reason.NOT_IDENTIFIED, "I couldn't find your account.")
    spend = lifetime_spend(orders)
    tier = tier_for(spend, tiers)
    profile: Result = {"name": customer["name"], "tier": tier.name if tier else None}
    if not ctx.verified:
        return {**profile, "verified": False}
    return {
        **profile,
        "phone": customer["phone"],
        "email": customer.get("email", ""),
        "wallet_balance": rupees(customer.get("wallet_balance", 0)),
        "total_orders": len(orders),
        "lifetime_spend": rupees(spend),
        "refund_percent": tier.percent if tier else None,
        "verified": True,
    }


@tool(
    "verify_caller",
    "Confirm that a phone caller is the account holder before a refund or personal details: "
    "ask for the restaurant or the amount (in rupees) of one of their recent orders and pass "
    "what they say (given both, both must be of the same order). A few tries are allowed per "
    "call, and a few wrong answers a day.",
    params=(
        StringParam("restaurant", "A restaurant the caller recently ordered from.",
                    required=False, max_length=120),
        StringParam("amount", "The amount in rupees of a recent order, like 268.50.",
                    required=False, max_length=20),
    ),  # fmt: skip
)
async def verify_caller(ctx: ToolContext, restaurant: str | None, amount: str | None) -> Result:
    user_id = ctx.identified()
    if ctx.verified:
        return {"verified": True}
    if restaurant is None and amount is None:
        raise ToolError(Reason.INVALID_ARGUMENT, "Pass the restaurant or the amount they gave.")
    said = None if amount is None else _spoken_paise(amount)  # unreadable: not a try
    named = None if restaurant is None else _spoken_restaurant(restaurant)  # nor here
    # Each try is taken before anything is awaited, and the day's in one conditional write
    # before the answer is compared: the model may send many guesses at once (parallel
    # function calls run as parallel tasks), and none may be checked beyond either limit.
    if ctx.verification_attempts >= VERIFY_ATTEMPTS:
        raise ToolError(Reason.NOT_VERIFIED, VERIFY_REFUSED_MESSAGE)
    ctx.verification_attempts += 1
    now = _now()
    if not await _take_a_try_today(user_id, now):
        raise ToolError(Reason.NOT_VERIFIED, VERIFY_REFUSED_MESSAGE)
    recent, tries_today = await asyncio.gather(
        mongo.async_db()
        .orders.find({"user_id": user_id}, {"_id": 0, "restaurant": 1, "amount": 1})
        .sort("placed_at", -1)
        .limit(VERIFY_RECENT_ORDERS)
        .to_list(),
        _tries_today(user_id, now),
    )
    if any(_same_order(doc, named, said) for doc in recent):
        ctx.verified = True
        await mongo.async_db().customers.update_one(
            {"user_id": user_id}, {"$set": {VERIFY_FAILURES: []}}
        )
        return {"verified": True}
    left = min(VERIFY_ATTEMPTS - ctx.verification_attempts, VERIFY_FAILURES_A_DAY - tries_today)
    raise ToolError(Reason.NOT_VERIFIED, _wrong_answer_message(left))


def _wrong_answer_message(left: int) -> str:
    """What the agent says after a wrong answer, with `left` tries still to come (this call's
    or the day's, whichever runs out first)."""
    if left <= 0:
        return "That doesn't match a recent order, and that was the last try."
    return f"That doesn't match a recent order. {left} more {'try' if left == 1 else 'tries'}."


async def _take_a_try_today(user_id: int, now: datetime) -> bool:
    """Take one of the customer's VERIFY_FAILURES_A_DAY tries of the last day, on any call;
    False when none is left. One conditional update, so tries taken at once cannot overdraw:
    the field keeps the newest VERIFY_FAILURES_A_DAY times, so a try is left while it holds
    fewer, or one of them is older than a day. A right answer clears the field (and so gives
    back its own try); a wrong one leaves its try taken, counted on the customer and not only
    the call, so calling again buys no fresh guesses."""
    taken = await mongo.async_db().customers.update_one(
        {"user_id": user_id, "$or": [
            {f"{VERIFY_FAILURES}.{VERIFY_FAILURES_A_DAY - 1}": {"$exists": False}},
            {VERIFY_FAILURES: {"$lte": now - timedelta(days=1)}},
        ]},
        {"$push": {VERIFY_FAILURES: {
            "$each": [now], "$sort": 1, "$slice": -VERIFY_FAILURES_A_DAY,
        }}},
    )  # fmt: skip
    return taken.modified_count == 1


async def _tries_today(user_id: int, now: datetime) -> int:
    """The customer's tries of verify_caller in the last day, on any call (this one's
    included): those taken by wrong answers, and by answers still being checked."""
    customer = await mongo.async_db().customers.find_one(
        {"user_id": user_id}, {"_id": 0, VERIFY_FAILURES: 1}
    )
    tries = (customer or {}).get(VERIFY_FAILURES) or []
    return sum(1 for at in tries if isinstance(at, datetime) and at > now - timedelta(days=1))


def _spoken_paise(amount: str) -> int:
    """The paise of an amount as a caller says it ("337.50", "₹337", "Rs. 337.50", "337
    rupees", "INR 337/-"); ToolError(invalid_argument) when it cannot be read."""
    digits = _CURRENCY_WORDS.sub("", amount.casefold()).replace("/-", "")
    try:
        return to_paise(digits)
    except MoneyError:
        raise ToolError(
            Reason.INVALID_ARGUMENT, "I couldn't read that amount: pass it in rupees, like 268.50."
        ) from None


def _spoken_restaurant(restaurant: str) -> str:
    """A restaurant as compared (`_letters`); ToolError(invalid_argument) when it has no
    letters or digits to compare ("?", "..."), which would match any restaurant named without
    them."""
    letters = _letters(restaurant)
    if not letters:
        raise ToolError(Reason.INVALID_ARGUMENT, "Pass the restaurant's name as they said it.")
    return letters


def _same_order(doc: Document, restaurant: str | None, said_paise: int | None) -> bool:
    """Whether `doc` fits every fact the caller gave (`restaurant` as `_letters` has it).
    Each try tests one order: a restaurant and an amount are not two guesses, so both must
    be of the same order."""
    if restaurant is None and said_paise is None:
        return False
    if restaurant is not None and restaurant != _letters(str(doc.get("restaurant"))):
        return False
    # Within a rupee is the same amount: "two sixty-eight" for ₹268.50.
    return said_paise is None or abs(said_paise - int(doc.get("amount", 0))) < 100


def _letters(text: str) -> str:
    return "".join(char for char in text.casefold() if char.isalnum())


# --- Orders ----------------------------------------------------------------------------------


@tool(
    "check_order_status",
    "List the caller's most recent orders, newest first, with restaurant, status, amount, "
    "times and whether each can be refunded now (a phone caller not yet verified gets no "
    "restaurant or amount). Use it when the customer asks where an order is, or does not know "
    "the order id.",
)
async def check_order_status(ctx: ToolContext) -> Result:
    docs = (
        await mongo.async_db()
        .orders.find({"user_id": ctx.identified()}, _ORDER_SUMMARY)
        .sort("placed_at", -1)
        .limit(ORDER_LIST_LIMIT + 1)
        .to_list()
    )
    now = _now()
    return {
        "orders": [
            _order_summary(doc, now, bool(ctx.verified)) for doc in docs[:ORDER_LIST_LIMIT]
        ],
        "more_orders": len(docs) > ORDER_LIST_LIMIT,
    }


@tool(
    "get_order_details",
    "Get one of the caller's orders in full: items, amount, status, delivery time, hours "
    "since delivery and whether it is inside the 2-hour refund window. Always call it before "
    "a refund to confirm the order is eligible.",
    params=(order_id_param(),),
)
async def get_order_details(ctx: ToolContext, order_id: str) -> Result:
    doc = await find_order(ctx.identified(), order_id)
    now = _now()
    delivered_at = doc.get("delivered_at")
    refund = doc.get("refund")
    details: Result = {
        **_order_summary(doc, now, bool(ctx.verified)),
        "hours_since_delivery": (
            round((now - delivered_at).total_seconds() / 3600, 2) if delivered_at else None
        ),
        "inside_refund_window": within_window(delivered_at, now),
    }
    if not ctx.verified:  # what the order held, and what was paid back, wait for it too
        return details
    return {
        **details,
        "items": [
            {"name": item["name"], "qty": item["qty"], "price": rupees(item["price"])}
            for item in doc.get("items", [])
        ],
        "refund": _refund_summary(refund) if refund else None,
    }


async def find_order(
    user_id: int, spoken: str, projection: dict[str, int] | None = None
) -> Document:
    """The customer's order that `spoken` names (support/order_ids.py), or ToolError(not_found).

    Filtering by user_id is the scoping rule: another customer's order is "not found".
    """
    orders = mongo.async_db().orders
    doc = await orders.find_one({"user_id": user_id, "order_id": spoken}, projection)
    if doc is None:
        ids = [d["order_id"] for d in await orders.find(
            {"user_id": user_id}, {"_id": 0, "order_id": 1}).to_list()]  # fmt: skip
        found = order_ids.matching(spoken, ids)
        if found is not None:
            doc = await orders.find_one({"user_id": user_id, "order_id": found}, projection)
    if doc is None:
        raise ToolError(Reason.NOT_FOUND, NOT_FOUND_MESSAGE)
    return doc


@tool(
    "initiate_refund",
    "Refund one of the caller's delivered orders to their wallet. The policy is applied by "
    "the system: only delivered orders, within 2 hours of delivery, one refund per order; "
    "the percentage depends on the customer's tier. Check the profile and the order's "
    "details first, and confirm with the customer before calling. Tell them the amount and "
    "the refund id it returns; if it is refused, explain the reason it gives.",
    params=(
        order_id_param("The order id to refund, like ORD-1001."),
        StringParam("reason", "Why the customer wants a refund, in a short sentence.",
                    max_length=500),
    ),  # fmt: skip
    access=Access.VERIFIED,
)
async def initiate_refund(ctx: ToolContext, order_id: str, reason: str) -> Result:
    try:
        done = await refund_order(
            user_id=ctx.identified(), order_id=order_id, reason=reason, call_id=ctx.call_id
        )
    except RefundRefused as refused:
        raise ToolError(Reason(refused.reason), refused.message) from None
    return {
        "refund_id": done.refund_id,
        "order_id": done.order_id,
        "amount": rupees(done.amount),
        "percent": done.percent,
        "tier": done.tier,
        "wallet_balance": rupees(done.wallet_balance),
    }


# --- Complaints and people -------------------------------------------------------------------


@tool(
    "file_complaint",
    "Record a complaint about food, delivery or service so the team can follow up. Works "
    "for unidentified callers too (without an order id). Tell the customer the complaint id "
    "it returns.",
    params=(
        order_id_param("The order the complaint is about, like ORD-1001, if there is one.",
                       required=False),
        StringParam("category", "What kind of problem it is.",
                    enum=tuple(ComplaintCategory.values)),
        StringParam("description", "What went wrong, in the customer's words, briefly.",
                    max_length=1000),
    ),  # fmt: skip
    access=Access.ANYONE,
)
async def file_complaint(
    ctx: ToolContext, order_id: str | None, category: str, description: str
) -> Result:
    if order_id is not None:
        # Only an identified customer's own order can be named in a complaint.
        order_id = (await find_order(ctx.identified(), order_id, {"order_id": 1}))["order_id"]
    complaint_id = await insert_with_fresh_id(
        mongo.async_db().complaints,
        "complaint_id",
        "CMP",
        {
            "user_id": ctx.user_id,
            "order_id": order_id,
            "category": category,
            "description": description,
            "status": "open",
            "call_id": ctx.call_id,
            "created_at": _now(),
        },
    )
    return {"complaint_id": complaint_id, "status": "open"}


@tool(
    "escalate_to_human",
    "Hand the call to a human agent: when the customer asks for a person, is very upset, "
    "or the problem is beyond these tools (including a refund the policy refused that the "
    "customer disputes). Opens a ticket; pass the order id when the call is about one. Tell "
    "the customer the ticket id and that a colleague is being fetched.",
    params=(
        StringParam("reason", "Why a human is needed, in a short sentence.", max_length=500),
        StringParam(
            "priority",
            "How urgent it is; normal unless the customer's safety or money is at stake.",
            required=False,
            enum=tuple(Priority.values),
            default=Priority.NORMAL.value,
        ),
        # An id that is no id at all ("", a phrase) is dropped like one that names no order.
        order_id_param("The order the call is about, like ORD-1001, if there is one.",
                       required=False, unusable_is_absent=True),
    ),  # fmt: skip
    access=Access.ANYONE,
)
async def escalate_to_human(
    ctx: ToolContext, reason: str, priority: str, order_id: str | None
) -> Result:
    if order_id is not None and ctx.user_id is not None:
        try:
            order_id = (await find_order(ctx.user_id, order_id, {"order_id": 1}))["order_id"]
        except ToolError:
            order_id = None  # the ticket matters more than a misheard id
    else:
        order_id = None
    ticket_id = await open_escalation(
        user_id=ctx.user_id, call_id=ctx.call_id, reason=reason, priority=priority,
        order_id=order_id,
    )  # fmt: skip
    return {"ticket_id": ticket_id}


# --- Small helpers ---------------------------------------------------------------------------


def _order_summary(doc: Document, now: datetime, verified: bool) -> Result:
    """One order as the model may tell it. Before a phone caller is verified, its restaurant
    and amount are left out: they are what verify_caller asks for, so a caller who only has
    the customer's number must not be able to learn them here first."""
    why_not = refusal(OrderFacts.from_document(doc), now)
    summary: Result = {
        "order_id": doc["order_id"],
        **({"restaurant": doc["restaurant"]} if verified else {}),
        "status": doc["status"],
        **({"amount": rupees(doc["amount"])} if verified else {}),
        **_times("placed_at", doc["placed_at"]),
        **_times("delivered_at", doc.get("delivered_at")),
        "refund_eligible": why_not is None,
    }
    if why_not is not None:
        summary["refund_refusal"] = why_not.value
    if not verified:
        summary["after_verification"] = UNVERIFIED_ORDER_NOTE
    return summary


def _refund_summary(refund: Document) -> Result:
    return {
        "amount": rupees(refund["amount"]),
        "percent": refund["percent"],
        "refund_id": refund["refund_id"],
        **_times("at", refund["at"]),
    }


def _times(name: str, moment: datetime | None) -> dict[str, Any]:
    """`name` in UTC and `name_local` in the customer's time zone (SUPPORT_TIME_ZONE)."""
    if moment is None:
        return {name: None, f"{name}_local": None}
    local = moment.astimezone(ZoneInfo(settings.SUPPORT_TIME_ZONE))
    return {
        name: moment.astimezone(UTC).isoformat(timespec="minutes"),
        f"{name}_local": local.isoformat(timespec="minutes"),
    }


def _now() -> datetime:
    return datetime.now(UTC)

