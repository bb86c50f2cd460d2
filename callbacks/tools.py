"""The agent's callback tools (contract section 9), registered with support.tools.

Imported by CallbacksConfig.ready(): support.tools knows nothing of this app, and
`function_declarations()` includes these three once Django has started.

They serve an identified customer: a browser caller, or a phone caller matched by number
whether verified or not. Booking a call back to the number on the account (for a phone caller,
the number they are calling from) reveals nothing and costs the customer nothing, so it needs
no verification; cancelling one is as harmless. A callback's reason, though, is told only once
the caller is verified (`_booked`).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

from callbacks import booking
from callbacks.slots import (
    SLOT_LENGTH,
    Hours,
    SlotProblem,
    bookable_days,
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
    utc_iso,
    why_no_slots,
)
from support import escalations, mongo
from support.mongo import Document
from support.tools.registry import (
    Access,
    Reason,
    Result,
    StringParam,
    ToolContext,
    ToolError,
    invalid,
    tool,
)

NO_PHONE_MESSAGE = (
    "There's no phone number on the account to call back. A colleague can help instead."
)

# Said when the customer asks to cancel a callback staff are calling them about: cancelled
# then, the customer picking up would hear that we could not connect them.
UNDERWAY_MESSAGES = {
    booking.DialState.RINGING: (
        "A colleague is calling you about this callback right now, so I can't cancel it. If "
        "you no longer need it, just tell them when you pick up."
    ),
    booking.DialState.ON_CALL: (
        "This callback is happening right now, on the call with our colleague, so I can't "
        "cancel it. They will close it once the call is over."
    ),
}


@tool(
    "list_callback_slots",
    "Find times when a colleague can call the customer back (30-minute slots, Monday to "
    "Saturday, 9 am to 9 pm, the customer's local time). Offer a callback when nobody can take "
    "the call now or the customer would rather be called later. Without a date it answers the "
    "first day with free times that the customer has no callback on yet (one a day). Also "
    "lists the customer's callbacks already booked from today on (with their ids, for "
    "cancel_callback; overdue when its time has passed and nobody has called yet). Read out a "
    "few times, not the whole list.",
    params=(
        StringParam(
            "date",
            'The day the customer asks about, in their local time: "today", "tomorrow", '
            '"day after tomorrow", a weekday name like "friday" (the next one, today '
            'included) or a date like "2026-12-03".',
            required=False,
            max_length=30,
        ),
    ),
    access=Access.IDENTIFIED,
)
async def list_callback_slots(ctx: ToolContext, date: str | None) -> Result:
    user_id = ctx.identified()
    hours, now = Hours.from_settings(), _now()
    today = local_date(now, hours.zone)
    try:
        day = resolve_day(date, today) if date is not None else None
    except ValueError as error:
        raise invalid(f"date: {error}") from None
    days = bookable_days(now, hours)
    db = mongo.async_db()
    booked, mine = await asyncio.gather(
        booking.slot_counts(db, now - timedelta(days=1), _end_of(days[-1], hours)),
        booking.upcoming(db, user_id, today),
    )
    taken = {_day_held(doc): doc for doc in mine}
    if day is None:  # one a day: a day they have a callback on is no day to offer
        day = first_day_with_room(now, hours, booked, taken=taken) or today
    free = free_slots(day, now, hours, booked)
    answer: Result = {
        "date": day.isoformat(),
        "day": say_day(day, today),
        "time_zone": hours.zone.key,
        "slots": [{"slot_start": local_iso(s, hours.zone), "slot_start_utc": utc_iso(s),
                   "time": say_time(s, hours.zone)} for s in free],
        "your_callbacks": [_listed(doc, now, hours, bool(ctx.verified)) for doc in mine],
    }  # fmt: skip
    if day in taken:
        answer["already_scheduled"] = _already_message(taken[day], now, hours)
    if not free:
        answer["why_none"] = why_no_slots(day, now, hours)
    if not free or day in taken:
        later = first_day_with_room(now, hours, booked, after=day, taken=taken)
        if later is not None:
            answer["next_day_with_slots"] = {"date": later.isoformat(),
                                             "day": say_day(later, today)}  # fmt: skip
    return answer


@tool(
    "schedule_callback",
    "Book a callback for the customer at a free time from list_callback_slots: a colleague "
    "will phone them on the number on their account. Confirm the time with the customer "
    "first. One callback per customer per day. Tell them the day and time it answers, and "
    "the last digits of the number we will call.",
    params=(
        StringParam(
            "slot_start",
            'The slot_start of a free slot exactly as list_callback_slots gave it, like '
            '"2026-12-03T10:30+05:30".',
            max_length=40,
        ),
        StringParam("reason", "What the colleague should call about, in a short sentence.",
                    max_length=500),
        # A misheard or empty id must not cost the customer the booking (_own_ticket).
        StringParam("ticket_id", "The ticket escalate_to_human opened in this call, if any.",
                    required=False, max_length=32, unusable_is_absent=True),
    ),  # fmt: skip
    access=Access.IDENTIFIED,
)
async def schedule_callback(
    ctx: ToolContext, slot_start: str, reason: str, ticket_id: str | None
) -> Result:
    user_id = ctx.identified()
    hours, now = Hours.from_settings(), _now()
    try:
        start = parse_slot_start(slot_start, hours.zone)
    except ValueError as error:
        raise invalid(f"slot_start: {error}") from None
    problem = slot_problem(start, now, hours)
    if problem is not None:
        raise ToolError(Reason.SLOT_UNAVAILABLE, problem_message(problem, start, hours))
    db = mongo.async_db()
    customer, ticket = await asyncio.gather(
        db.customers.find_one({"user_id": user_id}, {"_id": 0, "phone": 1}),
        _own_ticket(user_id, ticket_id, ctx.call_id),
    )
    phone = str((customer or {}).get("phone") or "")
    if not phone:
        raise ToolError(Reason.NOT_FOUND, NO_PHONE_MESSAGE)
    callback = {
        "user_id": user_id,
        "phone": phone,
        "slot_start": start,
        "local_date": local_date(start, hours.zone).isoformat(),
        "reason": reason,
        "status": booking.SCHEDULED,
        "call_id": ctx.call_id,
        "ticket_id": ticket,
        "assignee": None,
        "created_at": now,
        "dialled_at": None,
        "call_sid": "",
        "closed_at": None,
    }
    try:
        booked = await booking.book(db, callback, hours.capacity)
    except booking.AlreadyScheduled as already:
        if already.existing is not None and already.existing["slot_start"] == start:
            # This very booking, asked for again (the model retried): it stands.
            confirmed = _confirmed(already.existing, now, hours, bool(ctx.verified))
            return {**confirmed, "already_booked": True}
        message = _already_message(already.existing, now, hours)
        raise ToolError(Reason.ALREADY_SCHEDULED, message) from None
    except booking.SlotTaken:
        raise ToolError(
            Reason.SLOT_UNAVAILABLE, problem_message(SlotProblem.FULL, start, hours)
        ) from None
    return _confirmed(booked, now, hours, bool(ctx.verified))


def _confirmed(doc: Document, now: datetime, hours: Hours, verified: bool) -> Result:
    """schedule_callback's answer for the booked callback `doc`."""
    return {
        **_booked(doc, now, hours, verified),
        "number_ending": str(doc.get("phone", ""))[-4:],
        "status": booking.SCHEDULED,
        "ticket_id": doc.get("ticket_id"),
    }


