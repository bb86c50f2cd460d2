"""The Django admin over the support data, as an agent, a lead and a non-staff user."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.test import Client

from support import escalations
from support.models import Complaint, Customer, Escalation, Order, OrderRefund, Refund
from support.tests.conftest import make_order
from support.tests.staff.conftest import as_id, client_for, make_complaint, make_ticket

pytestmark = pytest.mark.django_db

LISTS = ["customer", "order", "refund", "complaint", "escalation", "call", "refundtier"]


def rows(response: Any) -> list[Any]:
    return list(response.context["cl"].result_list)


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize("model", LISTS)
def test_agent_and_lead_see_every_list(model: str, agent: Client, lead: Client, priya: Any) -> None:
    assert agent.get(f"/admin/support/{model}/").status_code == 200
    assert lead.get(f"/admin/support/{model}/").status_code == 200


@pytest.mark.parametrize("path", ["/admin/", "/admin/support/order/", "/admin/support/call/"])
def test_non_staff_are_sent_to_the_login(path: str, guest_client: Client) -> None:
    for client in (guest_client, Client()):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_orders_show_rupees_and_their_refund(agent: Client, asha: Customer) -> None:
    response = agent.get("/admin/support/order/")

    body = response.content.decode()
    assert "₹337.50" in body  # ORD-1001's amount
    assert "₹375.00 (30%, RFD-K7M2QP)" in body  # ORD-1005's refund
    assert response.context["cl"].show_full_result_count is False


def test_the_admin_writes_times_as_the_staff_pages_do(agent: Client, asha: Customer) -> None:
    placed = datetime(2026, 11, 6, 9, 50, tzinfo=UTC)  # 15:20 in Asia/Kolkata
    Order.objects.filter(order_id="ORD-1001").update(placed_at=placed)

    body = agent.get("/admin/support/order/").content.decode()

    assert "6 Nov 2026, 15:20" in body  # not Django's "Nov. 6, 2026, 3:20 p.m."
    assert "p.m." not in body and "a.m." not in body


def test_order_page_shows_items_and_refund_read_only(agent: Client, asha: Customer) -> None:
    order = Order.objects.get(order_id="ORD-1005")

    response = agent.get(f"/admin/support/order/{order.pk}/change/")

    body = response.content.decode()
    assert "1 × Chicken Biryani @ ₹1,250.00" in body
    assert "RFD-K7M2QP" in body
    assert 'name="status"' not in body  # agents only view orders


@pytest.mark.parametrize(
    "term, expected",
    [
        ("ORD-2001", {"ORD-2001"}),
        ("ord-2001", {"ORD-2001"}),
        ("Ravi", {"ORD-2001"}),
        ("+919800000202", {"ORD-2001"}),
        ("98000 00202", {"ORD-2001"}),
        ("nobody", set()),
    ],
)
def test_order_search_by_id_customer_name_or_phone(
    term: str, expected: set[str], agent: Client, asha: Customer, ravi: Customer
) -> None:
    response = agent.get("/admin/support/order/", {"q": term})

    assert {o.order_id for o in rows(response)} == expected


def test_order_filters_by_status_and_customer(
    agent: Client, asha: Customer, ravi: Customer
) -> None:
    delivered = agent.get("/admin/support/order/", {"status__exact": "delivered"})
    ravis = agent.get("/admin/support/order/", {"customer_id": "202"})

    assert {o.order_id for o in rows(delivered)} == {"ORD-1001", "ORD-1002", "ORD-2001"}
    assert {o.order_id for o in rows(ravis)} == {"ORD-2001"}


def test_order_list_does_not_join_customers(agent: Client, asha: Customer) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        agent.get("/admin/support/order/", {"q": "Asha"})

    order_queries = [q["sql"] for q in queries.captured_queries if "db.orders." in q["sql"]]
    assert order_queries and not any("$lookup" in sql for sql in order_queries)


@pytest.mark.parametrize(
    "path, term, expected",
    [
        ("call", "call-priya-1", "call-priya-1"),
        ("call", "CALL-PRIYA-1", "call-priya-1"),
        ("escalation", "tkt-aaaaaa", "TKT-AAAAAA"),
        ("escalation", "ORD-3001", "TKT-AAAAAA"),
        ("complaint", "cmp-aaaaaa", "CMP-AAAAAA"),
        ("complaint", "cold", "CMP-AAAAAA"),  # not an id: the description
    ],
)  # fmt: skip
def test_an_id_search_is_an_indexed_lookup_that_forgives_case(
    path: str, term: str, expected: str, agent: Client, priya_ticket: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_complaint("CMP-AAAAAA")
    with CaptureQueriesContext(connection) as queries:
        response = agent.get(f"/admin/support/{path}/", {"q": term})

    assert [str(row) for row in rows(response)] == [expected]
    if term != "cold":
        # A case-insensitive regex reads every document: seconds on 30,000 calls.
        assert not any("$regex" in q["sql"] for q in queries.captured_queries)


@pytest.mark.parametrize("extra", [0, 1000])
def test_a_search_longer_than_any_phrase_looks_for_ids_alone_and_says_so(
    extra: int, agent: Client, db: Any
) -> None:
    # Looked for in the descriptions, 1,000 characters were a pattern SecantusDB refuses.
    from support.admin import LONGEST_PHRASE

    term = "The food was cold." + "x" * (LONGEST_PHRASE - 18 + extra)
    make_complaint("CMP-AAAAAA")
    make_complaint("CMP-BBBBBB")
    Complaint.objects.filter(complaint_id="CMP-BBBBBB").update(description=term)

    response = agent.get("/admin/support/complaint/", {"q": term})

    assert response.status_code == 200
    if extra:
        assert rows(response) == []
        assert messages_of(response) == [
            f"Only a search of at most {LONGEST_PHRASE} characters looks in the description."]
    else:
        assert [c.complaint_id for c in rows(response)] == ["CMP-BBBBBB"]
        assert messages_of(response) == []


def test_customer_search_and_wallet_in_rupees(
    agent: Client, asha: Customer, ravi: Customer
) -> None:
    response = agent.get("/admin/support/customer/", {"q": "asha"})

    assert [c.user_id for c in rows(response)] == [101]
    assert "₹120.00" in response.content.decode()


@pytest.mark.parametrize(
    "term", ["98000 00202", "9800000202", "+91 98000 00202", "+919800000202", "202",
             "ravi kum", "RAVI@example.com"],
)  # fmt: skip
def test_customer_search_finds_a_customer_as_people_say_them(
    term: str, agent: Client, asha: Customer, ravi: Customer
) -> None:
    # As the order list's search and the staff pages' search box: the same customers.
    response = agent.get("/admin/support/customer/", {"q": term})

    assert [c.user_id for c in rows(response)] == [202]


@pytest.mark.parametrize("path, listed", [("customer", ""), ("order", "the orders of ")])
def test_a_search_matching_more_customers_than_are_listed_says_so(
    path: str, listed: str, agent: Client, db: Any
) -> None:
    # The count would otherwise read as every customer the name matches.
    from support.admin import CUSTOMER_SEARCH_LIMIT
    from support.mongo import sync_db
    from support.name_keys import fill_name_keys

    Customer.objects.bulk_create(
        Customer(user_id=1000 + n, name=f"Kumar {n:03d}", phone=f"+91980000{n:04d}")
        for n in range(CUSTOMER_SEARCH_LIMIT + 1)
    )  # fmt: skip
    fill_name_keys(sync_db())

    response = agent.get(f"/admin/support/{path}/", {"q": "kumar"})

    assert messages_of(response) == [
        f"More than {CUSTOMER_SEARCH_LIMIT} customers match “kumar”: only {listed}"
        f"{CUSTOMER_SEARCH_LIMIT} of them are listed. Add more of the name, or use a phone "
        "number, email or user id."
    ]
    if path == "customer":
        assert response.context["cl"].result_count == CUSTOMER_SEARCH_LIMIT


def test_a_search_matching_as_many_customers_as_are_listed_says_nothing_more(
    agent: Client, db: Any
) -> None:
    from support.admin import CUSTOMER_SEARCH_LIMIT
    from support.mongo import sync_db
    from support.name_keys import fill_name_keys

    Customer.objects.bulk_create(
        Customer(user_id=1000 + n, name=f"Kumar {n:03d}", phone=f"+91980000{n:04d}")
        for n in range(CUSTOMER_SEARCH_LIMIT)
    )  # fmt: skip
    fill_name_keys(sync_db())

    response = agent.get("/admin/support/customer/", {"q": "kumar"})

    assert messages_of(response) == []
    assert response.context["cl"].result_count == CUSTOMER_SEARCH_LIMIT


def test_refund_filters_by_tier(agent: Client, asha: Customer) -> None:
    from support.models import Refund

    Refund.objects.create(refund_id="RFD-AAAAAA", order_id="ORD-1005", customer=asha,
                          amount=37_500, percent=30, tier="Bronze")  # fmt: skip
    Refund.objects.create(refund_id="RFD-BBBBBB", order_id="ORD-1001", customer=asha,
                          amount=16_875, percent=50, tier="Silver")  # fmt: skip

    response = agent.get("/admin/support/refund/", {"tier": "Silver"})

    assert [r.refund_id for r in rows(response)] == ["RFD-BBBBBB"]
    assert "₹168.75" in response.content.decode()


def test_the_refund_list_offers_the_tiers_without_reading_every_refund(
    agent: Client, asha: Customer, tiers: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = agent.get("/admin/support/refund/")

    choices = [c["display"] for c in response.context["cl"].filter_specs[0].choices(
        response.context["cl"])]  # fmt: skip
    assert choices == ["All", "Platinum", "Gold", "Silver", "Bronze"]
    # The default filter listed the distinct tiers of every refund ever made, on every page.
    assert not any("db.refunds.aggregate([{'$group'" in q["sql"]
                   for q in queries.captured_queries)  # fmt: skip


def test_escalations_filter_by_priority(agent: Client) -> None:
    make_ticket("TKT-URG001", priority="urgent")
    make_ticket("TKT-LOW001", priority="low")

    response = agent.get("/admin/support/escalation/", {"priority__exact": "urgent"})

    assert [t.ticket_id for t in rows(response)] == ["TKT-URG001"]


def test_a_ticket_page_gives_an_old_coded_reason_in_words(agent: Client) -> None:
    # Tickets opened before the bridge's failure codes were worded keep the code stored; the
    # queue and ticket pages say it in words, and so does the admin.
    ticket = make_ticket("TKT-CODED1", reason="The voice agent became unavailable during the "
                                              "call (upstream_unavailable).")  # fmt: skip

    body = agent.get(f"/admin/support/escalation/{ticket.pk}/change/").content.decode()

    words = "The voice agent became unavailable during the call (the AI service stopped answering)."
    assert words in body
    assert "upstream_unavailable" not in body


def test_nobody_deletes_a_ticket(db: Any) -> None:
    # Callbacks booked for a ticket and a call waiting on its warm escalation name it by id.
    operator = client_for(User.objects.create_superuser("root", "root@example.com", "x"))
    ticket = make_ticket("TKT-KEEP01")

    page = operator.get(f"/admin/support/escalation/{ticket.pk}/delete/")
    action = operator.post("/admin/support/escalation/",
                           {"action": "delete_selected", ACTION_CHECKBOX_NAME: [ticket.pk],
                            "post": "yes"})  # fmt: skip

    assert page.status_code == 403
    assert action.status_code in (200, 302)
    assert Escalation.objects.filter(ticket_id="TKT-KEEP01").exists()
    assert "delete_selected" not in operator.get("/admin/support/escalation/").content.decode()


def test_call_page_shows_transcript_and_tool_calls_read_only(agent: Client, priya: Any) -> None:
    from support.models import Call

    call = Call.objects.get(call_id="call-priya-1")
    response = agent.get(f"/admin/support/call/{call.pk}/change/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "My dosa was cold and soggy." in body
    assert f"Escalated to a person (Normal): ticket {as_id('TKT-AAAAAA')}" in body
    assert "42 ms" in body
    assert "&quot;reason&quot;: &quot;cold food&quot;" in body  # the raw arguments, disclosed
    assert "Total: 1,540 tokens" in body and "3:05" in body
    assert "total_token_count" not in body
    assert 'name="_save"' not in body  # read-only for everyone


def test_agent_resolves_complaints_with_an_action(agent: Client) -> None:
    make_complaint("CMP-AAAAAA")
    make_complaint("CMP-BBBBBB", status="resolved")
    ids = [str(c.pk) for c in Complaint.objects.all()]

    response = agent.post(
        "/admin/support/complaint/",
        {"action": "resolve_selected", ACTION_CHECKBOX_NAME: ids},
        follow=True,
    )

    assert set(Complaint.objects.values_list("status", flat=True)) == {"resolved"}
    assert "1 complaint resolved." in messages_of(response)


def test_agent_claims_tickets_with_an_action_and_is_told_of_taken_ones(agent: Client) -> None:
    make_ticket("TKT-FREE01")
    make_ticket("TKT-HELD01", status="claimed", assignee="arjun")
    ids = [str(t.pk) for t in Escalation.objects.all()]

    response = agent.post(
        "/admin/support/escalation/",
        {"action": "claim_selected", ACTION_CHECKBOX_NAME: ids},
        follow=True,
    )

    assert Escalation.objects.get(ticket_id="TKT-FREE01").assignee == "meera"
    assert Escalation.objects.get(ticket_id="TKT-HELD01").assignee == "arjun"
    assert "Ticket TKT-HELD01 is already claimed by arjun." in messages_of(response)


def test_a_priority_changed_in_the_admin_keeps_a_claim_made_meanwhile(
    agent: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change form edits the priority alone: what it read of the rest (open, nobody
    holds it) is not written back over a colleague's claim."""
    from support.admin import EscalationAdmin

    ticket = make_ticket("TKT-PRIO01", priority="low")
    read = EscalationAdmin.get_object

    def read_then_claimed(self: Any, request: Any, object_id: str, from_field: Any = None) -> Any:
        found = read(self, request, object_id, from_field)
        if request.method == "POST":
            escalations.claim("TKT-PRIO01", "arjun")  # a colleague, as the form is saved
        return found

    monkeypatch.setattr(EscalationAdmin, "get_object", read_then_claimed)
    response = agent.post(f"/admin/support/escalation/{ticket.pk}/change/",
                          {"priority": "urgent", "_save": "Save"})  # fmt: skip

    saved = Escalation.objects.get(ticket_id="TKT-PRIO01")
    assert response.status_code == 302
    assert (saved.priority, saved.status, saved.assignee) == ("urgent", "claimed", "arjun")


