""""Call now" on a callback: the request Twilio's REST API receives, with its TwiML.

The real `twilio` client places the call against a local server standing in for
api.twilio.com (fake_twilio.py), which records the request as Twilio would receive it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import signal
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import Group, Permission, User
from django.test import AsyncClient, Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from callbacks import booking, desk, dial_ended
from callbacks.models import Callback
from callbacks.tests.conftest import (
    AGENT,
    client_for,
    due_now,
    make_callback,
    make_user,
    today_at,
)
from callbacks.tests.fake_twilio import FakeTwilioApi
from realtime.phone import security, twilio_rest
from realtime.tests.test_database_freeze import freeze
from support import mongo
from support.models import Customer
from voiceproject.tests.test_page_db_timeout import database_pid

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["database_pid"]

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "twilio-auth-token-for-tests"
FROM_NUMBER = "+911140001234"
CALL_NOW = "/staff/callbacks/CBK-ASHA01/call"
CALLING = "/staff/callbacks/CBK-ASHA01/calling"
DIAL_STATUS = "http://testserver/twilio/dial-status"


@pytest.fixture
def twilio(settings: Any) -> Iterator[FakeTwilioApi]:
    with FakeTwilioApi() as fake:
        settings.TWILIO_API_BASE_URL = fake.url
        settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
        settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
        settings.TWILIO_FROM_NUMBER = FROM_NUMBER
        yield fake


@pytest.fixture(autouse=True)
def agents_may_take_calls_over(staff_groups: dict[str, Group]) -> None:
    """Meera and Kavya are agents in a group allowed to take calls over (contract section 8),
    which calling a customer needs: the answered call is theirs to talk on."""
    staff_groups[AGENT].permissions.add(
        Permission.objects.get(content_type__app_label="support", codename="take_over_call")
    )


@pytest.fixture
def ashas(asha: Customer) -> Callback:
    return make_callback(asha, today_at(15, 30, days=1), callback_id="CBK-ASHA01")


def slot_begins() -> None:
    """Asha's slot has begun: only now may her callback be marked missed."""
    Callback.objects.filter(callback_id="CBK-ASHA01").update(slot_start=due_now())


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def stream_of(twiml: str) -> tuple[str, dict[str, str]]:
    """The <Stream>'s url and <Parameter>s of `twiml`, which must be exactly Connect/Stream."""
    response = ET.fromstring(twiml)
    [connect] = list(response)
    [stream] = list(connect)
    assert (connect.tag, stream.tag) == ("Connect", "Stream")
    return stream.get("url", ""), {p.get("name", ""): p.get("value", "") for p in stream}


def action_of(twiml: str) -> str:
    """Where Twilio asks what next when the stream ends (a moved call goes on there)."""
    return ET.fromstring(twiml)[0].get("action", "")


def status_webhook_of(status_callback: str) -> str:
    """The webhook a dial's StatusCallback posts to, without the query naming the dial."""
    return urllib.parse.urlsplit(status_callback)._replace(query="").geturl()


def dial_of(status_callback: str) -> desk.Dial | None:
    """The dial a StatusCallback names."""
    query = urllib.parse.urlsplit(status_callback).query
    return desk.dial_named(dict(urllib.parse.parse_qsl(query)))


# --- The call Twilio is asked to place -----------------------------------------------------------


