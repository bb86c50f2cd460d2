"""What an operator (a superuser, the only one who may change customers and orders in the
admin) can edit there, and the mistakes the forms stop with a message on the field."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from support.admin import CustomerForm, OrderForm
from support.customers import find_customer
from support.models import Customer, Order
from support.mongo import sync_db
from support.name_keys import name_keys
from support.tests.staff.conftest import PASSWORD, client_for
from support.tools import ToolContext, run_tool

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db: Any) -> Client:
    return client_for(User.objects.create_superuser("root", "root@example.com", PASSWORD))


def errors_of(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, "expected the form again, with errors"
    form = response.context["adminform"].form
    return {name: [str(e) for e in errors] for name, errors in form.errors.items()}


def local(moment: datetime | None) -> dict[str, str]:
    if moment is None:
        return {"delivered_at_0": "", "delivered_at_1": ""}
    moment = timezone.localtime(moment)
    return {"delivered_at_0": f"{moment:%Y-%m-%d}", "delivered_at_1": f"{moment:%H:%M:%S}"}


def edit_order(client: Client, order_id: str, **changes: Any) -> Any:
    order = Order.objects.get(order_id=order_id)
    data = {"restaurant": order.restaurant, "status": order.status,
            **local(changes.pop("delivered_at", order.delivered_at)), **changes}  # fmt: skip
    return client.post(f"/admin/support/order/{order.pk}/change/", data)


def refund(order_id: str, user_id: int = 101) -> dict[str, Any]:
    context = ToolContext(user_id=user_id, call_id="call-admin-edit", channel="web")
    return asyncio.run(run_tool("initiate_refund", {"order_id": order_id, "reason": "cold"},
                                context))  # fmt: skip


# --- Orders -----------------------------------------------------------------------------------


def test_an_operator_marks_an_order_delivered_with_its_delivery_time(
    operator: Client, asha: Customer
) -> None:
    delivered = datetime.now(UTC) - timedelta(minutes=5)

    response = edit_order(operator, "ORD-1003", status="delivered", delivered_at=delivered)

    assert response.status_code == 302
    order = Order.objects.get(order_id="ORD-1003")
    assert order.status == "delivered" and order.delivered_at is not None


def test_an_order_is_not_marked_refunded_without_a_refund(
    operator: Client, asha: Customer, tiers: Any
) -> None:
    response = edit_order(operator, "ORD-1001", status="refunded")

    assert "status" in errors_of(response)
    assert "manual refund" in errors_of(response)["status"][0]
    assert Order.objects.get(order_id="ORD-1001").status == "delivered"
    assert refund("ORD-1001")["ok"] is True  # the customer still gets their refund


def test_a_refunded_order_keeps_its_status(operator: Client, asha: Customer) -> None:
    response = edit_order(operator, "ORD-1005", status="delivered")

    assert "RFD-K7M2QP" in errors_of(response)["status"][0]
    assert Order.objects.get(order_id="ORD-1005").status == "refunded"


@pytest.mark.parametrize(
    "order_id, changes, field, message",
    [
        ("ORD-1003", {"status": "delivered", "delivered_at": None}, "delivered_at",
         "An order that is delivered needs its delivery time."),
        ("ORD-1001", {"status": "preparing"}, "delivered_at",
         "An order that is being prepared has not been delivered: leave the delivery time "
         "empty."),
        ("ORD-1001", {"delivered_at": datetime.now(UTC) - timedelta(days=3)}, "delivered_at",
         "The delivery time is before the order was placed."),
        ("ORD-1001", {"delivered_at": datetime.now(UTC) + timedelta(hours=3)}, "delivered_at",
         "The delivery time is in the future."),
    ],
)  # fmt: skip
def test_an_order_edit_that_breaks_its_lifecycle_is_refused_on_its_field(
    order_id: str, changes: dict[str, Any], field: str, message: str, operator: Client,
    asha: Customer,
) -> None:
    before = Order.objects.get(order_id=order_id)

    response = edit_order(operator, order_id, **changes)

    assert message in errors_of(response).get(field, [])
    after = Order.objects.get(order_id=order_id)
    assert (after.status, after.delivered_at) == (before.status, before.delivered_at)


def test_a_refund_made_while_an_order_is_saved_stays_on_the_order(
    operator: Client, asha: Customer, tiers: Any, monkeypatch: Any
) -> None:
    # The operator's form was checked against an order without a refund; the agent refunds
    # it before the form is written. A whole-document save wrote `refund: null` back over it.
    checked = OrderForm.clean

    def refunded_meanwhile(form: OrderForm) -> dict[str, Any]:
        cleaned = checked(form)
        assert refund("ORD-1001")["ok"] is True
        return cleaned

    monkeypatch.setattr(OrderForm, "clean", refunded_meanwhile)

    response = edit_order(operator, "ORD-1001", restaurant="Biryani Blues, Indiranagar")

    order = Order.objects.get(order_id="ORD-1001")
    assert order.status == "refunded" and order.refund is not None
    assert order.restaurant == "Biryani Blues"  # nothing of the stale form was written
    assert response.status_code == 302
    messages = [str(m) for m in operator.get(response["Location"]).context["messages"]]
    assert messages == ["ORD-1001 was refunded meanwhile, so nothing was changed: here it is "
                        "as it is now."]  # fmt: skip
    assert not LogEntry.objects.filter(object_id=str(order.pk)).exists()


def test_an_order_edit_writes_the_fields_edited(operator: Client, asha: Customer) -> None:
    response = edit_order(operator, "ORD-1005", restaurant="Biryani Blues, Indiranagar")

    order = Order.objects.get(order_id="ORD-1005")
    assert response.status_code == 302
    assert order.restaurant == "Biryani Blues, Indiranagar"
    assert order.status == "refunded" and order.refund is not None
    assert LogEntry.objects.filter(object_id=str(order.pk)).count() == 1


# --- Customers --------------------------------------------------------------------------------


def edit_customer(client: Client, user_id: int, **changes: Any) -> Any:
    customer = Customer.objects.get(user_id=user_id)
    data = {"name": customer.name, "phone": customer.phone, "email": customer.email, **changes}
    return client.post(f"/admin/support/customer/{customer.pk}/change/", data)


def test_a_phone_is_stored_as_the_number_twilio_sends(operator: Client, asha: Customer) -> None:
    response = edit_customer(operator, 101, phone="+91 98000-00111")

    assert response.status_code == 302
    assert Customer.objects.get(user_id=101).phone == "+919800000111"
    found = asyncio.run(find_customer(phone="+919800000111"))
    assert found is not None and found.user_id == 101  # a call from it reaches Asha


@pytest.mark.parametrize("phone", ["98000 00111", "098000 00111", "call her at work"])
def test_a_phone_without_its_country_code_is_refused(
    phone: str, operator: Client, asha: Customer
) -> None:
    response = edit_customer(operator, 101, phone=phone)

    assert errors_of(response)["phone"] == [
        "Enter the number with its country code, like +919812345678: calls are matched on it."
    ]
    assert Customer.objects.get(user_id=101).phone == "+919800000101"


@pytest.mark.parametrize("phone", ["+919800000202", "+91 98000 00202"])
def test_another_customers_phone_is_refused_however_it_is_written(
    phone: str, operator: Client, asha: Customer, ravi: Customer
) -> None:
    response = edit_customer(operator, 101, phone=phone)

    assert errors_of(response)["phone"] == ["+919800000202 is Ravi Kumar's (#202)."]
    assert Customer.objects.get(user_id=101).phone == "+919800000101"


def test_a_wallet_credit_made_while_a_customer_is_saved_is_kept(
    operator: Client, asha: Customer, monkeypatch: Any
) -> None:
    # A refund or goodwill credit ($inc) lands while the operator's edit is checked: a
    # whole-document save wrote back the balance read with the form, and the money was lost.
    checked = CustomerForm.clean_phone

    def credited_meanwhile(form: CustomerForm) -> str:
        sync_db().customers.update_one({"user_id": 101}, {"$inc": {"wallet_balance": 5_000}})
        return checked(form)

    monkeypatch.setattr(CustomerForm, "clean_phone", credited_meanwhile)

    response = edit_customer(operator, 101, name="Asha Verma Rao")

    customer = Customer.objects.get(user_id=101)
    assert response.status_code == 302
    assert customer.name == "Asha Verma Rao" and customer.wallet_balance == 12_000 + 5_000
    assert customer.name_keys == name_keys("Asha Verma Rao")  # the search finds the new name


def test_a_new_customer_needs_a_positive_user_id(operator: Client) -> None:
    new = {"user_id": "0", "name": "Kiran Rao", "phone": "+919811111111"}

    response = operator.post("/admin/support/customer/add/", new)

    assert "user_id" in errors_of(response)
    assert not Customer.objects.exists()


def test_a_customer_with_a_history_is_not_deleted(operator: Client, asha: Customer) -> None:
    # Orders, refunds and calls name their customer by user_id only: deleting the customer
    # would leave them pointing at nobody (and at whoever is given that user_id next).
    page = operator.get(f"/admin/support/customer/{asha.pk}/delete/")
    posted = operator.post(f"/admin/support/customer/{asha.pk}/delete/", {"post": "yes"})
    action = operator.post("/admin/support/customer/",
                           {"action": "delete_selected", "_selected_action": [asha.pk],
                            "post": "yes"})  # fmt: skip

    assert "5 orders" in page.content.decode()
    assert posted.status_code == 200 and action.status_code == 200
    assert Customer.objects.filter(user_id=101).exists()


def test_a_customer_without_any_record_can_be_deleted(operator: Client) -> None:
    mistake = Customer.objects.create(user_id=999, name="Test Person", phone="+919800000999")

    response = operator.post(f"/admin/support/customer/{mistake.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Customer.objects.filter(user_id=999).exists()


def test_an_order_is_not_deleted_in_the_admin(operator: Client, asha: Customer) -> None:
    # Orders come from the ordering system: deleting one would lower the customer's lifetime
    # spend (their refund tier) and leave its refund pointing at nothing. A cancelled order
    # is marked cancelled, which the refund policy leaves out.
    order = Order.objects.get(order_id="ORD-1001")

    page = operator.get(f"/admin/support/order/{order.pk}/delete/")
    action = operator.post("/admin/support/order/",
                           {"action": "delete_selected", "_selected_action": [order.pk],
                            "post": "yes"})  # fmt: skip

    assert page.status_code == 403
    assert action.status_code in (200, 302)
    assert Order.objects.filter(order_id="ORD-1001").exists()
    assert "delete_selected" not in operator.get("/admin/support/order/").content.decode()
