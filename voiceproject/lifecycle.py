"""The server process's start and end, under daphne.

Daphne runs the app on Twisted's asyncio reactor and sends no ASGI lifespan events, so these
are hooks run once from asgi.py. Under other servers (or in tests) the daphne ones do nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.conf import settings
from threadpoolctl import threadpool_limits

from support import mongo
from voiceproject import draining

log = logging.getLogger(__name__)


def freeze_startup_objects() -> None:
    """Keep what start-up built (Django, the routes, every imported module) out of the GC.

    Those ~120,000 objects live as long as the process, yet each full collection walked all
    of them: a 35 ms pause of every call's audio, a few times a minute under load. Frozen,
    a full collection walks only what the calls themselves allocated.
    """
    gc.collect()
    gc.freeze()


# How long a thread holding the GIL keeps it while another waits (CPython's default: 5 ms).
GIL_SWITCH_INTERVAL_S = 0.0005


def let_the_event_loop_in_promptly() -> None:
    """Make a thread rendering a page give the GIL back to the event loop within 0.5 ms.

    Django's sync views (the staff pages, the admin) run in a worker thread, CPU-bound for
    tens of ms per page; every time the event loop woke to move a call's audio it waited up to
    5 ms for the GIL, a few times per frame. With four staff members browsing, a live call's
    p99 gap between audio frames went from 21 ms to 42 ms (bench_staff_bystander); at 0.5 ms it
    is about 30-33 ms, and the pages come out faster too. With no page being rendered nothing
    waits for the GIL, so the voice path pays nothing.
    """
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def keep_numpy_on_one_thread() -> None:
    """Let numpy's matrix products (OpenBLAS) run on the calling thread alone.

    A call's audio work is small and runs on the event loop. Above a size (half a second of
    the agent's voice resampled for a recording, postcall/recording.py) OpenBLAS splits a
    product over a thread per core, and those threads spin between products: with 50 recorded
    calls that put 0.4 CPU-s per call-minute on the server (+51%, `bench_voice --record`),
    against 0.08 (+8%) on one thread. The other cores belong to the other calls and processes.
    """
    threadpool_limits(limits=1, user_api="blas")


# At shutdown, how long calls still ending get to write their records before the client closes,
# then how long their summaries get (those not written by then get the stand-in).
ENDING_CALLS_WAIT_S = 5.0
SUMMARIES_WAIT_S = 2.0


async def close_when_written() -> None:
    """Close the async MongoDB client once the calls still ending here have written their
    records and their summaries (each bounded)."""
    from postcall import summary
    from realtime.call_session import ending_calls_finished

    await ending_calls_finished(timeout_s=ENDING_CALLS_WAIT_S)
    await summary.finish_pending(timeout_s=SUMMARIES_WAIT_S)
    await mongo.close_async_client()


def sweep_from_the_start() -> None:
    """Start the process's call sweeper (continuity/sweeper.py) as soon as daphne runs, not
    with its first call: a fresh or idle process must end the calls nobody came back to too
    (after a crash or a drain whose callers did not return)."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor

    from continuity.sweeper import ensure_sweeping

    # callLater: the startup triggers run before the asyncio loop does; the sweeper needs it.
    reactor.callWhenRunning(reactor.callLater, 0, ensure_sweeping)


