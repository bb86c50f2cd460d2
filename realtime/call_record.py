"""The call's record in `calls` (contract section 5), written while the call goes on.

Transcript lines, tool calls and usage are collected in memory and written in one update at
most every `FLUSH_INTERVAL_S`, so a crash loses at most the last second or so, and the audio
path never waits for the database. Every write also stamps `last_seen_at`: a record whose
process died stops being stamped, and `close_abandoned` ends it.

A record stays far below MongoDB's 16 MB document limit whatever a call does: each line and
each tool call's arguments and result are capped, and so is the number of lines and calls
(what goes beyond is counted in `dropped`, not stored). If the database is down when the
call ends, closing the record is retried in the background until it is back (or
`CLOSE_RETRY_S` passes, after which `close_abandoned` ends it); meanwhile `closing_later`
says the call is over, so that nothing here carries it on. A write whose answer never
came (a frozen database, which may still apply it when it comes back) is sent again as it was
and applied once (`WRITE_IDS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from pymongo.errors import PyMongoError

from support import mongo
from support.kept import capped_json
from voiceproject.tasks import stop

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
HEARTBEAT_S = 10.0  # `last_seen_at` is stamped at least this often
USAGE_FIELDS = ("prompt_token_count", "response_token_count", "total_token_count")

MAX_TEXT_CHARS = 2_000  # one transcript line
MAX_LINES = 2_000
MAX_TOOL_CALLS = 300
MAX_EVENTS = 500  # stalls and staff events
# The last places of those are kept for what an audit needs most: routine entries (a staff
# member listening, whispering) stop short of them, so no flood of them hides a take-over.
RESERVED_EVENTS = 100
# Entries kept after they are written, with when they were added: what a staff page opened a
# moment ago may have missed (livestaff/presenting.py `backlog`).
RECENT_KEPT = 100

CLOSE_RETRY_S = 300.0

# Each write also adds an id of its own to the record's WRITE_IDS, and applies only where it is
# not there yet: a write sent again after its answer never came (the database frozen, then
# back, applies the first copy too) is applied once. The last few are kept.
WRITE_IDS = "write_ids"
WRITE_IDS_KEPT = 16


@dataclass
class _Write:
    """One update of the record, and what of the call's pending changes it carries."""

    write_id: str
    pending: dict[str, list[dict[str, Any]]]
    usage: dict[str, int]
    fields: dict[str, Any]
    dropped: dict[str, int]
    update: dict[str, Any]


@dataclass(frozen=True)
class ClosingLater:
    """How a call ended in this process whose record's close waits for the database."""

    end_reason: str
    farewell: str  # what the caller was told, unless it is on the record already ("")
    call_sid: str  # a phone call's, Twilio's name for it ("" for others)
    # Set to try the close again now rather than at the retry's next turn (`close_sooner`).
    sooner: asyncio.Event = dataclass_field(default_factory=asyncio.Event, compare=False)


# By call_id: those calls are over, though their record does not say so until the close is
# written (`close`), and nothing is to carry them on meanwhile.
_closing_later: dict[str, ClosingLater] = {}


def closing_later(call_id: str) -> ClosingLater | None:
    """How the call `call_id` ended, if it ended in this process and its record's close still
    waits for the database; None otherwise (closed, or not ended here)."""
    return _closing_later.get(call_id)


def closing_later_by_sid(call_sid: str) -> ClosingLater | None:
    """`closing_later` of the phone call Twilio names `call_sid`: read without the database,
    for a webhook that cannot look the call up while it does not answer."""
    if not call_sid:
        return None
    return next((c for c in _closing_later.values() if c.call_sid == call_sid), None)


def close_sooner(call_id: str) -> bool:
    """The database answers someone now: the record of `call_id`, if its close waits for it
    here, is closed at once rather than at the retry's next turn (up to LAST_RETRY_S away,
    support/mongo.py). Answers whether it was waiting."""
    closing = _closing_later.get(call_id)
    if closing is not None:
        closing.sooner.set()
    return closing is not None


