"""The admin's calls say what each call achieved (contract section 10), as the staff call
pages do: its outcome in words in the list and on the page, a filter by outcome that counts
as the dashboard does, and, on the page, the call's summary and cost."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from support.mongo import sync_db
from support.tests.staff.aftercall_data import CALL_ID, add_after_call_fields

BEFORE_OUTCOMES = ("support", "0014_one_warm_escalation_a_call")
WITH_OUTCOMES = ("support", "0015_call_outcome")


@pytest.mark.django_db(transaction=True)
def test_the_outcome_field_arrives_without_touching_the_outcomes_on_record() -> None:
    """django-mongodb-backend's AddField writes the field's default (null) into every document
    of the collection: every call's outcome would be gone. Nor does going back unset them."""
    _migrate_to(BEFORE_OUTCOMES)
    now = datetime.now(UTC)
    sync_db().calls.insert_many([
        {"call_id": "call-ended", "channel": "web", "started_at": now, "ended_at": now,
         "outcome": "resolved_refund"},
        {"call_id": "call-going-on", "channel": "web", "started_at": now},
    ])  # fmt: skip
    try:
        _migrate_to(WITH_OUTCOMES)
        calls = {doc["call_id"]: doc for doc in sync_db().calls.find({}, {"_id": 0})}
        _migrate_to(BEFORE_OUTCOMES)
        kept_back = sync_db().calls.find_one({"call_id": "call-ended"}) or {}
    finally:
        _migrate_to(None)  # whatever happened, the database the other tests expect

    assert calls["call-ended"]["outcome"] == "resolved_refund"
    # A call in progress has no outcome yet: postcall/finish.py writes one where none is.
    assert "outcome" not in calls["call-going-on"]
    assert kept_back.get("outcome") == "resolved_refund"


def _migrate_to(target: tuple[str, str] | None) -> None:
    """The database migrated to `target` (None: the latest)."""
    executor = MigrationExecutor(connection)
    executor.migrate([target] if target else executor.loader.graph.leaf_nodes())


def _made_through_the_orm() -> None:
    from support.models import Call

    now = datetime.now(UTC)
    Call.objects.create(call_id="call-orm", channel="web", started_at=now, ended_at=now,
                        end_reason="caller_hung_up")  # fmt: skip


def _outcome_read() -> str | None:
    from support.models import Call

    return Call.objects.get(call_id="call-orm").outcome


@pytest.mark.django_db(transaction=True)
async def test_a_call_made_through_the_orm_is_finished_like_any_other() -> None:
    """postcall/finish.py writes the outcome only onto a record without one: a null written
    by the ORM would have kept the call from ever being finished."""
    import asyncio

    from postcall import summary
    from postcall.finish import finish_call
    from support import mongo

    await asyncio.to_thread(_made_through_the_orm)
    stored = await mongo.async_db().calls.find_one({"call_id": "call-orm"})

    assert stored is not None and "outcome" not in stored
    assert await finish_call("call-orm") == "abandoned"
    await summary.pending()
    assert await asyncio.to_thread(_outcome_read) == "abandoned"

# --- the list, its filter and the page -----------------------------------------------------------


def rows(response: Any) -> list[str]:
    return [call.call_id for call in response.context["cl"].result_list]


def cells(response: Any, field: str) -> list[str]:
    """The list's column `field` (a list_display name), row by row, as read."""
    found = re.findall(rf'<td class="field-{field}[^"]*">(.*?)</td>', response.content.decode())
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in found]


def add_call(call_id: str, minutes_ago: int, **fields: Any) -> None:
    now = datetime.now(UTC)
    sync_db().calls.insert_one({
        "call_id": call_id, "user_id": None, "channel": "web",
        "started_at": now - timedelta(minutes=minutes_ago), "ended_at": now,
        "end_reason": "caller_hung_up", "transcript": [], "tool_calls": [], **fields,
    })  # fmt: skip


@pytest.mark.django_db
def test_the_call_list_says_what_each_call_achieved_in_words(agent: Client, priya: Any) -> None:
    sync_db().calls.update_one({"call_id": "call-priya-1"}, {"$set": {"outcome": "escalated"}})
    add_call("call-refunded", 5, outcome="resolved_refund")
    add_call("call-before-outcomes", 10)  # ended before outcomes were kept
    add_call("call-going-on", 1, ended_at=None, end_reason="")

    listed = agent.get("/admin/support/call/")

    assert rows(listed) == ["call-going-on", "call-refunded", "call-before-outcomes",
                            "call-priya-1"]  # fmt: skip
    assert 'class="column-outcome_"' in listed.content.decode()
    assert cells(listed, "outcome_") == ["—", "Resolved with a refund", "Not recorded",
                                "Escalated to a person"]  # fmt: skip
    assert "resolved_refund" not in cells(listed, "outcome_")


@pytest.mark.django_db
def test_the_call_list_filters_by_outcome_in_words_as_the_staff_call_list_counts(
    agent: Client, priya: Any
) -> None:
    """A record opened again on another server keeps its outcome but is no call of its own:
    under an outcome, not listed (as the staff call list and the dashboard); under the "ended"
    filter that names it, still found."""
    add_call("call-abandoned", 5, outcome="abandoned")
    add_call("call-moved", 6, outcome="abandoned", end_reason="moved_before_ready")
    add_call("call-refunded", 7, outcome="resolved_refund")

    listed = agent.get("/admin/support/call/")
    abandoned = agent.get("/admin/support/call/", {"outcome": "abandoned"})
    moved = agent.get("/admin/support/call/", {"outcome": "abandoned",
                                                "end_reason": "moved_before_ready"})  # fmt: skip

    body = listed.content.decode()
    filters = body[body.index('id="changelist-filter"'):]
    assert "By outcome" in filters and "Resolved with a refund" in filters
    assert "?outcome=resolved_refund" in filters and "Callback scheduled" in filters
    assert abandoned.status_code == 200 and rows(abandoned) == ["call-abandoned"]
    assert rows(moved) == ["call-moved"]

    with_channel = agent.get("/admin/support/call/", {"outcome": "abandoned",
                                                       "channel__exact": "web"})  # fmt: skip
    assert rows(with_channel) == ["call-abandoned"]  # the other paginator: the same calls