def close_clients_at_shutdown() -> None:
    """Close the async MongoDB client before the event loop stops (a Twisted trigger), once
    the calls still ending here have written their records (`close_when_written`)."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    def close() -> Deferred[None]:
        return Deferred.fromFuture(asyncio.ensure_future(close_when_written()))

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


ACCESS_LOG = logging.getLogger("daphne.access")


def keep_query_strings_out_of_the_access_log() -> None:
    """Make daphne's access log give a request's path without its query string.

    daphne logs an HTTP request's whole URI: the voice page's `/?token=T` (README) would put a
    customer's session token in the log, for anyone who reads it to spend first. Every entry
    goes through here, to a stream or (`log_access_through_logging`) to logging alike.
    """
    if "daphne.access" not in sys.modules:
        return
    from daphne.access import AccessLogGenerator

    log_action = AccessLogGenerator.__call__
    if getattr(log_action, "_voice_paths_only", False):
        return

    def paths_only(
        self: AccessLogGenerator, protocol: str, action: str, details: dict[str, Any]
    ) -> None:
        path = details.get("path")
        if isinstance(path, str) and "?" in path:
            details = {**details, "path": path.partition("?")[0]}
        log_action(self, protocol, action, details)

    paths_only._voice_paths_only = True  # type: ignore[attr-defined]
    AccessLogGenerator.__call__ = paths_only


def log_access_through_logging() -> None:
    """With LOG_FORMAT=json, make daphne's access log a log record (logger "daphne.access").

    daphne writes its access log straight to a stream, NCSA style: to stdout by default, which
    would put plain lines among the JSON ones. Those become records, so every line is JSON;
    an access log daphne sends elsewhere (`--access-log FILE`, the workers' os.devnull) stays
    as it was. daphne makes its logger after importing the application, so this takes effect.
    """
    if settings.LOG_FORMAT != "json" or "daphne.access" not in sys.modules:
        return
    from daphne.access import AccessLogGenerator

    to_stream = AccessLogGenerator.write_entry

    def write_entry(
        self: AccessLogGenerator, host: str, date: Any, request: str,
        status: int | None = None, length: int | None = None,
        ident: str | None = None, user: str | None = None,
    ) -> None:  # fmt: skip
        if self.stream is not sys.stdout:
            to_stream(self, host, date, request, status, length, ident, user)
            return
        ACCESS_LOG.info('%s "%s" %s %s', host, request, status or "-", length or "-")

    AccessLogGenerator.write_entry = write_entry


def bound_slow_requests() -> None:
    """Make daphne close a connection that sends a request too slowly (slowloris).

    Twisted resets its idle timeout on every byte, so a client dripping a header line, a
    half-finished WebSocket handshake or a body a byte at a time held a connection (and a
    file descriptor) open for ever. Here a request's line and headers must arrive within
    HTTP_HEADER_TIMEOUT_S of its first byte, and its body within HTTP_BODY_TIMEOUT_S of its
    headers; otherwise the client gets 408 and the connection is closed. The clock starts at a
    request's first byte, so a kept-alive connection waiting for its next request is left to
    Twisted's idle timeout (a minute), as a balancer reusing connections expects.

    daphne has no flag for this (its --websocket_connect_timeout bounds the WebSocket
    handshake only once the headers are in), so it is a hook here, installed by asgi.py
    wherever daphne runs this application.
    """
    if "daphne.server" not in sys.modules:
        return
    from daphne.http_protocol import HTTPFactory
    from twisted.internet.protocol import connectionDone
    from twisted.python.failure import Failure
    from twisted.web.http import HTTPChannel, _GenericHTTPChannelProtocol

    if getattr(HTTPFactory, "_voice_bounded", False):
        return
    header_s = settings.HTTP_HEADER_TIMEOUT_S
    body_s = settings.HTTP_BODY_TIMEOUT_S

    class DeadlineChannel(HTTPChannel):
        _deadline: Any = None

        def dataReceived(self, data: bytes) -> None:
            if self._deadline is None and not self._handlingRequest:
                self._start_deadline("headers", header_s)
            super().dataReceived(data)

        def allHeadersReceived(self) -> None:
            super().allHeadersReceived()
            self._cancel_deadline()
            if self.length != 0:  # a body follows (None: chunked)
                self._start_deadline("body", body_s)

        def allContentReceived(self) -> None:
            self._cancel_deadline()
            super().allContentReceived()

        def connectionLost(self, reason: Failure = connectionDone) -> None:
            self._cancel_deadline()
            super().connectionLost(reason)

        def _start_deadline(self, part: str, seconds: float) -> None:
            # TimeoutMixin's callLater: the factory's reactor (see HTTPFactory.buildProtocol).
            call_later: Any = self.callLater
            self._deadline = call_later(seconds, self._too_slow, part, seconds)

        def _cancel_deadline(self) -> None:
            if self._deadline is not None and self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

        def _too_slow(self, part: str, seconds: float) -> None:
            self._deadline = None
            transport: Any = self.transport
            log.info(
                "Closed a connection from %s: the request's %s took over %s s",
                transport.getPeer(), part, seconds,
            )  # fmt: skip
            transport.write(
                b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                b"Content-Length: 0\r\n\r\n"
            )
            self.loseConnection()

    def deadline_channel(factory: Any) -> Any:
        return _GenericHTTPChannelProtocol(DeadlineChannel())

    HTTPFactory.protocol = deadline_channel
    HTTPFactory._voice_bounded = True


def drain_on_sigterm() -> None:
    """Make SIGTERM drain the process (voiceproject/draining.py) before daphne stops it, and
    DRAIN_AT_ONCE_SIGNAL drain it without the notice (the sender took it out of rotation).

    Twisted installs the reactor's own `sigTerm` method as the SIGTERM handler when daphne
    starts the reactor (after this runs), so replacing that method is how the reactor itself
    hands SIGTERM to us. A second SIGTERM (or either signal while draining), or SIGINT
    (Ctrl-C), stops at once as before.
    """
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor

    def handler(notice_s: float | None) -> Callable[[int, FrameType | None], None]:
        def received(number: int, frame: FrameType | None) -> None:
            # A signal handler: only hand over to the reactor's thread, as Twisted's own does.
            # It interrupts whichever call's task was running: drain in a context of its own,
            # or every line the drain logs would name that call.
            name = signal.Signals(number).name
            reactor.callFromThread(contextvars.Context().run, _drain_requested, name, notice_s)

        return received

    reactor.sigTerm = handler(None)  # VOICE_DRAIN_NOTICE_S
    # Twisted leaves this signal alone; Python allows handlers from the main thread only,
    # where daphne imports the application (elsewhere, e.g. a test's thread, SIGTERM serves).
    if threading.current_thread() is threading.main_thread():
        signal.signal(draining.DRAIN_AT_ONCE_SIGNAL, handler(0.0))


_drain_task: asyncio.Task[None] | None = None  # held: the loop keeps only weak references


def _drain_requested(signal_name: str, notice_s: float | None) -> None:
    """Drain on `signal_name`, after `notice_s` (None: VOICE_DRAIN_NOTICE_S) if calls are up."""
    global _drain_task
    if _drain_task is not None:
        log.warning("second %s while draining: stopping now", signal_name)
        _stop_reactor()
        return
    log.info("%s: draining (at most %.0f s)", signal_name, settings.VOICE_DRAIN_S)
    # Twisted runs this on its asyncio reactor's loop, the one the calls live on.
    _drain_task = asyncio.ensure_future(_drain_then_stop(notice_s))


async def _drain_then_stop(notice_s: float | None) -> None:
    if notice_s is None:
        notice_s = settings.VOICE_DRAIN_NOTICE_S
    try:
        outcome = await draining.this_process.drain(
            bound_s=settings.VOICE_DRAIN_S, notice_s=notice_s
        )
        if outcome.left:
            log.warning(
                "drain bound reached after %.1f s; cutting %d call(s): %s",
                outcome.seconds, len(outcome.left), ", ".join(outcome.left),
            )  # fmt: skip
        else:
            log.info("drained in %.1f s; stopping", outcome.seconds)
    finally:
        _stop_reactor()


def _stop_reactor() -> None:
    from twisted.internet import reactor
    from twisted.internet.error import ReactorNotRunning

    with contextlib.suppress(ReactorNotRunning):  # already stopping
        reactor.stop()  # type: ignore[misc]  # a zope Interface method, as above
