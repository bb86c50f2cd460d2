"""The six tools' I/O: read and write the support collections for one customer.

Each action receives arguments already validated by `definitions`, always filters by the
session's `user_id` (another customer's order simply does not exist here), asks the pure
policy (`support.policy`) for decisions, and returns a small dict of what the model should
say, with money as rupee strings ("337.50"). A refusal is raised as `ToolError`; database
errors propagate as PyMongoError for `run_tool` to answer `unavailable`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from support import mongo
from support.ids import new_id
from support.money import rupees
from support.mongo import Document
from support.policy import (
    DELIVERED,
    REFUND_WINDOW,
    REFUNDED,
    Eligible,
    NoTierApplies,
    OrderFacts,
    Refusal,
    Tier,
    decide_refund,
    lifetime_spend,
    refusal,
    tier_for,
    within_window,
)
from support.tools.definitions import Reason, ToolError

log = logging.getLogger(__name__)

Result = dict[str, Any]

# check_order_status lists this many orders: enough for "my order from yesterday", small
# enough for the model to read out.
ORDER_LIST_LIMIT = 10
# Draws of a fresh random id when one clashes with an existing one (see support.ids).
ID_ATTEMPTS = 3

REFUSAL_MESSAGES = {
    Refusal.NOT_DELIVERED: "That order hasn't been delivered yet, so it can't be refunded.",
    Refusal.OUTSIDE_WINDOW: (
        "Refunds are only possible within 2 hours of delivery, and that order was "
        "delivered longer ago than that."
    ),
    Refusal.ALREADY_REFUNDED: "That order has already been refunded.",
}
NOT_FOUND_MESSAGE = "I couldn't find an order with that id on your account."
NOT_IDENTIFIED_MESSAGE = (
    "I couldn't match this call to a customer account, so I can't look at orders or "
    "refunds. I can still file a complaint or get a colleague to help."
)

_ORDER_AMOUNTS = {"_id": 0, "amount": 1, "status": 1}  # all lifetime spend reads
# What lifetime spend and the refund policy read from each of a customer's orders.
_ORDER_POLICY_FIELDS = {
    "_id": 0,
    "order_id": 1,
    "user_id": 1,
    "amount": 1,
    "status": 1,
    "delivered_at": 1,
    "refund": 1,
}
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
_TIER_FIELDS = {"_id": 0, "name": 1, "min_lifetime_spend": 1, "percent": 1}


@dataclass(frozen=True)
class ToolContext:
    """Who the tools act for: `user_id` None is a phone caller not matched to a customer."""

    user_id: int | None
    call_id: str = ""
    channel: str = "web"


# --- The tools --------------------------------------------------------------------------------


async def get_user_profile(ctx: ToolContext) -> Result:
    """Returns name, phone, email, wallet_balance, total_orders (all statuses),
    lifetime_spend, tier and refund_percent (None when no tier applies)."""
    user_id = _identified(ctx)
    db = mongo.async_db()
    customer, orders, tiers = await asyncio.gather(
        db.customers.find_one(
            {"user_id": user_id},
            {"_id": 0, "name": 1, "phone": 1, "email": 1, "wallet_balance": 1},
        ),
        db.orders.find({"user_id": user_id}, _ORDER_AMOUNTS).to_list(),
        _tiers(db),
    )
    if customer is None:
        raise ToolError(Reason.NOT_IDENTIFIED, NOT_IDENTIFIED_MESSAGE)
    spend = lifetime_spend(orders)
    tier = tier_for(spend, tiers)
    return {
        "name": customer["name"],
        "phone": customer["phone"],
        "email": customer.get("email", ""),
        "wallet_balance": rupees(customer.get("wallet_balance", 0)),
        "total_orders": len(orders),
        "lifetime_spend": rupees(spend),
        "tier": tier.name if tier else None,
        "refund_percent": tier.percent if tier else None,
    }


async def check_order_status(ctx: ToolContext) -> Result:
    """Returns `orders` (newest first, at most ORDER_LIST_LIMIT), each with order_id,
    restaurant, status, amount, placed_at, delivered_at, refund_eligible and, when not
    eligible, refund_refusal; and `more_orders`, true when older orders were left out."""
    user_id = _identified(ctx)
    docs = (
        await mongo.async_db()
        .orders.find({"user_id": user_id}, _ORDER_SUMMARY)
        .sort("placed_at", -1)
        .limit(ORDER_LIST_LIMIT + 1)
        .to_list()
    )
    now = _now()
    return {
        "orders": [_order_summary(doc, now) for doc in docs[:ORDER_LIST_LIMIT]],
        "more_orders": len(docs) > ORDER_LIST_LIMIT,
    }


async def get_order_details(ctx: ToolContext, order_id: str) -> Result:
    """Returns the order's summary fields plus items ([{name, qty, price}]),
    hours_since_delivery (None until delivered), inside_refund_window and refund
    ({amount, percent, refund_id, at} or None)."""
    user_id = _identified(ctx)
    doc = await _find_order(mongo.async_db(), user_id, order_id)
    now = _now()
    delivered_at = doc.get("delivered_at")
    refund = doc.get("refund")
    return {
        **_order_summary(doc, now),
        "items": [
            {"name": item["name"], "qty": item["qty"], "price": rupees(item["price"])}
            for item in doc.get("items", [])
        ],
        "hours_since_delivery": (
            round((now - delivered_at).total_seconds() / 3600, 2) if delivered_at else None
        ),
        "inside_refund_window": within_window(delivered_at, now),
        "refund": _refund_summary(refund) if refund else None,
    }


async def initiate_refund(ctx: ToolContext, order_id: str, reason: str) -> Result:
    """Applies the refund policy and, if eligible, refunds atomically. Returns refund_id,
    order_id, amount, percent, tier and the new wallet_balance."""
    user_id = _identified(ctx)
    db = mongo.async_db()
    # Tiers are read on every call so that a staff edit applies to the very next refund.
    # The order comes with the rest of the customer's orders (needed for the lifetime
    # spend anyway): one query fewer on the path that also pays for a transaction.
    orders, tiers = await asyncio.gather(_all_orders(db, user_id), _tiers(db))
    order = next((doc for doc in orders if doc["order_id"] == order_id), None)
    if order is None:
        raise ToolError(Reason.NOT_FOUND, NOT_FOUND_MESSAGE)
    now = _now()
    try:
        decision = decide_refund(
            OrderFacts.from_document(order), lifetime_spend(orders), tiers, now
        )
    except NoTierApplies as error:
        log.error("initiate_refund %s: %s; check the refund tiers", order_id, error)
        raise ToolError(
            Reason.UNAVAILABLE,
            "I can't work out the refund right now. Let me get a colleague to help.",
        ) from error
    if not isinstance(decision, Eligible):
        raise ToolError(Reason(decision.reason), REFUSAL_MESSAGES[decision.reason])
    refund_id, balance = await _record_refund(db, ctx, order, decision, reason=reason, now=now)
    return {
        "refund_id": refund_id,
        "order_id": order_id,
        "amount": rupees(decision.amount),
        "percent": decision.percent,
        "tier": decision.tier,
        "wallet_balance": rupees(balance),
    }


async def file_complaint(
    ctx: ToolContext, order_id: str | None, category: str, description: str
) -> Result:
    """Records an open complaint. Returns complaint_id and status."""
    db = mongo.async_db()
    if order_id is not None:
        # Only an identified customer's own order can be named in a complaint.
        await _find_order(db, _identified(ctx), order_id, {"_id": 1})
    complaint_id = await _insert_with_fresh_id(
        db.complaints,
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


async def escalate_to_human(ctx: ToolContext, reason: str, priority: str) -> Result:
    """Opens an escalation ticket for the staff queue. Returns ticket_id."""
    ticket_id = await _insert_with_fresh_id(
        mongo.async_db().escalations,
        "ticket_id",
        "TKT",
        {
            "user_id": ctx.user_id,
            "order_id": None,
            "reason": reason,
            "priority": priority,
            "status": "open",
            "assignee": None,
            "notes": [],
            "call_id": ctx.call_id,
            "created_at": _now(),
            "resolved_at": None,
        },
    )
    return {"ticket_id": ticket_id}


Action = Callable[..., Awaitable[Result]]

ACTIONS: dict[str, Action] = {
    "get_user_profile": get_user_profile,
    "check_order_status": check_order_status,
    "get_order_details": get_order_details,
    "initiate_refund": initiate_refund,
    "file_complaint": file_complaint,
    "escalate_to_human": escalate_to_human,
}


# --- The refund's one write -------------------------------------------------------------------


async def _record_refund(
    db: AsyncDatabase[Document],
    ctx: ToolContext,
    order: Document,
    decision: Eligible,
    *,
    reason: str,
    now: datetime,
) -> tuple[str, int]:
    """Mark the order refunded, record the refund and credit the wallet, all or nothing.

    The gate is the conditional update of the order: of many concurrent requests exactly
    one matches `refund: null`; the others see a write conflict (with_transaction retries
    them) and then match nothing. Returns (refund_id, new wallet balance in paise).
    """
    for _ in range(ID_ATTEMPTS):
        record = _refund_record(ctx, order, decision, new_id("RFD"), reason=reason, now=now)
        apply = functools.partial(_apply_refund, db, order, record, now)
        try:
            async with db.client.start_session() as session:
                balance = await session.with_transaction(apply)
        except DuplicateKeyError as error:
            if "refund_id" in _duplicate_key_fields(error):
                continue  # our random refund id clashed: draw another and try again
            # refunds.order_id is unique: a refund for this order exists already.
            raise ToolError(
                Reason.ALREADY_REFUNDED, REFUSAL_MESSAGES[Refusal.ALREADY_REFUNDED]
            ) from error
        if balance is None:
            raise await _lost_gate(db, order["user_id"], order["order_id"], now)
        return record["refund_id"], balance
    raise DuplicateKeyError(f"no free refund id after {ID_ATTEMPTS} attempts")


async def _apply_refund(
    db: AsyncDatabase[Document],
    order: Document,
    record: Document,
    now: datetime,
    session: AsyncClientSession,
) -> int | None:
    """The transaction's body: the new wallet balance, or None if the gate matched nothing."""
    embedded = {key: record[key] for key in ("amount", "percent", "refund_id")}
    gate = await db.orders.update_one(
        _refundable(order, now),
        {"$set": {"status": REFUNDED, "refund": {**embedded, "at": now}}},
        session=session,
    )
    if gate.modified_count == 0:
        return None
    await db.refunds.insert_one(dict(record), session=session)
    # update_one then find_one rather than find_one_and_update, which SecantusDB runs as a
    # collection scan (~350 ms at 10,000 customers against ~10 ms).
    customers = db.customers
    user = {"user_id": order["user_id"]}
    await customers.update_one(
        user, {"$inc": {"wallet_balance": record["amount"]}}, session=session
    )
    customer = await customers.find_one(user, {"_id": 0, "wallet_balance": 1}, session=session)
    if customer is None:
        # Raising aborts the transaction: no refund without a wallet to credit.
        raise ToolError(Reason.NOT_IDENTIFIED, NOT_IDENTIFIED_MESSAGE)
    return int(customer["wallet_balance"])


