"""Booking and cancelling callbacks on the voice path (async, raw PyMongo).

The rules that need no database are in callbacks/slots.py; the two that do are held by unique
indexes (migration 0001), so they hold whoever books at the same moment:

* a booking is ONE insert that takes a seat in its slot: `(slot_start, seat)` is unique among
  scheduled callbacks, so with capacity 2 the inserts for seats 1 and 2 succeed once each and
  every other booking of that slot fails with a duplicate key;
* `(user_id, local_date)` is unique among scheduled callbacks: one a day per customer.

Cancelling sets the status to `cancelled`, which takes the callback out of both indexes and
frees its seat and its day.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from callbacks.models import CallbackStatus
from callbacks.slots import SLOT_LENGTH
from support.ids import ATTEMPTS, new_id
from support.mongo import Document

PREFIX = "CBK"
SCHEDULED = CallbackStatus.SCHEDULED.value
CANCELLED = CallbackStatus.CANCELLED.value
SEAT_INDEX = "callbacks_slot_seat"
DAY_INDEX = "callbacks_customer_day"
ID_INDEX = "callback_id"
_SPOKEN_ID = re.compile(rf"{PREFIX}-?([A-Z0-9]{{6}})")


class SlotTaken(Exception):
    """Every seat of the slot is booked."""


class AlreadyScheduled(Exception):
    """The customer has a scheduled callback that local day: `existing` is it (its
    `callback_id` and `slot_start`), or None if it was cancelled the moment after."""

    def __init__(self, existing: Document | None) -> None:
        super().__init__(existing["callback_id"] if existing else "cancelled meanwhile")
        self.existing = existing


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


async def upcoming(db: AsyncDatabase[Document], user_id: int, now: datetime) -> list[Document]:
    """The customer's scheduled callbacks whose slot has not ended, earliest first."""
    return (
        await db.callbacks.find(
            {"user_id": user_id, "status": SCHEDULED, "slot_start": {"$gt": now - SLOT_LENGTH}},
            {"_id": 0, "callback_id": 1, "slot_start": 1, "reason": 1},
        )
        .sort("slot_start", 1)
        .to_list()
    )


async def book(db: AsyncDatabase[Document], callback: Document, capacity: int) -> Document:
    """Insert `callback` (every field but `callback_id` and `seat`) into the first free seat
    of its slot; answers it with both set.

    Raises AlreadyScheduled when the customer has a callback that local day, SlotTaken when
    every seat is booked.
    """
    existing = await _scheduled_that_day(db, callback)
    if existing is not None:
        raise AlreadyScheduled(existing)
    for seat in range(1, capacity + 1):
        try:
            return await _insert_with_fresh_id(db, {**callback, "seat": seat})
        except DuplicateKeyError as clash:
            index = _index_of(clash)
            if index == DAY_INDEX:  # booked meanwhile, in another call of theirs
                raise AlreadyScheduled(await _scheduled_that_day(db, callback)) from None
            if index != SEAT_INDEX:
                raise
            # That seat is taken: try the next.
    raise SlotTaken()


async def cancel(
    db: AsyncDatabase[Document], *, user_id: int, callback_id: str, now: datetime
) -> Document:
    """Cancel the customer's scheduled callback; cancelling it again is answered the same.

    Raises NotCancellable for another customer's or an unknown id, or one done or missed.
    """
    scoped = {"callback_id": callback_id, "user_id": user_id}
    done = await db.callbacks.find_one_and_update(
        {**scoped, "status": SCHEDULED},
        {"$set": {"status": CANCELLED, "closed_at": now}},
        return_document=ReturnDocument.AFTER,
    )
    if done is not None:
        return done
    current = await db.callbacks.find_one(scoped)
    if current is not None and current["status"] == CANCELLED:
        return current
    raise NotCancellable(current)


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
