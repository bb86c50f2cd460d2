"""Goodwill credits and manual refunds: agents propose, leads approve, the wallet moves once."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connections
from django.test import Client

from support import goodwill
from support.models import Customer, Goodwill, GoodwillPolicy, Order, Refund
from support.mongo import sync_db
from support.tests.conftest import make_order
from support.tests.staff.conftest import LEAD, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def aarav(db: Any) -> Customer:
    aarav = Customer.objects.create(user_id=1, name="Aarav Sharma", phone="+919876500001",
                                    wallet_balance=10_000)  # fmt: skip
    make_order(aarav, "ORD-1196", status="delivered", amount=35_800, placed_hours_ago=30,
               delivered_hours_ago=29)  # fmt: skip
    return aarav


def wallet() -> int:
    return Customer.objects.get(user_id=1).wallet_balance


def form(client: Client, **fields: str) -> dict[str, str]:
    """The goodwill form as the customer page shows it, filled in."""
    page = client.get("/staff/customers/1/").content.decode()
    key = re.search(r'name="request_key" value="([^"]+)"', page)
    assert key, "the customer page offers the goodwill form"
    return {"kind": "credit", "amount": "150", "reason": "Rider was rude",
            "request_key": key.group(1), **fields}  # fmt: skip


def post(client: Client, data: dict[str, str]) -> Any:
    return client.post("/staff/customers/1/goodwill", data, follow=True)


# --- The rules (pure) -------------------------------------------------------------------------


def test_credit_rules() -> None:
    assert goodwill.credit_refusal(10_000, 50_000, 30_000) is None
    assert goodwill.credit_refusal(0, 50_000, 0) == "A credit must be more than ₹0."
    assert goodwill.credit_refusal(30_000, 50_000, 30_000) == (
        "That is over the daily goodwill limit of ₹500.00 for this customer "
        "(₹200.00 left today)."
    )


def test_manual_refund_rules() -> None:
    order = {"order_id": "ORD-1", "amount": 35_800, "status": "delivered", "refund": None}

    assert goodwill.refund_refusal(35_800, order) is None
    assert goodwill.refund_refusal(35_801, order) == (
        "A refund cannot be more than the order's ₹358.00.")
    assert goodwill.refund_refusal(100, {**order, "refund": {"amount": 1}}) == (
        "Order ORD-1 has already been refunded.")
    assert goodwill.refund_refusal(100, {**order, "status": "cancelled"}) == (
        "Only a delivered order can be refunded (this one is cancelled).")
    assert goodwill.refund_refusal(100, None) == "This customer has no such order."


# --- Agents propose, leads approve ------------------------------------------------------------


def test_an_agent_proposes_and_a_lead_approves_once(
    agent: Client, lead: Client, aarav: Customer
) -> None:
    response = post(agent, form(agent))
    assert "Sent to a lead for approval" in response.content.decode()
    request = Goodwill.objects.get()
    assert (request.status, request.proposed_by, wallet()) == ("proposed", "meera", 10_000)

    approve = f"/staff/goodwill/{request.goodwill_id}/approve"
    first = lead.post(approve, follow=True)
    second = lead.post(approve, follow=True)  # a double click: done, once
    other_lead = User.objects.create_user("kavya", is_staff=True)
    other_lead.groups.add(Group.objects.get(name=LEAD))
    third = client_for(other_lead).post(approve, follow=True)

    assert wallet() == 25_000
    assert "Credited ₹150.00 to the wallet." in first.content.decode()
    assert "Credited ₹150.00 to the wallet." in second.content.decode()
    assert "already approved" not in second.content.decode()
    assert f"{request.goodwill_id} was already approved by arjun." in third.content.decode()
    request.refresh_from_db()
    assert (request.status, request.decided_by) == ("approved", "arjun")
    assert request.decided_at is not None


def test_who_asked_and_who_decided_are_named_as_colleagues_know_them(
    agent: Client, lead: Client, aarav: Customer
) -> None:
    User.objects.filter(username="meera").update(first_name="Meera", last_name="Nair")
    User.objects.filter(username="arjun").update(first_name="Arjun", last_name="Mehta")
    post(agent, form(agent))
    request = Goodwill.objects.get()
    approve = f"/staff/goodwill/{request.goodwill_id}/approve"

    lead.post(approve)
    again = agent.get(f"/staff/customers/{aarav.user_id}/").content.decode()
    late = User.objects.create_user("kavya", is_staff=True)
    late.groups.add(Group.objects.get(name=LEAD))
    refused = client_for(late).post(approve, follow=True).content.decode()

    assert "asked by Meera Nair, approved by Arjun Mehta on " in again  # on its day and time
    assert f"{request.goodwill_id} was already approved by Arjun Mehta." in refused
    request.refresh_from_db()
    assert (request.proposed_by, request.decided_by) == ("meera", "arjun")  # the record: usernames


def test_an_agent_cannot_approve(agent: Client, aarav: Customer) -> None:
    post(agent, form(agent))
    request = Goodwill.objects.get()

    assert agent.post(f"/staff/goodwill/{request.goodwill_id}/approve").status_code == 403
    assert wallet() == 10_000


def test_a_lead_rejects_with_a_note(agent: Client, lead: Client, aarav: Customer) -> None:
    post(agent, form(agent))
    request = Goodwill.objects.get()

    lead.post(f"/staff/goodwill/{request.goodwill_id}/reject", {"note": "Already compensated"})

    request.refresh_from_db()
    assert (request.status, request.decision_note, wallet()) == (
        "rejected", "Already compensated", 10_000)


def test_a_lead_gives_at_once_and_a_double_submit_credits_once(
    lead: Client, aarav: Customer
) -> None:
    data = form(lead)

    first = post(lead, data)
    second = post(lead, data)

    assert wallet() == 25_000 and Goodwill.objects.count() == 1
    assert "Credited ₹150.00 to the wallet." in first.content.decode()
    assert "That was already done" in second.content.decode()


@pytest.mark.django_db(transaction=True)  # the threads need their own connections
def test_concurrent_approvals_credit_once(agent: Client, aarav: Customer) -> None:
    post(agent, form(agent))
    goodwill_id = Goodwill.objects.get().goodwill_id
    leads = [f"lead{n}" for n in range(6)]
    start = threading.Barrier(len(leads))

    def try_approve(name: str) -> str:
        start.wait()
        try:
            goodwill.approve(goodwill_id, name)
            return "applied"
        except goodwill.GoodwillError:
            return "refused"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(leads)) as pool:
        outcomes = list(pool.map(try_approve, leads))

    assert outcomes.count("applied") == 1
    assert wallet() == 25_000


# --- Limits -----------------------------------------------------------------------------------


def test_credit_over_the_daily_cap_is_refused_beside_the_form(
    lead: Client, aarav: Customer
) -> None:
    post(lead, form(lead, amount="400"))

    response = post(lead, form(lead, amount="150"))

    body = response.content.decode()
    assert "over the daily goodwill limit of ₹500.00" in body and "₹100.00 left today" in body
    assert 'value="150"' in body  # what was typed is still there
    assert wallet() == 50_000


@pytest.fixture
def another_credit_lands_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    """₹400 is credited to Aarav between a request's check and its approval (another lead):
    the approval is refused, and the lead's request is rejected, with why."""
    from django.utils import timezone

    from support.mongo import sync_db

    checked = goodwill._check

    def check_then_another_credit(request: goodwill.Request) -> None:
        checked(request)
        monkeypatch.setattr(goodwill, "_check", checked)  # once
        sync_db().goodwill_days.update_one(
            {"user_id": 1, "day": goodwill.local_day(timezone.now())},
            {"$set": {"credited": 40_000}}, upsert=True)

    monkeypatch.setattr(goodwill, "_check", check_then_another_credit)


