"""Personas and refund tiers for the support tests.

* asha (#101), a Silver customer: lifetime spend ₹2,500 (a cancelled ₹9,000 order does not
  count), one order delivered 30 minutes ago, one 3 hours ago, one on its way, one refunded.
* ravi (#202), a Bronze customer with one order delivered 20 minutes ago.

The database is flushed after every test (MongoDB cannot roll back a test), which also
removes the tiers the migration created: tests that refund ask for `tiers`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support import mongo
from support.models import Customer, Order, OrderItem, OrderRefund, RefundTier

# Contract section 6, in paise.
CONTRACT_TIERS = [
    ("Platinum", 1_000_000, 100),
    ("Gold", 500_000, 75),
    ("Silver", 200_000, 50),
    ("Bronze", 0, 30),
]


def make_order(
    customer: Customer,
    order_id: str,
    *,
    status: str,
    amount: int,
    placed_hours_ago: float,
    delivered_hours_ago: float | None = None,
    refund: OrderRefund | None = None,
    restaurant: str = "Biryani Blues",
) -> Order:
    """An order of one item; times are relative to now, amounts in paise."""
    now = datetime.now(UTC)
    delivered_at = None
    if delivered_hours_ago is not None:
        delivered_at = now - timedelta(hours=delivered_hours_ago)
    return Order.objects.create(
        order_id=order_id,
        customer=customer,
        restaurant=restaurant,
        items=[OrderItem(name="Chicken Biryani", qty=1, price=amount)],
        amount=amount,
        status=status,
        placed_at=now - timedelta(hours=placed_hours_ago),
        delivered_at=delivered_at,
        refund=refund,
    )


@pytest.fixture
def tiers(db: Any) -> list[RefundTier]:
    RefundTier.objects.all().delete()
    return RefundTier.objects.bulk_create(
        RefundTier(name=name, min_lifetime_spend=spend, percent=percent)
        for name, spend, percent in CONTRACT_TIERS
    )


@pytest.fixture
def asha(db: Any) -> Customer:
    asha = Customer.objects.create(
        user_id=101,
        name="Asha Verma",
        phone="+919800000101",
        email="asha@example.com",
        wallet_balance=12_000,
    )
    make_order(
        asha, "ORD-1001", status="delivered", amount=33_750,
        placed_hours_ago=1, delivered_hours_ago=0.5,
    )  # fmt: skip
    make_order(
        asha, "ORD-1002", status="delivered", amount=50_000,
        placed_hours_ago=4, delivered_hours_ago=3, restaurant="Dosa Point",
    )  # fmt: skip
    make_order(
        asha, "ORD-1003", status="out_for_delivery", amount=41_250,
        placed_hours_ago=0.3, restaurant="Pizza Corner",
    )  # fmt: skip
    make_order(asha, "ORD-1004", status="cancelled", amount=900_000, placed_hours_ago=48)
    old_refund = OrderRefund(
        amount=37_500, percent=30, refund_id="RFD-K7M2QP",
        at=datetime.now(UTC) - timedelta(hours=70),
    )  # fmt: skip
    make_order(
        asha, "ORD-1005", status="refunded", amount=125_000,
        placed_hours_ago=72, delivered_hours_ago=71, refund=old_refund,
    )  # fmt: skip
    return asha


@pytest.fixture
def ravi(db: Any) -> Customer:
    ravi = Customer.objects.create(
        user_id=202, name="Ravi Kumar", phone="+919800000202", email="ravi@example.com"
    )
    make_order(
        ravi, "ORD-2001", status="delivered", amount=48_000,
        placed_hours_ago=1, delivered_hours_ago=1 / 3, restaurant="Tandoor House",
    )  # fmt: skip
    return ravi


State = Callable[[], Awaitable[dict[str, list[dict[str, Any]]]]]


@pytest.fixture
def database_state(db: Any) -> State:
    """Every support document, to prove that a refused call changed nothing."""

    async def state() -> dict[str, list[dict[str, Any]]]:
        db = mongo.async_db()
        return {
            name: await db[name].find({}, {"_id": 0}).sort("_id", 1).to_list()
            for name in ("customers", "orders", "refunds", "complaints", "escalations")
        }

    return state
