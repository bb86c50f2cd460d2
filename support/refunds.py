"""A refund, from a customer's request to the money in their wallet (contract section 6).

    done = await refund_order(user_id=101, order_id="ORD-1196", reason="cold", call_id="...")

The decision is the pure policy's (support/policy.py); this module reads what the policy
needs and writes the outcome in one transaction: the order marked refunded, a `refunds`
record, the wallet credited. Exactly one refund per order however many requests race: the
transaction's first write is a conditional update of the order (the gate) that only a
still-refundable order matches, and `refunds.order_id` is unique besides.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from support import mongo, order_ids
from support.ids import ATTEMPTS, new_id
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
    tier_from_document,
)

log = logging.getLogger(__name__)

# What lifetime spend and the policy read from each of a customer's orders (and its `_id`,
# which the refund's gate updates by).
ORDER_POLICY_FIELDS = {
    "_id": 1,
    "order_id": 1,
    "user_id": 1,
    "amount": 1,
    "status": 1,
    "delivered_at": 1,
    "refund": 1,
}
_TIER_FIELDS = {"_id": 0, "name": 1, "min_lifetime_spend": 1, "percent": 1}

REFUSAL_MESSAGES = {
    Refusal.NOT_DELIVERED: "That order hasn't been delivered yet, so it can't be refunded.",
    Refusal.OUTSIDE_WINDOW: (
        "Refunds are only possible within 2 hours of delivery, and that order was "
        "delivered longer ago than that."
    ),
    Refusal.ALREADY_REFUNDED: "That order has already been refunded.",
}
NOT_FOUND_MESSAGE = "I couldn't find an order with that id on your account."
NO_TIER_MESSAGE = "I can't work out the refund right now. Let me get a colleague to help."
NO_WALLET_MESSAGE = "I couldn't find the account to credit, so nothing was refunded."


class RefundRefused(Exception):
    """No refund was made; `reason` is the contract's reason, `message` a sentence to say."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class RefundDone:
    refund_id: str
    order_id: str
    amount: int  # paise credited
    percent: int
    tier: str
    wallet_balance: int  # paise, after the credit


async def refund_order(
    *, user_id: int, order_id: str, reason: str, call_id: str, now: datetime | None = None
) -> RefundDone:
    """Refund the customer's order named `order_id` (as spoken: see support.order_ids).

    Raises RefundRefused (not_found, not_delivered, outside_window, already_refunded,
    not_identified, unavailable), or PyMongoError when the database cannot be reached.
    """
    db = mongo.async_db()
    now = now or datetime.now(UTC)
    # Tiers are read on every call so that a staff edit applies to the very next refund. The
    # wallet is read now too: the credit is then one conditional write (see _credit).
    orders, tiers, wallet = await asyncio.gather(
        customer_orders(db, user_id),
        refund_tiers(db),
        db.customers.find_one({"user_id": user_id}, {"_id": 1, "wallet_balance": 1}),
    )
    by_id = {doc["order_id"]: doc for doc in orders}
    found = order_ids.matching(order_id, list(by_id))
    if found is None:
        raise RefundRefused("not_found", NOT_FOUND_MESSAGE)
    order = by_id[found]
    try:
        decision = decide_refund(
            OrderFacts.from_document(order), lifetime_spend(orders), tiers, now
        )
    except NoTierApplies as error:
        log.error("refund of %s: %s; check the refund tiers", found, error)
        raise RefundRefused("unavailable", NO_TIER_MESSAGE) from error
    if not isinstance(decision, Eligible):
        raise RefundRefused(decision.reason.value, REFUSAL_MESSAGES[decision.reason])
    if wallet is None:
        raise RefundRefused("not_identified", NO_WALLET_MESSAGE)
    refund_id, balance = await _record(db, order, decision, reason, call_id, now, wallet)
    return RefundDone(refund_id, found, decision.amount, decision.percent, decision.tier, balance)


async def customer_orders(db: AsyncDatabase[Document], user_id: int) -> list[Document]:
    """Every order of the customer, with the fields lifetime spend and the policy read."""
    return await db.orders.find({"user_id": user_id}, ORDER_POLICY_FIELDS).to_list()


async def refund_tiers(db: AsyncDatabase[Document]) -> list[Tier]:
    docs = await db.refund_tiers.find({}, _TIER_FIELDS).to_list()
    return [tier_from_document(doc) for doc in docs]


# --- The one write ------------------------------------------------------------------------------