def test_the_admin_lists_name_colleagues_and_find_them_by_username(
    lead: Client, meera: Any, priya: Customer
) -> None:
    """As the staff pages name them: "Meera Nair (meera)", the username kept beside the name
    for the search box; someone no longer on the team by their username."""
    from django.contrib.auth.models import User

    from support.models import Goodwill

    User.objects.filter(username="meera").update(first_name="Meera", last_name="Nair")
    make_ticket("TKT-HELD01", status="claimed", assignee="meera")
    make_ticket("TKT-GONE01", status="claimed", assignee="someone-who-left")
    Goodwill.objects.create(goodwill_id="GW-AAAAAA", kind="credit", customer=priya, amount=15_000,
                            reason="Rider was rude", proposed_by="meera",
                            status="approved", decided_by="someone-who-left")  # fmt: skip

    escalations.add_note("TKT-HELD01", "meera", "Called the restaurant")
    gift = Goodwill.objects.get(goodwill_id="GW-AAAAAA")

    tickets = lead.get("/admin/support/escalation/").content.decode()
    goodwill = lead.get("/admin/support/goodwill/").content.decode()
    found = lead.get("/admin/support/escalation/", {"q": "meera"})
    ticket = Escalation.objects.get(ticket_id="TKT-HELD01")
    ticket_page = lead.get(f"/admin/support/escalation/{ticket.pk}/change/").content.decode()
    gift_page = lead.get(f"/admin/support/goodwill/{gift.pk}/change/").content.decode()

    assert '<td class="field-assignee_">Meera Nair (meera)</td>' in tickets
    assert '<td class="field-assignee_">someone-who-left</td>' in tickets
    assert '<td class="field-proposed_by_">Meera Nair (meera)</td>' in goodwill
    assert '<td class="field-decided_by_">someone-who-left</td>' in goodwill
    assert [t.ticket_id for t in rows(found)] == ["TKT-HELD01"]
    # And each one's page.
    assert '<div class="readonly">Meera Nair (meera)</div>' in ticket_page  # the assignee
    assert "<p><b>Meera Nair (meera)</b>" in ticket_page  # the note's author
    assert '<div class="readonly">Meera Nair (meera)</div>' in gift_page
    assert '<div class="readonly">someone-who-left</div>' in gift_page


