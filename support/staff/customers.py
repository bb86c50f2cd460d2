"""The customer page: everything a person handling one customer needs on one screen.

Reads are by indexed keys (`user_id`, newest first) with the fields the page shows; the
lifetime spend is summed by the database; nothing joins collections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from support.models import (
    Complaint,
    Customer,
    Escalation,
    Order,
    OrderStatus,
    Refund,
    RefundTier,
)
from support.mongo import Document, sync_db
from support.policy import Tier, tier_for
from support.staff.aftercall import booked_on, done_since
from support.staff.calls import CallRow, recent_calls

RECENT = 10
RECENT_ORDERS = 15


def lifetime_spend(user_id: int) -> int:
    """Contract section 6, summed by the database: every order's amount but cancelled ones'."""
    rows = sync_db()[Order._meta.db_table].aggregate([
        {"$match": {"user_id": user_id}},
        {"$group": {"_id": None, "spend": {"$sum": {
            "$cond": [{"$eq": ["$status", OrderStatus.CANCELLED.value]}, 0, "$amount"]
        }}, "orders": {"$sum": 1}}},
    ])  # fmt: skip
    row = next(iter(rows), None)
    return int(row["spend"]) if row else 0


@dataclass(frozen=True)
class Standing:
    """Where a customer stands in the refund tiers."""

    spend: int  # paise
    tier: Tier | None
    next_tier: Tier | None

    @property
    def to_next(self) -> int | None:
        return None if self.next_tier is None else self.next_tier.min_lifetime_spend - self.spend


def standing(spend: int, tiers: Sequence[Tier]) -> Standing:
    """The tier `spend` reaches and the next one up (None at the top). Pure."""
    higher = [tier for tier in tiers if tier.min_lifetime_spend > spend]
    return Standing(spend, tier_for(spend, tiers),
                    min(higher, key=lambda t: t.min_lifetime_spend, default=None))  # fmt: skip


def tiers() -> list[Tier]:
    return [Tier(t.name, t.min_lifetime_spend, t.percent) for t in RefundTier.objects.all()]


@dataclass(frozen=True)
class CustomerPage:
    customer: Customer
    standing: Standing
    orders: list[Order]
    more_orders: bool
    refunds: list[Refund]
    complaints: list[Complaint]
    tickets: list[Escalation]
    calls: list[CallRow]
    callbacks: list[Document]


ORDER_LIST_FIELDS = ("order_id", "customer", "restaurant", "amount", "status", "placed_at",
                     "delivered_at", "refund")  # fmt: skip


def customer_page(customer: Customer) -> CustomerPage:
    user_id = customer.user_id
    orders = list(Order.objects.filter(customer_id=user_id).only(*ORDER_LIST_FIELDS)
                  .order_by("-placed_at")[: RECENT_ORDERS + 1])  # fmt: skip
    tickets = list(Escalation.objects.filter(customer_id=user_id).defer("notes")
                   .order_by("-created_at")[:RECENT])  # fmt: skip
    callbacks = list(sync_db()["callbacks"].find({"user_id": user_id}, {"_id": 0})
                     .sort("slot_start", -1).limit(RECENT))  # fmt: skip
    return CustomerPage(
        customer=customer,
        standing=standing(lifetime_spend(user_id), tiers()),
        orders=orders[:RECENT_ORDERS],
        more_orders=len(orders) > RECENT_ORDERS,
        refunds=list(Refund.objects.filter(customer_id=user_id).order_by("-created_at")[:RECENT]),
        complaints=list(Complaint.objects.filter(customer_id=user_id)
                        .order_by("-created_at")[:RECENT]),  # fmt: skip
        tickets=tickets,
        calls=[_with_since(call, tickets, callbacks) for call in recent_calls(user_id, RECENT)],
        callbacks=callbacks,
    )


def _with_since(call: CallRow, tickets: list[Escalation], callbacks: list[Document]) -> CallRow:
    """The call with what was done since it about its follow-up, from the tickets it opened
    and the callbacks it booked among the customer's recent ones."""
    if not call.follow_up:
        return call
    opened = [t for t in tickets if t.call_id == call.call_id]
    booked = booked_on(call.call_id, call.ended_at, callbacks, call.cancelled_here)
    return replace(call, since=done_since(opened, booked))
