"""The refund policy (contract section 6) as a pure function: literal orders, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from support.policy import (
    Eligible,
    NoTierApplies,
    OrderFacts,
    Refusal,
    Refused,
    Tier,
    decide_refund,
    lifetime_spend,
    refusal,
    tier_for,
    within_window,
)

NOW = datetime(2025, 3, 14, 19, 30, tzinfo=UTC)

TIERS = [
    Tier("Bronze", 0, 30),
    Tier("Platinum", 1_000_000, 100),  # out of order on purpose: the highest applicable wins
    Tier("Silver", 200_000, 50),
    Tier("Gold", 500_000, 75),
]
SILVER_SPEND = 250_000


def delivered(ago: timedelta, amount: int = 33_750) -> OrderFacts:
    return OrderFacts(amount=amount, status="delivered", delivered_at=NOW - ago, refunded=False)


@pytest.mark.parametrize(
    ("spend", "tier"),
    [
        (0, "Bronze"),
        (199_999, "Bronze"),  # ₹1,999.99
        (200_000, "Silver"),  # ₹2,000
        (499_999, "Silver"),
        (500_000, "Gold"),  # ₹5,000
        (999_999, "Gold"),
        (1_000_000, "Platinum"),  # ₹10,000
        (50_000_000, "Platinum"),
    ],
)
def test_the_highest_tier_the_lifetime_spend_reaches_applies(spend: int, tier: str) -> None:
    decision = decide_refund(delivered(timedelta(minutes=30)), spend, TIERS, NOW)

    assert isinstance(decision, Eligible)
    assert decision.tier == tier
    assert tier_for(spend, TIERS) == next(t for t in TIERS if t.name == tier)


def test_asha_a_silver_customer_gets_half_her_order_back() -> None:
    decision = decide_refund(delivered(timedelta(minutes=30)), SILVER_SPEND, TIERS, NOW)

    assert decision == Eligible(amount=16_875, percent=50, tier="Silver")


@pytest.mark.parametrize(
    ("amount", "percent", "refund"),
    [
        (33_333, 50, 16_667),  # 166.665 rupees rounds half up to 166.67
        (12_345, 30, 3_704),  # 37.035 -> 37.04
        (10_001, 75, 7_501),  # 75.0075 -> 75.01
        (10_002, 75, 7_502),  # 75.015 -> 75.02
        (99_999, 100, 99_999),
    ],
)
def test_the_amount_is_rounded_half_up_to_the_paisa(
    amount: int, percent: int, refund: int
) -> None:
    tiers = [Tier("Only", 0, percent)]

    decision = decide_refund(delivered(timedelta(minutes=5), amount), 0, tiers, NOW)

    assert decision == Eligible(amount=refund, percent=percent, tier="Only")


@pytest.mark.parametrize(
    ("ago", "inside"),
    [
        (timedelta(0), True),
        (timedelta(hours=1, minutes=59), True),
        (timedelta(hours=2), True),  # the boundary is inclusive
        (timedelta(hours=2, microseconds=1), False),
        (timedelta(hours=2, minutes=1), False),
        (timedelta(days=3), False),
    ],
)
def test_the_refund_window_is_two_hours_from_delivery(ago: timedelta, inside: bool) -> None:
    decision = decide_refund(delivered(ago), SILVER_SPEND, TIERS, NOW)

    assert within_window(NOW - ago, NOW) is inside
    assert isinstance(decision, Eligible) is inside
    if not inside:
        assert decision == Refused(Refusal.OUTSIDE_WINDOW)


@pytest.mark.parametrize("status", ["placed", "preparing", "out_for_delivery", "cancelled"])
def test_an_order_not_delivered_is_refused(status: str) -> None:
    order = OrderFacts(amount=33_750, status=status, delivered_at=None, refunded=False)

    assert decide_refund(order, SILVER_SPEND, TIERS, NOW) == Refused(Refusal.NOT_DELIVERED)


def test_a_delivered_order_without_a_delivery_time_is_refused_as_not_delivered() -> None:
    order = OrderFacts(amount=33_750, status="delivered", delivered_at=None, refunded=False)

    assert refusal(order, NOW) is Refusal.NOT_DELIVERED


@pytest.mark.parametrize("ahead", [timedelta(microseconds=1), timedelta(hours=1),
                                   timedelta(days=365)])  # fmt: skip
def test_a_delivery_time_still_to_come_is_not_a_delivery(ahead: timedelta) -> None:
    """Only a direct database write sets one: it must not hold the window open meanwhile."""
    order = delivered(-ahead)

    assert decide_refund(order, SILVER_SPEND, TIERS, NOW) == Refused(Refusal.NOT_DELIVERED)
    assert within_window(NOW + ahead, NOW) is False


def test_once_a_delivery_time_set_ahead_comes_its_window_runs_from_it() -> None:
    order = delivered(-timedelta(hours=1))

    assert refusal(order, NOW + timedelta(hours=1)) is None
    assert refusal(order, NOW + timedelta(hours=3)) is None  # the edge is inside
    assert refusal(order, NOW + timedelta(hours=3, seconds=1)) is Refusal.OUTSIDE_WINDOW


def test_a_refunded_order_is_refused_as_already_refunded() -> None:
    order = OrderFacts.from_document(
        {
            "amount": 33_750,
            "status": "refunded",
            "delivered_at": NOW - timedelta(minutes=10),
            "refund": {"amount": 16_875, "percent": 50, "refund_id": "RFD-K7M2QP", "at": NOW},
        }
    )

    assert decide_refund(order, SILVER_SPEND, TIERS, NOW) == Refused(Refusal.ALREADY_REFUNDED)


def test_an_order_carrying_a_refund_is_never_refunded_twice_whatever_its_status() -> None:
    order = OrderFacts.from_document(
        {
            "amount": 33_750,
            "status": "delivered",
            "delivered_at": NOW - timedelta(minutes=10),
            "refund": {"amount": 16_875, "percent": 50, "refund_id": "RFD-K7M2QP", "at": NOW},
        }
    )

    assert refusal(order, NOW) is Refusal.ALREADY_REFUNDED


def test_an_order_from_the_database_without_a_refund_is_eligible() -> None:
    order = OrderFacts.from_document(
        {"amount": 33_750, "status": "delivered", "delivered_at": NOW, "refund": None}
    )

    assert refusal(order, NOW) is None


def test_lifetime_spend_counts_every_order_but_the_cancelled_ones() -> None:
    orders = [
        {"amount": 33_750, "status": "delivered"},
        {"amount": 41_250, "status": "out_for_delivery"},
        {"amount": 10_000, "status": "placed"},
        {"amount": 125_000, "status": "refunded"},  # refunds are not subtracted
        {"amount": 900_000, "status": "cancelled"},
    ]

    assert lifetime_spend(orders) == 210_000
    assert lifetime_spend([]) == 0


def test_with_no_tier_for_the_spend_the_policy_refuses_to_guess() -> None:
    tiers = [Tier("Silver", 200_000, 50)]  # staff removed Bronze

    assert tier_for(199_999, tiers) is None
    with pytest.raises(NoTierApplies):
        decide_refund(delivered(timedelta(minutes=30)), 199_999, tiers, NOW)


@pytest.mark.parametrize(
    "tiers",
    [
        # Two leads each adding a tier at ₹2,000 at the same moment: the admin checked each
        # against the tiers as they were, so both were saved.
        [Tier("Bronze", 0, 30), Tier("Silver", 200_000, 50), Tier("Sterling", 200_000, 60)],
        # Written to the database some other way than the admin, which refuses them.
        [Tier("Bronze", 0, 30), Tier("Silver", 200_000, 150)],
        [Tier("Bronze", 0, 30), Tier("Silver", 200_000, -10)],
    ],
)
def test_tiers_that_give_no_one_percentage_are_not_guessed_at(tiers: list[Tier]) -> None:
    with pytest.raises(NoTierApplies):
        decide_refund(delivered(timedelta(minutes=30)), SILVER_SPEND, tiers, NOW)


def test_a_refused_order_needs_neither_tiers_nor_spend() -> None:
    order = delivered(timedelta(hours=5))

    assert decide_refund(order, 0, [], NOW) == Refused(Refusal.OUTSIDE_WINDOW)