def test_lead_reassigns_tickets_through_the_intermediate_page(
    lead: Client, meera: Any
) -> None:
    make_ticket("TKT-HELD01", status="claimed", assignee="arjun")
    ids = [str(t.pk) for t in Escalation.objects.all()]

    form = lead.post("/admin/support/escalation/",
                     {"action": "assign_selected", ACTION_CHECKBOX_NAME: ids})  # fmt: skip
    assert form.status_code == 200 and "Reassign tickets" in form.content.decode()

    lead.post(
        "/admin/support/escalation/",
        {"action": "assign_selected", ACTION_CHECKBOX_NAME: ids, "apply": "1",
         "assignee": "meera"},
    )  # fmt: skip

    ticket = Escalation.objects.get(ticket_id="TKT-HELD01")
    assert (ticket.status, ticket.assignee) == ("claimed", "meera")


def test_guest_cannot_run_actions(guest_client: Client) -> None:
    make_complaint("CMP-AAAAAA")
    ids = [str(c.pk) for c in Complaint.objects.all()]

    response = guest_client.post(
        "/admin/support/complaint/", {"action": "resolve_selected", ACTION_CHECKBOX_NAME: ids}
    )

    assert response.status_code == 302
    assert Complaint.objects.get().status == "open"


def test_nobody_adds_or_edits_calls_and_refunds(lead: Client, priya: Any) -> None:
    from support.models import Call

    call = Call.objects.get(call_id="call-priya-1")

    assert lead.get("/admin/support/call/add/").status_code == 403
    assert lead.get("/admin/support/refund/add/").status_code == 403
    assert lead.get("/admin/support/order/add/").status_code == 403
    assert lead.get("/admin/support/goodwill/add/").status_code == 403
    assert lead.get(f"/admin/support/call/{call.pk}/delete/").status_code == 403
    assert lead.post(f"/admin/support/call/{call.pk}/change/", {"call_id": "x"}).status_code == 403


