"""A refund, from a customer's request to the money in their wallet (contract section 6).

    done = await refund_order(user_id=101, order_id="ORD-1196", reason="cold", call_id="...")

The decision is the pure policy's (support/policy.py); this module reads what the policy
needs and writes the outcome in one transaction: the order marked refunded, a `refunds`
record, the wallet credited. Exactly one refund per order however many requests race: the
transaction's first write is a conditional update of the order (the gate) that only a
still-refundable order matches, and `refunds.order_id` is unique besides.

A transaction can commit and its acknowledgement still be lost (a timeout after the commit).
Then the refund is looked for by the id this attempt gave it: found, it is answered as made;
not established either way, the answer says so, never "try again", and a high-priority ticket
asks staff to check. The ticket is opened before that answer, so that the promise made to the
customer is in the queue even if this process stops; a look a little later (`_follow_up`)
then writes on it whether the refund turned out made. Only when the database does not take
the ticket at once is it left to that follow-up, which keeps trying while this process runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pymongo
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from support import mongo, order_ids
from support.escalations import open_escalation
from support.events import announce_escalation, announce_ticket_changed
from support.ids import ATTEMPTS, new_id
from support.money import format_inr
from support.mongo import Document
from support.policy import (
    CANCELLED,
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
# A cancelled order is refused as not delivered too (the contract's reason), in its own words.
CANCELLED_MESSAGE = "That order was cancelled, so there's nothing to refund."
# So is one marked delivered whose delivery time is missing or still to come (support.policy):
# the customer may well have the food, so the agent is not to say it never came.
NO_DELIVERY_TIME_MESSAGE = (
    "Our records don't show a delivery time for that order yet, so I can't refund it now. "
    "If it has arrived, a colleague can check it for you."
)
NOT_FOUND_MESSAGE = "I couldn't find an order with that id on your account."
NO_TIER_MESSAGE = "I can't work out the refund right now. Let me get a colleague to help."
NO_WALLET_MESSAGE = "I couldn't find the account to credit, so nothing was refunded."
ORDER_CHANGED_MESSAGE = (
    "That order was changed just as I was refunding it, so nothing was refunded yet. I can "
    "try again, or get a colleague to help."
)
UNKNOWN_OUTCOME_MESSAGE = (
    "I couldn't confirm whether that refund went through: it may or may not have, so I won't "
    "request it again. A colleague will check it and make sure it's put right."
)

# How long the check for a refund whose acknowledgement was lost, and the ticket it may open,
# may take together. Their own time, as the tool's may be what ran out; short, so the model
# still hears before the bridge's deadline (realtime.tool_dispatch.ANSWER_DEADLINE_S, 2 s
# beyond the tool's own 10 s).
CHECK_TIMEOUT_S = 1.5

# The refund of unknown outcome is looked at again FOLLOW_UP_EVERY_S later (a commit still on
# its way lands meanwhile), and again every FOLLOW_UP_EVERY_S while the database does not
# answer, for as long as an outage may reasonably last; then given up with an error in the log.
REFUND_UNCONFIRMED = "refund_unconfirmed"  # the ticket's origin
FOLLOW_UP_EVERY_S = 5.0
FOLLOW_UP_FOR_S = 600.0
_follow_ups: set[asyncio.Task[None]] = set()


class RefundRefused(Exception):
    """No refund was made; `reason` is the contract's reason, `message` a sentence to say.

    `details`, for a refund of unknown outcome: the order's id and the `ticket_id` asking
    staff to check it (None while the database has not taken it: `_follow_up` opens it), so
    that the call's record says a colleague was left to act (postcall.outcome).
    """

    def __init__(
        self, reason: str, message: str, details: dict[str, str | None] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = details or {}


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
    not_identified, unavailable), or PyMongoError when the database cannot be reached and
    nothing was written. `unavailable` with UNKNOWN_OUTCOME_MESSAGE: the refund may have been
    made; asking again would be answered already_refunded if it was. An order changed under
    the refund (a colleague's edit) is decided again as it is now; `unavailable` with
    ORDER_CHANGED_MESSAGE if it changed under that try too (nothing was refunded).
    """
    db = mongo.async_db()
    now = now or datetime.now(UTC)
    for _ in range(2):
        try:
            return await _decide_and_record(db, user_id, order_id, reason, call_id, now)
        except _OrderChanged:
            # Changed between the decision and the write (a colleague corrected its amount,
            # say) and still refundable: decided again on the order as it is now, once.
            continue
    raise RefundRefused("unavailable", ORDER_CHANGED_MESSAGE)


class _OrderChanged(Exception):
    """The refund's gate matched nothing, yet the order is still refundable: it changed
    after the decision. Nothing was written."""


async def _decide_and_record(
    db: AsyncDatabase[Document],
    user_id: int,
    order_id: str,
    reason: str,
    call_id: str,
    now: datetime,
) -> RefundDone:
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
        raise RefundRefused(
            decision.reason.value, refusal_message(decision.reason, order["status"])
        )
    if wallet is None:
        raise RefundRefused("not_identified", NO_WALLET_MESSAGE)
    refund_id, balance = await _record(db, order, decision, reason, call_id, now, wallet)
    return RefundDone(refund_id, found, decision.amount, decision.percent, decision.tier, balance)


