"""Call history under /staff/calls/: the list with its filters, and one call in full."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from support.models import Call, Customer

pytestmark = pytest.mark.django_db


def make_call(call_id: str, *, days_ago: float = 0, customer: Customer | None = None,
              channel: str = "web", end_reason: str = "customer_hung_up") -> Call:
    started = datetime.now(UTC) - timedelta(days=days_ago)
    return Call.objects.create(
        call_id=call_id, customer=customer, channel=channel, started_at=started,
        ended_at=started + timedelta(minutes=2), end_reason=end_reason,
    )  # fmt: skip


@pytest.fixture
def calls(priya: Customer) -> None:
    make_call("call-web-today", customer=priya)
    make_call("call-phone-old", days_ago=10, channel="phone", end_reason="error")
    make_call("call-web-3days", days_ago=3, end_reason="escalated")


def listed(client: Client, **filters: str) -> list[str]:
    response = client.get("/staff/calls/", filters)
    assert response.status_code == 200
    return [call.call_id for call in response.context["page"].rows]


def test_calls_newest_first(agent: Client, calls: None) -> None:
    assert listed(agent) == ["call-web-today", "call-priya-1", "call-web-3days", "call-phone-old"]


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"channel": "phone"}, ["call-priya-1", "call-phone-old"]),
        ({"end_reason": "escalated"}, ["call-priya-1", "call-web-3days"]),
        ({"customer": "301"}, ["call-web-today", "call-priya-1"]),
        ({"customer": "+919800000301"}, ["call-web-today", "call-priya-1"]),
        ({"since": (datetime.now(UTC) - timedelta(days=5)).date().isoformat(),
          "until": (datetime.now(UTC) - timedelta(days=2)).date().isoformat()},
         ["call-web-3days"]),
    ],
)  # fmt: skip
def test_calls_filter(filters: dict[str, str], expected: list[str], lead: Client,
                      calls: None) -> None:  # fmt: skip
    assert listed(lead, **filters) == expected


def test_a_bad_filter_is_shown_not_fatal(agent: Client, calls: None) -> None:
    response = agent.get("/staff/calls/", {"since": "yesterday-ish"})

    assert response.status_code == 200
    assert "Enter a valid date." in response.content.decode()


def test_call_page_shows_transcript_tool_timings_and_usage(
    agent: Client, priya_ticket: Any
) -> None:
    response = agent.get("/staff/calls/call-priya-1/")

    assert response.status_code == 200
    body = response.content.decode()
    for expected in [
        "My dosa was cold and soggy.", "I&#x27;m sorry, let me get a colleague.",
        "escalate_to_human", "+3.0 s", "42 ms", "&quot;ticket_id&quot;: &quot;TKT-AAAAAA&quot;",
        "prompt_token_count", "1200", "total_token_count", "1540",
        "TKT-AAAAAA",  # the ticket this call opened
    ]:  # fmt: skip
        assert expected in body, expected


def test_unknown_call_is_404(agent: Client) -> None:
    assert agent.get("/staff/calls/call-nope/").status_code == 404


def test_non_staff_cannot_see_calls(guest_client: Client, priya: Any) -> None:
    for path in ("/staff/calls/", "/staff/calls/call-priya-1/"):
        for client in (guest_client, Client()):
            response = client.get(path)
            assert response.status_code == 302 and "/admin/login/" in response["Location"]
