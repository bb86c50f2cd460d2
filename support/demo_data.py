"""The demo data set `seed_demo` loads: pure generation, no I/O.

Twenty customers of an Indian food-delivery app, spread over the four refund tiers of
contract section 6 by lifetime spend, and about two hundred orders from restaurants across
the country in every status, a third of them in the last month. A handful of orders were
delivered minutes ago, for customers of every tier, so that a refund can be tried live; one
was delivered just outside the two-hour window. The last month also has about two hundred
support calls (support/demo_calls.py) with the refunds, complaints, tickets and callbacks
they made, so the dashboard, call history and customer pages are alive on the first run.
The same `now` always gives the same data (in the same support time zone, whose clock its
people keep): the random generators are seeded, ids are fixed (customers 1..20, ORD-1001..,
the others drawn in the shape of support/ids.py) and every time is an offset from `now`.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from support.demo_calls import CALL_DAYS, Local, Raised, demo_id, month_of_calls, raised_in_calls
from support.importer import (
    CustomerRecord,
    ItemRecord,
    OrderRecord,
    RefundRecord,
    SupportData,
)
from support.models import OrderStatus
from support.money import percent_of, to_paise

Document = dict[str, Any]

SEED = 20261121
FIRST_ORDER_NUMBER = 1001

# (name, tier the customer's lifetime spend puts them in); user_id is the position + 1.
# Tiers are interleaved so the demo page's customer list shows every tier near the top.
CUSTOMERS: tuple[tuple[str, str], ...] = (
    ("Aarav Sharma", "Gold"),
    ("Priya Iyer", "Platinum"),
    ("Rohan Mehta", "Silver"),
    ("Ananya Reddy", "Bronze"),
    ("Vikram Singh", "Platinum"),
    ("Sneha Kulkarni", "Silver"),
    ("Arjun Nair", "Bronze"),
    ("Kavya Menon", "Gold"),
    ("Rahul Gupta", "Silver"),
    ("Meera Joshi", "Bronze"),
    ("Aditya Banerjee", "Gold"),
    ("Ishita Chatterjee", "Platinum"),
    ("Karan Malhotra", "Bronze"),
    ("Divya Pillai", "Silver"),
    ("Siddharth Rao", "Gold"),
    ("Neha Agarwal", "Silver"),
    ("Farhan Qureshi", "Gold"),
    ("Pooja Deshpande", "Bronze"),
    ("Manpreet Kaur", "Platinum"),
    ("Zoya Khan", "Silver"),
)

# Lifetime spend each tier's customers are given, in rupees: inside the contract's bands
# (Bronze < 2,000 <= Silver < 5,000 <= Gold < 10,000 <= Platinum) with a margin, so that no
# rounding or single order puts a demo customer in the neighbouring tier.
SPEND_BANDS: dict[str, tuple[int, int]] = {
    "Bronze": (900, 1_750),
    "Silver": (2_300, 4_700),
    "Gold": (5_400, 9_000),
    "Platinum": (10_500, 14_000),
}
TIER_PERCENT = {"Bronze": 30, "Silver": 50, "Gold": 75, "Platinum": 100}

# restaurant -> menu of (dish, price in rupees)
MENUS: dict[str, tuple[tuple[str, str], ...]] = {
    "Paradise Biryani House": (
        ("Hyderabadi Chicken Dum Biryani", "349"), ("Mutton Biryani", "449"),
        ("Veg Dum Biryani", "279"), ("Mirchi Ka Salan", "99"), ("Double Ka Meetha", "129"),
    ),
    "Saravana Dosa Corner": (
        ("Masala Dosa", "120"), ("Ghee Roast Dosa", "150"), ("Rava Onion Dosa", "135"),
        ("Idli Vada Combo", "99"), ("Mini Tiffin", "180"), ("Filter Coffee", "45"),
    ),
    "Punjab Grill Dhaba": (
        ("Paneer Tikka", "289"), ("Butter Chicken", "379"), ("Dal Makhani", "249"),
        ("Garlic Naan", "69"), ("Amritsari Kulcha", "129"), ("Sweet Lassi", "89"),
    ),
    "Rajdhani Thali House": (
        ("Gujarati Thali", "349"), ("Rajasthani Thali", "379"), ("Mini Thali", "219"),
        ("Gulab Jamun (2 pcs)", "79"),
    ),
    "Mumbai Chaat Junction": (
        ("Pav Bhaji", "149"), ("Vada Pav (2 pcs)", "79"), ("Pani Puri", "69"),
        ("Sev Puri", "89"), ("Masala Chai", "35"),
    ),
    "Kolkata Kathi Rolls": (
        ("Chicken Kathi Roll", "169"), ("Egg Roll", "119"), ("Paneer Tikka Roll", "159"),
        ("Mutton Seekh Roll", "219"),
    ),
    "Chettinad Kitchen": (
        ("Chettinad Chicken Curry", "319"), ("Malabar Parotta (2 pcs)", "79"),
        ("Appam with Vegetable Stew", "229"), ("Meen Varuval", "299"),
    ),
    "Lucknowi Kebab Co.": (
        ("Galouti Kebab", "349"), ("Mutton Seekh Kebab", "299"), ("Ulte Tawe Ka Paratha", "59"),
        ("Sheermal", "69"), ("Kesar Phirni", "99"),
    ),
    "Udupi Sagar": (
        ("Set Dosa", "110"), ("Bisi Bele Bath", "140"), ("Kesari Bath", "70"),
        ("Curd Rice", "110"),
    ),
    "Bombay Irani Cafe": (
        ("Bun Maska", "60"), ("Keema Pav", "199"), ("Berry Pulao", "329"),
        ("Irani Chai", "40"), ("Caramel Custard", "110"),
    ),
    "Goa Fish Curry House": (
        ("Goan Fish Curry Rice", "329"), ("Prawn Balchao", "389"), ("Chicken Xacuti", "339"),
        ("Bebinca", "149"),
    ),
    "Momo Nation": (
        ("Steamed Veg Momos", "129"), ("Chicken Momos", "159"), ("Chicken Thukpa", "189"),
        ("Chilli Paneer", "229"),
    ),
}

# The live part of the demo: (user_id, status, minutes ago). For deliveries, minutes since
# delivery (all but the last inside the 2-hour refund window); otherwise minutes since the
# order was placed. Customers of every tier can ask for a refund right away.
LIVE_ORDERS: tuple[tuple[int, str, int], ...] = (
    (4, OrderStatus.DELIVERED, 10),    # Bronze: 30%
    (3, OrderStatus.DELIVERED, 20),    # Silver: 50%
    (1, OrderStatus.DELIVERED, 30),    # Gold: 75%
    (2, OrderStatus.DELIVERED, 40),    # Platinum: 100%
    (6, OrderStatus.DELIVERED, 50),    # Silver
    (8, OrderStatus.DELIVERED, 60),    # Gold
    (12, OrderStatus.DELIVERED, 75),   # Platinum
    (7, OrderStatus.DELIVERED, 90),    # Bronze
    (1, OrderStatus.DELIVERED, 160),   # Gold: just outside the window, refused
    (7, OrderStatus.PLACED, 2),
    (9, OrderStatus.PREPARING, 12),
    (2, OrderStatus.PREPARING, 18),
    (10, OrderStatus.OUT_FOR_DELIVERY, 28),
    (12, OrderStatus.OUT_FOR_DELIVERY, 35),
)
DELIVERY_MINUTES = (22, 55)  # from placing to the door
HISTORY_DAYS = 240
RECENT_SHARE = 0.35  # of past orders, placed in the last CALL_DAYS days
REFUND_SHARE = 0.08  # of older deliveries (the last month's refunds were made in its calls)
CANCEL_SHARE = 0.06  # extra, cancelled orders (they do not count towards lifetime spend)

REFUND_REASONS = (
    "Food arrived cold",
    "Items missing from the order",
    "Wrong dish delivered",
    "Food was spilled in the bag",
    "Delivered very late",
)


@dataclass(frozen=True)
class DemoData:
    support: SupportData
    complaints: tuple[Document, ...]
    escalations: tuple[Document, ...]
    # The orders whose times only make sense relative to today (see LIVE_ORDERS).
    live_order_ids: tuple[str, ...]
    calls: tuple[Document, ...] = ()
    callbacks: tuple[Document, ...] = ()
    # Refunds made in a call: refund id -> the call's id (for `refunds.call_id`).
    refund_calls: tuple[tuple[str, str], ...] = ()
    # The complaints and tickets set out here (not by month_of_calls): their ids -> the call
    # that raised them, which goes in only with them (seed_demo).
    raised_calls: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Basket:
    restaurant: str
    items: tuple[ItemRecord, ...]

    @property
    def amount(self) -> int:
        return sum(item.qty * item.price for item in self.items)


def _basket(rng: random.Random, max_amount: int) -> _Basket | None:
    """A plausible order from one restaurant costing at most `max_amount` paise."""
    restaurant = rng.choice(sorted(MENUS))
    menu = [(name, to_paise(price)) for name, price in MENUS[restaurant]]
    items: list[ItemRecord] = []
    total = 0
    for name, price in rng.sample(menu, k=rng.choice((1, 2, 2, 2, 3))):
        qty = rng.choice((1, 1, 1, 2, 2, 3))
        while qty and total + qty * price > max_amount:
            qty -= 1
        if qty:
            items.append(ItemRecord(name, qty, price))
            total += qty * price
    return _Basket(restaurant, tuple(items)) if items else None


def _baskets_for_tier(rng: random.Random, tier: str) -> list[_Basket]:
    """Orders whose amounts add up to a lifetime spend inside the tier's band."""
    low, high = (to_paise(rupees) for rupees in SPEND_BANDS[tier])
    target = rng.randint(low, high)
    baskets: list[_Basket] = []
    spend = 0
    while spend < target:
        basket = _basket(rng, high - spend)
        if basket is None:  # even the cheapest dish would leave the band
            break
        baskets.append(basket)
        spend += basket.amount
    return baskets


