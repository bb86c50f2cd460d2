"""The dashboard over a long range: by week, Monday to Sunday in the support team's time zone,
each week's rates and percentiles worked out from its calls and turns."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import strip_tags

from support.models import Refund
from support.mongo import sync_db
from support.staff.dashboard import (
    WEEKLY_AFTER_DAYS,
    DayFigures,
    DayRange,
    Week,
    dashboard,
    part_note,
    periods,
    week_figures,
    week_name,
    weeks,
)
from support.tests.staff.test_dashboard import add_call, answered, at, day_label

WED_5_NOV = date(2025, 11, 5)
MON_3_NOV = date(2025, 11, 3)
LATER = date(2026, 6, 1)  # a today after the ranges of 2025, all of whose days are over
SUN_30_NOV = date(2025, 11, 30)
TUE_2_DEC = date(2025, 12, 2)


def test_weeks_run_monday_to_sunday_the_first_and_last_cut_to_the_range() -> None:
    """Wednesday 5 Nov to Tuesday 9 Dec 2025: the week of 3 Nov from the 5th only, four whole
    weeks, and the week of 8 Dec to the 9th only."""
    found = weeks(DayRange(WED_5_NOV, date(2025, 12, 9)), LATER)

    assert [(w.monday, w.first, w.last, w.partial) for w in found] == [
        (MON_3_NOV, WED_5_NOV, date(2025, 11, 9), True),
        (date(2025, 11, 10), date(2025, 11, 10), date(2025, 11, 16), False),
        (date(2025, 11, 17), date(2025, 11, 17), date(2025, 11, 23), False),
        (date(2025, 11, 24), date(2025, 11, 24), date(2025, 11, 30), False),
        (date(2025, 12, 1), date(2025, 12, 1), date(2025, 12, 7), False),
        (date(2025, 12, 8), date(2025, 12, 8), date(2025, 12, 9), True),
    ]  # fmt: skip


def test_a_range_from_a_monday_to_a_sunday_has_whole_weeks_only() -> None:
    found = weeks(DayRange(MON_3_NOV, date(2025, 11, 16)), LATER)

    assert [(w.first, w.last, w.partial) for w in found] == [
        (MON_3_NOV, date(2025, 11, 9), False),
        (date(2025, 11, 10), date(2025, 11, 16), False),
    ]  # fmt: skip


def test_the_week_that_holds_today_is_in_part_even_when_the_range_ends_on_its_sunday() -> None:
    """Monday 2 Jun to Sunday 30 Nov 2025, today that Sunday: the range holds the whole week of
    24 Nov, but today is not over, and a week of six days and a morning is a short column, not
    a quiet week: its figures are the week's so far."""
    found = weeks(DayRange(date(2025, 6, 2), SUN_30_NOV), SUN_30_NOV)

    assert [(w.first, w.last, w.today, w.partial) for w in found[-2:]] == [
        (date(2025, 11, 17), date(2025, 11, 23), None, False),
        (date(2025, 11, 24), SUN_30_NOV, SUN_30_NOV, True),
    ]  # fmt: skip
    assert not any(w.partial for w in found[:-1])


