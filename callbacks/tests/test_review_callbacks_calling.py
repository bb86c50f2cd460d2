"""Where a dialled callback stands, for the staff member who dialled it: a second "Call now"
while their own call rings or is on, and the board once they left the calling page.

Meera dials Asha back ("Call now"). Asha's answer is connected to Meera's browser only if
Meera is on the calling page (it opens the call's live view) or comes back to it: anywhere
else she never learns that Asha picked up, and Asha hears nobody until the call goes back to
the agent (livestaff/on_call.py, STAFF_HOLD_GRACE_S).
"""

# Its fixtures are imported by name and pytest passes them back as same-named arguments:
# F811 would flag every test (as support/tests/test_staff_browser.py, in pyproject.toml).
# ruff: noqa: F811

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from callbacks import desk
from callbacks.models import Callback
from callbacks.tests.conftest import client_for
from callbacks.tests.fake_twilio import FakeTwilioApi
from callbacks.tests.test_call_now import (  # noqa: F401  (fixtures)
    CALL_NOW,
    CALLING,
    agents_may_take_calls_over,
    ashas,
    dialled_sid,
    messages_of,
    twilio,
    twilio_says,
)
from support import mongo

pytestmark = pytest.mark.django_db(transaction=True)

BOARD = "/staff/callbacks/"


def asha_answers(*, ended: bool = False) -> None:
    """Asha picks up Meera's dial: her call is linked to the callback (as the phone bridge
    does), and is going on, or (`ended`) was over at 15:00 UTC today."""
    ended_at = timezone.now().replace(hour=15, minute=0, second=0, microsecond=0)
    mongo.sync_db().calls.insert_one({"call_id": "CALL-ASHA", "ended_at": ended_at if ended
                                      else None})  # fmt: skip
    Callback.objects.filter(callback_id="CBK-ASHA01").update(answered_call_id="CALL-ASHA")


def board_row(user: User) -> tuple[str, str]:
    """Asha's row on `user`'s board: its status, and the HTML of its status cell."""
    page = client_for(user).get(BOARD)
    [row] = page.context["days"][0].rows
    html = page.content.decode()
    start = html.index('<td class="state">', html.index('data-callback="CBK-ASHA01"'))
    cell = html[start : html.index("</td>", start)]
    return row.status, cell


def test_a_double_click_on_call_now_shows_the_ringing_page_not_the_board(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """The browser shows the answer to the second click of a double click."""
    client_for(meera).post(CALL_NOW)

    second = client_for(meera).post(CALL_NOW, follow=True)

    assert len(twilio.requests) == 1
    assert second.redirect_chain == [(CALLING, 302)]
    assert messages_of(second) == []
    assert "Ringing Asha Verma (+91 98000 00101)…" in second.content.decode()


def test_a_click_while_twilio_has_not_answered_the_first_waits_on_the_calling_page(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """Twilio takes its time over the first click (no call SID yet): Meera clicks again."""
    client_for(meera).post(CALL_NOW)
    Callback.objects.filter(callback_id="CBK-ASHA01").update(call_sid="")

    second = client_for(meera).post(CALL_NOW, follow=True)

    assert len(twilio.requests) == 1
    assert second.redirect_chain == [(CALLING, 302)]
    page = second.content.decode()
    assert "Calling Asha Verma (+91 98000 00101)…" in page
    assert "Waiting for our phone service to place the call." in page and "Twilio" not in page


def test_call_now_on_a_call_the_customer_answered_opens_that_call(
    meera: User, kavya: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """Meera left the calling page before Asha answered: "Call now" on the board takes her to
    the call Asha is on (through its calling page), rather than telling Meera that Meera is on
    the phone with her. A colleague is still told who is."""
    client_for(meera).post(CALL_NOW)
    asha_answers()

    again = client_for(meera).post(CALL_NOW)
    opened = client_for(meera).get(CALLING)
    colleague = client_for(kavya).post(CALL_NOW, follow=True)

    assert again.status_code == 302 and again["Location"] == CALLING
    assert opened.status_code == 302 and opened["Location"] == "/staff/live/CALL-ASHA/"
    assert messages_of(colleague) == [
        "meera is on the phone with this customer now, on the call this callback dialled."
    ]
    assert len(twilio.requests) == 1


def test_the_board_says_the_customer_is_on_the_call_and_opens_it(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    client_for(meera).post(CALL_NOW)
    asha_answers()

    status, cell = board_row(meera)

    assert status == "On the call"
    assert f'href="{CALLING}"' in cell  # which opens the call's live view


def test_the_board_says_a_ringing_call_and_one_nobody_answered_as_the_calling_page_does(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    client_for(meera).post(CALL_NOW)
    ringing, cell = board_row(meera)
    Callback.objects.filter(callback_id="CBK-ASHA01").update(
        dialled_at=timezone.now() - desk.REDIAL_AFTER - timedelta(seconds=1))  # fmt: skip
    rang_out, _ = board_row(meera)

    assert ringing.startswith("Dialled at ") and f'href="{CALLING}"' in cell
    # Twilio's word on it lost: the ringing is over all the same, as the calling page says.
    assert rang_out.startswith("No answer at ")
    assert "No answer." in client_for(meera).get(CALLING).content.decode()


def test_the_board_says_when_the_answered_call_ended(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    client_for(meera).post(CALL_NOW)
    asha_answers(ended=True)

    status, _ = board_row(meera)

    assert status == "Call over at 20:30"  # 15:00 UTC, in Asia/Kolkata


def test_a_callback_never_dialled_or_closed_links_to_no_calling_page(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    _, never_dialled = board_row(meera)
    client_for(meera).post(CALL_NOW)
    asha_answers()
    client_for(meera).post("/staff/callbacks/CBK-ASHA01/done")
    status, closed = board_row(meera)

    assert "/calling" not in never_dialled
    assert status == "Done" and "/calling" not in closed


def test_the_calling_page_of_a_callback_nobody_has_called_goes_back_to_the_board(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """Its URL typed or kept from an earlier day: nothing rang, so it is not "No answer"."""
    response = client_for(meera).get(CALLING, follow=True)

    assert response.redirect_chain == [(BOARD, 302)]
    assert messages_of(response) == ["Callback CBK-ASHA01 has not been called yet."]
    assert "No answer" not in response.content.decode()


def test_a_customer_who_picked_up_but_was_never_put_through_is_told_as_such(
    meera: User, ashas: Callback, twilio: FakeTwilioApi
) -> None:
    """Asha picked up, but her call never reached Meera (the phone bridge refused it): she
    heard that we could not connect her, and Twilio says the call `completed`. Meera's page
    says so at once: not "Ringing" for a minute, then that Asha did not pick up. Nothing
    rings, so she may call again at once."""
    client_for(meera).post(CALL_NOW)

    told = twilio_says("completed", dialled_sid())
    page = client_for(meera).get(CALLING).content.decode()
    status, _ = board_row(meera)
    again = client_for(meera).post(CALL_NOW, follow=True)

    assert told.status_code == 204
    assert ("<b>Not put through.</b> Asha Verma (+91 98000 00101) picked up, but the call could "
            "not be connected to you") in page  # fmt: skip
    assert "Ringing" not in page and "No answer." not in page
    assert ">Call again</button>" in page
    assert status.startswith("Not put through at ")
    assert "Ringing Asha Verma (+91 98000 00101)…" in again.content.decode()
    assert len(twilio.requests) == 2
