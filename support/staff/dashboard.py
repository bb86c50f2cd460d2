"""The dashboard: how the operation went over a range of local days.

Every figure is aggregated by the database (one `$group` per collection over the range, by
local day; past days' figures are cached for a few minutes), so the page reads a few rows per
day, not the calls themselves. Pure functions turn those rows into rates and charts.

* Containment: calls the agent settled alone (CONTAINED_OUTCOMES) out of calls with an outcome.
* Escalation rate: calls a person took or will take (HUMAN_OUTCOMES) out of the same.
* Average handle time: from the start to the end of ended calls.
* Answer time: per agent turn, from the end of the customer's speech to the agent's first
  audio (`calls.turns`); p50 and p95 per day, from a histogram of WAIT_BUCKET_MS steps the
  database counts (so percentiles are exact to that step and the page never reads the turns).
* Cost: what the model cost (`calls.cost`, in COST_CURRENCY's minor unit); per resolved call is
  the cost of every priced call divided by the priced calls the agent settled alone
  (CONTAINED_OUTCOMES), the price of one resolution including the calls that did not get one
  (a resolved call not priced would count as free, and lower it). A call priced in another
  currency (COST_CURRENCY changed since) counts by its price in US dollars (`cost.usd`) at
  COST_PER_USD, as a call priced now would be. Ended calls without a cost in either (from before
  costs were kept, or of a model LIVE_PRICES has no price for) are counted apart, as not priced,
  so a cost that leaves them out says so, and a day none of whose calls was priced has no cost.
A record that is no call of its own (postcall.outcome.MOVED_END_REASONS: opened again on another
server before it was answered, the customer's call going on as a new record) counts nowhere.
Calls still in progress, and calls without an outcome (recorded before outcomes were, contract
section 10, or whose outcome was never written), count in "calls" but in no rate; the calls
chart shows them apart.

Over more than WEEKLY_AFTER_DAYS the charts and the table show weeks (Monday to Sunday, local
days), each from its days' figures added: counts and sums add, and every rate, average and
percentile is worked out again from the week's sums (its answer times from the week's
histogram of turns), never averaged from its days' rates.

Today is not over: its column, or the week's that holds it, is figures so far, drawn apart as
the weeks the range holds only some days of are (a short column is not a quiet day or week).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from postcall.cost import minor_units
from postcall.finish import LOOK_BACK
from postcall.outcome import NOT_A_CALL_MATCH
from support.models import (
    Call,
    Complaint,
    ComplaintCategory,
    Escalation,
    EscalationStatus,
    Refund,
)
from support.money import axis_inr, format_inr
from support.mongo import sync_db
from support.staff.aftercall import axis_money, money, percentile_of_counts
from support.staff.charts import (
    LEFT,
    BarChart,
    ColumnChart,
    LineChart,
    Series,
    axis_seconds,
    bar_chart,
    column_chart,
    line_chart,
    time_ceiling,
    wait_ceiling,
    wait_label,
)
from support.staff.labels import (
    CONTAINED_OUTCOMES,
    HUMAN_OUTCOMES,
    OUTCOME_LABELS,
    mmss,
)
from voiceproject.cache import cache_or_miss

DEFAULT_DAYS = 30
# Up to a quarter (92 days, July to September, the longest) a day keeps a column of its own,
# about 5 px of the charts' 520 at a desktop's width, and a point a pointer can find; past it
# days blur into a comb no one reads (a year was 1.5 px a day, with 3,714 tooltips in the calls
# chart alone, 770 KB of page). Longer ranges are shown by week: 14 to 54 columns.
WEEKLY_AFTER_DAYS = 92
PAST_DAY_CACHE_S = 600
BACKLOG_CACHE_S = 30
MAX_DAYS = 366
NO_OUTCOME = ""
IN_PROGRESS = "in_progress"  # not an outcome: a call gets one when it ends
WAIT_BUCKET_MS = 50
OUTCOME_SERIES = [
    Series("resolved_refund", OUTCOME_LABELS["resolved_refund"], "chart-1"),
    Series("resolved_info", OUTCOME_LABELS["resolved_info"], "chart-2", "diagonal"),
    Series("complaint_filed", OUTCOME_LABELS["complaint_filed"], "chart-3", "dots"),
    Series("callback_scheduled", OUTCOME_LABELS["callback_scheduled"], "chart-4", "horizontal"),
    Series("escalated", OUTCOME_LABELS["escalated"], "chart-5", "crosshatch"),
    Series("transferred", OUTCOME_LABELS["transferred"], "chart-6", "backslash"),
    Series("abandoned", OUTCOME_LABELS["abandoned"], "chart-7", "vertical"),
    Series("agent_unavailable", OUTCOME_LABELS["agent_unavailable"], "chart-8", "grid"),
    Series(NO_OUTCOME, "No outcome recorded", "chart-0", "bricks"),
    Series(IN_PROGRESS, "In progress", "chart-live"),  # drawn as a dashed outline
]


@dataclass(frozen=True)
class DayRange:
    """Local days `first`..`last` (inclusive) and the UTC instants that bound them."""

    first: dt.date
    last: dt.date

    @property
    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def start(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.first, dt.time.min))

    @property
    def end(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.last + dt.timedelta(days=1),
                                                       dt.time.min))  # fmt: skip

    def match(self, field_name: str) -> dict[str, Any]:
        return {field_name: {"$gte": self.start, "$lt": self.end}}


def day_range(first: dt.date | None, last: dt.date | None, today: dt.date) -> DayRange:
    """The range asked for: the last DEFAULT_DAYS days by default; from a given day on, up to
    today (or that day alone, when it is after today). The dashboard shows at most MAX_DAYS
    of it (its view says so rather than cutting a range short); an export, any range."""
    last = last or max(today, first or today)
    first = first or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    return DayRange(first, last)


def _by_day(collection: str, match: dict[str, Any], time_field: str,
            group: dict[str, Any], extra: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
    day = {"$dateToString": {"format": "%Y-%m-%d", "date": f"${time_field}",
                             "timezone": settings.TIME_ZONE}}  # fmt: skip
    return list(sync_db()[collection].aggregate([
        {"$match": match},
        {"$group": {"_id": {"day": day, **group}, **extra}},
    ]))  # fmt: skip


@dataclass
class DayFigures:
    calls: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    handled_ms: float = 0.0
    ended: int = 0
    refunds: int = 0
    refunded: int = 0  # paise
    cost: int = 0  # COST_CURRENCY's minor unit
    unpriced: int = 0  # ended calls without a cost
    unpriced_contained: int = 0  # of them, those the agent settled alone
    waits: dict[int, int] = field(default_factory=dict)  # answer time histogram: ms -> turns

    @property
    def classified(self) -> int:
        return sum(n for outcome, n in self.by_outcome.items()
                   if outcome not in (NO_OUTCOME, IN_PROGRESS))  # fmt: skip

    def count(self, outcomes: Sequence[str]) -> int:
        return sum(self.by_outcome.get(o, 0) for o in outcomes)

    @property
    def contained(self) -> int:
        return self.count(CONTAINED_OUTCOMES)

    @property
    def taken_by_people(self) -> int:
        return self.count(HUMAN_OUTCOMES)

    def share(self, outcomes: Sequence[str]) -> float | None:
        """Percent of classified calls with one of `outcomes`; None without any."""
        if not self.classified:
            return None
        return 100 * self.count(outcomes) / self.classified

    @property
    def handle_s(self) -> float | None:
        return self.handled_ms / self.ended / 1000 if self.ended else None

    def add(self, other: DayFigures) -> None:
        self.calls += other.calls
        for outcome, n in other.by_outcome.items():
            self.by_outcome[outcome] = self.by_outcome.get(outcome, 0) + n
        self.handled_ms += other.handled_ms
        self.ended += other.ended
        self.refunds += other.refunds
        self.refunded += other.refunded
        self.cost += other.cost
        self.unpriced += other.unpriced
        self.unpriced_contained += other.unpriced_contained
        for ms, n in other.waits.items():
            self.waits[ms] = self.waits.get(ms, 0) + n

    def wait_s(self, p: float) -> float | None:
        """The `p`th percentile of the agent's answer time that day, in seconds."""
        ms = percentile_of_counts(self.waits, p)
        return None if ms is None else ms / 1000

    @property
    def none_priced(self) -> bool:
        """Every ended call is unpriced: a cost of nothing would read as free."""
        return bool(self.ended) and self.unpriced == self.ended

    @property
    def known_cost(self) -> int | None:
        """The cost, None when no call was priced."""
        return None if self.none_priced else self.cost

    @property
    def cost_per_resolved(self) -> float | None:
        """The cost of one resolution, over the calls that were priced."""
        resolved = self.contained - self.unpriced_contained
        if self.none_priced or resolved <= 0:
            return None
        return self.cost / resolved


