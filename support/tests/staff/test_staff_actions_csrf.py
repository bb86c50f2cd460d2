"""Every change a staff member makes is a POST that carries the page's CSRF token: another site
cannot make a signed-in lead's browser claim, resolve, credit, dial or sign out, and a link
(a GET) changes nothing."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from support.models import Escalation

pytestmark = pytest.mark.django_db

ACTIONS = [
    "/staff/tickets/TKT-AAAAAA/claim",
    "/staff/tickets/TKT-AAAAAA/assign",
    "/staff/tickets/TKT-AAAAAA/note",
    "/staff/tickets/TKT-AAAAAA/resolve",
    "/staff/customers/301/goodwill",
    "/staff/goodwill/GW-000001/approve",
    "/staff/goodwill/GW-000001/reject",
    "/staff/callbacks/CBK-000001/claim",
    "/staff/callbacks/CBK-000001/release",
    "/staff/callbacks/CBK-000001/done",
    "/staff/callbacks/CBK-000001/missed",
    "/staff/callbacks/CBK-000001/call",
    "/staff/calls/call-priya-1/summary",
    "/admin/logout/",
]


def browser_of(user: User) -> Client:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    return browser


@pytest.fixture
def root(db: object) -> User:
    """May do everything, so that only the missing token can refuse a change."""
    return User.objects.create_superuser("root", "root@example.com", "not-used")


def test_a_change_without_the_pages_csrf_token_is_refused(
    root: User, priya_ticket: Escalation
) -> None:
    lead = browser_of(root)

    answers = {path: lead.post(path, {"note": "x", "text": "x"}) for path in ACTIONS}

    refused = {path: (r.status_code, b"CSRF verification failed" in r.content)
               for path, r in answers.items()}  # fmt: skip
    assert refused == dict.fromkeys(ACTIONS, (403, True))
    priya_ticket.refresh_from_db()
    assert (priya_ticket.status, priya_ticket.assignee) == ("open", None)
    assert lead.get("/staff/queue/").status_code == 200  # still signed in


def test_a_link_to_a_change_changes_nothing(root: User, priya_ticket: Escalation) -> None:
    lead = browser_of(root)

    answers = {path: lead.get(path).status_code for path in ACTIONS}

    assert answers == dict.fromkeys(ACTIONS, 405)
    priya_ticket.refresh_from_db()
    assert priya_ticket.status == "open"


def test_the_pages_own_form_with_its_token_does_the_change(
    arjun: User, priya_ticket: Escalation
) -> None:
    lead = browser_of(arjun)
    page = lead.get("/staff/tickets/TKT-AAAAAA/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None

    done = lead.post("/staff/tickets/TKT-AAAAAA/claim", {"csrfmiddlewaretoken": token[1]})

    assert done.status_code == 302
    priya_ticket.refresh_from_db()
    assert (priya_ticket.status, priya_ticket.assignee) == ("claimed", "arjun")