def _refundable(order: Document, now: datetime) -> Document:
    """The gate: this order, still exactly as the decision saw it and still refundable."""
    return {
        "user_id": order["user_id"],
        "order_id": order["order_id"],
        "status": DELIVERED,
        "refund": None,
        "amount": order["amount"],
        "delivered_at": {"$gte": now - REFUND_WINDOW},
    }


def _refund_record(
    ctx: ToolContext, order: Document, decision: Eligible, refund_id: str, *, reason: str,
    now: datetime,
) -> Document:  # fmt: skip
    """The `refunds` document (contract section 5)."""
    return {
        "refund_id": refund_id,
        "order_id": order["order_id"],
        "user_id": order["user_id"],
        "amount": decision.amount,
        "percent": decision.percent,
        "tier": decision.tier,
        "reason": reason,
        "call_id": ctx.call_id,
        "created_at": now,
    }


async def _lost_gate(
    db: AsyncDatabase[Document], user_id: int, order_id: str, now: datetime
) -> ToolError:
    """Why the gate matched nothing: usually another request refunded the order first."""
    current = await db.orders.find_one({"user_id": user_id, "order_id": order_id})
    why = refusal(OrderFacts.from_document(current), now) if current else None
    why = why or Refusal.ALREADY_REFUNDED
    return ToolError(Reason(why), REFUSAL_MESSAGES[why])


