"""Who signs a staff socket in, read as a page reads it: within PAGE_DB_TIMEOUT_S.

Channels' AuthMiddlewareStack reads the session and its user from the database with no bound:
with the database frozen, a socket's handshake waits for as long as the freeze lasts, holding
the one thread the sockets' database reads share (database_sync_to_async). Here those same
reads (Channels' own `get_user`) run inside `page_bound()`, in that thread, and a database that
does not answer in time refuses the handshake before it opens (daphne answers 403): the page
sees it fail as in a network blip, says it is reconnecting and tries again with backoff
(static/staff/live-rows.js, static/livestaff/call.js), and the first handshake once the
database answers opens as usual. One line is logged, with no traceback; any other failure is
a bug, left to raise.

    path("ws/staff/live", SameOriginOnly(BoundedAuthMiddlewareStack(Consumer.as_asgi())))
"""

from __future__ import annotations

import logging
from typing import Any

from channels.auth import AuthMiddleware, get_user
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.db import DatabaseError
from pymongo.errors import PyMongoError

from support.mongo import failure_line
from voiceproject.page_timeout import database_unavailable, page_bound

log = logging.getLogger(__name__)

# The close code of a staff socket refused for the database not answering ("Try Again Later"):
# here, before it opens, daphne answers 403 and the browser sees 1006, as after a blip; after
# (livestaff/consumers.py: where the call is could not be read) the page sees it and connects
# again (static/livestaff/call.js).
TRY_AGAIN = 1013

# Channels' get_user is its sync function wrapped in database_sync_to_async; `func` is that
# function, to be run inside the bound in the thread that runs it.
_channels_user = get_user.func  # type: ignore[attr-defined]


@database_sync_to_async
def _signed_in(scope: Any) -> Any:
    """The user the scope's session signs in (AnonymousUser if none), as Channels reads it,
    and what they may do (within the caller's bound: resolve_scope). Their permissions are
    read here, in the same bound, so that the socket's first check of them (its `connect`) is
    answered from the user, not from a database that may have stopped answering since."""
    user = _channels_user(scope)
    if user.is_authenticated and user.is_active:
        user.get_all_permissions()  # kept on the user (Django's backend caches them)
    return user


class BoundedAuthMiddleware(AuthMiddleware):
    """Channels' AuthMiddleware, its reads bounded, its handshake refused (TRY_AGAIN) when the
    database does not answer within the bound."""

    async def resolve_scope(self, scope: Any) -> None:
        # The bound counts from the handshake, not from when the thread the reads share takes
        # this one up (it goes to that thread with this context): handshakes queued behind a
        # read the database does not answer are refused with it, not one bound after another.
        with page_bound():
            scope["user"]._wrapped = await _signed_in(scope)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        scope = dict(scope)
        self.populate_scope(scope)
        try:
            await self.resolve_scope(scope)
        except (DatabaseError, PyMongoError) as error:
            if (unavailable := database_unavailable(error)) is None:
                raise
            log.warning("WebSocket %s refused: its sign-in could not be read: %s",
                        str(scope.get("path", ""))[:200], failure_line(unavailable))  # fmt: skip
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": TRY_AGAIN})
            return None
        # On to the socket as Channels' own does, past its reads (AuthMiddleware.__call__).
        return await BaseMiddleware.__call__(self, scope, receive, send)


def BoundedAuthMiddlewareStack(inner: Any) -> Any:
    """AuthMiddlewareStack, with BoundedAuthMiddleware for Channels' AuthMiddleware."""
    return CookieMiddleware(SessionMiddleware(BoundedAuthMiddleware(inner)))