def test_big_change_lists_do_not_count_everything(agent: Client, asha: Customer) -> None:
    from support.admin import CappedCountPaginator

    for n in range(12):
        make_order(asha, f"ORD-9{n:03d}", status="placed", amount=100, placed_hours_ago=n)
    CappedCountPaginator.CAP, cap = 10, CappedCountPaginator.CAP
    try:
        response = agent.get("/admin/support/order/")
    finally:
        CappedCountPaginator.CAP = cap

    assert response.context["cl"].result_count == 10  # stopped counting at the cap


@pytest.mark.parametrize(
    "path, query, paginator",
    [
        ("order", {}, "NewestOrdersPaginator"),
        ("order", {"status__exact": "delivered"}, "NewestOrdersPaginator"),
        ("order", {"q": "Priya"}, "CappedCountPaginator"),
        ("call", {"channel__exact": "phone"}, "NewestCallsPaginator"),
        ("call", {"end_reason": "idle"}, "CappedCountPaginator"),
        ("refund", {}, "NewestRefundsPaginator"),
        ("refund", {"tier": "Gold"}, "NewestRefundsPaginator"),
        ("refund", {"q": "ORD-3001"}, "CappedCountPaginator"),
        ("complaint", {}, "NewestComplaintsPaginator"),
        ("complaint", {"status__exact": "open"}, "NewestComplaintsPaginator"),
        ("complaint", {"category__exact": "hygiene"}, "CappedCountPaginator"),
        ("escalation", {}, "NewestTicketsPaginator"),
        ("escalation", {"status__exact": "open"}, "NewestTicketsPaginator"),
        ("escalation", {"priority__exact": "high"}, "CappedCountPaginator"),
    ],
)
def test_big_lists_plain_or_by_their_one_filter_are_read_by_time_range(
    path: str, query: dict[str, str], paginator: str, agent: Client, priya: Any
) -> None:
    response = agent.get(f"/admin/support/{path}/", query)

    assert type(response.context["cl"].paginator).__name__ == paginator


