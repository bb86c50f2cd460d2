"""Goodwill credits and manual refunds: money staff give outside the refund policy.

Staff propose (`propose`), a lead approves (`approve`) or rejects (`reject`); a lead giving
it themselves does both at once (`give`). The rules are pure (`credit_refusal`,
`refund_refusal`); the one write is `approve`, one transaction that

1. moves the request from "proposed" to "approved" (a conditional update: of two approvals,
   even at the same instant, exactly one matches; the other is told it is already decided),
2. for a credit, adds it to the customer's counter for the local day only if the day's total
   stays within the cap leads set (a conditional $inc: two credits cannot both squeeze in),
   for a refund, marks the order refunded only if it has no refund yet (the same gate as the
   agent's refund, and `refunds.order_id` is unique: still at most one refund per order),
3. credits the wallet.

All or nothing: a refusal at step 2 leaves the request proposed and the wallet untouched.
A form submits a one-time `request_key` with the request, so a double-clicked "Give credit"
records one request, and so credits the wallet once. The request document is the audit trail:
who proposed and decided, when, and why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone
from pymongo import ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from support.ids import new_id
from support.models import Goodwill, GoodwillKind, GoodwillPolicy, GoodwillStatus, OrderStatus
from support.money import format_inr
from support.mongo import Document, sync_db
from support.staff.people import staff_names

CREDIT = GoodwillKind.CREDIT.value
REFUND = GoodwillKind.REFUND.value
PROPOSED = GoodwillStatus.PROPOSED.value
APPROVED = GoodwillStatus.APPROVED.value
REJECTED = GoodwillStatus.REJECTED.value
MANUAL_TIER = "Manual"
MAX_REASON = 2000
ID_ATTEMPTS = 3
NOT_APPLIED = "Not applied: "  # the note of a lead's own request refused as it was given


class GoodwillError(Exception):
    """A goodwill request that was refused or did not happen; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- The rules (pure) ---------------------------------------------------------------------------


def credit_refusal(amount: int, cap: int, credited_today: int) -> str | None:
    """Why a credit of `amount` paise cannot be given today, or None."""
    if amount <= 0:
        return "A credit must be more than ₹0."
    if credited_today + amount > cap:
        room = max(0, cap - credited_today)
        return (f"That is over the daily goodwill limit of {format_inr(cap)} for this customer "
                f"({format_inr(room)} left today).")  # fmt: skip
    return None


def refund_refusal(amount: int, order: Document | None) -> str | None:
    """Why `order` cannot be refunded `amount` paise by hand, or None."""
    if order is None:
        return "This customer has no such order."
    if amount <= 0:
        return "A refund must be more than ₹0."
    if order.get("refund") is not None or order.get("status") == OrderStatus.REFUNDED:
        return f"Order {order['order_id']} has already been refunded."
    if order.get("status") != OrderStatus.DELIVERED:
        return f"Only a delivered order can be refunded (this one is {order.get('status')})."
    if amount > int(order["amount"]):
        return (f"A refund cannot be more than the order's {format_inr(int(order['amount']))}.")
    return None


def percent_of_order(amount: int, order_amount: int) -> int:
    """The share of the order a manual refund pays back, in whole percent (for the record)."""
    return round(100 * amount / order_amount) if order_amount else 0


# --- Reads --------------------------------------------------------------------------------------


def daily_cap() -> int:
    policy = GoodwillPolicy.objects.first()
    return policy.daily_credit_cap if policy else 0


def local_day(now: dt.datetime) -> str:
    return timezone.localtime(now).date().isoformat()


def credited_today(user_id: int, now: dt.datetime | None = None) -> int:
    key = {"user_id": user_id, "day": local_day(now or timezone.now())}
    day = sync_db().goodwill_days.find_one(key)
    return int(day["credited"]) if day else 0


# --- Writes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    kind: str
    user_id: int
    amount: int  # paise
    reason: str
    order_id: str | None
    request_key: str


