"""People, not ids: the search box, the customer page, names and phones in every list."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import dateformat, timezone

from support.models import Call, Complaint, Customer, Escalation, Order, Refund, RefundTier
from support.mongo import sync_db
from support.policy import Tier
from support.staff.customers import standing
from support.staff.search import find_customers
from support.tests.conftest import CONTRACT_TIERS, make_order
from support.tests.staff.conftest import client_for, make_complaint, make_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def contract_tiers(db: Any) -> None:
    RefundTier.objects.all().delete()
    RefundTier.objects.bulk_create(RefundTier(name=n, min_lifetime_spend=s, percent=p)
                                   for n, s, p in CONTRACT_TIERS)  # fmt: skip


@pytest.fixture
def aarav(db: Any) -> Customer:
    """A Gold customer (₹6,000 spent; a cancelled ₹9,000 order does not count)."""
    aarav = Customer.objects.create(user_id=1, name="Aarav Sharma", phone="+919876500001",
                                    email="aarav@example.in", wallet_balance=26_850)  # fmt: skip
    make_order(aarav, "ORD-1196", status="refunded", amount=35_800, placed_hours_ago=2,
               delivered_hours_ago=1, restaurant="Paradise Biryani House")  # fmt: skip
    make_order(aarav, "ORD-1100", status="delivered", amount=564_200, placed_hours_ago=300)
    make_order(aarav, "ORD-1050", status="cancelled", amount=900_000, placed_hours_ago=400)
    Refund.objects.create(refund_id="RFD-7KQ2XD", order_id="ORD-1196", customer=aarav,
                          amount=26_850, percent=75, tier="Gold",
                          reason="Food arrived cold")  # fmt: skip
    make_complaint("CMP-4HX9PM", category="late_delivery", customer=aarav)
    make_ticket("TKT-4HX9PM", priority="high", customer=aarav, order_id="ORD-1196",
                reason="Wants a manager")  # fmt: skip
    sync_db().callbacks.insert_one({
        "callback_id": "CB-1", "user_id": 1, "phone": aarav.phone, "reason": "Refund follow-up",
        "slot_start": datetime.now(UTC) + timedelta(days=1), "status": "scheduled",
    })  # fmt: skip
    return aarav


def test_standing_names_the_tier_and_the_way_to_the_next() -> None:
    tiers = [Tier(n, s, p) for n, s, p in CONTRACT_TIERS]

    gold = standing(600_000, tiers)
    top = standing(1_200_000, tiers)

    assert (gold.tier and gold.tier.name, gold.next_tier and gold.next_tier.name) == (
        "Gold", "Platinum")
    assert gold.to_next == 400_000
    assert top.tier is not None and top.tier.name == "Platinum" and top.next_tier is None


def test_the_customer_page_has_everything_on_one_screen(
    agent: Client, aarav: Customer, contract_tiers: None, priya: Any
) -> None:
    response = agent.get("/staff/customers/1/")

    assert response.status_code == 200
    body = response.content.decode()
    for expected in [
        "Aarav Sharma", "+91 98765 00001", "aarav@example.in",  # profile
        "Gold", "75%", "₹6,000.00", "₹4,000.00 more to Platinum",  # tier and spend
        "₹268.50",  # wallet, and the refund
        "ORD-1196", "Paradise Biryani House", "ORD-1050", "Cancelled",  # orders
        'for <span class="id">ORD-1196</span> (Gold, 75%)', "Food arrived cold",  # refunds
        "CMP-4HX9PM", "Late delivery",  # complaints
        "TKT-4HX9PM", "Wants a manager",  # tickets
        "Refund follow-up", "Scheduled",  # callbacks
    ]:  # fmt: skip
        assert expected in body, expected
    assert "Priya" not in body  # another customer's data never shows


def test_a_call_in_progress_or_without_an_outcome_says_how_it_stands_in_words(
    agent: Client, aarav: Customer
) -> None:
    """No outcome yet (the call goes on) or none recorded (an older record): the history
    says how the call stands or ended, not a dash beside it."""
    now = datetime.now(UTC)
    Call.objects.create(call_id="call-going-on", customer=aarav, channel="web", started_at=now)
    Call.objects.create(call_id="call-old", customer=aarav, channel="phone",
                        started_at=now - timedelta(days=2),
                        ended_at=now - timedelta(days=2, minutes=-3),
                        end_reason="caller_hung_up")  # fmt: skip

    body = agent.get("/staff/customers/1/").content.decode()

    assert "<td>In progress" in body and "<td>Caller hung up" in body
    assert "— ·" not in body


def test_a_tickets_and_a_complaints_date_says_it_is_when_they_were_opened(
    agent: Client, aarav: Customer
) -> None:
    """Beside "Resolved", a bare date read as the day it was resolved."""
    body = agent.get("/staff/customers/1/").content.decode()

    assert re.search(r"(Resolved|Open|Claimed) · opened \d{1,2} \w{3} \d{4}", body)
    assert re.search(r" · filed \d{1,2} \w{3} \d{4}", body)


def test_an_imported_refund_without_a_tier_reads_as_its_percent_alone(
    agent: Client, priya: Customer
) -> None:
    """Loaded from an older system, a refund whose percent no tier gives has no tier name:
    its line read "(, 40%)"."""
    make_order(priya, "ORD-OLD-1", status="refunded", amount=50_000, placed_hours_ago=900)
    Refund.objects.create(refund_id="RFD-OLD001", order_id="ORD-OLD-1", customer=priya,
                          amount=20_000, percent=40, tier="", reason="")  # fmt: skip

    body = agent.get("/staff/customers/301/").content.decode()

    assert 'for <span class="id">ORD-OLD-1</span> (40%)' in body


def test_a_customers_tickets_and_complaints_of_other_years_are_told_apart(
    agent: Client, priya: Customer
) -> None:
    for ticket_id, days_ago in (("TKT-THISYR", 0), ("TKT-LASTYR", 365)):
        make_ticket(ticket_id, customer=priya, minutes_ago=days_ago * 24 * 60)
    make_complaint("CMP-LASTYR", customer=priya, days_ago=365)
    a_year_ago = timezone.localtime(datetime.now(UTC) - timedelta(days=365))

    body = agent.get("/staff/customers/301/").content.decode()

    said = f"{a_year_ago.day} {a_year_ago:%b %Y}"
    assert f"TKT-LASTYR</a> · Normal · Open · opened {said}" in body
    assert f"CMP-LASTYR</a> · Food quality · Open · filed {said}" in body


def test_the_customer_page_dates_have_their_full_year(agent: Client, priya: Customer) -> None:
    """"4 Dec 26, 23:35" read as the 26th; the call history and refunds say "4 Dec 2026"."""
    body = agent.get(f"/staff/customers/{priya.user_id}/").content.decode()
    order = Order.objects.get(order_id="ORD-3001")
    call = Call.objects.get(call_id="call-priya-1")

    for moment in (order.placed_at, call.started_at):
        assert moment is not None
        assert dateformat.format(timezone.localtime(moment), "j M Y, H:i") in body


def test_an_unknown_customer_is_404_and_guests_are_sent_to_log_in(
    agent: Client, guest_client: Client, aarav: Customer
) -> None:
    assert agent.get("/staff/customers/999/").status_code == 404
    assert guest_client.get("/staff/customers/1/").status_code == 302


# --- One search box --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "term, lands_on",
    [
        ("Aarav", "/staff/customers/1/"),
        ("aarav sharma", "/staff/customers/1/"),
        ("+91 98765 00001", "/staff/customers/1/"),
        ("9876500001", "/staff/customers/1/"),
        ("AARAV@example.in", "/staff/customers/1/"),
        ("1", "/staff/customers/1/"),
        ("# 1", "/staff/customers/1/"),
        ("९८७६५ ००००१", "/staff/customers/1/"),  # Devanagari digits, as a Hindi keyboard types
        ("#१", "/staff/customers/1/"),
        ("tkt-4hx9pm", "/staff/tickets/TKT-4HX9PM/"),
        ("ord-1196", "/admin/support/order/"),
        ("ord 1196", "/admin/support/order/"),  # as it is read out over the phone
        ("tkt 4hx9pm", "/staff/tickets/TKT-4HX9PM/"),
        ("call-priya-1", "/staff/calls/call-priya-1/"),
    ],
)  # fmt: skip
def test_one_match_goes_straight_to_it(
    term: str, lands_on: str, agent: Client, aarav: Customer, priya: Any
) -> None:
    response = agent.get("/staff/search/", {"q": term})

    assert response.status_code == 302
    assert response["Location"].startswith(lands_on)


@pytest.mark.parametrize("typed", ["CALL-1A2B3C4D5E6F7A8B", "call 1a2b3c4d5e6f7a8b",
                                   "CALL 1A2B3C4D5E6F7A8B", " Call  1a2b3C4D5E6F7A8B"])
def test_a_call_id_is_found_as_it_is_read_out(typed: str, agent: Client, db: Any) -> None:
    """A call id is CALL- and lower-case hex: read out, its hyphen is a space."""
    now = datetime.now(UTC)
    Call.objects.create(call_id="CALL-1a2b3c4d5e6f7a8b", channel="phone", started_at=now,
                        ended_at=now, end_reason="idle")  # fmt: skip

    response = agent.get("/staff/search/", {"q": typed})

    assert response.status_code == 302
    assert response["Location"] == "/staff/calls/CALL-1a2b3c4d5e6f7a8b/"


# Order ids are whatever the business's data holds (contract section 6).
ORDER_IDS = ["SW/2026/000123", "ORD 7", "A&B-1", "X#12", "ORD-7-B", "5012345678", "50%+1?"]


@pytest.mark.parametrize("order_id", ORDER_IDS)
def test_an_order_is_found_by_its_id_whatever_characters_it_holds(
    order_id: str, agent: Client, aarav: Customer
) -> None:
    order = make_order(aarav, order_id, status="delivered", amount=10_000, placed_hours_ago=3)

    for typed in (order_id, f"  {order_id.lower()} "):
        found = agent.get("/staff/search/", {"q": typed})
        assert found["Location"] == reverse("admin:support_order_change", args=[order.pk]), typed


@pytest.mark.parametrize("order_id", ORDER_IDS)
def test_the_queues_link_to_a_tickets_order_opens_that_order(
    order_id: str, agent: Client, aarav: Customer
) -> None:
    order = make_order(aarav, order_id, status="delivered", amount=10_000, placed_hours_ago=3)
    make_ticket("TKT-ODDORD", customer=aarav, order_id=order_id)

    body = agent.get("/staff/queue/").content.decode()
    shown = re.escape(html.escape(order_id))
    link = re.search(f'<td data-label="Order"><a href="([^"]*)" class="id">{shown}</a>', body)

    assert link is not None
    opened = agent.get(html.unescape(link[1]))
    assert opened["Location"] == reverse("admin:support_order_change", args=[order.pk])


def test_every_link_to_a_call_or_ticket_whose_id_holds_url_characters_opens_it(
    lead: Client, priya: Customer
) -> None:
    odd = "X 7&8#9?%+1"  # ids are ours (CALL-…, TKT-…), but a link must not rely on that
    now = datetime.now(UTC)
    Call.objects.create(call_id=odd, customer=priya, channel="web", ended_at=now,
                        started_at=now - timedelta(minutes=2), end_reason="customer_hung_up")
    make_ticket(odd, customer=priya, call_id=odd)
    pages = {"/staff/queue/": 1, "/staff/calls/": 1, "/staff/customers/301/": 2,
             "/admin/support/escalation/": 1}  # fmt: skip

    for page, links in pages.items():
        body = lead.get(page).content.decode()
        hrefs = {html.unescape(href) for href in re.findall(r'href="(/staff/[^"]*X[^"]*)"', body)}
        assert len(hrefs) == links, page
        for href in hrefs:
            title = lead.get(href).context["title"]
            assert title == f"Ticket {odd}" or title.startswith("Call with Priya Nair"), href
    ticket = lead.get(reverse("staff:ticket", args=[odd])).content.decode()
    call_link = re.search(r'href="(/staff/calls/[^"]*)">open the call', ticket)
    assert call_link is not None
    assert lead.get(html.unescape(call_link[1])).context["title"].startswith("Call with Priya")


def test_a_refund_found_by_its_id_opens_the_refund_list_searched_for_it(
    agent: Client, aarav: Customer
) -> None:
    Refund.objects.create(refund_id="RF 7&8#9+%", order_id="ORD-1100", customer=aarav,
                          amount=100, percent=30, tier="Bronze", reason="cold")  # fmt: skip

    found = agent.get("/staff/search/", {"q": "RF 7&8#9+%"})
    listed = agent.get(found["Location"])

    assert [r.refund_id for r in listed.context["cl"].result_list] == ["RF 7&8#9+%"]


@pytest.mark.parametrize("term", ["500001", "76500001", "876500001", "500 001", "5000-01"])
def test_the_last_digits_of_a_phone_find_its_customer(
    term: str, agent: Client, aarav: Customer
) -> None:
    assert agent.get("/staff/search/", {"q": term})["Location"] == "/staff/customers/1/"


@pytest.mark.parametrize(
    "term, lands_on",
    [("07700 900123", 6), ("+44 7700 900123", 6), ("(202) 555-0123", 7), ("+1 202 555 0123", 7)],
)  # fmt: skip
def test_a_number_from_abroad_is_found_written_as_its_country_writes_it(
    term: str, lands_on: int, agent: Client, aarav: Customer
) -> None:
    Customer.objects.create(user_id=6, name="Zoë O'Brien", phone="+447700900123")
    Customer.objects.create(user_id=7, name="John Doe", phone="+12025550123")

    assert agent.get("/staff/search/", {"q": term})["Location"] == f"/staff/customers/{lands_on}/"


def test_digits_that_are_a_user_id_and_the_end_of_a_phone_list_both(
    agent: Client, aarav: Customer
) -> None:
    Customer.objects.create(user_id=500001, name="Dev Anand", phone="+919800000777")

    body = agent.get("/staff/search/", {"q": "500001"}).content.decode()

    assert "Aarav Sharma" in body and "Dev Anand" in body


def test_a_customer_with_a_long_user_id_is_found_by_it_and_their_calls_are_listed(
    agent: Client, aarav: Customer
) -> None:
    kabir = Customer.objects.create(user_id=4_200_000_001, name="Kabir Rao",
                                    phone="+919800004200")  # fmt: skip
    Call.objects.create(call_id="call-kabir", customer=kabir, channel="web",
                        started_at=datetime.now(UTC) - timedelta(minutes=5))  # fmt: skip

    body = agent.get("/staff/customers/4200000001/").content.decode()
    link = re.search(r'href="(/staff/calls/\?customer=[^"]*)"', body)
    assert link is not None
    calls = agent.get(html.unescape(link[1])).context["page"]

    assert calls is not None and [c.call_id for c in calls.rows] == ["call-kabir"]
    for term in ("4200000001", "#4200000001"):
        found = agent.get("/staff/search/", {"q": term})
        assert found["Location"] == "/staff/customers/4200000001/", term
    assert agent.get("/staff/search/", {"q": "9" * 30}).status_code == 200


def test_several_matches_are_listed_with_names(agent: Client, aarav: Customer) -> None:
    Customer.objects.create(user_id=2, name="Aarav Mehta", phone="+919876500002")

    response = agent.get("/staff/search/", {"q": "aarav"})

    body = response.content.decode()
    assert "Aarav Sharma" in body and "Aarav Mehta" in body and "+91 98765 00002" in body


@pytest.mark.parametrize("kumars, said", [(50, False), (55, True)])
def test_a_name_many_share_lists_the_first_fifty_by_name_and_says_so_only_when_there_are_more(
    agent: Client, kumars: int, said: bool
) -> None:
    # Created in reverse, so the database's own order is not the names' order.
    for n in reversed(range(kumars)):
        Customer.objects.create(user_id=500 + n, name=f"Kumar {n:02d}", phone=f"+9198000005{n:02d}")

    body = agent.get("/staff/search/", {"q": "kumar"}).content.decode()

    listed = re.findall(r">(Kumar \d\d)</a>", body)
    assert listed == [f"Kumar {n:02d}" for n in range(50)]
    assert ("Showing the first 50" in body) is said


@pytest.mark.parametrize(
    "term, found",
    [
        ("priya+orders@gmail.com", [2]),
        ("  PRIYA+ORDERS@GMAIL.COM ", [2]),
        ("jose.alvarez@example.com", [3]),  # a dot is a dot: not Jose Xalvarez too
        ("Jose.Alvarez@Example.COM", [3]),
        ("j.*@example.com", []),
    ],
)  # fmt: skip
def test_an_email_is_found_as_it_is_written_in_any_case(
    term: str, found: list[int], aarav: Customer
) -> None:
    Customer.objects.create(user_id=2, name="Priya Iyer", phone="+919800000002",
                            email="priya+orders@gmail.com")  # fmt: skip
    Customer.objects.create(user_id=3, name="José Álvarez", phone="+919800000003",
                            email="Jose.Alvarez@Example.COM")  # fmt: skip
    Customer.objects.create(user_id=4, name="Jose Xalvarez", phone="+919800000004",
                            email="josexalvarez@example.com")  # fmt: skip

    assert [c.user_id for c in find_customers(term)] == found


@pytest.mark.parametrize(
    "term, found",
    [("प्रिया", [3]), ("प्रि", [3]), ("नायर", [3]), ("प्रिया नायर", [3]), ("परम", [4]), ("मीना", [5])],
)  # fmt: skip
def test_a_name_in_devanagari_is_found_by_its_words_and_only_those(
    term: str, found: list[int], db: Any
) -> None:
    Customer.objects.create(user_id=3, name="प्रिया नायर", phone="+919800000003")
    Customer.objects.create(user_id=4, name="परम यादव", phone="+919800000004")
    Customer.objects.create(user_id=5, name="मीना", phone="+919800000005")

    assert [c.user_id for c in find_customers(term)] == found


@pytest.mark.parametrize(
    "term, found",
    [("dsouza", [3]), ("DSouza", [3]), ("d'souza", [3]), ("d souza", [3]), ("d’sou", [3]),
     ("obrien", [4]), ("o'brien", [4]), ("maryjane", [5]), ("mary-jane smith", [5]),
     ("jane", [5]), ("souza", [3])],
)  # fmt: skip
def test_a_name_with_an_apostrophe_or_hyphen_is_found_typed_with_or_without_it(
    term: str, found: list[int], db: Any
) -> None:
    Customer.objects.create(user_id=3, name="Anita D'Souza", phone="+919800000003")
    Customer.objects.create(user_id=4, name="Liam O’Brien", phone="+919800000004")
    Customer.objects.create(user_id=5, name="Mary-Jane Smith", phone="+919800000005")

    assert [c.user_id for c in find_customers(term)] == found


@pytest.mark.parametrize(
    "term, found",
    [("a s", [1, 6]), ("s a", [1, 6]), ("a k s", [6]), ("a", [1, 6]), ("á", [1, 6]), ("m", [7])],
)  # fmt: skip
def test_initials_find_the_names_whose_words_they_start(
    term: str, found: list[int], aarav: Customer
) -> None:
    Customer.objects.create(user_id=6, name="A. K. Singh", phone="+919800000006")
    Customer.objects.create(user_id=7, name="Maya Sen", phone="+919800000007")

    assert sorted(c.user_id for c in find_customers(term)) == found


@pytest.mark.parametrize("term", ["(", ".", "-", "'", "!!!", "(+)", "…", "¿?"])
def test_a_search_of_punctuation_alone_finds_nobody(term: str, agent: Client) -> None:
    Customer.objects.create(user_id=9, name="John (Jack) D'Souza-Lee Jr.", phone="+12025550123")

    body = agent.get("/staff/search/", {"q": term}).content.decode()

    assert "Nothing matches" in body


def test_nothing_found_says_what_to_try(agent: Client, aarav: Customer) -> None:
    body = agent.get("/staff/search/", {"q": "Zebulon"}).content.decode()

    assert "Nothing matches “Zebulon”" in body


def test_a_hostile_search_term_is_just_text(agent: Client, aarav: Customer) -> None:
    for term in [".*", "[", '{"$ne": null}', "<script>alert(1)</script>", "a" * 500]:
        response = agent.get("/staff/search/", {"q": term})
        assert response.status_code == 200
        assert "<script>alert(1)</script>" not in response.content.decode()
    # Read as text, "(a+)+$" is the initial "a": Aarav Sharma's name starts with it.
    assert agent.get("/staff/search/", {"q": "(a+)+$"})["Location"] == "/staff/customers/1/"


def test_the_search_finds_a_record_only_for_who_may_read_it(db: Any, priya: Customer) -> None:
    """Ticket reasons and complaints hold what callers said, calls too: a colleague who may look
    customers up but not read those is not shown them by the search box (nor sent to a page
    that would refuse them)."""
    looker = User.objects.create_user("looker", is_staff=True)
    looker.user_permissions.set(Permission.objects.filter(
        content_type__app_label="support", codename="view_customer"))  # fmt: skip
    make_ticket("TKT-SECRET", customer=priya, reason="Her card PIN is 4242, she said")
    make_complaint("CMP-SECRET", customer=priya)
    Refund.objects.create(refund_id="RFD-SECRET", order_id="ORD-3001", customer=priya,
                          amount=12_000, percent=50, tier="Silver", reason="cold")  # fmt: skip
    client = client_for(looker)

    for term in ("TKT-SECRET", "CMP-SECRET", "call-priya-1", "ORD-3001", "RFD-SECRET"):
        response = client.get("/staff/search/", {"q": term})
        assert response.status_code == 200, term  # not sent to the record
        body = response.content.decode()
        assert "PIN" not in body and "The food was cold" not in body, term
        assert "Nothing matches" in body, term
    assert client.get("/staff/search/", {"q": "Priya"})["Location"] == "/staff/customers/301/"


# --- Names and phones in every list ---------------------------------------------------------


def test_the_queue_shows_who_each_ticket_is_about(agent: Client, aarav: Customer) -> None:
    make_ticket("TKT-NOBODY", priority="low")

    body = agent.get("/staff/queue/").content.decode()

    assert '<a class="person" href="/staff/customers/1/">Aarav Sharma</a>' in body
    assert "+91 98765 00001" in body
    assert "Not identified" in body  # the ticket of an unknown caller


@pytest.mark.parametrize("model", ["order", "refund", "complaint", "escalation", "call"])
def test_admin_lists_show_names_linked_to_the_customer_page(
    model: str, agent: Client, aarav: Customer, priya: Any
) -> None:
    from support.models import Call

    Call.objects.filter(call_id="call-priya-1").update(customer=aarav)

    body = agent.get(f"/admin/support/{model}/").content.decode()

    assert '<a class="person" href="/staff/customers/1/">Aarav Sharma</a>' in body, model


def test_order_search_for_a_name_lists_that_customers_orders_by_name(
    agent: Client, aarav: Customer
) -> None:
    response = agent.get("/admin/support/order/", {"q": "Aarav"})

    body = response.content.decode()
    assert body.count('<a class="person" href="/staff/customers/1/">Aarav Sharma</a>') == 3
    assert Order.objects.count() == 3 and Escalation.objects.count() == 1
    assert Complaint.objects.count() == 1