def test_a_filter_given_twice_lists_and_counts_the_rows_of_either_value(agent: Client) -> None:
    # The admin's queryset selects either value; the list read by time range took the last
    # alone, counting one ticket while listing two (and, past a page, leaving the open out).
    make_ticket("TKT-OPEN01", status="open")
    make_ticket("TKT-CLMD01", status="claimed", assignee="meera")
    make_ticket("TKT-RSLV01", status="resolved", assignee="meera")

    response = agent.get("/admin/support/escalation/?status__exact=open&status__exact=claimed")

    assert sorted(t.ticket_id for t in rows(response)) == ["TKT-CLMD01", "TKT-OPEN01"]
    assert response.context["cl"].result_count == 2


@pytest.mark.parametrize("path, parameter", [("call", "outcome"), ("refund", "tier")])
def test_a_filter_of_its_own_chosen_empty_filters_nothing_and_counts_everything(
    path: str, parameter: str, agent: Client, asha: Customer
) -> None:
    # Its queryset filters nothing, while the list read by time range looked for an outcome
    # or tier of "": "0 calls" above every call, read whole, unpaged.
    from support.models import Call

    for n in range(2):
        Call.objects.create(call_id=f"call-{n}", channel="web", started_at=datetime.now(UTC))
        Refund.objects.create(refund_id=f"RFD-AAAAA{n}", order_id=f"ORD-100{n + 1}", customer=asha,
                              amount=100, percent=30, tier="Bronze")  # fmt: skip

    response = agent.get(f"/admin/support/{path}/?{parameter}=")

    assert len(rows(response)) == 2
    assert response.context["cl"].result_count == 2


