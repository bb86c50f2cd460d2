"""The callback rules (callbacks/slots.py) with literal times.

Most cases are in India time (UTC+05:30, no daylight saving): "now" is Thursday 3 December
2026, 10:40 in Kolkata, i.e. 05:10 UTC. Phoenix (UTC-07:00, no daylight saving) is where the
customer's evening falls on the next UTC day; London and Sydney check days with a clock change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from callbacks.slots import (
    Hours,
    SlotProblem,
    first_day_with_room,
    free_slots,
    local_date,
    local_iso,
    parse_slot_start,
    problem_message,
    resolve_day,
    say_day,
    say_time,
    say_when,
    slot_problem,
    slot_starts,
    why_no_slots,
)

KOLKATA = ZoneInfo("Asia/Kolkata")
PHOENIX = ZoneInfo("America/Phoenix")
LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
INDIA = Hours(zone=KOLKATA)
NOW = datetime(2026, 12, 3, 10, 40, tzinfo=KOLKATA)  # Thursday
THURSDAY, FRIDAY, SATURDAY, SUNDAY = (date(2026, 12, d) for d in (3, 4, 5, 6))


def ist(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=KOLKATA)


# --- The slots of a day -----------------------------------------------------------------------


def test_a_working_day_has_24_half_hour_slots_from_9_am_to_the_last_at_8_30_pm() -> None:
    starts = slot_starts(FRIDAY, INDIA)

    assert len(starts) == 24
    assert starts[0] == datetime(2026, 12, 4, 3, 30, tzinfo=UTC)  # 09:00 in Kolkata
    assert starts[-1] == ist(4, 20, 30)
    assert all(start.tzinfo is UTC for start in starts)


def test_saturday_is_a_working_day_and_sunday_is_not() -> None:
    assert len(slot_starts(SATURDAY, INDIA)) == 24
    assert slot_starts(SUNDAY, INDIA) == []


def test_a_day_with_a_clock_change_keeps_the_wall_clock_hours() -> None:
    # Europe/London leaves summer time on Sunday 25 October 2026; open that Sunday, the
    # slots still run 09:00-21:00 on the wall clock, now UTC+00:00.
    every_day = Hours(zone=LONDON, weekdays=frozenset(range(7)))

    starts = slot_starts(date(2026, 10, 25), every_day)

    assert [s.astimezone(LONDON).strftime("%H:%M") for s in (starts[0], starts[-1])] == [
        "09:00",
        "20:30",
    ]
    assert starts[0] == datetime(2026, 10, 25, 9, 0, tzinfo=UTC)
    assert slot_starts(date(2026, 10, 24), every_day)[0] == datetime(2026, 10, 24, 8, tzinfo=UTC)


# --- Which times can be booked ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "problem"),
    [
        (ist(3, 11, 0), None),  # the next slot today
        (ist(3, 20, 30), None),  # the last slot of the day
        (ist(4, 9, 0), None),  # the first slot tomorrow
        (ist(5, 15, 30), None),  # Saturday
        (ist(17, 9, 0), None),  # 14 days ahead
        (ist(3, 10, 30), SlotProblem.PAST),  # the slot under way
        (ist(3, 9, 0), SlotProblem.PAST),  # this morning
        (ist(2, 15, 0), SlotProblem.PAST),  # yesterday
        (ist(3, 21, 0), SlotProblem.OUTSIDE_HOURS),  # closing time is not a slot
        (ist(4, 8, 30), SlotProblem.OUTSIDE_HOURS),
        (ist(4, 23, 0), SlotProblem.OUTSIDE_HOURS),
        (ist(6, 11, 0), SlotProblem.CLOSED_DAY),  # Sunday
        (ist(4, 10, 15), SlotProblem.NOT_A_SLOT_START),
        (ist(4, 10, 30).replace(second=1), SlotProblem.NOT_A_SLOT_START),
        (ist(18, 9, 0), SlotProblem.TOO_FAR_AHEAD),  # 15 days ahead
    ],
)
def test_which_times_can_be_booked(start: datetime, problem: SlotProblem | None) -> None:
    assert slot_problem(start, NOW, INDIA) == problem


def test_a_slot_given_in_another_offset_is_the_same_slot() -> None:
    assert slot_problem(datetime(2026, 12, 4, 5, 0, tzinfo=UTC), NOW, INDIA) is None  # 10:30 IST
    assert slot_problem(datetime(2026, 12, 4, 5, 15, tzinfo=UTC), NOW, INDIA) == (
        SlotProblem.NOT_A_SLOT_START
    )


def test_free_slots_today_skip_the_past_and_the_full() -> None:
    booked = {ist(3, 11, 0): 2, ist(3, 11, 30): 1, ist(3, 9, 30): 0}

    free = free_slots(THURSDAY, NOW, INDIA, booked)

    assert free[0] == ist(3, 11, 30)  # 10:30 is under way, 11:00 is full, 11:30 has room
    assert len(free) == 19  # 11:30 to 20:30
    assert ist(3, 11, 0) not in free


def test_capacity_is_a_setting_of_the_hours() -> None:
    booked = {ist(4, 9, 0): 2}

    assert ist(4, 9, 0) not in free_slots(FRIDAY, NOW, INDIA, booked)
    assert ist(4, 9, 0) in free_slots(FRIDAY, NOW, Hours(zone=KOLKATA, capacity=3), booked)


def test_no_free_slots_on_sunday_or_after_closing() -> None:
    late = ist(3, 20, 45)

    assert free_slots(SUNDAY, NOW, INDIA, {}) == []
    assert free_slots(THURSDAY, late, INDIA, {}) == []


def test_the_first_day_with_room_skips_full_days_and_sundays() -> None:
    late = ist(5, 20, 31)  # Saturday after the last slot began
    booked = {start: 2 for start in slot_starts(date(2026, 12, 7), INDIA)}  # Monday full

    assert first_day_with_room(NOW, INDIA, {}) == THURSDAY
    assert first_day_with_room(late, INDIA, booked) == date(2026, 12, 8)  # Tuesday
    assert first_day_with_room(NOW, INDIA, {}, after=FRIDAY) == SATURDAY


def test_the_first_day_with_room_skips_the_days_the_customer_has_a_callback_on() -> None:
    """One a day: every time of such a day would be refused them."""
    assert first_day_with_room(NOW, INDIA, {}, taken={THURSDAY}) == FRIDAY
    assert first_day_with_room(NOW, INDIA, {}, taken={THURSDAY, FRIDAY}) == SATURDAY
    assert first_day_with_room(NOW, INDIA, {}, after=FRIDAY, taken={SATURDAY}) == date(2026, 12, 7)


# --- The customer's day -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "zone", "day"),
    [
        (datetime(2026, 12, 3, 18, 29, tzinfo=UTC), KOLKATA, THURSDAY),  # 23:59 IST
        (datetime(2026, 12, 3, 18, 30, tzinfo=UTC), KOLKATA, FRIDAY),  # midnight IST
        (datetime(2026, 12, 4, 3, 0, tzinfo=UTC), PHOENIX, THURSDAY),  # 20:00 Thursday there
        (datetime(2026, 12, 4, 7, 0, tzinfo=UTC), PHOENIX, FRIDAY),  # midnight there
    ],
)
def test_the_one_a_day_rule_counts_the_customers_local_day(
    moment: datetime, zone: ZoneInfo, day: date
) -> None:
    assert local_date(moment, zone) == day


def test_in_a_zone_behind_utc_the_evening_slots_are_the_next_utc_day_but_the_same_local_day() -> (
    None
):
    phoenix = Hours(zone=PHOENIX)
    starts = slot_starts(THURSDAY, phoenix)

    assert starts[0] == datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
    assert starts[-1] == datetime(2026, 12, 4, 3, 30, tzinfo=UTC)
    assert {local_date(start, PHOENIX) for start in starts} == {THURSDAY}


# --- What the model says and hears ------------------------------------------------------------


@pytest.mark.parametrize(
    ("spoken", "day"),
    [
        ("today", THURSDAY),
        ("Tomorrow", FRIDAY),
        ("day after tomorrow", SATURDAY),
        ("thursday", THURSDAY),  # today counts
        ("Wednesday", date(2026, 12, 9)),
        ("sunday", SUNDAY),  # a date it may ask about, to be told there are no slots
        ("2026-12-24", date(2026, 12, 24)),
    ],
)
def test_the_dates_the_model_may_pass(spoken: str, day: date) -> None:
    assert resolve_day(spoken, THURSDAY) == day


@pytest.mark.parametrize("spoken", ["next week", "3/12/2026", "2026-13-01", "someday", ""])
def test_other_dates_are_refused_with_the_accepted_forms(spoken: str) -> None:
    with pytest.raises(ValueError, match="tomorrow"):
        resolve_day(spoken, THURSDAY)


@pytest.mark.parametrize("spoken", ["0001-01-01", "9999-12-31", "1900-06-01"])
def test_dates_at_the_ends_of_the_calendar_are_refused(spoken: str) -> None:
    """Laid on a local calendar, they would overflow what datetime can hold."""
    with pytest.raises(ValueError, match="not a date a callback can be booked for"):
        resolve_day(spoken, THURSDAY)


@pytest.mark.parametrize(
    ("spoken", "instant"),
    [
        ("2026-12-04T10:30+05:30", datetime(2026, 12, 4, 5, 0, tzinfo=UTC)),
        ("2026-12-04T05:00Z", datetime(2026, 12, 4, 5, 0, tzinfo=UTC)),
        ("2026-12-04T10:30", datetime(2026, 12, 4, 5, 0, tzinfo=UTC)),  # local time
        ("2026-12-04 10:30", datetime(2026, 12, 4, 5, 0, tzinfo=UTC)),
        ("2026-12-04T10:30:00+05:30", datetime(2026, 12, 4, 5, 0, tzinfo=UTC)),
    ],
)
def test_slot_starts_the_model_may_pass(spoken: str, instant: datetime) -> None:
    assert parse_slot_start(spoken, KOLKATA) == instant


@pytest.mark.parametrize("spoken", ["10:30 tomorrow", "2026-12-04T25:00", "soon"])
def test_other_slot_starts_are_refused(spoken: str) -> None:
    with pytest.raises(ValueError, match="exactly as list_callback_slots answered it"):
        parse_slot_start(spoken, KOLKATA)


@pytest.mark.parametrize(
    ("spoken", "zone", "meant"),
    [
        # Summer time's offset after the clocks went back (Sunday 25 October 2026): 9 am there.
        ("2026-10-26T10:00+01:00", LONDON, "2026-10-26T10:00+00:00"),
        # Sydney's summer offset after its clocks went back (Sunday 4 April 2027): 8 am there.
        ("2027-04-05T09:00+11:00", SYDNEY, "2027-04-05T09:00+10:00"),
        ("2026-12-04T10:30+01:00", KOLKATA, "2026-12-04T10:30+05:30"),  # another zone's: 3 pm
    ],
)
def test_a_slot_start_at_an_offset_the_zone_does_not_have_that_day_is_refused(
    spoken: str, zone: ZoneInfo, meant: str
) -> None:
    """The customer said a time on their clock; at another offset it is a time an hour (or
    hours) off theirs, or none: refused with the time they said at the zone's offset, rather
    than booked at a time they never agreed to."""
    with pytest.raises(ValueError, match="exactly as list_callback_slots answered it") as refusal:
        parse_slot_start(spoken, zone)

    assert f'like "{meant}"' in str(refusal.value)


@pytest.mark.parametrize("spoken", ["2026-12-04", "20261204"])
def test_a_slot_start_without_a_time_is_refused(spoken: str) -> None:
    """Read as midnight it would be refused as outside hours, which the customer never asked."""
    with pytest.raises(ValueError, match='has no time.*like "2026-12-04T10:30\\+05:30"'):
        parse_slot_start(spoken, KOLKATA)


@pytest.mark.parametrize("spoken", ["0001-01-01T00:00", "9999-12-31T23:30-05:00"])
@pytest.mark.parametrize("zone", [KOLKATA, PHOENIX])
def test_slot_starts_at_the_ends_of_the_calendar_are_refused(spoken: str, zone: ZoneInfo) -> None:
    with pytest.raises(ValueError, match="not a time a callback can be booked for"):
        parse_slot_start(spoken, zone)


@pytest.mark.parametrize(
    ("hour", "minute", "said"),
    [(9, 0, "9 am"), (10, 30, "10:30 am"), (12, 0, "12 noon"), (12, 30, "12:30 pm"),
     (18, 0, "6 pm"), (20, 30, "8:30 pm")],
)  # fmt: skip
def test_times_are_said_in_the_customers_zone(hour: int, minute: int, said: str) -> None:
    assert say_time(ist(4, hour, minute).astimezone(UTC), KOLKATA) == said


def test_days_and_slots_are_said_relative_to_today() -> None:
    assert say_day(THURSDAY, THURSDAY) == "today, Thursday 3 December"
    assert say_day(FRIDAY, THURSDAY) == "tomorrow, Friday 4 December"
    assert say_day(date(2026, 12, 7), THURSDAY) == "Monday 7 December"
    assert say_day(date(2027, 1, 4), date(2026, 12, 28)) == "Monday 4 January 2027"
    assert say_when(ist(4, 10, 30), NOW, KOLKATA) == "tomorrow, Friday 4 December at 10:30 am"
    assert local_iso(datetime(2026, 12, 4, 5, 0, tzinfo=UTC), KOLKATA) == "2026-12-04T10:30+05:30"


def test_a_refusal_says_why_and_what_to_do_next() -> None:
    sunday = problem_message(SlotProblem.CLOSED_DAY, ist(6, 11, 0), INDIA)
    late = problem_message(SlotProblem.OUTSIDE_HOURS, ist(4, 21, 0), INDIA)

    assert sunday.startswith("We don't make callbacks on Sundays.")
    assert late.startswith("Callbacks are between 9 am and 9 pm.")
    assert "list_callback_slots" in late


@pytest.mark.parametrize(
    ("day", "why"),
    [
        (date(2026, 12, 2), "That date has passed."),
        (SUNDAY, "We don't make callbacks on Sundays."),
        (date(2026, 12, 18), "Callbacks can be booked up to 14 days ahead."),
        (THURSDAY, "Every callback time that day is taken or has passed."),
    ],
)
def test_a_day_without_free_slots_says_why(day: date, why: str) -> None:
    assert why_no_slots(day, NOW, INDIA) == why
