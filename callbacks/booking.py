"""Booking and cancelling callbacks on the voice path (async, raw PyMongo).

The rules that need no database are in callbacks/slots.py; the two that do are held by unique
indexes (migration 0001), so they hold whoever books at the same moment:

* a booking is ONE insert that takes a seat in its slot: `(slot_start, seat)` is unique among
  scheduled callbacks, so with capacity 2 the inserts for seats 1 and 2 succeed once each and
  every other booking of that slot fails with a duplicate key;
* `(user_id, local_date)` is unique among scheduled callbacks: one a day per customer.

After CALLBACK_SLOT_CAPACITY is lowered, bookings made before may hold seats above it: a
booking then counts its slot after its insert, and withdraws if the slot holds too many.

Cancelling sets the status to `cancelled`, which takes the callback out of both indexes and
frees its seat and its day.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime
from enum import Enum

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from callbacks.models import CallbackStatus
from realtime.phone.twilio_rest import DIAL_ANSWER_WINDOW
from support.ids import ATTEMPTS, new_id
from support.mongo import Document

PREFIX = "CBK"
SCHEDULED = CallbackStatus.SCHEDULED.value
CANCELLED = CallbackStatus.CANCELLED.value
SEAT_INDEX = "callbacks_slot_seat"
DAY_INDEX = "callbacks_customer_day"
ID_INDEX = "callback_id"
# Reading a callback and cancelling it as read, again if it changed in between (a dial).
CANCEL_ATTEMPTS = 3
_SPOKEN_ID = re.compile(rf"{PREFIX}-?([A-Z0-9]{{6}})")


class SlotTaken(Exception):
    """Every seat of the slot is booked."""


class AlreadyScheduled(Exception):
    """The customer has a scheduled callback that local day: `existing` is it (its
    `callback_id` and `slot_start`), or None if it was cancelled the moment after."""

    def __init__(self, existing: Document | None) -> None:
        super().__init__(existing["callback_id"] if existing else "cancelled meanwhile")
        self.existing = existing


class DialState(Enum):
    """Where staff's "Call now" on a callback stands, as the customer's cancellation sees it."""

    NONE = "none"  # never dialled, or the phone stopped ringing (answered or not)
    RINGING = "ringing"  # the customer's phone may be ringing now
    ON_CALL = "on_call"  # the customer is on the call it dialled


class CallUnderway(Exception):
    """Staff are calling the customer about this callback: `state` says whether their phone
    may be ringing (DialState.RINGING) or they are on the call (DialState.ON_CALL)."""

    def __init__(self, current: Document, state: DialState) -> None:
        super().__init__(f"{current['callback_id']}: {state.value}")
        self.current = current
        self.state = state


class NotCancellable(Exception):
    """No such callback for this customer (`current` None), or it is done or missed."""

    def __init__(self, current: Document | None) -> None:
        super().__init__(current["status"] if current else "not found")
        self.current = current


def clean_callback_id(spoken: str) -> str:
    """A callback id as the model may pass it ("cbk 7kq2xd", "CBK7KQ2XD"): "CBK-7KQ2XD".

    Raises ValueError for anything else.
    """
    squeezed = "".join(spoken.upper().split())
    match = _SPOKEN_ID.fullmatch(squeezed)
    if match is None:
        raise ValueError(f"a callback id looks like {PREFIX}-7KQ2XD")
    return f"{PREFIX}-{match.group(1)}"


async def slot_counts(
    db: AsyncDatabase[Document], since: datetime, until: datetime
) -> Counter[datetime]:
    """How many scheduled callbacks each slot starting in [since, until) holds."""
    counts: Counter[datetime] = Counter()
    query = {"status": SCHEDULED, "slot_start": {"$gte": since, "$lt": until}}
    async for doc in db.callbacks.find(query, {"_id": 0, "slot_start": 1}):
        counts[doc["slot_start"]] += 1
    return counts


async def upcoming(db: AsyncDatabase[Document], user_id: int, since: date) -> list[Document]:
    """The customer's scheduled callbacks on local days from `since` on, earliest first: the
    days they hold (one a day). An overdue one not yet closed still holds its day, so it is
    one of them: staff may yet call, and the customer may cancel it."""
    return (
        await db.callbacks.find(
            {"user_id": user_id, "status": SCHEDULED, "local_date": {"$gte": since.isoformat()}},
            {"_id": 0, "callback_id": 1, "slot_start": 1, "local_date": 1, "reason": 1},
        )
        .sort("slot_start", 1)
        .to_list()
    )


async def book(db: AsyncDatabase[Document], callback: Document, capacity: int) -> Document:
    """Insert `callback` (every field but `callback_id` and `seat`) into the first free seat
    of its slot; answers it with both set.

    Raises AlreadyScheduled when the customer has a callback that local day, SlotTaken when
    the slot holds `capacity` scheduled callbacks.
    """
    existing = await _scheduled_that_day(db, callback)
    if existing is not None:
        raise AlreadyScheduled(existing)
    # Bookings made before the capacity was lowered may hold seats above it; each takes a
    # place below it, so bookings racing for what is left try the same seats and clash there.
    above = await _held(db, callback["slot_start"], {"seat": {"$gt": capacity}})
    for seat in range(1, capacity - above + 1):
        try:
            booked = await _insert_with_fresh_id(db, {**callback, "seat": seat})
        except DuplicateKeyError as clash:
            index = _index_of(clash)
            if index == DAY_INDEX:  # booked meanwhile, in another call of theirs
                raise AlreadyScheduled(await _scheduled_that_day(db, callback)) from None
            if index != SEAT_INDEX:
                raise
            continue  # that seat is taken: try the next
        if await _held(db, callback["slot_start"]) > capacity:
            # Over all the same: older bookings also hold seats just below the capacity
            # (seats 2 and 3 of a slot lowered to 2), or a process still on a higher capacity
            # booked meanwhile. Each booking counts after its own insert, so of bookings racing
            # for the last place the one that counts last sees them all: they never all stand.
            await db.callbacks.delete_one({"callback_id": booked["callback_id"]})
            break
        return booked
    existing = await _scheduled_that_day(db, callback)
    if existing is not None and existing["slot_start"] == callback["slot_start"]:
        raise AlreadyScheduled(existing)  # this very booking, by another call of theirs
    raise SlotTaken()


async def _held(
    db: AsyncDatabase[Document], slot_start: datetime, where: Document | None = None
) -> int:
    """How many scheduled callbacks the slot starting at `slot_start` holds (`where` so)."""
    return await db.callbacks.count_documents(
        {"slot_start": slot_start, "status": SCHEDULED, **(where or {})}
    )


async def cancel(
    db: AsyncDatabase[Document], *, user_id: int, callback_id: str, now: datetime
) -> Document:
    """Cancel the customer's scheduled callback; cancelling it again is answered the same.

    Raises NotCancellable for another customer's or an unknown id, or one done or missed;
    CallUnderway while staff's "Call now" may be ringing the customer or they are on the call
    it dialled (staff may not close it then either: callbacks/desk.py). Cancelled then, the
    customer picking up would hear that we could not connect them.
    """
    scoped = {"callback_id": callback_id, "user_id": user_id}
    current = await db.callbacks.find_one(scoped)
    for _ in range(CANCEL_ATTEMPTS):
        if current is None or current["status"] != SCHEDULED:
            break
        answered = str(current.get("answered_call_id") or "")
        state = dial_state(
            current.get("dialled_at"),
            answered,
            await _call_live(db, answered),
            str(current.get("dial_status") or ""),
            now,
        )
        if state is not DialState.NONE:
            raise CallUnderway(current, state)
        # Cancelled only as it was read: a dial or an answer meanwhile changes one of these.
        done = await db.callbacks.find_one_and_update(
            {**scoped, "status": SCHEDULED, "dialled_at": current.get("dialled_at"),
             "answered_call_id": answered or {"$in": [None, ""]}},
            {"$set": {"status": CANCELLED, "closed_at": now}},
            return_document=ReturnDocument.AFTER,
        )  # fmt: skip
        if done is not None:
            return done
        current = await db.callbacks.find_one(scoped)  # as it is now
    if current is None or current["status"] not in (SCHEDULED, CANCELLED):
        raise NotCancellable(current)
    if current["status"] == SCHEDULED:  # dialled again each time between reading and cancelling
        raise CallUnderway(current, DialState.RINGING)
    return current


def dial_state(
    dialled_at: datetime | None,
    answered_call_id: str,
    answered_call_live: bool,
    dial_status: str,
    now: datetime,
) -> DialState:
    """Where staff's "Call now" stands for the customer; pure. A dial may ring for
    DIAL_ANSWER_WINDOW unless the customer answered it, or Twilio said how it ended unanswered
    (`dial_status`: busy, say). callbacks/desk.py clears both on each dial, so they are always
    the latest dial's."""
    if answered_call_id and answered_call_live:
        return DialState.ON_CALL
    ringing = dialled_at is not None and now - dialled_at < DIAL_ANSWER_WINDOW
    if ringing and not answered_call_id and not dial_status:
        return DialState.RINGING
    return DialState.NONE