@pytest.mark.parametrize("week, with_year, said", [
    (Week(MON_3_NOV, MON_3_NOV, date(2025, 11, 9)), False, "Week of 3 Nov"),
    (Week(MON_3_NOV, WED_5_NOV, date(2025, 11, 9)), False, "Week of 3 Nov (5–9 Nov only)"),
    (Week(date(2025, 10, 27), date(2025, 10, 29), date(2025, 11, 2)), False,
     "Week of 27 Oct (29 Oct–2 Nov only)"),
    (Week(date(2026, 12, 7), date(2026, 12, 7), date(2026, 12, 7)), True,
     "Week of 7 Dec 2026 (7 Dec only)"),
    (Week(date(2025, 12, 29), date(2025, 12, 29), date(2026, 1, 4)), True,
     "Week of 29 Dec 2025"),
    # The week that holds today: its days so far, today its Sunday, Tuesday or Monday.
    (Week(date(2025, 11, 24), date(2025, 11, 24), SUN_30_NOV, SUN_30_NOV), False,
     "Week of 24 Nov (24–30 Nov so far)"),
    (Week(date(2025, 12, 1), date(2025, 12, 1), TUE_2_DEC, TUE_2_DEC), False,
     "Week of 1 Dec (1–2 Dec so far)"),
    (Week(date(2025, 12, 1), date(2025, 12, 1), date(2025, 12, 1), date(2025, 12, 1)), False,
     "Week of 1 Dec (1 Dec so far)"),
    # A range chosen to reach past today holds days still to come: none of them has figures.
    (Week(date(2025, 11, 24), date(2025, 11, 24), SUN_30_NOV, date(2025, 11, 26)), False,
     "Week of 24 Nov (24–26 Nov so far)"),
])  # fmt: skip
def test_a_week_is_named_by_its_monday_and_a_part_week_says_which_days(
    week: Week, with_year: bool, said: str
) -> None:
    assert week_name(week, with_year) == said


def test_a_quarter_is_shown_by_day_and_a_longer_range_by_week() -> None:
    """92 days (July to September) keep a column a day; from 93 on, a column a week."""
    last = date(2025, 12, 9)
    quarter = DayRange(last - timedelta(days=WEEKLY_AFTER_DAYS - 1), last)
    longer = DayRange(quarter.first - timedelta(days=1), last)

    per, shown = periods(quarter, {}, LATER)
    assert (per, len(shown), shown[-1].tick, shown[-1].name) == ("day", 92, "9 Dec", "9 Dec")
    per, shown = periods(longer, {}, LATER)
    assert (per, len(shown), shown[-1].tick) == ("week", 14, "8 Dec")
    assert shown[-1].name == "Week of 8 Dec (8–9 Dec only)"


@pytest.mark.django_db
@pytest.mark.parametrize("first, last, today, said", [
    (date(2025, 6, 2), SUN_30_NOV, LATER, ""),  # Monday to Sunday
    (date(2025, 6, 4), SUN_30_NOV, LATER, "the first week"),
    (date(2025, 6, 2), TUE_2_DEC, LATER, "the last week"),
    (date(2025, 6, 4), TUE_2_DEC, LATER, "the first and last weeks"),
    (date(2025, 11, 5), TUE_2_DEC, LATER, ""),  # by day
    (date(2025, 6, 2), SUN_30_NOV, SUN_30_NOV, "the last week"),  # its Sunday not over
    (date(2025, 6, 2), SUN_30_NOV, date(2025, 12, 1), ""),  # over since midnight
])  # fmt: skip
def test_the_page_says_once_which_weeks_the_range_holds_only_in_part(
    db: Any, first: date, last: date, today: date, said: str
) -> None:
    """A last week of two days is a short column: said above the charts, it does not read as
    a quiet week; nor does the week of today, not over, though the range holds all its days."""
    assert dashboard(DayRange(first, last), now=at(today, 12)).weeks_in_part == said


def a_day(outcomes: dict[str, int], handled_s: int, waits: dict[int, int], cost: int,
          unpriced: int = 0, unpriced_contained: int = 0) -> DayFigures:  # fmt: skip
    calls = sum(outcomes.values())
    return DayFigures(calls=calls, by_outcome=outcomes, handled_ms=handled_s * 1000.0,
                      ended=calls, cost=cost, unpriced=unpriced,
                      unpriced_contained=unpriced_contained, waits=waits)  # fmt: skip