def _phone(rng: random.Random, taken: set[str]) -> str:
    while True:
        phone = f"+91{rng.choice('6789')}{rng.randrange(10**9):09d}"
        if phone not in taken:
            taken.add(phone)
            return phone


def _email(name: str) -> str:
    return ".".join(name.lower().split()) + "@example.in"


@dataclass(frozen=True)
class _Draft:
    """An order before it has its id (ids follow the order in which orders were placed)."""

    user_id: int
    basket: _Basket
    status: str
    placed_at: dt.datetime
    delivered_at: dt.datetime | None
    refund_after: dt.timedelta | None = None
    refund_reason: str = ""
    live: bool = False


def _live_draft(user_id: int, basket: _Basket, status: str, minutes_ago: int,
                rng: random.Random, now: dt.datetime) -> _Draft:
    if status == OrderStatus.DELIVERED:
        delivered_at = now - dt.timedelta(minutes=minutes_ago)
        placed_at = delivered_at - dt.timedelta(minutes=rng.randint(*DELIVERY_MINUTES))
        return _Draft(user_id, basket, status, placed_at, delivered_at, live=True)
    return _Draft(user_id, basket, status, now - dt.timedelta(minutes=minutes_ago), None,
                  live=True)


def _meal_time(day: dt.datetime, rng: random.Random, zone: ZoneInfo) -> dt.datetime:
    """A time on `day` when people order food: lunch or dinner, by the customers' clock
    (`zone`, the support time zone)."""
    local = day.astimezone(zone)
    hour = rng.choice((12, 13, 13, 14, 19, 20, 20, 21, 21, 22))
    return local.replace(hour=hour, minute=rng.randint(0, 59)).astimezone(dt.UTC)


