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


@pytest.mark.parametrize(("term", "admin_list"), [
    ("+91 98000 00301", "support/order"), ("98000 00301", "support/order"),
    ("00 00301", "support/order"), ("priya@example.com", "support/order"),
    ("+91 98000 00301", "callbacks/callback"),
])  # fmt: skip
def test_staff_who_may_not_see_customers_find_none_by_their_phone_or_email(
    priya: Customer, term: str, admin_list: str
) -> None:
    """The rows a phone finds are named: they would say whose the number is, as the staff
    pages' customer filter will not (support/staff/forms.py, customer_term)."""
    from callbacks.tests.conftest import make_callback, today_at

    make_callback(priya, today_at(18, days=1))
    watcher = staff_who_may("view_order", "view_callback")

    response = watcher.get(f"/admin/{admin_list}/", {"q": term}, follow=True)

    assert list(response.context["cl"].result_list) == []
    said = [str(message) for message in response.context["messages"]]
    assert said == ["Finding a customer by phone or email needs the right to see customers: "
                    "use their name or user id."]  # fmt: skip


@pytest.mark.parametrize("term", ["Priya", "301", "#301"])
def test_staff_who_may_not_see_customers_find_them_by_name_or_user_id(
    priya: Customer, term: str
) -> None:
    watcher = staff_who_may("view_order")

    response = watcher.get("/admin/support/order/", {"q": term})

    assert [order.order_id for order in response.context["cl"].result_list] == ["ORD-3001"]
    assert not list(response.context["messages"])


def test_staff_who_may_see_customers_find_them_by_phone(agent: Client, priya: Customer) -> None:
    response = agent.get("/admin/support/order/", {"q": "+91 98000 00301"})

    assert [order.order_id for order in response.context["cl"].result_list] == ["ORD-3001"]
