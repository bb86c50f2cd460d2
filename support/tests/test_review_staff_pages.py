# The staff fixtures are imported (this file is not under their conftest), then named.
# ruff: noqa: F811
"""Review of the staff pages: the CSV exports in the pages' words, and the queue's actions
coming back to the page (and filters) they were taken from."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from support.models import Customer
from support.mongo import sync_db
from support.staff.queries import PAGE_SIZE
from support.tests.staff.conftest import (  # noqa: F401  (fixtures, and helpers)
    agent,
    client_for,
    make_ticket,
    meera,
    priya,
    staff_groups,
    staff_test_settings,
)
from support.tests.staff.test_dashboard import export

pytestmark = pytest.mark.django_db


# --- CSV exports --------------------------------------------------------------------------------


def test_the_tickets_export_gives_priority_and_status_as_the_pages_word_them(
    agent: Client,
) -> None:
    make_ticket("TKT-HIGH01", priority="high")
    make_ticket("TKT-URGC01", priority="urgent", status="claimed", assignee="meera")

    rows = export(agent, "tickets")

    header, by_id = rows[0], {row[0]: row for row in rows[1:]}
    assert header[2:4] == ["priority", "status"]
    assert by_id["TKT-HIGH01"][2:4] == ["High", "Open"]
    assert by_id["TKT-URGC01"][2:4] == ["Urgent", "Claimed"]


def test_the_calls_export_gives_the_channel_as_the_pages_word_it(
    agent: Client, priya: Customer
) -> None:
    now = datetime.now(UTC)
    for call_id, channel in (("c-web", "web"), ("c-phone", "phone")):
        sync_db().calls.insert_one({
            "call_id": call_id, "user_id": 301, "channel": channel, "started_at": now,
            "ended_at": now + timedelta(seconds=30), "transcript": [], "tool_calls": [],
        })  # fmt: skip

    rows = export(agent, "calls")

    assert rows[0][4] == "channel"
    channels = {row[0]: row[4] for row in rows[1:]}
    assert (channels["c-web"], channels["c-phone"]) == ("Web", "Phone")


# --- The queue's actions ------------------------------------------------------------------------


def _claim_forms(body: str) -> dict[str, str]:
    """Each claim form's ticket and the `next` it sends."""
    found = re.findall(r'action="/staff/tickets/([^/"]+)/claim">.*?name="next" value="([^"]*)"',
                       body, re.S)  # fmt: skip
    return {ticket: value.replace("&amp;", "&") for ticket, value in found}


def test_claiming_from_the_queues_second_page_comes_back_to_that_page(agent: Client) -> None:
    for n in range(PAGE_SIZE + 3):
        make_ticket(f"TKT-P{n:05d}", minutes_ago=500 - n)

    second = agent.get("/staff/queue/", {"page": "2"})
    forms = _claim_forms(second.content.decode())
    ticket = next(iter(forms))
    response = agent.post(f"/staff/tickets/{ticket}/claim", {"next": forms[ticket]})

    assert response.status_code == 302
    assert response["Location"] == "/staff/queue/?page=2"


def test_the_rows_the_live_queue_fetches_send_an_action_back_to_the_page_not_the_rows(
    agent: Client,
) -> None:
    for n in range(PAGE_SIZE + 3):
        make_ticket(f"TKT-R{n:05d}", minutes_ago=500 - n)

    rows = agent.get("/staff/queue/", {"page": "2", "rows": "1"}).content.decode()

    assert set(_claim_forms(rows).values()) == {"/staff/queue/?page=2"}
