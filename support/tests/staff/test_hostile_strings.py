"""What customers say and type reaches staff as text, never as markup.

Names and emails come from the host application's import, restaurants and items from its
orders, and everything else from callers: what they said (the transcript), what the model made
of it (tool arguments, ticket reasons, complaint descriptions, summaries). Each page of the
back office and of the admin shows them escaped; the Content-Security-Policy would stop an
inline script anyway, but markup that is not run (a form, an image, a link) would still work.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from support import mongo
from support.models import (
    Call,
    Complaint,
    Customer,
    EscalationNote,
    Order,
    OrderItem,
    ToolCallRecord,
    TranscriptLine,
)
from support.tests.staff.conftest import make_ticket

pytestmark = pytest.mark.django_db

MARKUP = '"><img src=x onerror=alert(1)><script>alert(2)</script><a href="javascript:alert(3)">'
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture
def hostile(db: Any) -> dict[str, Any]:
    """A customer whose every field a person or the model wrote holds markup."""
    now = datetime.now(UTC)
    customer = Customer.objects.create(
        user_id=666, name=f"Mallory {MARKUP}", phone="+919800000666", email="m@example.com"
    )
    Customer.objects.create(user_id=667, name=f"Mallory Too {MARKUP}", phone="+919800000667")
    order = Order.objects.create(
        order_id="ORD-<b>666</b>", customer=customer, restaurant=f"Diner {MARKUP}",
        items=[OrderItem(name=MARKUP, qty=1, price=10_000)], amount=10_000, status="delivered",
        placed_at=now - timedelta(hours=2), delivered_at=now - timedelta(hours=1),
    )  # fmt: skip
    started = now - timedelta(minutes=20)
    call = Call.objects.create(
        call_id="call-hostile", customer=customer, channel="web", started_at=started,
        ended_at=started + timedelta(minutes=2), end_reason="caller_hung_up",
        transcript=[TranscriptLine(role="user", text=f"Hello {MARKUP}", at=started),
                    TranscriptLine(role="agent", text=MARKUP, at=started + timedelta(seconds=3))],
        tool_calls=[ToolCallRecord(
            name="file_complaint", args={"description": MARKUP, MARKUP: "key"},
            result={"ok": False, "reason": "invalid_argument", "message": MARKUP}, ok=False,
            started_at=started + timedelta(seconds=2), ms=12,
        )],
    )  # fmt: skip
    mongo.sync_db().calls.update_one({"call_id": "call-hostile"}, {"$set": {
        "outcome": "complaint_filed",
        "summary": {"text": MARKUP, "sentiment": "negative", "resolved": False,
                    "follow_up": MARKUP, "source": "model"},
    }})  # fmt: skip
    ticket = make_ticket(
        "TKT-EVIL01", customer=customer, order_id=order.order_id, call_id=call.call_id,
        reason=MARKUP, notes=[EscalationNote(author="agent-bot", text=MARKUP)],
    )
    complaint = Complaint.objects.create(
        complaint_id="CMP-EVIL01", customer=customer, order_id=order.order_id,
        category="other", description=MARKUP, call_id=call.call_id, created_at=now,
    )  # fmt: skip
    return {"customer": customer, "order": order, "call": call, "ticket": ticket,
            "complaint": complaint}  # fmt: skip


def admin_pages(objects: dict[str, Any]) -> list[str]:
    pages = []
    for model in ("customer", "order", "call", "escalation", "complaint"):
        found = objects["ticket" if model == "escalation" else model]
        pages.append(reverse(f"admin:support_{model}_changelist"))
        pages.append(reverse(f"admin:support_{model}_change", args=[found.pk]))
    return pages


def test_markup_from_customers_is_shown_as_text_on_every_page(
    lead: Client, hostile: dict[str, Any]
) -> None:
    pages = [
        "/staff/", "/staff/customers/666/", "/staff/calls/", "/staff/calls/call-hostile/",
        "/staff/tickets/TKT-EVIL01/", "/staff/queue/", "/staff/queue/?rows=1",
        "/staff/search/?q=Mallory", *admin_pages(hostile),
    ]  # fmt: skip

    bodies = {page: lead.get(page) for page in pages}

    assert {page: r.status_code for page, r in bodies.items()} == dict.fromkeys(pages, 200)
    for page, response in bodies.items():
        body = response.content.decode()
        for markup in ("<img src=x", "<script>alert(2)", '<a href="javascript:', "<b>666</b>"):
            assert markup not in body, (page, markup)
    shown = ("/staff/customers/666/", "/staff/calls/call-hostile/", "/staff/tickets/TKT-EVIL01/")
    for page in shown:
        assert ESCAPED in bodies[page].content.decode(), page  # there, as text


def test_markup_searched_for_is_shown_as_text(lead: Client, hostile: dict[str, Any]) -> None:
    response = lead.get("/staff/search/", {"q": f"nobody {MARKUP}"})

    assert response.status_code == 200
    assert "<img src=x" not in response.content.decode()
