# ruff: noqa: F811  (the staff tests' fixtures, imported here, are parameters by name)
"""The call page, ticket and customer pages after a call, as an agent reads them: a summary
that is not in words is not shown as data; a call whose agent answered no turn says so, not
"typically —"; a callback the call booked is on its page, and once made it is not left to do.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client

from callbacks.models import Callback
from support import mongo
from support.models import Customer, Escalation
from support.tests.staff.aftercall_data import (
    CALL_ID,
    MADE,
    SUMMARY,
    add_after_call_fields,
    book_a_callback,
)
from support.tests.staff.conftest import (  # noqa: F401  (fixtures)
    agent,
    as_id,
    meera,
    priya,
    priya_ticket,
    staff_groups,
    staff_test_settings,
)

pytestmark = pytest.mark.django_db(transaction=True)

CALL_PAGE = f"/staff/calls/{CALL_ID}/"


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# --- a summary not in words ----------------------------------------------------------------------

GARBLED = {**SUMMARY, "text": {"en": "Priya's dosa came cold."}, "follow_up": {"todo": 1}}


@pytest.mark.parametrize("where", ["call", "customer"])
def test_a_summary_not_in_words_is_not_shown_as_data(
    where: str, agent: Client, priya: Customer, settings: Any
) -> None:
    """A record whose summary holds data where words belong (written by hand, or by a tool
    gone wrong): the page says so and shows the tools' account, never the data."""
    settings.GEMINI_API_KEY = ""
    add_after_call_fields(summary=GARBLED)
    body = page(agent, CALL_PAGE if where == "call" else f"/staff/customers/{priya.user_id}/")

    assert "{&#x27;en&#x27;" not in body and "todo" not in body
    if where == "call":
        assert f"Escalated to a person: opened ticket {as_id('TKT-AAAAAA')}." in body
        assert "The summary on record could not be read" in body
        assert "no summary model is configured" not in body  # not why it is the account


def test_a_follow_up_written_as_steps_reads_as_one_line(agent: Client, priya: Customer) -> None:
    add_after_call_fields(summary={**SUMMARY, "follow_up": ["Refund ORD-3001.", "Call Priya."]})
    body = page(agent, CALL_PAGE)

    assert f"Left to do:</b> Refund {as_id('ORD-3001')}.; Call Priya." in body
    assert "[&#x27;" not in body


# --- a call whose agent answered no turn ----------------------------------------------------------


def test_a_call_whose_agent_answered_no_turn_says_so_in_words(
    agent: Client, priya: Customer
) -> None:
    add_after_call_fields()
    started = (mongo.sync_db().calls.find_one({"call_id": CALL_ID}) or {})["started_at"]
    turns = [{"at": started + dt.timedelta(seconds=s), "user_ms": 900, "first_audio_ms": None,
              "tools_ms": 0} for s in (3, 20)]  # fmt: skip
    mongo.sync_db().calls.update_one(
        {"call_id": CALL_ID}, {"$set": {"turns": turns, "end_reason": "idle"}}
    )
    body = page(agent, CALL_PAGE)

    answer_time = body.split("<dt>Answer time</dt>")[1].split("</dd>")[0]
    assert "typically" not in answer_time and "—" not in answer_time
    assert "none: the agent did not answer 2 of 2 turns" in body
    assert "The agent did not answer 2 of 2 turns." in body
    assert "Tools ran" not in body  # none did: not "Tools ran 0.00 s in all"


# --- a callback booked on the call --------------------------------------------------------------

def test_the_call_page_names_the_callback_the_call_booked(agent: Client, priya: Customer) -> None:
    book_a_callback(priya)
    body = page(agent, CALL_PAGE)

    assert "<dt>Callbacks</dt>" in body
    assert re.search(r"CBK-PRIYA1</(a|span)> \(8 Dec 2026, 10:30, Scheduled\)", body)
    assert f"Left to do:</b> Call the customer back ({as_id('CBK-PRIYA1')})." in body
    assert "Since the call" not in body