def test_a_weeks_rates_averages_and_percentiles_come_from_its_calls_not_its_days_figures() -> None:
    """Monday: 1 call, settled by the agent, 10 min, answered in 0.10 s. Tuesday: 9 calls, 1 of
    them settled by the agent, a minute each, every turn answered in 1.00 s, 2 not priced (1
    of them settled). The week: 2 of 10 calls settled (20%, not the days' 100% and 11%
    averaged), 1:54 a call (not 5:30), p50 1.00 s (not 0.55 s), and ₹10.00 for its one priced
    resolution (not Monday's ₹1.00, Tuesday having none priced)."""
    monday = a_day({"resolved_info": 1}, 600, {100: 1}, cost=100)
    tuesday = a_day({"resolved_refund": 1, "escalated": 8}, 9 * 60, {1000: 9}, cost=900,
                    unpriced=2, unpriced_contained=1)  # fmt: skip
    figures = {"2025-11-03": monday, "2025-11-04": tuesday, "2025-11-20": a_day({}, 0, {}, 7)}

    week = week_figures(Week(MON_3_NOV, MON_3_NOV, date(2025, 11, 9)), figures)

    assert (week.calls, week.contained, week.taken_by_people) == (10, 2, 8)
    assert week.share(["resolved_info", "resolved_refund"]) == 20
    assert week.handle_s == 114
    assert (week.wait_s(50), week.wait_s(95)) == (1.0, 1.0)
    assert (week.cost, week.unpriced, week.cost_per_resolved) == (1000, 2, 1000)


def test_a_part_week_adds_only_the_days_in_the_range() -> None:
    figures = {"2025-11-04": a_day({"escalated": 2}, 60, {}, 10),
               "2025-11-06": a_day({"resolved_info": 3}, 60, {}, 10)}  # fmt: skip

    week = week_figures(Week(MON_3_NOV, WED_5_NOV, date(2025, 11, 9)), figures)

    assert (week.calls, week.cost) == (3, 10)


def monday_weeks_ago(today: date, n: int) -> date:
    return today - timedelta(days=today.weekday() + 7 * n)


@pytest.mark.django_db
def test_a_call_on_monday_just_after_midnight_local_counts_in_mondays_week(db: Any) -> None:
    """00:30 on Monday in the support team's time zone is still Sunday in UTC (19:00, in
    Kolkata): the call belongs to the week that Monday begins, as the days do."""
    today = timezone.localdate()
    monday = monday_weeks_ago(today, 4)
    just_after = at(monday, 0, 30)
    assert just_after.astimezone(UTC).date() < monday  # Sunday in UTC
    add_call("late-night", just_after, 60, "resolved_info")
    add_call("sunday", at(monday - timedelta(days=1), 23, 30), 60, "escalated")

    board = dashboard(DayRange(today - timedelta(days=120), today))

    counts = {p.tick: (p.figures.calls, p.figures.contained) for p in board.periods}
    before = monday - timedelta(days=7)
    assert counts[f"{monday.day} {monday:%b}"] == (1, 1)
    assert counts[f"{before.day} {before:%b}"] == (1, 0)


@pytest.mark.django_db
@pytest.mark.parametrize("sunday", [date(2026, 3, 29), date(2026, 10, 25)])  # clocks change
def test_over_a_change_of_the_clocks_a_weeks_days_are_still_its_local_days(
    db: Any, settings: Any, sunday: date
) -> None:
    """In London the clocks change early on a Sunday: that Sunday's calls, before and after
    the change and in its last half hour, stay in the week it ends; the next Monday's first
    half hour (in summer time still Sunday in UTC) starts the next."""
    settings.TIME_ZONE = "Europe/London"
    london = ZoneInfo("Europe/London")
    for n, (day, hour, minute) in enumerate([(sunday, 0, 30), (sunday, 1, 30), (sunday, 23, 30),
                                             (sunday + timedelta(days=1), 0, 30)]):  # fmt: skip
        add_call(f"c{n}", datetime.combine(day, time(hour, minute), london), 60, "escalated")

    board = dashboard(DayRange(date(2026, 3, 2), date(2026, 11, 29)))

    calls = {p.tick: p.figures.calls for p in board.periods if p.figures.calls}
    monday = sunday + timedelta(days=1)
    assert calls == {day_label(sunday - timedelta(days=6)): 3, day_label(monday): 1}


