"""Escalation tickets: opened by the voice agent (or the bridge when the model is gone),
worked by staff (claim, assign, add a note, resolve).

`open_escalation` is the one way a ticket comes to be, for the agent's tool, the bridge's
give-up path and the phone line alike; it also puts the ticket on every open queue page.

Each change is ONE conditional update on the ticket's document (`find_one_and_update` with the
expected state in the filter), so two people acting at once cannot both win: MongoDB applies
the first, the second finds the filter no longer matches and is told why (who has it, or that
it is resolved). No transaction is needed because every change touches one document.

Callers (admin actions, staff views) catch `TicketError` and show its message.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from postcall import metrics
from support import mongo
from support.events import (
    announce_escalation,
    announce_live_call_ended,
    announce_ticket_change,
    announce_ticket_changed,
    tell_call_ticket_resolved,
)
from support.ids import clash_on, insert_with_fresh_id
from support.models import Escalation, EscalationStatus, Priority
from support.mongo import Document, sync_db
from support.staff.people import staff_names

log = logging.getLogger(__name__)

OPEN = EscalationStatus.OPEN.value
CLAIMED = EscalationStatus.CLAIMED.value
RESOLVED = EscalationStatus.RESOLVED.value

MAX_NOTE_LENGTH = 5000


class TicketError(Exception):
    """A ticket change that did not happen; `message` says why, for a person to read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TicketNotFound(TicketError):
    pass


class TicketTaken(TicketError):
    """Someone else holds the ticket; `assignee` is who."""

    def __init__(self, ticket_id: str, assignee: str) -> None:
        name = staff_names().get(assignee, assignee)  # as colleagues know them
        super().__init__(f"Ticket {ticket_id} is already claimed by {name}.")
        self.assignee = assignee


class TicketResolved(TicketError):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"Ticket {ticket_id} is already resolved.")


def _collection() -> Any:
    return sync_db()[Escalation._meta.db_table]


# On a ticket: the one-time keys of the note forms whose notes it holds (add_note). Beside the
# notes rather than in them, which the ORM reads as EscalationNote.
NOTE_KEYS = "note_keys"


def _note(author: str, text: str) -> Document:
    # Same shape as EscalationNote, so the ORM reads notes written here.
    return {"author": author, "text": text, "at": timezone.now()}


def _update(ticket_id: str, expected: Document, update: Document) -> Escalation:
    """Apply `update` only if the ticket still matches `expected`; else explain why not.

    A ticket that leaves the open queue here (claimed, assigned or resolved straight away)
    ends the customer's wait for a person: it is observed as the operators' queue waiting
    time (`voice_escalation_wait_seconds`), once per ticket, as the ticket is never open again.
    """
    before = _collection().find_one_and_update(
        {"ticket_id": ticket_id, **expected}, update, return_document=ReturnDocument.BEFORE
    )
    if before is None:
        raise _why_not(ticket_id)
    changes = update.get("$set")
    if changes:  # a note alone does not move the ticket in any queue
        # What the announcement carries changes by $set alone: the document as now stored.
        announce_ticket_change({**before, **changes})
        if before.get("status") == OPEN and changes.get("status", OPEN) != OPEN:
            metrics.escalation_claimed(before["created_at"], timezone.now())
    return Escalation.objects.get(ticket_id=ticket_id)


def _why_not(ticket_id: str) -> TicketError:
    current = _collection().find_one({"ticket_id": ticket_id}, {"status": 1, "assignee": 1})
    if current is None:
        return TicketNotFound(f"There is no ticket {ticket_id}.")
    if current.get("status") == RESOLVED:
        return TicketResolved(ticket_id)
    if current.get("assignee"):
        return TicketTaken(ticket_id, current["assignee"])
    return TicketError(f"Ticket {ticket_id} changed meanwhile; reload and try again.")


def claim(ticket_id: str, username: str) -> Escalation:
    """Take an open ticket. Claiming a ticket you already hold is a no-op, not an error."""
    try:
        return _update(
            ticket_id,
            {"status": OPEN},
            {"$set": {"status": CLAIMED, "assignee": username}},
        )
    except TicketTaken as taken:
        if taken.assignee == username:
            return Escalation.objects.get(ticket_id=ticket_id)
        raise


