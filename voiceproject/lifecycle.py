"""Process shutdown: close the async MongoDB client before the event loop stops.

Daphne runs the app on Twisted's asyncio reactor and sends no ASGI lifespan events, so the
hook is a Twisted "before shutdown" trigger. Under other servers (or in tests) it does nothing.
"""

from __future__ import annotations

import asyncio
import sys

from support import mongo


def close_clients_at_shutdown() -> None:
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    def close() -> Deferred[None]:
        return Deferred.fromFuture(asyncio.ensure_future(mongo.close_async_client()))

    reactor.addSystemEventTrigger("before", "shutdown", close)  # type: ignore[attr-defined]
