"""This process's address on the channel layer, and the calls it carries.

Each server process reads one channel (`await process_channel()`), whose name is stored on
every call it carries (`calls.carrier`). Anything that must reach a call from elsewhere (a
process taking the call over, a staff member on another process) sends a message naming the
call to that channel; the process hands it to the call registered here. One channel per
process, not per call: a hundred calls do not cost a hundred blocking reads on Redis.

    name = await process_channel()
    register(call_id, handler)      # handler(message) is awaited for each message to the call
    unregister(call_id)

A call this process claimed (continuity.calls.take_over) counts as starting here until it is
registered, its start fails (`unclaim`), or STARTING_S passes: another take-over of it here
meanwhile (the same resume token on two sockets at once) would open it twice.

Messages for a call no longer here are dropped (the sender learns from the call record);
one that names a `reply_to` channel (a staff page's action) is answered `call.not_here`
there, so that the person is told the call is on its way elsewhere rather than nothing. A
kind of message that must not be dropped so goes to the handler set for it with `if_not_here`
(Twilio's word that a phone call is over, told to a process that is letting the call go, or is
still starting it: the call must end all the same).

While it reads its channel a process also says it is alive, in Django's cache (Redis when
several processes share the work): `await is_alive(name)` lets a process taking a call over
from one that died go ahead at once instead of waiting for an answer that will never come.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from channels.layers import get_channel_layer
from django.core.cache import cache

from postcall import logs
from voiceproject.messaging import send_to_channel
from voiceproject.tasks import raise_if_cancelled, stop

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
_T = TypeVar("_T")
RETRY_S = 1.0
# A process says it is alive this often, for this long: one that stops saying so (killed)
# is taken for dead within ALIVE_FOR_S, and a busy one may stall for ALIVE_FOR_S less
# ALIVE_EVERY_S (1.25 s) without looking dead. The time is in the value: Django's Redis
# cache keeps a key for whole seconds only (1.5 was 1; 2 made every call of a killed
# process wait 2 s to be taken over), so the key's own expiry only tidies up.
ALIVE_EVERY_S, ALIVE_FOR_S = 0.25, 1.5
_ALIVE_KEY_S = math.ceil(ALIVE_FOR_S)
# How long a call claimed here may take to start (its lookups, each bounded by a few seconds)
# before a take-over of it here may go ahead regardless: one whose start failed unseen.
STARTING_S = 15.0
# Which server process this is, for people (`calls.worker`: "host:pid").
WORKER = f"{socket.gethostname()}:{os.getpid()}"


class _ProcessChannel:
    def __init__(self) -> None:
        self.name: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: asyncio.Task[None] | None = None
        self._alive: asyncio.Task[None] | None = None
        self._handlers: dict[str, Handler] = {}
        self._starting: dict[str, float] = {}  # call id: until when (time.monotonic())
        # By message type, for a call not registered here (if_not_here): the process's own,
        # kept across event loops, as the code that sets them is imported once.
        self._if_not_here: dict[str, Handler] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        if self.name is None or self._loop is not loop:
            # A new event loop (each test has its own) gets a channel of its own.
            layer = get_channel_layer()
            if layer is None:
                raise RuntimeError("continuity needs a channel layer (CHANNEL_LAYERS)")
            # The layer's own default prefix, as every consumer of this process uses: Redis
            # keeps all of a process's channels of one prefix in one list, read by one
            # receive at a time. A channel of another prefix would hold that turn while it
            # waits on a list of its own, and the pages this process serves (a staff page
            # watching a call) would hear nothing while it carries calls.
            self.name = await layer.new_channel()
            self._loop = loop
            self._handlers.clear()
            self._starting.clear()
            # The process's own tasks, not the call's that happened to start them (its id
            # would be on every line they log: postcall/logs.py).
            own = contextvars.Context()
            self._reader = loop.create_task(
                self._read(self.name), name="process channel", context=own
            )
            self._alive = loop.create_task(
                self._say_alive(self.name), name="process alive", context=own.copy()
            )
        return self.name

    async def _say_alive(self, name: str) -> None:
        while True:
            try:
                alive = {"worker": WORKER, "until": time.time() + ALIVE_FOR_S}
                await _off_the_page_thread(cache.set, _alive_key(name), alive, _ALIVE_KEY_S)
            except Exception as error:  # the cache away: the calls go on meanwhile
                log.warning("process channel: cannot say it is alive (%r)", error)
            await asyncio.sleep(ALIVE_EVERY_S)

    def register(self, call_id: str, handler: Handler) -> None:
        self._handlers[call_id] = handler
        self._starting.pop(call_id, None)

    def unregister(self, call_id: str) -> None:
        self._handlers.pop(call_id, None)

    def if_not_here(self, kind: str, handler: Handler) -> None:
        self._if_not_here[kind] = handler

    def claimed(self, call_id: str) -> None:
        self._starting[call_id] = time.monotonic() + STARTING_S

    def unclaim(self, call_id: str) -> None:
        self._starting.pop(call_id, None)

    def starting(self, call_id: str) -> bool:
        until = self._starting.get(call_id)
        if until is not None and until <= time.monotonic():
            del self._starting[call_id]
            return False
        return until is not None

    async def _read(self, name: str) -> None:
        layer = get_channel_layer()
        assert layer is not None
        while True:
            try:
                message = await layer.receive(name)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis away: keep trying, the calls go on meanwhile
                raise_if_cancelled()  # unless the error was a swallowed cancellation
                log.warning("process channel: cannot read (%r); retrying", error)
                await asyncio.sleep(RETRY_S)
                continue
            call = str(message.get("call_id", ""))
            handler = self._handlers.get(call) or self._if_not_here.get(str(message.get("type")))
            if handler is None:
                if message.get("reply_to"):
                    self._spawn(_not_here(message))
                continue
            # Its log lines carry the call's id, as the call's own tasks' do.
            self._spawn(self._handle(handler, message), logs.context_of(call))

    def _spawn(
        self, work: Coroutine[Any, Any, None], context: contextvars.Context | None = None
    ) -> None:
        task = asyncio.get_running_loop().create_task(work, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, handler: Handler, message: dict[str, Any]) -> None:
        try:
            await handler(message)
        except Exception:  # one bad message must not stop the channel
            log.exception("process channel: handling %s failed", message.get("type"))

    async def stop(self) -> None:
        for task in (self._reader, self._alive):
            if task is not None:
                await stop(task)
        self.name = self._reader = self._alive = self._loop = None


async def _not_here(message: dict[str, Any]) -> None:
    """Tell the sender of `message` that its call left this process (it moved meanwhile)."""
    await send_to_channel(str(message["reply_to"]), {
        "type": "call.not_here", "call_id": message.get("call_id"), "kind": message.get("kind"),
    }, patience_s=0.5)  # fmt: skip


_channel = _ProcessChannel()


async def process_channel() -> str:
    """This process's channel name (created, and read, on first use)."""
    return await _channel.start()


