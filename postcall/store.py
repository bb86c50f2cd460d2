"""Recordings in MongoDB's GridFS (bucket `recordings`): the one place that reads, writes and
deletes them.

Written as the call goes: PyMongo's GridFS upload stream writes its `files` document only when
the upload closes, so a process killed mid-call would leave chunks no reader can find.
`RecordingWriter` writes the same GridFS layout itself instead: the `files` document first, each
chunk as soon as it has bytes (the last, partial chunk is rewritten as it grows, full chunks
never again), and `length` after each write. A reader (`gridfs.GridFSBucket`) sees the
recording so far; `open_recording` repairs the length of one whose writer died between two
writes. Files carry `metadata: {call_id, channel, complete, updated_at, started_at}`, where
`started_at` is the wall-clock moment of the recording's time zero (the call page lines the
transcript up with the audio from it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import gridfs
from bson import ObjectId
from bson.binary import Binary

from support import mongo

BUCKET = "recordings"
CHUNK_SIZE = 16 * 1024  # about 4 s of audio: small, since the last chunk is rewritten
CONTENT_TYPE = "audio/ogg; codecs=opus"
# A recording not updated for this long, and not complete, lost its writer.
STALE_AFTER = dt.timedelta(seconds=30)


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
        """Write `data` after what is already written; with `final`, mark it complete."""
        self._pending += data
        db = mongo.async_db()
        if self._pending:
            first = self._length // CHUNK_SIZE
            # The chunk in progress is rewritten whole with the new bytes after its own.
            data_from_first = bytes(self._tail) + bytes(self._pending)
            for offset in range(0, len(data_from_first), CHUNK_SIZE):
                n = first + offset // CHUNK_SIZE
                piece = data_from_first[offset : offset + CHUNK_SIZE]
                await db[f"{BUCKET}.chunks"].replace_one(
                    {"files_id": self.file_id, "n": n},
                    {"files_id": self.file_id, "n": n, "data": Binary(piece)},
                    upsert=True,
                )
            self._length += len(self._pending)
            whole = len(data_from_first) // CHUNK_SIZE * CHUNK_SIZE
            self._tail = bytearray(data_from_first[whole:])
            self._pending.clear()
        elif not final:
            return
        await db[f"{BUCKET}.files"].update_one(
            {"_id": self.file_id},
            {
                "$set": {
                    "length": self._length,
                    "metadata.updated_at": _now(),
                    "metadata.complete": final,
                }
            },
        )


# --- Reading and deleting (sync: views and management commands) --------------------------------


def bucket() -> gridfs.GridFSBucket:
    return gridfs.GridFSBucket(mongo.sync_db(), bucket_name=BUCKET)


def find_recording(call_id: str) -> dict[str, Any] | None:
    """The newest recording `files` document of a call, or None."""
    return mongo.sync_db()[f"{BUCKET}.files"].find_one(
        {"metadata.call_id": call_id}, sort=[("uploadDate", -1)]
    )


def open_recording(call_id: str) -> gridfs.GridOut | None:
    """A readable (seekable) recording of the call, repaired first if its writer died."""
    found = find_recording(call_id)
    if found is None:
        return None
    metadata = found.get("metadata") or {}
    updated = metadata.get("updated_at")
    if not metadata.get("complete") and updated and updated < _now() - STALE_AFTER:
        repair(found["_id"])
    return bucket().open_download_stream(found["_id"])


def repair(file_id: ObjectId) -> int:
    """Set a recording's length to the bytes its chunks really hold (dropping any chunk past
    a gap) and mark it complete; returns the length."""
    db = mongo.sync_db()
    length, expected = 0, 0
    for chunk in db[f"{BUCKET}.chunks"].find({"files_id": file_id}, sort=[("n", 1)]):
        if chunk["n"] != expected or (expected and length % CHUNK_SIZE):
            break
        length += len(chunk["data"])
        expected += 1
    db[f"{BUCKET}.chunks"].delete_many({"files_id": file_id, "n": {"$gte": expected}})
    db[f"{BUCKET}.files"].update_one(
        {"_id": file_id}, {"$set": {"length": length, "metadata.complete": True}}
    )
    return length


def delete_older_than(cutoff: dt.datetime) -> int:
    """Delete every recording started before `cutoff`; returns how many."""
    files = mongo.sync_db()[f"{BUCKET}.files"]
    ids = [doc["_id"] for doc in files.find({"uploadDate": {"$lt": cutoff}}, {"_id": 1})]
    store = bucket()
    for file_id in ids:
        store.delete(file_id)
    return len(ids)