def _history_draft(user_id: int, basket: _Basket, rng: random.Random, now: dt.datetime,
                   zone: ZoneInfo) -> _Draft:
    recent = rng.random() < RECENT_SHARE
    # Recent orders are two or more days old, so that every call about them (up to a day
    # after delivery) has happened whenever the demo is seeded.
    days = rng.randint(2, CALL_DAYS) if recent else rng.randint(CALL_DAYS + 3, HISTORY_DAYS)
    placed_at = _meal_time(now - dt.timedelta(days=days), rng, zone)
    delivered_at = placed_at + dt.timedelta(minutes=rng.randint(*DELIVERY_MINUTES))
    if not recent and rng.random() < REFUND_SHARE:
        return _Draft(user_id, basket, OrderStatus.REFUNDED, placed_at, delivered_at,
                      refund_after=dt.timedelta(minutes=rng.randint(10, 100)),
                      refund_reason=rng.choice(REFUND_REASONS))
    return _Draft(user_id, basket, OrderStatus.DELIVERED, placed_at, delivered_at)


def _cancelled_draft(user_id: int, rng: random.Random, now: dt.datetime,
                     zone: ZoneInfo) -> _Draft:
    basket = _basket(rng, to_paise(1500))
    assert basket is not None  # a ₹1,500 budget always fits a dish
    placed_at = _meal_time(now - dt.timedelta(days=rng.randint(1, HISTORY_DAYS)), rng, zone)
    return _Draft(user_id, basket, OrderStatus.CANCELLED, placed_at, None)


