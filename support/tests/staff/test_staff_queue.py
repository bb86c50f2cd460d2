"""The escalation queue under /staff/: pages, actions, one winner per claim, live updates."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from django.utils import timezone
from pymongo.errors import ServerSelectionTimeoutError

from support import escalations
from support.events import ESCALATIONS_GROUP, announce_escalation
from support.models import Escalation
from support.mongo import sync_db
from support.staff import sockets
from support.staff.forms import new_request_key
from support.staff.routing import staff_websocket_urlpatterns
from support.tests.staff.conftest import as_id, client_for, make_ticket
from support.tests.staff.test_dashboard import export_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def status_of(ticket_id: str) -> tuple[str, str | None]:
    ticket = Escalation.objects.get(ticket_id=ticket_id)
    return ticket.status, ticket.assignee


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- Pages ------------------------------------------------------------------------------------


def test_open_queue_lists_most_urgent_first_then_oldest(agent: Client) -> None:
    make_ticket("TKT-LOW001", priority="low", minutes_ago=300)
    make_ticket("TKT-NRM001", priority="normal", minutes_ago=20)
    make_ticket("TKT-URG001", priority="urgent", minutes_ago=5)
    make_ticket("TKT-NRM002", priority="normal", minutes_ago=90)
    make_ticket("TKT-CLM001", priority="urgent", status="claimed", assignee="arjun")

    response = agent.get("/staff/queue/")

    assert response.status_code == 200
    ids = [t.ticket_id for t in response.context["page"].rows]
    assert ids == ["TKT-URG001", "TKT-NRM002", "TKT-NRM001", "TKT-LOW001"]
    body = response.content.decode()
    assert "1\xa0hour, 30\xa0minutes" in body  # the age of TKT-NRM002
    assert 'src="/static/staff/queue.js"' in body and "<script>" not in body


def test_tickets_resolved_at_the_same_moment_are_paged_in_one_fixed_order(
    agent: Client
) -> None:
    """An admin action resolves a selection at one instant. Pages are read with skip/limit,
    and MongoDB promises no order among equal sort keys: the tickets' own keys settle it (the
    last stored first), so that no page repeats or misses one."""
    resolved_at = datetime.now(UTC) - timedelta(hours=1)
    for n in range(60):
        make_ticket(f"TKT-SAME{n:02d}", status="resolved", assignee="meera",
                    minutes_ago=120 + (n * 37) % 60, resolved_at=resolved_at)  # fmt: skip

    first = agent.get("/staff/queue/resolved/").context["page"]
    second = agent.get("/staff/queue/resolved/", {"page": "2"}).context["page"]

    listed = [t.ticket_id for t in first.rows + second.rows]
    assert listed == [f"TKT-SAME{n:02d}" for n in reversed(range(60))]


def test_a_ticket_opened_moments_ago_has_waited_under_a_minute_not_0_minutes(
    agent: Client
) -> None:
    ticket = make_ticket("TKT-NEW001", priority="urgent", minutes_ago=0.2)

    queue = agent.get("/staff/queue/").content.decode()
    page = agent.get(f"/staff/tickets/{ticket.ticket_id}/").content.decode()

    assert "<span data-age>under a minute</span>" in queue
    assert "(waiting under a minute)" in page
    assert "0\xa0minutes" not in queue + page


def test_who_holds_a_ticket_is_named_as_colleagues_know_them(agent: Client, arjun: User) -> None:
    """The live briefing on the same row says "Arjun Mehta joined it": not "arjun" beside it."""
    User.objects.filter(username="arjun").update(first_name="Arjun", last_name="Mehta")
    make_ticket("TKT-HELD01", status="claimed", assignee="arjun")
    make_ticket("TKT-GONE01", status="claimed", assignee="someone-who-left")

    claimed = agent.get("/staff/queue/claimed/").content.decode()
    page = agent.get("/staff/tickets/TKT-HELD01/").content.decode()

    assert '<td data-label="Assignee">Arjun Mehta</td>' in claimed
    assert '<td data-label="Assignee">someone-who-left</td>' in claimed  # no longer staff
    assert "held by <b>Arjun Mehta</b>" in page


def test_the_live_queue_can_name_who_claimed_a_ticket(agent: Client, arjun: User) -> None:
    """A claim arrives as a username ("Ticket TKT-… claimed by arjun."): the page names them."""
    User.objects.filter(username="arjun").update(first_name="Arjun", last_name="Mehta")

    page = agent.get("/staff/queue/").content.decode()

    names = re.search(r'<script id="staff-names" type="application/json">(.*?)</script>', page)
    assert names and json.loads(names.group(1))["arjun"] == "Arjun Mehta"


def test_a_notes_author_is_named_as_colleagues_know_them(agent: Client, arjun: User) -> None:
    User.objects.filter(username="arjun").update(first_name="Arjun", last_name="Mehta")
    make_ticket("TKT-NOTE01")
    escalations.add_note("TKT-NOTE01", "arjun", "Called the restaurant")
    escalations.add_note("TKT-NOTE01", "someone-who-left", "Customer rang again")

    page = agent.get("/staff/tickets/TKT-NOTE01/").content.decode()

    assert '<div class="note"><b>Arjun Mehta</b>' in page
    assert '<div class="note"><b>someone-who-left</b>' in page  # no longer staff
    assert [note.author for note in Escalation.objects.get(ticket_id="TKT-NOTE01").notes] == [
        "arjun", "someone-who-left"]


def test_a_ticket_stored_with_a_failure_code_in_its_reason_shows_it_in_words(
    agent: Client, priya: Any
) -> None:
    """Tickets opened before the bridge worded its failures kept the code ("(stalled)"): the
    pages word it as a new ticket would be; the ticket keeps what was stored."""
    old = "The voice agent became unavailable during the call (upstream_unavailable)."
    make_ticket("TKT-OLD001", customer=priya, reason=old)
    make_ticket("TKT-OLD002", customer=priya, minutes_ago=20,
                reason="The voice agent became unavailable during the call (stalled).")
    make_ticket("TKT-OLD003", customer=priya, minutes_ago=30,
                reason="The voice agent became unavailable during the call (gone_fishing).")

    pages = {path: agent.get(path).content.decode() for path in (
        "/staff/queue/", "/staff/tickets/TKT-OLD001/", "/staff/customers/301/")}  # fmt: skip
    pages["/staff/export/tickets.csv"] = export_bytes(agent, "tickets").decode("utf-8-sig")

    for path, body in pages.items():
        assert "(the AI service stopped answering)." in body, path
        assert "upstream_unavailable" not in body, path
    for path in ("/staff/queue/", "/staff/customers/301/", "/staff/export/tickets.csv"):
        assert "(the AI service stalled and did not come back)." in pages[path], path
        assert "The voice agent became unavailable during the call." in pages[path], path
        assert "(stalled)" not in pages[path] and "gone_fishing" not in pages[path], path
    assert Escalation.objects.get(ticket_id="TKT-OLD001").reason == old


def test_a_tickets_dates_give_the_year_as_the_customer_page_does(
    agent: Client, priya_ticket: Escalation
) -> None:
    """"opened 5 Dec, 10:00" beside the customer page's "4 Dec 2026, 23:35": the year too."""
    escalations.add_note(priya_ticket.ticket_id, "arjun", "Called the restaurant")
    opened = timezone.localtime(priya_ticket.created_at)

    page = agent.get(f"/staff/tickets/{priya_ticket.ticket_id}/").content.decode()

    assert f"opened {opened.day} {opened:%b %Y, %H:%M}" in page
    assert "Open the call" in page and "ORD-3001" in page  # their dates are on the page too
    assert re.findall(r"\b\d{1,2} [A-Z][a-z]{2}, \d\d:\d\d", page) == []  # none without a year


