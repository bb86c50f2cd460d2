"""The agent's callback tools against the real database: booking, refusals, scoping, cancelling."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from callbacks import desk, tools
from callbacks.slots import Hours, local_date
from callbacks.tests.conftest import slot, spoken
from support import mongo
from support.models import Customer, Escalation
from support.tools import ToolContext, function_declarations, run_tool

pytestmark = pytest.mark.django_db

ASHA = ToolContext(user_id=101, call_id="call-asha", channel="web")
RAVI = ToolContext(user_id=202, call_id="call-ravi", channel="web")
ASHA_BY_PHONE = ToolContext(user_id=101, call_id="call-asha-phone", channel="phone")
UNKNOWN_CALLER = ToolContext(user_id=None, call_id="call-unknown", channel="phone")
CALLBACK_ID = r"CBK-[A-HJKMNP-Z2-9]{6}"
RANG_OUT = desk.REDIAL_AFTER + timedelta(seconds=1)  # a "Call now" whose phone stopped ringing


async def book(ctx: ToolContext, start: datetime, reason: str = "Refund query") -> dict[str, Any]:
    return await run_tool(
        "schedule_callback", {"slot_start": spoken(start), "reason": reason}, ctx
    )


async def callbacks_in_db(**query: Any) -> list[dict[str, Any]]:
    return await mongo.async_db().callbacks.find(query, {"_id": 0}).to_list()


# --- Declarations -----------------------------------------------------------------------------


def test_the_callback_tools_are_declared_to_the_model() -> None:
    declarations = {d["name"]: d for d in function_declarations()}

    assert "parameters" in declarations["list_callback_slots"]
    assert declarations["list_callback_slots"]["parameters"]["required"] == []
    assert declarations["schedule_callback"]["parameters"]["required"] == ["slot_start", "reason"]
    assert declarations["cancel_callback"]["parameters"]["required"] == ["callback_id"]
    assert "tomorrow" in declarations["list_callback_slots"]["parameters"]["properties"]["date"][
        "description"
    ]


# --- Listing ----------------------------------------------------------------------------------


async def test_without_a_date_the_first_day_with_free_slots_is_listed(asha: Customer) -> None:
    result = await run_tool("list_callback_slots", {}, ASHA)

    assert result["ok"] is True
    hours = Hours.from_settings()
    starts = [datetime.fromisoformat(s["slot_start"]) for s in result["slots"]]
    assert starts and all(start > datetime.now(UTC) for start in starts)
    assert {local_date(start, hours.zone).isoformat() for start in starts} == {result["date"]}
    assert all(start.astimezone(hours.zone).minute in (0, 30) for start in starts)
    assert [datetime.fromisoformat(s["slot_start_utc"]) for s in result["slots"]] == starts
    assert result["slots"][0]["slot_start_utc"].endswith("+00:00")  # local time and UTC
    assert result["time_zone"] == "Asia/Kolkata"
    assert result["your_callbacks"] == []
    assert re.fullmatch(r"\d{1,2}(:30)? (am|pm)|12 noon", result["slots"][0]["time"])


async def test_without_a_date_a_day_the_customer_already_has_a_callback_on_is_not_offered(
    asha: Customer,
) -> None:
    """One a day: every time of that day would be refused them."""
    first = await run_tool("list_callback_slots", {}, ASHA)
    await book(ASHA, datetime.fromisoformat(first["slots"][-1]["slot_start"]))

    again = await run_tool("list_callback_slots", {}, ASHA)
    other = await run_tool(
        "schedule_callback", {"slot_start": again["slots"][0]["slot_start"], "reason": "x"}, ASHA
    )

    assert again["date"] > first["date"]
    assert "already_scheduled" not in again
    assert other["ok"] is True


async def test_a_date_the_customer_already_has_a_callback_on_says_so(asha: Customer) -> None:
    mine = await book(ASHA, slot(hour=10))
    day = local_date(slot(hour=10), Hours.from_settings().zone).isoformat()

    result = await run_tool("list_callback_slots", {"date": day}, ASHA)

    assert (result["ok"], result["date"]) == (True, day)
    assert result["already_scheduled"] == (
        f"The customer already has a callback {mine['when']} ({mine['callback_id']}); it's one "
        "callback a day. Offer another day, or to cancel that one first."
    )
    assert result["next_day_with_slots"]["date"] > day


async def test_a_sunday_has_no_slots_and_points_to_the_next_day_with_some(asha: Customer) -> None:
    result = await run_tool("list_callback_slots", {"date": "sunday"}, ASHA)

    assert result["ok"] is True
    assert result["slots"] == []
    assert result["why_none"] == "We don't make callbacks on Sundays."
    monday = datetime.fromisoformat(result["date"]) + timedelta(days=1)
    assert result["next_day_with_slots"]["date"] == monday.date().isoformat()


async def test_full_slots_are_not_listed_and_the_customers_own_callback_is(
    asha: Customer, ravi: Customer, meena: Customer
) -> None:
    full = slot(days_ahead=3, hour=11)
    await book(ToolContext(user_id=303), full)
    await book(RAVI, full)
    mine = await book(ASHA, slot(days_ahead=3, hour=15))

    day = local_date(full, Hours.from_settings().zone).isoformat()
    result = await run_tool("list_callback_slots", {"date": day}, ASHA)

    listed = [s["slot_start"] for s in result["slots"]]
    assert spoken(full) not in listed
    assert spoken(full + timedelta(minutes=30)) in listed
    assert result["your_callbacks"] == [
        {"callback_id": mine["callback_id"], "slot_start": mine["slot_start"],
         "slot_start_utc": mine["slot_start_utc"], "when": mine["when"],
         "reason": "Refund query"},
    ]  # fmt: skip


async def test_a_callback_whose_time_passed_without_the_call_is_listed_while_it_holds_its_day(
    asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff have not called yet: it still holds its day (one a day), so the customer asking
    about their callbacks, or why that day is not offered, hears of it, and may cancel it."""
    start = slot(hour=10, minute=30)
    mine = await book(ASHA, start)
    monkeypatch.setattr(tools, "_now", lambda: start + timedelta(hours=5))  # 3:30 pm that day

    listed = await run_tool("list_callback_slots", {}, ASHA)

    [overdue] = listed["your_callbacks"]
    assert overdue["callback_id"] == mine["callback_id"]
    assert overdue["when"].startswith("today, ") and overdue["when"].endswith(" at 10:30 am")
    assert overdue["overdue"] is True
    assert listed["date"] > local_date(start, Hours.from_settings().zone).isoformat()