@pytest.mark.parametrize("where", ["call", "customer"])
def test_a_callback_made_since_the_call_is_not_left_to_do(
    where: str, agent: Client, priya: Customer
) -> None:
    book_a_callback(priya, status="done", closed_at=MADE)
    body = page(agent, CALL_PAGE if where == "call" else f"/staff/customers/{priya.user_id}/")

    callback = as_id("CBK-PRIYA1")
    assert f"Left to do after the call:</b> Call the customer back ({callback})." in body
    assert f"Since the call: callback {callback} was made on 8 Dec 2026, 10:42." in body


@pytest.mark.parametrize("where", ["call", "customer"])
def test_a_callback_the_call_cancelled_itself_after_her_line_went_is_not_said_done_since(
    where: str, agent: Client, priya: Customer
) -> None:
    """The call booked CBK-OLD, then moved it (cancelled it, booked CBK-PRIYA1); its cancel
    finished 4 s after the call's end (her line went while it ran). That was the call's own
    doing, not something done since: once CBK-PRIYA1 is made, only that is said."""
    book_a_callback(priya, status="done", closed_at=MADE)
    calls = mongo.sync_db().calls
    ended_at = (calls.find_one({"call_id": CALL_ID}) or {})["ended_at"]
    calls.update_one({"call_id": CALL_ID}, {"$push": {"tool_calls": {
        "name": "cancel_callback", "args": {"callback_id": "CBK-OLD"}, "ok": True,
        "result": {"ok": True, "callback_id": "CBK-OLD"}, "started_at": ended_at, "ms": 4000,
    }}})  # fmt: skip
    Callback.objects.create(callback_id="CBK-OLD", customer=priya, phone=priya.phone,
                            slot_start=MADE, local_date="2026-12-08", seat=2, reason="cold food",
                            call_id=CALL_ID, status="cancelled",
                            closed_at=ended_at + dt.timedelta(seconds=4))  # fmt: skip
    body = page(agent, CALL_PAGE if where == "call" else f"/staff/customers/{priya.user_id}/")

    callback = as_id("CBK-PRIYA1")
    assert f"Since the call: callback {callback} was made on 8 Dec 2026, 10:42." in body
    assert "CBK-OLD was cancelled" not in body


def test_a_missed_callback_is_still_left_to_do(agent: Client, priya: Customer) -> None:
    book_a_callback(priya, status="missed", closed_at=MADE)
    body = page(agent, CALL_PAGE)

    assert "(8 Dec 2026, 10:30, Missed)" in body
    assert "Left to do:</b> Call the customer back" in body and "Since the call" not in body


def test_the_ticket_briefing_waits_for_the_callback_as_well_as_the_ticket(
    agent: Client, priya: Customer, priya_ticket: Escalation
) -> None:
    """A call that opened a ticket and booked a callback (nobody could join in time): its
    follow-up is done once both are."""
    book_a_callback(priya)
    Escalation.objects.filter(ticket_id="TKT-AAAAAA").update(
        status="resolved", resolved_at=MADE)  # fmt: skip
    url = f"/staff/tickets/{priya_ticket.ticket_id}/"
    assert "Since the call" not in page(agent, url)

    Callback.objects.filter(callback_id="CBK-PRIYA1").update(status="done", closed_at=MADE)
    ticket, callback = as_id("TKT-AAAAAA"), as_id("CBK-PRIYA1")
    assert (f"Since the call: ticket {ticket} was resolved on 8 Dec 2026, 10:42; callback "
            f"{callback} was made on 8 Dec 2026, 10:42.") in page(agent, url)  # fmt: skip


def test_the_wait_chart_of_a_call_answered_nowhere_keys_only_what_it_draws(
    agent: Client, priya: Customer
) -> None:
    add_after_call_fields()
    started = (mongo.sync_db().calls.find_one({"call_id": CALL_ID}) or {})["started_at"]
    turns = [{"at": started + dt.timedelta(seconds=3), "user_ms": 900, "first_audio_ms": None,
              "tools_ms": 0}]  # fmt: skip
    mongo.sync_db().calls.update_one({"call_id": CALL_ID}, {"$set": {"turns": turns}})
    chart = agent.get(CALL_PAGE).context["after"].turns.chart

    assert [series.label for series in chart.legend] == ["The agent did not answer"]