def test_claimed_queue_can_show_only_mine(agent: Client) -> None:
    make_ticket("TKT-MINE01", status="claimed", assignee="meera")
    make_ticket("TKT-THEIRS", status="claimed", assignee="arjun")

    everyone = agent.get("/staff/queue/claimed/")
    mine = agent.get("/staff/queue/claimed/?mine=1")

    assert {t.ticket_id for t in everyone.context["page"].rows} == {"TKT-MINE01", "TKT-THEIRS"}
    assert [t.ticket_id for t in mine.context["page"].rows] == ["TKT-MINE01"]


@pytest.mark.parametrize("queue, status", [("", "open"), ("resolved/", "resolved")])
def test_only_the_claimed_queue_filters_to_mine_as_only_it_says_so(
    queue: str, status: str, agent: Client
) -> None:
    # Open tickets have nobody's name on them: "Mine" by hand said "No tickets here."
    make_ticket("TKT-THEIRS", status=status, assignee="arjun" if status == "resolved" else None,
                resolved_at=timezone.now() if status == "resolved" else None)  # fmt: skip

    response = agent.get(f"/staff/queue/{queue}?mine=1")

    assert [t.ticket_id for t in response.context["page"].rows] == ["TKT-THEIRS"]
    assert "Mine" not in response.content.decode()


def test_only_an_unclaimed_ticket_can_be_waiting_too_long(agent: Client) -> None:
    make_ticket("TKT-OLD001", minutes_ago=600)
    make_ticket("TKT-OLD002", status="claimed", assignee="meera", minutes_ago=600)

    waiting = agent.get("/staff/queue/").content.decode()
    worked_on = agent.get("/staff/queue/claimed/").content.decode()

    assert "waiting too long" in waiting and 'data-overdue-after="900"' in waiting
    assert "waiting too long" not in worked_on and 'data-overdue-after="0"' in worked_on
    assert "<th>Open for</th>" in worked_on  # since it was opened, not waiting for anyone