def test_refunds_complaints_and_tickets_are_listed_newest_first_a_page_at_a_time(
    agent: Client, db: Any
) -> None:
    # 30,000 complaints took five seconds a page sorted whole: these lists are read by
    # time range too, newest first, and their one filter keeps to it.
    from datetime import timedelta

    from support.mongo import sync_db

    now = datetime.now(UTC)
    sync_db().complaints.insert_many([
        {"complaint_id": f"CMP-{n:06d}", "user_id": None, "order_id": None,
         "category": "other", "description": "Cold.", "status": "open" if n % 2 else "resolved",
         "call_id": "", "created_at": now - timedelta(hours=n)}
        for n in range(120)
    ])  # fmt: skip

    first = agent.get("/admin/support/complaint/")
    third = agent.get("/admin/support/complaint/", {"p": "3"})
    open_ = agent.get("/admin/support/complaint/", {"status__exact": "open", "p": "2"})

    assert [c.complaint_id for c in rows(first)] == [f"CMP-{n:06d}" for n in range(50)]
    assert [c.complaint_id for c in rows(third)] == [f"CMP-{n:06d}" for n in range(100, 120)]
    assert [c.complaint_id for c in rows(open_)] == [f"CMP-{n:06d}" for n in range(101, 120, 2)]
    assert first.context["cl"].result_count == 120


