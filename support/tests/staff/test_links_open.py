"""A link on a staff page opens for whoever reads the page: none that answers 403.

Each page is read by someone holding only what that page needs, and every link of the back
office on it (staff pages, the admin's data pages) is followed.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from support import goodwill
from support.models import Customer, Escalation
from support.tests.staff.conftest import client_for, make_complaint

pytestmark = pytest.mark.django_db

LINK = re.compile(r'href="(/(?:staff|admin/support)/[^"]*)"')


def reader(*codenames: str) -> Client:
    """A member of staff holding only `codenames` (of support's permissions)."""
    user = User.objects.create_user("reader", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="support",
                                                        codename__in=codenames))  # fmt: skip
    return client_for(user)


def refused_links(client: Client, page: str) -> list[str]:
    response = client.get(page)
    assert response.status_code == 200, page
    links = {html.unescape(href) for href in LINK.findall(response.content.decode())}
    return sorted(link for link in links if client.get(link).status_code == 403)


@pytest.fixture
def priyas_records(priya_ticket: Escalation, priya: Customer) -> None:
    make_complaint("CMP-PRIYA1", customer=priya)


def test_the_customer_page_links_only_to_what_its_reader_may_open(
    priyas_records: None, staff_groups: Any
) -> None:
    """Its calls, orders, tickets and complaints are listed to whoever may view customers; the
    pages they link to each need their own permission."""
    assert refused_links(reader("view_customer"), "/staff/customers/301/") == []


def test_the_queue_links_only_to_what_its_reader_may_open(
    priyas_records: None, staff_groups: Any
) -> None:
    """A ticket's order was a link to the search, which needs the customers' permission."""
    assert refused_links(reader("view_escalation"), "/staff/queue/") == []


def test_the_dashboard_links_only_to_what_its_reader_may_open(
    priya: Customer, staff_groups: Any
) -> None:
    """The goodwill waiting for a lead was a link to the admin's goodwill list."""
    goodwill.propose(goodwill.Request("credit", priya.user_id, 10_000, "Rider was rude", None,
                                      "key-1"), "meera")  # fmt: skip
    client = reader("view_escalation")

    assert "waiting for a lead to approve" in client.get("/staff/").content.decode()
    assert refused_links(client, "/staff/") == []


def test_the_call_page_links_only_to_what_its_reader_may_open(
    priyas_records: None, staff_groups: Any
) -> None:
    """The tickets the call opened were links to ticket pages, which need the tickets'
    permission."""
    client = reader("view_call")

    assert "TKT-AAAAAA" in client.get("/staff/calls/call-priya-1/").content.decode()
    assert refused_links(client, "/staff/calls/call-priya-1/") == []
