"""The admin's lists as the staff pages are: a customer's contact details only for those who
may see customers, and no per-choice counts on the big collections."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from support.models import Call, Customer, Escalation
from support.tests.staff.conftest import client_for

pytestmark = pytest.mark.django_db

PHONE, PAGE = "+91 98000 00301", "/staff/customers/301/"


def staff_who_may(*codenames: str) -> Client:
    """A colleague with these permissions alone (a live-calls watcher, say)."""
    user = User.objects.create_user("watcher", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return client_for(user)


def pages(priya_ticket: Escalation) -> list[str]:
    call = Call.objects.get(call_id="call-priya-1")
    return ["/admin/support/call/", f"/admin/support/call/{call.pk}/change/",
            "/admin/support/escalation/", f"/admin/support/escalation/{priya_ticket.pk}/change/"]


def test_staff_who_may_not_see_customers_read_their_names_alone(
    priya: Customer, priya_ticket: Escalation
) -> None:
    watcher = staff_who_may("view_call", "view_escalation", "monitor_call")

    for path in pages(priya_ticket):
        body = watcher.get(path).content.decode()
        assert "Priya Nair" in body, path
        assert PHONE not in body and PAGE not in body, path  # a page that would answer 403


def test_staff_who_may_see_customers_read_their_phone_and_page(
    agent: Client, priya: Customer, priya_ticket: Escalation
) -> None:
    for path in pages(priya_ticket):
        body = agent.get(path).content.decode()
        assert PHONE in body and PAGE in body, path


BIG_LISTS = ["support/order", "support/refund", "support/complaint", "support/escalation",
             "support/call", "support/customer", "support/goodwill", "callbacks/callback"]


@pytest.mark.parametrize("path", BIG_LISTS)
def test_big_lists_count_no_filter_choices(path: str, db: Any, priya: Customer) -> None:
    # Each choice's count reads every row: at 10,000 calls "Show counts" ran past the page's
    # database time (a 503).
    root = client_for(User.objects.create_superuser("root"))

    response = root.get(f"/admin/{path}/", {"_facets": "True"})

    assert response.status_code == 200
    assert response.context["cl"].add_facets is False
    assert "Show counts" not in response.content.decode()
