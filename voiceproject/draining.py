"""Draining: a server process told to stop first lets the calls it carries move elsewhere.

Daphne has no graceful stop (daphne #177): SIGTERM stops its reactor and cuts every socket.
voiceproject/lifecycle.py makes SIGTERM run `drain()` first:

    SIGTERM  ->  draining: /healthz answers 503 {"status": "draining"} (the balancer sends no
                 new connections; the process should refuse new calls: `is_draining()`)
             ->  if calls are up, wait `notice_s` (VOICE_DRAIN_NOTICE_S) for the balancer's
                 health checks to notice, so moved calls do not land here again
             ->  every drain callback runs (`on_drain`, and each call's own)
             ->  wait until no call is registered, or `bound_s` (VOICE_DRAIN_S) since SIGTERM
             ->  the reactor stops; whatever is left is cut

DRAIN_AT_ONCE_SIGNAL (SIGUSR2) drains the same way without the notice: for a process the
balancer already sends nothing new (the workers command's rolling restart pointed its slot at
the next process first), waiting for health checks that no longer route to it only delays the
calls' move.

The process knows which calls it carries because the code carrying them says so:

    register_call(call_id, channel="web", on_drain=tell_the_page_to_reconnect)
    ...
    unregister_call(call_id)   # the call ended, or moved to another process

All of this runs on the server's one event loop; nothing here is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

DrainCallback = Callable[[], Awaitable[None]]

# Drain as SIGTERM does, with no VOICE_DRAIN_NOTICE_S first: the sender has already taken the
# process out of the balancer's rotation (voiceproject/workers.py). Here, not in lifecycle.py,
# so that the supervisor can name it without importing Django.
DRAIN_AT_ONCE_SIGNAL = signal.SIGUSR2


@dataclass(frozen=True)
class LiveCall:
    """A call this process carries, as registered; `context` is the registering code's (its
    call's log context), in which `on_drain` runs."""

    call_id: str
    channel: str
    since: float = field(default_factory=time.time)  # epoch seconds
    on_drain: DrainCallback | None = field(default=None, repr=False, compare=False)
    context: contextvars.Context = field(
        default_factory=contextvars.copy_context, repr=False, compare=False
    )


@dataclass(frozen=True)
class DrainOutcome:
    """How a drain ended: `left` lists the calls still up when it gave up (empty: all moved)."""

    left: tuple[str, ...]
    seconds: float