def test_the_resolved_queue_says_when_each_ticket_was_resolved(lead: Client) -> None:
    """Newest resolved first: each row says when (in the support time zone), then how long
    it took, so a lead can tell this morning's from last week's."""
    resolved_at = datetime(2026, 11, 19, 4, 43, tzinfo=UTC)  # 10:13 in Kolkata
    make_ticket("TKT-DONE02", status="resolved", assignee="arjun", resolved_at=resolved_at)
    Escalation.objects.filter(ticket_id="TKT-DONE02").update(
        created_at=resolved_at - timedelta(minutes=90))  # fmt: skip

    body = lead.get("/staff/queue/resolved/").content.decode()

    assert "<th>Resolved</th>" in body
    assert ('<td data-label="Resolved">19 Nov 2026, 10:13 <span class="quiet">(took 1\xa0hour, '
            '30\xa0minutes)</span></td>') in body


def test_resolved_queue_and_unknown_queue(lead: Client) -> None:
    make_ticket("TKT-DONE01", status="resolved", assignee="arjun")

    assert [t.ticket_id for t in lead.get("/staff/queue/resolved/").context["page"].rows] == [
        "TKT-DONE01"
    ]
    assert lead.get("/staff/queue/nonsense/").status_code == 404


def test_queue_pages_without_counting(agent: Client) -> None:
    for n in range(53):
        make_ticket(f"TKT-P{n:05d}", minutes_ago=n)

    first = agent.get("/staff/queue/").context["page"]
    second = agent.get("/staff/queue/?page=2").context["page"]

    assert (len(first.rows), first.has_next) == (50, True)
    assert (len(second.rows), second.has_next) == (3, False)


def test_a_queue_of_one_page_shows_no_pager_and_one_of_two_does(agent: Client) -> None:
    make_ticket("TKT-ONLY01")
    alone = agent.get("/staff/queue/").content.decode()
    for n in range(50):
        make_ticket(f"TKT-P{n:05d}", minutes_ago=n)
    first = agent.get("/staff/queue/").content.decode()
    second = agent.get("/staff/queue/?page=2").content.decode()

    assert 'class="pager"' not in alone and "Page 1" not in alone
    assert "Page 1" in first and "next page →" in first
    assert "Page 2" in second and "← previous page" in second


def test_a_queue_page_emptied_by_claims_says_so_not_that_the_queue_is_empty(
    agent: Client,
) -> None:
    make_ticket("TKT-LEFT01")  # the others on page 1 were claimed since page 2 was opened

    for path in ("/staff/queue/?page=2", "/staff/queue/?page=2&rows=1"):
        body = agent.get(path).content.decode()

        assert "No tickets here." not in body, path
        assert 'No tickets on this page. <a href="?">Back to the first page</a>' in body, path
    mine = agent.get("/staff/queue/claimed/?mine=1&page=2").content.decode()
    assert '<a href="?mine=1">Back to the first page</a>' in mine


def test_ticket_page_shows_customer_order_call_and_notes(agent: Client, priya_ticket: Any) -> None:
    response = agent.get("/staff/tickets/TKT-AAAAAA/")

    assert response.status_code == 200
    body = response.content.decode()
    for expected in [
        "Priya Nair", "+91 98000 00301", "₹250.50",  # profile, wallet in rupees
        "Cold food, wants a full refund",  # why
        "ORD-3001", "Udupi Grand", "₹240.00", "Delivered",  # the order
        # What the agent did (its id kept on one line).
        f"Escalated to a person (Normal): ticket {as_id('TKT-AAAAAA')}",
        "My dosa was cold and soggy.", "42 ms",  # the call
        "Customer sounded upset.",  # the notes
        "csrfmiddlewaretoken",
    ]:  # fmt: skip
        assert expected in body, expected