async def test_a_callbacks_reason_waits_until_a_phone_caller_is_verified(
    asha: Customer,
) -> None:
    """Written in an earlier call, a reason may name what verify_caller asks for."""
    start = slot(days_ahead=2, hour=10)
    await book(ASHA, start, reason="Refund dispute: Dosa Point order of 500.00 arrived cold")
    by_phone = ToolContext(user_id=101, call_id="call-asha-phone", channel="phone")

    listed = await run_tool("list_callback_slots", {}, by_phone)
    again = await book(by_phone, start)  # the same booking: it stands
    by_phone.verified = True  # as verify_caller leaves it
    verified = await run_tool("list_callback_slots", {}, by_phone)

    [before] = listed["your_callbacks"]
    assert "reason" not in before and "Dosa Point" not in str(listed)
    assert again["already_booked"] and "reason" not in again
    [after] = verified["your_callbacks"]
    assert after["reason"].startswith("Refund dispute: Dosa Point")


@pytest.mark.parametrize("date", ["next week", "31/12/2026", "2026-02-30"])
async def test_a_date_the_tool_cannot_read_is_refused(asha: Customer, date: str) -> None:
    result = await run_tool("list_callback_slots", {"date": date}, ASHA)

    assert (result["ok"], result["reason"]) == (False, "invalid_argument")
    assert "tomorrow" in result["message"]


# --- Booking ----------------------------------------------------------------------------------