class ProcessCalls:
    """The calls one process carries and what to do when it must stop. One per process
    (`this_process`); tests make their own."""

    def __init__(self) -> None:
        self._calls: dict[str, LiveCall] = {}
        self._callbacks: list[DrainCallback] = []
        self._draining = False
        self._told = False  # drain callbacks have run: later arrivals are told at once
        self._tasks: set[asyncio.Task[None]] = set()
        self._emptied: asyncio.Future[None] | None = None
        self._deadline: float | None = None  # time.monotonic() at which the drain gives up

    # --- the calls ----------------------------------------------------------------------------

    def register_call(
        self, call_id: str, *, channel: str = "web", on_drain: DrainCallback | None = None
    ) -> None:
        """Count `call_id` as carried here until `unregister_call(call_id)`.

        `on_drain` runs once if the process drains while the call is here: it should move the
        call (tell its page to reconnect, hand its phone stream over) and return. A call
        registered while the process is already draining has it run at once. Registering an
        id again replaces the earlier entry (a call that re-attached to this process).
        """
        self._calls[call_id] = LiveCall(call_id, channel, on_drain=on_drain)
        if self._emptied is not None and self._emptied.done():  # a late arrival while draining
            self._emptied = asyncio.get_running_loop().create_future()
        if self._told and on_drain is not None:
            self._run(on_drain, f"call {call_id}", self._calls[call_id].context)

    def unregister_call(self, call_id: str) -> None:
        """The call ended or moved away. Unknown ids are ignored, so calling twice is safe."""
        self._calls.pop(call_id, None)
        if not self._calls and self._emptied is not None and not self._emptied.done():
            self._emptied.set_result(None)

    def live_calls(self) -> list[LiveCall]:
        """The calls carried here now, oldest first."""
        return sorted(self._calls.values(), key=lambda call: call.since)

    def __len__(self) -> int:
        return len(self._calls)

    # --- draining -----------------------------------------------------------------------------

    def on_drain(self, callback: DrainCallback) -> DrainCallback:
        """Run `callback` (an async function of no arguments) when the process drains.

        For process-wide work (e.g. stop taking phone calls); per-call work belongs in
        `register_call(on_drain=...)`. Returns `callback`, so it can decorate.
        """
        self._callbacks.append(callback)
        return callback

    @property
    def draining(self) -> bool:
        return self._draining

    def time_left(self) -> float:
        """Seconds until the drain gives up and the process stops (infinite while not
        draining). What a call's move waits on (a request to Twilio, a write) must be done by
        then: whatever is still running is cut. Safe to read from another thread."""
        if self._deadline is None:
            return math.inf
        return max(0.0, self._deadline - time.monotonic())

    async def drain(self, *, bound_s: float, notice_s: float = 0.0) -> DrainOutcome:
        """Drain as the module docstring says; return when no call is left and the callbacks
        have finished, or after `bound_s`.

        Callbacks still running then are cancelled; their failures are logged, never raised.
        The caller stops the server afterwards.
        """
        started = time.monotonic()
        deadline = self._deadline = started + bound_s
        self._draining = True
        self._emptied = asyncio.get_running_loop().create_future()
        if self._calls:
            log.info("draining: %d call(s) up; waiting up to %.0f s", len(self._calls), bound_s)
            await self._until_empty(min(notice_s, bound_s))
        self._told = True
        for callback in self._callbacks:
            self._run(callback, "drain callback")
        for call in list(self._calls.values()):
            if call.on_drain is not None:
                self._run(call.on_drain, f"call {call.call_id}", call.context)
        # Until no call is left and no callback runs: a call may arrive as the others leave
        # (one whose start here was under way), and is told and waited for like them.
        while time.monotonic() < deadline:
            await self._until_empty(deadline - time.monotonic())
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))
            if not self._calls and not self._tasks:
                break
        for task in list(self._tasks):
            task.cancel()
        return DrainOutcome(tuple(self._calls), time.monotonic() - started)

    async def _until_empty(self, timeout: float) -> None:
        if not self._calls or self._emptied is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._emptied), max(0.0, timeout))

    def _run(
        self, callback: DrainCallback, what: str, context: contextvars.Context | None = None
    ) -> None:
        async def guarded() -> None:
            try:
                await callback()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("draining: %s failed", what)

        task = asyncio.get_running_loop().create_task(
            guarded(), name=f"drain {what}", context=context
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


this_process = ProcessCalls()


# The API the rest of the project uses: this process's calls and drain.


def register_call(
    call_id: str, *, channel: str = "web", on_drain: DrainCallback | None = None
) -> None:
    """See `ProcessCalls.register_call`."""
    this_process.register_call(call_id, channel=channel, on_drain=on_drain)


def unregister_call(call_id: str) -> None:
    """See `ProcessCalls.unregister_call`."""
    this_process.unregister_call(call_id)


def live_calls() -> list[LiveCall]:
    return this_process.live_calls()


def on_drain(callback: DrainCallback) -> DrainCallback:
    """See `ProcessCalls.on_drain`."""
    return this_process.on_drain(callback)


def time_left() -> float:
    """See `ProcessCalls.time_left`."""
    return this_process.time_left()


def is_draining() -> bool:
    """True once the process was told to stop: take no new call (refuse it, or send it to be
    re-attached elsewhere)."""
    return this_process.draining
