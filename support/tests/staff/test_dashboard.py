"""The /staff/ dashboard: today's and this week's calls and refunds, complaints, open tickets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from support.models import Call, Customer, Refund
from support.staff.charts import bar_chart
from support.staff.queries import dashboard, local_midnight
from support.tests.staff.conftest import make_complaint, make_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def activity(priya: Customer) -> None:
    """Two calls today (priya's from the fixture and one more), one 3 days ago, one 9 days ago;
    refunds of ₹120 today and ₹80 two days ago; complaints; open tickets."""
    today = local_midnight(timezone.now()) + timedelta(minutes=1)
    for call_id, at in [("c-today", today), ("c-3d", today - timedelta(days=3)),
                        ("c-9d", today - timedelta(days=9))]:  # fmt: skip
        Call.objects.create(call_id=call_id, channel="web", started_at=at)
    # priya's own call was 30 minutes ago: yesterday, just after midnight. Pin it to today.
    Call.objects.filter(call_id="call-priya-1").update(started_at=today + timedelta(minutes=1))
    Refund.objects.create(refund_id="RFD-T1", order_id="ORD-T1", customer=priya, amount=12_000,
                          percent=50, tier="Silver", created_at=today)  # fmt: skip
    Refund.objects.create(refund_id="RFD-T2", order_id="ORD-T2", customer=priya, amount=8_000,
                          percent=30, tier="Bronze",
                          created_at=today - timedelta(days=2))  # fmt: skip
    make_complaint("CMP-1", category="late_delivery")
    make_complaint("CMP-2", category="late_delivery", days_ago=1)
    make_complaint("CMP-3", category="hygiene")
    make_complaint("CMP-OLD", category="hygiene", days_ago=30)
    make_ticket("TKT-U1", priority="urgent", minutes_ago=125)
    make_ticket("TKT-N1", priority="normal", minutes_ago=5)
    make_ticket("TKT-C1", priority="urgent", status="claimed", assignee="meera")


def test_dashboard_figures(activity: None) -> None:
    figures = dashboard()

    assert (figures["calls_today"], figures["calls_week"]) == (2, 3)
    assert (figures["refunds_today"], figures["refunds_today_inr"]) == (1, "₹120.00")
    assert (figures["refunds_week"], figures["refunds_week_inr"]) == (2, "₹200.00")
    complaints = {bar.label: bar.display for bar in figures["complaints_chart"].bars}
    assert complaints["Late Delivery"] == "2" and complaints["Hygiene"] == "1"
    assert figures["open_total"] == 2 and figures["claimed_total"] == 1
    urgent = figures["open_tickets"][0]
    assert (urgent["priority"], urgent["count"]) == ("Urgent", 1)


def test_dashboard_page_draws_svg_charts(agent: Client, activity: None) -> None:
    response = agent.get("/staff/")

    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('<svg role="img"') == 4
    assert "Complaints by category, last 7 days" in body
    assert "₹120.00" in body and "2\xa0hours, 5\xa0minutes" in body  # oldest urgent ticket


def test_lead_sees_the_dashboard_and_guest_does_not(lead: Client, guest_client: Client) -> None:
    assert lead.get("/staff/").status_code == 200
    assert guest_client.get("/staff/").status_code == 302


def test_bars_scale_to_the_largest_value() -> None:
    chart = bar_chart("t", [("a", 10, "10"), ("b", 5, "5"), ("c", 0, "0")])

    assert [bar.width for bar in chart.bars] == [260, 130, 0]
    assert bar_chart("empty", [("a", 0, "0")]).bars[0].width == 0


def test_empty_dashboard(agent: Client, staff_groups: Any) -> None:
    response = agent.get("/staff/")

    assert response.status_code == 200
    assert response.context["calls_today"] == 0
