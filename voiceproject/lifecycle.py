"""The server process's start and end, under daphne.

Daphne runs the app on Twisted's asyncio reactor and sends no ASGI lifespan events, so these
are hooks run once from asgi.py. Under other servers (or in tests) the daphne ones do nothing.
"""

from __future__ import annotations

import asyncio
import gc
import sys

from support import mongo


def freeze_startup_objects() -> None:
    """Keep what start-up built (Django, the routes, every imported module) out of the GC.

    Those ~120,000 objects live as long as the process, yet each full collection walked all
    of them: a 35 ms pause of every call's audio, a few times a minute under load. Frozen,
    a full collection walks only what the calls themselves allocated.
    """
    gc.collect()
    gc.freeze()


def close_clients_at_shutdown() -> None:
    """Close the async MongoDB client before the event loop stops (a Twisted trigger)."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    def close() -> Deferred[None]:
        return Deferred.fromFuture(asyncio.ensure_future(mongo.close_async_client()))

    # A zope Interface method: mypy reads its first parameter (`phase`) as `self`.
    reactor.addSystemEventTrigger("before", "shutdown", close)  # type: ignore[arg-type]


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

    WebSocketFactory.resetProtocolOptions = reset_with_close
    WebSocketFactory._voice_fail_by_close = True


def ignore_daphne_proxy_headers() -> None:
    """Make daphne's `--proxy-headers` harmless: daphne never takes the client from a header.

    With the flag, daphne replaces the socket's peer by the *first* X-Forwarded-For entry,
    which the client writes, and the real peer is lost before the app sees the request. The
    client address belongs to `voiceproject.proxies.TrustedProxies`, which reads the header
    per TRUSTED_PROXY_COUNT; so daphne's parser is replaced by one that keeps the peer (and
    the socket's scheme: Django reads X-Forwarded-Proto itself, SECURE_PROXY_SSL_HEADER).
    """
    if "daphne.server" not in sys.modules:
        return
    from daphne import http_protocol, ws_protocol

    def peer_and_scheme(
        headers: object,
        address_header_name: str | None = None,
        port_header_name: str | None = None,
        proto_header_name: str | None = None,
        original_addr: list[object] | None = None,
        original_scheme: str | None = None,
    ) -> tuple[list[object] | None, str | None]:
        return original_addr, original_scheme

    http_protocol.parse_x_forwarded_for = peer_and_scheme
    ws_protocol.parse_x_forwarded_for = peer_and_scheme