def refusal_message(why: Refusal, status: str) -> str:
    """The sentence the agent says for a refusal of an order whose status is `status`."""
    if why is Refusal.NOT_DELIVERED and status == CANCELLED:
        return CANCELLED_MESSAGE
    if why is Refusal.NOT_DELIVERED and status == DELIVERED:
        return NO_DELIVERY_TIME_MESSAGE
    return REFUSAL_MESSAGES[why]


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
        committing = _Committing()
        apply = functools.partial(_apply, db, order, record, now, wallet, committing)
        try:
            async with db.client.start_session() as session:
                balance = await session.with_transaction(apply)
        except DuplicateKeyError as error:
            if "refund_id" in _duplicate_key_fields(error):
                continue  # our random refund id clashed: draw another and try again
            # refunds.order_id is unique: a refund for this order exists already.
            already = Refusal.ALREADY_REFUNDED
            raise RefundRefused(already.value, REFUSAL_MESSAGES[already]) from error
        except PyMongoError as error:
            if not committing.reached:
                raise  # failed before the commit: nothing was written
            return await _made_anyway(db, record, wallet, error)
        if balance is None:
            raise await _lost_gate(db, order, now)
        return record["refund_id"], balance
    raise DuplicateKeyError(f"no free refund id after {ATTEMPTS} attempts")


@dataclass
class _Committing:
    """Whether the transaction's body last ran to its end: a commit may have followed."""

    reached: bool = False


async def _apply(
    db: AsyncDatabase[Document],
    order: Document,
    record: Document,
    now: datetime,
    wallet: Document,
    committing: _Committing,
    session: AsyncClientSession,
) -> int | None:
    """The transaction's body: the new wallet balance, or None if the gate matched nothing."""
    committing.reached = False  # with_transaction may run the body again
    embedded = {key: record[key] for key in ("amount", "percent", "refund_id")}
    gate = await db.orders.update_one(
        _still_refundable(order, now),
        {"$set": {"status": REFUNDED, "refund": {**embedded, "at": now}}},
        session=session,
    )
    if gate.modified_count == 0:
        return None
    await db.refunds.insert_one(dict(record), session=session)
    balance = await _credit(db, wallet, record["amount"], session)
    committing.reached = True
    return balance


async def _made_anyway(
    db: AsyncDatabase[Document], record: Document, wallet: Document, error: PyMongoError
) -> tuple[str, int]:
    """After the commit's answer was lost: (refund_id, wallet balance) if `record`'s refund
    was made; if that cannot be established (a commit still on its way may land after the
    check finds nothing), opens the ticket that asks staff to check and raises
    RefundRefused(unavailable, UNKNOWN_OUTCOME_MESSAGE)."""
    # A fresh context: outside the tool's pymongo.timeout, whose deadline may have passed.
    look = asyncio.create_task(_look_or_open_ticket(db, record, wallet),
                               context=contextvars.Context())  # fmt: skip
    balance, ticket_id = await look
    if balance is not None:
        log.warning("refund %s of %s was made; its acknowledgement was lost: %r",
                    record["refund_id"], record["order_id"], error)  # fmt: skip
        return record["refund_id"], balance
    log.error("refund %s of %s: outcome unknown (%r); %s asks staff to check",
              record["refund_id"], record["order_id"], error,
              f"ticket {ticket_id}" if ticket_id else "a ticket still to be opened")  # fmt: skip
    follow_up = asyncio.create_task(
        _follow_up(db, record, wallet, ticket_id), name=f"follow up {record['refund_id']}",
        context=contextvars.Context(),
    )  # fmt: skip
    _follow_ups.add(follow_up)
    follow_up.add_done_callback(_follow_ups.discard)
    details = {"order_id": record["order_id"], "ticket_id": ticket_id}
    raise RefundRefused("unavailable", UNKNOWN_OUTCOME_MESSAGE, details) from error


async def _look_or_open_ticket(
    db: AsyncDatabase[Document], record: Document, wallet: Document
) -> tuple[int | None, str | None]:
    """Within CHECK_TIMEOUT_S: (wallet balance, None) if `record`'s refund is on file; else
    (None, the ticket opened for staff to check it, or None if the database took neither)."""
    with pymongo.timeout(CHECK_TIMEOUT_S):
        try:
            balance = await _find_refund(db, record, wallet)
        except PyMongoError as error:
            log.warning("refund %s of %s: could not look for it: %r",
                        record["refund_id"], record["order_id"], error)  # fmt: skip
            balance = None
        if balance is not None:
            return balance, None
        try:
            # Announced from the follow-up: the answer to the customer does not wait on Redis.
            return None, await _open_ticket(record, made=None, announce=False)
        except PyMongoError as error:
            log.warning("refund %s of %s: could not open its ticket yet: %r",
                        record["refund_id"], record["order_id"], error)  # fmt: skip
            return None, None


