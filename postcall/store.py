"""Recordings in MongoDB's GridFS (bucket `recordings`): the one place that reads, writes and
deletes them.

Written as the call goes: PyMongo's GridFS upload stream writes its `files` document only when
the upload closes, so a process killed mid-call would leave chunks no reader can find.
`RecordingWriter` writes the same GridFS layout itself instead: the `files` document first, then
at each `append` the chunks it touched (the last, partial chunk is rewritten as it grows, full
chunks never again), in one round trip with those of the process's other recordings
(`ChunkWrites`). The `files` document's `length` and `updated_at` follow only every
FILES_EVERY_S and at the end: each write costs CPU whatever its size. So the chunks are what a
crash keeps, and readers go by them: `open_recording` takes the length of an unfinished
recording from its chunks, and completes one whose writer stopped writing (died). Files carry
`metadata: {call_id, channel, complete, updated_at}`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import gridfs
from bson import ObjectId
from bson.binary import Binary
from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError, PyMongoError

from postcall import ogg
from support import mongo

log = logging.getLogger(__name__)

BUCKET = "recordings"
CHUNK_SIZE = 16 * 1024  # about 4 s of audio: small, since the last chunk is rewritten
CONTENT_TYPE = "audio/ogg; codecs=opus"
# How often a writer brings the `files` document up to date (length, updated_at) during a call.
FILES_EVERY_S = 10.0
# A recording not updated for this long, and not complete, lost its writer.
STALE_AFTER = dt.timedelta(seconds=30)
# How long the first chunk write waits for those of other recordings to go with it.
BATCH_WINDOW_S = 0.1


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RecordingWriter:
    def __init__(
        self, call_id: str, *, channel: str = "", started_at: dt.datetime | None = None
    ) -> None:
        self.call_id = call_id
        self.file_id = ObjectId()
        self._channel = channel
        self._started_at = started_at
        self._length = 0  # bytes written and acknowledged
        self._pending = bytearray()  # not yet acknowledged: retried whole on failure
        self._tail = bytearray()  # the bytes of the last, partial chunk
        self._files_at = _now()  # when the `files` document was last brought up to date

    async def open(self) -> None:
        await mongo.async_db()[f"{BUCKET}.files"].insert_one(
            {
                "_id": self.file_id,
                "filename": f"{self.call_id}.ogg",
                "length": 0,
                "chunkSize": CHUNK_SIZE,
                "uploadDate": _now(),
                "contentType": CONTENT_TYPE,
                "metadata": {
                    "call_id": self.call_id,
                    "channel": self._channel,
                    "complete": False,
                    "updated_at": _now(),
                    "started_at": self._started_at or _now(),
                },
            }
        )

    async def append(self, data: bytes, *, final: bool = False) -> None:
        """Write `data` after what is already written; with `final`, mark it complete. On a
        database error the bytes stay pending and the next call writes them again."""
        self._pending += data
        db = mongo.async_db()
        if self._pending:
            first = self._length // CHUNK_SIZE
            # The chunk in progress is rewritten whole with the new bytes after its own.
            data_from_first = bytes(self._tail) + bytes(self._pending)
            writes = [
                ReplaceOne(
                    {"files_id": self.file_id, "n": first + offset // CHUNK_SIZE},
                    {"files_id": self.file_id, "n": first + offset // CHUNK_SIZE,
                     "data": Binary(data_from_first[offset : offset + CHUNK_SIZE])},
                    upsert=True,
                )  # fmt: skip
                for offset in range(0, len(data_from_first), CHUNK_SIZE)
            ]
            await chunk_writes().write(writes)
            self._length += len(self._pending)
            whole = len(data_from_first) // CHUNK_SIZE * CHUNK_SIZE
            self._tail = bytearray(data_from_first[whole:])
            self._pending.clear()
        now = _now()
        if not final and (now - self._files_at).total_seconds() < FILES_EVERY_S:
            return
        # Not cut short: a read while the database held this writer up for longer than
        # STALE_AFTER took it for dead and repaired the recording as such (_up_to_date).
        await db[f"{BUCKET}.files"].update_one(
            {"_id": self.file_id},
            {"$set": {"length": self._length, "metadata.updated_at": now,
                      "metadata.complete": final, "metadata.cut_short": False}},
        )  # fmt: skip
        self._files_at = now


@dataclass
class _Batch:
    writes: list[ReplaceOne] = field(default_factory=list)
    # Per recording: where its writes start and end in `writes`, and who waits for them.
    waiting: list[tuple[int, int, asyncio.Future[None]]] = field(default_factory=list)


class ChunkWrites:
    """The chunk writes of every recording on this process's event loop, sent together.

    A write costs this process and the database CPU whatever its size: fifty calls each
    writing its recording every half second spent 0.08-0.13 CPU-s per call-minute on it here,
    gathered 0.03 (bench.bench_postcall). The first write waits BATCH_WINDOW_S for the others
    of that moment and they go as one unordered bulk write. Each recording's writes touch
    only its own chunks, so one recording's failure is only its own."""

    def __init__(self) -> None:
        self._batch: _Batch | None = None
        self._sending: set[asyncio.Task[None]] = set()

    async def write(self, writes: list[ReplaceOne]) -> None:
        """Returns once `writes` are written; raises PyMongoError if any of them was not."""
        loop = asyncio.get_running_loop()
        if self._batch is None:
            self._batch = _Batch()
            loop.call_later(BATCH_WINDOW_S, self._send_batch)
        batch = self._batch
        done: asyncio.Future[None] = loop.create_future()
        batch.waiting.append((len(batch.writes), len(batch.writes) + len(writes), done))
        batch.writes.extend(writes)
        await done

    def _send_batch(self) -> None:
        batch, self._batch = self._batch, None
        if batch is not None:
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    @staticmethod
    async def _send(batch: _Batch) -> None:
        failed: set[int] = set()
        error: PyMongoError | None = None
        try:
            await mongo.async_db()[f"{BUCKET}.chunks"].bulk_write(batch.writes, ordered=False)
        except BulkWriteError as bulk:
            error = bulk
            failed = {int(each["index"]) for each in bulk.details.get("writeErrors", [])}
            if not failed or bulk.details.get("writeConcernErrors"):
                failed = set(range(len(batch.writes)))  # none of it is known to be durable
        except PyMongoError as other:
            error, failed = other, set(range(len(batch.writes)))
        except BaseException as other:  # cancelled with its loop: nobody may wait forever
            for _, _, done in batch.waiting:
                if not done.done():
                    done.set_exception(PyMongoError(f"recording writes abandoned: {other!r}"))
            raise
        for start, end, done in batch.waiting:
            if done.done():
                continue  # its writer gave up waiting (cancelled)
            if error is not None and failed.intersection(range(start, end)):
                done.set_exception(error)
            else:
                done.set_result(None)