def settled(day: dt.date, now: dt.datetime) -> bool:
    """Whether nothing will change `day`'s figures any more: its last call has ended (a call
    lasts at most VOICE_MAX_CALL_S) and been given its outcome, turns and cost (by the call's
    process at once, else by a sweeper as soon as a server runs, within a week: one finished
    later, its servers down that long, changes a settled day's figures, shown within
    PAST_DAY_CACHE_S).
    Until then it is counted afresh as today is: cached, yesterday read just after midnight
    showed its late calls in progress, without outcome or cost, for PAST_DAY_CACHE_S after
    they had them."""
    over = DayRange(day, day).end + dt.timedelta(seconds=settings.VOICE_MAX_CALL_S)
    return now >= over + LOOK_BACK


def day_figures(days: DayRange, now: dt.datetime | None = None) -> dict[str, DayFigures]:
    """Calls by outcome, handle time and refunds per local day ("2026-11-21").

    Settled days (`settled`) are kept in the cache for PAST_DAY_CACHE_S: a dashboard opened
    again, or over a longer range, aggregates only the days it has not seen lately, and
    always today and the hours of yesterday whose calls may still change.
    """
    now = now or timezone.now()
    # v6: without the records of calls opened again elsewhere; v5: with the resolved calls not
    # priced; v4: costs in the currency named in the key only.
    currency = f"{settings.COST_CURRENCY}@{settings.COST_PER_USD}"
    keys = {day.isoformat(): f"staff:dashboard:day:v6:{currency}:{day.isoformat()}"
            for day in days.days if settled(day, now)}  # fmt: skip
    cached = cache_or_miss.get_many(keys.values())
    figures = {day: cached[key] for day, key in keys.items() if key in cached}
    missing = sorted(day.isoformat() for day in days.days if day.isoformat() not in figures)
    if missing:
        span = DayRange(dt.date.fromisoformat(missing[0]), dt.date.fromisoformat(missing[-1]))
        fresh = _aggregate_days(span)
        for day in missing:
            figures[day] = fresh.get(day) or DayFigures()
        done = {keys[day]: figures[day] for day in missing if day in keys}
        cache_or_miss.set_many(done, PAST_DAY_CACHE_S)
    return figures