def test_the_admin_call_list_filters_by_channel(agent: Client, priya: Any) -> None:
    from support.models import Call

    Call.objects.create(call_id="call-web-1", channel="web", started_at=datetime.now(UTC))

    on_the_phone = agent.get("/admin/support/call/", {"channel__exact": "phone"})
    on_the_web = agent.get("/admin/support/call/", {"channel__exact": "web"})

    assert [c.call_id for c in rows(on_the_phone)] == ["call-priya-1"]
    assert [c.call_id for c in rows(on_the_web)] == ["call-web-1"]


def test_the_admin_call_list_reads_newest_first_and_filters_by_labels(
    agent: Client, priya: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from support.models import Call

    now = datetime.now(UTC)
    for n in range(3):
        Call.objects.create(call_id=f"call-old-{n}", channel="web", end_reason="idle",
                            started_at=now - timedelta(days=40 + n))  # fmt: skip

    listed = agent.get("/admin/support/call/")
    ended_idle = agent.get("/admin/support/call/", {"end_reason": "idle"})

    assert [c.call_id for c in rows(listed)] == ["call-priya-1", "call-old-0", "call-old-1",
                                                 "call-old-2"]  # fmt: skip
    assert {c.call_id for c in rows(ended_idle)} == {"call-old-0", "call-old-1", "call-old-2"}
    body = listed.content.decode()
    assert "Caller stayed silent" in body and "Caller hung up" in body  # the filter's labels


def test_the_call_list_ended_filter_finds_calls_stored_with_an_older_spelling(
    agent: Client, priya: Any
) -> None:
    """"Caller hung up" is also how calls stored as customer_hung_up are labelled."""
    from support.models import Call

    now = datetime.now(UTC)
    for call_id, reason in (("call-new", "caller_hung_up"), ("call-old", "customer_hung_up")):
        Call.objects.create(call_id=call_id, channel="web", end_reason=reason,
                            started_at=now, ended_at=now)  # fmt: skip

    hung_up = agent.get("/admin/support/call/", {"end_reason": "caller_hung_up"})

    assert sorted(c.call_id for c in rows(hung_up)) == ["call-new", "call-old"]


def _add_calls(numbers: range, minutes_ago: Any) -> None:
    from datetime import timedelta

    from support.mongo import sync_db

    now = datetime.now(UTC)
    sync_db().calls.insert_many([
        {"call_id": f"call-{n:03d}", "user_id": None, "channel": "web", "end_reason": "idle",
         "started_at": now - timedelta(minutes=minutes_ago(n)), "ended_at": now,
         "transcript": [], "tool_calls": []}
        for n in numbers
    ])  # fmt: skip


def test_the_last_page_of_the_call_list_keeps_the_oldest_calls_when_new_ones_arrive(
    agent: Client, db: Any
) -> None:
    """The list's count is cached for minutes: calls arriving meanwhile must not push the
    oldest past its end, where no page reaches them."""
    _add_calls(range(52), lambda n: 600 + n)  # call-051 is the oldest
    assert len(rows(agent.get("/admin/support/call/", {"p": "2"}))) == 2  # 52 counted, cached

    _add_calls(range(52, 55), lambda n: n - 51)  # three new calls
    second = agent.get("/admin/support/call/", {"p": "2"})
    _add_calls(range(55, 105), lambda n: n - 54)  # fifty more: a third page
    filled = agent.get("/admin/support/call/", {"p": "2"})
    third = agent.get("/admin/support/call/", {"p": "3"})

    oldest = [f"call-{n:03d}" for n in range(47, 52)]
    assert [c.call_id for c in rows(second)] == oldest
    assert len(rows(filled)) == 50 and filled.context["cl"].paginator.num_pages == 3
    assert [c.call_id for c in rows(third)] == oldest


def test_a_refund_page_shows_rupees_and_the_customer(agent: Client, asha: Customer) -> None:
    from support.models import Refund

    refund = Refund.objects.create(refund_id="RFD-AAAAAA", order_id="ORD-1005", customer=asha,
                                   amount=26_850, percent=75, tier="Gold")  # fmt: skip

    body = agent.get(f"/admin/support/refund/{refund.pk}/change/").content.decode()

    assert "₹268.50" in body and "Asha Verma" in body
    assert "26850" not in body


def _link(body: str, to: str) -> str:
    """The href of the page's link to `to` (a change list path), unescaped."""
    found = re.search(rf'href="({re.escape(to)}\?[^"]*)"', body)
    assert found is not None, f"no link to {to}"
    return html.unescape(found.group(1))


@pytest.mark.parametrize("order_id", ["SW/2026/000123", "5012345678", "A&B #7"])
def test_any_order_id_the_importer_accepts_is_found_and_linked(
    order_id: str, agent: Client, asha: Customer
) -> None:
    # Order ids are whatever the business's data holds (support/order_ids.py), not only ORD-1001.
    make_order(asha, order_id, status="refunded", amount=10_000, placed_hours_ago=3,
               delivered_hours_ago=2,
               refund=OrderRefund(amount=5_000, percent=50, refund_id="RFD-BBBBBB",
                                  at=datetime.now(UTC)))  # fmt: skip
    refund = Refund.objects.create(refund_id="RFD-BBBBBB", order_id=order_id, customer=asha,
                                   amount=5_000, percent=50, tier="Silver")  # fmt: skip
    order = Order.objects.get(order_id=order_id)

    searched = agent.get("/admin/support/order/", {"q": order_id})
    refund_page = agent.get(f"/admin/support/refund/{refund.pk}/change/").content.decode()
    order_page = agent.get(f"/admin/support/order/{order.pk}/change/").content.decode()

    assert [o.order_id for o in rows(searched)] == [order_id]
    to_order = agent.get(_link(refund_page, "/admin/support/order/"))
    assert [o.order_id for o in rows(to_order)] == [order_id]
    to_refund = agent.get(_link(order_page, "/admin/support/refund/"))
    assert [r.refund_id for r in rows(to_refund)] == ["RFD-BBBBBB"]


@pytest.mark.parametrize("path", ["order", "complaint", "escalation", "call", "refund"])
def test_a_customer_number_too_big_to_store_is_a_bad_lookup_not_a_server_error(
    path: str, agent: Client, asha: Customer
) -> None:
    # The orders link of a customer's page is ?customer_id=101; edited by hand, it may be
    # anything. The admin answers a lookup it cannot run by sending back to the list with ?e=1.
    response = agent.get(f"/admin/support/{path}/", {"customer_id": str(10**22)})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


@pytest.mark.parametrize("path", ["support/order", "support/complaint", "callbacks/callback"])
def test_a_customer_too_big_to_store_beside_a_search_is_a_bad_lookup_too(
    path: str, asha: Customer
) -> None:
    root = client_for(User.objects.create_superuser("root", "root@example.com", "x"))
    # The search reads the database before the list does (is the term an id?).
    response = root.get(f"/admin/{path}/", {"customer": str(2**64), "q": "cold"})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


@pytest.mark.parametrize("content_type", ["../", "6b155578839fb630911d467b", "7"])
def test_view_on_site_with_an_id_that_is_no_object_id_is_not_found(
    agent: Client, guest_client: Client, content_type: str
) -> None:
    path = f"/admin/r/{content_type}/6b155578839fb630911d467b/"

    assert agent.get(path).status_code == 404
    assert guest_client.get(path)["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_an_empty_to_field_is_no_field_at_all(view: str, priya: Customer) -> None:
    """Django's change and delete views looked up a field named "" for it (a 500)."""
    root = client_for(User.objects.create_superuser("root", "root@example.com", "x"))
    page = f"/admin/support/customer/{priya.pk}/{view}/"

    assert root.get(page, {"_to_field": ""}).status_code == 200
    assert root.post(page, {"_to_field": ""}).status_code in (200, 302)