_writes_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChunkWrites] = (
    weakref.WeakKeyDictionary()
)


def chunk_writes() -> ChunkWrites:
    """The ChunkWrites of the running event loop (each test has a loop of its own)."""
    loop = asyncio.get_running_loop()
    if loop not in _writes_by_loop:
        _writes_by_loop[loop] = ChunkWrites()
    return _writes_by_loop[loop]


# --- Reading and deleting (sync: views and management commands) --------------------------------


def bucket() -> gridfs.GridFSBucket:
    return gridfs.GridFSBucket(mongo.sync_db(), bucket_name=BUCKET)


def find_recordings(call_id: str) -> list[dict[str, Any]]:
    """A call's recording `files` documents, oldest first: one per process that carried the
    call (a call moved by a restart or a crash is recorded in parts, each from its move on)."""
    found = mongo.sync_db()[f"{BUCKET}.files"].find(
        {"metadata.call_id": call_id}, sort=[("uploadDate", 1), ("_id", 1)]
    )
    return list(found)


def open_recording(call_id: str, part: int = 1) -> gridfs.GridOut | None:
    """Part `part` (from 1) of the call's recording, readable and seekable: one still being
    written as far as its chunks go, one whose writer died repaired first. None if the call
    has no such part. Only for a finished recording: GridFS's reader breaks on the last chunk
    of one being written, which grows meanwhile (players use `recording_part`)."""
    found = _brought_up_to_date(call_id, part)
    return None if found is None else bucket().open_download_stream(found["_id"])


