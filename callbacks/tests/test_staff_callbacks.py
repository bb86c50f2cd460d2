"""/staff/callbacks/: who may see it, what it shows, and claiming and closing callbacks."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from callbacks import board, desk
from callbacks.models import Callback
from callbacks.slots import Hours
from callbacks.tests.conftest import (
    client_for,
    due_now,
    make_callback,
    make_customer,
    make_user,
    slot,
    today_at,
)
from support import mongo
from support.models import Customer, Escalation
from support.staff import queries

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = "/staff/callbacks/"


def state_of(callback_id: str) -> tuple[str, str | None]:
    callback = Callback.objects.get(callback_id=callback_id)
    return callback.status, callback.assignee


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def ashas(asha: Customer) -> Callback:
    return make_callback(asha, today_at(15, 30, days=1), callback_id="CBK-ASHA01")


# --- Who may see it -----------------------------------------------------------------------------


def test_both_support_groups_see_the_page(meera: User, arjun: User) -> None:
    for user in (meera, arjun):
        response = client_for(user).get(PAGE)
        assert response.status_code == 200
        assert response.context["can_change"] is True


def test_every_staff_page_links_to_the_callbacks_for_those_who_may_see_them(
    meera: User, arjun: User
) -> None:
    link = f'<a href="{PAGE}">Callbacks</a>'
    for user in (meera, arjun):
        for path in ("/staff/", "/staff/queue/", "/staff/calls/", PAGE):
            assert link in client_for(user).get(path).content.decode(), (user, path)
    loner = User.objects.create_user("loner", is_staff=True)  # in no support group
    loner.user_permissions.add(Permission.objects.get(codename="view_call"))
    page = client_for(loner).get("/staff/calls/")
    assert page.status_code == 200 and link not in page.content.decode()


def test_strangers_are_sent_to_the_login_and_staff_without_a_group_refused(
    staff_groups: Any, ashas: Callback
) -> None:
    guest = make_user("guest")
    loner = User.objects.create_user("loner", is_staff=True)

    for client in (Client(), client_for(guest)):
        response = client.get(PAGE)
        assert response.status_code == 302
        assert response["Location"] == f"/admin/login/?next={PAGE}"
    assert client_for(loner).get(PAGE).status_code == 403
    assert client_for(loner).post(f"{PAGE}CBK-ASHA01/claim").status_code == 403
    assert state_of("CBK-ASHA01") == ("scheduled", None)


# --- What it shows ------------------------------------------------------------------------------


def test_today_and_upcoming_are_grouped_by_day_with_names_and_phones(
    meera: User, asha: Customer, ravi: Customer
) -> None:
    make_callback(asha, today_at(18, 0), callback_id="CBK-TODAY2")
    make_callback(ravi, today_at(9, 30), callback_id="CBK-TODAY1", status="done",
                  assignee="arjun")  # fmt: skip
    make_callback(ravi, today_at(11, 0, days=2), callback_id="CBK-LATER1",
                  reason="Missing raita, wants a person to call")  # fmt: skip
    make_callback(asha, today_at(12, 0, days=-1), callback_id="CBK-OVERDU")  # never closed
    make_callback(ravi, today_at(12, 0, days=-1), callback_id="CBK-OLDONE", status="done")
    make_callback(asha, today_at(12, 0, days=20), callback_id="CBK-FAROFF")

    response = client_for(meera).get(PAGE)

    days = response.context["days"]
    assert (days[0].heading, days[0].overdue) == ("Overdue", True)
    assert days[1].heading.startswith("Today, ")
    ids = [[row.callback.callback_id for row in day.rows] for day in days]
    assert ids == [["CBK-OVERDU"], ["CBK-TODAY1", "CBK-TODAY2"], ["CBK-LATER1"]]
    body = response.content.decode()
    assert '<a href="/staff/customers/101/">Asha Verma</a>' in body
    assert '<a class="phone" href="tel:+919800000202">+91 98000 00202</a>' in body
    assert "Missing raita, wants a person to call" in body
    assert "18:00–18:30" in body
    yesterday = today_at(12, 0, days=-1).astimezone(Hours.from_settings().zone)
    day = f"{yesterday:%a} {yesterday.day} {yesterday:%b}"
    assert f'<span class="day">{day}</span> 12:00–12:30' in body  # overdue: of which day
    assert "CBK-FAROFF" not in body and "CBK-OLDONE" not in body


@pytest.fixture
def a_busy_fortnight(db: Any) -> list[str]:
    """One overdue callback, three today, two tomorrow and one the day after, of seven
    customers; their ids in the board's order."""
    when = [(12, 0, -1), (10, 0, 0), (10, 0, 0), (11, 30, 0), (9, 0, 1), (20, 30, 1),
            (15, 0, 2)]  # fmt: skip
    ids = []
    for n, (hour, minute, days) in enumerate(when):
        customer = make_customer(500 + n, f"Customer {n}")
        seat = 2 if n == 2 else 1  # two in today's 10:00 slot
        ids.append(make_callback(customer, today_at(hour, minute, days=days), seat=seat,
                                 callback_id=f"CBK-PAGE0{n}").callback_id)  # fmt: skip
    return ids