@pytest.mark.django_db
def test_a_weeks_answer_time_is_the_percentile_of_its_turns(db: Any) -> None:
    """On the charts and in the table: Monday's one turn at 0.10 s and Tuesday's nine at
    1.00 s are a week whose typical turn took 1.00 s (the days' p50s averaged: 0.55 s)."""
    today = timezone.localdate()
    monday = monday_weeks_ago(today, 3)
    add_call("quick", at(monday, 10), 60, "resolved_info")
    answered("quick", [100], 100)
    for n in range(9):
        add_call(f"slow-{n}", at(monday + timedelta(days=1), 10, n), 60, "escalated")
        answered(f"slow-{n}", [1000], 100)

    board = dashboard(DayRange(today - timedelta(days=200), today))

    name = f"Week of {monday.day} {monday:%b}"
    [week] = [p.figures for p in board.periods if p.name == name]
    assert (week.wait_s(50), week.share(["resolved_info"])) == (1.0, 10)
    titles = {p.title for line in board.wait_chart.lines for p in line.points}
    assert f"{name}: Typical turn (p50), 1.00 s" in titles
    rates = {p.title for line in board.rates_chart.lines for p in line.points}
    assert f"{name}: Resolved by the agent alone, 10%" in rates


@pytest.mark.django_db
def test_a_year_on_the_page_is_per_week(agent: Client, staff_groups: Any) -> None:
    """A range of 366 days: the charts, their tooltips and the table are per week; the
    default 30 days stay per day."""
    today = timezone.localdate()
    add_call("today", at(today, 0, 5), 60, "resolved_info")
    since = today - timedelta(days=365)

    year = agent.get("/staff/", {"since": since.isoformat(), "until": today.isoformat()})
    body = year.content.decode()

    for said in ("Calls per week by outcome", "Refunds per week", "What the model cost per week",
                 "Containment and escalation rate, by week", "Average handle time, by week",
                 "How quickly the agent answered, by week", "The figures per week",
                 "<th>Week</th>", "Week of ", "· by week, Monday to Sunday"):  # fmt: skip
        assert said in body, said
    assert "per day" not in body
    board = year.context["board"]
    assert (board.per, len(board.periods)) in (("week", 53), ("week", 54))
    month = agent.get("/staff/").content.decode()
    assert "Calls per day by outcome" in month and "The figures per day" in month
    assert "per week" not in month and "Week of" not in month


# In the page: each column's segment (<g>) or line's point (<path class="mark">), with its
# class and its tooltip.
DRAWN = re.compile(r'<g(?: class="(part)")?><title>([^<]*)'
                   r'|<path class="mark( part)?" d="[^"]*"><title>([^<]*)')  # fmt: skip


def drawn(figure: str) -> dict[str, set[bool]]:
    """Each period a chart draws (by the name its tooltips give it: "Week of 2 Jun (4–8 Jun
    only)") and whether its columns or points are drawn as part of a week."""
    found: dict[str, set[bool]] = {}
    for g_class, g_title, mark_part, mark_title in DRAWN.findall(figure):
        title = g_title or mark_title
        part = bool(g_class or mark_part)
        found.setdefault(title.split(":")[0], set()).add(part)
    return found


def charts_of(body: str) -> dict[str, str]:
    """The page's column and line charts' HTML, by title."""
    figures = body.split('<figure class="chart">')[1:]
    return {re.search(r"<figcaption>([^<]*)", f)[1]: f for f in figures  # type: ignore[index]
            if "<line class=\"axis\"" in f}  # fmt: skip