def assign(ticket_id: str, assignee: str, by: str) -> Escalation:
    """Give an unresolved ticket to `assignee` (taking it from whoever had it), noting who did."""
    if not assignee:
        raise TicketError("Choose someone to assign the ticket to.")
    return _update(
        ticket_id,
        {"status": {"$ne": RESOLVED}},
        {
            "$set": {"status": CLAIMED, "assignee": assignee},
            "$push": {"notes": _note(by, f"Assigned to {assignee}.")},
        },
    )


def set_priority(ticket_id: str, priority: str) -> Escalation:
    """Change a ticket's priority (the admin's change form), whatever its state: the open
    queue pages move it to its new place."""
    if priority not in Priority.values:
        raise TicketError(f"There is no priority {priority!r}.")
    return _update(ticket_id, {}, {"$set": {"priority": priority}})


def add_note(ticket_id: str, author: str, text: str, *, key: str = "") -> Escalation:
    """Append a note (allowed on resolved tickets too: follow-ups happen). `key`, the note
    form's one-time key: the same form sent again (a double click) adds nothing more, in one
    conditional write (the ticket keeps the keys of its notes in NOTE_KEYS)."""
    text = text.strip()
    if not text:
        raise TicketError("A note cannot be empty.")
    if len(text) > MAX_NOTE_LENGTH:
        raise TicketError(f"A note can be at most {MAX_NOTE_LENGTH} characters.")
    if not key:
        return _update(ticket_id, {}, {"$push": {"notes": _note(author, text)}})
    try:
        return _update(ticket_id, {NOTE_KEYS: {"$ne": key}},
                       {"$push": {"notes": _note(author, text), NOTE_KEYS: key}})  # fmt: skip
    except TicketError:
        if _collection().count_documents({"ticket_id": ticket_id, NOTE_KEYS: key}, limit=1):
            return Escalation.objects.get(ticket_id=ticket_id)  # added by its first sending
        raise


def resolve(ticket_id: str, username: str, note: str = "") -> Escalation:
    """Close a ticket that is open or held by `username`.

    A ticket someone else holds must be reassigned to you first (TicketTaken says who has it).
    A warm escalation's call no longer waits for a colleague once its ticket is resolved.
    """
    update: Document = {"$set": {
        "status": RESOLVED, "assignee": username, "resolved_at": timezone.now(), "live": False,
    }, "$unset": {LIVE_CALL_ID: ""}}  # fmt: skip
    if note.strip():
        update["$push"] = {"notes": _note(username, note.strip()[:MAX_NOTE_LENGTH])}
    ticket = _update(
        ticket_id,
        {"$or": [{"status": OPEN}, {"status": CLAIMED, "assignee": username}]},
        update,
    )
    if ticket.call_id:
        _tell_its_call(ticket.call_id, ticket_id)
    return ticket


def _tell_its_call(call_id: str, ticket_id: str) -> None:
    # The call names its warm escalation on the live pages until told; wherever it is carried.
    # The ticket is resolved already: a database error here must not say it was not.
    try:
        call = sync_db().calls.find_one({"call_id": call_id, "ended_at": None}, {"carrier": 1})
    except PyMongoError as error:
        log.warning("ticket %s resolved; could not tell its call %s: %r", ticket_id, call_id,
                    error)  # fmt: skip
        return
    if call is not None and call.get("carrier"):
        tell_call_ticket_resolved(str(call["carrier"]), call_id, ticket_id)


# --- Opening a ticket (the voice path: async, raw PyMongo) ------------------------------------

# A call whose model link fails opens a ticket for staff; a customer whose calls keep failing
# (or a script doing it on purpose) gets one such ticket, not one per call.
AGENT = "agent"  # the model's escalate_to_human: a warm escalation while its call is up
AGENT_UNAVAILABLE = "agent_unavailable"
# The call_id a ticket carries only while it is that call's warm escalation (`live`), under a
# unique index (migration 0014): one warm escalation a call, however many are asked at once.
# Every write that ends `live` removes it.
LIVE_CALL_ID = "live_call_id"
REUSE_WINDOW = timedelta(minutes=30)