@tool(
    "cancel_callback",
    "Cancel one of the customer's booked callbacks, by the callback id that "
    "list_callback_slots or schedule_callback gave. Confirm with the customer first.",
    params=(
        StringParam("callback_id", "The callback id, like CBK-7KQ2XD.", max_length=20,
                    check=booking.clean_callback_id),
    ),  # fmt: skip
    access=Access.IDENTIFIED,
)
async def cancel_callback(ctx: ToolContext, callback_id: str) -> Result:
    hours, now = Hours.from_settings(), _now()
    try:
        cancelled = await booking.cancel(
            mongo.async_db(), user_id=ctx.identified(), callback_id=callback_id, now=now
        )
    except booking.CallUnderway as underway:
        raise invalid(UNDERWAY_MESSAGES[underway.state]) from None
    except booking.NotCancellable as refused:
        if refused.current is None:
            raise ToolError(
                Reason.NOT_FOUND, "I couldn't find a callback with that id on your account."
            ) from None
        raise invalid(
            f"That callback is already {refused.current['status']}: there is nothing to cancel."
        ) from None
    return {**_booked(cancelled, now, hours, bool(ctx.verified)), "status": cancelled["status"]}


# --- Small helpers ---------------------------------------------------------------------------


def _booked(doc: Document, now: datetime, hours: Hours, verified: bool) -> Result:
    """One of the customer's callbacks as the model may tell it. Its reason waits until a
    phone caller is verified: written in an earlier call, it may name the restaurant or the
    amount of an order, which is what verify_caller asks for."""
    return {
        "callback_id": doc["callback_id"],
        "slot_start": local_iso(doc["slot_start"], hours.zone),
        "slot_start_utc": utc_iso(doc["slot_start"]),
        "when": say_when(doc["slot_start"], now, hours.zone),
        **({"reason": doc.get("reason", "")} if verified else {}),
    }


def _day_held(doc: Document) -> date:
    """The local day a scheduled callback holds (the one-a-day index's `local_date`)."""
    return date.fromisoformat(doc["local_date"])


def _listed(doc: Document, now: datetime, hours: Hours, verified: bool) -> Result:
    """One of the customer's callbacks in list_callback_slots: `overdue` once its slot ended
    with no call closing it (staff may yet call; it still holds its day)."""
    overdue = doc["slot_start"] + SLOT_LENGTH <= now
    return {**_booked(doc, now, hours, verified), **({"overdue": True} if overdue else {})}


def _already_message(existing: Document | None, now: datetime, hours: Hours) -> str:
    booked = "a callback that day"
    if existing is not None:
        when = say_when(existing["slot_start"], now, hours.zone)
        booked = f"a callback {when} ({existing['callback_id']})"
    return (
        f"The customer already has {booked}; it's one callback a day. Offer another day, or "
        "to cancel that one first."
    )


async def _own_ticket(user_id: int, ticket_id: str | None, call_id: str) -> str | None:
    """`ticket_id` if it is one of the customer's tickets (never another customer's). Else,
    without one or with one misheard, the ticket the agent opened in this call, if any and not
    resolved: the callback it offers when nobody could join is that escalation's, whether or
    not the model repeats its id right. Else None: a bad id never stops the booking."""
    db = mongo.async_db()
    if ticket_id is not None:
        named = await db.escalations.find_one(
            {"ticket_id": ticket_id.strip().upper(), "user_id": user_id},
            {"_id": 0, "ticket_id": 1},
        )  # fmt: skip
        if named is not None:
            return str(named["ticket_id"])
    found = await db.escalations.find_one(
        {"call_id": call_id, "user_id": user_id, "origin": escalations.AGENT,
         "status": {"$ne": "resolved"}},
        {"_id": 0, "ticket_id": 1}, sort=[("created_at", -1)],
    )  # fmt: skip
    return str(found["ticket_id"]) if found else None


def _end_of(day: date, hours: Hours) -> datetime:
    """The UTC instant the local `day` ends."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=hours.zone).astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)