@pytest.mark.django_db
def test_a_week_the_range_holds_only_in_part_is_drawn_apart_on_every_chart(
    agent: Client, staff_groups: Any, priya: Any
) -> None:
    """Wednesday 4 Jun to Tuesday 2 Dec 2025: the week of 2 Jun (5 days) and of 1 Dec (2 days)
    are short columns that read as quiet weeks. On each of the six charts their columns are
    faded and their points hollow, the whole weeks' as they were, and the legend says which
    weeks and how much of them; 30 days by day mark nothing."""
    first, last = date(2025, 6, 4), date(2025, 12, 2)
    for n, day in enumerate([date(2025, 6, 5), date(2025, 6, 10), date(2025, 12, 2)]):
        add_call(f"c{n}", at(day, 10), 90, "resolved_info")
        answered(f"c{n}", [800], 250)
        Refund.objects.create(refund_id=f"RFD-{n}", order_id=f"ORD-{n}", customer=priya,
                              amount=10_000, percent=50, tier="Silver",
                              created_at=at(day, 11))  # fmt: skip

    body = agent.get("/staff/", {"since": first.isoformat(),
                                 "until": last.isoformat()}).content.decode()  # fmt: skip

    charts = charts_of(body)
    assert len(charts) == 6
    for title, figure in charts.items():
        assert drawn(figure) == {"Week of 2 Jun (4–8 Jun only)": {True},
                                 "Week of 9 Jun": {False},
                                 "Week of 1 Dec (1–2 Dec only)": {True}}, title  # fmt: skip
        said = "Faded" if title.startswith(("Calls", "Refunds", "What")) else "Hollow"
        assert (f"{said}: the first and last weeks, 5 and 2 of their 7 days in the range</li>"
                in figure), title  # fmt: skip
    month = agent.get("/staff/", {"since": date(2025, 11, 3).isoformat(),
                                  "until": last.isoformat()}).content.decode()  # fmt: skip
    for title, figure in charts_of(month).items():
        assert set().union(*drawn(figure).values()) == {False}, title
    assert not re.search(r'class="part|mark part|Faded:|Hollow:', month)


@pytest.mark.parametrize("first, last, said", [
    (date(2025, 6, 2), date(2025, 11, 30), ""),  # Monday to Sunday
    (date(2025, 6, 4), date(2025, 11, 30), "the first week, 5 of its 7 days in the range"),
    (date(2025, 6, 2), date(2025, 12, 2), "the last week, 2 of its 7 days in the range"),
    (date(2025, 6, 8), date(2025, 12, 2),
     "the first and last weeks, 1 and 2 of their 7 days in the range"),
    (date(2025, 11, 5), date(2025, 12, 2), ""),  # by day
])  # fmt: skip
def test_the_legends_say_which_weeks_are_drawn_apart_and_how_much_of_them_is_in_the_range(
    first: date, last: date, said: str
) -> None:
    assert part_note(periods(DayRange(first, last), {}, LATER)[1]) == said


@pytest.mark.parametrize("first, last, today, said", [
    (date(2025, 6, 2), SUN_30_NOV, SUN_30_NOV, "the last week, so far"),
    (date(2025, 6, 2), TUE_2_DEC, TUE_2_DEC, "the last week, 2 of its 7 days so far"),
    (date(2025, 6, 4), TUE_2_DEC, TUE_2_DEC,
     "the first week, 5 of its 7 days in the range; the last week, 2 of its 7 days so far"),
    (date(2025, 6, 2), SUN_30_NOV, date(2025, 9, 10), "this week, 3 of its 7 days so far"),
    (date(2025, 6, 2), SUN_30_NOV, date(2025, 12, 1), ""),
    (date(2025, 11, 5), TUE_2_DEC, TUE_2_DEC, "today, so far"),  # by day
    (date(2025, 11, 5), TUE_2_DEC, date(2025, 12, 3), ""),
])  # fmt: skip
def test_the_legends_say_that_today_or_its_week_is_so_far(
    first: date, last: date, today: date, said: str
) -> None:
    """Today is not over: its column (by day) or its week's (by week, even when the range
    holds all seven days) is drawn apart, and the legends say how much of it there is so far;
    a range chosen to reach past today may hold this week in its middle."""
    assert part_note(periods(DayRange(first, last), {}, today)[1]) == said


def test_by_day_today_is_named_so_far_where_its_figures_are_read() -> None:
    """On the x-axis today is a day like the others; its tooltips and its row in the table
    say that its figures are so far, and its column and points are drawn apart."""
    per, shown = periods(DayRange(date(2025, 11, 5), TUE_2_DEC), {}, TUE_2_DEC)

    assert per == "day"
    assert [(p.tick, p.name, p.part) for p in shown[-2:]] == [
        ("1 Dec", "1 Dec", False),
        ("2 Dec", "2 Dec (today, so far)", True),
    ]