@pytest.mark.django_db
def test_an_outcome_is_listed_newest_first_a_page_at_a_time_past_records_opened_again(
    agent: Client, db: Any
) -> None:
    """The list by outcome alone is read by time range (NewestCallsPaginator); the records
    opened again elsewhere among its calls leave no gap nor a call out of its pages."""
    for n in range(70):
        moved = n % 6 == 0
        add_call(f"call-{n:03d}", 10 + n, outcome="abandoned",
                 end_reason="moved_before_ready" if moved else "idle")  # fmt: skip
    lived = [f"call-{n:03d}" for n in range(70) if n % 6]

    first = agent.get("/admin/support/call/", {"outcome": "abandoned"})
    second = agent.get("/admin/support/call/", {"outcome": "abandoned", "p": "2"})

    assert type(first.context["cl"].paginator).__name__ == "NewestCallsPaginator"
    assert first.context["cl"].result_count == len(lived) == 58
    assert rows(first) == lived[:50] and rows(second) == lived[50:]


@pytest.mark.django_db
def test_the_call_list_reads_no_record_nor_anything_else_row_by_row(
    agent: Client, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of 50 calls costs the database what a page of 2 does: the outcome is a field of
    the rows read; summaries and costs are the call page's alone."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from support import admin

    def no_record(call_id: str) -> None:
        raise AssertionError(f"the list read the record of {call_id}")

    monkeypatch.setattr(admin, "call_detail", no_record)
    for n in range(2):
        add_call(f"call-a{n}", n + 1, outcome="resolved_info")
    with CaptureQueriesContext(connection) as two:
        agent.get("/admin/support/call/", {"outcome": "resolved_info"})
    for n in range(48):
        add_call(f"call-b{n}", n + 5, outcome="resolved_info")
    with CaptureQueriesContext(connection) as fifty:
        listed = agent.get("/admin/support/call/", {"outcome": "resolved_info"})

    assert len(rows(listed)) == 50
    assert len(fifty.captured_queries) == len(two.captured_queries)


@pytest.mark.django_db
def test_calls_by_outcome_are_read_through_an_index(db: Any) -> None:
    """SecantusDB reads every call for a match it has no index for: at 10,000 calls a page
    of one outcome took seconds."""
    window = {"$gte": datetime.now(UTC) - timedelta(days=1)}
    plan = sync_db().calls.find({"outcome": "abandoned", "started_at": window}).sort(
        [("started_at", -1), ("_id", -1)]).explain()["queryPlanner"]["winningPlan"]  # fmt: skip

    assert "calls_outcome_recent" in str(plan)


def field(body: str, name: str) -> str:
    """The text of the change page's read-only field `name`."""
    found = re.search(rf'<div class="form-row field-{name}">(.*?)</div>\s*</div>\s*</div>',
                      body, re.DOTALL)  # fmt: skip
    assert found, name
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found[1])).split())


@pytest.mark.django_db
def test_the_call_page_says_what_it_achieved_its_summary_and_its_cost_read_only(
    agent: Client, lead: Client, priya: Any
) -> None:
    from support.models import Call

    add_after_call_fields()
    pk = Call.objects.get(call_id=CALL_ID).pk

    body = agent.get(f"/admin/support/call/{pk}/change/").content.decode()

    assert field(body, "outcome_").endswith("Escalated to a person")
    summary = field(body, "summary")
    assert "masala dosa arrived cold" in summary and "Not resolved" in summary
    assert "Unhappy" in summary and "Left to do: Refund ORD-3001" in summary
    cost = field(body, "cost")
    assert "₹2.45" in cost and "Speaking: ₹1.31" in cost and "output_audio" not in cost
    for client in (agent, lead):  # history: nobody changes a call here
        page = client.get(f"/admin/support/call/{pk}/change/").content.decode()
        form = page.split('id="call_form"')[-1]
        assert 'name="_save"' not in page and not re.search(r'<input(?! type="hidden")', form)


@pytest.mark.django_db
def test_a_call_going_on_or_ended_before_outcomes_says_so_on_its_page(
    agent: Client, db: Any
) -> None:
    from support.models import Call

    add_call("call-going-on", 1, ended_at=None, end_reason="")
    add_call("call-before-outcomes", 10)

    going_on = agent.get(f"/admin/support/call/{Call.objects.get(call_id='call-going-on').pk}"
                         "/change/").content.decode()  # fmt: skip
    old = agent.get(f"/admin/support/call/{Call.objects.get(call_id='call-before-outcomes').pk}"
                    "/change/").content.decode()  # fmt: skip

    assert field(going_on, "summary").endswith("Written when the call ends.")
    assert field(going_on, "cost").endswith("Counted when the call ends")
    assert field(old, "outcome_").endswith("Not recorded")
    assert field(old, "cost").endswith("Not priced")
    # Its summary: the account from what the agent's tools did, as on the staff call page.
    assert "From what the agent's tools did" in field(old, "summary")