def _check(request: Request) -> None:
    if request.kind not in (CREDIT, REFUND):
        raise GoodwillError("Choose a goodwill credit or a manual refund.")
    if not request.reason.strip():
        raise GoodwillError("Say why: the reason is kept with the request.")
    if len(request.reason) > MAX_REASON:
        raise GoodwillError(f"The reason can be at most {MAX_REASON} characters.")
    if request.kind == REFUND:
        order = _order(request.user_id, request.order_id)
        if why := refund_refusal(request.amount, order):
            raise GoodwillError(why)
    elif why := credit_refusal(request.amount, daily_cap(), credited_today(request.user_id)):
        raise GoodwillError(why)


def _order(user_id: int, order_id: str | None) -> Document | None:
    if not order_id:
        return None
    return sync_db().orders.find_one({"user_id": user_id, "order_id": order_id},
                                     {"_id": 0, "order_id": 1, "amount": 1, "status": 1,
                                      "refund": 1})  # fmt: skip


def propose(request: Request, by: str) -> Goodwill:
    """Record a request for a lead to approve. The same `request_key` twice is one request:
    the one recorded first is answered, whatever has become of it since."""
    existing = Goodwill.objects.filter(request_key=request.request_key).first()
    if existing is not None:
        return existing
    _check(request)
    doc = {
        "kind": request.kind, "user_id": request.user_id, "order_id": request.order_id,
        "amount": request.amount, "reason": request.reason.strip(), "status": PROPOSED,
        "proposed_by": by, "proposed_at": timezone.now(), "decided_by": None,
        "decided_at": None, "decision_note": "", "refund_id": None,
        "request_key": request.request_key,
    }  # fmt: skip
    for _ in range(ID_ATTEMPTS):
        try:
            sync_db().goodwill.insert_one({"goodwill_id": new_id("GWL"), **doc})
        except DuplicateKeyError:
            # The same form submitted twice at once (the key), or a clashing random id.
            if (existing := Goodwill.objects.filter(request_key=request.request_key).first()):
                return existing
            continue
        return Goodwill.objects.get(request_key=request.request_key)
    raise GoodwillError("Could not record the request; try again.")


def approve(goodwill_id: str, by: str, now: dt.datetime | None = None) -> Goodwill:
    """Apply a proposed request: all of it exactly once, or nothing (GoodwillError says why)."""
    now = now or timezone.now()
    db = sync_db()

    def apply(session: ClientSession) -> None:
        request = db.goodwill.find_one_and_update(
            {"goodwill_id": goodwill_id, "status": PROPOSED},
            {"$set": {"status": APPROVED, "decided_by": by, "decided_at": now}},
            session=session, return_document=ReturnDocument.AFTER,
        )  # fmt: skip
        if request is None:
            raise _why_not(goodwill_id)
        if request["kind"] == CREDIT:
            _count_credit(request, now, session)
        else:
            _refund_order(request, now, session)
        credited = db.customers.update_one({"user_id": request["user_id"]},
                                           {"$inc": {"wallet_balance": int(request["amount"])}},
                                           session=session)  # fmt: skip
        if credited.matched_count != 1:  # the whole transaction is undone
            raise GoodwillError("The customer's account no longer exists; nothing was given.")

    with db.client.start_session() as session:
        try:
            session.with_transaction(apply)
        except DuplicateKeyError as error:  # refunds.order_id: a refund got there first
            raise GoodwillError("That order has already been refunded.") from error
    return Goodwill.objects.get(goodwill_id=goodwill_id)


def _count_credit(request: Document, now: dt.datetime, session: ClientSession) -> None:
    db, cap, amount = sync_db(), daily_cap(), int(request["amount"])
    key = {"user_id": request["user_id"], "day": local_day(now)}
    db.goodwill_days.update_one(key, {"$setOnInsert": {"credited": 0}}, upsert=True,
                                session=session)  # fmt: skip
    counted = db.goodwill_days.update_one(
        {**key, "credited": {"$lte": cap - amount}}, {"$inc": {"credited": amount}},
        session=session,
    )
    if counted.modified_count == 0:
        day = db.goodwill_days.find_one(key, session=session) or {}
        raise GoodwillError(credit_refusal(amount, cap, int(day.get("credited", 0)))
                            or "Over the daily goodwill limit.")  # fmt: skip