# Why the model's session was lost for good (realtime.live_client.Failed.reason), in the words
# the ticket it opens gives staff on the queue; the code itself is in the log.
LOST_MODEL_WORDS = {
    "upstream_unavailable": "the AI service stopped answering",
    "not_permitted": "the AI service refused our key or model",
    "invalid_request": "the AI service refused the call's set-up",
    "stalled": "the AI service stalled and did not come back",
}
LOST_MODEL = "The voice agent became unavailable during the call"
# The reason such a ticket was given before its failure was worded (until 2026-12-05): the code.
_LOST_MODEL_CODED = re.compile(re.escape(LOST_MODEL) + r" \(([a-z_]+)\)\.")


def lost_model_reason(failure: str) -> str:
    """The reason of the ticket a call opens when its model is lost for good with `failure`."""
    why = LOST_MODEL_WORDS.get(failure)
    return LOST_MODEL + (f" ({why})." if why else ".")


def reason_in_words(reason: str) -> str:
    """A ticket's reason as staff pages show it: one stored with the bridge's failure code
    (a ticket from before the codes were worded) in the words a new one would have. The
    stored reason is left as it is (the admin shows it)."""
    coded = _LOST_MODEL_CODED.fullmatch(reason)
    return lost_model_reason(coded.group(1)) if coded else reason


async def open_escalation(
    *,
    user_id: int | None,
    call_id: str,
    reason: str,
    priority: str,
    order_id: str | None = None,
    origin: str = AGENT,
    announce: bool = True,
) -> str:
    """Open a ticket for the staff queue, tell every open queue page, answer its ticket_id.

    `origin` says who opened it: "agent" (the model's escalate_to_human: a warm escalation,
    `live` while its call is up), AGENT_UNAVAILABLE (the bridge, when the model is gone), which
    reuses an open ticket of the same customer from the last REUSE_WINDOW instead of opening
    another, or support.refunds' REFUND_UNCONFIRMED (a refund whose outcome is unknown). With
    `announce` False the caller announces it later (support.events.announce_escalation).
    A call has one warm escalation: the agent asking again while its call waits for a
    colleague answers that ticket, with the new reason as a note and the higher priority, also
    when asked several times at once (the unique index on LIVE_CALL_ID settles which one
    opens it).
    Raises PyMongoError when the database cannot be reached.
    """
    db = mongo.async_db()
    now = timezone.now()
    if origin == AGENT:
        waiting = await _asked_again(call_id, reason, priority, order_id)
        if waiting is not None:
            return waiting
    if origin == AGENT_UNAVAILABLE and user_id is not None:
        existing = await db.escalations.find_one(
            {"user_id": user_id, "origin": origin, "status": OPEN,
             "created_at": {"$gte": now - REUSE_WINDOW}},
            {"_id": 0, "ticket_id": 1},
        )  # fmt: skip
        if existing is not None:
            return str(existing["ticket_id"])
    ticket: Document = {
        "user_id": user_id,
        "order_id": order_id,
        "reason": reason,
        "priority": priority,
        "status": OPEN,
        "assignee": None,
        "notes": [],
        "call_id": call_id,
        "origin": origin,
        # Warm escalation (contract section 8): the call is up and a colleague can join it.
        "live": origin == AGENT,
        **({LIVE_CALL_ID: call_id} if origin == AGENT else {}),
        "created_at": now,
        "resolved_at": None,
    }
    try:
        ticket_id = await insert_with_fresh_id(db.escalations, "ticket_id", "TKT", ticket)
    except DuplicateKeyError as clash:
        # The same call's warm escalation got in first, asked at the same moment (the model's
        # parallel calls): LIVE_CALL_ID's unique index keeps one live ticket a call.
        if origin != AGENT or not clash_on(clash, LIVE_CALL_ID):
            raise
        waiting = await _asked_again(call_id, reason, priority, order_id)
        if waiting is None:  # resolved meanwhile: nothing left to clash with
            return await open_escalation(
                user_id=user_id, call_id=call_id, reason=reason, priority=priority,
                order_id=order_id, origin=origin, announce=announce,
            )  # fmt: skip
        return waiting
    if announce:
        await announce_escalation({"ticket_id": ticket_id, **ticket})
    return ticket_id


_PRIORITIES = [p.value for p in Priority]  # lowest first
# Who wrote the notes the agent adds: no staff username can be it (Django's have no spaces).
VOICE_AGENT = "Voice agent"