def _duplicate_key_fields(error: DuplicateKeyError) -> set[str]:
    details = error.details or {}
    pattern = details.get("keyPattern") or details.get("keyValue") or {}
    return set(pattern)


# --- Small helpers ----------------------------------------------------------------------------


def _identified(ctx: ToolContext) -> int:
    if ctx.user_id is None:
        raise ToolError(Reason.NOT_IDENTIFIED, NOT_IDENTIFIED_MESSAGE)
    return ctx.user_id


async def _find_order(
    db: AsyncDatabase[Document],
    user_id: int,
    order_id: str,
    projection: dict[str, int] | None = None,
) -> Document:
    # Filtering by user_id is the scoping rule: another customer's order is "not found".
    doc = await db.orders.find_one({"user_id": user_id, "order_id": order_id}, projection)
    if doc is None:
        raise ToolError(Reason.NOT_FOUND, NOT_FOUND_MESSAGE)
    return doc


async def _all_orders(db: AsyncDatabase[Document], user_id: int) -> list[Document]:
    """Every order of the customer, with the fields lifetime spend and the policy read."""
    return await db.orders.find({"user_id": user_id}, _ORDER_POLICY_FIELDS).to_list()


async def _tiers(db: AsyncDatabase[Document]) -> list[Tier]:
    docs = await db.refund_tiers.find({}, _TIER_FIELDS).to_list()
    return [
        Tier(str(doc["name"]), int(doc["min_lifetime_spend"]), int(doc["percent"]))
        for doc in docs
    ]