def part_keys(figure: str) -> list[str]:
    """What a chart's legend says of the periods it draws apart: ["Faded: the last week, ..."],
    or [] without such a line."""
    return re.findall(r'<li class="part-key">.*?</svg>([^<]*)</li>', figure)


def a_call_and_a_refund(n: int, day: date, priya: Any) -> None:
    """A call settled by the agent, answered and priced, and a refund, on `day`."""
    add_call(f"c{n}", at(day, 10), 90, "resolved_info")
    answered(f"c{n}", [800], 250)
    Refund.objects.create(refund_id=f"RFD-{n}", order_id=f"ORD-{n}", customer=priya,
                          amount=10_000, percent=50, tier="Silver",
                          created_at=at(day, 11))  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("days, said", [
    ([date(2025, 6, 5), date(2025, 6, 10)], "the first week, 5 of its 7 days in the range"),
    ([date(2025, 6, 10), date(2025, 12, 2)], "the last week, 2 of its 7 days in the range"),
    ([date(2025, 6, 10)], ""),
    ([], ""),
])  # fmt: skip
def test_a_part_week_without_calls_is_not_said_to_be_drawn_apart(
    agent: Client, staff_groups: Any, priya: Any, days: list[date], said: str
) -> None:
    """Wednesday 4 Jun to Tuesday 2 Dec 2025, the week of 1 Dec without a call yet (Monday
    morning), or the week of 2 Jun before the first call (a new deployment), or both, or every
    week: no column or point is drawn for a week without calls (no "0%", no answer time of
    nothing at 0), and no legend speaks of a faded column or a hollow point that is not
    there; its row in the table says 0 calls and "—" for what none had."""
    for n, day in enumerate(days):
        a_call_and_a_refund(n, day, priya)

    response = agent.get("/staff/", {"since": "2025-06-04", "until": "2025-12-02"})

    body = response.content.decode()
    charts = charts_of(body)
    assert len(charts) == 6
    for title, figure in charts.items():
        shown = set(drawn(figure))
        assert ("Week of 2 Jun (4–8 Jun only)" in shown) == (date(2025, 6, 5) in days), title
        assert ("Week of 1 Dec (1–2 Dec only)" in shown) == (date(2025, 12, 2) in days), title
        kind = "Faded" if title.startswith(("Calls", "Refunds", "What")) else "Hollow"
        assert part_keys(figure) == ([f"{kind}: {said}"] if said else []), title
    assert "(the first and last weeks only in part)" in body  # said of the range all the same
    empty = {p.name: p.figures for p in response.context["board"].periods
             if not p.figures.calls}  # fmt: skip
    for name in ("Week of 2 Jun (4–8 Jun only)", "Week of 1 Dec (1–2 Dec only)"):
        if name in empty:
            row = re.search(rf"<tr><td>{re.escape(name)}</td>(.*?)</tr>", body)
            assert row is not None and strip_tags(row[1]) == "000——₹0.00—₹0.00", name