def test_the_board_pages_its_callbacks_overdue_first(
    meera: User, a_busy_fortnight: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(board, "PAGE_SIZE", 3)

    pages = [client_for(meera).get(PAGE, {"page": n}) for n in (1, 2, 3, 4)]

    shown = [[row.callback.callback_id for day in page.context["days"] for row in day.rows]
             for page in pages]  # fmt: skip
    assert shown == [a_busy_fortnight[:3], a_busy_fortnight[3:6], a_busy_fortnight[6:], []]
    first, second = (page.content.decode() for page in pages[:2])
    # A day going on over a page's edge says how many it holds in all.
    assert [day.heading.split(",")[0] for day in pages[0].context["days"]] == ["Overdue", "Today"]
    assert "3 callbacks, 2 on this page" in first and "3 callbacks, 1 on this page" in second
    assert "2 callbacks, 2 on this page" not in second  # tomorrow's are all on page 2
    assert '<a href="?page=2">later callbacks →</a>' in first
    assert '<a href="?page=1">← earlier callbacks</a>' in second
    assert '<a href="?page=3">later callbacks →</a>' in second
    assert "No callbacks on this page." in pages[3].content.decode()


def test_pages_of_every_size_hold_each_callback_once_in_order(
    a_busy_fortnight: list[str],
) -> None:
    listed = board.Listed(timezone.now(), Hours.from_settings())
    for size in range(1, 9):
        pages = [queries.page_of(listed, n, size) for n in range(1, 10)]
        ids = [callback.callback_id for page in pages for callback in page.rows]
        assert ids == a_busy_fortnight, size
        assert [page.has_next for page in pages[:2]] == [size < 7, size < 4]


def test_a_day_heading_names_the_day(meera: User, asha: Customer) -> None:
    make_callback(asha, today_at(10, 0, days=2))

    [day] = client_for(meera).get(PAGE).context["days"]

    local = today_at(10, 0, days=2).astimezone(Hours.from_settings().zone)
    assert day.heading == f"{local:%A} {local.day} {local:%B}"


def test_the_status_says_what_needs_doing(meera: User, asha: Customer, ravi: Customer) -> None:
    # Today's slots are past or future depending on the hour the suite runs: only the
    # relative ones are checked against the clock.
    make_callback(asha, today_at(0, 0, days=-1), callback_id="CBK-LATE01")
    make_callback(ravi, today_at(10, 0, days=1), callback_id="CBK-SOON01")

    rows = {row.callback.callback_id: row for day in client_for(meera).get(PAGE).context["days"]
            for row in day.rows}  # fmt: skip

    assert (rows["CBK-LATE01"].status, rows["CBK-LATE01"].tone) == ("Late", "late")
    assert (rows["CBK-SOON01"].status, rows["CBK-SOON01"].tone) == ("Scheduled", "scheduled")


def test_a_callback_the_customer_cancelled_is_not_said_to_be_cancelled_by_who_held_it(
    meera: User, asha: Customer
) -> None:
    """Only the customer cancels (cancel_callback): Meera had claimed it, and did not."""
    make_callback(asha, today_at(15, 30, days=1), callback_id="CBK-ASHA01", status="cancelled",
                  assignee="meera")  # fmt: skip

    body = client_for(meera).get(PAGE).content.decode()

    assert '<span class="badge">Cancelled</span> <span class="held">by the customer</span>' in body
    assert "by meera" not in body


def test_an_empty_board_says_so(meera: User) -> None:
    response = client_for(meera).get(PAGE)

    assert "No callbacks are booked from today on." in response.content.decode()


def test_call_now_is_offered_only_with_twilio_configured_to_those_who_may_take_calls_over(
    arjun: User, meera: User, ashas: Callback, settings: Any
) -> None:
    button = '<button type="submit" class="call">Call now</button>'
    unconfigured = client_for(arjun).get(PAGE).content.decode()

    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "0" * 32, "secret"
    settings.TWILIO_FROM_NUMBER = "+911140000000"
    configured = client_for(arjun).get(PAGE).content.decode()
    for_an_agent = client_for(meera).get(PAGE).content.decode()

    assert button not in unconfigured
    assert "“Call now” appears once our phone service is set up for calling out." in unconfigured
    assert button in configured
    assert button not in for_an_agent  # a support agent's group cannot take calls over
    assert "Calling a customer from here needs the right to take calls over" in for_an_agent


# --- Claiming and closing -------------------------------------------------------------------------


def test_an_agent_claims_a_callback(meera: User, ashas: Callback) -> None:
    response = client_for(meera).post(f"{PAGE}CBK-ASHA01/claim", follow=True)

    assert state_of("CBK-ASHA01") == ("scheduled", "meera")
    assert messages_of(response) == ["You claimed the callback to Asha Verma (+91 98000 00101)."]
    assert response.redirect_chain == [(PAGE, 302)]
    [row] = response.context["days"][0].rows
    assert (row.can_claim, row.can_work) == (False, True)


def test_a_second_claimer_is_told_who_has_it(meera: User, arjun: User, ashas: Callback) -> None:
    client_for(meera).post(f"{PAGE}CBK-ASHA01/claim")

    response = client_for(arjun).post(f"{PAGE}CBK-ASHA01/claim", follow=True)

    assert state_of("CBK-ASHA01") == ("scheduled", "meera")
    assert messages_of(response) == ["meera has already claimed callback CBK-ASHA01."]
    [row] = response.context["days"][0].rows
    assert (row.can_claim, row.can_work) == (False, False)


def test_concurrent_claims_have_one_winner(ashas: Callback) -> None:
    names = [f"staff{n}" for n in range(8)]
    start = threading.Barrier(len(names))

    def try_claim(name: str) -> str:
        start.wait()  # all threads fire at once
        try:
            desk.claim("CBK-ASHA01", name)
            return "won"
        except desk.CallbackError as error:
            return error.message
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(names)) as pool:
        outcomes = list(pool.map(try_claim, names))

    status, winner = state_of("CBK-ASHA01")
    assert status == "scheduled" and winner in names
    assert outcomes.count("won") == 1
    assert outcomes.count(f"{winner} has already claimed callback CBK-ASHA01.") == 7


