"""After the call on the staff pages (contract section 10): the call page says how the call
ended, how quickly the agent answered, what it cost, what the customer felt and what is left
to do, and lets those allowed hear it; the ticket and customer pages carry the summary."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import AsyncClient, Client

from postcall import summary
from support import mongo
from support.models import Customer, Escalation
from support.tests.staff.aftercall_data import (
    CALL_ID,
    MOVED_CALL_ID,
    RECORDED_CALL_ID,
    SILENT_CALL_ID,
    add_after_call_fields,
    make_moved_call,
    make_recorded_call,
    make_unrecorded_call,
    ogg_headers,
)
from support.tests.staff.conftest import as_id, client_for
from voiceproject.embedded_db import free_port

pytestmark = pytest.mark.django_db(transaction=True)

CALL_PAGE = f"/staff/calls/{CALL_ID}/"


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_call_page_says_how_it_ended_what_it_cost_and_what_is_left_to_do(
    agent: Client, priya: Customer
) -> None:
    add_after_call_fields()
    body = page(agent, CALL_PAGE)

    assert "Escalated to a person" in body
    assert "masala dosa arrived cold" in body
    assert "Not resolved" in body and "Unhappy" in body
    assert f"Left to do:</b> Refund {as_id('ORD-3001')} or offer a replacement" in body
    assert "Written by gemini-3.5-flash-lite" in body
    # Rupees, in words, not the API's field names.
    assert "₹2.45" in body and "Speaking" in body and "Listening to the customer" in body
    assert "output_audio" not in body


def test_the_call_page_shows_each_turns_wait_with_tool_time_inside(
    agent: Client, priya: Customer
) -> None:
    add_after_call_fields()
    response = agent.get(CALL_PAGE)
    turns = response.context["after"].turns

    assert (turns.count, turns.answered) == (5, 4)
    assert (turns.p50, turns.p95, turns.slowest) == ("0.95 s", "2.40 s", "2.40 s")
    titles = [segment.title for segment in turns.chart.segments]
    assert titles == [
        "0:02: answered after 0.82 s",
        "0:14: answered after 2.40 s", "0:14: tools ran 1.35 s",
        "0:40: answered after 0.95 s",
        "1:10: the agent did not answer",
        "1:35: answered after 1.10 s", "1:35: tools ran 0.30 s",
    ]  # fmt: skip
    body = response.content.decode()
    assert "How quickly the agent answered" in body
    assert "The agent did not answer 1 of 5 turns." in body


def test_without_a_summary_the_one_line_account_from_the_tools_stands_in(
    agent: Client, priya: Customer, settings: Any
) -> None:
    settings.GEMINI_API_KEY = ""
    add_after_call_fields(summary=None)
    body = page(agent, CALL_PAGE)

    assert f"Escalated to a person: opened ticket {as_id('TKT-AAAAAA')}." in body
    assert f"A colleague should pick up ticket {as_id('TKT-AAAAAA')}." in body
    assert "no summary model is configured" in body
    assert "Summarise again" in body  # nothing is written yet: the button writes the account


HOSTILE = {
    "text": "<script>alert('summary')</script> Priya's dosa came cold.",
    "sentiment": "negative", "resolved": False,
    "follow_up": '<img src=x onerror="alert(1)"> Call her back.',
    "source": "model", "model": "gemini-3.5-flash-lite",
}  # fmt: skip


@pytest.mark.parametrize("where", ["call", "ticket", "customer"])
def test_markup_a_summary_holds_is_shown_as_text(
    where: str, agent: Client, priya_ticket: Escalation
) -> None:
    """The summary repeats what the caller said: a caller (or a model) writing markup must
    not have it run on a colleague's page."""
    add_after_call_fields(summary=HOSTILE)
    url = {"call": CALL_PAGE, "ticket": f"/staff/tickets/{priya_ticket.ticket_id}/",
           "customer": f"/staff/customers/{priya_ticket.customer_id}/"}[where]  # fmt: skip
    body = page(agent, url)

    assert "<script>alert" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(&#x27;summary&#x27;)&lt;/script&gt; Priya" in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; Call her back." in body


@pytest.mark.parametrize("error, said", [
    ("its quota or rate limit was reached",
     "The summary model failed: its quota or rate limit was reached. This line comes "
     "from what the agent&#x27;s tools did."),
    # As records from before the status code went to the log alone kept it.
    ("its quota or rate limit was reached (429)",
     "The summary model failed: its quota or rate limit was reached. This line comes "
     "from what the agent&#x27;s tools did."),
    ("it refused the request (400 INVALID_ARGUMENT)",
     "The summary model failed: it refused the request. This line comes from what"),
    # As records from before the reasons were worded kept it: the API's own answer.
    ("API error 502: <html><body><h1>502 Bad Gateway</h1>" + "<p>nginx</p>" * 50,
     "The summary model failed: API error 502: 502 Bad Gateway nginx nginx"),
])  # fmt: skip
def test_why_the_summary_model_failed_is_one_short_line(
    error: str, said: str, agent: Client, priya: Customer
) -> None:
    stand_in = {"text": "Escalated to a person: opened ticket TKT-AAAAAA.", "sentiment": None,
                "resolved": False, "follow_up": "", "source": "tool_results", "error": error}
    add_after_call_fields(summary=stand_in)
    response = agent.get(CALL_PAGE)
    body = response.content.decode()

    assert said in body
    source = response.context["after"].summary.source
    assert len(source) < 200 and "<" not in source


def test_a_kept_summary_says_summarising_again_failed_without_the_status_code(
    agent: Client, priya: Customer
) -> None:
    kept = {"text": "Priya's dosa came cold; the agent refunded it.", "sentiment": "negative",
            "resolved": True, "follow_up": "", "source": "model",
            "model": "gemini-3.5-flash-lite",
            "last_error": "its quota or rate limit was reached (429)"}  # fmt: skip
    add_after_call_fields(summary=kept)

    assert agent.get(CALL_PAGE).context["after"].summary.source == (
        "Written by gemini-3.5-flash-lite from the transcript. Summarising again failed: its "
        "quota or rate limit was reached.")  # fmt: skip


def test_a_call_costed_before_costs_were_kept_is_estimated_and_says_so(
    agent: Client, priya: Customer
) -> None:
    body = page(agent, CALL_PAGE)  # Priya's call has usage but no `cost`

    assert "Estimated now from the tokens used and today&#x27;s prices." in body
    assert "Tokens the model used" in body


def test_a_call_in_progress_has_no_summary_or_cost_yet(agent: Client, priya: Customer) -> None:
    mongo.sync_db().calls.update_one({"call_id": CALL_ID}, {"$set": {"ended_at": None}})
    body = page(agent, CALL_PAGE)

    assert "counted when the call ends" in body
    assert "Summary of the call" not in body and "Summarise again" not in body


async def test_summarise_again_writes_the_summary_off_the_request_and_says_so(
    meera: User, priya: Customer
) -> None:
    calls = mongo.async_db().calls
    await calls.update_one({"call_id": CALL_ID}, {"$unset": {"summary": ""}})
    client = AsyncClient()
    await client.aforce_login(meera)

    response = await client.post(f"/staff/calls/{CALL_ID}/summary")
    assert response.status_code == 302 and response["Location"] == CALL_PAGE
    await summary.pending()  # the summary ran on this (the server's) loop, after the answer

    record = await calls.find_one({"call_id": CALL_ID})
    assert record is not None
    assert record["summary"]["text"] == "Escalated to a person: opened ticket TKT-AAAAAA."
    said = (await client.get(CALL_PAGE)).content.decode()
    # No model here (the suite has no key): nothing new is written, the tools' account is kept.
    assert "A new summary is being written" not in said
    assert ("No summary model is configured: the account of what the agent&#x27;s tools did "
            "is kept as this call&#x27;s summary.") in said


async def test_summarise_again_is_a_post_for_an_ended_call_by_staff_who_see_calls(
    meera: User, guest: User, priya: Customer
) -> None:
    url = f"/staff/calls/{CALL_ID}/summary"
    staff, outsider = AsyncClient(), AsyncClient()
    await staff.aforce_login(meera)
    await outsider.aforce_login(guest)

    assert (await staff.get(url)).status_code == 405
    assert (await staff.post("/staff/calls/no-such-call/summary")).status_code == 404
    refused = await outsider.post(url)
    assert refused.status_code == 302 and "/admin/login/" in refused["Location"]


async def test_summarise_again_is_refused_when_it_could_only_lose_the_summary_or_pay_twice(
    meera: User, priya: Customer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call page offers it only with a model, or for a call without a summary; the
    endpoint holds to that, and asks the (paid) model at most once a minute per call."""
    client = AsyncClient()
    await client.aforce_login(meera)
    url = f"/staff/calls/{CALL_ID}/summary"
    written = {"text": "Refunded.", "sentiment": "positive", "resolved": True,
               "follow_up": "", "source": "model"}  # fmt: skip
    calls = mongo.async_db().calls
    await calls.update_one({"call_id": CALL_ID}, {"$set": {"summary": written}})
    settings.CALL_SUMMARY_MODEL = ""  # no model any more: the summary it wrote stays

    no_model = await client.post(url, follow=True)
    settings.CALL_SUMMARY_MODEL, settings.GEMINI_API_KEY = "gemini-3.5-flash-lite", "a-key"
    scheduled: list[str] = []
    monkeypatch.setattr(summary, "schedule", scheduled.append)
    first = await client.post(url, follow=True)
    again = await client.post(url, follow=True)

    assert "No summary model is configured" in no_model.content.decode()
    assert (await calls.find_one({"call_id": CALL_ID}) or {})["summary"] == written
    assert scheduled == [CALL_ID]  # the second, moments later, was refused
    assert "A new summary is being written" in first.content.decode()
    assert "summarised again moments ago" in again.content.decode()


async def test_summarise_again_works_from_the_database_while_the_cache_is_away(
    meera: User, priya: Customer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The once-a-minute count is in Redis with REDIS_URL: a Redis restarting or failing over
    made the button a server error. Nothing is counted meanwhile, as for the other limits;
    two runs at once still ask the model once (the summary's claim on the call)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{free_port()}/1"}}  # fmt: skip
    settings.CALL_SUMMARY_MODEL, settings.GEMINI_API_KEY = "gemini-3.5-flash-lite", "a-key"
    scheduled: list[str] = []
    monkeypatch.setattr(summary, "schedule", scheduled.append)
    client = AsyncClient()
    await client.aforce_login(meera)

    response = await client.post(f"/staff/calls/{CALL_ID}/summary", follow=True)

    assert response.status_code == 200 and scheduled == [CALL_ID]
    assert "A new summary is being written" in response.content.decode()


def test_a_lead_gets_the_player_with_the_transcript_lined_up(lead: Client,
                                                             priya: Customer) -> None:  # fmt: skip
    make_recorded_call(priya.user_id)
    body = page(lead, f"/staff/calls/{RECORDED_CALL_ID}/")

    assert f'src="/staff/calls/{RECORDED_CALL_ID}/recording.ogg"' in body
    assert 'data-offset="0.000"' in body
    assert 'data-start="0.50"' in body and 'data-start="4.50"' in body
    assert "staff/call.js" in body


def test_a_call_that_moved_servers_is_played_in_its_parts_in_order(
    lead: Client, priya: Customer
) -> None:
    make_moved_call(priya.user_id)
    body = page(lead, f"/staff/calls/{MOVED_CALL_ID}/")

    assert "recorded in 2 parts" in body
    first = body.index(f'src="/staff/calls/{MOVED_CALL_ID}/recording.ogg"')
    second = body.index(f'src="/staff/calls/{MOVED_CALL_ID}/recording-2.ogg"')
    assert first < second
    assert 'data-offset="0.000"' in body and 'data-offset="8.000"' in body
    assert "Part 2" in body and "from 0:08 into the call" in body


def test_an_agent_without_the_permission_sees_only_that_a_recording_exists(
    agent: Client, priya: Customer
) -> None:
    make_recorded_call(priya.user_id)
    body = page(agent, f"/staff/calls/{RECORDED_CALL_ID}/")

    assert "This call was recorded" in body and "<audio" not in body
    assert "staff/call.js" not in body


def test_a_recording_whose_worker_died_before_writing_says_nothing_was_recorded(
    lead: Client, agent: Client, priya: Customer
) -> None:
    make_unrecorded_call(priya.user_id)
    for staff in (lead, agent):
        body = page(staff, f"/staff/calls/{SILENT_CALL_ID}/")

        assert "Nothing was recorded: the call&#x27;s server stopped before writing any" in body
        assert "<audio" not in body and "recording.ogg" not in body  # nothing to play or keep
        assert "This call was recorded" not in body
        assert not re.search(r"\d kB\b", body)  # no size ("22 kB"); a CSRF token may hold "kB"


@pytest.mark.parametrize("audio", [ogg_headers(), b""], ids=["ogg-headers", "no-bytes"])
def test_a_recording_without_audio_says_nothing_was_recorded(
    audio: bytes, lead: Client, priya: Customer
) -> None:
    make_unrecorded_call(priya.user_id, audio=audio)
    body = page(lead, f"/staff/calls/{SILENT_CALL_ID}/")

    assert "Nothing was recorded: no audio reached the recording" in body
    assert "<audio" not in body and "Download" not in body


def test_the_ticket_briefing_carries_the_calls_outcome_and_summary(
    agent: Client, priya_ticket: Escalation
) -> None:
    add_after_call_fields()
    body = page(agent, f"/staff/tickets/{priya_ticket.ticket_id}/")

    assert "Escalated to a person" in body
    assert f"Left to do:</b> Refund {as_id('ORD-3001')}" in body


@pytest.mark.parametrize("where", ["call", "ticket"])
def test_a_ticket_resolved_since_the_call_is_not_left_to_do(
    where: str, agent: Client, priya_ticket: Escalation, settings: Any
) -> None:
    """The summary says what the call left undone when it ended; once its ticket is resolved,
    the page must not send a colleague to pick it up again."""
    settings.GEMINI_API_KEY = ""
    add_after_call_fields(summary=None)  # the tools' account: "A colleague should pick up …"
    resolved_at = dt.datetime(2026, 11, 19, 4, 43, tzinfo=dt.UTC)  # 10:13 in Kolkata
    Escalation.objects.filter(ticket_id="TKT-AAAAAA").update(
        status="resolved", assignee="meera", resolved_at=resolved_at)  # fmt: skip
    url = CALL_PAGE if where == "call" else f"/staff/tickets/{priya_ticket.ticket_id}/"
    body = page(agent, url)

    assert "Not resolved on the call" in body
    ticket = as_id("TKT-AAAAAA")
    assert f"Left to do after the call:</b> A colleague should pick up ticket {ticket}." in body
    assert f"Since the call: ticket {ticket} was resolved on 19 Nov 2026, 10:13." in body


def test_the_customer_page_says_which_calls_left_to_do_was_done_since(
    agent: Client, priya_ticket: Escalation
) -> None:
    add_after_call_fields()
    Escalation.objects.filter(ticket_id="TKT-AAAAAA").update(
        status="resolved", resolved_at=dt.datetime(2026, 11, 19, 4, 43, tzinfo=dt.UTC))  # fmt: skip
    body = page(agent, f"/staff/customers/{priya_ticket.customer_id}/")

    assert f"Left to do after the call:</b> Refund {as_id('ORD-3001')}" in body
    ticket = as_id("TKT-AAAAAA")
    assert f"Since the call: ticket {ticket} was resolved on 19 Nov 2026, 10:13." in body


def test_a_ticket_still_open_leaves_the_summary_as_the_call_ended(
    agent: Client, priya_ticket: Escalation
) -> None:
    add_after_call_fields()
    body = page(agent, CALL_PAGE)

    assert "Not resolved</span>" in body and "Since the call" not in body


def test_the_customer_page_lists_each_calls_summary(agent: Client, priya: Customer) -> None:
    add_after_call_fields()
    body = page(agent, f"/staff/customers/{priya.user_id}/")

    assert "masala dosa arrived cold" in body
    assert f"Left to do:</b> Refund {as_id('ORD-3001')}" in body


def test_the_summaries_are_for_those_who_may_read_the_calls(priya: Customer) -> None:
    """A summary holds what the customer said, as the call page does (the ticket page keeps
    it from those without view_call too)."""
    add_after_call_fields()
    customers_only = User.objects.create_user("customers-only", is_staff=True)
    customers_only.user_permissions.set(Permission.objects.filter(
        content_type__app_label="support", codename="view_customer"))  # fmt: skip

    body = page(client_for(customers_only), f"/staff/customers/{priya.user_id}/")

    assert "masala dosa arrived cold" not in body and "Left to do" not in body