def _refund_order(request: Document, now: dt.datetime, session: ClientSession) -> None:
    db, amount = sync_db(), int(request["amount"])
    order = db.orders.find_one({"user_id": request["user_id"], "order_id": request["order_id"]},
                               session=session)  # fmt: skip
    if why := refund_refusal(amount, order):
        raise GoodwillError(why)
    assert order is not None  # refund_refusal refuses a missing order
    refund_id = new_id("RFD")
    percent = percent_of_order(amount, int(order["amount"]))
    gate = db.orders.update_one(
        {"_id": order["_id"], "refund": None, "status": OrderStatus.DELIVERED.value},
        {"$set": {"status": OrderStatus.REFUNDED.value,
                  "refund": {"amount": amount, "percent": percent, "refund_id": refund_id,
                             "at": now}}},
        session=session,
    )  # fmt: skip
    if gate.modified_count == 0:
        raise GoodwillError(f"Order {order['order_id']} has already been refunded.")
    db.refunds.insert_one({
        "refund_id": refund_id, "order_id": order["order_id"], "user_id": request["user_id"],
        "amount": amount, "percent": percent, "tier": MANUAL_TIER,
        "reason": f"{request['reason']} (manual refund {request['goodwill_id']}, approved by "
                  f"{request['decided_by']})",
        "call_id": "", "created_at": now,
    }, session=session)  # fmt: skip
    db.goodwill.update_one({"goodwill_id": request["goodwill_id"]},
                           {"$set": {"refund_id": refund_id}}, session=session)  # fmt: skip


def _why_not(goodwill_id: str) -> GoodwillError:
    current = sync_db().goodwill.find_one({"goodwill_id": goodwill_id},
                                          {"status": 1, "decided_by": 1})  # fmt: skip
    if current is None:
        return GoodwillError(f"There is no goodwill request {goodwill_id}.")
    verb = "approved" if current["status"] == APPROVED else "rejected"
    by = current.get("decided_by") or ""
    return GoodwillError(f"{goodwill_id} was already {verb} by {staff_names().get(by, by)}.")


def reject(goodwill_id: str, by: str, note: str = "") -> Goodwill:
    done = sync_db().goodwill.find_one_and_update(
        {"goodwill_id": goodwill_id, "status": PROPOSED},
        {"$set": {"status": REJECTED, "decided_by": by, "decided_at": timezone.now(),
                  "decision_note": note.strip()[:MAX_REASON]}},
    )  # fmt: skip
    if done is None:
        raise _why_not(goodwill_id)
    return Goodwill.objects.get(goodwill_id=goodwill_id)


def give(request: Request, by: str) -> tuple[Goodwill, bool]:
    """A lead's own request, approved at once. Returns it and whether it was applied now
    (False: the same form was already submitted and applied). GoodwillError when it is
    refused, now or at an earlier submission of the same form."""
    goodwill = propose(request, by)
    if goodwill.status == REJECTED:
        raise GoodwillError(f"{goodwill} was not given: {_why_rejected(goodwill)}")
    if goodwill.status != PROPOSED:
        return goodwill, False
    try:
        return approve(goodwill.goodwill_id, by), True
    except GoodwillError as error:
        current = Goodwill.objects.get(goodwill_id=goodwill.goodwill_id)
        if current.status == APPROVED:  # the other click of a double click applied it
            return current, False
        if current.status == PROPOSED:  # refused (the cap filled meanwhile): not left pending
            reject(goodwill.goodwill_id, by, f"{NOT_APPLIED}{error.message}")
        raise


def _why_rejected(goodwill: Goodwill) -> str:
    note = goodwill.decision_note.removeprefix(NOT_APPLIED)
    by = goodwill.decided_by or ""
    return note or f"rejected by {staff_names().get(by, by)}."


def history(user_id: int, limit: int = 20) -> list[Goodwill]:
    return list(Goodwill.objects.filter(customer_id=user_id).order_by("-proposed_at")[:limit])


def pending_count() -> int:
    return int(sync_db().goodwill.count_documents({"status": PROPOSED}))