def test_marking_done_closes_it_for_whoever_did(meera: User, ashas: Callback) -> None:
    response = client_for(meera).post(f"{PAGE}CBK-ASHA01/done", follow=True)

    done = Callback.objects.get(callback_id="CBK-ASHA01")
    assert (done.status, done.assignee) == ("done", "meera")
    assert done.closed_at is not None
    assert messages_of(response) == ["The callback to Asha Verma (+91 98000 00101) is done."]
    [row] = response.context["days"][0].rows
    assert (row.status, row.can_claim, row.can_work) == ("Done", False, False)


def test_marking_missed_gives_the_place_back(meera: User, ashas: Callback) -> None:
    Callback.objects.filter(pk=ashas.pk).update(slot_start=due_now())
    ashas.refresh_from_db()

    response = client_for(meera).post(f"{PAGE}CBK-ASHA01/missed", follow=True)

    assert state_of("CBK-ASHA01") == ("missed", "meera")
    assert messages_of(response) == [
        "The callback to Asha Verma (+91 98000 00101) is marked missed."
    ]
    # The seat and the day are free again: the database takes the same booking anew.
    make_callback(ashas.customer, ashas.slot_start, callback_id="CBK-ASHA02")


def test_a_callback_is_not_marked_missed_before_its_slot_has_begun(
    meera: User, ashas: Callback
) -> None:
    """Asha's slot is tomorrow at 15:30: nobody has missed her yet. The board offers no
    "Mark missed" until then, and the server refuses it, saying when it may be."""
    client_for(meera).post(f"{PAGE}CBK-ASHA01/claim")

    page = client_for(meera).get(PAGE)
    response = client_for(meera).post(f"{PAGE}CBK-ASHA01/missed", follow=True)

    [row] = page.context["days"][0].rows
    assert row.can_work and not row.begun
    assert "Mark missed" not in page.content.decode() and "Mark done" in page.content.decode()
    assert state_of("CBK-ASHA01") == ("scheduled", "meera")
    when = ashas.slot_start.astimezone(Hours.from_settings().zone)
    assert messages_of(response) == [
        f"Callback CBK-ASHA01 is booked for {when:%a} {when.day} {when:%b}, 15:30: it can be "
        "marked missed once its slot has begun."
    ]