async def test_a_customer_books_a_callback_to_the_number_on_their_account(asha: Customer) -> None:
    start = slot(days_ahead=2, hour=10, minute=30)

    result = await book(ASHA, start, reason="Wants to discuss a refused refund")

    assert result["ok"] is True
    assert re.fullmatch(CALLBACK_ID, result["callback_id"])
    assert result["slot_start"] == spoken(start)
    assert result["slot_start_utc"] == start.isoformat(timespec="minutes")
    assert result["when"].endswith("at 10:30 am")
    assert result["number_ending"] == "0101"
    [stored] = await callbacks_in_db()
    assert stored == {
        "callback_id": result["callback_id"],
        "user_id": 101,
        "phone": "+919800000101",
        "slot_start": start,
        "local_date": local_date(start, Hours.from_settings().zone).isoformat(),
        "seat": 1,
        "reason": "Wants to discuss a refused refund",
        "status": "scheduled",
        "call_id": "call-asha",
        "ticket_id": None,
        "assignee": None,
        "created_at": stored["created_at"],
        "dialled_at": None,
        "call_sid": "",
        "closed_at": None,
    }
    assert abs(stored["created_at"] - datetime.now(UTC)) < timedelta(minutes=1)


async def test_a_phone_caller_matched_by_number_may_book_without_verifying(
    asha: Customer,
) -> None:
    result = await book(ASHA_BY_PHONE, slot())

    assert result["ok"] is True
    assert result["number_ending"] == "0101"


async def test_an_unidentified_caller_cannot_list_book_or_cancel() -> None:
    for name, args in [
        ("list_callback_slots", {}),
        ("schedule_callback", {"slot_start": spoken(slot()), "reason": "x"}),
        ("cancel_callback", {"callback_id": "CBK-AAAAAA"}),
    ]:
        result = await run_tool(name, args, UNKNOWN_CALLER)
        assert result["reason"] == "not_identified", name
    assert await callbacks_in_db() == []


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (slot(days_ahead=-2, hour=10), "That time has already passed."),
        (slot(days_ahead=2, hour=21, minute=0), "Callbacks are between 9 am and 9 pm."),
        (slot(days_ahead=2, hour=8, minute=30), "Callbacks are between 9 am and 9 pm."),
        (slot(days_ahead=2, hour=10, minute=15), "on the hour and the half hour"),
        (slot(days_ahead=20, hour=10), "up to 14 days ahead"),
    ],
    ids=["past", "closing-time", "before-opening", "not-a-slot-start", "too-far-ahead"],
)
async def test_a_time_that_is_not_a_bookable_slot_is_refused(
    asha: Customer, start: datetime, message: str
) -> None:
    result = await book(ASHA, start)

    assert (result["ok"], result["reason"]) == (False, "slot_unavailable")
    assert message in result["message"]
    assert "list_callback_slots" in result["message"]
    assert await callbacks_in_db() == []


async def test_a_sunday_slot_is_refused(asha: Customer) -> None:
    hours = Hours.from_settings()
    start = slot(days_ahead=2)
    while start.astimezone(hours.zone).weekday() != 6:
        start += timedelta(days=1)

    result = await book(ASHA, start)

    assert result["reason"] == "slot_unavailable"
    assert result["message"].startswith("We don't make callbacks on Sundays.")


async def test_a_full_slot_is_refused(asha: Customer, ravi: Customer, meena: Customer) -> None:
    full = slot()
    first, second = await book(ASHA, full), await book(RAVI, full)

    third = await book(ToolContext(user_id=303), full)

    assert (first["ok"], second["ok"]) == (True, True)
    assert (third["ok"], third["reason"]) == (False, "slot_unavailable")
    assert third["message"].startswith("That slot has just been taken.")
    assert sorted(c["seat"] for c in await callbacks_in_db()) == [1, 2]


@override_settings(CALLBACK_SLOT_CAPACITY=1)
async def test_the_capacity_of_a_slot_is_a_setting(asha: Customer, ravi: Customer) -> None:
    assert (await book(ASHA, slot()))["ok"] is True
    assert (await book(RAVI, slot()))["reason"] == "slot_unavailable"