def _key(body: str) -> str:
    found = re.search(r'name="request_key" value="([^"]+)"', body)
    assert found
    return found.group(1)


def test_a_leads_credit_refused_as_it_was_given_is_given_once_sent_again_corrected(
    lead: Client, aarav: Customer, another_credit_lands_meanwhile: None
) -> None:
    data = form(lead, amount="300")

    refused = post(lead, data).content.decode()
    again = post(lead, {**data, "amount": "100", "request_key": _key(refused)})

    assert "over the daily goodwill limit of ₹500.00" in refused
    assert _key(refused) != data["request_key"]  # a new request, when sent again
    assert [str(m) for m in again.context["messages"]] == ["Credited ₹100.00 to the wallet."]
    assert wallet() == 20_000
    statuses = sorted(Goodwill.objects.values_list("amount", "status"))
    assert statuses == [(10_000, "approved"), (30_000, "rejected")]


def test_a_refused_form_sent_again_as_it_was_is_said_refused_not_done(
    lead: Client, aarav: Customer, another_credit_lands_meanwhile: None
) -> None:
    """The same form twice (a double click, a page sent again): its request was refused."""
    data = form(lead, amount="300")

    post(lead, data)
    again = post(lead, data).content.decode()

    assert "already done" not in again
    assert re.search(r"Goodwill credit ₹300.00 \(GWL-\w+\) was not given: That is over the "
                     r"daily goodwill limit", again)  # fmt: skip
    assert wallet() == 10_000


