"""The call's record in `calls` (contract section 5), written while the call goes on.

Transcript lines, tool calls and usage are collected in memory and written in one update at
most every `FLUSH_INTERVAL_S`, so a crash loses at most the last second or so, and the audio
path never waits for the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import PyMongoError

from support import mongo

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
USAGE_FIELDS = ("prompt_token_count", "response_token_count", "total_token_count")


def now() -> datetime:
    return datetime.now(UTC)


class CallRecord:
    def __init__(self, *, call_id: str, user_id: int | None, channel: str) -> None:
        self.call_id = call_id
        self.user_id = user_id
        self.channel = channel
        self._transcript: list[dict[str, Any]] = []
        self._tool_calls: list[dict[str, Any]] = []
        self._usage: dict[str, int] = {}
        self._dirty = asyncio.Event()
        # One flush at a time: the closing flush must not push what a periodic flush, cut
        # short by cancellation, has already written.
        self._flush_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await mongo.async_db().calls.insert_one(
            {
                "call_id": self.call_id,
                "user_id": self.user_id,
                "channel": self.channel,
                "started_at": now(),
                "ended_at": None,
                "end_reason": "",
                "transcript": [],
                "tool_calls": [],
                "usage": {field: 0 for field in USAGE_FIELDS},
            }
        )
        self._flusher = asyncio.create_task(self._flush_periodically())

    def add_transcript(self, role: str, text: str) -> None:
        self._transcript.append({"role": role, "text": text, "at": now()})
        self._dirty.set()

    def add_tool_call(self, entry: dict[str, Any]) -> None:
        self._tool_calls.append(entry)
        self._dirty.set()

    def add_usage(self, counts: dict[str, int]) -> None:
        for field, value in counts.items():
            self._usage[field] = self._usage.get(field, 0) + value
        self._dirty.set()

    async def flush(self) -> None:
        async with self._flush_lock:
            await self._flush()

    async def _flush(self) -> None:
        # Pending items are forgotten only once written: a failed write is retried whole.
        transcript, tool_calls = list(self._transcript), list(self._tool_calls)
        usage = dict(self._usage)
        update: dict[str, Any] = {}
        if transcript:
            update.setdefault("$push", {})["transcript"] = {"$each": transcript}
        if tool_calls:
            update.setdefault("$push", {})["tool_calls"] = {"$each": tool_calls}
        if usage:
            update["$inc"] = {f"usage.{field}": value for field, value in usage.items()}
        if not update:
            return
        await mongo.async_db().calls.update_one({"call_id": self.call_id}, update)
        del self._transcript[: len(transcript)]
        del self._tool_calls[: len(tool_calls)]
        for field, value in usage.items():
            self._usage[field] -= value
            if not self._usage[field]:
                del self._usage[field]

    async def close(self, end_reason: str) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()
        await mongo.async_db().calls.update_one(
            {"call_id": self.call_id},
            {"$set": {"ended_at": now(), "end_reason": end_reason}},
        )

    async def _flush_periodically(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                # Shielded: cancelling the flusher must not interrupt a write half-way.
                await asyncio.shield(self.flush())
            except PyMongoError as error:
                # The call goes on; the next flush or close() writes what is pending.
                log.warning("call %s: could not write its record: %s", self.call_id, error)
            await asyncio.sleep(FLUSH_INTERVAL_S)