def register(call_id: str, handler: Handler) -> None:
    _channel.register(call_id, handler)


def unregister(call_id: str) -> None:
    _channel.unregister(call_id)


def if_not_here(kind: str, handler: Handler) -> None:
    """`handler(message)` is awaited for each message of type `kind` to a call not registered
    here (not carried here, or not yet: see `starting`), which would otherwise be dropped."""
    _channel.if_not_here(kind, handler)


def claimed(call_id: str) -> None:
    """This process claimed `call_id` and is starting it: see the module docstring."""
    _channel.claimed(call_id)


def unclaim(call_id: str) -> None:
    """The call claimed here did not start after all: it may be taken over here again."""
    _channel.unclaim(call_id)


def starting(call_id: str) -> bool:
    """Whether this process claimed `call_id` and is starting it still (not registered)."""
    return _channel.starting(call_id)


def carries(carrier: str, call_id: str) -> bool | None:
    """Whether this process, if it reads channel `carrier`, carries `call_id` (its call
    registered here, or claimed and starting: its record names this process before the call
    registers); None when `carrier` is another process's channel."""
    if carrier != _channel.name:
        return None
    return call_id in _channel._handlers or _channel.starting(call_id)


def _alive_key(name: str) -> str:
    return "voice-process-alive:" + name


async def _off_the_page_thread(operation: Callable[..., _T], *args: Any) -> _T:
    """`operation(*args)` (a cache call) in a thread of its own, not through `cache.aset`
    and `cache.aget`: Django runs those in the process's one thread for sync code, where
    the staff pages render. A page taking over ALIVE_FOR_S there (an export, a page waiting
    out a slow database, up to PAGE_DB_TIMEOUT_S) would silence the process, and the
    others would take its calls over without waiting for it to let go, or end them as lost."""
    return await asyncio.to_thread(operation, *args)


async def is_alive(name: str) -> bool:
    """Whether the process reading channel `name` said it was alive in the last ALIVE_FOR_S
    (True when the cache cannot tell: wait for it rather than take a call from a live one).
    Processes' clocks are taken to agree to well within a second (NTP); a value without a
    time (a process of an earlier release, mid-deploy) counts as long as its key lasts."""
    try:
        alive = await _off_the_page_thread(cache.get, _alive_key(name))
    except Exception:
        return True
    if isinstance(alive, dict) and isinstance(alive.get("until"), float):
        return bool(alive["until"] > time.time())
    return alive is not None