def _drafts_for(user_id: int, tier: str, rng: random.Random, now: dt.datetime,
                zone: ZoneInfo) -> list[_Draft]:
    baskets = _baskets_for_tier(rng, tier)
    live = [(status, minutes) for uid, status, minutes in LIVE_ORDERS if uid == user_id]
    drafts = [_live_draft(user_id, baskets.pop(), status, minutes, rng, now)
              for status, minutes in live if baskets]
    drafts += [_history_draft(user_id, basket, rng, now, zone) for basket in baskets]
    drafts += [_cancelled_draft(user_id, rng, now, zone)
               for _ in range(len(baskets)) if rng.random() < CANCEL_SHARE]
    return drafts


def _order(number: int, draft: _Draft, tier: str) -> OrderRecord:
    order_id = f"ORD-{number}"
    refund = None
    if draft.refund_after is not None and draft.delivered_at is not None:
        percent = TIER_PERCENT[tier]
        refund = RefundRecord(
            amount=percent_of(draft.basket.amount, percent),
            percent=percent,
            refund_id=f"RFD-{number}",  # as the ordering system's import named them
            at=draft.delivered_at + draft.refund_after,
            tier=tier,
            reason=draft.refund_reason,
        )
    return OrderRecord(order_id, draft.user_id, draft.basket.restaurant, draft.basket.items,
                       draft.basket.amount, OrderStatus(draft.status).value, draft.placed_at,
                       draft.delivered_at, refund)


def _customer(user_id: int, name: str, phone: str, orders: Sequence[OrderRecord],
              rng: random.Random) -> CustomerRecord:
    first = min(order.placed_at for order in orders)
    # The wallet holds what past refunds credited to it.
    wallet = sum(order.refund.amount for order in orders if order.refund is not None)
    return CustomerRecord(user_id, name, phone, _email(name), wallet,
                          first - dt.timedelta(days=rng.randint(3, 120)))


def build_demo_data(now: dt.datetime, zone: ZoneInfo | None = None) -> DemoData:
    """The demo set as of `now` (an aware UTC datetime); the same `now` gives the same data.
    Its customers and staff keep the hours of `zone`, by default the support time zone
    (SUPPORT_TIME_ZONE, contract sections 1 and 9): meals, calls, staff work and callbacks."""
    local = Local(zone or ZoneInfo(settings.SUPPORT_TIME_ZONE))
    rng = random.Random(SEED)
    tiers = {user_id: tier for user_id, (_, tier) in enumerate(CUSTOMERS, start=1)}
    drafts = [d for user_id, tier in tiers.items()
              for d in _drafts_for(user_id, tier, rng, now, local.zone)]  # fmt: skip
    # Order ids grow with placing time, as a real system's would.
    drafts.sort(key=lambda d: (d.placed_at, d.user_id))
    orders = [_order(number, draft, tiers[draft.user_id])
              for number, draft in enumerate(drafts, start=FIRST_ORDER_NUMBER)]
    phones: set[str] = set()
    phone_of = {user_id: _phone(rng, phones) for user_id in tiers}
    live = {o.order_id for o, d in zip(orders, drafts, strict=True) if d.live}
    names = {user_id: name for user_id, (name, _) in enumerate(CUSTOMERS, start=1)}
    calls = month_of_calls(
        f"{SEED}:calls", now, local, [o for o in orders if o.order_id not in live], names,
        {user_id: (tier, TIER_PERCENT[tier]) for user_id, tier in tiers.items()}, phone_of,
    )
    orders = calls.apply(orders)
    customers = [
        _customer(user_id, name, phone_of[user_id],
                  [o for o in orders if o.user_id == user_id], rng)
        for user_id, name in names.items()
    ]
    # The complaints and tickets set out here are about older orders (the live ones move each
    # time the demo is refreshed), each filed in a call of its own, as the agent files them.
    past = [o for o in orders if o.order_id not in live]
    ids = random.Random(SEED + 2)
    complaints = _complaints(past, ids, local)
    raised = raised_in_calls(f"{SEED}:calls", now, local,
                             [*complaints, *_escalations(past, ids, now, local)],
                             names)  # fmt: skip
    filed = [record for record, _ in raised]
    return DemoData(
        support=SupportData(tuple(customers), tuple(orders)),
        complaints=(*filed[:len(complaints)], *calls.complaints),
        escalations=(*filed[len(complaints):], *calls.tickets),
        live_order_ids=tuple(o.order_id for o in orders if o.order_id in live),
        calls=tuple(sorted([*calls.calls, *(call for _, call in raised)],
                           key=lambda call: call["started_at"])),
        callbacks=tuple(calls.callbacks),
        refund_calls=tuple(calls.refund_calls.items()),
        raised_calls=tuple((record.get("ticket_id") or record["complaint_id"], record["call_id"])
                           for record in filed),
    )