async def _asked_again(
    call_id: str, reason: str, priority: str, order_id: str | None
) -> str | None:
    """The ticket of `call_id`'s warm escalation in progress, told the customer asked again
    (None when there is none). Its priority only goes up: a lead may have raised it. An order
    named now is the ticket's order if it had none yet (the first ask may not have named it),
    else it is named in the note."""
    db = mongo.async_db()
    live = {"call_id": call_id, "live": True, "status": {"$ne": RESOLVED}}
    ticket = await db.escalations.find_one(
        live, {"_id": 0, "ticket_id": 1, "priority": 1, "order_id": 1},
        sort=[("created_at", -1)],
    )  # fmt: skip
    if ticket is None:
        return None
    about = ticket.get("order_id")
    said = f" (about {order_id})" if order_id is not None and about not in (None, order_id) else ""
    asked = _note(VOICE_AGENT, f"The customer asked again{said}: {reason}")
    update: Document = {"$push": {"notes": asked}}
    changes: Document = {}
    current = str(ticket.get("priority") or "normal")
    rank = _PRIORITIES.index
    if priority in _PRIORITIES and current in _PRIORITIES and rank(priority) > rank(current):
        changes["priority"] = priority
    if order_id is not None and about is None:
        changes["order_id"] = order_id
    if changes:
        update["$set"] = changes
    changed = await db.escalations.find_one_and_update(
        {"ticket_id": ticket["ticket_id"]}, update, return_document=ReturnDocument.AFTER
    )
    if changed is not None and changes:
        await announce_ticket_changed(changed)
    return str(ticket["ticket_id"])


async def end_live_escalation(call_id: str) -> None:
    """The call of a warm escalation ended: its ticket waits in the queue like any other (the
    queue pages are told, so that its "Join call" goes)."""
    db = mongo.async_db()
    tickets = await db.escalations.find({"call_id": call_id, "live": True}).to_list(None)
    if not tickets:
        return
    await db.escalations.update_many(
        {"call_id": call_id, "live": True},
        {"$set": {"live": False}, "$unset": {LIVE_CALL_ID: ""}},
    )
    for ticket in tickets:
        await announce_live_call_ended(ticket)


@dataclass(frozen=True)
class LiveEscalation:
    """A warm escalation in progress, as a process taking its call over needs it."""

    ticket_id: str
    opened_at: datetime
    joined: bool  # a colleague took the call over already


async def live_escalation_of(call_id: str) -> LiveEscalation | None:
    """The call's warm escalation in progress, if any. Raises PyMongoError."""
    ticket = await mongo.async_db().escalations.find_one(
        {"call_id": call_id, "live": True},
        {"_id": 0, "ticket_id": 1, "created_at": 1, "joined_by": 1},
        sort=[("created_at", -1)],
    )
    if ticket is None:
        return None
    return LiveEscalation(
        ticket_id=str(ticket["ticket_id"]),
        opened_at=ticket["created_at"],
        joined=ticket.get("joined_by") is not None,
    )


async def join_live_escalation(ticket_id: str, username: str, join_id: str) -> None:
    """A colleague took over the call of a warm escalation: the customer's wait for a person
    is over. The ticket keeps who joined (`joined_by`, `joined_at`, and a note; the briefings
    say so from then on) and goes to them if nobody had claimed it, which ends its queue
    waiting time as a claim does. Only the first colleague to join counts: the one the
    customer met. Raises PyMongoError when the database cannot be reached.

    `join_id` names this join: a try again after one whose answer never came (a frozen
    database applies it later) passes the same, and finds the claim that try made its own,
    counted and announced as any claim."""
    db = mongo.async_db()
    now = timezone.now()
    # The claim first: once `joined_by` is there, the ticket's owner is settled too.
    claimed = await db.escalations.find_one_and_update(
        {"ticket_id": ticket_id,
         "$or": [{"status": OPEN, "joined_by": None},
                 {"status": CLAIMED, "assignee": username, "join_claim": join_id}]},
        {"$set": {"status": CLAIMED, "assignee": username, "join_claim": join_id}},
        return_document=ReturnDocument.AFTER,
    )  # fmt: skip
    await db.escalations.update_one(
        {"ticket_id": ticket_id, "joined_by": None},
        {"$set": {"joined_by": username, "joined_at": now},
         "$push": {"notes": _note(username, "Joined the call and took over from the agent.")}},
    )  # fmt: skip
    if claimed is not None:
        metrics.escalation_claimed(claimed["created_at"], now)
        await announce_ticket_changed(claimed)
