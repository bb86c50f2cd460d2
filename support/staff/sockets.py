"""What every staff socket shares: who may have it open, asked again while it stays open,
its channel-layer groups joined again now and then, and catching up after Redis was away.

A staff page stays open for hours (the queue, the live calls page, a live call). A permission
taken away, a group changed, an account deactivated, or the session the socket was opened with
ended (signed out, expired, or its password changed: a lead's "Reset password") must count on
the open sockets too, not only on the next page load:

    self.watch = PermissionWatch(self.scope, (MONITOR, TAKE_OVER), self.permissions_now)
    self.watch.start()      # after accept(); permissions_now(perms) gets them every few seconds
    self.watch.stop()       # in disconnect()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.utils.crypto import constant_time_compare
from pymongo.errors import PyMongoError

from voiceproject.channel_layer import outages_over
from voiceproject.messaging import REDIS_AWAY

log = logging.getLogger(__name__)

FORBIDDEN = 4403  # the close code of a socket its user may not (or may no longer) have
# The close code of a socket that missed messages (Redis, between the processes, was away):
# the page reconnects at once and repaints what it missed, as after any dropped connection.
MISSED = 4012
RECHECK_S = 5.0  # how often an open socket asks the database again
# How often it joins its groups again: a Redis restarted without persistence has forgotten
# them (the page would hear nothing more, silently), and channels_redis lets a membership
# expire after a day. Joining again is harmless.
REJOIN_EVERY = 6  # rechecks: 30 s


@database_sync_to_async
def staff_permissions(
    scope: Mapping[str, Any], perms: Iterable[str], *, fresh: bool = False
) -> set[str]:
    """Which of `perms` the socket's user has: none unless an active staff member. `fresh`: as
    the database says now (the session still signing them in, the account, its groups), not
    as the user was when the socket opened."""
    user = signed_in_now(scope) if fresh else scope.get("user")
    if not (user is not None and user.is_authenticated and user.is_active and user.is_staff):
        return set()
    return {p for p in perms if user.has_perm(p)}


def signed_in_now(scope: Mapping[str, Any]) -> Any | None:
    """The user the socket's session signs in now, read afresh; None once that session has
    ended: signed out, expired, or no longer matching the user (their password changed).

    What django.contrib.auth.get_user checks on every request, without its side effects (it
    flushes or cycles the session it is given, which is the browser's own)."""
    user = scope.get("user")
    session_key = getattr(scope.get("session"), "session_key", None)
    if user is None or not user.is_authenticated or not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    model = get_user_model()
    try:
        signed_in = model._meta.pk.to_python(session.get(SESSION_KEY))
    except ValidationError:  # a value that is no user's key signs nobody in
        return None
    if signed_in != user.pk:
        return None
    now = model._default_manager.filter(pk=user.pk).first()
    if now is None:
        return None
    presented = session.get(HASH_SESSION_KEY) or ""
    hashes = (now.get_session_auth_hash(), *now.get_session_auth_fallback_hash())
    return now if presented and any(constant_time_compare(presented, h) for h in hashes) else None


class PermissionWatch:
    """Every RECHECK_S, the permissions among `perms` of the user the socket's `scope` signs
    in, read afresh, given to `changed` (only when they differ from the last seen: none once
    the session has ended), until stopped."""

    def __init__(
        self,
        scope: Mapping[str, Any],
        perms: Iterable[str],
        changed: Callable[[set[str]], Awaitable[None]],
        seen: set[str],
        rejoin: Callable[[], Awaitable[None]] | None = None,
        missed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`rejoin`: the socket joins its channel-layer groups again (every REJOIN_EVERY).
        `missed`: Redis was away and is back, so the socket missed messages; it should close
        with MISSED (checked every RECHECK_S)."""
        self._scope = scope
        self._perms = tuple(perms)
        self._changed = changed
        self._seen = seen
        self._rejoin = rejoin
        self._missed = missed
        self._outages = outages_over()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="staff permissions")

    def stop(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._task = None

    async def _run(self) -> None:
        rechecks = 0
        while True:
            await asyncio.sleep(RECHECK_S)
            rechecks += 1
            if self._missed is not None and outages_over() != self._outages:
                self._outages = outages_over()
                await self._missed()
            if self._rejoin is not None and rechecks % REJOIN_EVERY == 0:
                try:
                    await self._rejoin()
                except REDIS_AWAY as error:  # Redis away: next time
                    log.warning("a staff socket could not join its groups again: %r", error)
            try:
                now = await staff_permissions(self._scope, self._perms, fresh=True)
            except (DatabaseError, PyMongoError):  # a blip: ask again next time, keep the page
                log.warning("could not read the permissions of a staff socket", exc_info=True)
                continue
            if now != self._seen:
                self._seen = now
                await self._changed(now)