async def test_a_second_callback_the_same_day_is_refused_naming_the_first(
    asha: Customer,
) -> None:
    first = await book(ASHA, slot(hour=10))

    second = await book(ASHA, slot(hour=16))
    other_day = await book(ASHA, slot(days_ahead=4, hour=16))

    assert (second["ok"], second["reason"]) == (False, "already_scheduled")
    assert first["callback_id"] in second["message"]
    assert "at 10:30 am" in second["message"]
    assert other_day["ok"] is True


async def test_the_same_booking_asked_for_again_is_confirmed_not_refused(asha: Customer) -> None:
    """The model may call the tool twice for one request (a retry, a reconnect)."""
    first = await book(ASHA, slot(hour=10))

    again = await book(ASHA, slot(hour=10))

    assert again["ok"] is True and again["already_booked"] is True
    assert {k: v for k, v in again.items() if k != "already_booked"} == first
    assert len(await callbacks_in_db(user_id=101)) == 1


@pytest.mark.parametrize(
    "slot_start", ["tomorrow at ten", spoken(slot())[:10]], ids=["words", "a-date-alone"]
)
async def test_a_slot_start_the_tool_cannot_read_is_refused(
    asha: Customer, slot_start: str
) -> None:
    result = await run_tool("schedule_callback", {"slot_start": slot_start, "reason": "x"}, ASHA)

    assert (result["ok"], result["reason"]) == (False, "invalid_argument")
    assert "exactly as list_callback_slots answered it" in result["message"]


@pytest.mark.parametrize(
    ("zone", "offsets"), [("Australia/Sydney", (10, 11)), ("America/New_York", (-5, -4))]
)
async def test_a_slot_start_at_the_offset_of_the_other_side_of_a_clock_change_is_refused(
    asha: Customer, settings: Any, zone: str, offsets: tuple[int, int]
) -> None:
    """The customer agreed 9 am; at the offset their zone has the other half of the year it
    is 8 am (outside hours) or 10 am (a time they never agreed to). Refused with 9 am as it
    should be given, and nothing booked."""
    settings.SUPPORT_TIME_ZONE = zone
    start = slot(hour=9, minute=0)
    local = start.astimezone(ZoneInfo(zone))
    [other_season] = {timedelta(hours=h) for h in offsets} - {local.utcoffset()}
    stale = local.replace(tzinfo=timezone(other_season)).isoformat(timespec="minutes")

    result = await run_tool("schedule_callback", {"slot_start": stale, "reason": "x"}, ASHA)

    assert (result["ok"], result["reason"]) == (False, "invalid_argument")
    assert f'like "{spoken(start)}"' in result["message"]
    assert await callbacks_in_db() == []


@pytest.mark.parametrize(
    ("tool", "args"),
    [("schedule_callback", {"slot_start": "0001-01-01T00:00", "reason": "x"}),
     ("list_callback_slots", {"date": "9999-12-31"})],
)
@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/New_York"])
async def test_a_time_at_the_end_of_the_calendar_is_refused_not_a_failure(
    asha: Customer, settings: Any, zone: str, tool: str, args: dict[str, str]
) -> None:
    settings.SUPPORT_TIME_ZONE = zone

    result = await run_tool(tool, args, ASHA)

    assert (result["ok"], result["reason"]) == (False, "invalid_argument")
    assert "can be booked for" in result["message"]


@pytest.fixture
def ashas_ticket(asha: Customer, ravi: Customer) -> Escalation:
    Escalation.objects.create(ticket_id="TKT-RAVI01", customer=ravi, reason="upset")
    return Escalation.objects.create(ticket_id="TKT-ASHA01", customer=asha, reason="upset")


