"""One value, one wording, on every staff page: a complaint's category and status, and when a
ticket was resolved, read the same on the dashboard, the customer page and the queues as in
the conversation lines (support/staff/conversation.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils.html import strip_tags

from support.models import Customer, Escalation
from support.tests.staff.conftest import make_complaint, make_ticket

pytestmark = pytest.mark.django_db


def test_the_dashboard_names_complaint_categories_as_the_customer_page_does(
    agent: Client, priya: Customer
) -> None:
    """Django's default labels capitalise each word ("Missing Items"); the customer page and
    the call's lines say "Missing items": the dashboard's chart said it Django's way."""
    make_complaint("CMP-W1", category="missing_items", customer=priya)
    make_complaint("CMP-W2", category="food_quality", customer=priya)

    dashboard = strip_tags(agent.get("/staff/").content.decode())
    customer = strip_tags(agent.get(f"/staff/customers/{priya.user_id}/").content.decode())

    for label in ("Missing items", "Food quality", "Late delivery", "Wrong order"):
        assert label in dashboard, label
    assert "Missing items" in customer and "Food quality" in customer
    for title_case in ("Missing Items", "Food Quality", "Late Delivery", "Wrong Order"):
        assert title_case not in dashboard, title_case


def test_the_customer_page_says_a_complaint_in_review_in_sentence_case(
    agent: Client, priya: Customer
) -> None:
    """ "Missing items · In Review · filed …": the status read as a title among the line's
    lower-case words; the page says each other status as a word in a sentence."""
    make_complaint("CMP-W3", category="missing_items", status="in_review", customer=priya)

    customer = strip_tags(agent.get(f"/staff/customers/{priya.user_id}/").content.decode())

    assert "Missing items · In review · filed" in customer
    assert "In Review" not in customer


def test_the_resolved_queue_says_the_year_as_every_other_timestamp_does(lead: Client) -> None:
    """Every other date and time on the staff pages carries its year ("7 Dec 2026, 18:14"); the
    resolved list goes back to the first ticket, and its "3 Dec, 09:31" read as this
    December's for a ticket resolved a year before."""
    resolved_at = datetime(2025, 12, 3, 4, 1, tzinfo=UTC)  # 09:31 in Kolkata
    make_ticket("TKT-OLD001", status="resolved", assignee="arjun", resolved_at=resolved_at)
    Escalation.objects.filter(ticket_id="TKT-OLD001").update(
        created_at=resolved_at - timedelta(minutes=90))  # fmt: skip

    body = strip_tags(lead.get("/staff/queue/resolved/").content.decode())

    assert "3 Dec 2025, 09:31" in body