async def _call_live(db: AsyncDatabase[Document], call_id: str) -> bool:
    if not call_id:
        return False
    return await db.calls.find_one({"call_id": call_id, "ended_at": None}, {"_id": 1}) is not None


async def _insert_with_fresh_id(db: AsyncDatabase[Document], callback: Document) -> Document:
    """Insert under a new callback id, drawing again on the rare clash of ids."""
    for _ in range(ATTEMPTS - 1):
        try:
            return await _insert(db, callback)
        except DuplicateKeyError as clash:
            if _index_of(clash) != ID_INDEX:
                raise
    return await _insert(db, callback)


async def _insert(db: AsyncDatabase[Document], callback: Document) -> Document:
    doc = {"callback_id": new_id(PREFIX), **callback}
    await db.callbacks.insert_one(doc)
    return doc


async def _scheduled_that_day(db: AsyncDatabase[Document], callback: Document) -> Document | None:
    return await db.callbacks.find_one(
        {"user_id": callback["user_id"], "local_date": callback["local_date"],
         "status": SCHEDULED},
        {"_id": 0, "callback_id": 1, "slot_start": 1, "reason": 1, "phone": 1, "ticket_id": 1},
    )  # fmt: skip


def _index_of(clash: DuplicateKeyError) -> str:
    """Which unique index refused an insert: by its key pattern, else by name in the message."""
    details = clash.details or {}
    keys = set(details.get("keyPattern") or {})
    if keys == {"slot_start", "seat"}:
        return SEAT_INDEX
    if keys == {"user_id", "local_date"}:
        return DAY_INDEX
    message = str(details.get("errmsg", clash))
    for name in (SEAT_INDEX, DAY_INDEX):
        if name in message:
            return name
    return ID_INDEX


async def dialled_callback(
    db: AsyncDatabase[Document], callback_id: str, call_sid: str, dialled_since: datetime
) -> Document | None:
    """The scheduled callback that staff dialled as Twilio call `call_sid`, or None: how the
    stream of a call we placed is matched to its callback (realtime/phone/outbound.py).

    A dial since `dialled_since` still waiting for its SID is that call too, and records it:
    Twilio's answer to the dial may come after the customer's (they picked up at once), or
    never (it timed out: callbacks/desk.py keeps such a dial reserved). The stream's signed,
    single-use token names the callback, and only the TwiML of our dial carried it."""
    return await db.callbacks.find_one_and_update(
        {
            "callback_id": callback_id,
            "status": SCHEDULED,
            "$or": [
                {"call_sid": call_sid},
                {"call_sid": {"$in": [None, ""]}, "dialled_at": {"$gte": dialled_since}},
            ],
        },
        {"$set": {"call_sid": call_sid}},
        projection={"_id": 0},
        return_document=ReturnDocument.AFTER,
    )
