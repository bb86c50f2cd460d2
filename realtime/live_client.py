"""The Gemini Live API client: the only place that opens the upstream WebSocket.

One `LiveClient` per call. It keeps one logical model session alive across the Live API's
real-life interruptions:

* nothing is sent before `setupComplete`; caller audio meanwhile waits in a bounded buffer
  (oldest dropped first), and so it does while a dropped connection is being resumed; what
  else the caller sends (typed text, `audioStreamEnd`) keeps its place after the audio
  before it, even when that audio waited;
* the latest resumable handle from `sessionResumptionUpdate` is kept; on `goAway` the client
  rotates before the deadline, as soon as the session can be resumed without loss (the model
  has finished its turn, and the server has not said since that the session cannot be
  resumed, as it does while a tool call is pending); on an unexpected close (1011, 1006, a
  refusal of one message, ...) it reconnects with exponential backoff, up to a cap of attempts
  and of time (`RetryPolicy`), then gives up (`Failed`); a handle the server refuses gives way
  to a fresh session;
* the old socket is always closed before the new one opens (the server refuses a resume
  while the old socket lives);
* a tool response answers a call of the connection it was asked on: one not sent when that
  connection is lost is never sent on the next (whose session never made the call) but handed
  back in `Reconnecting.unanswered`.

Events go to the owner through one synchronous callback, in arrival order: the parsed Live
API events of `live_protocol`, plus this module's `Ready`, `Reconnecting`, `Resumed` and
`Failed`. The API key travels in the `x-goog-api-key` header only, never in a URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from realtime import live_protocol as lp

log = logging.getLogger(__name__)

# Above this many unsent bytes on the upstream socket, caller audio waits in the bounded queue
# rather than in the socket's buffer (where nothing would ever drop it).
INLINE_WRITE_BUFFER_LIMIT = 16 * 1024
# At most this many queued caller chunks travel in one upstream message (about 0.2-0.4 s).
MAX_CHUNKS_PER_MESSAGE = 10

# Close codes after which retrying cannot help when they answer the setup: the request
# itself is wrong. After an accepted setup they refuse one message, or are the server's own
# hiccup (1008 "Requested entity was not found" after a tool response, "The operation was
# aborted": deprecated-generative-ai-js #487, livekit/agents #4545, autonomous-os #238): the
# session resumes, a few times in a row at most (RetryPolicy.max_rejections).
# How long closing a socket may take: the closing handshake, then the TCP connection's end.
CLOSE_TIMEOUT_S = 1.0
FATAL_CLOSE_CODES = {1007: "invalid_request", 1008: "not_permitted"}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    setup_timeout_s: float = 10.0
    # A call whose model never answered its first setup within this long is given up on
    # (and the caller told), however many attempts that took.
    first_connect_deadline_s: float = 20.0
    # Likewise a session lost mid-call that is not back within this long (the caller hears
    # nothing meanwhile, and the page says it is reconnecting).
    reconnect_deadline_s: float = 30.0
    # The server closing 1007 or 1008 mid-call (the setup was accepted) refused something we
    # sent, or hiccupped: the message is gone, the session is resumed. This many in a row
    # is fatal.
    max_rejections: int = 3
    # Rotate this long before a goAway deadline even if the model is still speaking.
    go_away_margin_s: float = 2.0
    # A connection that lived this long counts as healthy and resets the attempt count; one
    # that dies sooner counts as a failed attempt, so a server that accepts and at once
    # closes cannot keep the call looping forever.
    healthy_after_s: float = 5.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class Ready:
    """The first `setupComplete`: the model is listening. `queued_audio_bytes`: caller audio
    queued before, sent first on this connection (the start of its audio stream, which the
    Live API's `audioOffset`s count from)."""

    queued_audio_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """The connection was lost; the session is being resumed. `unanswered`: tool responses
    that were waiting to be sent on it, now never sent (the model is to be told otherwise)."""

    reason: str
    unanswered: tuple[lp.FunctionResponse, ...] = ()


@dataclass(frozen=True, slots=True)
class Resumed:
    with_handle: bool  # False when no resumable handle existed: the model starts afresh
    queued_audio_bytes: int = 0  # as Ready's


@dataclass(frozen=True, slots=True)
class Failed:
    """The session is gone for good; `reason` is short and safe to show or record."""

    reason: str
    detail: str = ""


ClientEvent = Ready | Reconnecting | Resumed | Failed
EventSink = Callable[[Any], None]


class _Rotate(Exception):
    """Internal: leave the current socket and resume on a new one; the reason is logged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LiveClient:
    """A caller's model session. Call `run()` in a task; feed it with the `send_*` methods."""

    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        build_setup: Callable[[str | None], dict[str, Any]],
        on_event: EventSink,
        retry: RetryPolicy | None = None,
        audio_buffer_bytes: int = 64_000,  # 2 s of 16 kHz PCM16
        handle: str | None = None,
        resuming: bool = False,
    ) -> None:
        """`resuming`: carry on a call another process carried, with its session's `handle`
        when it had one; the first connection then emits `Resumed`, not `Ready`."""
        self._url = url
        self._api_key = api_key
        self._build_setup = build_setup
        self._emit = on_event
        self._retry = retry or DEFAULT_RETRY
        self._audio: deque[bytes] = deque()
        self._audio_bytes = 0
        # Chunks ever queued, and ever taken off the queue (sent or dropped); the caller's
        # other messages (typed text, audioStreamEnd), each with how many chunks had been
        # queued by then: it is sent once those are.
        self._audio_in = self._audio_out = 0
        self._after_audio: deque[tuple[int, str]] = deque()
        self._audio_limit = audio_buffer_bytes
        # Notes, and tool responses (flagged True: for the connection now up only).
        self._control: deque[tuple[bool, str]] = deque()
        self._briefing: deque[str] = deque()  # for the connection now up only: see brief()
        self._wake = asyncio.Event()
        self._rotate_now = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._ready = False
        self._closing = False
        self.handle: str | None = handle
        self._resuming = resuming
        self.generating = False
        # False from when the server says the session cannot be resumed at this point (a
        # generation, a tool call pending) until it gives a new resumable handle.
        self.resumable = True
        self.dropped_audio_bytes = 0
        self.connections = 0

    # --- feeding the model (synchronous: called on the caller's hot path) --------------------

    def send_audio(self, pcm16: bytes) -> None:
        self._audio.append(pcm16)
        self._audio_in += 1
        self._audio_bytes += len(pcm16)
        while self._audio_bytes > self._audio_limit:
            dropped = self._audio.popleft()
            self._audio_out += 1
            self._audio_bytes -= len(dropped)
            self.dropped_audio_bytes += len(dropped)
        self._wake.set()

    async def forward_audio(self, pcm16: bytes) -> None:
        """Send caller audio now when the way is clear, else queue it like `send_audio`.

        The hot path: most frames go straight onto the socket from the caller's own task,
        sparing a hand-over to the writer task. Anything that would reorder or block (no
        socket yet, a backlog, a socket not keeping up) takes the bounded queue instead.
        """
        ws = self._ws
        if (
            ws is None
            or not self._ready
            or self._audio
            or self._after_audio  # what the caller sent before this one goes first
            or self._briefing  # a fresh session hears the conversation so far first
            or ws.transport.get_write_buffer_size() > INLINE_WRITE_BUFFER_LIMIT
        ):
            self.send_audio(pcm16)
            return
        try:
            await ws.send(lp.audio_message(pcm16))
        except ConnectionClosed:
            self.send_audio(pcm16)  # resent on the resumed session

    def send_text(self, text: str) -> None:
        """Typed by the caller: sent after the caller audio still waiting to be sent (the
        model would otherwise read it before words she spoke first)."""
        self._queue_after_audio(lp.text_message(text))

    def send_audio_stream_end(self) -> None:
        """The caller paused: sent after the caller audio still waiting to be sent (the
        model ends the caller's turn on it; ahead of that audio, the turn would never end)."""
        self._queue_after_audio(lp.audio_stream_end_message())

    def send_tool_response(self, message: str) -> None:
        """Queue a built `toolResponse`. It answers calls made on the connection now up: should
        that connection be lost before it is sent, it is handed back in
        `Reconnecting.unanswered` instead (the resumed session never made those calls, and
        would refuse the message)."""
        self._control.append((True, message))
        self._wake.set()

    def send_note(self, text: str, *, respond: bool = True) -> None:
        """Context for the model that the caller does not hear; with `respond` the model
        answers it at once."""
        self._control.append((False, lp.context_note_message(text, respond=respond)))
        self._wake.set()

    def brief(self, text: str, *, respond: bool) -> None:
        """A note for the session just set up (a fresh one told the conversation so far),
        sent before anything else waiting. Should its connection close first, it is dropped:
        the next session is briefed for itself, and must not hear every briefing before."""
        self._briefing.append(lp.context_note_message(text, respond=respond))
        self._wake.set()

    def rotate(self) -> None:
        """Leave the current connection and resume the session on a new one (a stalled
        model, say). Nothing happens if no connection is open."""
        self._rotate_now.set()

    def _queue_after_audio(self, message: str) -> None:
        self._after_audio.append((self._audio_in, message))
        self._wake.set()

    # --- lifetime ----------------------------------------------------------------------------

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        ws = self._ws
        if ws is not None:
            await _close(ws)

    async def run(self) -> None:
        """Hold the session until `close()` or until it cannot be kept (`Failed` emitted).
        After `Failed` it may be run again: it resumes the session if it can (`Resumed`)."""
        attempt = 0
        rejections = 0
        reason = ""
        # Until when the session may take to be up (again): set as it starts, and each time
        # a connection it had is lost.
        deadline = time.monotonic() + self._retry.first_connect_deadline_s
        while not self._closing:
            if attempt:
                if attempt > self._retry.max_attempts and self.handle is not None:
                    # The handle keeps being refused (another process may still hold the
                    # session it names: a call that moved from a frozen one). A fresh session,
                    # told the conversation so far, serves the caller better than none.
                    log.warning("live: the session cannot be resumed (%s); starting a fresh "
                                "one", reason)  # fmt: skip
                    self.handle = None
                    attempt = self._retry.max_attempts - 1  # two tries: an outage gives up soon
                elif attempt > self._retry.max_attempts or time.monotonic() >= deadline:
                    self._emit(Failed("upstream_unavailable", reason))
                    return
                await asyncio.sleep(self._retry.delay(attempt))
                if self._closing:
                    return
            try:
                async with asyncio.timeout(self._open_budget(deadline)):
                    ws = await self._open()
            except _Fatal as fatal:
                if fatal.handle_refused:
                    # An expired or unknown handle (the setup is otherwise the one accepted
                    # before): a fresh session, told the conversation so far, not none.
                    log.warning("live: the session's handle was refused (%s); starting a "
                                "fresh one", fatal.detail)  # fmt: skip
                    self.handle = None
                    continue
                self._emit(Failed(fatal.reason, fatal.detail))
                return
            except (
                OSError, TimeoutError, InvalidHandshake, ConnectionClosed, lp.LiveProtocolError
            ) as error:
                if self._closing:
                    return  # closed while it opened
                attempt += 1
                reason = f"connect failed: {error}"
                log.warning("live: %s (attempt %d)", reason, attempt)
                continue
            opened_at = time.monotonic()
            lost = False  # the session is to be resumed on a new connection
            try:
                await self._serve(ws)
                return  # closed by us
            except asyncio.CancelledError:
                # The owner stops the call within a bound of its own, which a close waited
                # for here (below) would outlast against a server that no longer answers.
                _abort(ws)
                raise
            except _Rotate as rotation:
                reason = rotation.reason
                attempt = 0
                lost = True
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else 1006
                text = closed.rcvd.reason if closed.rcvd else "connection lost"
                if self._closing:
                    return
                lost = True
                healthy = time.monotonic() - opened_at >= self._retry.healthy_after_s
                refused = code in FATAL_CLOSE_CODES  # the setup was accepted: see there
                rejections = (1 if healthy else rejections + 1) if refused else 0
                if 0 < rejections < self._retry.max_rejections:
                    # The setup was accepted, so the server refused something we sent since:
                    # that message is gone (never resent) and the session resumes.
                    log.warning("live: the server refused a message (%s); resuming", text)
                    reason = f"refused a message: {code} {text}"
                    attempt = 0
                elif code in FATAL_CLOSE_CODES:
                    lost = False
                    self._emit(Failed(FATAL_CLOSE_CODES[code], f"{code} {text}"))
                    return
                else:
                    reason = f"closed {code} {text}".strip()
                    attempt = 1 if healthy else attempt + 1
            finally:
                self._ready = False
                self._ws = None
                self._briefing.clear()
                unanswered = self._take_unanswered()
                # Told before the old socket's close is waited for: from now on no answer
                # may be queued for the calls it carried.
                if lost and not self._closing:
                    log.info("live: resuming session (%s)", reason)
                    self._emit(Reconnecting(reason, unanswered))
                await _close(ws)
            deadline = time.monotonic() + self._retry.reconnect_deadline_s

    def _take_unanswered(self) -> tuple[lp.FunctionResponse, ...]:
        """The tool responses still queued for the connection just lost, out of the queue."""
        if not any(bound for bound, _ in self._control):
            return ()
        unanswered = [message for bound, message in self._control if bound]
        kept = [item for item in self._control if not item[0]]
        self._control.clear()
        self._control.extend(kept)
        return tuple(r for message in unanswered for r in lp.function_responses_in(message))

    def _open_budget(self, deadline: float) -> float:
        """How long one connection attempt (socket, setup, setupComplete) may take."""
        return min(2 * self._retry.setup_timeout_s, max(0.5, deadline - time.monotonic()))

    async def _open(self) -> ClientConnection:
        try:
            ws = await connect(
                self._url,
                additional_headers={"x-goog-api-key": self._api_key},
                open_timeout=self._retry.setup_timeout_s,
                # Gemini answers pings slowly under load; a strict timeout would kill
                # healthy calls, so allow a full minute.
                ping_interval=20,
                ping_timeout=60,
                max_size=16 * 2**20,
                compression=None,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            if status in (400, 401, 403, 404):
                raise _Fatal("not_permitted", f"HTTP {status} from the Live API") from None
            raise
        self._ws = ws  # close() closes it too while its setup is waited for
        try:
            await ws.send(lp.setup_message(self._build_setup(self.handle)))
            first = await asyncio.wait_for(ws.recv(), self._retry.setup_timeout_s)
            events = lp.parse_server_message(first)
            if not events or not isinstance(events[0], lp.SetupComplete):
                raise lp.LiveProtocolError("the first server message was not setupComplete")
        except BaseException as error:
            self._ws = None
            if isinstance(error, asyncio.CancelledError):
                _abort(ws)  # not waited for: see run()
            else:
                await _close(ws)
            if (
                isinstance(error, ConnectionClosed)
                and error.rcvd is not None
                and error.rcvd.code in FATAL_CLOSE_CODES  # the setup itself was refused
            ):
                raise _Fatal(
                    FATAL_CLOSE_CODES[error.rcvd.code],
                    f"{error.rcvd.code} {error.rcvd.reason}",
                    handle_refused=self.handle is not None,
                ) from None
            raise
        self.connections += 1
        resumed = self.connections > 1 or self._resuming
        self._ready = True
        queued = self._audio_bytes  # sent first on this socket: the writer has not run yet
        self._emit(
            Resumed(with_handle=self.handle is not None, queued_audio_bytes=queued)
            if resumed
            else Ready(queued_audio_bytes=queued)
        )
        return ws

    async def _serve(self, ws: ClientConnection) -> None:
        """Pump both directions on one socket until it closes, we close, or it must rotate."""
        self._wake.set()  # flush whatever waited for this socket
        self._rotate_now.clear()
        self.generating = False  # a turn does not outlive its connection
        self.resumable = True
        rotate_at: list[float] = []  # set by the reader on goAway
        reader = asyncio.create_task(self._read(ws, rotate_at))
        writer = asyncio.create_task(self._write(ws))
        asked = asyncio.create_task(self._rotate_now.wait())
        tasks = (reader, writer, asked)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if asked in done:
                raise _Rotate("asked to resume")
            if writer in done and self._closing and writer.exception() is None:
                # We close (close()): the reader reads on, dropping what comes, until the
                # server's close frame. Unread, what the server still sends (an answer
                # streaming in) would fill websockets' queue, which then stops reading: the
                # close frame would wait behind it, and close() for CLOSE_TIMEOUT_S, with the
                # session still open on the server (a call moving could not resume it).
                await asyncio.wait({reader}, timeout=CLOSE_TIMEOUT_S)
                return
            for task in done:
                task.result()  # re-raise ConnectionClosed / _Rotate
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(self, ws: ClientConnection, rotate_at: list[float]) -> None:
        while True:
            timeout = None
            if rotate_at:
                timeout = max(0.0, rotate_at[0] - time.monotonic())
            try:
                frame = await asyncio.wait_for(ws.recv(), timeout)
            except TimeoutError:
                raise _Rotate("go_away") from None
            if self._closing:
                continue  # read only so that the server's close frame is (see _serve)
            try:
                events = lp.parse_server_message(frame)
            except lp.LiveProtocolError as error:
                log.warning("live: ignoring a malformed server message: %s", error)
                continue
            for event in events:
                self._track(event, rotate_at)
                self._emit(event)
            # Frames that arrived together are read without a pause (recv() returns one
            # already received at once): the tasks taking what they emit (the agent's audio
            # on its way to the caller) get their turn between frames, or a burst would pile
            # up as if the caller could not keep up.
            await asyncio.sleep(0)
            if rotate_at and not self.generating and self.resumable:
                raise _Rotate("go_away")

    def _track(self, event: object, rotate_at: list[float]) -> None:
        # Resumed from the last handle, the session forgets all since: on goAway the client
        # waits (up to the deadline) for the turn's end, whose frame carries its usage, and
        # for a handle given after any tool call, whose answer the old session awaits.
        if isinstance(event, lp.ResumptionUpdate):
            self.resumable = event.resumable and event.handle is not None
            if self.resumable:
                self.handle = event.handle
        elif isinstance(event, lp.ToolCall):
            self.resumable = False
        elif (
            isinstance(event, lp.AudioChunk | lp.Transcript)
            and getattr(event, "role", "agent") == "agent"
        ):
            self.generating = True
        elif isinstance(event, lp.TurnComplete):  # an interrupted turn ends with one too
            self.generating = False
        elif isinstance(event, lp.GoAway) and not rotate_at:
            time_left = event.time_left_s if event.time_left_s is not None else 0.0
            deadline = time.monotonic() + max(0.0, time_left - self._retry.go_away_margin_s)
            rotate_at.append(deadline)

    async def _write(self, ws: ClientConnection) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._briefing or self._control or self._audio or self._after_audio:
                if self._closing:
                    return
                if self._briefing:
                    await _send_message(ws, self._briefing[0])
                    self._briefing.popleft()
                elif self._control:
                    await _send_message(ws, self._control[0][1])
                    self._control.popleft()
                elif self._after_audio and self._after_audio[0][0] <= self._audio_out:
                    await _send_message(ws, self._after_audio[0][1])  # its audio is all sent
                    self._after_audio.popleft()
                else:
                    # When audio has piled up (a slow moment, or a resumed session), send it
                    # as one message (up to the next audioStreamEnd): the stream is
                    # continuous, and one message costs far less than many.
                    limit = MAX_CHUNKS_PER_MESSAGE
                    if self._after_audio:
                        limit = min(limit, self._after_audio[0][0] - self._audio_out)
                    chunks = list(itertools.islice(self._audio, limit))
                    await ws.send(lp.audio_message(b"".join(chunks)))
                    # Only forget chunks once sent: chunks in flight when the socket drops
                    # are resent on the resumed session.
                    for chunk in chunks:
                        if self._audio and self._audio[0] is chunk:
                            self._audio.popleft()
                            self._audio_out += 1
                            self._audio_bytes -= len(chunk)
            if self._closing:
                return


async def _close(ws: ClientConnection) -> None:
    """Close `ws`: the closing handshake, then the TCP connection's end, within
    CLOSE_TIMEOUT_S. Unless done by then (or when cut short, as by the owner's own bound), the
    connection is aborted: websockets would leave it open until its keepalive's next ping (up
    to 20 s later), the session held open on the server meanwhile, and the next close of it
    (the run's, after close()'s) would wait for it all over again."""
    if ws.transport.is_closing():
        return  # aborted already
    try:
        with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
            await asyncio.wait_for(ws.close(), CLOSE_TIMEOUT_S)
    finally:
        _abort(ws)


def _abort(ws: ClientConnection) -> None:
    """End `ws`'s TCP connection now, unless it has ended already."""
    if ws.state is not State.CLOSED:
        ws.transport.abort()


async def _send_message(ws: ClientConnection, message: str) -> None:
    try:
        await ws.send(message)
    except UnicodeEncodeError:
        # Text is cleaned where it enters (realtime.wire); should anything slip through, it
        # is dropped, not retried on every reconnection.
        log.error("live: dropped a message that cannot be sent as UTF-8")


class _Fatal(Exception):
    """The server refused the setup. `handle_refused`: it named a handle, which may be why."""

    def __init__(self, reason: str, detail: str, *, handle_refused: bool = False) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.handle_refused = handle_refused