def _aggregate_days(days: DayRange) -> dict[str, DayFigures]:
    """The figures of every day in `days` that had any, from one aggregation per collection."""
    figures: dict[str, DayFigures] = defaultdict(DayFigures)
    ended = {"$gt": ["$ended_at", None]}
    # Priced in COST_CURRENCY (a cost without a currency is in it, as the call page reads it),
    # else in US dollars, to convert; else not priced.
    currency = {"$literal": settings.COST_CURRENCY}
    here = {"$and": [{"$eq": [{"$ifNull": ["$cost.currency", currency]}, currency]},
                     {"$isNumber": "$cost.amount"}]}  # fmt: skip
    in_usd = {"$and": [{"$not": [here]}, {"$isNumber": "$cost.usd"}]}
    call_rows = _by_day(
        Call._meta.db_table, {**days.match("started_at"), **NOT_A_CALL_MATCH}, "started_at",
        {"outcome": {"$cond": [ended, {"$ifNull": ["$outcome", NO_OUTCOME]}, IN_PROGRESS]}},
        {"n": {"$sum": 1},
         "ended": {"$sum": {"$cond": [ended, 1, 0]}},
         "handled_ms": {"$sum": {"$cond": [ended,
                                           {"$subtract": ["$ended_at", "$started_at"]}, 0]}},
         "cost": {"$sum": {"$cond": [here, "$cost.amount", 0]}},
         "usd": {"$sum": {"$cond": [in_usd, "$cost.usd", 0]}},
         "unpriced": {"$sum": {"$cond": [
             {"$and": [ended, {"$not": [{"$or": [here, in_usd]}]}]}, 1, 0]}}},
    )  # fmt: skip
    for row in call_rows:
        day = figures[row["_id"]["day"]]
        outcome = row["_id"]["outcome"] or NO_OUTCOME
        day.calls += row["n"]
        day.by_outcome[outcome] = day.by_outcome.get(outcome, 0) + row["n"]
        day.ended += row["ended"]
        day.handled_ms += row["handled_ms"]
        day.cost += int(row["cost"]) + minor_units(row["usd"], settings.COST_PER_USD)
        day.unpriced += row["unpriced"]
        if outcome in CONTAINED_OUTCOMES:
            day.unpriced_contained += row["unpriced"]
    for row in _waits_by_day(days):
        figures[row["_id"]["day"]].waits[int(row["_id"]["ms"])] = row["n"]
    refund_rows = _by_day(Refund._meta.db_table, days.match("created_at"), "created_at", {},
                          {"n": {"$sum": 1}, "total": {"$sum": "$amount"}})  # fmt: skip
    for row in refund_rows:
        day = figures[row["_id"]["day"]]
        day.refunds += row["n"]
        day.refunded += int(row["total"])
    return figures