async def _follow_up(
    db: AsyncDatabase[Document], record: Document, wallet: Document, ticket_id: str | None
) -> None:
    """Write on the ticket that UNKNOWN_OUTCOME_MESSAGE promised the customer what a fresh
    look at the refund found, once the database answers (opening the ticket then, if the
    database did not take it during the call)."""
    if ticket_id is not None:
        # The queue pages hear of it now; should the database not answer, at their next refresh.
        with contextlib.suppress(PyMongoError):
            ticket = await db.escalations.find_one({"ticket_id": ticket_id}, {"_id": 0})
            if ticket is not None:
                await announce_escalation(ticket)
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + FOLLOW_UP_FOR_S
    while True:
        # First a pause: a commit still on its way when the answer was lost lands meanwhile.
        await asyncio.sleep(FOLLOW_UP_EVERY_S)
        try:
            made = await _find_refund(db, record, wallet) is not None
            if ticket_id is None:
                await _open_ticket(record, made=made)
                return
            changed = await db.escalations.find_one_and_update(
                {"ticket_id": ticket_id},
                {"$set": {"reason": _unconfirmed_reason(record, made=made)}},
                {"_id": 0}, return_document=pymongo.ReturnDocument.AFTER,
            )  # fmt: skip
            if changed is not None:
                await announce_ticket_changed(changed)
            return
        except PyMongoError as error:
            if loop.time() + FOLLOW_UP_EVERY_S > give_up_at:
                log.error("refund %s of %s: %s, the database stayed unreachable (%r); check "
                          "the order by hand", record["refund_id"], record["order_id"],
                          f"ticket {ticket_id} not updated" if ticket_id else "no ticket opened",
                          error)  # fmt: skip
                return


async def _open_ticket(record: Document, *, made: bool | None, announce: bool = True) -> str:
    """The high-priority ticket on the order for a refund of unknown outcome, saying whether
    it turned out `made` (None: not looked at again yet). Raises PyMongoError."""
    return await open_escalation(
        user_id=record["user_id"], call_id=record["call_id"],
        reason=_unconfirmed_reason(record, made=made), priority="high",
        order_id=record["order_id"], origin=REFUND_UNCONFIRMED, announce=announce,
    )  # fmt: skip


def _unconfirmed_reason(record: Document, *, made: bool | None) -> str:
    """The ticket's reason: what the customer was told, and what the records now say."""
    told = (
        f"Refund of {record['order_id']} ({format_inr(record['amount'])}, "
        f"{record['percent']}%) could not be "
        "confirmed during the call; the customer was told a colleague would check it."
    )
    if made is None:
        return (
            f"{told} Not looked at again yet: check the order and the wallet for refund "
            f"{record['refund_id']}, and refund it if it is not there and the policy allows."
        )
    if made:
        return f"{told} It was made after all ({record['refund_id']}): tell the customer."
    return (
        f"{told} No refund {record['refund_id']} is on file: check the order and the wallet, "
        "and refund it if the policy allows."
    )


async def _find_refund(
    db: AsyncDatabase[Document], record: Document, wallet: Document
) -> int | None:
    """The wallet balance now if `record`'s refund is on file, else None."""
    with pymongo.timeout(CHECK_TIMEOUT_S):
        made, customer = await asyncio.gather(
            db.refunds.find_one(
                {"order_id": record["order_id"], "refund_id": record["refund_id"]}, {"_id": 1}
            ),
            db.customers.find_one({"_id": wallet["_id"]}, {"_id": 0, "wallet_balance": 1}),
        )
    if made is None or customer is None:
        return None
    return int(customer["wallet_balance"])


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
    """The gate: this order, still exactly as the decision saw it and still refundable, and
    still the customer's (a reload of the orders may move it to another account meanwhile:
    then it is not theirs to refund)."""
    return {
        "_id": order["_id"],
        "user_id": order["user_id"],
        "status": DELIVERED,
        "refund": None,
        "amount": order["amount"],
        # Delivered by `now` too: a delivery time still to come is no delivery (support.policy).
        "delivered_at": {"$gte": now - REFUND_WINDOW, "$lte": now},
    }


async def _lost_gate(db: AsyncDatabase[Document], order: Document, now: datetime) -> Exception:
    """Why the gate matched nothing: usually another request refunded the order first
    (RefundRefused says why the order as it is now cannot be refunded); _OrderChanged when it
    still can be, as after a colleague's edit of its amount."""
    current = await db.orders.find_one({"user_id": order["user_id"], "order_id": order["order_id"]})
    if current is None:
        return RefundRefused("not_found", NOT_FOUND_MESSAGE)
    why = refusal(OrderFacts.from_document(current), now)
    if why is None:
        return _OrderChanged()
    return RefundRefused(why.value, refusal_message(why, current["status"]))


def _duplicate_key_fields(error: DuplicateKeyError) -> set[str]:
    details = error.details or {}
    pattern = details.get("keyPattern") or details.get("keyValue") or {}
    return set(pattern)