async def _record(
    db: AsyncDatabase[Document],
    order: Document,
    decision: Eligible,
    reason: str,
    call_id: str,
    now: datetime,
    wallet: Document,
) -> tuple[str, int]:
    """Mark the order refunded, record the refund and credit the wallet, all or nothing.

    Of many concurrent requests exactly one matches the gate; the others see a write
    conflict (with_transaction retries them) and then match nothing. Returns (refund_id,
    new wallet balance in paise).
    """
    for _ in range(ATTEMPTS):
        record = {
            "refund_id": new_id("RFD"),
            "order_id": order["order_id"],
            "user_id": order["user_id"],
            "amount": decision.amount,
            "percent": decision.percent,
            "tier": decision.tier,
            "reason": reason,
            "call_id": call_id,
            "created_at": now,
        }
        apply = functools.partial(_apply, db, order, record, now, wallet)
        try:
            async with db.client.start_session() as session:
                balance = await session.with_transaction(apply)
        except DuplicateKeyError as error:
            if "refund_id" in _duplicate_key_fields(error):
                continue  # our random refund id clashed: draw another and try again
            # refunds.order_id is unique: a refund for this order exists already.
            already = Refusal.ALREADY_REFUNDED
            raise RefundRefused(already.value, REFUSAL_MESSAGES[already]) from error
        if balance is None:
            raise await _lost_gate(db, order, now)
        return record["refund_id"], balance
    raise DuplicateKeyError(f"no free refund id after {ATTEMPTS} attempts")


async def _apply(
    db: AsyncDatabase[Document],
    order: Document,
    record: Document,
    now: datetime,
    wallet: Document,
    session: AsyncClientSession,
) -> int | None:
    """The transaction's body: the new wallet balance, or None if the gate matched nothing."""
    embedded = {key: record[key] for key in ("amount", "percent", "refund_id")}
    gate = await db.orders.update_one(
        _still_refundable(order, now),
        {"$set": {"status": REFUNDED, "refund": {**embedded, "at": now}}},
        session=session,
    )
    if gate.modified_count == 0:
        return None
    await db.refunds.insert_one(dict(record), session=session)
    return await _credit(db, wallet, record["amount"], session)


async def _credit(
    db: AsyncDatabase[Document], wallet: Document, amount: int, session: AsyncClientSession
) -> int:
    """Credit the wallet inside the refund's transaction; answer the new balance.

    `wallet` is the customer's `_id` and balance as read before the transaction, the usual
    case: crediting only if the balance is still that makes the new one known without another
    read. If it moved meanwhile (another credit), the credit is made unconditionally and the
    balance read back. (Not find_one_and_update, which SecantusDB runs as a collection scan:
    ~350 ms at 10,000 customers against ~10 ms.)
    """
    customers = db.customers
    inc = {"$inc": {"wallet_balance": amount}}
    before = wallet.get("wallet_balance")
    done = await customers.update_one(
        {"_id": wallet["_id"], "wallet_balance": before}, inc, session=session
    )
    if done.modified_count:
        return (before or 0) + amount
    await customers.update_one({"_id": wallet["_id"]}, inc, session=session)
    found = await customers.find_one({"_id": wallet["_id"]}, {"_id": 0, "wallet_balance": 1},
                                     session=session)  # fmt: skip
    if found is None:
        # Raising aborts the transaction: no refund without a wallet to credit.
        raise RefundRefused("not_identified", NO_WALLET_MESSAGE)
    return int(found["wallet_balance"])


def _still_refundable(order: Document, now: datetime) -> Document:
    """The gate: this order, still exactly as the decision saw it and still refundable."""
    return {
        "_id": order["_id"],
        "status": DELIVERED,
        "refund": None,
        "amount": order["amount"],
        "delivered_at": {"$gte": now - REFUND_WINDOW},
    }


async def _lost_gate(db: AsyncDatabase[Document], order: Document, now: datetime) -> RefundRefused:
    """Why the gate matched nothing: usually another request refunded the order first."""
    current = await db.orders.find_one({"user_id": order["user_id"], "order_id": order["order_id"]})
    why = (refusal(OrderFacts.from_document(current), now) if current else None) or (
        Refusal.ALREADY_REFUNDED
    )
    return RefundRefused(why.value, REFUSAL_MESSAGES[why])


def _duplicate_key_fields(error: DuplicateKeyError) -> set[str]:
    details = error.details or {}
    pattern = details.get("keyPattern") or details.get("keyValue") or {}
    return set(pattern)