def _waits_by_day(days: DayRange) -> list[dict[str, Any]]:
    """Answered agent turns per local day and WAIT_BUCKET_MS step of their answer time (each
    counted at its step's upper end, so a percentile errs slow rather than fast)."""
    day = {"$dateToString": {"format": "%Y-%m-%d", "date": "$started_at",
                             "timezone": settings.TIME_ZONE}}  # fmt: skip
    step = {"$multiply": [{"$ceil": {"$divide": ["$turns.first_audio_ms", WAIT_BUCKET_MS]}},
                          WAIT_BUCKET_MS]}  # fmt: skip
    return list(sync_db()[Call._meta.db_table].aggregate([
        {"$match": {**days.match("started_at"), **NOT_A_CALL_MATCH,
                    "turns.0": {"$exists": True}}},
        {"$project": {"started_at": 1, "turns.first_audio_ms": 1}},
        {"$unwind": "$turns"},
        {"$match": {"turns.first_audio_ms": {"$type": "number"}}},
        {"$group": {"_id": {"day": day, "ms": step}, "n": {"$sum": 1}}},
    ]))  # fmt: skip


def age_buckets(overdue_minutes: int) -> list[tuple[str, int, int | None]]:
    """(label, from, to) in minutes for grouping open tickets by waiting time; the overdue
    age is always a boundary, so the buckets from it on are exactly the overdue tickets."""
    edges = sorted({0, overdue_minutes, 60, 240, 1440})
    return [(_span(low, high), low, high)
            for low, high in zip(edges, [*edges[1:], None], strict=True)]  # fmt: skip


def _span(low: int, high: int | None) -> str:
    def words(minutes: int) -> str:
        if minutes < 60 or minutes % 60:
            return f"{minutes} min"
        return {60: "an hour", 1440: "a day"}.get(minutes, f"{minutes // 60} hours")

    if high is None:
        return f"over {words(low)}"
    if low == 0:
        return f"under {words(high)}"
    both_hours = low % 60 == 0 and high % 60 == 0 and low >= 60
    if both_hours:
        return f"{low // 60}-{high // 60} hours"
    return f"{low}-{high} min"