async def test_the_callback_is_linked_to_the_customers_own_ticket_only(
    ashas_ticket: Escalation,
) -> None:

    own = await run_tool("schedule_callback", {"slot_start": spoken(slot(hour=11)),
                         "reason": "x", "ticket_id": "tkt-asha01"}, ASHA)  # fmt: skip
    other = await run_tool("schedule_callback", {"slot_start": spoken(slot(hour=11)),
                           "reason": "x", "ticket_id": "TKT-ASHA01"}, RAVI)  # fmt: skip

    assert (own["ok"], own["ticket_id"]) == (True, "TKT-ASHA01")
    assert (other["ok"], other["ticket_id"]) == (True, None)


async def test_a_callback_booked_while_a_colleague_is_fetched_is_linked_to_that_ticket(
    asha: Customer,
) -> None:
    """The agent offers a callback when nobody joins in time and books it without naming the
    ticket: it is the call's escalation all the same, for whoever picks up either."""
    ticket = await run_tool("escalate_to_human", {"reason": "Wants a person"}, ASHA)

    booked = await book(ASHA, slot(hour=11))

    assert booked["ok"] is True and booked["ticket_id"] == ticket["ticket_id"]
    assert (await callbacks_in_db())[0]["ticket_id"] == ticket["ticket_id"]


@pytest.mark.parametrize(
    "misheard", ["", "TKT-WRONG1", "the ticket you opened a moment ago, TKT-"]
)
async def test_a_misheard_or_empty_ticket_id_neither_stops_the_booking_nor_loses_the_ticket(
    asha: Customer, misheard: str
) -> None:
    ticket = await run_tool("escalate_to_human", {"reason": "Wants a person"}, ASHA)

    booked = await run_tool("schedule_callback", {"slot_start": spoken(slot(hour=11)),
                            "reason": "x", "ticket_id": misheard}, ASHA)  # fmt: skip

    assert booked["ok"] is True, booked
    assert booked["ticket_id"] == ticket["ticket_id"]


# --- Cancelling -------------------------------------------------------------------------------


async def test_cancelling_frees_the_place_in_the_slot(
    asha: Customer, ravi: Customer, meena: Customer
) -> None:
    full = slot()
    asha_booking = await book(ASHA, full)
    await book(RAVI, full)

    cancelled = await run_tool(
        "cancel_callback", {"callback_id": asha_booking["callback_id"]}, ASHA
    )
    third = await book(ToolContext(user_id=303), full)

    assert (cancelled["ok"], cancelled["status"]) == (True, "cancelled")
    assert third["ok"] is True
    statuses = {c["user_id"]: c["status"] for c in await callbacks_in_db()}
    assert statuses == {101: "cancelled", 202: "scheduled", 303: "scheduled"}


async def test_cancelling_frees_the_day_for_another_time(asha: Customer) -> None:
    first = await book(ASHA, slot(hour=10))
    await run_tool("cancel_callback", {"callback_id": first["callback_id"]}, ASHA)

    again = await book(ASHA, slot(hour=17))

    assert again["ok"] is True


async def test_another_customers_callback_is_not_found_and_stays_booked(
    asha: Customer, ravi: Customer
) -> None:
    ravis = await book(RAVI, slot())

    result = await run_tool("cancel_callback", {"callback_id": ravis["callback_id"]}, ASHA)

    assert (result["ok"], result["reason"]) == (False, "not_found")
    [stored] = await callbacks_in_db()
    assert stored["status"] == "scheduled"


async def test_cancelling_twice_answers_the_same(asha: Customer) -> None:
    booked = await book(ASHA, slot())
    spoken_id = booked["callback_id"].replace("-", " ").lower()  # "cbk 7kq2xd"

    first = await run_tool("cancel_callback", {"callback_id": spoken_id}, ASHA)
    second = await run_tool("cancel_callback", {"callback_id": booked["callback_id"]}, ASHA)

    assert first == second
    assert (first["ok"], first["status"]) == (True, "cancelled")


async def test_a_callback_that_already_happened_cannot_be_cancelled(asha: Customer) -> None:
    booked = await book(ASHA, slot())
    await mongo.async_db().callbacks.update_one({}, {"$set": {"status": "done"}})

    result = await run_tool("cancel_callback", {"callback_id": booked["callback_id"]}, ASHA)

    assert (result["ok"], result["reason"]) == (False, "invalid_argument")
    assert "already done" in result["message"]