def test_a_callback_whose_slot_has_begun_is_offered_to_be_marked_missed(
    meera: User, asha: Customer
) -> None:
    make_callback(asha, due_now(), callback_id="CBK-ASHA01", assignee="meera")

    page = client_for(meera).get(PAGE)

    [row] = page.context["days"][0].rows
    assert row.begun and ">Mark missed</button>" in page.content.decode()


def test_someone_elses_callback_cannot_be_closed(
    meera: User, kavya: User, ashas: Callback
) -> None:
    client_for(kavya).post(f"{PAGE}CBK-ASHA01/claim")

    response = client_for(meera).post(f"{PAGE}CBK-ASHA01/done", follow=True)

    assert state_of("CBK-ASHA01") == ("scheduled", "kavya")
    assert messages_of(response) == ["kavya has already claimed callback CBK-ASHA01."]


def test_a_closed_callback_stays_closed(meera: User, ashas: Callback) -> None:
    client_for(meera).post(f"{PAGE}CBK-ASHA01/done")

    response = client_for(meera).post(f"{PAGE}CBK-ASHA01/missed", follow=True)

    assert state_of("CBK-ASHA01") == ("done", "meera")
    assert messages_of(response) == ["Callback CBK-ASHA01 is already done."]


def test_a_holder_releases_a_callback_back_to_nobody(meera: User, ashas: Callback) -> None:
    client_for(meera).post(f"{PAGE}CBK-ASHA01/claim")

    response = client_for(meera).post(f"{PAGE}CBK-ASHA01/release", follow=True)

    assert state_of("CBK-ASHA01") == ("scheduled", None)
    assert messages_of(response) == [
        "You released your callback to Asha Verma (+91 98000 00101); anyone may claim it now."
    ]
    [row] = response.context["days"][0].rows
    assert (row.can_claim, row.can_work, row.held_by_other) == (True, False, False)


def test_a_lead_releases_what_an_agent_claimed_and_takes_it_himself(
    meera: User, arjun: User, ashas: Callback, settings: Any
) -> None:
    client_for(meera).post(f"{PAGE}CBK-ASHA01/claim")
    board = client_for(arjun).get(PAGE)
    [row] = board.context["days"][0].rows

    response = client_for(arjun).post(f"{PAGE}CBK-ASHA01/release", follow=True)
    desk.claim("CBK-ASHA01", "arjun")

    assert row.held_by_other and "Release from meera" in board.content.decode()
    assert messages_of(response) == [
        "You released meera's callback to Asha Verma (+91 98000 00101); anyone may claim it now."
    ]
    assert state_of("CBK-ASHA01") == ("scheduled", "arjun")