def open_ticket_ages(now: dt.datetime, overdue_minutes: int) -> tuple[list[tuple[str, int]], int]:
    """Open tickets by how long they have waited (one indexed count per bucket), and how many
    have waited `overdue_minutes` or more."""
    tickets = sync_db()[Escalation._meta.db_table]
    rows, overdue = [], 0
    for label, low, high in age_buckets(overdue_minutes):
        # The newest bucket has no lower bound: a ticket made after `now` (while the figures
        # were read, or on a process whose clock is ahead) is open too.
        created: dict[str, Any] = {"$lte": now - dt.timedelta(minutes=low)} if low else {}
        if high is not None:
            created["$gt"] = now - dt.timedelta(minutes=high)
        count = tickets.count_documents({"status": EscalationStatus.OPEN.value,
                                         "created_at": created})  # fmt: skip
        rows.append((label, count))
        if low >= overdue_minutes:
            overdue += count
    return rows, overdue


def ticket_backlog(now: dt.datetime) -> tuple[list[tuple[str, int]], int, int]:
    """Open tickets by waiting time, how many are overdue, how many are claimed; counted at
    most every BACKLOG_CACHE_S (the live queue is the place to watch tickets move)."""
    key = f"staff:dashboard:backlog:{settings.QUEUE_OVERDUE_MINUTES}"
    backlog = cache_or_miss.get(key)
    if backlog is None:
        ages, overdue = open_ticket_ages(now, settings.QUEUE_OVERDUE_MINUTES)
        claimed = sync_db()[Escalation._meta.db_table].count_documents(
            {"status": EscalationStatus.CLAIMED.value})
        backlog = (ages, overdue, claimed)
        cache_or_miss.set(key, backlog, BACKLOG_CACHE_S)
    return backlog


def complaints_by_category(days: DayRange) -> BarChart:
    counts = {
        row["_id"]: row["n"]
        for row in sync_db()[Complaint._meta.db_table].aggregate([
            {"$match": days.match("created_at")},
            {"$group": {"_id": "$category", "n": {"$sum": 1}}},
        ])
    }  # fmt: skip
    rows = [(label, counts.get(value, 0), str(counts.get(value, 0)))
            for value, label in ComplaintCategory.choices]  # fmt: skip
    return bar_chart("Complaints by category", rows)


def _percent(value: float) -> str:
    """A share in whole percent, never said as none or all when it is not: of 200 calls, 199
    settled by the agent are ">99%" and the one a person took "<1%" (not "100%" and "0%")."""
    said = f"{value:.0f}"
    if said == "0" and value > 0:
        return "<1%"
    if said == "100" and value < 100:
        return ">99%"
    return f"{said}%"


@dataclass(frozen=True)
class Week:
    """A Monday-to-Sunday week of local days, of which the range holds `first`..`last`: all
    seven, or fewer in the range's first and last weeks; `today` when it holds today."""

    monday: dt.date
    first: dt.date
    last: dt.date
    today: dt.date | None = None

    @property
    def so_far(self) -> bool:
        """It holds today, which is not over: its figures are the week's so far."""
        return self.today is not None

    @property
    def partial(self) -> bool:
        """Its figures are not a whole week's: the range holds only some of its days, or it
        holds today (a range ending on a Sunday that is today holds that week so far)."""
        whole = (self.monday, self.monday + dt.timedelta(days=6))
        return (self.first, self.last) != whole or self.so_far


def weeks(days: DayRange, today: dt.date) -> list[Week]:
    """The weeks `days` falls in, in order, each cut to the range, the one holding `today`
    (when the range does) said to."""
    monday = days.first - dt.timedelta(days=days.first.weekday())
    found = []
    while monday <= days.last:
        first, last = max(monday, days.first), min(monday + dt.timedelta(days=6), days.last)
        found.append(Week(monday, first, last, today if first <= today <= last else None))
        monday += dt.timedelta(days=7)
    return found


def week_figures(week: Week, figures: Mapping[str, DayFigures]) -> DayFigures:
    """The week's figures: its days' in the range added (`figures` by "2026-11-21")."""
    total = DayFigures()
    for day in DayRange(week.first, week.last).days:
        total.add(figures.get(day.isoformat()) or DayFigures())
    return total