async def _insert_with_fresh_id(
    collection: AsyncCollection[Document], field: str, prefix: str, doc: Document
) -> str:
    """Insert `doc` under a new random id in `field` (unique index), drawing again on a clash."""
    for _ in range(ID_ATTEMPTS - 1):
        try:
            return await _insert_with_id(collection, field, prefix, doc)
        except DuplicateKeyError:
            continue
    return await _insert_with_id(collection, field, prefix, doc)  # a last clash propagates


async def _insert_with_id(
    collection: AsyncCollection[Document], field: str, prefix: str, doc: Document
) -> str:
    public_id = new_id(prefix)
    await collection.insert_one({field: public_id, **doc})
    return public_id


def _order_summary(doc: Document, now: datetime) -> Result:
    why_not = refusal(OrderFacts.from_document(doc), now)
    summary: Result = {
        "order_id": doc["order_id"],
        "restaurant": doc["restaurant"],
        "status": doc["status"],
        "amount": rupees(doc["amount"]),
        "placed_at": _iso(doc["placed_at"]),
        "delivered_at": _iso(doc.get("delivered_at")),
        "refund_eligible": why_not is None,
    }
    if why_not is not None:
        summary["refund_refusal"] = why_not.value
    return summary


def _refund_summary(refund: Document) -> Result:
    return {
        "amount": rupees(refund["amount"]),
        "percent": refund["percent"],
        "refund_id": refund["refund_id"],
        "at": _iso(refund["at"]),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="minutes") if moment else None


def _now() -> datetime:
    return datetime.now(UTC)