def test_colleagues_are_named_as_they_are_known_not_by_username(
    meera: User, arjun: User, ashas: Callback, asha: Customer
) -> None:
    User.objects.filter(username="meera").update(first_name="Meera", last_name="Nair")
    client_for(meera).post(f"{PAGE}CBK-ASHA01/claim")
    make_callback(asha, today_at(9, 30), callback_id="CBK-DONE01", status="done",
                  assignee="someone-who-left")  # fmt: skip
    Escalation.objects.create(ticket_id="TKT-CB2", customer=asha, reason="Wants a person")
    make_callback(asha, slot(days_ahead=3, hour=14, minute=0), ticket_id="TKT-CB2",
                  callback_id="CBK-T2", assignee="meera")  # fmt: skip

    board = client_for(arjun).get(PAGE).content.decode()
    taken = client_for(arjun).post(f"{PAGE}CBK-ASHA01/claim", follow=True)
    released = client_for(arjun).post(f"{PAGE}CBK-ASHA01/release", follow=True)
    ticket = client_for(arjun).get(reverse("staff:ticket", args=["TKT-CB2"])).content.decode()

    assert "held by Meera Nair" in board and "Release from Meera Nair" in board
    assert '<span class="colleague" title="Meera Nair">Meera Nair</span>' in board
    assert "by someone-who-left" in board  # no longer on the team: their username
    assert "meera" not in board.replace("Meera", "")
    assert messages_of(taken) == ["Meera Nair has already claimed callback CBK-ASHA01."]
    assert messages_of(released)[0].startswith("You released Meera Nair's callback")
    assert "· Scheduled · Meera Nair" in ticket
    assert state_of("CBK-ASHA01") == ("scheduled", None)  # stored: usernames, as before


def test_a_callback_is_not_released_while_it_rings_or_its_call_is_on(
    meera: User, arjun: User, ashas: Callback
) -> None:
    rang_at = timezone.now()
    ashas.assignee, ashas.dialled_at = "meera", rang_at  # "Call now" moments ago
    ashas.save()
    ringing = client_for(arjun).post(f"{PAGE}CBK-ASHA01/release", follow=True)
    ashas.dialled_at, ashas.answered_call_id = rang_at - desk.REDIAL_AFTER, "CALL-ON"  # answered
    ashas.save()
    mongo.sync_db().calls.insert_one({"call_id": "CALL-ON", "ended_at": None})
    answered = client_for(arjun).post(f"{PAGE}CBK-ASHA01/release", follow=True)
    mongo.sync_db().calls.update_one({"call_id": "CALL-ON"}, {"$set": {"ended_at": timezone.now()}})
    after_the_call = client_for(arjun).post(f"{PAGE}CBK-ASHA01/release", follow=True)
    nobodys = client_for(arjun).post(f"{PAGE}CBK-ASHA01/release", follow=True)

    dialled = f"{timezone.localtime(rang_at):%H:%M}"  # in SUPPORT_TIME_ZONE, as staff read it
    assert messages_of(ringing) == [f"meera dialled callback CBK-ASHA01 at {dialled}; it can "
                                    "be released once the phone stops ringing."]  # fmt: skip
    assert messages_of(answered) == ["meera is on the phone with this customer now; mark the "
                                     "callback done or missed after the call instead."]  # fmt: skip
    assert messages_of(after_the_call)[0].startswith("You released meera's callback")
    assert messages_of(nobodys) == ["Nobody holds callback CBK-ASHA01 now."]
    assert state_of("CBK-ASHA01") == ("scheduled", None)


