"""Django's cache where it is only a cache, and Redis may be away.

With REDIS_URL the cache is Redis, and Django's Redis backend lets every connection error out
of every call. Where the cache only saves work (the staff sessions, the dashboard's figures,
the admin's counts) a Redis restarting, failing over or stalled must not make a page a 500:
through `cache_or_miss` a read that fails is a miss and a write that fails is skipped (logged,
at most every messaging.LOG_EVERY_S), and the database answers.

    from voiceproject.cache import cache_or_miss

    figures = cache_or_miss.get(key)        # None while Redis is away
    cache_or_miss.set(key, figures, 300)    # skipped while Redis is away

What counts in the cache (the login throttle, "alive" marks of processes) uses the cache
itself and decides what a failure (voiceproject.messaging.REDIS_AWAY) means there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache

from voiceproject.messaging import REDIS_AWAY, LogEvery

log = logging.getLogger(__name__)

class CacheOrMiss:
    """`cache`'s reads and writes, a failure of a read taken as a miss, of a write as done."""

    _log = LogEvery()  # one warning in a while, whichever cache failed

    def __init__(self, cache: Any) -> None:
        self._cache = cache

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self._cache.get(key, default)
        except REDIS_AWAY as error:
            self._away("read", error)
            return default

    async def aget(self, key: str, default: Any = None) -> Any:
        try:
            return await self._cache.aget(key, default)
        except REDIS_AWAY as error:
            self._away("read", error)
            return default

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        try:
            return dict(self._cache.get_many(keys))
        except REDIS_AWAY as error:
            self._away("read", error)
            return {}

    def __contains__(self, key: str) -> bool:
        try:
            return key in self._cache
        except REDIS_AWAY as error:
            self._away("read", error)
            return False

    def set(self, key: str, value: Any, timeout: Any) -> None:
        try:
            self._cache.set(key, value, timeout)
        except REDIS_AWAY as error:
            self._away("write", error)

    async def aset(self, key: str, value: Any, timeout: Any) -> None:
        try:
            await self._cache.aset(key, value, timeout)
        except REDIS_AWAY as error:
            self._away("write", error)

    def set_many(self, values: dict[str, Any], timeout: Any) -> None:
        try:
            self._cache.set_many(values, timeout)
        except REDIS_AWAY as error:
            self._away("write", error)

    def delete(self, key: str) -> None:
        try:
            self._cache.delete(key)
        except REDIS_AWAY as error:
            self._away("delete", error)

    async def adelete(self, key: str) -> None:
        try:
            await self._cache.adelete(key)
        except REDIS_AWAY as error:
            self._away("delete", error)

    def __repr__(self) -> str:
        return repr(self._cache)

    @classmethod
    def _away(cls, doing: str, error: BaseException) -> None:
        if cls._log.due():
            log.warning("cache unavailable (%s: %r); the database answers", doing, error)


cache_or_miss = CacheOrMiss(cache)