def day_name(day: dt.date, with_year: bool) -> str:
    """As the other pages write a day: "5 Dec", "5 Dec 2026" ("05 Dec 26" read as the 26th)."""
    return f"{day.day} {day:%b %Y}" if with_year else f"{day.day} {day:%b}"


def week_name(week: Week, with_year: bool) -> str:
    """The week as the dashboard names it, "Week of 3 Nov"; one the range holds only part of
    says which days: "Week of 27 Oct (29 Oct–2 Nov only)", "Week of 7 Dec (7 Dec only)"; the
    week that holds today, which days so far: "Week of 7 Dec (7–13 Dec so far)"."""
    said = f"Week of {day_name(week.monday, with_year)}"
    if not week.partial:
        return said
    first, last = week.first, week.today or week.last
    if first == last:
        days = day_name(first, False)
    elif first.month == last.month:
        days = f"{first.day}–{day_name(last, False)}"
    else:
        days = f"{day_name(first, False)}–{day_name(last, False)}"
    return f"{said} ({days} {'so far' if week.so_far else 'only'})"


@dataclass(frozen=True)
class Period:
    """A column of the charts and a row of the table: a day, or a week over a long range."""

    tick: str  # on the x-axis: "5 Dec"; a week by its Monday
    name: str  # in tooltips and the table: "5 Dec", "Week of 1 Dec", "8 Dec (today, so far)"
    figures: DayFigures
    week: Week | None = None  # the week it is, over a long range
    so_far: bool = False  # it holds today, which is not over

    @property
    def part(self) -> bool:
        """Its figures are not a whole day's or week's: a week the range holds only some days
        of, or today or the week that holds it, so far."""
        return self.so_far or (self.week is not None and self.week.partial)


def part_note(shown: Sequence[Period], drawn: Sequence[bool] | None = None) -> str:
    """Which of the periods shown are weeks the range holds only in part, and how much of
    them, and which holds today, for the charts' legends, where those periods are drawn apart
    (a last week of two days is a short column, not a quiet week; today's, not a quiet day):
    "the first and last weeks, 5 and 2 of their 7 days in the range", "the last week, 2 of
    its 7 days in the range", "today, so far", "the last week, 2 of its 7 days so far" (today
    its Tuesday), "the last week, so far" (today its Sunday), the two kinds of week parted by
    "; ", or "". `drawn[n]`: whether the chart draws period n apart at all (all by default);
    one it draws nothing for (a Monday morning's week without a call yet) is left unsaid, the
    legend speaking only of the columns and points it shows."""
    apart = [(n, p) for n, p in enumerate(shown) if p.part and (drawn is None or drawn[n])]
    said = []
    cut = [(n, p.week) for n, p in apart if p.week is not None and not p.week.so_far]
    if cut:
        held = " and ".join(str((week.last - week.first).days + 1) for _, week in cut)
        which = ["first" if n == 0 else "last" for n, _ in cut]
        if len(cut) > 1:
            said.append(f"the {' and '.join(which)} weeks, {held} of their 7 days in the range")
        else:
            said.append(f"the {which[0]} week, {held} of its 7 days in the range")
    for n, p in apart:
        if p.so_far and p.week is None:
            said.append("today, so far")
        elif p.week is not None and p.week.today is not None:
            # A range chosen to reach past today may hold this week in its middle.
            week = ("the first week" if n == 0 else "the last week" if n == len(shown) - 1
                    else "this week")  # fmt: skip
            held_so_far = (p.week.today - p.week.first).days + 1
            said.append(f"{week}, {held_so_far} of its 7 days so far" if held_so_far < 7
                        else f"{week}, so far")  # fmt: skip
    return "; ".join(said)