def _last_delivered(orders: Sequence[OrderRecord], user_id: int) -> OrderRecord:
    delivered = [o for o in orders if o.user_id == user_id and o.status == "delivered"
                 and o.delivered_at is not None]
    return max(delivered, key=lambda o: o.placed_at)


def _complaints(orders: Sequence[OrderRecord], ids: random.Random,
                local: Local) -> list[Raised]:
    specs = (
        (3, "missing_items", "The raita and one garlic naan were missing.", "resolved",
         "I want to complain: the raita and a garlic naan were missing from my order."),
        (8, "late_delivery", "Order took over an hour and arrived cold.", "in_review",
         "My order took over an hour and it arrived cold. I want to complain."),
        (12, "food_quality", "The biryani rice was undercooked.", "open",
         "The biryani rice was undercooked. I'd like to make a complaint."),
    )  # fmt: skip
    complaints = []
    for user_id, category, description, status, words in specs:
        complaint_id = demo_id(ids, "CMP")
        order = _last_delivered(orders, user_id)
        assert order.delivered_at is not None
        complaints.append(Raised({
            "complaint_id": complaint_id, "user_id": user_id, "order_id": order.order_id,
            "category": category, "description": description, "status": status,
            "call_id": "",
            "created_at": local.next_open(order.delivered_at + dt.timedelta(minutes=40)),
        }, words, order))  # fmt: skip
    return complaints


def _escalations(orders: Sequence[OrderRecord], ids: random.Random, now: dt.datetime,
                 local: Local) -> list[Raised]:
    allergy = _last_delivered(orders, 5)
    late = _last_delivered(orders, 11)
    assert allergy.delivered_at is not None and late.delivered_at is not None
    late_call = local.next_open(late.delivered_at + dt.timedelta(hours=1))
    claimed_at = local.on_desk(late_call + dt.timedelta(hours=1))  # staff's hours
    return [
        Raised({
            "ticket_id": demo_id(ids, "TKT"), "user_id": 5, "order_id": allergy.order_id,
            "reason": "Found peanuts in a dish marked nut-free; customer has an allergy.",
            "priority": "urgent", "status": "open", "assignee": None, "notes": [],
            # Waiting since just before the demo started (or since the evening before, seeded
            # in the night): the queue has something urgent.
            "call_id": "", "created_at": local.last_open(now, dt.timedelta(minutes=25)),
            "resolved_at": None,
        }, "There were peanuts in a dish marked nut-free and I'm allergic.", allergy),
        Raised({
            "ticket_id": demo_id(ids, "TKT"), "user_id": 11, "order_id": late.order_id,
            "reason": "Third late delivery this month; wants to speak to a manager.",
            "priority": "normal", "status": "claimed", "assignee": "support",
            "notes": [{"author": "support", "text": "Called back, awaiting restaurant reply.",
                       "at": claimed_at}],
            "call_id": "", "created_at": late_call, "resolved_at": None,
        }, "That's the third late delivery this month. I want to speak to a manager.", late),
    ]  # fmt: skip


def live_orders(demo: DemoData) -> tuple[OrderRecord, ...]:
    """The orders `seed_demo --refresh-recent` puts back as they are in a fresh demo."""
    wanted = set(demo.live_order_ids)
    return tuple(o for o in demo.support.orders if o.order_id in wanted)


def lifetime_spend(orders: Sequence[OrderRecord], user_id: int) -> int:
    """Contract section 6: every order's amount but the cancelled ones', in paise."""
    return sum(o.amount for o in orders
               if o.user_id == user_id and o.status != OrderStatus.CANCELLED)

