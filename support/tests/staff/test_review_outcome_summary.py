"""A model's summary corrected to agree with the call's outcome (postcall/summary.py,
`agreeing`) says so where it is shown, in a quiet line a support agent reads: the model called
the call resolved, or named nothing left to do, and the page shows otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from support import mongo
from support.models import Customer
from support.staff.aftercall import summary_of
from support.tests.staff.aftercall_data import CALL_ID, SUMMARY, add_after_call_fields
from support.tests.staff.conftest import make_ticket

pytestmark = pytest.mark.django_db

CORRECTED = {**SUMMARY, "resolved": False, "follow_up": "A colleague should pick up ticket TKT-9.",
             "model_said": {"resolved": True, "follow_up": ""}}  # fmt: skip


def record(outcome: str | None, **summary: Any) -> dict[str, Any]:
    return {"call_id": CALL_ID, "ended_at": "ended", "outcome": outcome,
            "summary": {**SUMMARY, **summary}}  # fmt: skip


@pytest.mark.parametrize(
    "outcome, why",
    [
        ("escalated", "the call left a ticket open for a colleague"),
        ("callback_scheduled", "the call left a callback to make"),
        ("abandoned", "the customer was not helped on the call"),
        ("agent_unavailable", "the agent became unavailable on the call"),
    ],
)
def test_a_summary_called_resolved_against_its_outcome_says_why_it_is_shown_otherwise(
    outcome: str, why: str
) -> None:
    shown = summary_of(record(outcome, resolved=False, model_said={"resolved": True}))

    assert shown is not None and shown.resolved is False
    assert shown.corrected == (f"The summary model called this resolved; {why}, so it is "
                               "shown as not resolved.")  # fmt: skip


def test_an_outcome_with_no_reason_of_its_own_is_named() -> None:
    named = summary_of(record("transferred", resolved=False, model_said={"resolved": True}))
    unknown = summary_of(record(None, resolved=False, model_said={"resolved": True}))

    assert named is not None and "; the call ended as “Transferred to a person”, so" in (
        named.corrected)  # fmt: skip
    assert unknown is not None and "; the call's record says otherwise, so" in unknown.corrected


def test_a_follow_up_filled_from_the_call_says_where_it_comes_from() -> None:
    alone = summary_of(record("transferred", model_said={"follow_up": ""}))
    both = summary_of(record("escalated", resolved=False,
                             model_said={"resolved": True, "follow_up": ""}))  # fmt: skip

    assert alone is not None and alone.corrected == (
        "The summary model named nothing left to do; what is left to do comes from the "
        "tickets and callbacks the call left.")  # fmt: skip
    assert both is not None and both.corrected == (
        "The summary model called this resolved with nothing left to do; the call left a "
        "ticket open for a colleague, so it is shown as not resolved, with what the call left "
        "to do.")  # fmt: skip


@pytest.mark.parametrize(
    "stored",
    [
        SUMMARY,  # the model's own words stand
        {**SUMMARY, "model_said": {}},
        {**SUMMARY, "model_said": "resolved"},  # not what summary.py writes: nothing said
        {**SUMMARY, "source": "tool_results", "model_said": {"resolved": True}},
    ],
)
def test_a_summary_left_as_the_model_wrote_it_says_nothing_of_corrections(
    stored: dict[str, Any],
) -> None:
    shown = summary_of({"call_id": CALL_ID, "ended_at": "ended", "outcome": "escalated",
                        "summary": stored})  # fmt: skip

    assert shown is not None and shown.corrected == ""


def test_the_call_and_ticket_pages_say_the_summary_was_corrected(
    agent: Client, priya: Customer
) -> None:
    add_after_call_fields(summary=CORRECTED)
    make_ticket("TKT-9", call_id=CALL_ID)

    call = agent.get(f"/staff/calls/{CALL_ID}/").content.decode()
    ticket = agent.get("/staff/tickets/TKT-9/").content.decode()

    said = ("The summary model called this resolved with nothing left to do; the call left a "
            "ticket open for a colleague, so it is shown as not resolved")  # fmt: skip
    for body in (call, ticket):
        assert said in body
        assert '<p class="summary-source summary-corrected quiet">' in body
        assert "Not resolved" in body


def test_the_admin_call_page_says_so_too(agent: Client, priya: Customer) -> None:
    from support.models import Call

    add_after_call_fields(summary=CORRECTED)
    pk = Call.objects.get(call_id=CALL_ID).pk

    body = agent.get(f"/admin/support/call/{pk}/change/").content.decode()

    assert "The summary model called this resolved with nothing left to do" in body


def test_a_summary_as_the_model_wrote_it_carries_no_such_line(
    agent: Client, priya: Customer
) -> None:
    add_after_call_fields()

    body = agent.get(f"/staff/calls/{CALL_ID}/").content.decode()

    assert "summary-corrected" not in body and "The summary model called" not in body
    assert mongo.sync_db().calls.count_documents({"summary.model_said": {"$exists": True}}) == 0
