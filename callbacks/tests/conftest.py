"""Customers and times for the callback tests.

* asha (#101) and ravi (#202): customers with a phone number on their account;
* `slot(days_ahead, hour, minute)`: a callback slot in the support time zone, on a working day;
* staff: meera and kavya (support agents), arjun (support lead); `make_callback` for the page.

Times come from the real clock (the rules' literal-time cases are in test_slots.py), so each
test picks days that are bookable whenever it runs.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from callbacks.models import Callback
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


# --- Staff --------------------------------------------------------------------------------------
# meera and kavya are support agents, arjun a support lead. The groups are as the migrations
# left them (each test starts from that state: see the root conftest.py).

_support_groups = importlib.import_module("support.migrations.0003_staff_groups")
AGENT, LEAD = _support_groups.AGENT, _support_groups.LEAD


@pytest.fixture
def staff_groups(db: Any) -> dict[str, Group]:
    return {group.name: group for group in Group.objects.filter(name__in=[AGENT, LEAD])}


def make_user(username: str, group: Group | None = None, *, password: str | None = None) -> User:
    """A staff member in `group` (no group and not staff: a customer-side user). Without a
    password the user can only be logged in by `client_for` (and no hashing is paid for)."""
    user = User.objects.create_user(username, password=password, is_staff=group is not None)
    if group is not None:
        user.groups.add(group)
    return user


def client_for(user: User, *, enforce_csrf_checks: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    return client


@pytest.fixture
def meera(staff_groups: dict[str, Group]) -> User:
    return make_user("meera", staff_groups[AGENT])


@pytest.fixture
def kavya(staff_groups: dict[str, Group]) -> User:
    return make_user("kavya", staff_groups[AGENT])


@pytest.fixture
def arjun(staff_groups: dict[str, Group]) -> User:
    return make_user("arjun", staff_groups[LEAD])


def make_callback(
    customer: Customer,
    start: datetime,
    *,
    reason: str = "Wants to talk about a refused refund",
    status: str = "scheduled",
    seat: int = 1,
    **fields: Any,
) -> Callback:
    """A callback as schedule_callback stores it; `start` in UTC."""
    return Callback.objects.create(
        callback_id=fields.pop("callback_id", f"CBK-{customer.user_id}{seat}{start:%d%H%M}"),
        customer=customer,
        phone=customer.phone,
        slot_start=start,
        local_date=local_date(start, Hours.from_settings().zone).isoformat(),
        seat=seat,
        reason=reason,
        status=status,
        call_id="call-1",
        **fields,
    )


def today_at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    """hour:minute in the support time zone, `days` from today (any weekday), in UTC."""
    zone = Hours.from_settings().zone
    day = local_date(datetime.now(UTC), zone) + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)


def due_now() -> datetime:
    """The start of the half hour now is in, in UTC: a slot that has begun and is today (the
    support time zone's offset is a whole number of half hours)."""
    now = datetime.now(UTC)
    return now.replace(minute=now.minute - now.minute % 30, second=0, microsecond=0)
