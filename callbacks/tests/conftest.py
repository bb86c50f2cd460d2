"""Customers and times for the callback tests.

* asha (#101) and ravi (#202): customers with a phone number on their account;
* `slot(days_ahead, hour, minute)`: a callback slot in the support time zone, on a working day.

Times come from the real clock (the rules' literal-time cases are in test_slots.py), so each
test picks days that are bookable whenever it runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callbacks.slots import Hours, local_date, local_iso
from support.models import Customer


def slot(days_ahead: int = 2, hour: int = 10, minute: int = 30) -> datetime:
    """The slot at hour:minute local time, `days_ahead` days from today or the first working
    day after that; in UTC."""
    hours = Hours.from_settings()
    day = local_date(datetime.now(UTC), hours.zone) + timedelta(days=days_ahead)
    while day.weekday() not in hours.weekdays:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=hours.zone).astimezone(UTC)


def spoken(start: datetime) -> str:
    """`start` as list_callback_slots gives it (what the model passes back)."""
    return local_iso(start, Hours.from_settings().zone)


def make_customer(user_id: int, name: str) -> Customer:
    return Customer.objects.create(
        user_id=user_id, name=name, phone=f"+9198000{user_id:05d}", email=f"{user_id}@example.com"
    )


@pytest.fixture
def asha(db: Any) -> Customer:
    return make_customer(101, "Asha Verma")


@pytest.fixture
def ravi(db: Any) -> Customer:
    return make_customer(202, "Ravi Kumar")


@pytest.fixture
def meena(db: Any) -> Customer:
    return make_customer(303, "Meena Iyer")