@pytest.mark.django_db(transaction=True)
def test_two_credits_that_together_pass_the_cap_cannot_both_apply(
    agent: Client, aarav: Customer
) -> None:
    post(agent, form(agent, amount="300"))
    post(agent, form(agent, amount="300"))
    ids = list(Goodwill.objects.values_list("goodwill_id", flat=True))
    start = threading.Barrier(2)

    def try_approve(goodwill_id: str) -> str:
        start.wait()
        try:
            goodwill.approve(goodwill_id, "arjun")
            return "applied"
        except goodwill.GoodwillError:
            return "refused"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(try_approve, ids))

    assert outcomes == ["applied", "refused"]
    assert wallet() == 40_000


def test_a_credit_for_an_account_gone_meanwhile_is_refused_not_approved(
    agent: Client, aarav: Customer
) -> None:
    """Approved with no wallet to credit, the request would read as given and nothing moved."""
    post(agent, form(agent))
    request = Goodwill.objects.get()
    sync_db().customers.delete_one({"user_id": 1})

    with pytest.raises(goodwill.GoodwillError, match="no longer exists"):
        goodwill.approve(request.goodwill_id, "arjun")

    request.refresh_from_db()
    assert request.status == "proposed"
    assert sync_db().goodwill_days.count_documents({"credited": {"$gt": 0}}) == 0


def test_a_lead_sets_the_daily_cap_in_the_admin_and_an_agent_cannot(
    lead: Client, agent: Client, aarav: Customer
) -> None:
    policy = GoodwillPolicy.objects.get()
    url = f"/admin/support/goodwillpolicy/{policy.pk}/change/"

    assert agent.post(url, {"daily_credit_cap": "5000"}).status_code == 403
    lead.post(url, {"daily_credit_cap": "1,000"})

    assert GoodwillPolicy.objects.get().daily_credit_cap == 100_000
    post(lead, form(lead, amount="900"))
    assert wallet() == 100_000


# --- Manual refunds ---------------------------------------------------------------------------


def test_a_manual_refund_refunds_the_order_once(lead: Client, aarav: Customer) -> None:
    response = post(lead, form(lead, kind="refund", order_id="ORD-1196", amount="200"))

    assert "Refunded ₹200.00 for ORD-1196 to the wallet." in response.content.decode()
    order = Order.objects.get(order_id="ORD-1196")
    refund = Refund.objects.get(order_id="ORD-1196")
    assert (order.status, order.refund.amount, order.refund.percent) == ("refunded", 20_000, 56)
    assert (refund.tier, refund.amount) == ("Manual", 20_000)
    assert "approved by arjun" in refund.reason
    assert wallet() == 30_000

    again = post(lead, form(lead, kind="refund", order_id="ORD-1196", amount="100"))

    assert "Select a valid choice" in again.content.decode()  # no longer offered
    assert wallet() == 30_000 and Refund.objects.count() == 1


def test_a_manual_refund_never_exceeds_the_order(lead: Client, aarav: Customer) -> None:
    response = post(lead, form(lead, kind="refund", order_id="ORD-1196", amount="358.01"))

    assert "cannot be more than the order&#x27;s ₹358.00" in response.content.decode()
    assert wallet() == 10_000 and not Refund.objects.exists()


def test_a_refund_needs_an_order_and_a_reason(lead: Client, aarav: Customer) -> None:
    response = post(lead, form(lead, kind="refund", reason=""))

    body = response.content.decode()
    assert "Choose the order to refund." in body and "This field is required." in body
    assert not Goodwill.objects.exists()


def test_guests_cannot_ask_for_goodwill(guest_client: Client, aarav: Customer,
                                        staff_groups: Any) -> None:  # fmt: skip
    response = guest_client.post("/staff/customers/1/goodwill", {"amount": "100"})

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert User.objects.filter(username="guest").exists() and not Goodwill.objects.exists()


def test_asking_for_goodwill_needs_the_permission_to_see_the_customer(
    aarav: Customer, staff_groups: Any
) -> None:
    """A form with errors answers with the customer's page (phone, wallet, orders): someone who
    may propose goodwill but not view customers was shown it by sending an empty form."""
    from django.contrib.auth.models import Permission

    proposer = User.objects.create_user("proposer", is_staff=True)
    proposer.user_permissions.set(Permission.objects.filter(codename="add_goodwill"))
    client = client_for(proposer)

    response = client.post("/staff/customers/1/goodwill", {"kind": "credit"})

    assert response.status_code == 403
    assert "98765 00001" not in response.content.decode() and not Goodwill.objects.exists()


def test_the_form_reads_of_the_customers_orders_only_what_it_offers(
    agent: Client, aarav: Customer
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        page = agent.get("/staff/customers/1/").content.decode()

    assert "ORD-1196 · " in page  # offered for a refund, with its restaurant and amount
    order_reads = [q["sql"] for q in queries.captured_queries if "db.orders." in q["sql"]]
    # Each read of orders names its fields (`$project`), and the items are not among them.
    assert order_reads and all("$project" in sql and "items" not in sql for sql in order_reads)
