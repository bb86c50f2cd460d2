"""Words on the call and ticket pages a support lead could misread: how a call without an
outcome ended, a summary request that wrote nothing, and a customer's goodbye counted as a
question the agent left unanswered."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import AsyncClient, Client

from postcall import summary
from support import mongo
from support.models import Customer
from support.tests.staff.aftercall_data import CALL_ID
from support.tests.staff.conftest import make_ticket

pytestmark = pytest.mark.django_db(transaction=True)

CALL_PAGE = f"/staff/calls/{CALL_ID}/"


def test_a_call_without_an_outcome_says_how_it_ended_apart_from_the_outcome(
    agent: Client, priya: Customer
) -> None:
    """Priya's call has no outcome and ended in an escalation: "not recorded · Escalated to
    a person" read as an outcome and its contradiction."""
    make_ticket("TKT-NOOUT2", call_id=CALL_ID)
    call = agent.get(CALL_PAGE).content.decode()
    ticket = agent.get("/staff/tickets/TKT-NOOUT2/").content.decode()

    said = "not recorded (the call ended: escalation)"
    assert f"<dt>Outcome</dt><dd>{said}</dd>" in call
    assert f"<dt>The call</dt><dd>Outcome {said} · 3:05" in ticket
    assert "not recorded · Escalated" not in call + ticket


async def test_summarise_again_that_writes_nothing_new_is_not_said_as_a_success(
    meera: User, priya: Customer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin's look draws an info message as a success (green, a tick)."""
    client = AsyncClient()
    await client.aforce_login(meera)
    url = f"/staff/calls/{CALL_ID}/summary"
    settings.GEMINI_API_KEY = ""
    no_model = (await client.post(url, follow=True)).content.decode()
    settings.CALL_SUMMARY_MODEL, settings.GEMINI_API_KEY = "gemini-3.5-flash-lite", "a-key"
    monkeypatch.setattr(summary, "schedule", lambda call_id: None)
    await client.post(url)
    again = (await client.post(url, follow=True)).content.decode()

    assert '<li class="warning">No summary model is configured' in no_model
    assert '<li class="warning">This call was summarised again moments ago' in again


def _turns(ended_after_s: float, *waits: int | None, end_reason: str = "caller_hung_up") -> None:
    """Priya's call with a turn every 10 s, the agent's first words after `waits` (ms; None:
    it said nothing), ending `ended_after_s` after the last turn's words."""
    calls = mongo.sync_db().calls
    started = (calls.find_one({"call_id": CALL_ID}) or {})["started_at"]
    at = [started + dt.timedelta(seconds=10 * (n + 1)) for n in range(len(waits))]
    calls.update_one({"call_id": CALL_ID}, {"$set": {
        "outcome": "resolved_info", "end_reason": end_reason,
        "ended_at": at[-1] + dt.timedelta(seconds=ended_after_s),
        "turns": [{"at": when, "user_ms": 900, "first_audio_ms": wait, "tools_ms": 0,
                   "source": "live"} for when, wait in zip(at, waits, strict=True)],
    }})  # fmt: skip


def test_a_goodbye_the_customer_hung_up_after_is_not_an_unanswered_turn(
    agent: Client, priya: Customer
) -> None:
    _turns(1.5, 800, None)  # "Thank you." and she hung up
    response = agent.get(CALL_PAGE)
    body = response.content.decode()

    assert response.context["after"].turns.missed == 0
    assert 'class="warn"' not in body.split('id="turns-heading"')[1].split("</section>")[0]
    assert "The customer hung up just after the last turn" in body
    # Nor is it drawn as one: its stub is the goodbye's, not the miss's colour.
    chart = response.context["after"].turns.chart
    assert [s.css for s in chart.segments] == ["chart-1", "chart-7"]
    assert [key.label for key in chart.legend] == [
        "Customer waiting for the agent's first words", "The customer hung up after it",
    ]  # fmt: skip


@pytest.mark.parametrize("ended_after_s, waits, end_reason, said", [
    # She waited half a minute in silence, then gave up: a miss.
    (30, (800, None), "caller_hung_up", "The agent did not answer 1 of 2 turns."),
    # Our side failed as she finished: the agent did not answer her.
    (1.5, (800, None), "server_error", "The agent did not answer 1 of 2 turns."),
    # A miss before her goodbye still counts; the goodbye does not.
    (1.5, (800, None, None), "caller_hung_up", "The agent did not answer 1 of 3 turns."),
])  # fmt: skip
def test_a_turn_left_unanswered_while_the_customer_waited_is_still_a_warning(
    ended_after_s: float, waits: tuple[int | None, ...], end_reason: str, said: str,
    agent: Client, priya: Customer,
) -> None:  # fmt: skip
    _turns(ended_after_s, *waits, end_reason=end_reason)
    body = agent.get(CALL_PAGE).content.decode()

    assert f'<span class="warn">{said}</span>' in body
