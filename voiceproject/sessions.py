"""Staff sessions: in the database, cached in Redis when there is one (SESSION_ENGINE with
REDIS_URL). Django's cached_db, for which the cache is only a cache.

Django's own lets a Redis error out of three of its cache calls: whether a new session key is
free (every sign-in), filling the cache after a miss (every request), and a sign-out. So while
Redis was away (restarting, failing over, stalled) no staff member could sign in, open a page
of the back office or a live socket, or sign out: a 500 each time, although every session is
in the database. Here the cache is reached through voiceproject/cache.py's CacheOrMiss: the
database answers.

A sign-out while Redis is away cannot remove the cached copy; that copy lives on only if Redis
comes back with its data (a stall, not a restart), as with Django's own.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.backends import cached_db
from django.core.cache import caches

from voiceproject.cache import CacheOrMiss


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache: CacheOrMiss = CacheOrMiss(caches[settings.SESSION_CACHE_ALIAS])