def test_the_ticket_page_shows_the_call_only_to_staff_who_may_see_calls(
    staff_groups: Any, priya_ticket: Any
) -> None:
    from django.contrib.auth.models import Permission

    reader = User.objects.create_user("reader", password="x", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_escalation"))

    body = client_for(reader).get("/staff/tickets/TKT-AAAAAA/").content.decode()

    assert "Cold food, wants a full refund" in body  # the ticket itself
    assert "My dosa was cold and soggy." not in body  # not the caller's words
    assert "Escalated to a person (Normal)" not in body
    assert "You need permission to view calls to read this call." in body


def _reader(*codenames: str) -> Client:
    """Staff holding only these permissions (view_escalation among them)."""
    from django.contrib.auth.models import Permission

    reader = User.objects.create_user("reader", password="x", is_staff=True)
    reader.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return client_for(reader)


def test_the_ticket_page_shows_a_customers_details_only_to_staff_who_may_see_customers(
    staff_groups: Any, priya_ticket: Any
) -> None:
    """Working a ticket needs the customer's name; their phone, email and wallet are for
    staff who may view customers (as the exports, which name customers, are)."""
    body = _reader("view_escalation", "view_order").get("/staff/tickets/TKT-AAAAAA/")
    page = body.content.decode()

    assert "Priya Nair" in page
    for private in ("+91 98000 00301", "priya@example.com", "₹250.50", "/staff/customers/301/"):
        assert private not in page, private
    assert "You need permission to view customers to see their contact details" in page
    assert "Udupi Grand" in page  # the ticket's order: orders may be seen


def test_the_ticket_page_shows_orders_only_to_staff_who_may_see_orders(
    staff_groups: Any, priya_ticket: Any
) -> None:
    page = _reader("view_escalation", "view_customer").get("/staff/tickets/TKT-AAAAAA/")
    body = page.content.decode()

    assert "Priya Nair" in body and "₹250.50" in body  # the customer may be seen
    assert "ORD-3001" in body  # the ticket names it
    assert "Udupi Grand" not in body and "₹240.00" not in body
    assert "/admin/support/order/" not in body
    assert "You need permission to view orders to see them." in body


def test_the_queue_names_customers_without_their_phone_to_staff_who_may_not_see_customers(
    staff_groups: Any, priya_ticket: Any
) -> None:
    body = _reader("view_escalation").get("/staff/queue/").content.decode()

    assert "Priya Nair" in body
    assert "+91 98000 00301" not in body and "/staff/customers/301/" not in body


def test_a_claimed_tickets_page_says_how_long_it_has_been_open_not_waiting(
    agent: Client
) -> None:
    make_ticket("TKT-HELD01", status="claimed", assignee="meera", minutes_ago=12)
    make_ticket("TKT-OPEN01", minutes_ago=12)

    held = agent.get("/staff/tickets/TKT-HELD01/").content.decode()
    waiting = agent.get("/staff/tickets/TKT-OPEN01/").content.decode()

    assert "(open for 12\xa0minutes)" in held and "(waiting" not in held
    assert "(waiting 12\xa0minutes)" in waiting


def test_the_queue_rows_alone_for_the_live_page(agent: Client, priya_ticket: Any) -> None:
    make_ticket("TKT-URG002", priority="urgent", minutes_ago=1)

    response = agent.get("/staff/queue/", {"rows": "1"})

    body = response.content.decode()
    assert body.lstrip().startswith("<tbody data-queue-rows>") and "<html" not in body
    assert body.index("TKT-URG002") < body.index("TKT-AAAAAA")  # urgent before high
    assert body.count('action="/staff/tickets/') == 2 and "csrfmiddlewaretoken" in body


def test_a_ticket_never_shows_another_customers_order(agent: Client, priya_ticket: Any) -> None:
    from support.models import Customer
    from support.tests.conftest import make_order

    ravi = Customer.objects.create(user_id=202, name="Ravi Kumar", phone="+919800000202")
    make_order(ravi, "ORD-RAVI1", status="delivered", amount=9_900, placed_hours_ago=3)
    Escalation.objects.filter(ticket_id="TKT-AAAAAA").update(order_id="ORD-RAVI1")

    body = agent.get("/staff/tickets/TKT-AAAAAA/").content.decode()

    assert f"{as_id('ORD-RAVI1')} (not found)" in body and "₹99.00" not in body


def test_a_ticket_whose_call_was_deleted_says_so(agent: Client, priya_ticket: Any) -> None:
    sync_db().calls.delete_one({"call_id": "call-priya-1"})

    body = agent.get("/staff/tickets/TKT-AAAAAA/").content.decode()

    assert "no call on this ticket" not in body and "No call recorded" not in body
    said = f"Call {as_id('call-priya-1')} is no longer on record."
    assert body.count(said) == 2  # briefing, call section


def test_unknown_ticket_is_404(agent: Client) -> None:
    assert agent.get("/staff/tickets/TKT-NOPE00/").status_code == 404


@pytest.mark.parametrize("path", ["/staff/queue/", "/staff/tickets/TKT-AAAAAA/", "/staff/"])
def test_non_staff_are_sent_to_the_login(
    path: str, guest_client: Client, priya_ticket: Any
) -> None:
    for client in (guest_client, Client()):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")


def test_staff_without_a_support_group_are_refused(staff_groups: Any, priya_ticket: Any) -> None:
    loner = User.objects.create_user("loner", password="x", is_staff=True)

    assert client_for(loner).get("/staff/queue/").status_code == 403
    assert client_for(loner).post("/staff/tickets/TKT-AAAAAA/claim").status_code == 403
    assert status_of("TKT-AAAAAA") == ("open", None)


# --- Actions ------------------------------------------------------------------------------------


def test_agent_claims_a_ticket(agent: Client, priya_ticket: Any) -> None:
    response = agent.post("/staff/tickets/TKT-AAAAAA/claim", follow=True)

    assert status_of("TKT-AAAAAA") == ("claimed", "meera")
    assert "You claimed ticket TKT-AAAAAA." in messages_of(response)


def test_second_claimer_is_told_who_has_it(agent: Client, lead: Client, priya_ticket: Any) -> None:
    agent.post("/staff/tickets/TKT-AAAAAA/claim")

    response = lead.post("/staff/tickets/TKT-AAAAAA/claim", follow=True)

    assert status_of("TKT-AAAAAA") == ("claimed", "meera")
    assert "Ticket TKT-AAAAAA is already claimed by meera." in messages_of(response)


def test_assigning_and_claiming_name_colleagues_as_they_are_known(
    agent: Client, lead: Client, priya_ticket: Any
) -> None:
    User.objects.filter(username="meera").update(first_name="Meera", last_name="Nair")

    page = lead.get("/staff/tickets/TKT-AAAAAA/").content.decode()
    assigned = lead.post("/staff/tickets/TKT-AAAAAA/assign", {"assignee": "meera"}, follow=True)
    taken = lead.post("/staff/tickets/TKT-AAAAAA/claim", follow=True)

    assert '<option value="meera">Meera Nair</option>' in page
    assert "Ticket TKT-AAAAAA assigned to Meera Nair." in messages_of(assigned)
    assert "Ticket TKT-AAAAAA is already claimed by Meera Nair." in messages_of(taken)
    assert status_of("TKT-AAAAAA") == ("claimed", "meera")


def test_claim_from_the_queue_goes_back_to_the_queue(agent: Client, priya_ticket: Any) -> None:
    response = agent.post("/staff/tickets/TKT-AAAAAA/claim", {"next": "/staff/queue/"})
    offsite = agent.post("/staff/tickets/TKT-AAAAAA/claim", {"next": "https://evil.example/"})

    assert response["Location"] == "/staff/queue/"
    assert offsite["Location"] == "/staff/tickets/TKT-AAAAAA/"


def test_actions_need_post_and_a_csrf_token(meera: User, priya_ticket: Any) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(meera)

    assert strict.get("/staff/tickets/TKT-AAAAAA/claim").status_code == 405
    assert strict.post("/staff/tickets/TKT-AAAAAA/claim").status_code == 403
    assert status_of("TKT-AAAAAA") == ("open", None)


def test_guest_cannot_act(guest_client: Client, priya_ticket: Any) -> None:
    for action in ("claim", "resolve", "note", "assign"):
        response = guest_client.post(f"/staff/tickets/TKT-AAAAAA/{action}", {"text": "hi"})
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert status_of("TKT-AAAAAA") == ("open", None)
    assert len(Escalation.objects.get(ticket_id="TKT-AAAAAA").notes) == 1


def test_lead_assigns_a_ticket_to_the_agent(lead: Client, meera: User, priya_ticket: Any) -> None:
    response = lead.post("/staff/tickets/TKT-AAAAAA/assign", {"assignee": "meera"}, follow=True)

    assert status_of("TKT-AAAAAA") == ("claimed", "meera")
    assert "Ticket TKT-AAAAAA assigned to meera." in messages_of(response)
    note = Escalation.objects.get(ticket_id="TKT-AAAAAA").notes[-1]
    assert (note.author, note.text) == ("arjun", "Assigned to meera.")


def test_assigning_to_someone_who_is_not_staff_is_refused(
    lead: Client, guest: User, priya_ticket: Any
) -> None:
    response = lead.post("/staff/tickets/TKT-AAAAAA/assign", {"assignee": "guest"}, follow=True)

    assert status_of("TKT-AAAAAA") == ("open", None)
    assert "Choose someone to assign the ticket to." in messages_of(response)


def test_assign_chooses_nobody_until_someone_is_chosen(
    lead: Client, meera: User, priya_ticket: Any
) -> None:
    """The list showed the first colleague chosen: "Assign" on an open ticket gave it to them."""
    page = lead.get("/staff/tickets/TKT-AAAAAA/").content.decode()
    chosen = re.findall(r'<option value="([^"]*)" selected>', page)

    unchosen = lead.post("/staff/tickets/TKT-AAAAAA/assign", {"assignee": ""}, follow=True)

    assert chosen == [""]
    assert status_of("TKT-AAAAAA") == ("open", None)
    assert messages_of(unchosen) == ["Choose someone to assign the ticket to."]


def test_a_ticket_is_assigned_only_to_colleagues_who_may_work_it(
    lead: Client, meera: User, priya_ticket: Any
) -> None:
    """A staff member who may only read tickets could not claim, note or resolve one given
    to them: they are not offered, and assigning to them is refused."""
    from django.contrib.auth.models import Permission

    reader = User.objects.create_user("reader", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_escalation"))
    User.objects.create_superuser("root", "root@example.com", "x")

    page = lead.get("/staff/tickets/TKT-AAAAAA/").content.decode()
    response = lead.post("/staff/tickets/TKT-AAAAAA/assign", {"assignee": "reader"}, follow=True)

    offered = re.findall(r'<option value="([^"]+)"', page)
    assert sorted(offered) == ["arjun", "meera", "root"]
    assert status_of("TKT-AAAAAA") == ("open", None)
    assert "Choose someone to assign the ticket to." in messages_of(response)


def test_agent_adds_a_note(agent: Client, priya_ticket: Any) -> None:
    agent.post("/staff/tickets/TKT-AAAAAA/note", {"text": "Called back, refund promised."})
    empty = agent.post("/staff/tickets/TKT-AAAAAA/note", {"text": "   "}, follow=True)

    notes = Escalation.objects.get(ticket_id="TKT-AAAAAA").notes
    assert [(n.author, n.text) for n in notes][-1] == ("meera", "Called back, refund promised.")
    assert len(notes) == 2
    assert "A note cannot be empty." in messages_of(empty)


def test_agent_resolves_their_ticket_with_a_note(agent: Client, priya_ticket: Any) -> None:
    agent.post("/staff/tickets/TKT-AAAAAA/claim")

    agent.post("/staff/tickets/TKT-AAAAAA/resolve", {"note": "Refunded in full."})

    ticket = Escalation.objects.get(ticket_id="TKT-AAAAAA")
    assert (ticket.status, ticket.assignee) == ("resolved", "meera")
    assert ticket.resolved_at is not None
    assert ticket.notes[-1].text == "Refunded in full."


def test_a_note_sent_twice_from_one_form_is_added_once(agent: Client, priya_ticket: Any) -> None:
    """A double click on "Add note" (or the page sent again) sent the form twice: the ticket
    read the same note twice."""
    page = agent.get("/staff/tickets/TKT-AAAAAA/").content.decode()
    key = re.search(r'name="request_key" value="([^"]+)"', page)
    assert key, "the note form carries its key"
    form = {"text": "Called back, refund promised.", "request_key": key[1]}

    first = agent.post("/staff/tickets/TKT-AAAAAA/note", form, follow=True)
    again = agent.post("/staff/tickets/TKT-AAAAAA/note", form, follow=True)

    notes = Escalation.objects.get(ticket_id="TKT-AAAAAA").notes
    assert [n.text for n in notes].count("Called back, refund promised.") == 1
    assert messages_of(first) == messages_of(again) == ["Note added."]


def test_a_note_refused_can_be_sent_again_corrected(agent: Client, priya_ticket: Any) -> None:
    form = {"text": "   ", "request_key": new_request_key()}
    agent.post("/staff/tickets/TKT-AAAAAA/note", form)

    agent.post("/staff/tickets/TKT-AAAAAA/note", {**form, "text": "Called back."})

    assert Escalation.objects.get(ticket_id="TKT-AAAAAA").notes[-1].text == "Called back."


def test_a_resolution_sent_twice_is_said_done_not_already_resolved(
    agent: Client, priya_ticket: Any
) -> None:
    """The second of a double click on "Resolve" said "already resolved" as an error beside
    the first's "resolved": as if the ticket had been closed by someone else."""
    form = {"note": "Refunded in full."}
    agent.post("/staff/tickets/TKT-AAAAAA/resolve", form, follow=True)

    again = agent.post("/staff/tickets/TKT-AAAAAA/resolve", form, follow=True)

    assert messages_of(again) == ["Ticket TKT-AAAAAA resolved."]
    notes = Escalation.objects.get(ticket_id="TKT-AAAAAA").notes
    assert [n.text for n in notes].count("Refunded in full.") == 1


def test_a_ticket_resolved_by_someone_else_is_said_already_resolved(
    agent: Client, lead: Client, priya_ticket: Any
) -> None:
    lead.post("/staff/tickets/TKT-AAAAAA/resolve", follow=True)

    response = agent.post("/staff/tickets/TKT-AAAAAA/resolve", follow=True)
    mine_again = lead.post("/staff/tickets/TKT-AAAAAA/resolve", {"note": "One more thing"},
                           follow=True)  # fmt: skip

    assert messages_of(response) == ["Ticket TKT-AAAAAA is already resolved."]
    assert messages_of(mine_again) == ["Ticket TKT-AAAAAA is already resolved."]  # note not added


def test_nobody_resolves_a_ticket_someone_else_holds(
    agent: Client, lead: Client, priya_ticket: Any
) -> None:
    agent.post("/staff/tickets/TKT-AAAAAA/claim")

    response = lead.post("/staff/tickets/TKT-AAAAAA/resolve", follow=True)

    assert status_of("TKT-AAAAAA") == ("claimed", "meera")
    assert "Ticket TKT-AAAAAA is already claimed by meera." in messages_of(response)


def test_a_resolved_ticket_cannot_be_claimed_or_reassigned(priya_ticket: Any) -> None:
    escalations.resolve("TKT-AAAAAA", "meera")

    with pytest.raises(escalations.TicketResolved):
        escalations.claim("TKT-AAAAAA", "arjun")
    with pytest.raises(escalations.TicketResolved):
        escalations.assign("TKT-AAAAAA", "arjun", by="arjun")
    with pytest.raises(escalations.TicketNotFound):
        escalations.claim("TKT-NOPE00", "arjun")


def test_concurrent_claims_have_one_winner(priya_ticket: Any) -> None:
    names = [f"staff{n}" for n in range(8)]
    start = threading.Barrier(len(names))

    def try_claim(name: str) -> str:
        start.wait()  # all threads fire at once
        try:
            escalations.claim("TKT-AAAAAA", name)
            return "won"
        except escalations.TicketTaken as taken:
            return f"lost to {taken.assignee}"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(names)) as pool:
        outcomes = list(pool.map(try_claim, names))

    status, winner = status_of("TKT-AAAAAA")
    assert status == "claimed" and winner in names
    assert outcomes.count("won") == 1
    assert outcomes[names.index(winner)] == "won"
    assert outcomes.count(f"lost to {winner}") == len(names) - 1


# --- Live updates ---------------------------------------------------------------------------

# as voiceproject/asgi.py mounts it (and with the same type: ignore, for the same reason)
STAFF_WS = URLRouter(staff_websocket_urlpatterns)  # type: ignore[arg-type]
SAME_SITE = (b"origin", b"http://testserver")
HOST = (b"host", b"testserver")


def session_cookie(user: User) -> list[tuple[bytes, bytes]]:
    cookie = client_for(user).cookies["sessionid"].value
    return [HOST, SAME_SITE, (b"cookie", f"sessionid={cookie}".encode())]


@pytest.fixture
def meera_cookie(meera: User) -> list[tuple[bytes, bytes]]:
    return session_cookie(meera)


@pytest.fixture
def guest_cookie(guest: User) -> list[tuple[bytes, bytes]]:
    return session_cookie(guest)


async def test_queue_page_hears_a_new_escalation(meera_cookie: list[tuple[bytes, bytes]]) -> None:
    socket = WebsocketCommunicator(STAFF_WS, "/ws/staff/queue", headers=meera_cookie)
    connected, _ = await socket.connect()
    assert connected

    await announce_escalation(
        {"_id": object(), "ticket_id": "TKT-LIVE01", "user_id": 301, "reason": "wants a human",
         "priority": "urgent", "status": "open", "created_at": None}
    )  # fmt: skip

    message = await socket.receive_json_from(timeout=2)
    assert message["type"] == "escalation"
    assert message["ticket"]["ticket_id"] == "TKT-LIVE01"
    assert message["ticket"]["priority"] == "urgent"
    assert "_id" not in message["ticket"]
    await socket.disconnect()


async def test_queue_pages_hear_claims_and_resolutions(
    meera_cookie: list[tuple[bytes, bytes]], priya_ticket: Any
) -> None:
    socket = WebsocketCommunicator(STAFF_WS, "/ws/staff/queue", headers=meera_cookie)
    assert (await socket.connect())[0]

    await sync_to_async(escalations.claim)("TKT-AAAAAA", "arjun")
    claimed = await socket.receive_json_from(timeout=2)
    await sync_to_async(escalations.add_note)("TKT-AAAAAA", "arjun", "called back")
    await sync_to_async(escalations.resolve)("TKT-AAAAAA", "arjun")
    resolved = await socket.receive_json_from(timeout=2)

    assert claimed["type"] == "changed"
    assert (claimed["ticket"]["ticket_id"], claimed["ticket"]["status"],
            claimed["ticket"]["assignee"]) == ("TKT-AAAAAA", "claimed", "arjun")  # fmt: skip
    assert resolved["ticket"]["status"] == "resolved"  # a note alone moved nothing
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_queue_pages_hear_a_priority_changed_in_the_admin(
    meera: User, meera_cookie: list[tuple[bytes, bytes]], priya_ticket: Any
) -> None:
    """The open queue sorts the ticket into its new place at once, as after a claim."""
    socket = WebsocketCommunicator(STAFF_WS, "/ws/staff/queue", headers=meera_cookie)
    assert (await socket.connect())[0]

    def raise_priority() -> Any:
        return client_for(meera).post(f"/admin/support/escalation/{priya_ticket.pk}/change/",
                                      {"priority": "urgent", "_save": "Save"})  # fmt: skip

    response = await sync_to_async(raise_priority)()
    changed = await socket.receive_json_from(timeout=2)

    assert response.status_code == 302
    assert changed["type"] == "changed"
    assert (changed["ticket"]["ticket_id"], changed["ticket"]["priority"],
            changed["ticket"]["status"]) == ("TKT-AAAAAA", "urgent", "open")  # fmt: skip
    await socket.disconnect()


@pytest.mark.parametrize("who", ["guest", "anonymous"])
async def test_queue_socket_refuses_non_staff(
    who: str, guest_cookie: list[tuple[bytes, bytes]], priya_ticket: Any
) -> None:
    """Opened only to be closed with 4403, the code the page reads as "stop, and say why" (a
    session that ended while the page's socket was down); refused before it opens, the page
    would see only a failed handshake and retry for ever."""
    headers = guest_cookie if who == "guest" else [HOST, SAME_SITE]
    socket = WebsocketCommunicator(STAFF_WS, "/ws/staff/queue", headers=headers)

    await socket.connect()

    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4403}
    await sync_to_async(escalations.claim)("TKT-AAAAAA", "arjun")
    assert await socket.receive_nothing(timeout=0.3)  # nothing of the queue reaches it


