""""Call now" on the demo's callbacks: their customers' numbers are made up by seed_demo and
may be strangers', so they are never dialled, whatever Twilio is configured with; a number a
lead puts on the customer is."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from callbacks.models import Callback
from callbacks.tests.conftest import client_for
from callbacks.tests.fake_twilio import FakeTwilioApi
from callbacks.tests.test_call_now import twilio  # noqa: F401  (the fixture)
from support import mongo
from support.models import Customer
from support.staff.labels import phone_label

pytestmark = pytest.mark.django_db

OWN_NUMBER = "+919800000999"  # the lead's own phone, put on a demo customer


def _seeded_callback() -> Callback:
    """A demo callback still to come that nobody holds (seed_demo books a few)."""
    call_command("seed_demo", stdout=StringIO())
    callback = Callback.objects.filter(status="scheduled", assignee=None).first()
    assert callback is not None
    return callback


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_call_now_refuses_a_demo_customers_made_up_number_on_the_board(
    arjun: User, twilio: FakeTwilioApi  # noqa: F811
) -> None:
    callback = _seeded_callback()
    customer = Customer.objects.get(user_id=callback.customer_id)

    response = client_for(arjun).post(f"/staff/callbacks/{callback.callback_id}/call",
                                      follow=True)  # fmt: skip

    assert twilio.requests == []
    assert response.redirect_chain[-1][0] == "/staff/callbacks/"
    assert _messages(response) == [
        f"{customer.name}'s number ({phone_label(customer.phone)}) was made up for the demo "
        "and may be a stranger's: it is not dialled. To try “Call now”, put your own number "
        "on the customer in the admin (Customers), then call."
    ]
    assert Callback.objects.get(pk=callback.pk).dialled_at is None


def test_a_number_put_on_a_demo_customer_is_dialled(
    arjun: User, twilio: FakeTwilioApi  # noqa: F811
) -> None:
    callback = _seeded_callback()
    customer = Customer.objects.get(user_id=callback.customer_id)
    customer.phone = OWN_NUMBER
    customer.save()  # as the admin's customer page saves it

    client_for(arjun).post(f"/staff/callbacks/{callback.callback_id}/call")

    [request] = twilio.requests
    assert request.form["To"] == OWN_NUMBER


def test_every_demo_customer_is_marked_and_a_second_seeding_keeps_a_changed_number() -> None:
    callback = _seeded_callback()
    Customer.objects.filter(user_id=callback.customer_id).update(phone=OWN_NUMBER)

    call_command("seed_demo", stdout=StringIO())

    customers = list(mongo.sync_db().customers.find({}, {"user_id": 1, "phone": 1,
                                                         "demo_phone": 1}))  # fmt: skip
    assert len(customers) == 20
    changed = [c for c in customers if c["phone"] != c["demo_phone"]]
    assert [(c["user_id"], c["phone"]) for c in changed] == [(callback.customer_id, OWN_NUMBER)]


# --- The board -----------------------------------------------------------------------------------

DEMO_NUMBER = '<span class="demo-number" title="Made up for the demo'
CALL_NOW = '<button type="submit" class="call">Call now</button>'


def _rows(body: str) -> dict[str, str]:
    """Each board row's markup, by callback id."""
    return dict(re.findall(r'<tr class="callback[^"]*" data-callback="([^"]+)">(.*?)</tr>', body,
                           re.S))  # fmt: skip


def test_the_board_says_demo_number_where_call_now_would_be_refused(
    arjun: User, twilio: FakeTwilioApi  # noqa: F811
) -> None:
    callback = _seeded_callback()

    body = client_for(arjun).get("/staff/callbacks/").content.decode()

    rows = _rows(body)
    assert rows and callback.callback_id in rows
    for markup in rows.values():  # every row is a demo customer's, with a made-up number
        assert CALL_NOW not in markup
    assert DEMO_NUMBER in rows[callback.callback_id]
    assert "The demo customers' numbers were made up and may be strangers'" in body


def test_the_board_offers_call_now_on_a_number_put_on_a_demo_customer(
    arjun: User, twilio: FakeTwilioApi  # noqa: F811
) -> None:
    callback = _seeded_callback()
    Customer.objects.filter(user_id=callback.customer_id).update(phone=OWN_NUMBER)

    body = client_for(arjun).get("/staff/callbacks/").content.decode()

    mine = _rows(body)[callback.callback_id]
    assert CALL_NOW in mine and DEMO_NUMBER not in mine
