"""A slot never holds more callbacks than its capacity, and a customer never more than one a
day, however many bookings arrive at once (all in flight together on the embedded server)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError

from callbacks.slots import Hours, local_date
from callbacks.tests.conftest import make_customer, slot, spoken
from support import mongo
from support.models import Customer
from support.tools import ToolContext, run_tool

pytestmark = pytest.mark.django_db

RACERS = 20


@pytest.fixture
def crowd(db: Any) -> list[Customer]:
    """Twenty customers (#1001-#1020) and one more (#1000) who books first."""
    return [make_customer(1000 + n, f"Customer {n}") for n in range(RACERS + 1)]


def booking(user_id: int, start_args: dict[str, str]) -> Any:
    return run_tool("schedule_callback", start_args, ToolContext(user_id=user_id))


async def test_twenty_bookings_of_the_last_place_in_a_slot_give_exactly_one(
    crowd: list[Customer],
) -> None:
    args = {"slot_start": spoken(slot()), "reason": "Late delivery, wants to talk"}
    assert (await booking(1000, args))["ok"] is True  # one of the two places taken

    results = await asyncio.gather(*(booking(1001 + n, args) for n in range(RACERS)))

    winners = [result for result in results if result["ok"]]
    assert len(winners) == 1
    assert [r["reason"] for r in results if not r["ok"]] == ["slot_unavailable"] * (RACERS - 1)
    stored = await mongo.async_db().callbacks.find({"status": "scheduled"}).to_list()
    assert sorted(doc["seat"] for doc in stored) == [1, 2]
    assert {doc["callback_id"] for doc in stored} >= {winners[0]["callback_id"]}


async def test_twenty_bookings_of_an_empty_slot_fill_it_exactly(crowd: list[Customer]) -> None:
    args = {"slot_start": spoken(slot(hour=14)), "reason": "Missing items"}

    results = await asyncio.gather(*(booking(1001 + n, args) for n in range(RACERS)))

    assert sum(result["ok"] for result in results) == 2  # CALLBACK_SLOT_CAPACITY
    assert await mongo.async_db().callbacks.count_documents({}) == 2


async def test_the_same_booking_twice_at_once_of_the_last_place_stands_and_says_so(
    crowd: list[Customer],
) -> None:
    """The model's parallel or repeated call: neither answer may say the slot was taken."""
    args = {"slot_start": spoken(slot(hour=13)), "reason": "Refund"}
    assert (await booking(1000, args))["ok"] is True  # one of the two places taken

    results = await asyncio.gather(booking(1001, args), booking(1001, args))

    assert [result["ok"] for result in results] == [True, True], results
    assert await mongo.async_db().callbacks.count_documents({"user_id": 1001}) == 1


def booked_before(customer: Customer, start: datetime, seat: int) -> dict[str, Any]:
    """A callback booked while CALLBACK_SLOT_CAPACITY was 3, in `seat`."""
    return {
        "callback_id": f"CBK-SEAT{seat}{customer.user_id}", "user_id": customer.user_id,
        "phone": customer.phone, "slot_start": start,
        "local_date": local_date(start, Hours.from_settings().zone).isoformat(), "seat": seat,
        "reason": "Refund", "status": "scheduled", "call_id": "c", "ticket_id": None,
        "assignee": None,
    }  # fmt: skip


async def scheduled_in(start: datetime) -> int:
    return await mongo.async_db().callbacks.count_documents(
        {"slot_start": start, "status": "scheduled"}
    )


@pytest.fixture
def capacity_lowered_to_two(crowd: list[Customer]) -> datetime:
    """A slot booked while the capacity was 3: #1000 still holds seat 3 (seats 1 and 2 were
    cancelled since). The capacity is 2 now (the default)."""
    start = slot(hour=12)
    mongo.sync_db().callbacks.insert_one(booked_before(crowd[0], start, seat=3))
    return start


async def test_after_the_capacity_is_lowered_a_slot_takes_only_what_is_left(
    capacity_lowered_to_two: datetime,
) -> None:
    args = {"slot_start": spoken(capacity_lowered_to_two), "reason": "Missing items"}
    day = local_date(capacity_lowered_to_two, Hours.from_settings().zone).isoformat()

    first = await booking(1001, args)
    listed = await run_tool("list_callback_slots", {"date": day}, ToolContext(user_id=1003))
    second = await booking(1002, args)

    assert first["ok"] is True
    assert args["slot_start"] not in [s["slot_start"] for s in listed["slots"]]  # full
    assert (second["ok"], second["reason"]) == (False, "slot_unavailable")
    assert second["message"].startswith("That slot has just been taken.")
    assert await scheduled_in(capacity_lowered_to_two) == 2


async def test_after_the_capacity_is_lowered_twenty_bookings_at_once_never_overfill_a_slot(
    capacity_lowered_to_two: datetime,
) -> None:
    args = {"slot_start": spoken(capacity_lowered_to_two), "reason": "Missing items"}

    results = await asyncio.gather(*(booking(1001 + n, args) for n in range(RACERS)))

    assert sum(result["ok"] for result in results) == 1
    assert [r["reason"] for r in results if not r["ok"]] == ["slot_unavailable"] * (RACERS - 1)
    assert await scheduled_in(capacity_lowered_to_two) == 2


async def test_after_the_capacity_is_lowered_a_full_slot_with_seat_one_free_takes_no_booking(
    capacity_lowered_to_two: datetime, crowd: list[Customer]
) -> None:
    """Seats 2 and 3 held: seat 1 is free, and the slot is full all the same."""
    await mongo.async_db().callbacks.insert_one(
        booked_before(crowd[1], capacity_lowered_to_two, seat=2)
    )

    result = await booking(1002, {"slot_start": spoken(capacity_lowered_to_two), "reason": "x"})

    assert (result["ok"], result["reason"]) == (False, "slot_unavailable")
    assert await scheduled_in(capacity_lowered_to_two) == 2
    assert await mongo.async_db().callbacks.count_documents({"user_id": 1002}) == 0


async def test_one_customer_booking_twenty_times_of_one_day_at_once_gets_one(
    crowd: list[Customer],
) -> None:
    first = slot(hour=9, minute=0)
    starts = [first + timedelta(minutes=30 * n) for n in range(RACERS)]  # 09:00 to 18:30

    results = await asyncio.gather(*(
        booking(1000, {"slot_start": spoken(start), "reason": "Refund"}) for start in starts
    ))  # fmt: skip

    assert sum(result["ok"] for result in results) == 1
    assert {r["reason"] for r in results if not r["ok"]} == {"already_scheduled"}
    assert await mongo.async_db().callbacks.count_documents({"user_id": 1000}) == 1


# --- The indexes that hold the rules, whoever writes -----------------------------------------


def scheduled(**fields: Any) -> dict[str, Any]:
    start = slot()
    base = {"callback_id": "CBK-X", "user_id": 1, "slot_start": start, "seat": 1,
            "local_date": "2026-12-04", "status": "scheduled"}  # fmt: skip
    return {**base, **fields}


def test_the_database_refuses_a_second_booking_of_a_seat(db: Any) -> None:
    callbacks = mongo.sync_db().callbacks
    callbacks.insert_one(scheduled(callback_id="CBK-A", user_id=1))

    with pytest.raises(DuplicateKeyError):
        callbacks.insert_one(scheduled(callback_id="CBK-B", user_id=2, local_date="2026-12-05"))


def test_the_database_refuses_a_second_booking_of_a_day(db: Any) -> None:
    callbacks = mongo.sync_db().callbacks
    callbacks.insert_one(scheduled(callback_id="CBK-A", seat=1))

    with pytest.raises(DuplicateKeyError):
        callbacks.insert_one(scheduled(callback_id="CBK-B", seat=2))


def test_callbacks_no_longer_scheduled_hold_neither_seat_nor_day(db: Any) -> None:
    callbacks = mongo.sync_db().callbacks
    for n, status in enumerate(["cancelled", "done", "missed"]):
        callbacks.insert_one(scheduled(callback_id=f"CBK-{n}", status=status))

    callbacks.insert_one(scheduled(callback_id="CBK-NEW"))

    assert callbacks.count_documents({}) == 4