def periods(days: DayRange, figures: Mapping[str, DayFigures],
            today: dt.date) -> tuple[str, list[Period]]:  # fmt: skip
    """("day" or "week", the range's days or, over more than WEEKLY_AFTER_DAYS, its weeks),
    from the figures of its days by "2026-11-21"; the day or week that holds `today` is so
    far."""
    # Over a year a date comes round again: days (and Mondays) are then named with their year.
    with_year = len({(day.month, day.day) for day in days.days}) < len(days.days)
    if len(days.days) <= WEEKLY_AFTER_DAYS:
        named = [day_name(day, with_year) for day in days.days]
        return "day", [Period(name, f"{name} (today, so far)" if day == today else name,
                              figures.get(day.isoformat()) or DayFigures(), so_far=day == today)
                       for day, name in zip(days.days, named, strict=True)]  # fmt: skip
    return "week", [Period(day_name(week.monday, with_year), week_name(week, with_year),
                           week_figures(week, figures), week, week.so_far)
                    for week in weeks(days, today)]  # fmt: skip


@dataclass(frozen=True)
class Dashboard:
    days: DayRange
    total: DayFigures
    calls_chart: ColumnChart
    refunds_chart: ColumnChart
    rates_chart: LineChart
    handle_chart: LineChart
    wait_chart: LineChart
    cost_chart: ColumnChart
    ages_chart: BarChart
    complaints_chart: BarChart
    open_total: int
    overdue: int
    claimed_total: int
    per: str  # what a column and a row of the table is: "day", or "week" over a long range
    periods: list[Period]

    @property
    def weeks_in_part(self) -> str:
        """Which of the weeks shown the range holds only some days of (or, holding today, so
        far), said once above the charts, where their short columns could read as quiet weeks:
        "the first and last weeks", "the last week", or ""."""
        cut = [self.periods[0].part, self.periods[-1].part]
        if self.per != "week" or not any(cut):
            return ""
        return {(True, True): "the first and last weeks", (True, False): "the first week",
                (False, True): "the last week"}[(cut[0], cut[1])]  # fmt: skip

    @property
    def containment(self) -> str:
        share = self.total.share(CONTAINED_OUTCOMES)
        return "—" if share is None else _percent(share)

    @property
    def escalation_rate(self) -> str:
        share = self.total.share(HUMAN_OUTCOMES)
        return "—" if share is None else _percent(share)

    @property
    def handle_time(self) -> str:
        return mmss(self.total.handle_s)

    @property
    def refunded(self) -> str:
        return format_inr(self.total.refunded)

    @property
    def wait_p50(self) -> str:
        return _wait(self.total.wait_s(50))

    @property
    def wait_p95(self) -> str:
        return _wait(self.total.wait_s(95))

    @property
    def none_priced(self) -> bool:
        return self.total.none_priced

    @property
    def cost(self) -> str:
        cost = self.total.known_cost
        return "—" if cost is None else money(cost, settings.COST_CURRENCY)

    @property
    def cost_per_resolved(self) -> str:
        per = self.total.cost_per_resolved
        return "—" if per is None else money(round(per), settings.COST_CURRENCY)


def _wait(seconds: float | None) -> str:
    return "—" if seconds is None else wait_label(seconds)


def _cost_series(per_day: Sequence[DayFigures]) -> list[dict[str, float]]:
    return [{"cost": day.cost / 100} for day in per_day]


def _not_priced(day: DayFigures) -> str:
    """What a day's cost leaves out, for its tooltip: "; 2 calls not priced"."""
    if not day.unpriced:
        return ""
    return f"; {day.unpriced:,} call{'s' if day.unpriced != 1 else ''} not priced"


DayCharts = tuple[ColumnChart, ColumnChart, LineChart, LineChart, LineChart, ColumnChart]


