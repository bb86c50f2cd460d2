"""The dashboard's figures against hand counts: days whose calls may still change, shares
near none or all, and tickets opened while the figures are read."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from support.mongo import sync_db
from support.staff.dashboard import PAST_DAY_CACHE_S, dashboard, day_range, settled
from support.tests.staff.conftest import make_ticket
from support.tests.staff.test_dashboard import add_call, answered

pytestmark = pytest.mark.django_db


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def test_yesterday_read_just_after_midnight_shows_its_late_call_once_it_ends(db: Any) -> None:
    """A call from 23:50 still running at 00:05, read then: once it ends and the after-call
    job writes its outcome and cost, the next read says so, not "In progress" from the cache
    for another PAST_DAY_CACHE_S."""
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    sync_db().calls.insert_one({"call_id": "late", "user_id": 301, "channel": "phone",
                                "started_at": at(yesterday, 23, 50), "ended_at": None,
                                "transcript": [], "tool_calls": []})  # fmt: skip
    days = day_range(None, None, today)
    first = dashboard(days, now=at(today, 0, 5))
    assert first.total.by_outcome == {"in_progress": 1}

    sync_db().calls.update_one({"call_id": "late"}, {"$set": {
        "ended_at": at(today, 0, 6), "outcome": "resolved_info"}})  # fmt: skip
    answered("late", [400], 500)
    again = dashboard(days, now=at(today, 0, 7))

    assert again.total.by_outcome == {"resolved_info": 1}
    assert (again.containment, again.cost, again.wait_p50) == ("100%", "₹5.00", "0.40 s")


def test_an_outcome_written_by_the_sweep_after_midnight_shows_at_once(db: Any) -> None:
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    add_call("unfinished", at(yesterday, 23, 40), 60, None)  # its process died before finishing
    days = day_range(None, None, today)
    assert dashboard(days, now=at(today, 1)).containment == "—"

    sync_db().calls.update_one({"call_id": "unfinished"}, {"$set": {"outcome": "escalated"}})

    assert dashboard(days, now=at(today, 1, 1)).escalation_rate == "100%"


def test_days_long_over_are_still_read_from_the_cache(db: Any) -> None:
    """Settled days are cached as before: a day read again within PAST_DAY_CACHE_S is not
    aggregated again."""
    today = timezone.localdate()
    add_call("old", at(today - timedelta(days=3), 12), 60, "resolved_info")
    days = day_range(None, None, today)
    assert dashboard(days).total.calls == 1

    add_call("old-late-entry", at(today - timedelta(days=3), 13), 60, "resolved_info")

    assert dashboard(days).total.calls == 1
    assert PAST_DAY_CACHE_S > 0


def test_a_day_is_settled_once_its_last_call_can_have_ended_and_been_finished(
    settings: Any,
) -> None:
    settings.VOICE_MAX_CALL_S = 1800
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)

    assert not settled(today, at(today, 23, 59))
    assert not settled(yesterday, at(today, 6, 29))
    assert settled(yesterday, at(today, 6, 30))  # 30 min of call, 6 h of the after-call sweep
    assert not settled(today + timedelta(days=3), at(today, 12))


@pytest.mark.parametrize("settled_by_agent, taken_by_people, said", [
    (199, 1, (">99%", "<1%")),
    (1, 199, ("<1%", ">99%")),
    (1, 1, ("50%", "50%")),
    (3, 0, ("100%", "0%")),
])  # fmt: skip
def test_a_share_is_not_said_as_none_or_all_when_it_is_not(
    db: Any, settled_by_agent: int, taken_by_people: int, said: tuple[str, str]
) -> None:
    """199 calls settled by the agent and 1 escalated: not "100%" containment and "0%"
    escalation, read as no call having gone to a person."""
    today = timezone.localdate()
    started = at(today, 0, 5)
    sync_db().calls.insert_many([
        {"call_id": f"{outcome}-{n}", "user_id": 301, "channel": "web", "started_at": started,
         "ended_at": started + timedelta(seconds=60), "outcome": outcome,
         "transcript": [], "tool_calls": []}
        for outcome, count in (("resolved_info", settled_by_agent), ("escalated", taken_by_people))
        for n in range(count)
    ])  # fmt: skip

    board = dashboard(day_range(None, None, today))

    assert (board.containment, board.escalation_rate) == said
    point = board.rates_chart.lines[0].points[-1]
    assert point.title.endswith(f", {said[0]}")


def test_a_ticket_opened_while_the_figures_are_read_is_counted_open(db: Any) -> None:
    """`now` is taken before the calls are aggregated: a ticket made meanwhile (or on a process
    whose clock is a little ahead) waited no time, and is open, not missing from the tile for
    the BACKLOG_CACHE_S it is kept."""
    make_ticket("TKT-NEW", priority="urgent", minutes_ago=-1)

    board = dashboard(day_range(None, None, timezone.localdate()))

    assert (board.open_total, board.overdue) == (1, 0)
    assert {bar.label: bar.display for bar in board.ages_chart.bars}["under 15 min"] == "1"


def test_a_resolved_call_not_priced_does_not_lower_the_cost_per_resolved_call(
    db: Any,
) -> None:
    """Two calls settled by the agent, one priced ₹10.00, one from a model LIVE_PRICES has no
    price for: a resolution cost ₹10.00 as far as is known, not ₹5.00 (the unpriced call
    counted as free); a day whose resolved calls were none of them priced has no such cost."""
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    add_call("priced", at(today, 0, 5), 60, "resolved_info")
    add_call("unpriced", at(today, 0, 6), 60, "resolved_refund")
    add_call("escalated", at(today, 0, 7), 60, "escalated")
    answered("priced", [400], 1000)
    answered("escalated", [400], 500)
    add_call("unpriced-then", at(yesterday, 10), 60, "resolved_info")
    add_call("priced-then", at(yesterday, 11), 60, "escalated")
    answered("priced-then", [400], 300)

    board = dashboard(day_range(None, None, today))
    rows = {period.name: period.figures for period in board.periods}

    assert board.total.unpriced == 2
    assert (board.cost, board.cost_per_resolved) == ("₹18.00", "₹18.00")
    assert rows[f"{today.day} {today:%b} (today, so far)"].cost_per_resolved == 1500
    assert rows[f"{yesterday.day} {yesterday:%b}"].cost_per_resolved is None


def test_a_call_opened_again_on_another_server_counts_once_as_how_it_ended(db: Any) -> None:
    """A server that begins to stop before a call is answered ends its record
    ("moved_before_ready") and the page opens the call again elsewhere, as a new record: the
    customer lived one call, the second, and the figures count that one alone."""
    today = timezone.localdate()
    add_call("stub", at(today, 0, 5), 1, "abandoned")
    sync_db().calls.update_one({"call_id": "stub"}, {"$set": {"end_reason": "moved_before_ready"}})
    add_call("again", at(today, 0, 5), 90, "resolved_refund")

    board = dashboard(day_range(None, None, today), now=at(today, 2))

    assert board.total.calls == 1 and board.total.ended == 1
    assert board.total.by_outcome == {"resolved_refund": 1}
    assert (board.containment, board.handle_time) == ("100%", "1:30")
