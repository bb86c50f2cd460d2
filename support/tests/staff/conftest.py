"""Personas and data for the back-office tests in this directory.

* meera: a support agent (queue, calls, read the data);
* arjun: a support lead (also the refund tiers, minting voice tokens and their audit);
* guest: a signed-in customer-side user who is not staff.

The database is put back after each test; the `staff_groups` fixture makes the groups again
with the migrations' own functions (support's 0003 and those that add to the groups since,
realtime's 0002 and postcall's 0001 among them).

The staff browser test (one directory up) imports the few fixtures it needs from here instead:
it must not get the autouse settings, which would hold only in the test process, not in the
daphne it drives.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from support.models import (
    Call,
    Complaint,
    Customer,
    Escalation,
    EscalationNote,
    Order,
    OrderItem,
    ToolCallRecord,
    TranscriptLine,
)
from support.tests.groups import staff_groups_by

PASSWORD = "correct horse battery staple"

_groups_migration = importlib.import_module("support.migrations.0003_staff_groups")
_leads_mint_migration = importlib.import_module("realtime.migrations.0002_leads_mint_voice_tokens")
_team_migration = importlib.import_module("support.migrations.0006_leads_manage_agents")
_goodwill_migration = importlib.import_module("support.migrations.0007_goodwill")
_recordings_migration = importlib.import_module("postcall.migrations.0001_initial")
AGENT, LEAD = _groups_migration.AGENT, _groups_migration.LEAD


def as_id(value: str) -> str:
    """An id as the staff pages write it inside a sentence: in a span that keeps it on one line."""
    return f'<span class="id">{value}</span>'


@pytest.fixture(autouse=True)
def staff_test_settings(settings: Any) -> None:
    # Tests run with DEBUG off, whose manifest storage needs collectstatic; pages only need URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def staff_groups(db: Any) -> dict[str, Group]:
    groups = staff_groups_by(
        _groups_migration.create_staff_groups,
        _leads_mint_migration.grant_to_leads,
        _team_migration.grant_team_management,
        _goodwill_migration.grant_goodwill,
        _recordings_migration.grant_to_leads,
    )
    return {name: groups[name] for name in (AGENT, LEAD)}


def _user(username: str, *, staff: bool, group: Group | None = None) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=staff)
    if group is not None:
        user.groups.add(group)
    return user


@pytest.fixture
def meera(staff_groups: dict[str, Group]) -> User:
    return _user("meera", staff=True, group=staff_groups[AGENT])


@pytest.fixture
def arjun(staff_groups: dict[str, Group]) -> User:
    return _user("arjun", staff=True, group=staff_groups[LEAD])


@pytest.fixture
def guest(db: Any) -> User:
    return _user("guest", staff=False)


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def agent(meera: User) -> Client:
    return client_for(meera)


@pytest.fixture
def lead(arjun: User) -> Client:
    return client_for(arjun)


@pytest.fixture
def guest_client(guest: User) -> Client:
    return client_for(guest)


@pytest.fixture
def priya(db: Any) -> Customer:
    """A customer with one delivered order and one phone call that ended in an escalation."""
    now = datetime.now(UTC)
    priya = Customer.objects.create(
        user_id=301, name="Priya Nair", phone="+919800000301", email="priya@example.com",
        wallet_balance=25_050,
    )  # fmt: skip
    Order.objects.create(
        order_id="ORD-3001", customer=priya, restaurant="Udupi Grand",
        items=[OrderItem(name="Masala Dosa", qty=2, price=12_000)], amount=24_000,
        status="delivered", placed_at=now - timedelta(hours=2),
        delivered_at=now - timedelta(hours=1),
    )  # fmt: skip
    started = now - timedelta(minutes=30)
    Call.objects.create(
        call_id="call-priya-1", customer=priya, channel="phone", started_at=started,
        ended_at=started + timedelta(minutes=3, seconds=5), end_reason="escalated",
        transcript=[
            TranscriptLine(role="user", text="My dosa was cold and soggy.", at=started),
            TranscriptLine(role="agent", text="I'm sorry, let me get a colleague.",
                           at=started + timedelta(seconds=4)),
        ],
        tool_calls=[
            ToolCallRecord(name="escalate_to_human", args={"reason": "cold food"},
                           result={"ok": True, "ticket_id": "TKT-AAAAAA"}, ok=True,
                           started_at=started + timedelta(seconds=3), ms=42),
        ],
        usage={"prompt_token_count": 1200, "response_token_count": 340, "total_token_count": 1540},
    )  # fmt: skip
    return priya


def make_ticket(ticket_id: str, *, priority: str = "normal", minutes_ago: float = 10,
                status: str = "open", assignee: str | None = None,
                customer: Customer | None = None, **extra: Any) -> Escalation:
    return Escalation.objects.create(
        ticket_id=ticket_id, customer=customer, priority=priority, status=status,
        assignee=assignee, reason=extra.pop("reason", "Caller wants a person"),
        created_at=datetime.now(UTC) - timedelta(minutes=minutes_ago), **extra,
    )  # fmt: skip


@pytest.fixture
def priya_ticket(priya: Customer) -> Escalation:
    return make_ticket(
        "TKT-AAAAAA", priority="high", customer=priya, order_id="ORD-3001",
        call_id="call-priya-1", reason="Cold food, wants a full refund",
        notes=[EscalationNote(author="agent-bot", text="Customer sounded upset.")],
    )  # fmt: skip


def make_complaint(complaint_id: str, *, category: str = "food_quality", status: str = "open",
                   customer: Customer | None = None, days_ago: float = 0) -> Complaint:
    return Complaint.objects.create(
        complaint_id=complaint_id, customer=customer, category=category, status=status,
        description="The food was cold.", created_at=datetime.now(UTC) - timedelta(days=days_ago),
    )  # fmt: skip