def day_charts(shown: Sequence[Period], per: str, total: DayFigures,
               left: int = LEFT) -> DayCharts:  # fmt: skip
    """The charts of the range's days (or weeks: `per`): calls, refunds, rates, handle time,
    answer time, cost; their plots start `left` from their left edge at least."""
    labels = [p.tick for p in shown]
    names = [p.name for p in shown]
    figures = [p.figures for p in shown]
    # Weeks the range holds only in part, and today or its week, are drawn apart: faded
    # columns, hollow points; each chart's legend says which of them it draws.
    part, note = [p.part for p in shown], functools.partial(part_note, shown)
    # A line's points are days unless its title says otherwise.
    lines = "" if per == "day" else f", by {per}"
    return (
        column_chart(
            f"Calls per {per} by outcome", labels,
            [s for s in OUTCOME_SERIES if total.by_outcome.get(s.key)],
            [{k: float(v) for k, v in day.by_outcome.items()} for day in figures], left=left,
            names=names, part=part, part_note=note,
        ),
        column_chart(
            f"Refunds per {per}", labels, [Series("refunded", "Refunded", "chart-1")],
            [{"refunded": day.refunded / 100} for day in figures],
            fmt=lambda rupees: format_inr(round(rupees * 100)).removesuffix(".00"), unit=0.01,
            axis=lambda rupees: axis_inr([round(r * 100) for r in rupees]), left=left,
            names=names, part=part, part_note=note,
        ),
        line_chart(
            f"Containment and escalation rate{lines}", labels,
            [(Series("contained", "Resolved by the agent alone", "chart-1"),
              [day.share(CONTAINED_OUTCOMES) for day in figures]),
             (Series("escalated", "Taken by a person or a callback", "chart-5"),
              [day.share(HUMAN_OUTCOMES) for day in figures])],
            fmt=_percent, top=100, left=left, names=names, part=part, part_note=note,
        ),
        line_chart(
            f"Average handle time{lines}", labels,
            [(Series("handle", "Average handle time", "chart-2"),
              [day.handle_s for day in figures])],
            fmt=mmss, top=time_ceiling(max((d.handle_s or 0 for d in figures), default=0)),
            left=left, names=names, part=part, part_note=note,
        ),
        line_chart(
            f"How quickly the agent answered{lines}", labels,
            [(Series("p50", "Typical turn (p50)", "chart-1"), [d.wait_s(50) for d in figures]),
             (Series("p95", "Slow turns (p95)", "chart-5"), [d.wait_s(95) for d in figures])],
            fmt=wait_label, axis=axis_seconds,
            top=wait_ceiling(max((d.wait_s(95) or 0 for d in figures), default=0)), left=left,
            names=names, part=part, part_note=note,
        ),
        column_chart(
            f"What the model cost per {per}", labels,
            [Series("cost", "Cost", "chart-3")], _cost_series(figures),
            fmt=lambda units: money(round(units * 100), settings.COST_CURRENCY), unit=0.01,
            axis=lambda units: axis_money([round(u * 100) for u in units], settings.COST_CURRENCY),
            left=left, notes=[_not_priced(day) for day in figures], names=names,
            part=part, part_note=note,
            # As the tile says "—": no column would otherwise read as costing nothing.
            nothing=("No call in this range was priced." if total.none_priced
                     else ColumnChart.nothing),
        ),
    )  # fmt: skip


def dashboard(days: DayRange, now: dt.datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    figures = day_figures(days, now)
    total = DayFigures()
    for day in days.days:
        total.add(figures.get(day.isoformat()) or DayFigures())
    per, shown = periods(days, figures, timezone.localdate(now))
    ages, overdue, claimed = ticket_backlog(now)
    # A day stands at the same place on every chart, one above the other: all make the room
    # the longest y-axis label of any of them needs.
    left = max(chart.left for chart in day_charts(shown, per, total))
    calls, refunds, rates, handle, wait, cost = day_charts(shown, per, total, left)
    return Dashboard(
        days=days,
        total=total,
        calls_chart=calls,
        refunds_chart=refunds,
        rates_chart=rates,
        handle_chart=handle,
        wait_chart=wait,
        cost_chart=cost,
        ages_chart=bar_chart("Open tickets by waiting time",
                             [(label, n, str(n)) for label, n in ages]),
        complaints_chart=complaints_by_category(days),
        open_total=sum(n for _, n in ages),
        overdue=overdue,
        claimed_total=claimed,
        per=per,
        periods=shown,
    )  # fmt: skip
