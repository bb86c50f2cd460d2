"""The refund policy of contract section 6, as pure functions (no database, no clock).

The refund tool reads the order, the customer's orders and the tiers, then asks
`decide_refund`; everything that decides "how much, or why not" lives here so it can be
tested with literal values. Money is integer paise; datetimes must be timezone-aware.

The window is inclusive: an order delivered exactly `REFUND_WINDOW` ago is still inside it,
because "within the last 2 hours" reads that way to a customer and the edge costs nothing.
A delivery time after `now` (only a direct database write can set one) is a delivery that has
not happened: the order is refused as not delivered until that time comes, and its window runs
from then. Taking it as delivered now instead would keep the window open for as long as the
time stays ahead, which is what the window exists to prevent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from support.money import percent_of

REFUND_WINDOW = timedelta(hours=2)

DELIVERED = "delivered"
CANCELLED = "cancelled"
REFUNDED = "refunded"


class Refusal(StrEnum):
    """Why an order cannot be refunded; the values are the contract's reasons."""

    NOT_DELIVERED = "not_delivered"
    OUTSIDE_WINDOW = "outside_window"
    ALREADY_REFUNDED = "already_refunded"


class NoTierApplies(ValueError):
    """The tiers staff configured leave this lifetime spend without one percentage.

    The default tiers start at ₹0, so this only happens after an edit removed the lowest
    tier, or with tiers the admin refuses (two starting at one spend, a percentage outside
    0-100) written to the database around it; it is a configuration problem, not a decision
    the customer should hear as "no".
    """


@dataclass(frozen=True)
class Tier:
    name: str
    min_lifetime_spend: int  # paise; the tier applies from this spend upwards
    percent: int


@dataclass(frozen=True)
class OrderFacts:
    """What the policy needs to know about one order."""

    amount: int  # paise
    status: str
    delivered_at: datetime | None
    refunded: bool

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> OrderFacts:
        """From an `orders` document (contract section 5)."""
        return cls(
            amount=int(doc["amount"]),
            status=str(doc["status"]),
            delivered_at=doc.get("delivered_at"),
            # A refund embedded in a non-refunded order is still a refund: never pay twice.
            refunded=doc["status"] == REFUNDED or doc.get("refund") is not None,
        )


@dataclass(frozen=True)
class Eligible:
    amount: int  # paise to credit
    percent: int
    tier: str


@dataclass(frozen=True)
class Refused:
    reason: Refusal


Decision = Eligible | Refused


def lifetime_spend(orders: Iterable[Mapping[str, Any]]) -> int:
    """Sum of `amount` over orders not cancelled: in-progress and refunded orders count,
    and refunds are not subtracted (contract section 6)."""
    return sum(int(order["amount"]) for order in orders if order["status"] != CANCELLED)


def lifetime_spend_pipeline(user_ids: Sequence[int]) -> list[dict[str, Any]]:
    """An aggregation over `orders` giving `{_id: user_id, spend}` for each of `user_ids`:
    `lifetime_spend`'s rule, for MongoDB to apply over many customers at once."""
    return [
        {"$match": {"user_id": {"$in": list(user_ids)}, "status": {"$ne": CANCELLED}}},
        {"$group": {"_id": "$user_id", "spend": {"$sum": "$amount"}}},
    ]


def tier_from_document(doc: Mapping[str, Any]) -> Tier:
    """A `refund_tiers` document as a Tier."""
    return Tier(str(doc["name"]), int(doc["min_lifetime_spend"]), int(doc["percent"]))


def tier_for(spend: int, tiers: Sequence[Tier]) -> Tier | None:
    """The highest tier whose threshold `spend` reaches, or None if none does."""
    applicable = [tier for tier in tiers if spend >= tier.min_lifetime_spend]
    return max(applicable, key=lambda tier: tier.min_lifetime_spend, default=None)


def delivered_by(delivered_at: datetime | None, now: datetime) -> bool:
    """True when the delivery time has come by `now` (one in the future has not happened)."""
    return delivered_at is not None and delivered_at <= now


def within_window(delivered_at: datetime | None, now: datetime) -> bool:
    """True when delivered at most `REFUND_WINDOW` before `now` (the edge is inside), and
    not after it."""
    return delivered_at is not None and timedelta(0) <= now - delivered_at <= REFUND_WINDOW


def refusal(order: OrderFacts, now: datetime) -> Refusal | None:
    """Why this order cannot be refunded now, or None if it can (whatever the tier).

    Cheap enough for listing orders: it needs neither the tiers nor the lifetime spend.
    """
    # Already refunded first: a refunded order is no longer "delivered", and "you already
    # had a refund" is the answer the customer needs.
    if order.refunded:
        return Refusal.ALREADY_REFUNDED
    if order.status != DELIVERED or not delivered_by(order.delivered_at, now):
        return Refusal.NOT_DELIVERED
    if not within_window(order.delivered_at, now):
        return Refusal.OUTSIDE_WINDOW
    return None


def decide_refund(
    order: OrderFacts, spend: int, tiers: Sequence[Tier], now: datetime
) -> Decision:
    """The refund this order gets, or why it gets none.

    Raises NoTierApplies when the configured tiers give `spend` no one percentage from 0 to
    100 (none applies, or several start at the spend that applies).
    """
    reason = refusal(order, now)
    if reason is not None:
        return Refused(reason)
    tier = tier_for(spend, tiers)
    if tier is None:
        raise NoTierApplies(f"no refund tier applies to a lifetime spend of {spend} paise")
    rivals = sorted(t.name for t in tiers if t.min_lifetime_spend == tier.min_lifetime_spend)
    if len(rivals) > 1:
        raise NoTierApplies(f"tiers {', '.join(rivals)} all start at {tier.min_lifetime_spend} "
                            "paise")  # fmt: skip
    if not 0 <= tier.percent <= 100:
        raise NoTierApplies(f"tier {tier.name} refunds {tier.percent}%")
    return Eligible(
        amount=percent_of(order.amount, tier.percent), percent=tier.percent, tier=tier.name
    )
