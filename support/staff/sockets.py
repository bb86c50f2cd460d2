"""What every staff socket shares: who may have it open, asked again while it stays open,
its channel-layer groups joined again now and then, and catching up after Redis was away.

A staff page stays open for hours (the queue, the live calls page, a live call). A permission
taken away, a group changed, an account deactivated, or the session the socket was opened with
ended (signed out, expired, or its password changed: a lead's "Reset password") must count on
the open sockets too, not only on the next page load:

    self.watch = PermissionWatch(self.scope, (MONITOR, TAKE_OVER), self.permissions_now)
    self.watch.start()      # after accept(); permissions_now(perms) gets them every few seconds
    self.watch.stop()       # in disconnect()

And who may open one at all: a page of this very site (SameOriginOnly, in front of each
staff route), as Django asks of a POST.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http.request import split_domain_port, validate_host
from django.utils.crypto import constant_time_compare
from django.utils.http import is_same_domain
from pymongo.errors import PyMongoError

from support.mongo import failure_line
from voiceproject.channel_layer import outages_over
from voiceproject.messaging import REDIS_AWAY
from voiceproject.page_timeout import database_unavailable, page_bound

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


class SameOriginOnly:
    """ASGI guard of a staff socket: the handshake's Origin must be the origin it is made to
    (its scheme, as the connection or the trusted proxy's X-Forwarded-Proto says, and its Host,
    one of ALLOWED_HOSTS), or one of CSRF_TRUSTED_ORIGINS: what Django's CSRF check asks of a
    POST. Otherwise the socket is closed before it opens (FORBIDDEN).

    The session cookie goes along with a handshake from any page of the same site (a sibling
    subdomain, another port of the host), so channels' AllowedHostsOriginValidator, which takes
    any allowed host (`.example.com`: every subdomain), would let such a page listen to calls.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if same_origin(scope):
            return await self.application(scope, receive, send)
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": FORBIDDEN})


def same_origin(scope: Mapping[str, Any]) -> bool:
    """Whether the handshake in `scope` comes from a page of this site (SameOriginOnly)."""
    headers = {name.lower(): value.decode("latin1") for name, value in scope.get("headers", [])}
    origin, host = headers.get(b"origin", ""), headers.get(b"host", "")
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as HttpRequest.get_host
    domain, _ = split_domain_port(host)
    if not (origin and domain and validate_host(domain, allowed)):
        return False
    scheme = "https" if _secure(scope, headers) else "http"
    if origin.lower() == f"{scheme}://{host}".lower():
        return True
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in trusted:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:  # "http://[::1", say
        return False
    wildcards = (urlsplit(pattern) for pattern in trusted if "*" in pattern)
    return any(
        parsed.scheme == w.scheme and is_same_domain(parsed.netloc, w.netloc.lstrip("*"))
        for w in wildcards
    )


def _secure(scope: Mapping[str, Any], headers: Mapping[bytes, str]) -> bool:
    """Whether the handshake came over TLS, as HttpRequest.is_secure decides for a request."""
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, secure_value = proxy_header
        said = headers.get(name.removeprefix("HTTP_").replace("_", "-").lower().encode())
        if said is not None:
            return said.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") in ("wss", "https")


@database_sync_to_async
def staff_permissions(
    scope: Mapping[str, Any], perms: Iterable[str], *, fresh: bool = False
) -> set[str]:
    """Which of `perms` the socket's user has: none unless an active staff member. `fresh`: as
    the database says now (the session still signing them in, the account, its groups), not
    as the user was when the socket opened; bounded as a page's database work is (a frozen
    database is waited on for PAGE_DB_TIMEOUT_S, not for as long as it stays frozen, holding
    the thread the sockets' database work shares)."""
    with page_bound():
        return _staff_permissions(scope, perms, fresh)


def _staff_permissions(scope: Mapping[str, Any], perms: Iterable[str], fresh: bool) -> set[str]:
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
            except (DatabaseError, PyMongoError) as error:  # ask again next time, keep the page
                if (unavailable := database_unavailable(error)) is not None:
                    log.warning("could not read the permissions of a staff socket: %s",
                                failure_line(unavailable))  # fmt: skip
                else:  # a bug, not the database away: its traceback, and the watch goes on
                    log.error("could not read the permissions of a staff socket",
                              exc_info=True)  # fmt: skip
                continue
            if now != self._seen:
                self._seen = now
                await self._changed(now)


class StaffGroupListener(AsyncWebsocketConsumer):
    """A staff page's socket that only listens to one channel-layer `group` (the queue, the
    live calls page): open while its user holds `needed`, asked again among `watched` while it
    stays open, closed with FORBIDDEN once they no longer do, with MISSED after Redis was away.
    Subclasses add the group's message handlers."""

    group: str
    needed: str
    watched: tuple[str, ...]
    joined = False

    async def connect(self) -> None:
        permissions = await staff_permissions(self.scope, self.watched)
        if self.needed not in permissions:
            # Opened to be closed: refused before it opens, the page would see only a failed
            # handshake (1006), as in a network blip, and retry for ever; FORBIDDEN tells it
            # to stop and say why (static/staff/live-rows.js).
            await self.accept()
            await self.close(code=FORBIDDEN)
            return
        await self._join()
        self.joined = True
        self._permission_watch = PermissionWatch(
            self.scope, self.watched, self._permissions_now, seen=permissions,
            rejoin=self._join, missed=lambda: self.close(code=MISSED),
        )  # fmt: skip
        await self.accept()
        self._permission_watch.start()

    async def disconnect(self, code: int) -> None:
        if self.joined:
            self._permission_watch.stop()
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _join(self) -> None:
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def _permissions_now(self, permissions: set[str]) -> None:
        if self.needed not in permissions:
            await self.close(code=FORBIDDEN)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """The page only listens; anything it sends is ignored (not even read as JSON: a
        frame that is not would close the page's own socket)."""
