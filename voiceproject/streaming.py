"""Responses streamed under ASGI from synchronous sources (a PyMongo cursor, GridFS chunks).

    StreamingHttpResponse(streamed(csv_lines(...), per_read=100), content_type="text/csv")

Handed a synchronous iterator, Django under ASGI reads all of it into a list before it sends
a byte (and warns "StreamingHttpResponse must consume synchronous iterators"): a year of calls
or a half-hour recording held in memory, and nothing sent meanwhile. `streamed` reads the
source `per_read` parts at a time in Django's thread for synchronous code, each read within
PAGE_DB_TIMEOUT_S, and closes it (its cursor) when the response ends, a download stopped early
included.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import AnyStr, TypeVar

from asgiref.sync import sync_to_async

from voiceproject.page_timeout import page_bound

T = TypeVar("T")


def bounded(read: Callable[[], T]) -> Callable[[], T]:
    """`read` within a page's database time. A response streams after its view returned, so
    outside the view's bound (voiceproject/page_timeout.py): each read gets one of its own, or
    a read stuck on a frozen database would hold every page of the process. A read that fails
    cuts the response short."""

    def within_bound() -> T:
        with page_bound():
            return read()

    return within_bound


async def streamed(parts: Iterator[AnyStr], *, per_read: int = 1) -> AsyncIterator[AnyStr]:
    """`parts` (all str or all bytes) for an ASGI streaming response, `per_read` joined into
    each piece sent."""
    read = sync_to_async(bounded(lambda: list(itertools.islice(parts, per_read))))
    try:
        while batch := await read():
            yield batch[0][:0].join(batch)
    finally:
        close = getattr(parts, "close", None)  # a generator's: its cursor
        if close is not None:
            await sync_to_async(bounded(close))()