async def test_queue_socket_refuses_another_site(meera_cookie: list[tuple[bytes, bytes]]) -> None:
    headers = [HOST, (b"origin", b"https://evil.example"), meera_cookie[2]]
    socket = WebsocketCommunicator(STAFF_WS, "/ws/staff/queue", headers=headers)

    connected, _ = await socket.connect()

    assert not connected


async def test_what_a_queue_page_sends_is_ignored_whatever_it_is(
    meera_cookie: list[tuple[bytes, bytes]], priya_ticket: Any
) -> None:
    socket = WebsocketCommunicator(STAFF_WS, "/ws/staff/queue", headers=meera_cookie)
    assert (await socket.connect())[0]

    await socket.send_to(text_data="not json")
    await socket.send_to(bytes_data=b"\x00\x01")
    await sync_to_async(escalations.claim)("TKT-AAAAAA", "arjun")

    assert (await socket.receive_json_from(timeout=2))["type"] == "changed"  # still open
    await socket.disconnect()


async def test_a_queue_page_of_a_deactivated_account_is_closed(
    meera_cookie: list[tuple[bytes, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sockets, "RECHECK_S", 0.1)  # 5 s in production
    socket = WebsocketCommunicator(STAFF_WS, "/ws/staff/queue", headers=meera_cookie)
    assert (await socket.connect())[0]

    await User.objects.filter(username="meera").aupdate(is_active=False)

    assert (await socket.receive_output(timeout=2)) == {"type": "websocket.close", "code": 4403}
    await socket.disconnect()


async def test_a_queue_page_joins_its_group_again_after_the_layer_forgot_it(
    meera_cookie: list[tuple[bytes, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Redis restarted without persistence forgets every group: the page would hear nothing
    more, and say nothing about it."""
    monkeypatch.setattr(sockets, "RECHECK_S", 0.05)
    monkeypatch.setattr(sockets, "REJOIN_EVERY", 2)
    socket = WebsocketCommunicator(STAFF_WS, "/ws/staff/queue", headers=meera_cookie)
    assert (await socket.connect())[0]

    layer = get_channel_layer()
    assert isinstance(layer, InMemoryChannelLayer)
    layer.groups.clear()  # as Redis after a restart
    async with asyncio.timeout(5):  # the page joins again by itself, at one of its rechecks
        while not layer.groups.get(ESCALATIONS_GROUP):
            await asyncio.sleep(0.02)
    await announce_escalation(
        {"ticket_id": "TKT-AGAIN1", "user_id": 301, "reason": "wants a human",
         "priority": "normal", "status": "open", "created_at": None}
    )  # fmt: skip

    assert (await socket.receive_json_from(timeout=2))["ticket"]["ticket_id"] == "TKT-AGAIN1"
    await socket.disconnect()


def test_a_ticket_resolved_while_its_call_cannot_be_looked_up_says_resolved(
    agent: Client, priya_ticket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = sync_db()  # (the ticket names its call: call-priya-1)

    class CallsAway:  # the calls cannot be read just as the ticket is resolved
        def __getitem__(self, name: str) -> Any:
            return db[name]

        @property
        def calls(self) -> Any:
            raise ServerSelectionTimeoutError("the database went away")

    monkeypatch.setattr(escalations, "sync_db", CallsAway)
    agent.post("/staff/tickets/TKT-AAAAAA/claim")

    response = agent.post("/staff/tickets/TKT-AAAAAA/resolve", {"note": "Sorted."}, follow=True)

    assert response.status_code == 200
    assert status_of("TKT-AAAAAA") == ("resolved", "meera")
    assert "Ticket TKT-AAAAAA resolved." in messages_of(response)