def test_call_now_asks_twilio_to_dial_the_customer_into_the_phone_bridge(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    response = client_for(meera).post(CALL_NOW, follow=True)

    [request] = twilio.requests
    assert (request.method, request.path) == (
        "POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    )  # fmt: skip
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"
    assert request.form.keys() == {
        "To", "From", "Twiml", "Timeout", "StatusCallback", "StatusCallbackMethod"
    }  # fmt: skip
    assert (request.form["To"], request.form["From"]) == ("+919800000101", FROM_NUMBER)
    assert request.form["Timeout"] == "30"
    # Twilio says how the call ended (busy, no answer...) as soon as it is over.
    assert status_webhook_of(request.form["StatusCallback"]) == DIAL_STATUS
    assert request.form["StatusCallbackMethod"] == "POST"
    url, parameters = stream_of(request.form["Twiml"])
    assert url == "wss://testserver/ws/twilio"
    assert action_of(request.form["Twiml"]) == "http://testserver/twilio/voice"
    assert parameters.keys() == {"kind", "token", "callback_id", "staff"}
    assert (parameters["kind"], parameters["callback_id"], parameters["staff"]) == (
        "callback", "CBK-ASHA01", "meera"
    )  # fmt: skip
    stream = security.verify_callback_token(parameters["token"])
    assert (stream.callback_id, stream.phone, stream.staff) == (
        "CBK-ASHA01", "+919800000101", "meera"
    )  # fmt: skip

    called = Callback.objects.get(callback_id="CBK-ASHA01")
    assert (called.status, called.assignee) == ("scheduled", "meera")
    assert called.call_sid == "CA" + "0" * 31 + "1"  # the CallSid Twilio answered
    assert called.dialled_at is not None
    # ... and names the dial: its end is found even before the CallSid is written down.
    assert dial_of(request.form["StatusCallback"]) == desk.Dial("CBK-ASHA01", called.dialled_at)
    assert abs(called.dialled_at - timezone.now()) < timedelta(minutes=1)
    # Meera's page rings until Asha answers (it looks again every two seconds)...
    assert response.redirect_chain == [("/staff/callbacks/CBK-ASHA01/calling", 302)]
    page = response.content.decode()
    assert "Ringing Asha Verma (+91 98000 00101)…" in page
    assert 'data-refresh-s="2"' in page and "callbacks/calling.js" in page
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page  # no script
    # ... and the board says it was dialled.
    [row] = client_for(meera).get("/staff/callbacks/").context["days"][0].rows
    assert row.tone == "dialled" and row.status.startswith("Dialled at ")


def test_the_stream_url_is_the_public_one_behind_a_proxy(
    meera: User, ashas: Callback, twilio: FakeTwilioApi, settings: Any
) -> None:
    settings.PUBLIC_BASE_URL = "https://voice.example.com"

    client_for(meera).post(CALL_NOW)

    url, _ = stream_of(twilio.requests[0].form["Twiml"])
    assert url == "wss://voice.example.com/ws/twilio"
    assert action_of(twilio.requests[0].form["Twiml"]) == "https://voice.example.com/twilio/voice"
    assert status_webhook_of(twilio.requests[0].form["StatusCallback"]) == (
        "https://voice.example.com/twilio/dial-status"
    )


def test_a_second_click_while_the_phone_may_ring_does_not_dial_again(
    meera: User, kavya: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    client_for(meera).post(CALL_NOW)

    again = client_for(meera).post(CALL_NOW, follow=True)
    colleague = client_for(kavya).post(CALL_NOW, follow=True)

    assert len(twilio.requests) == 1
    assert again.redirect_chain == [(CALLING, 302)]  # her own dial: its ringing page
    assert messages_of(colleague) == ["meera has already claimed callback CBK-ASHA01."]


def test_calling_again_is_allowed_once_the_first_call_had_time_to_ring_out(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    client_for(meera).post(CALL_NOW)
    long_ago = timezone.now() - desk.REDIAL_AFTER - timedelta(seconds=1)
    Callback.objects.filter(callback_id="CBK-ASHA01").update(dialled_at=long_ago)

    client_for(meera).post(CALL_NOW)

    assert len(twilio.requests) == 2
    assert Callback.objects.get(callback_id="CBK-ASHA01").call_sid == "CA" + "0" * 31 + "2"


def test_a_call_twilio_refuses_is_reported_and_can_be_tried_again_at_once(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    twilio.refuse_with = (400, 21211, "The 'To' number +919800000101 is not a valid phone number.")

    refused = client_for(meera).post(CALL_NOW, follow=True)
    twilio.refuse_with = None
    retried = client_for(meera).post(CALL_NOW, follow=True)

    [message] = messages_of(refused)
    assert message.startswith("Our phone service could not place the call: could not call …0101")
    assert "The 'To' number …0101 is not a valid phone number" in message
    assert "Ringing Asha Verma (+91 98000 00101)…" in retried.content.decode()
    assert len(twilio.requests) == 2


def test_the_dialler_is_taken_to_the_call_once_the_customer_answers(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    client_for(meera).post(CALL_NOW)
    # Asha answers: her call is linked to the callback (realtime/phone/consumer.py).
    mongo.sync_db().calls.insert_one({"call_id": "CALL-ANSWERED", "ended_at": None})
    Callback.objects.filter(callback_id="CBK-ASHA01").update(answered_call_id="CALL-ANSWERED")

    answered = client_for(meera).get(CALLING)

    assert answered.status_code == 302 and answered["Location"] == "/staff/live/CALL-ANSWERED/"


def test_nobody_picking_up_is_told_once_the_phone_stopped_ringing(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    slot_begins()
    client_for(meera).post(CALL_NOW)
    Callback.objects.filter(callback_id="CBK-ASHA01").update(
        dialled_at=timezone.now() - desk.REDIAL_AFTER)  # fmt: skip

    page = client_for(meera).get(CALLING).content.decode()

    assert "No answer." in page and 'http-equiv="refresh"' not in page
    assert "Call again" in page and "Mark missed" in page


def test_a_customer_who_answered_and_hung_up_is_not_shown_as_ringing_and_may_be_called_again(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """Asha picked up, and the line dropped twenty seconds in: Meera's page says the call is
    over (not that the phone rings, nor that nobody answered), offers to mark it done, and
    calls her again at once: nothing rings any more."""
    client_for(meera).post(CALL_NOW)
    mongo.sync_db().calls.insert_one({"call_id": "CALL-SHORT", "ended_at": timezone.now()})
    Callback.objects.filter(callback_id="CBK-ASHA01").update(answered_call_id="CALL-SHORT")

    page = client_for(meera).get(CALLING).content.decode()
    again = client_for(meera).post(CALL_NOW, follow=True)

    assert "Call over." in page and "Asha Verma (+91 98000 00101) answered" in page
    assert "Ringing" not in page and "No answer." not in page
    assert 'http-equiv="refresh"' not in page and "callbacks/calling.js" not in page
    assert ">Mark done</button>" in page and ">Call again</button>" in page
    assert messages_of(again) == []
    assert "Ringing Asha Verma (+91 98000 00101)…" in again.content.decode()
    assert len(twilio.requests) == 2


def test_while_ringing_and_without_an_answer_the_dialling_says_so() -> None:
    now = timezone.now()
    fresh = Callback(dialled_at=now - timedelta(seconds=5))
    answered = Callback(dialled_at=now - timedelta(seconds=5), answered_call_id="CALL-1")
    stale = Callback(dialled_at=now - desk.REDIAL_AFTER, call_sid="CA1")
    answered_long_ago = Callback(dialled_at=now - desk.REDIAL_AFTER, answered_call_id="CALL-1")

    assert desk.dialling(fresh, False, now) == desk.RINGING
    assert desk.dialling(answered, True, now) == desk.ANSWERED
    assert desk.dialling(answered, False, now) == desk.CALL_OVER  # it rings no more
    assert desk.dialling(answered_long_ago, False, now) == desk.CALL_OVER
    assert desk.dialling(stale, False, now) == desk.NO_ANSWER
    assert desk.dialling(Callback(), False, now) == desk.NOT_DIALLED  # nothing rang


def test_a_dial_twilio_never_gave_a_sid_for_did_not_go_through() -> None:
    """Not "No answer": the call was never placed as far as anyone here can tell."""
    now = timezone.now()
    never_confirmed = Callback(dialled_at=now - desk.REDIAL_AFTER, call_sid="")

    assert desk.dialling(never_confirmed, False, now) == desk.NOT_CONNECTED


@pytest.mark.parametrize(("status", "state"), [
    ("busy", desk.LINE_BUSY), ("failed", desk.NOT_CONNECTED), ("canceled", desk.NOT_CONNECTED),
    ("no-answer", desk.NO_ANSWER),
])  # fmt: skip
def test_a_dial_twilio_said_ended_unanswered_rings_no_more(status: str, state: str) -> None:
    now = timezone.now()
    fresh = Callback(dialled_at=now - timedelta(seconds=5), call_sid="CA1", dial_status=status)

    assert desk.dialling(fresh, False, now) == state


def test_twilio_out_of_reach_is_reported_and_changes_nothing(
    meera: User, ashas: Callback, twilio: FakeTwilioApi, settings: Any
) -> None:
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:1"  # nothing listens there

    response = client_for(meera).post(CALL_NOW, follow=True)

    assert messages_of(response)[0].startswith("Our phone service could not place the call")
    called = Callback.objects.get(callback_id="CBK-ASHA01")
    assert (called.dialled_at, called.call_sid) == (None, "")


def test_a_twilio_that_does_not_answer_in_time_is_told_at_once_and_may_be_called_again(
    meera: User, ashas: Callback, twilio: FakeTwilioApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No call SID came back: the dial did not go through, and Meera is told so at once (not
    "Calling…" for a minute, then "No answer"), and may call again at once."""
    monkeypatch.setattr(twilio_rest, "REST_TIMEOUT_S", 0.2)
    twilio.answer_after_s = 1.0

    response = client_for(meera).post(CALL_NOW, follow=True)
    twilio.answer_after_s = 0.0
    row = board_row(meera)
    again = client_for(meera).post(CALL_NOW, follow=True)

    # Said once, by the page Meera is on, in words for her, the number as she reads it;
    # Twilio's own error is logged.
    assert messages_of(response) == []
    assert response.redirect_chain == [("/staff/callbacks/CBK-ASHA01/calling", 302)]
    page = response.content.decode()
    assert ("<b>The call did not go through.</b> Our phone service did not confirm the call to "
            "Asha Verma (+91 98000 00101).") in page  # fmt: skip
    assert "Twilio" not in page  # staff know it as our phone service
    assert "Calling Asha Verma (+91 98000 00101)…" not in page and "Ringing" not in page
    assert 'http-equiv="refresh"' not in page
    assert ">Call again</button>" in page
    assert "+919800000101" not in page and "timed out" not in page
    assert row.status.startswith("Did not go through at ")  # as the calling page heads it
    assert messages_of(again) == []
    assert "Ringing Asha Verma (+91 98000 00101)…" in again.content.decode()
    assert len(twilio.requests) == 2
    after = Callback.objects.get(callback_id="CBK-ASHA01")
    assert (after.assignee, after.dial_status) == ("meera", "")  # the new dial's
    assert after.call_sid == "CA" + "0" * 31 + "2"


def test_twilio_failing_on_its_side_is_told_at_once_and_may_be_closed_at_once(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """A 5xx gives no call SID either: the dial did not go through, and nothing rings that
    would stop Meera closing the callback."""
    slot_begins()
    twilio.refuse_with = (503, 20503, "Service unavailable")

    response = client_for(meera).post(CALL_NOW, follow=True)
    missed = client_for(meera).post("/staff/callbacks/CBK-ASHA01/missed", follow=True)

    page = response.content.decode()
    assert "<b>The call did not go through.</b> Our phone service did not confirm the call" in page
    # Not Twilio's words (the page's CSRF token, random, may hold "503" by chance).
    assert "Service unavailable" not in page and "20503" not in page
    assert messages_of(missed) == ["The callback to Asha Verma (+91 98000 00101) is marked missed."]
    assert Callback.objects.get(callback_id="CBK-ASHA01").status == "missed"


@pytest.mark.parametrize("body", [b"<html><body>Welcome</body></html>", b""])
def test_an_answer_to_the_dial_that_names_no_call_is_told_at_once_and_may_be_called_again(
    meera: User, ashas: Callback, twilio: FakeTwilioApi, body: bytes
) -> None:
    """A 200 that is not Twilio's (a proxy's page, an empty one) gives no call SID: the dial
    did not go through, as far as anyone here can tell, and Meera may call again at once."""
    twilio.garbled = body

    response = client_for(meera).post(CALL_NOW, follow=True)
    twilio.garbled = None
    again = client_for(meera).post(CALL_NOW, follow=True)

    assert response.redirect_chain == [(CALLING, 302)]
    page = response.content.decode()
    assert "<b>The call did not go through.</b> Our phone service did not confirm the call" in page
    assert ">Call again</button>" in page
    assert "Ringing Asha Verma (+91 98000 00101)…" in again.content.decode()
    assert len(twilio.requests) == 2
    assert Callback.objects.get(callback_id="CBK-ASHA01").call_sid == "CA" + "0" * 31 + "2"


def test_a_dial_without_its_sid_that_the_customer_answered_meanwhile_is_not_called_failed(
    meera: User, ashas: Callback, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Twilio placed the call and Asha picked up at once, but its answer to our request was
    lost: her answer brought the SID, so the dial went through, and Meera is taken to it."""
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT_SID, AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER

    def answered_but_unconfirmed(to: str, twiml: str, status_callback: str | None = None) -> str:
        assert async_to_sync(stream_finds)("CA" + "9" * 32) is not None
        mongo.sync_db().calls.insert_one({"call_id": "CALL-QUICK", "ended_at": None})
        Callback.objects.filter(callback_id="CBK-ASHA01").update(answered_call_id="CALL-QUICK")
        raise twilio_rest.TwilioOutcomeUnknown("Twilio gave no clear answer to calling …0101")

    monkeypatch.setattr(twilio_rest, "dial_out", answered_but_unconfirmed)
    response = client_for(meera).post(CALL_NOW)
    opened = client_for(meera).get(CALLING)

    assert response["Location"] == CALLING
    assert opened.status_code == 302 and opened["Location"] == "/staff/live/CALL-QUICK/"
    assert Callback.objects.get(callback_id="CBK-ASHA01").dial_status == ""


def test_a_dial_twilio_did_not_confirm_is_logged_by_callback_without_the_phone_number(
    meera: User, ashas: Callback, twilio: FakeTwilioApi, caplog: pytest.LogCaptureFixture
) -> None:
    twilio.refuse_with = (503, 20503, "Service unavailable calling +919800000101")

    with caplog.at_level(logging.INFO):
        client_for(meera).post(CALL_NOW, follow=True)

    [logged] = [r.getMessage() for r in caplog.records if r.name == "callbacks.desk"]
    assert logged.startswith("callback CBK-ASHA01: Twilio gave no clear answer to calling …0101")
    assert "9800000101" not in "\n".join(r.getMessage() for r in caplog.records)


def test_a_refused_dial_leaves_a_callback_closed_meanwhile_as_it_was_closed(
    meera: User, kavya: User, ashas: Callback, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT_SID, AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER

    def refused_after_a_colleague_closed_it(to: str, twiml: str, status_callback: str) -> str:
        Callback.objects.filter(callback_id="CBK-ASHA01").update(status="done", assignee="kavya")
        raise twilio_rest.TwilioRestError(f"could not call {to}: refused")

    monkeypatch.setattr(twilio_rest, "dial_out", refused_after_a_colleague_closed_it)
    client_for(meera).post(CALL_NOW)

    after = Callback.objects.get(callback_id="CBK-ASHA01")
    assert (after.status, after.assignee) == ("done", "kavya")


def test_a_twilio_as_slow_as_a_page_may_be_is_still_written_down(
    meera: User,
    ashas: Callback,
    twilio: FakeTwilioApi,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twilio's answer may take as long as a page's database time (10 s each by default):
    what it came to is written down all the same, and Meera is told it, not shown the 503
    page with the callback left "ringing" for a minute."""
    settings.PAGE_DB_TIMEOUT_S = 0.5
    monkeypatch.setattr(twilio_rest, "REST_TIMEOUT_S", 0.5)
    twilio.answer_after_s = 1.5

    response = client_for(meera).post(CALL_NOW)

    assert (response.status_code, response["Location"]) == (302, CALLING)
    assert Callback.objects.get(callback_id="CBK-ASHA01").dial_status == "failed"


@pytest.mark.parametrize("answer", ["placed", "refused"])
def test_twilios_answer_after_the_pages_database_time_is_written_down(
    meera: User, ashas: Callback, settings: Any, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT_SID, AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER
    settings.PAGE_DB_TIMEOUT_S = 0.3

    def slow(to: str, twiml: str, status_callback: str | None = None) -> str:
        time.sleep(0.5)
        if answer == "refused":
            raise twilio_rest.TwilioRestError("could not call …0101: refused")
        return "CA" + "7" * 32

    monkeypatch.setattr(twilio_rest, "dial_out", slow)
    response = client_for(meera).post(CALL_NOW)

    after = Callback.objects.get(callback_id="CBK-ASHA01")
    assert response.status_code == 302
    if answer == "placed":  # its SID, which the customer's answer and Twilio's status find
        assert (response["Location"], after.call_sid) == (CALLING, "CA" + "7" * 32)
    else:  # as it was: Meera may call again at once
        assert (after.dialled_at, after.assignee) == (None, None)


def test_the_number_dialled_is_the_one_on_the_account_now(
    meera: User, ashas: Callback, asha: Customer, twilio: FakeTwilioApi
) -> None:
    """Asha changed her number after booking: the old one may be someone else's now."""
    Customer.objects.filter(user_id=asha.user_id).update(phone="+919811112222")

    client_for(meera).post(CALL_NOW)

    assert twilio.requests[0].form["To"] == "+919811112222"
    _, parameters = stream_of(twilio.requests[0].form["Twiml"])
    assert security.verify_callback_token(parameters["token"]).phone == "+919811112222"
    assert Callback.objects.get(callback_id="CBK-ASHA01").phone == "+919811112222"


def test_a_customer_without_a_number_now_is_not_dialled(
    meera: User, ashas: Callback, asha: Customer, twilio: FakeTwilioApi
) -> None:
    Customer.objects.filter(user_id=asha.user_id).update(phone=None)

    response = client_for(meera).post(CALL_NOW, follow=True)

    assert messages_of(response) == ["The customer's account has no phone number to call."]
    assert twilio.requests == []
    assert Callback.objects.get(callback_id="CBK-ASHA01").dialled_at is None


def test_the_customer_on_the_answered_call_is_not_dialled_again(
    meera: User, kavya: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    client_for(meera).post(CALL_NOW)
    mongo.sync_db().calls.insert_one({"call_id": "CALL-ON", "ended_at": None})
    Callback.objects.filter(callback_id="CBK-ASHA01").update(
        answered_call_id="CALL-ON", dialled_at=timezone.now() - desk.REDIAL_AFTER
    )  # a long call

    response = client_for(meera).post(CALL_NOW)
    page = client_for(meera).get(CALLING)
    colleague = client_for(kavya).post(CALL_NOW, follow=True)

    # Meera, who left her calling page before Asha answered, is taken to the call...
    assert response.status_code == 302 and response["Location"] == CALLING
    assert page.status_code == 302 and page["Location"] == "/staff/live/CALL-ON/"
    # ... and a colleague is told who is on the phone with her.
    assert messages_of(colleague) == [
        "meera is on the phone with this customer now, on the call this callback dialled."
    ]
    assert len(twilio.requests) == 1


def test_the_customer_answering_as_call_now_is_pressed_again_is_not_dialled_again(
    meera: User, ashas: Callback, twilio: FakeTwilioApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Meera's dial is ringing; Asha picks up just after Meera's second "Call now" read the
    callback (no answer yet): the dial, one update, still finds her on the call, so her phone
    does not ring again and the call she is on stays the callback's."""
    Callback.objects.filter(callback_id="CBK-ASHA01").update(
        assignee="meera", dialled_at=timezone.now(), call_sid="CA1")  # fmt: skip
    account = desk._account

    def answered_meanwhile(user_id: object) -> tuple[str, str, bool]:
        mongo.sync_db().calls.insert_one({"call_id": "CALL-ON", "ended_at": None})
        Callback.objects.filter(callback_id="CBK-ASHA01").update(answered_call_id="CALL-ON")
        return account(user_id)

    monkeypatch.setattr(desk, "_account", answered_meanwhile)
    response = client_for(meera).post(CALL_NOW)
    page = client_for(meera).get(CALLING)

    assert twilio.requests == []
    assert response.status_code == 302 and response["Location"] == CALLING
    assert page.status_code == 302 and page["Location"] == "/staff/live/CALL-ON/"
    called = Callback.objects.get(callback_id="CBK-ASHA01")
    assert (called.answered_call_id, called.call_sid) == ("CALL-ON", "CA1")


def test_a_callback_is_not_closed_while_the_phone_may_ring_but_is_once_answered(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """Closed, the callback would refuse the customer's answer: they would pick up to nobody."""
    client_for(meera).post(CALL_NOW)

    ringing = client_for(meera).post("/staff/callbacks/CBK-ASHA01/done", follow=True)
    Callback.objects.filter(callback_id="CBK-ASHA01").update(answered_call_id="CALL-ON")
    answered = client_for(meera).post("/staff/callbacks/CBK-ASHA01/done", follow=True)

    assert "the phone may still be ringing" in messages_of(ringing)[0]
    assert messages_of(answered) == ["The callback to Asha Verma (+91 98000 00101) is done."]
    assert Callback.objects.get(callback_id="CBK-ASHA01").status == "done"


def answered_and_over() -> None:
    """Asha answered the first "Call now", talked, and hung up; the ringing time is over."""
    mongo.sync_db().calls.insert_one({"call_id": "CALL-FIRST", "ended_at": timezone.now()})
    Callback.objects.filter(callback_id="CBK-ASHA01").update(
        answered_call_id="CALL-FIRST",
        dialled_at=timezone.now() - desk.REDIAL_AFTER - timedelta(seconds=1),
    )


async def stream_finds(call_sid: str) -> dict[str, Any] | None:
    """The callback Asha's stream finds when she answers the dial `call_sid` (as
    realtime/phone/consumer.py looks for it)."""
    since = timezone.now() - desk.REDIAL_AFTER
    return await booking.dialled_callback(mongo.async_db(), "CBK-ASHA01", call_sid, since)


def test_called_again_after_an_answered_call_it_is_not_closed_while_the_phone_rings(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """The earlier answer does not count for the new dial: closed now, the callback would
    refuse Asha's answer and she would pick up to nobody."""
    slot_begins()
    client_for(meera).post(CALL_NOW)
    answered_and_over()

    client_for(meera).post(CALL_NOW)  # "Call again": Asha's phone rings
    ringing = client_for(meera).post("/staff/callbacks/CBK-ASHA01/missed", follow=True)

    called = Callback.objects.get(callback_id="CBK-ASHA01")
    assert len(twilio.requests) == 2
    assert "the phone may still be ringing" in messages_of(ringing)[0]
    assert (called.status, called.answered_call_id) == ("scheduled", "")
    assert async_to_sync(stream_finds)(called.call_sid) is not None  # her answer is linked


def test_called_again_and_refused_by_twilio_the_callback_keeps_the_call_answered_before(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    client_for(meera).post(CALL_NOW)
    answered_and_over()
    first = Callback.objects.get(callback_id="CBK-ASHA01")
    twilio.refuse_with = (400, 21211, "The 'To' number +919800000101 is not a valid phone number.")

    client_for(meera).post(CALL_NOW)

    called = Callback.objects.get(callback_id="CBK-ASHA01")
    assert (called.answered_call_id, called.dialled_at) == ("CALL-FIRST", first.dialled_at)
    assert called.call_sid == first.call_sid != ""
    assert "Call over." in client_for(meera).get(CALLING).content.decode()


def test_called_again_and_refused_by_twilio_a_first_call_that_rang_out_is_still_said(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """Twilio never said how the first dial ended (its word lost): it rang out unanswered.
    A second "Call now" Twilio refuses leaves that first dial as it was: not "not called yet"."""
    client_for(meera).post(CALL_NOW)
    Callback.objects.filter(callback_id="CBK-ASHA01").update(
        dialled_at=timezone.now() - desk.REDIAL_AFTER - timedelta(seconds=1))  # fmt: skip
    twilio.refuse_with = (400, 21211, "The 'To' number +919800000101 is not a valid phone number.")

    refused = client_for(meera).post(CALL_NOW, follow=True)
    page = client_for(meera).get(CALLING, follow=True)

    assert messages_of(refused)[0].startswith("Our phone service could not place the call")
    assert page.redirect_chain == []
    assert "<b>No answer.</b>" in page.content.decode()


def test_the_calling_page_of_a_callback_closed_meanwhile_goes_back_to_the_board(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    client_for(meera).post(CALL_NOW)
    Callback.objects.filter(callback_id="CBK-ASHA01").update(
        status="missed", dialled_at=timezone.now() - desk.REDIAL_AFTER
    )

    response = client_for(meera).get("/staff/callbacks/CBK-ASHA01/calling", follow=True)

    assert response.redirect_chain == [("/staff/callbacks/", 302)]
    assert messages_of(response) == ["Callback CBK-ASHA01 is missed."]


def test_someone_elses_or_a_closed_callback_is_not_dialled(
    meera: User, kavya: User, ashas: Callback, ravi: Customer, twilio: FakeTwilioApi
) -> None:
    client_for(kavya).post("/staff/callbacks/CBK-ASHA01/claim")
    make_callback(ravi, today_at(11, 0, days=1), callback_id="CBK-RAVI01", status="done")

    theirs = client_for(meera).post(CALL_NOW, follow=True)
    closed = client_for(meera).post("/staff/callbacks/CBK-RAVI01/call", follow=True)

    assert twilio.requests == []
    assert messages_of(theirs) == ["kavya has already claimed callback CBK-ASHA01."]
    assert messages_of(closed) == ["Callback CBK-RAVI01 is already done."]


def test_a_refused_call_now_comes_back_to_the_boards_page_it_was_pressed_on(
    meera: User, kavya: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    client_for(kavya).post("/staff/callbacks/CBK-ASHA01/claim")

    refused = client_for(meera).post(CALL_NOW, {"next": "/staff/callbacks/?page=2"})
    elsewhere = client_for(meera).post(CALL_NOW, {"next": "https://evil.example/"})

    assert twilio.requests == []
    assert refused["Location"] == "/staff/callbacks/?page=2"
    assert elsewhere["Location"] == "/staff/callbacks/"  # never off this site


def test_without_twilio_configured_nothing_is_dialled(meera: User, ashas: Callback) -> None:
    response = client_for(meera).post(CALL_NOW, follow=True)

    assert messages_of(response) == [
        "Calling out is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
        "TWILIO_FROM_NUMBER."
    ]
    assert Callback.objects.get(callback_id="CBK-ASHA01").dialled_at is None


# --- The seam: matching the stream of a call we placed to its callback -------------------------


async def test_the_stream_of_a_dialled_callback_is_matched_to_it(ashas: Callback) -> None:
    db = mongo.async_db()
    now = timezone.now()
    await db.callbacks.update_one({"callback_id": "CBK-ASHA01"},
                                  {"$set": {"call_sid": "CA1", "dialled_at": now}})  # fmt: skip

    found = await booking.dialled_callback(db, "CBK-ASHA01", "CA1", now - desk.REDIAL_AFTER)
    other_call = await booking.dialled_callback(db, "CBK-ASHA01", "CA2", now - desk.REDIAL_AFTER)

    assert found is not None and found["phone"] == "+919800000101"
    assert other_call is None


async def test_a_dial_still_without_its_sid_is_claimed_by_the_stream_that_answers_it(
    ashas: Callback,
) -> None:
    """Twilio's answer to the dial timed out (or is still on its way): the customer's stream,
    whose signed token names the callback, is its call, and records its SID."""
    db = mongo.async_db()
    dialled = timezone.now()
    await db.callbacks.update_one({"callback_id": "CBK-ASHA01"},
                                  {"$set": {"call_sid": "", "dialled_at": dialled}})  # fmt: skip

    too_late = await booking.dialled_callback(db, "CBK-ASHA01", "CA9", dialled + timedelta(1))
    found = await booking.dialled_callback(db, "CBK-ASHA01", "CA9", dialled - desk.REDIAL_AFTER)
    another = await booking.dialled_callback(db, "CBK-ASHA01", "CA8", dialled - desk.REDIAL_AFTER)

    assert too_late is None
    assert found is not None and found["call_sid"] == "CA9"
    assert another is None  # the dial has its call now


def test_an_agent_who_may_not_take_calls_over_cannot_dial(
    staff_groups: dict[str, Group], ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """The answered call would be held by someone with no controls to talk on, hand back or
    end it: the board offers no "Call now" and the endpoint refuses."""
    staff_groups[AGENT].permissions.clear()
    staff_groups[AGENT].permissions.add(*Permission.objects.filter(
        content_type__app_label="callbacks"))  # fmt: skip
    trainee = client_for(make_user("trainee", staff_groups[AGENT]))

    board = trainee.get("/staff/callbacks/").content.decode()
    refused = trainee.post(CALL_NOW)

    assert 'class="call">Call now</button>' not in board
    assert "needs the right to take calls over" in board
    assert refused.status_code == 403
    assert twilio.requests == []
    assert Callback.objects.get(callback_id="CBK-ASHA01").assignee is None


# --- How a dial ended: Twilio's StatusCallback, POST /twilio/dial-status -------------------------


def twilio_says(
    status: str, call_sid: str, *, signature: str | None = "signed", url: str = DIAL_STATUS
) -> Any:
    """Twilio's StatusCallback for `call_sid`, over as `status`, signed as Twilio signs it (or
    with `signature` as given, None for none), posted to `url`: where the dial asked for it
    (its StatusCallback), or by default the bare webhook, as a dial placed before the dial's
    own URL was asked for (found by its SID)."""
    form = {
        "CallSid": call_sid, "AccountSid": ACCOUNT_SID, "From": FROM_NUMBER,
        "To": "+919800000101", "CallStatus": status, "Direction": "outbound-api",
        "ApiVersion": "2010-04-01", "CallbackSource": "call-progress-events",
        "SequenceNumber": "0", "CallDuration": "0", "Timestamp": "Mon, 07 Dec 2026 10:00:00 +0000",
    }  # fmt: skip
    if signature == "signed":
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    path = urllib.parse.urlsplit(url)
    return Client().post(f"{path.path}?{path.query}", form, headers=headers)


def board_row(user: User) -> Any:
    [row] = client_for(user).get("/staff/callbacks/").context["days"][0].rows
    return row


def dialled_sid() -> str:
    return Callback.objects.get(callback_id="CBK-ASHA01").call_sid


def test_a_busy_line_is_told_at_once_and_the_customer_may_be_called_again(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """Asha is on another call: Twilio says so moments after the dial, and Meera's page says
    so at once (not "Ringing" for a minute, then "did not pick up")."""
    slot_begins()
    client_for(meera).post(CALL_NOW)

    told = twilio_says("busy", dialled_sid(), url=twilio.requests[0].form["StatusCallback"])
    page = client_for(meera).get(CALLING).content.decode()
    row = board_row(meera)
    again = client_for(meera).post(CALL_NOW, follow=True)

    assert told.status_code == 204 and told.content == b""
    assert row.status.startswith("Line busy at ")  # and the board says so
    assert "<b>Line busy.</b> Asha Verma (+91 98000 00101) is on another call." in page
    assert "Ringing" not in page and "No answer." not in page
    assert 'http-equiv="refresh"' not in page and "callbacks/calling.js" not in page
    assert ">Call again</button>" in page and ">Mark missed</button>" in page
    assert messages_of(again) == []
    assert "Ringing Asha Verma (+91 98000 00101)…" in again.content.decode()
    assert len(twilio.requests) == 2
    assert Callback.objects.get(callback_id="CBK-ASHA01").dial_status == ""  # the new dial's


def test_a_status_twilio_posts_before_its_answer_to_the_dial_is_written_is_not_lost(
    meera: User, ashas: Callback, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Asha's line is busy, and Twilio says so before its answer to our request (the call's
    SID) has been written down: the status finds the dial by the callback its URL names, and
    Meera's page says "Line busy" at once (not "Ringing" for a minute, then "No answer")."""
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT_SID, AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER
    sid = "CA" + "4" * 32

    def busy_at_once(to: str, twiml: str, status_callback: str | None = None) -> str:
        assert status_callback is not None and dialled_sid() == ""
        assert twilio_says("busy", sid, url=status_callback).status_code == 204
        return sid

    monkeypatch.setattr(twilio_rest, "dial_out", busy_at_once)
    response = client_for(meera).post(CALL_NOW, follow=True)

    assert "<b>Line busy.</b> Asha Verma (+91 98000 00101) is on another call." in (
        response.content.decode()
    )
    called = Callback.objects.get(callback_id="CBK-ASHA01")
    assert (called.call_sid, called.dial_status) == (sid, "busy")


def test_twilios_word_on_a_dial_it_gave_no_sid_for_is_kept(
    meera: User, ashas: Callback, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Twilio placed the call and said at once that the line was busy, but its answer to our
    request was lost: "Line busy", what Twilio said, not "did not go through", our guess."""
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT_SID, AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER

    def busy_then_lost(to: str, twiml: str, status_callback: str | None = None) -> str:
        assert status_callback is not None
        assert twilio_says("busy", "CA" + "4" * 32, url=status_callback).status_code == 204
        raise twilio_rest.TwilioOutcomeUnknown("Twilio gave no clear answer to calling …0101")

    monkeypatch.setattr(twilio_rest, "dial_out", busy_then_lost)
    response = client_for(meera).post(CALL_NOW, follow=True)

    assert "<b>Line busy.</b> Asha Verma (+91 98000 00101) is on another call." in (
        response.content.decode()
    )
    assert Callback.objects.get(callback_id="CBK-ASHA01").dial_status == "busy"


async def test_a_status_twilio_posts_while_the_database_is_frozen_is_recorded_once_it_is_back(
    meera: User, ashas: Callback, twilio: FakeTwilioApi, monkeypatch: pytest.MonkeyPatch,
    settings: Any, database_pid: int,
) -> None:
    """Asha's line is busy, and Twilio says so while the database is frozen. Twilio posts it
    once, whatever we answer: it is kept, and written once the database is back, so Meera's
    page says "Line busy", not "No answer" once the ringing time is over."""
    settings.PAGE_DB_TIMEOUT_S = 0.5
    monkeypatch.setattr(dial_ended, "TIMEOUT_S", 0.5)
    monkeypatch.setattr(mongo, "FIRST_RETRY_S", 0.05)
    await sync_to_async(lambda: client_for(meera).post(CALL_NOW))()
    status_callback = urllib.parse.urlsplit(twilio.requests[0].form["StatusCallback"])
    form = {"CallSid": await sync_to_async(dialled_sid)(), "CallStatus": "busy"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(status_callback.geturl(), form)

    await freeze(database_pid)
    try:
        told = await AsyncClient().post(
            f"{status_callback.path}?{status_callback.query}", form,
            headers={"X-Twilio-Signature": signature},
        )  # fmt: skip
    finally:
        os.kill(database_pid, signal.SIGCONT)

    assert told.status_code == 204
    async with asyncio.timeout(5):
        while (await Callback.objects.aget(callback_id="CBK-ASHA01")).dial_status != "busy":
            await asyncio.sleep(0.05)
    page = await sync_to_async(lambda: client_for(meera).get(CALLING).content.decode())()
    assert "<b>Line busy.</b> Asha Verma (+91 98000 00101) is on another call." in page


def test_a_late_status_of_an_earlier_dial_without_its_sid_changes_nothing(
    meera: User, ashas: Callback, twilio: FakeTwilioApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio gave no SID for the first dial ("did not go through"); Meera calls again, and
    while that dial waits for its SID, Twilio's word on the first arrives after all: the one
    ringing now is not taken for it."""
    twilio.refuse_with = (503, 20503, "Service unavailable")
    client_for(meera).post(CALL_NOW)
    twilio.refuse_with = None
    first = twilio.requests[0].form["StatusCallback"]
    placing = twilio_rest.dial_out

    def first_said_meanwhile(to: str, twiml: str, status_callback: str | None = None) -> str:
        assert dialled_sid() == "" and status_callback != first
        assert twilio_says("no-answer", "CA" + "9" * 32, url=first).status_code == 204
        return placing(to, twiml, status_callback=status_callback)

    monkeypatch.setattr(twilio_rest, "dial_out", first_said_meanwhile)
    page = client_for(meera).post(CALL_NOW, follow=True).content.decode()

    assert "Ringing Asha Verma (+91 98000 00101)…" in page
    called = Callback.objects.get(callback_id="CBK-ASHA01")
    assert (called.call_sid, called.dial_status) == ("CA" + "0" * 31 + "2", "")


def test_a_status_url_naming_no_dial_of_ours_is_found_by_its_sid() -> None:
    assert desk.dial_named({}) is None
    assert desk.dial_named({"callback": "CBK-ASHA01"}) is None
    assert desk.dial_named({"callback": "CBK-ASHA01", "dialled": "12a"}) is None
    assert desk.dial_named({"callback": "CBK-ASHA01", "dialled": "١٢"}) is None  # not ASCII
    assert desk.dial_named({"callback": "", "dialled": "12"}) is None
    far = desk.dial_named({"callback": "CBK-ASHA01", "dialled": "9" * 5_000})
    assert far is not None and far.dialled_at.year == 9999  # no dial's, and no exception


@pytest.mark.parametrize(("status", "said"), [
    ("failed", "<b>The call did not go through.</b> Our phone service could not connect to "
               "Asha Verma (+91 98000 00101)."),
    ("no-answer", "<b>No answer.</b> Asha Verma (+91 98000 00101) did not pick up."),
])  # fmt: skip
def test_a_call_that_failed_or_rang_out_is_told_at_once_and_may_be_marked_missed(
    meera: User, ashas: Callback, twilio: FakeTwilioApi, status: str, said: str
) -> None:
    slot_begins()
    client_for(meera).post(CALL_NOW)

    twilio_says(status, dialled_sid())
    page = client_for(meera).get(CALLING).content.decode()
    missed = client_for(meera).post("/staff/callbacks/CBK-ASHA01/missed", follow=True)

    assert said in page and "Ringing" not in page
    # Its heading stays true once the call is over: who the callback is to, not "Calling".
    assert "<h1>Callback to Asha Verma (+91 98000 00101)</h1>" in page
    assert "Calling Asha" not in page
    assert ">Call again</button>" in page and ">Mark missed</button>" in page
    assert messages_of(missed) == ["The callback to Asha Verma (+91 98000 00101) is marked missed."]
    assert Callback.objects.get(callback_id="CBK-ASHA01").dial_status == status


def test_a_late_status_of_an_earlier_dial_changes_nothing(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """The first dial rang out; Meera calls again, and while Asha's phone rings, Twilio's word
    on the first dial arrives: the second keeps ringing."""
    client_for(meera).post(CALL_NOW)
    first = dialled_sid()
    Callback.objects.filter(callback_id="CBK-ASHA01").update(
        dialled_at=timezone.now() - desk.REDIAL_AFTER)  # fmt: skip
    client_for(meera).post(CALL_NOW)

    told = twilio_says("no-answer", first)
    page = client_for(meera).get(CALLING).content.decode()

    assert told.status_code == 204
    assert "Ringing Asha Verma (+91 98000 00101)…" in page
    called = Callback.objects.get(callback_id="CBK-ASHA01")
    assert (called.call_sid, called.dial_status) == ("CA" + "0" * 31 + "2", "")


def test_an_answered_call_ending_changes_nothing(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """Twilio's `completed`: Asha picked up. Her answer, not Twilio's status, says what next."""
    client_for(meera).post(CALL_NOW)
    mongo.sync_db().calls.insert_one({"call_id": "CALL-OVER", "ended_at": timezone.now()})
    Callback.objects.filter(callback_id="CBK-ASHA01").update(answered_call_id="CALL-OVER")

    told = twilio_says("completed", dialled_sid())
    page = client_for(meera).get(CALLING).content.decode()

    assert told.status_code == 204
    assert "Call over." in page
    assert Callback.objects.get(callback_id="CBK-ASHA01").dial_status == ""


def test_a_status_after_the_customer_answered_changes_nothing(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    client_for(meera).post(CALL_NOW)
    mongo.sync_db().calls.insert_one({"call_id": "CALL-ON", "ended_at": None})
    Callback.objects.filter(callback_id="CBK-ASHA01").update(answered_call_id="CALL-ON")

    twilio_says("failed", dialled_sid())

    assert Callback.objects.get(callback_id="CBK-ASHA01").dial_status == ""
    assert client_for(meera).get(CALLING)["Location"] == "/staff/live/CALL-ON/"


@pytest.mark.parametrize("signature", [None, "", "forged", "signed-with-another-token"])
def test_a_status_without_twilios_signature_is_refused_and_changes_nothing(
    meera: User,
    ashas: Callback,
    twilio: FakeTwilioApi,
    signature: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client_for(meera).post(CALL_NOW)
    if signature == "signed-with-another-token":
        signature = RequestValidator("another-token").compute_signature(
            "http://testserver/twilio/dial-status", {"CallSid": dialled_sid()})  # fmt: skip

    with caplog.at_level(logging.INFO):
        refused = twilio_says("busy", dialled_sid(), signature=signature)

    assert refused.status_code == 403
    assert Callback.objects.get(callback_id="CBK-ASHA01").dial_status == ""
    assert "Ringing" in client_for(meera).get(CALLING).content.decode()
    assert "refused a dial status with a bad or missing signature" in caplog.text
    assert "9800000101" not in caplog.text


def test_a_status_is_refused_while_twilio_is_not_configured(ashas: Callback) -> None:
    told = twilio_says("busy", "CA1")

    assert told.status_code == 503
    assert b"set TWILIO_AUTH_TOKEN" in told.content


# --- What the calling page offers -----------------------------------------------------------------


def test_call_again_is_not_offered_once_calling_out_is_not_set_up(
    meera: User, ashas: Callback, twilio: FakeTwilioApi, settings: Any
) -> None:
    """Twilio's settings were taken away after the dial (a redeploy): "Call again" would only
    be refused, so it is not offered, and the page says why once."""
    slot_begins()
    client_for(meera).post(CALL_NOW)
    twilio_says("busy", dialled_sid())
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_FROM_NUMBER = ""

    page = client_for(meera).get(CALLING).content.decode()

    assert "<b>Line busy.</b>" in page
    assert "Call again" not in page and ">Mark missed</button>" in page
    assert page.count("Calling out through our phone service is not set up here") == 1
    assert "Twilio" not in page


def test_call_again_is_not_offered_to_someone_who_may_no_longer_take_calls_over(
    meera: User, ashas: Callback, twilio: FakeTwilioApi, staff_groups: dict[str, Group]
) -> None:
    client_for(meera).post(CALL_NOW)
    mongo.sync_db().calls.insert_one({"call_id": "CALL-SHORT", "ended_at": timezone.now()})
    Callback.objects.filter(callback_id="CBK-ASHA01").update(answered_call_id="CALL-SHORT")
    staff_groups[AGENT].permissions.remove(
        Permission.objects.get(content_type__app_label="support", codename="take_over_call")
    )

    page = client_for(meera).get(CALLING).content.decode()

    assert "Call over." in page and ">Mark done</button>" in page
    assert "Call again" not in page
    assert "Calling again needs the right to take calls over" in page


def test_a_colleagues_calling_page_offers_nothing_that_is_theirs_to_do(
    meera: User, kavya: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    slot_begins()
    client_for(meera).post(CALL_NOW)
    twilio_says("no-answer", dialled_sid())

    page = client_for(kavya).get(CALLING).content.decode()

    assert "<b>No answer.</b>" in page
    assert "Call again" not in page and "Mark missed" not in page
    assert "meera holds this callback now: what next is theirs." in page


def test_before_the_slot_has_begun_the_calling_page_does_not_offer_mark_missed(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """Meera rang Asha early (her slot is tomorrow): nobody answered, which is no miss yet."""
    client_for(meera).post(CALL_NOW)
    twilio_says("no-answer", dialled_sid())

    page = client_for(meera).get(CALLING).content.decode()

    assert ">Call again</button>" in page and "Mark missed" not in page
    assert "It can be marked missed once its slot has begun." in page