async def dialled(
    callback_id: str,
    *,
    ago: timedelta = timedelta(0),
    answered_call: str = "",
    dial_status: str = "",
) -> None:
    """Staff pressed "Call now" `ago` (what callbacks/desk.py writes); with `answered_call`,
    the customer picked up (what realtime/phone/consumer.py writes); with `dial_status`, Twilio
    said the dial ended unanswered (what callbacks/dial_ended.py writes)."""
    await mongo.async_db().callbacks.update_one({"callback_id": callback_id}, {"$set": {
        "assignee": "meera", "dialled_at": datetime.now(UTC) - ago, "call_sid": "CA1",
        "answered_call_id": answered_call, "dial_status": dial_status,
    }})  # fmt: skip


async def test_a_callback_is_not_cancelled_while_a_colleague_is_calling_the_customer(
    asha: Customer,
) -> None:
    """Cancelled, it would refuse her answer: she would pick up to "we could not connect you"."""
    booked = await book(ASHA, slot())
    await dialled(booked["callback_id"])

    result = await run_tool("cancel_callback", {"callback_id": booked["callback_id"]}, ASHA)

    assert (result["ok"], result["reason"]) == (False, "invalid_argument")
    assert result["message"] == (
        "A colleague is calling you about this callback right now, so I can't cancel it. If "
        "you no longer need it, just tell them when you pick up."
    )
    assert (await callbacks_in_db())[0]["status"] == "scheduled"


async def test_a_callback_is_not_cancelled_while_the_customer_is_on_the_call_it_dialled(
    asha: Customer,
) -> None:
    booked = await book(ASHA, slot())
    await mongo.async_db().calls.insert_one({"call_id": "CALL-ON", "ended_at": None})
    await dialled(booked["callback_id"], ago=RANG_OUT, answered_call="CALL-ON")  # a long call

    result = await run_tool("cancel_callback", {"callback_id": booked["callback_id"]}, ASHA)

    assert (result["ok"], result["reason"]) == (False, "invalid_argument")
    assert result["message"] == (
        "This callback is happening right now, on the call with our colleague, so I can't "
        "cancel it. They will close it once the call is over."
    )
    assert (await callbacks_in_db())[0]["status"] == "scheduled"


@pytest.mark.parametrize(
    "answered_call", ["", "CALL-OVER"], ids=["nobody-answered", "answered-and-over"]
)
async def test_a_dialled_callback_can_be_cancelled_once_the_phone_stopped_ringing(
    asha: Customer, answered_call: str
) -> None:
    booked = await book(ASHA, slot())
    await mongo.async_db().calls.insert_one({"call_id": "CALL-OVER", "ended_at": datetime.now(UTC)})
    await dialled(booked["callback_id"], ago=RANG_OUT, answered_call=answered_call)

    result = await run_tool("cancel_callback", {"callback_id": booked["callback_id"]}, ASHA)

    assert (result["ok"], result["status"]) == (True, "cancelled")


async def test_a_callback_can_be_cancelled_at_once_when_twilio_said_the_line_was_busy(
    asha: Customer,
) -> None:
    """Asha's line was busy, with this very call, say: nothing rings her any more."""
    booked = await book(ASHA, slot())
    await dialled(booked["callback_id"], dial_status="busy")

    result = await run_tool("cancel_callback", {"callback_id": booked["callback_id"]}, ASHA)

    assert (result["ok"], result["status"]) == (True, "cancelled")


async def test_a_malformed_callback_id_is_refused(asha: Customer) -> None:
    result = await run_tool("cancel_callback", {"callback_id": {"$ne": None}}, ASHA)
    shaped = await run_tool("cancel_callback", {"callback_id": "TKT-AAAAAA"}, ASHA)

    assert result["reason"] == "invalid_argument"
    assert (shaped["reason"], shaped["message"]) == (
        "invalid_argument", "callback_id: a callback id looks like CBK-7KQ2XD"
    )
