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


def close_oversized_frames_with_1009() -> None:
    """Make daphne close a connection with 1009 when a frame exceeds its 1 MiB limit.

    Autobahn, under daphne, "fails by drop" by default: it cuts the TCP connection without a
    close frame, so a client sees 1006 and cannot tell why. The contract promises 1009
    ("message too big"); with failByDrop off autobahn sends that close frame first.
    """
    if "daphne.ws_protocol" not in sys.modules and "daphne.server" not in sys.modules:
        return
    from daphne.ws_protocol import WebSocketFactory

    if getattr(WebSocketFactory, "_voice_fail_by_close", False):
        return
    reset = WebSocketFactory.resetProtocolOptions

    def reset_with_close(self: WebSocketFactory) -> None:
        reset(self)
        self.failByDrop = False

    WebSocketFactory.resetProtocolOptions = reset_with_close  # type: ignore[method-assign]
    WebSocketFactory._voice_fail_by_close = True  # type: ignore[attr-defined]
