"""When a customer can be called back (contract section 9), as pure rules: no database, no clock.

Support calls back in 30-minute slots during support hours, Monday to Saturday 09:00-21:00 in
the customer's time zone (SUPPORT_TIME_ZONE: the contract gives customers that zone, section
6), at most `capacity` bookings a slot, never in the past, and at most one booking per
customer per local day. The tools and the staff page do the I/O around these functions:

    hours = Hours.from_settings()
    starts = free_slots(day, now, hours, booked={slot_start: count, ...})
    problem = slot_problem(start, now, hours)        # None, or why it cannot be booked

Every instant here is an aware datetime; slot starts are answered in UTC. Nothing assumes a
fixed offset: a day's slots run from its opening instant to its closing instant in real
time, so a zone with daylight saving gets the same wall-clock hours (a shorter or longer day
only if a change fell inside the hours).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.conf import settings

SLOT_LENGTH = timedelta(minutes=30)
# Dates a customer's words may name at all: far wider than any bookable day, and narrow enough
# that every conversion between UTC and a local zone stays inside what datetime can hold.
PLAUSIBLE_YEARS = range(2000, 3000)
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Hours:
    """The support team's callback week in `zone`: open on `weekdays` (Monday is 0) from
    `opens` to `closes`, `capacity` bookings a slot, bookable up to `days_ahead` days ahead."""

    zone: ZoneInfo
    opens: time = time(9, 0)
    closes: time = time(21, 0)
    weekdays: frozenset[int] = field(default=frozenset(range(6)))  # Monday to Saturday
    capacity: int = 2
    days_ahead: int = 14

    @classmethod
    def from_settings(cls) -> Hours:
        return cls(
            zone=ZoneInfo(settings.SUPPORT_TIME_ZONE),
            capacity=settings.CALLBACK_SLOT_CAPACITY,
        )


class SlotProblem(StrEnum):
    """Why a time cannot be booked (all answered to the model as `slot_unavailable`)."""

    CLOSED_DAY = "closed_day"
    OUTSIDE_HOURS = "outside_hours"
    NOT_A_SLOT_START = "not_a_slot_start"
    PAST = "past"
    TOO_FAR_AHEAD = "too_far_ahead"
    FULL = "full"


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """The date `moment` falls on in `zone`: the "day" of the one-booking-a-day rule."""
    return moment.astimezone(zone).date()


def slot_starts(day: date, hours: Hours) -> list[datetime]:
    """Every slot of the local `day`, as UTC starts, earliest first; none on a closed day."""
    if day.weekday() not in hours.weekdays:
        return []
    opening = datetime.combine(day, hours.opens, tzinfo=hours.zone).astimezone(UTC)
    closing = datetime.combine(day, hours.closes, tzinfo=hours.zone).astimezone(UTC)
    starts = []
    start = opening
    while start + SLOT_LENGTH <= closing:  # the last slot ends at closing time
        starts.append(start)
        start += SLOT_LENGTH
    return starts


def slot_problem(start: datetime, now: datetime, hours: Hours) -> SlotProblem | None:
    """None if `start` is a slot that may be booked at `now` (room in it aside), else why not."""
    day = local_date(start, hours.zone)
    if start.astimezone(UTC) not in slot_starts(day, hours):
        if day.weekday() not in hours.weekdays:
            return SlotProblem.CLOSED_DAY
        wall = start.astimezone(hours.zone).time()
        if not hours.opens <= wall < hours.closes:
            return SlotProblem.OUTSIDE_HOURS
        return SlotProblem.NOT_A_SLOT_START
    if start <= now:
        return SlotProblem.PAST
    if day > local_date(now, hours.zone) + timedelta(days=hours.days_ahead):
        return SlotProblem.TOO_FAR_AHEAD
    return None


def free_slots(
    day: date, now: datetime, hours: Hours, booked: Mapping[datetime, int]
) -> list[datetime]:
    """The local `day`'s slots that can still be booked at `now`: bookable, and with fewer
    than `capacity` scheduled callbacks in `booked` (UTC slot start -> count)."""
    return [
        start
        for start in slot_starts(day, hours)
        if slot_problem(start, now, hours) is None and booked.get(start, 0) < hours.capacity
    ]


def bookable_days(now: datetime, hours: Hours) -> list[date]:
    """Today and every day up to `days_ahead` later (local dates), open or not."""
    today = local_date(now, hours.zone)
    return [today + timedelta(days=n) for n in range(hours.days_ahead + 1)]


def first_day_with_room(
    now: datetime,
    hours: Hours,
    booked: Mapping[datetime, int],
    after: date | None = None,
    taken: Collection[date] = (),
) -> date | None:
    """The first bookable local day (after `after`, if given) with a free slot, or None;
    never one of the days in `taken` (the customer's callbacks: one a day)."""
    for day in bookable_days(now, hours):
        if (
            (after is None or day > after)
            and day not in taken
            and free_slots(day, now, hours, booked)
        ):
            return day
    return None


def why_no_slots(day: date, now: datetime, hours: Hours) -> str:
    """A sentence for the model on why the local `day` offers no free slot at `now`."""
    today = local_date(now, hours.zone)
    if day < today:
        return "That date has passed."
    if day > today + timedelta(days=hours.days_ahead):
        return f"Callbacks can be booked up to {hours.days_ahead} days ahead."
    if day.weekday() not in hours.weekdays:
        return f"We don't make callbacks on {day:%A}s."
    return "Every callback time that day is taken or has passed."


# --- What the model may say, and what it is told ---------------------------------------------


def resolve_day(spoken: str, today: date) -> date:
    """The local date a customer means: "today", "tomorrow", "day after tomorrow", a weekday
    name (its next occurrence, today included) or an ISO date "2026-12-03".

    Raises ValueError with a sentence for the model.
    """
    words = " ".join(spoken.casefold().replace(",", " ").split())
    relative = {"today": 0, "tomorrow": 1, "day after tomorrow": 2}
    if words in relative:
        return today + timedelta(days=relative[words])
    if words in WEEKDAY_NAMES:
        return today + timedelta(days=(WEEKDAY_NAMES.index(words) - today.weekday()) % 7)
    try:
        day = date.fromisoformat(words)
    except ValueError:
        raise ValueError(
            'give a date like "2026-12-03", "today", "tomorrow" or a weekday name'
        ) from None
    if day.year not in PLAUSIBLE_YEARS:
        raise ValueError(f"{day.isoformat()} is not a date a callback can be booked for")
    return day


def parse_slot_start(spoken: str, zone: ZoneInfo) -> datetime:
    """The UTC instant of an ISO date and time: without an offset, the customer's local time
    in `zone`; with one, as given, if it is UTC's ("2026-12-03T05:00Z", a `slot_start_utc`)
    or the offset `zone` has at that time ("2026-12-03T10:30+05:30", a `slot_start`).

    Any other offset is refused: the customer agreed a time on their own clock, and the same
    clock time at the offset of the other side of a clock change, or of another zone, is a
    time they never agreed to (or none at all).

    Raises ValueError with a sentence for the model.
    """
    spoken = spoken.strip()
    try:
        moment = datetime.fromisoformat(spoken)
    except ValueError:
        raise ValueError(
            "give the slot_start exactly as list_callback_slots answered it, like "
            '"2026-12-03T10:30+05:30"'
        ) from None
    if moment.year not in PLAUSIBLE_YEARS:
        raise ValueError(f"{spoken} is not a time a callback can be booked for")
    if _is_date_alone(spoken):  # read as midnight, it would be refused as outside hours
        example = datetime.combine(moment.date(), time(10, 30), tzinfo=zone)
        raise ValueError(
            f"{spoken} has no time: give the slot_start of a free time that day exactly as "
            f'list_callback_slots answered it, like "{local_iso(example, zone)}"'
        )
    on_their_clock = moment.replace(tzinfo=zone)
    if moment.tzinfo is None:
        return on_their_clock.astimezone(UTC)
    offset = moment.utcoffset()
    if offset and offset != moment.astimezone(zone).utcoffset():
        raise ValueError(
            f"{spoken} is not at {zone.key}'s offset on that day: give the slot_start exactly "
            f'as list_callback_slots answered it, like "{local_iso(on_their_clock, zone)}"'
        )
    return moment.astimezone(UTC)


def _is_date_alone(spoken: str) -> bool:
    try:
        date.fromisoformat(spoken)
    except ValueError:
        return False
    return True


def local_iso(moment: datetime, zone: ZoneInfo) -> str:
    """`moment` in `zone` with its offset, to the minute: "2026-12-03T10:30+05:30"."""
    return moment.astimezone(zone).isoformat(timespec="minutes")


def utc_iso(moment: datetime) -> str:
    """`moment` in UTC, to the minute: "2026-12-03T05:00+00:00"."""
    return moment.astimezone(UTC).isoformat(timespec="minutes")


def say_time(moment: datetime, zone: ZoneInfo) -> str:
    """The local time as people say it: "9 am", "10:30 am", "12 noon", "6:30 pm"."""
    return _say_clock(moment.astimezone(zone).time())


def _say_clock(clock: time) -> str:
    if (clock.hour, clock.minute) == (12, 0):
        return "12 noon"
    hour = clock.hour % 12 or 12
    minutes = f":{clock.minute:02d}" if clock.minute else ""
    return f"{hour}{minutes} {'am' if clock.hour < 12 else 'pm'}"


def say_day(day: date, today: date) -> str:
    """"today, Thursday 3 December", "tomorrow, Friday 4 December", "Monday 7 December" (the
    year only when it is not this year's)."""
    name = f"{day:%A} {day.day} {day:%B}"
    if day.year != today.year:
        name += f" {day.year}"
    if day == today:
        return f"today, {name}"
    if day == today + timedelta(days=1):
        return f"tomorrow, {name}"
    return name


def say_when(start: datetime, now: datetime, zone: ZoneInfo) -> str:
    """A slot as the agent should say it: "tomorrow, Friday 4 December at 10:30 am"."""
    return f"{say_day(local_date(start, zone), local_date(now, zone))} at {say_time(start, zone)}"


PROBLEM_MESSAGES = {
    SlotProblem.CLOSED_DAY: "We don't make callbacks on {weekday}s. {suggestion}",
    SlotProblem.OUTSIDE_HOURS: "Callbacks are between {opens} and {closes}. {suggestion}",
    SlotProblem.NOT_A_SLOT_START: (
        "Callback slots start on the hour and the half hour. {suggestion}"
    ),
    SlotProblem.PAST: "That time has already passed. {suggestion}",
    SlotProblem.TOO_FAR_AHEAD: (
        "Callbacks can be booked up to {days_ahead} days ahead. {suggestion}"
    ),
    SlotProblem.FULL: "That slot has just been taken. {suggestion}",
}
SUGGESTION = "Call list_callback_slots and offer the customer a free time."


def problem_message(problem: SlotProblem, start: datetime, hours: Hours) -> str:
    """A sentence the agent can act on for a refused `start`."""
    return PROBLEM_MESSAGES[problem].format(
        weekday=f"{start.astimezone(hours.zone):%A}",
        opens=_say_clock(hours.opens),
        closes=_say_clock(hours.closes),
        days_ahead=hours.days_ahead,
        suggestion=SUGGESTION,
    )
