"""The one place that owns MongoDB clients.

* Sync code (views, admin, management commands) uses Django's own connection: the ORM, or
  `sync_db()` for the raw collection when a command needs bulk writes.
* The async hot path (the voice bridge's tools) uses PyMongo's `AsyncMongoClient`, created
  lazily inside the running event loop and closed at shutdown. An AsyncMongoClient belongs to
  one loop; should a different loop ask (tests run one loop per test), it gets its own client.

Both read the URI and database name from Django's `DATABASES["default"]`, so `MONGODB_URI`
(or the test database the test runner creates) applies to everything with no code change.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar

from bson.codec_options import CodecOptions
from django.db import connections
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, PyMongoError

from voiceproject.tasks import raise_if_cancelled

Document = dict[str, Any]
T = TypeVar("T")

# Every operation of the voice path is bounded by the driver itself (client-side operation
# timeout), never by cancelling it from outside: a cancelled operation during a database
# freeze can leave PyMongo's pool wedged after the database is back (hardening issue, item 4).
# Shorter bounds use `pymongo.timeout(seconds)` around the operation.
ASYNC_TIMEOUT_MS = 10_000

_async_client: AsyncMongoClient[Document] | None = None
_async_loop: asyncio.AbstractEventLoop | None = None


def _settings() -> dict[str, Any]:
    return connections["default"].settings_dict


# Times read back are aware UTC datetimes, as the async client's are: Django's own MongoClient
# is not tz_aware, and naive UTC values leaking into pages and comparisons were a recurring bug.
_AWARE: CodecOptions[Document] = CodecOptions(tz_aware=True, tzinfo=dt.UTC)


def sync_db() -> Database[Document]:
    """The database through Django's connection (its MongoClient is shared and thread-safe),
    reading times back as aware UTC datetimes."""
    database: Database[Document] = connections["default"].database  # type: ignore[attr-defined]
    return database.with_options(codec_options=_AWARE)


def async_db() -> AsyncDatabase[Document]:
    """The database on this event loop's AsyncMongoClient (created on first use)."""
    global _async_client, _async_loop
    loop = asyncio.get_running_loop()
    settings = _settings()
    if _async_client is None or _async_loop is not loop:
        # A client left behind by another (finished) loop cannot be closed from this one;
        # dropping the reference lets its sockets be collected.
        _async_client = AsyncMongoClient(
            settings["HOST"],
            tz_aware=True,
            **{"timeoutMS": ASYNC_TIMEOUT_MS, **settings.get("OPTIONS", {})},
        )
        _async_loop = loop
    return _async_client[settings["NAME"]]


async def close_async_client() -> None:
    """Close this process's AsyncMongoClient (at server shutdown, or when a test ends)."""
    global _async_client, _async_loop
    client, loop = _async_client, _async_loop
    _async_client = _async_loop = None
    if client is not None and loop is asyncio.get_running_loop():
        await client.close()


def forget_clients() -> None:
    """Drop cached clients so the next use reads DATABASES afresh (tests that repoint it)."""
    global _async_client, _async_loop
    _async_client = _async_loop = None


def failure_line(error: PyMongoError) -> str:
    """One line for an operator on why a database operation failed (a command's error):
    pymongo's own message without the topology description it appends, which runs long."""
    text = str(error).split(", Timeout:")[0].split(", Topology Description:")[0]
    if isinstance(error, ConnectionFailure):
        return (
            f"The database could not be reached ({text}). Is MongoDB up at MONGODB_URI "
            "(for the embedded one, is `make run` running)?"
        )
    return f"The database refused the operation: {text}"


# Values named per query by `find_in`: a list of a million ids in one `$in` would pass
# MongoDB's 16 MB limit for a command (and SecantusDB slows on long `$in` lists).
IN_BATCH = 10_000


def find_in(
    collection: Collection[Document], key: str, values: Iterable[Any], projection: Document
) -> Iterator[Document]:
    """The documents whose `key` is one of `values` (sync), IN_BATCH values a query."""
    ordered = sorted(values)
    for start in range(0, len(ordered), IN_BATCH):
        yield from collection.find({key: {"$in": ordered[start : start + IN_BATCH]}}, projection)


# A write that must not be lost with a database away (a record's close, a ticket's state) is
# tried again after these waits, doubling up to the last, until `patience_s` has passed.
FIRST_RETRY_S, LAST_RETRY_S = 1.0, 15.0


async def once_answering(
    operation: Callable[[], Awaitable[T]],
    patience_s: float,
    *,
    sooner: asyncio.Event | None = None,
) -> T:
    """`operation` (async, on this loop's client) tried again while the database does not
    answer (PyMongoError), first after FIRST_RETRY_S, then waiting twice as long each time up
    to LAST_RETRY_S, for up to `patience_s` in all: for a write that already failed once and
    must be made whenever the database is back. `sooner`, once set, cuts the wait for the next
    try short (someone saw the database answer); it is cleared as that try begins. Raises the
    last error after that. The operation is bounded by the driver's own timeout, never
    cancelled from outside (see ASYNC_TIMEOUT_MS); a cancellation of the task running this
    still stops it."""
    loop = asyncio.get_running_loop()
    delay, began = FIRST_RETRY_S, loop.time()
    while True:
        if sooner is None:
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await sooner.wait()
            sooner.clear()
        try:
            return await operation()
        except PyMongoError:
            raise_if_cancelled()  # a driver that swallowed a cancellation
            if loop.time() - began >= patience_s:
                raise
            delay = min(delay * 2, LAST_RETRY_S)
