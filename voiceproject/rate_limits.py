"""How often one client address may do something, counted in Django's cache (Redis with
REDIS_URL, so every process counts together; per process otherwise).

    GUESSES = Limit("mint-refused", times=20, per_s=900)

    if await over(GUESSES, address):          # already spent: refuse before trying anything
        ...429...
    ...try it...
    if it failed:
        if not await spend(GUESSES, address): # one more, counted atomically: past the limit,
            ...429...                         # this failure is not told apart from a success
    elif await over(GUESSES, address):        # spent meanwhile by attempts sent at the same time
        ...429...

The first read alone does not hold under concurrency: every attempt of a burst sent at once
reads the count before any of them is counted. So each answer is decided again by one atomic
operation on the count (incr, or a read): only the attempts within the limit in that order are
answered as tried.

The address is the one voiceproject/proxies.py vouches for (REMOTE_ADDR), never a header the
client writes. A request no trusted proxy vouches for has none (None): all such requests share
one allowance, since only a client that went around the proxies arrives so.

A window starts at its first use and lasts `per_s`: `count_one`, which the login throttle
(support/staff/throttle.py) counts with too. While Redis is away nothing is counted and nothing
refused here (logged, at most every messaging.LOG_EVERY_S): what is limited here must keep working,
unlike signing in, where an uncounted guess would be an unlimited one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.core.cache import cache

from voiceproject.messaging import REDIS_AWAY, LogEvery

log = logging.getLogger(__name__)

UNVOUCHED = "unvouched"


@dataclass(frozen=True)
class Limit:
    name: str
    times: int
    per_s: int

    def key(self, address: str | None) -> str:
        return f"rate:{self.name}:{address or UNVOUCHED}"


async def over(limit: Limit, address: str | None) -> bool:
    """Whether `address` has used up `limit` in its current window."""
    try:
        used = await cache.aget(limit.key(address), 0)
    except REDIS_AWAY as error:
        _away(error)
        return False
    return int(used) >= limit.times


async def spend(limit: Limit, address: str | None) -> bool:
    """Count one use by `address`; True while that use is within `limit`."""
    try:
        used = await sync_to_async(count_one)(limit.key(address), limit.per_s)
    except REDIS_AWAY as error:
        _away(error)
        return True
    return used <= limit.times


def count_one(key: str, window_s: int) -> int:
    """One more under `key` in the cache, in a window of `window_s` from its first count: the
    count so far, this one included. Raises REDIS_AWAY while Redis is away."""
    # add() starts the window only on the first count; incr() is atomic in the cache.
    cache.add(key, 0, window_s)
    try:
        return int(cache.incr(key))
    except ValueError:  # the window ended between add() and incr()
        cache.set(key, 1, window_s)
        return 1


_log = LogEvery()


def _away(error: BaseException) -> None:
    if _log.due():
        log.warning("rate limits not counted: the cache is unavailable (%r)", error)