def now() -> datetime:
    return datetime.now(UTC)


def capped_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CallRecord:
    """One call's record, written by the process carrying the call.

    With an `owner` (the carrying process's channel name, continuity/process.py) every write
    applies only while the record names that process as its carrier: a process that lost
    the call to another (which resumed it) can no longer write to it, and `on_lost` is told
    once so that the call lets go here.
    """

    def __init__(
        self,
        *,
        call_id: str,
        user_id: int | None,
        channel: str,
        owner: str | None = None,
        on_lost: Callable[[], None] | None = None,
        counts: dict[str, int] | None = None,
        call_sid: str = "",
    ) -> None:
        self.call_id = call_id
        self.call_sid = call_sid
        self.user_id = user_id
        self.channel = channel
        self.owner = owner
        self._on_lost = on_lost
        self.lost = False
        # Its `started_at` (set by open; None for a record this call resumes) and `ended_at`
        # (set by close): the recording spans them (postcall/observer.py).
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self._pending: dict[str, list[dict[str, Any]]] = {}
        # Entries accepted so far, per list (`counts`: those of a record this call resumes).
        self._counts: dict[str, int] = dict(counts or {})
        self._dropped: dict[str, int] = {}
        self._usage: dict[str, int] = {}
        self._set: dict[str, Any] = {}
        self._line_at: datetime | None = None  # the `at` of the last transcript line added
        self._dirty = asyncio.Event()
        # One flush at a time: the closing flush must not push what a periodic flush, cut
        # short by cancellation, has already written.
        self._flush_lock = asyncio.Lock()
        self._unsure: _Write | None = None  # a write whose answer never came (`_flush`)
        self._flusher: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        # (added at, to the millisecond as the database keeps `last_seen_at`; list; entry)
        self.recent: deque[tuple[datetime, str, dict[str, Any]]] = deque(maxlen=RECENT_KEPT)

    async def open(self, *, started_at: datetime | None = None, **fields: Any) -> None:
        """Insert the record (extra `fields` are stored too) and start writing it. The call
        began `started_at` (now by default: a phone call's stream began before its setup)."""
        started = self.started_at = started_at or now()
        await mongo.async_db().calls.insert_one(
            {
                "call_id": self.call_id,
                "user_id": self.user_id,
                "channel": self.channel,
                "started_at": started,
                "ended_at": None,
                "end_reason": "",
                "transcript": [],
                "tool_calls": [],
                "usage": {field: 0 for field in USAGE_FIELDS},
                "last_seen_at": started,
                "carrier": self.owner,
                **fields,
            }
        )
        self.start_writing()

    def start_writing(self) -> None:
        """Write pending changes from now on (`open` does it; a re-attached call calls it)."""
        if self._flusher is None:
            self._flusher = asyncio.create_task(
                self._flush_periodically(), name=f"{self.call_id} record"
            )

    # --- what the call adds -----------------------------------------------------------------

    def add_transcript(self, role: str, text: str, began: datetime | None = None) -> None:
        """A finished line, dated `began` (when its first words came; now by default). Lines
        come as they finish; each is dated no earlier than the one before it, so the record
        reads in time order: the late caption of what the caller said, kept as the agent's
        answer goes on, reads before that answer, not in the middle of it."""
        at = began or now()
        if self._line_at is not None:
            at = max(at, self._line_at)
        self._line_at = at
        self._append("transcript", {"role": role, "text": capped_text(text), "at": at},
                     MAX_LINES)  # fmt: skip

    def add_tool_call(self, entry: dict[str, Any]) -> None:
        entry = {**entry, "args": capped_json(entry.get("args")),
                 "result": capped_json(entry.get("result"))}  # fmt: skip
        self._append("tool_calls", entry, MAX_TOOL_CALLS)

    def add_event(self, list_name: str, entry: dict[str, Any], *, routine: bool = False) -> None:
        """Append to another list of the record (`stalls`, `staff_events`); `routine`: one
        of many alike, which may not take the list's last RESERVED_EVENTS places."""
        if "text" in entry:
            entry = {**entry, "text": capped_text(str(entry["text"]))}
        self._append(list_name, entry, MAX_EVENTS - RESERVED_EVENTS if routine else MAX_EVENTS)

    def add_usage(self, counts: dict[str, int]) -> None:
        for field, value in counts.items():
            self._usage[field] = self._usage.get(field, 0) + value
        self._dirty.set()

    def set(self, **fields: Any) -> None:
        """Set top-level fields (the resumable handle, the carrying process...)."""
        self._set.update(fields)
        self._dirty.set()

    def _append(self, list_name: str, entry: dict[str, Any], limit: int) -> None:
        if self._counts.get(list_name, 0) >= limit:
            self._dropped[list_name] = self._dropped.get(list_name, 0) + 1
        else:
            self._counts[list_name] = self._counts.get(list_name, 0) + 1
            self._pending.setdefault(list_name, []).append(entry)
            added = now()
            self.recent.append((added.replace(microsecond=added.microsecond // 1000 * 1000),
                                list_name, entry))  # fmt: skip
        self._dirty.set()

    # --- writing ------------------------------------------------------------------------------

    async def flush(self) -> None:
        async with self._flush_lock:
            await self._flush()

    async def flush_shielded(self) -> None:
        """`flush`, which cancelling the caller does not interrupt half-way: the write goes
        on to its end. If it then fails with nobody left waiting for it, its error is logged
        here, not by the event loop as an exception never retrieved (what is pending is
        written by the next flush or the close). Raises PyMongoError to a caller still
        waiting."""
        write = asyncio.ensure_future(self.flush())
        write.add_done_callback(self._after_shielded)
        await asyncio.shield(write)

    def _after_shielded(self, write: asyncio.Future[None]) -> None:
        if not write.cancelled() and write.exception() is not None:
            log.warning("call %s: could not write its record: %s", self.call_id,
                        write.exception())  # fmt: skip

    async def _flush(self, extra: dict[str, Any] | None = None) -> None:
        # A write whose answer never came may still be applied (a frozen database that comes
        # back): it goes again first, as it was, and applies once whichever copy arrives
        # first. Pending items are forgotten only once written: a failed write is retried.
        if self._unsure is not None:
            await self._write(self._unsure)
            if self.lost:
                return
        await self._write(self._next_write(extra))

    def _next_write(self, extra: dict[str, Any] | None) -> _Write:
        write_id = uuid4().hex
        pending = {name: list(items) for name, items in self._pending.items() if items}
        usage, fields, dropped = dict(self._usage), dict(self._set), dict(self._dropped)
        update: dict[str, Any] = {
            "$set": {**fields, "last_seen_at": now(), **(extra or {})},
            "$push": {
                **{name: {"$each": items} for name, items in pending.items()},
                WRITE_IDS: {"$each": [write_id], "$slice": -WRITE_IDS_KEPT},
            },
        }
        incs = {f"usage.{field}": value for field, value in usage.items()}
        incs.update({f"dropped.{name}": count for name, count in dropped.items()})
        if incs:
            update["$inc"] = incs
        return _Write(write_id, pending, usage, fields, dropped, update)

    async def _write(self, write: _Write) -> None:
        self._unsure = write  # until the database answers
        calls = mongo.async_db().calls
        result = await calls.update_one(
            {**self._mine(), WRITE_IDS: {"$ne": write.write_id}}, write.update
        )
        applied = result.matched_count == 1 or await calls.find_one(
            {"call_id": self.call_id, WRITE_IDS: write.write_id}, {"_id": 1}
        ) is not None  # fmt: skip
        self._unsure = None
        if not applied and self.owner is not None:
            self._lose()
            return
        for name, items in write.pending.items():
            del self._pending[name][: len(items)]
        for source, written in ((self._usage, write.usage), (self._dropped, write.dropped)):
            for field, value in written.items():
                source[field] -= value
                if not source[field]:
                    del source[field]
        for field, value in write.fields.items():
            if self._set.get(field) is value:
                del self._set[field]

    def _mine(self) -> dict[str, Any]:
        if self.owner is None:
            return {"call_id": self.call_id}
        return {"call_id": self.call_id, "carrier": self.owner}

    def _lose(self) -> None:
        if not self.lost:
            self.lost = True
            log.warning("call %s: another process carries it now; letting go", self.call_id)
            if self._on_lost is not None:
                self._on_lost()

    async def close(
        self, end_reason: str, *, ended_at: datetime | None = None, **fields: Any
    ) -> None:
        """Write what is pending and end the record, `ended_at` (now by default: a call
        nobody came back for ended when its line went). If the database cannot be reached,
        the close goes on in the background (see CLOSE_RETRY_S) and this returns."""
        if self._flusher is not None:
            await stop(self._flusher)
        self.ended_at = ended_at or now()
        ended = {"ended_at": self.ended_at, "end_reason": end_reason, **fields}
        try:
            async with self._flush_lock:
                await self._flush(ended)
        except PyMongoError as error:
            log.warning("call %s: could not close its record (%s); retrying", self.call_id, error)
            closing = ClosingLater(
                end_reason, str(self._set.get("farewell") or ""), self.call_sid
            )
            _closing_later[self.call_id] = closing
            self._closing = asyncio.create_task(
                self._close_later(ended, closing.sooner), name=f"{self.call_id} record close"
            )

    async def let_go(self, at: datetime, *, agent_unheard: bool = False) -> None:
        """Write what is pending and stop writing, leaving the record open and no longer
        carried by this process, detached `at` (the call goes on elsewhere); `agent_unheard`:
        the caller had not heard the end of what the agent said, for the process that takes
        the call up to tell its model. One write: a process that takes the call up waits for
        it. Nothing is written if another process carries the call already."""
        if self._flusher is not None:
            await stop(self._flusher)
            self._flusher = None
        with contextlib.suppress(PyMongoError):
            async with self._flush_lock:
                await self._flush(
                    {"carrier": None, "detached_at": at, "agent_unheard": agent_unheard}
                )

    async def discard(self) -> None:
        """The call never began (refused, or the database failed as it opened): stop writing
        and remove the record. Raises PyMongoError; the record, no longer stamped, is then
        ended by `close_abandoned`."""
        self._on_lost = None  # its removal is no sign of another carrier
        if self._flusher is not None:
            await stop(self._flusher)
            self._flusher = None
        async with self._flush_lock:  # after a write the flusher had started
            await mongo.async_db().calls.delete_one({"call_id": self.call_id})

    async def _close_later(self, ended: dict[str, Any], sooner: asyncio.Event) -> None:
        async def flushed() -> None:
            async with self._flush_lock:
                await self._flush(ended)

        try:
            await mongo.once_answering(flushed, CLOSE_RETRY_S, sooner=sooner)
        except PyMongoError:
            log.error("call %s: gave up closing its record; close_abandoned will", self.call_id)
            return
        finally:
            _closing_later.pop(self.call_id, None)
        log.info("call %s: record closed after the database came back", self.call_id)

    async def _flush_periodically(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_S):
                    await self._dirty.wait()
            self._dirty.clear()
            # Shielded: cancelling the flusher must not interrupt a write half-way. A failed
            # one is logged; the call goes on, and the next flush or close() writes it.
            with contextlib.suppress(PyMongoError):
                await self.flush_shielded()
            await asyncio.sleep(FLUSH_INTERVAL_S)

