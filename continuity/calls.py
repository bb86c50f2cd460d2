"""A call's shared state in its `calls` record, as the processes of a deployment see it.

The record says which process carries the call (`carrier`, that process's channel name),
the Live API's latest resumable handle (`resume_handle`), and since when no socket has
carried it (`detached_at`). Taking a call over is one conditional update, so of two processes
trying at once exactly one carries it; the process that lost it learns so at its next write
(realtime/call_record.py writes only while it is the carrier) and lets go.

    call = await find_open_call(call_id=...)      # or call_sid=... for a phone call
    if await take_over(call):                     # the old carrier is asked to let go first
        ... carry it: CallSession(resuming=call) ...

A process lets go of a call without waiting for the tools it is running: they finish there,
and their results are handed over (`hand_over`) to the process carrying the call by then,
which records them and tells its model (`take_handed_over`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pymongo
from django.conf import settings

from continuity import process
from continuity.process import WORKER, carries, is_alive, process_channel
from support import mongo
from voiceproject.messaging import send_to_channel

log = logging.getLogger(__name__)

# A carrier that has not let go of a call this long after being asked is taken to be gone
# (one that died is noticed sooner: it stops saying it is alive, continuity/process.py).
RELEASE_WAIT_S = 3.0
ASK_AGAIN_S = 1.0  # a carrier that has not let go is asked again this often (a lost message)
# A record not stamped for this long (realtime/call_record.py stamps it every 10 s at least)
# belongs to a process that is gone, and to a call nobody re-attached.
ABANDONED_AFTER = timedelta(minutes=2)
POLL_S = 0.05
SAID_LINES = 30  # lines of the conversation a fresh model session is told (StoredCall.said)
LOOKUP_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class StoredCall:
    """What a process needs to carry on a call another process began."""

    call_id: str
    user_id: int | None
    channel: str
    carrier: str | None
    resume_handle: str | None
    detached_at: datetime | None
    last_seen_at: datetime | None
    ended: bool
    verified: bool
    call_sid: str
    holder: str | None  # the staff member holding the call when it moved (username)
    held_since: datetime | None  # when they took it
    started_at: datetime | None  # when the call began: its limits count from then
    # The last lines of the conversation, (role, text), for a model session that cannot be
    # resumed (no handle yet) and starts afresh.
    said: tuple[tuple[str, str], ...] = ()
    # How many entries each list of the record holds already: the record's caps count them
    # (realtime/call_record.py), so a call moved many times is bounded like any other.
    sizes: dict[str, int] = field(default_factory=dict)
    # What the caller was told as we ended the call (a phone caller hears it from Twilio).
    farewell: str = ""
    end_reason: str = ""
    # Changed by every take-over: one that read the record before another took it over since
    # fails (even when both were this process).
    claim: str | None = None
    # Where the phone call's transfer to a person stands (realtime/transfer.py), and, for a
    # request Twilio has not answered, until when it may (CallSession.transfer_is).
    transfer: str = ""
    transfer_answer_by: datetime | None = None
    # The caller had not heard the end of what the agent said when the call was let go (it
    # went with the socket, or was said while none carried the call): the model is told.
    agent_unheard: bool = False
    # What the call had used of its limits when it was let go (the warning before its
    # maximum, check-ins, typed messages and audio allowance, as of `at`): a move gives it
    # none afresh (realtime/call_session.py writes and reads it).
    limits_used: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> StoredCall:
        return cls(
            call_id=str(doc["call_id"]),
            user_id=doc.get("user_id"),
            channel=str(doc.get("channel") or "web"),
            carrier=doc.get("carrier"),
            resume_handle=doc.get("resume_handle"),
            detached_at=doc.get("detached_at"),
            last_seen_at=doc.get("last_seen_at"),
            ended=doc.get("ended_at") is not None,
            verified=bool(doc.get("verified", doc.get("channel") != "phone")),
            call_sid=str(doc.get("call_sid") or ""),
            holder=doc.get("holder") if doc.get("mode") == "human" else None,
            held_since=doc.get("held_since") if doc.get("mode") == "human" else None,
            started_at=doc.get("started_at"),
            sizes={name: int(n) for name, n in (doc.get("sizes") or {}).items()},
            said=tuple((str(line["role"]), str(line["text"])) for line in doc.get("said") or ()),
            farewell=str(doc.get("farewell") or ""),
            end_reason=str(doc.get("end_reason") or ""),
            claim=doc.get("claim"),
            transfer=str((doc.get("transfer") or {}).get("state") or ""),
            transfer_answer_by=(
                by
                if isinstance(by := (doc.get("transfer") or {}).get("answer_by"), datetime)
                else None
            ),
            agent_unheard=bool(doc.get("agent_unheard")),
            # Only a mapping is read (_carry_on_limits): anything else is nothing known.
            limits_used=dict(used) if isinstance(used := doc.get("limits_used"), dict) else {},
        )


_FIELDS = {
    "_id": 0, "call_id": 1, "user_id": 1, "channel": 1, "carrier": 1, "resume_handle": 1,
    "detached_at": 1, "last_seen_at": 1, "ended_at": 1, "verified": 1, "call_sid": 1,
    "mode": 1, "holder": 1, "held_since": 1, "farewell": 1, "end_reason": 1, "claim": 1,
    "transfer": 1, "agent_unheard": 1, "started_at": 1, "limits_used": 1,
}  # fmt: skip


# The record's lists, counted in the database rather than read (a transcript can be megabytes).
_SIZES = {
    name: {"$size": {"$ifNull": [f"${name}", []]}}
    for name in ("transcript", "tool_calls", "staff_events", "stalls")
}


_SAID = {"$slice": [{"$ifNull": ["$transcript", []]}, -SAID_LINES]}


async def find_call(
    *, call_id: str = "", call_sid: str = "", with_sizes: bool = False
) -> StoredCall | None:
    """The call with this id (or, for a phone call, Twilio's CallSid), ended or not.

    `with_sizes` counts the record's lists too (StoredCall.sizes), and reads the end of its
    conversation (StoredCall.said), which a process resuming the call needs; a lookup of
    where the call is or whether it ended does not.
    """
    query = {"call_id": call_id} if call_id else {"call_sid": call_sid}
    if not (call_id or call_sid):
        return None
    calls = mongo.async_db().calls
    newest = {"started_at": -1}
    with pymongo.timeout(LOOKUP_TIMEOUT_S):
        if not with_sizes:
            doc = await calls.find_one(query, _FIELDS, sort=list(newest.items()))
            return StoredCall.from_document(doc) if doc else None
        cursor = await calls.aggregate([
            {"$match": query}, {"$sort": newest}, {"$limit": 1},
            {"$project": {**_FIELDS, "sizes": _SIZES, "said": _SAID}},
        ])  # fmt: skip
        found = await cursor.to_list()
    return StoredCall.from_document(found[0]) if found else None


async def correct_end_reason(call_sid: str, was: Collection[str], reason: str) -> str | None:
    """The call of Twilio's `call_sid` that ended as one of `was` turned out to have ended as
    `reason` (a transfer nobody answered): recorded. Answers its call_id if it was changed.
    Raises PyMongoError."""
    with pymongo.timeout(LOOKUP_TIMEOUT_S):
        doc = await mongo.async_db().calls.find_one_and_update(
            {"call_sid": call_sid, "end_reason": {"$in": list(was)}, "ended_at": {"$ne": None}},
            {"$set": {"end_reason": reason}}, {"_id": 0, "call_id": 1},
            sort=[("started_at", -1)],
        )  # fmt: skip
    return str(doc["call_id"]) if doc else None


async def take_over(call: StoredCall) -> bool:
    """Make this process the carrier of `call`: ask its carrier to let go, wait for it (or
    for RELEASE_WAIT_S: a carrier that does not answer is gone), then claim the call.

    False when the call ended or another process claimed it meanwhile, or when this process
    is taking it over or starting it for another socket already (the same resume token twice
    at once: the caller's next try finds it carried here). A call claimed here counts as
    starting until the session carrying it registers (continuity.process). Raises
    PyMongoError.
    """
    mine = await process_channel()
    if process.starting(call.call_id):
        return False
    process.claimed(call.call_id)  # before the claim: its answer is awaited
    taken = False
    try:
        taken = await _claim(call, mine)
    finally:
        if not taken:
            process.unclaim(call.call_id)
    return taken


async def _claim(call: StoredCall, mine: str) -> bool:
    calls = mongo.async_db().calls
    if call.carrier and call.carrier != mine:
        release = {"type": "call.release", "call_id": call.call_id}
        await send_to_channel(call.carrier, release, patience_s=0.5)
        deadline = time.monotonic() + RELEASE_WAIT_S
        asked = time.monotonic()
        while time.monotonic() < deadline:
            if time.monotonic() - asked >= ASK_AGAIN_S:
                # The ask may have been lost (a full channel, Redis failing over): until the
                # carrier lets go, its session is open, and must not be opened twice.
                await send_to_channel(call.carrier, release, patience_s=0.5)
                asked = time.monotonic()
            doc = await calls.find_one({"call_id": call.call_id}, {"carrier": 1, "ended_at": 1})
            if doc is None or doc.get("ended_at") is not None:
                return False
            if doc.get("carrier") != call.carrier:
                break  # it let go
            if not await is_alive(call.carrier):
                log.info("call %s: its carrier is gone; taking it over", call.call_id)
                break
            await asyncio.sleep(POLL_S)
        else:
            log.warning("call %s: its carrier did not let go; taking it over", call.call_id)
    # A compare-and-swap on `claim`: it always changes, so a take-over of a call this process
    # claimed already (one whose start failed here) succeeds, and of two at once only one does.
    claimed = await calls.update_one(
        {"call_id": call.call_id, "ended_at": None, "carrier": {"$in": [call.carrier, None]},
         "claim": call.claim},
        {"$set": {"carrier": mine, "worker": WORKER, "detached_at": None,
                  "claim": uuid.uuid4().hex, "end_reason_if_left": None}},
    )  # fmt: skip
    return claimed.modified_count == 1


async def hand_over(call_id: str, tool_calls: list[dict[str, Any]]) -> None:
    """Tool calls this process finished after the call moved away: left on the record for
    the process carrying the call now, which is told to take them. A call that ended
    meanwhile gets them in its record's tool calls. Raises PyMongoError."""
    calls = mongo.async_db().calls
    with pymongo.timeout(LOOKUP_TIMEOUT_S):
        doc = await calls.find_one_and_update(
            {"call_id": call_id, "ended_at": None},
            {"$push": {"handed_over": {"$each": tool_calls}}},
            {"_id": 0, "carrier": 1},
        )
        if doc is None:
            await calls.update_one(
                {"call_id": call_id}, {"$push": {"tool_calls": {"$each": tool_calls}}}
            )
    if doc is None:
        # Outside the lookup's timeout, which the summary it may schedule would inherit.
        await _outcome_after_late_tools(call_id)
        return
    if doc.get("carrier"):  # else the process that takes the call up takes them too
        await send_to_channel(doc["carrier"], {"type": "call.handed_over", "call_id": call_id},
                              patience_s=0.5)  # fmt: skip


async def take_handed_over(call_id: str) -> list[dict[str, Any]]:
    """The tool calls another process handed over for this call (see `hand_over`), taken
    off the record: each is taken once, however many processes ask. Raises PyMongoError."""
    with pymongo.timeout(LOOKUP_TIMEOUT_S):
        doc = await mongo.async_db().calls.find_one_and_update(
            {"call_id": call_id, "handed_over.0": {"$exists": True}},
            {"$set": {"handed_over": []}},
            {"_id": 0, "handed_over": 1},
        )
    return list(doc["handed_over"]) if doc else []


async def end_expired(now: datetime) -> list[tuple[str, str]]:
    """End calls that no process carries and nobody re-attached within the grace period
    (VOICE_RESUME_GRACE_S): `end_reason` caller_left, or the `end_reason_if_left` the process
    that let the call go gave it (a transfer Twilio may have made), ended when its line went
    (`detached_at`), not when the grace period ran out. A call whose socket dropped and whose
    process then died is one of them (nothing else would end it at the end of its grace
    period; its record would wait to be found lost). Safe to run from every process at once.
    Answers the id and end reason of each call it ended."""
    calls = mongo.async_db().calls
    grace = timedelta(seconds=settings.VOICE_RESUME_GRACE_S)
    expired = {"ended_at": None, "detached_at": {"$lt": now - grace}}
    fields = {"_id": 0, "call_id": 1, "end_reason_if_left": 1, "carrier": 1, "detached_at": 1}
    ended = []
    async for doc in calls.find(expired, fields):
        carrier = doc.get("carrier")
        if carrier and not await carrier_gone(carrier, str(doc["call_id"])):
            continue  # its process ends it when its own grace period is over
        reason = str(doc.get("end_reason_if_left") or "caller_left")
        left_at = doc["detached_at"]
        # The departure read is the one ended at: a socket that came back and went again
        # meanwhile gave the call a later one, and a grace period of its own.
        done = await calls.update_one(
            {"call_id": doc["call_id"], "ended_at": None, "detached_at": left_at,
             "carrier": carrier},
            {"$set": {"ended_at": left_at, "end_reason": reason}},
        )  # fmt: skip
        if done.modified_count:
            ended.append((str(doc["call_id"]), reason))
            await _keep_handed_over(str(doc["call_id"]))
    return ended


async def end_unclaimed(call: StoredCall, reason: str, now: datetime) -> bool:
    """End now, as `reason`, the call as read in `call`, which no process carries (its
    `carrier` is None, or was found gone: carrier_gone), rather than when its grace period is
    over (end_expired): nothing is to come back for it. False when it ended, or a process
    took it up (a claim since the one read, even by the same process), meanwhile. Raises
    PyMongoError."""
    call_id = call.call_id
    done = await mongo.async_db().calls.update_one(
        {"call_id": call_id, "ended_at": None, "carrier": call.carrier, "claim": call.claim},
        {"$set": {"ended_at": now, "end_reason": reason}},
    )
    if not done.modified_count:
        return False
    await _keep_handed_over(call_id)
    return True


async def _keep_handed_over(call_id: str) -> None:
    """A call ended with no process to take the tool calls handed over: into its record."""
    tool_calls = await take_handed_over(call_id)
    if tool_calls:
        await mongo.async_db().calls.update_one(
            {"call_id": call_id}, {"$push": {"tool_calls": {"$each": tool_calls}}}
        )
        await _outcome_after_late_tools(call_id)


async def _outcome_after_late_tools(call_id: str) -> None:
    """Tool calls pushed onto an ended call's record: if it was finished already, its outcome
    and summary are worked out again (a refund made after the end makes it resolved_refund).
    One not finished yet is left to whoever finishes it, who reads them then."""
    # Here, not at the top: postcall is the after-call app, continuity only calls into it.
    from postcall.finish import correct_outcome

    await correct_outcome(call_id, finish=False)  # logs what it could not write


async def carrier_gone(carrier: str, call_id: str) -> bool:
    """Whether the process named `carrier` no longer carries `call_id`: it died, or it is
    this process and the call is not here (only this process can tell that of itself)."""
    here = carries(carrier, call_id)
    if here is None:
        return not await is_alive(carrier)
    return not here


async def close_abandoned(now: datetime, stale_after: timedelta = ABANDONED_AFTER) -> list[str]:
    """End every open record nobody has stamped for `stale_after` (its process died, and no
    process took the call over): `end_reason` "lost", ended when last seen. Safe to run from
    every process at once. Answers the ids of the calls it ended.

    A record whose process is alive was not stamped because the database was away: that
    process carries the call still, and only it can tell a call it lost (its own sweep). One
    that a process let go is not stamped either while it waits for a socket: it is
    end_expired's until its grace period is over (VOICE_RESUME_GRACE_S may be longer)."""
    calls = mongo.async_db().calls
    ended = []
    stale = {"ended_at": None, "last_seen_at": {"$lt": now - stale_after}}
    fields = {"_id": 0, "call_id": 1, "last_seen_at": 1, "carrier": 1, "detached_at": 1}
    waiting_since = now - timedelta(seconds=settings.VOICE_RESUME_GRACE_S)
    async for doc in calls.find(stale, fields):
        carrier = doc.get("carrier")
        detached_at = doc.get("detached_at")
        if carrier is None and detached_at is not None and detached_at >= waiting_since:
            continue
        if carrier and not await carrier_gone(carrier, str(doc["call_id"])):
            continue
        done = await calls.update_one(
            {"call_id": doc["call_id"], "ended_at": None, "last_seen_at": doc["last_seen_at"]},
            {"$set": {"ended_at": doc["last_seen_at"], "end_reason": "lost"}},
        )
        if done.modified_count:
            ended.append(str(doc["call_id"]))
            await _keep_handed_over(str(doc["call_id"]))
    return ended