@dataclass(frozen=True)
class RecordingPart:
    """A recording part as far as it was written when looked at (`length` bytes): what its
    writer appends later is not part of it."""

    file_id: ObjectId
    length: int
    chunk_size: int
    started_at: dt.datetime | None = None  # the recording's time zero
    complete: bool = False  # its writer finished it, or it was repaired (then `cut_short`)
    cut_short: bool = False  # its writer died: it ends with the last thing written

    @classmethod
    def of(cls, found: dict[str, Any]) -> RecordingPart:
        """The part a `files` document (brought up to date) describes."""
        metadata = found.get("metadata") or {}
        zero = metadata.get("started_at") or found.get("uploadDate")
        return cls(found["_id"], int(found["length"]), int(found["chunkSize"]),
                   started_at=zero if isinstance(zero, dt.datetime) else None,
                   complete=bool(metadata.get("complete")),
                   cut_short=bool(metadata.get("cut_short")))  # fmt: skip

    def seconds(self) -> float:
        """How much audio it holds, from its Ogg pages: 0.0 for no bytes, or the Ogg
        headers alone (a writer that died before its first audio, a call over at once)."""
        if not self.length:
            return 0.0
        head = b"".join(self.read(0, HEAD_BYTES))
        tail = b"".join(self.read(max(0, self.length - TAIL_BYTES)))
        return ogg.seconds(head, tail)

    def read(self, first: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes `first` to `end` (exclusive; the length by default), a chunk at a time. The
        last chunk of a recording still being written is rewritten as it grows: only its
        first bytes, never changed, are read. A chunk missing from the database (lost, or
        deleted by hand) is read as zeros: the bytes promised are sent, and Ogg readers find
        their place again after it, so the rest of the recording still plays."""
        end = self.length if end is None else min(end, self.length)
        if first >= end:
            return
        first_n, last_n = first // self.chunk_size, (end - 1) // self.chunk_size
        found = mongo.sync_db()[f"{BUCKET}.chunks"].find(
            {"files_id": self.file_id, "n": {"$gte": first_n, "$lte": last_n}},
            {"n": 1, "data": 1}, sort=[("n", 1)],
        )  # fmt: skip
        chunks = ((int(chunk["n"]), bytes(chunk["data"])) for chunk in found)
        expected = first_n
        for n, data in itertools.chain(chunks, [(last_n + 1, b"")]):
            for missing in range(expected, min(n, last_n + 1)):
                log.warning("recording %s: chunk %d is missing; read as silence",
                            self.file_id, missing)  # fmt: skip
                yield self._slice(missing, b"", first, end)
            if n <= last_n:
                yield self._slice(n, data, first, end)
            expected = n + 1

    def _slice(self, n: int, data: bytes, first: int, end: int) -> bytes:
        """Chunk `n`'s part of bytes `first` to `end`, zeros past its data."""
        start = n * self.chunk_size
        wanted = min(end, start + self.chunk_size) - max(first, start)
        return data[max(0, first - start) : end - start].ljust(wanted, b"\0")


def recording_part(call_id: str, part: int = 1) -> RecordingPart | None:
    """Part `part` (from 1) of the call's recording, to play: finished, still being written
    (as far as its chunks go now), or repaired first if its writer died. None if the call has
    no such part."""
    found = _brought_up_to_date(call_id, part)
    return None if found is None else RecordingPart.of(found)


def recording_parts(call_id: str) -> list[RecordingPart]:
    """Every part of the call's recording, oldest first, each as `recording_part` has it."""
    return [RecordingPart.of(_up_to_date(found)) for found in find_recordings(call_id)]


def _brought_up_to_date(call_id: str, part: int) -> dict[str, Any] | None:
    """The part's `files` document with its `length` as far as its chunks go: the writer
    brings it up to date only every FILES_EVERY_S; one whose writer died is repaired."""
    parts = find_recordings(call_id)
    if not 1 <= part <= len(parts):
        return None
    return _up_to_date(parts[part - 1])


def _up_to_date(found: dict[str, Any]) -> dict[str, Any]:
    metadata = found.setdefault("metadata", {})
    if not metadata.get("complete"):
        updated = metadata.get("updated_at")
        if updated and updated < _now() - STALE_AFTER:
            found["length"] = repair(found["_id"])
            metadata.update(complete=True, cut_short=True)
        else:
            length = _written_length(found["_id"])
            mongo.sync_db()[f"{BUCKET}.files"].update_one(
                {"_id": found["_id"], "length": {"$lt": length}}, {"$set": {"length": length}}
            )
            found["length"] = max(int(found["length"]), length)
    return found


def _written_length(file_id: ObjectId) -> int:
    """The bytes a recording's chunks hold from the start, up to the first gap or short
    chunk (a chunk past either is not part of it)."""
    length = 0
    chunks = mongo.sync_db()[f"{BUCKET}.chunks"]
    found = chunks.find({"files_id": file_id}, {"n": 1, "data": 1}, sort=[("n", 1)])
    for expected, chunk in enumerate(found):
        if chunk["n"] != expected or length % CHUNK_SIZE:
            break
        length += len(chunk["data"])
    return length


def repair(file_id: ObjectId) -> int:
    """Set a recording's length to the bytes its chunks really hold (dropping any chunk past
    a gap) and mark it complete, and cut short (its writer died); returns the length."""
    db = mongo.sync_db()
    length = _written_length(file_id)
    expected = -(-length // CHUNK_SIZE)  # the chunks that hold those bytes
    db[f"{BUCKET}.chunks"].delete_many({"files_id": file_id, "n": {"$gte": expected}})
    db[f"{BUCKET}.files"].update_one(
        {"_id": file_id},
        {"$set": {"length": length, "metadata.complete": True, "metadata.cut_short": True}},
    )
    return length


# Where `RecordingPart.seconds` looks: the OpusHead is in the first page, and the last page
# (with the recording's last granule position) within the last bytes: pages hold 0.2 s.
HEAD_BYTES = 512
TAIL_BYTES = 16 * 1024


def delete_older_than(
    cutoff: dt.datetime, step: Callable[[], AbstractContextManager[Any]] = nullcontext
) -> int:
    """Delete the recordings begun before `cutoff`, each call's parts all together, but those
    of calls still in progress and those still being written, whatever the call's record
    says (a writer that goes on would leave chunks no file names); returns how many parts
    (`files` documents) this run deleted. Runs at once (two housekeeping jobs
    overlapping) each delete what the other has not yet: neither fails.

    A call that moved between processes is recorded in parts, the later ones begun minutes
    after the first: judged each by its own uploadDate, the first would go and the others stay
    a day longer, served as the whole recording. So a call goes by its start: the earliest of
    its record's `started_at` and its parts' own.

    `step`: the bound each step of the work runs in (one query, one file's deletion), for a
    command that must fail when the database stops answering (support/management)."""
    db = mongo.sync_db()
    files = db[f"{BUCKET}.files"]
    writing = {"metadata.complete": 1, "metadata.updated_at": 1}
    with step():
        old = list(files.find({"uploadDate": {"$lt": cutoff}},
                              {"_id": 1, "metadata.call_id": 1, **writing}))  # fmt: skip
    call_ids = sorted({_call_of(doc) for doc in old} - {""})
    parts: dict[str, list[dict[str, Any]]] = {call_id: [] for call_id in call_ids}
    fields = {"_id": 1, "uploadDate": 1, "metadata.call_id": 1, "metadata.started_at": 1,
              **writing}  # fmt: skip
    with step():
        for doc in mongo.find_in(files, "metadata.call_id", call_ids, fields):
            parts[_call_of(doc)].append(doc)
    call_fields = {"call_id": 1, "started_at": 1, "ended_at": 1}
    with step():
        calls = {doc["call_id"]: doc
                 for doc in mongo.find_in(db.calls, "call_id", call_ids, call_fields)}  # fmt: skip
    # No call to judge by: each by its own.
    ids = [doc["_id"] for doc in old if not _call_of(doc) and not _being_written(doc)]
    for call_id, call_parts in parts.items():
        call = calls.get(call_id)
        if not call_parts or (call is not None and call.get("ended_at") is None):
            continue  # deleted meanwhile by another run, or still in progress
        if any(_being_written(part) for part in call_parts):
            continue  # its record closed before its recording's last write, or it has none
        starts = [
            (call or {}).get("started_at"),
            *(part.get("uploadDate") for part in call_parts),
            *((part.get("metadata") or {}).get("started_at") for part in call_parts),
        ]
        if min(at for at in starts if isinstance(at, dt.datetime)) < cutoff:
            # The newest first: a run cut short leaves the oldest, which the next one finds.
            newest_first = sorted(call_parts, key=lambda part: part["uploadDate"], reverse=True)
            ids += [part["_id"] for part in newest_first]
    # Not GridFSBucket.delete: it raises NoFile for a file another run deleted meanwhile, and
    # deletes the file before its chunks, so a run killed between the two leaves chunks that
    # no file names and no run finds. The chunks first, then the file, which counts.
    deleted = 0
    for file_id in ids:
        with step():
            db[f"{BUCKET}.chunks"].delete_many({"files_id": file_id})
            deleted += db[f"{BUCKET}.files"].delete_one({"_id": file_id}).deleted_count
    return deleted


def _being_written(found: dict[str, Any]) -> bool:
    """Whether a recording `files` document's writer is still at it: not complete, and
    brought up to date within STALE_AFTER (a writer that died is past it)."""
    metadata = found.get("metadata") or {}
    updated = metadata.get("updated_at")
    return (not metadata.get("complete") and isinstance(updated, dt.datetime)
            and updated >= _now() - STALE_AFTER)  # fmt: skip


def _call_of(found: dict[str, Any]) -> str:
    """The call a recording `files` document belongs to ("" for none)."""
    return str((found.get("metadata") or {}).get("call_id") or "")