@pytest.mark.django_db
@pytest.mark.parametrize("last_week", ["in_progress", "not_priced"])
def test_each_chart_says_only_of_the_part_weeks_it_draws_apart(
    agent: Client, staff_groups: Any, priya: Any, last_week: str
) -> None:
    """The week of 2 Jun (5 of its days) has a call, priced, answered, with a refund; the week
    of 1 Dec (2 of its days) has one call so far: still going (Monday morning: an outline on
    the calls chart, the same in any week, and no rate or time yet), or ended without a price,
    a turn or a refund. Each chart's legend names the part weeks it draws faded or hollow,
    and only those."""
    for n, day in enumerate([date(2025, 6, 5), date(2025, 6, 10)]):
        a_call_and_a_refund(n, day, priya)
    if last_week == "in_progress":
        sync_db().calls.insert_one({"call_id": "live", "user_id": 301, "channel": "phone",
                                    "started_at": at(date(2025, 12, 2), 9), "ended_at": None,
                                    "transcript": [], "tool_calls": []})  # fmt: skip
    else:
        add_call("unpriced", at(date(2025, 12, 2), 9), 60, "resolved_info")

    body = agent.get("/staff/", {"since": "2025-06-04", "until": "2025-12-02"}).content.decode()

    both = "the first and last weeks, 5 and 2 of their 7 days in the range"
    first = "the first week, 5 of its 7 days in the range"
    said = {"Calls per week by outcome": f"Faded: {first}",
            "Containment and escalation rate, by week": f"Hollow: {first}",
            "Refunds per week": f"Faded: {first}",
            "Average handle time, by week": f"Hollow: {first}",
            "How quickly the agent answered, by week": f"Hollow: {first}",
            "What the model cost per week": f"Faded: {first}"}  # fmt: skip
    if last_week == "not_priced":
        said["Calls per week by outcome"] = f"Faded: {both}"
        said["Containment and escalation rate, by week"] = f"Hollow: {both}"
        said["Average handle time, by week"] = f"Hollow: {both}"
    assert {title: part_keys(figure) for title, figure in charts_of(body).items()} == {
        title: [key] for title, key in said.items()
    }


@pytest.mark.django_db
def test_the_page_draws_today_and_the_week_that_holds_it_apart_as_so_far(
    agent: Client, staff_groups: Any, priya: Any
) -> None:
    """By day (the last 30 days), today's columns are faded and its points hollow, each legend
    says "today, so far", and its row is "8 Dec (today, so far)"; yesterday is drawn whole. By
    week, from a Monday to today, the week that holds today is drawn apart and said to be so
    far, on its Sunday too (the range then holds all its days)."""
    today = timezone.localdate()
    a_call_and_a_refund(0, today - timedelta(days=1), priya)
    a_call_and_a_refund(1, today, priya)

    month = agent.get("/staff/").content.decode()

    name = f"{day_label(today)} (today, so far)"
    for title, figure in charts_of(month).items():
        assert drawn(figure) == {day_label(today - timedelta(days=1)): {False},
                                 name: {True}}, title  # fmt: skip
        kind = "Faded" if title.startswith(("Calls", "Refunds", "What")) else "Hollow"
        assert part_keys(figure) == [f"{kind}: today, so far"], title
    assert f"<tr><td>{name}</td>" in month
    monday = monday_weeks_ago(today, 0)
    held = today.weekday() + 1
    since = monday_weeks_ago(today, 17)
    weekly = agent.get("/staff/", {"since": since.isoformat(), "until": today.isoformat()})
    body = weekly.content.decode()
    week = weekly.context["board"].periods[-1].name
    assert week.startswith(f"Week of {day_label(monday)} (") and week.endswith(" so far)")
    so_far = f"{held} of its 7 days so far" if held < 7 else "so far"
    for title, figure in charts_of(body).items():
        assert drawn(figure)[week] == {True}, title
        kind = "Faded" if title.startswith(("Calls", "Refunds", "What")) else "Hollow"
        assert part_keys(figure) == [f"{kind}: the last week, {so_far}"], title
    assert "· by week, Monday to Sunday (the last week only in part)" in body


@pytest.mark.parametrize("drawn, said", [
    ([True] * 27, "the first and last weeks, 5 and 2 of their 7 days in the range"),
    ([False] + [True] * 26, "the last week, 2 of its 7 days in the range"),
    ([True] * 26 + [False], "the first week, 5 of its 7 days in the range"),
    ([False] + [True] * 25 + [False], ""),
    ([False] * 27, ""),
])  # fmt: skip
def test_the_legends_say_only_of_the_part_weeks_a_chart_draws(drawn: list[bool], said: str) -> None:
    """Wednesday 4 Jun to Tuesday 2 Dec 2025: 27 weeks, the first and last in part; a week a
    chart draws nothing for (no calls, no refunds, no price) is not said to be drawn apart."""
    shown = periods(DayRange(date(2025, 6, 4), date(2025, 12, 2)), {}, LATER)[1]

    assert part_note(shown, drawn) == said