def test_a_callback_is_not_released_when_the_customer_answers_as_it_is_released(
    ashas: Callback, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Meera's dial is ringing; Asha picks up just after Arjun's release read the callback
    (no answer yet): the release, one update, still finds her on the call with Meera."""
    Callback.objects.filter(pk=ashas.pk).update(
        assignee="meera", dialled_at=timezone.now(), call_sid="CA1")  # fmt: skip
    call_live = desk._call_live

    def answered_meanwhile(call_id: str | None) -> bool:
        monkeypatch.setattr(desk, "_call_live", call_live)  # once
        mongo.sync_db().calls.insert_one({"call_id": "CALL-ON", "ended_at": None})
        Callback.objects.filter(pk=ashas.pk).update(answered_call_id="CALL-ON")
        return call_live(call_id)

    monkeypatch.setattr(desk, "_call_live", answered_meanwhile)
    with pytest.raises(desk.CallbackError) as refused:
        desk.release("CBK-ASHA01", "arjun")

    assert refused.value.message.startswith("meera is on the phone with this customer now")
    assert state_of("CBK-ASHA01") == ("scheduled", "meera")


def test_a_callback_whose_answered_call_ended_is_released_at_once(
    meera: User, arjun: User, ashas: Callback
) -> None:
    """Asha picked up Meera's "Call now" and the call is over within the minute the phone
    might have rung: nothing rings any more, so the callback can be given back."""
    ashas.assignee, ashas.dialled_at, ashas.answered_call_id = "meera", timezone.now(), "CALL-1"
    ashas.save()
    mongo.sync_db().calls.insert_one({"call_id": "CALL-1", "ended_at": timezone.now()})

    released = client_for(arjun).post(f"{PAGE}CBK-ASHA01/release", follow=True)

    assert messages_of(released)[0].startswith("You released meera's callback")
    assert state_of("CBK-ASHA01") == ("scheduled", None)


def test_an_unknown_callback_is_reported(meera: User) -> None:
    response = client_for(meera).post(f"{PAGE}CBK-NOPE00/claim", follow=True)

    assert messages_of(response) == ["There is no callback CBK-NOPE00."]


def test_actions_need_post_and_a_csrf_token(meera: User, ashas: Callback) -> None:
    strict = client_for(meera, enforce_csrf_checks=True)

    for action in ("claim", "release", "done", "missed", "call"):
        assert strict.get(f"{PAGE}CBK-ASHA01/{action}").status_code == 405
        assert strict.post(f"{PAGE}CBK-ASHA01/{action}").status_code == 403
    assert state_of("CBK-ASHA01") == ("scheduled", None)


# --- The admin ----------------------------------------------------------------------------------


def test_the_admin_lists_callbacks_but_does_not_edit_them(arjun: User, ashas: Callback) -> None:
    lead = client_for(arjun)

    listing = lead.get("/admin/callbacks/callback/")
    found = lead.get("/admin/callbacks/callback/?q=CBK-ASHA01")

    assert listing.status_code == 200
    assert "CBK-ASHA01" in found.content.decode()
    assert lead.get("/admin/callbacks/callback/add/").status_code == 403
    assert lead.post(f"/admin/callbacks/callback/{ashas.pk}/change/",
                     {"status": "cancelled"}).status_code == 403  # fmt: skip
    assert state_of("CBK-ASHA01") == ("scheduled", None)


def test_a_callbacks_admin_page_reads_as_the_staff_pages_do(
    meera: User, arjun: User, asha: Customer
) -> None:
    """Its slot in the support time zone (the model's "UTC" beside a local time misled), the
    customer and the colleague by name, the ticket and the calls as links."""
    User.objects.filter(username="meera").update(first_name="Meera", last_name="Nair")
    Escalation.objects.create(ticket_id="TKT-CB2", customer=asha, reason="Wants a person")
    callback = make_callback(asha, slot(days_ahead=2, hour=15, minute=30), ticket_id="TKT-CB2",
                             assignee="meera", answered_call_id="CALL-ANSWERED")  # fmt: skip
    busy = make_callback(asha, slot(days_ahead=3, hour=15, minute=30), dial_status="busy")

    page = client_for(arjun).get(f"/admin/callbacks/callback/{callback.pk}/change/")
    dial = client_for(arjun).get(f"/admin/callbacks/callback/{busy.pk}/change/").content.decode()
    text = page.content.decode()

    assert page.status_code == 200
    assert "15:30–16:00" in text and "UTC" not in text
    assert "Asha Verma" in text and "+91 98000 00101" in text
    assert "Meera Nair (meera)" in text
    assert f'href="{reverse("staff:ticket", args=["TKT-CB2"])}"' in text
    assert f'href="{reverse("staff:call", args=["call-1"])}"' in text  # booked in
    assert f'href="{reverse("staff:call", args=["CALL-ANSWERED"])}"' in text
    assert "the place taken in the slot" not in text  # the booking's bookkeeping
    assert "Line busy" in dial  # how Twilio said its latest dial ended


@pytest.mark.parametrize("term", ["CBK-ASHA01", "cbk-asha01", "Asha", "98000 00101"])
def test_the_admin_finds_a_callback_by_id_or_by_customer_and_names_them(
    term: str, arjun: User, ashas: Callback
) -> None:
    listing = client_for(arjun).get("/admin/callbacks/callback/", {"q": term})

    assert [c.callback_id for c in listing.context["cl"].result_list] == ["CBK-ASHA01"]
    assert "Asha Verma" in listing.content.decode()  # a name, not user id 101


def test_a_tickets_page_shows_the_callback_booked_for_it(
    asha: Customer, meera: User, staff_groups: Any
) -> None:
    # Nobody could join the call in time: the agent booked a callback on the ticket.
    Escalation.objects.create(ticket_id="TKT-CB1", customer=asha, reason="Wants a person",
                              call_id="CALL-1")  # fmt: skip
    make_callback(asha, slot(days_ahead=2, hour=14, minute=0), ticket_id="TKT-CB1",
                  callback_id="CBK-T1")
    page = reverse("staff:ticket", args=["TKT-CB1"])
    reader = User.objects.create_user("tara", is_staff=True)  # may read tickets, not callbacks
    reader.user_permissions.add(Permission.objects.get(codename="view_escalation"))

    shown = client_for(meera).get(page).content.decode()
    hidden = client_for(reader).get(page)

    assert "CBK-T1" in shown and "14:00–14:30 · Scheduled" in shown
    assert hidden.status_code == 200 and "CBK-T1" not in hidden.content.decode()


def test_the_admin_list_names_who_holds_a_callback_and_finds_them_by_username(
    meera: User, arjun: User, ashas: Callback, asha: Customer
) -> None:
    User.objects.filter(username="meera").update(first_name="Meera", last_name="Nair")
    Callback.objects.filter(callback_id="CBK-ASHA01").update(assignee="meera")
    make_callback(asha, today_at(9, 30), callback_id="CBK-DONE01", status="done",
                  assignee="someone-who-left")  # fmt: skip

    listed = client_for(arjun).get("/admin/callbacks/callback/").content.decode()
    found = client_for(arjun).get("/admin/callbacks/callback/", {"q": "meera"})

    assert '<td class="field-assignee_">Meera Nair (meera)</td>' in listed
    assert '<td class="field-assignee_">someone-who-left</td>' in listed  # no longer staff
    assert [c.callback_id for c in found.context["cl"].result_list] == ["CBK-ASHA01"]


def test_the_admin_list_says_each_callbacks_status_as_the_board_does(
    arjun: User, asha: Customer, ravi: Customer
) -> None:
    """A scheduled callback whose slot is over is "Late" on the board, and one already dialled
    says how the dial went: the admin's list says the same, not the stored "Scheduled"; the
    stored status is still what its filter selects."""
    late = make_callback(asha, today_at(9, 0, days=-1), callback_id="CBK-LATE01", assignee="arjun")
    failed = make_callback(ravi, slot(days_ahead=2, hour=15), callback_id="CBK-FAIL01",
                           assignee="arjun", dialled_at=timezone.now(), call_sid="CA1",
                           dial_status="failed")  # fmt: skip
    make_callback(asha, today_at(9, 30), callback_id="CBK-DONE01", status="done")
    days = board.group([late, failed], {}, timezone.now(), "arjun", Hours.from_settings())
    on_board = {row.callback.callback_id: row.status for day in days for row in day.rows}

    listed = client_for(arjun).get("/admin/callbacks/callback/").content.decode()
    scheduled = client_for(arjun).get("/admin/callbacks/callback/", {"status": "scheduled"})

    assert on_board["CBK-LATE01"] == "Late"
    assert on_board["CBK-FAIL01"].startswith("Did not go through at ")
    for callback_id, status in [*on_board.items(), ("CBK-DONE01", "Done")]:
        row = re.search(rf"<tr>.*?{callback_id}.*?</tr>", listed, re.S)
        assert row is not None and f'<td class="field-status_">{status}</td>' in row[0]
    assert {c.callback_id for c in scheduled.context["cl"].result_list} == {"CBK-LATE01",
                                                                             "CBK-FAIL01"}


# --- Review: one wording, and actions back to the page they were taken on ------------------------


def test_a_callback_nobody_claimed_reads_the_same_at_a_desk_and_on_a_phone(
    meera: User, ashas: Callback
) -> None:
    """The assignee column (a desk) and the words beside the status (a phone, where that column
    is hidden) say it alike."""
    body = client_for(meera).get(PAGE).content.decode()

    assert '<span class="held">not claimed yet</span>' in body
    assert '<td class="assignee"><span class="nobody">not claimed yet</span></td>' in body
    assert "nobody yet" not in body


def test_a_callback_cancelled_before_anyone_claimed_it_reads_alike_at_a_desk_and_on_a_phone(
    meera: User, asha: Customer
) -> None:
    """It cannot be claimed any more: neither place says "not claimed yet"."""
    make_callback(asha, today_at(15, 30, days=1), callback_id="CBK-ASHA01", status="cancelled")

    body = client_for(meera).get(PAGE).content.decode()

    assert '<span class="held">by the customer</span>' in body
    assert '<td class="assignee"><span class="nobody">by the customer</span></td>' in body
    assert "not claimed yet" not in body


def test_an_action_on_the_boards_second_page_comes_back_to_that_page(
    meera: User, a_busy_fortnight: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(board, "PAGE_SIZE", 3)
    client = client_for(meera)
    second = client.get(PAGE, {"page": "2"}).content.decode()
    callback_id = a_busy_fortnight[3]
    assert f'name="next" value="{PAGE}?page=2"' in second

    claimed = client.post(f"{PAGE}{callback_id}/claim", {"next": f"{PAGE}?page=2"})
    released = client.post(f"{PAGE}{callback_id}/release", {"next": f"{PAGE}?page=2"})
    elsewhere = client.post(f"{PAGE}{callback_id}/claim", {"next": "https://evil.example/"})

    assert claimed["Location"] == released["Location"] == f"{PAGE}?page=2"
    assert elsewhere["Location"] == PAGE  # never off this site
    assert state_of(callback_id) == ("scheduled", "meera")


def test_the_board_links_a_customer_and_a_ticket_only_for_those_their_pages_let_in(
    staff_groups: Any, asha: Customer
) -> None:
    """Someone who works callbacks alone (a custom group) sees the customer's name and the
    ticket's id, but no link to a page that would refuse them."""
    make_callback(asha, today_at(15, 30, days=1), callback_id="CBK-ASHA01", ticket_id="TKT-CB0001")
    caller = User.objects.create_user("caller", is_staff=True)
    caller.user_permissions.add(Permission.objects.get(codename="view_callback"))

    body = client_for(caller).get(PAGE).content.decode()

    assert "Asha Verma" in body and "TKT-CB0001" in body
    assert 'href="/staff/customers/101/"' not in body
    assert 'href="/staff/tickets/TKT-CB0001/"' not in body
    assert client_for(caller).get("/staff/customers/101/").status_code == 403
