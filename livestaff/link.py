"""A live call's link to the staff watching it, wherever their pages are served.

The call's process publishes what staff may see to the call's group on the channel layer
(`call_group(call_id)`: its transcript, tool activity, state) and sends the audio of both
sides to each listener's own channel. Nothing here is awaited on the call's audio path:
messages wait in bounded queues that one task per call drains, and what cannot be delivered
is dropped (a staff page that stalls must never stall a caller). Audio for listeners is
worthless late: it goes with no patience at all (voiceproject/messaging.py).

A page that falls behind its audio has a full channel, and the layer skips it when a group
message comes (without a word): it could miss a change of the call's `state` for good and,
say, still offer "Take over" to someone who holds the call. So each `state` gets a new
`state_id`, every audio message names the latest, and a page whose audio names one it never
got asks for it again (livestaff/consumers.py; the call answers `kind: "state"`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

from voiceproject.messaging import send_to_channel, send_to_group
from voiceproject.tasks import stop

log = logging.getLogger(__name__)

LIVE_CALLS_GROUP = "live-calls"  # the live calls page (/staff/live/)
QUEUE_LIMIT = 500  # messages waiting for the channel layer, per call (audio first to go)
BATCH_FRAMES = 25  # audio frames for one listener that may travel as one message (~0.5 s)
CLOSE_DRAIN_S = 2.0  # what a call's link still sends when the call is over here
# The most pages that may listen to one call, in all and per staff member (a person has a
# tab or two open on it). The call's process sends both sides' audio to each listening page,
# frame by frame: a script opening pages by the dozen would have it do that work dozens of
# times over, on the loop that carries the callers' audio. Eight leaves room for all who
# listen to one call together (a lead, the agent learning from it, a trainee or two).
MAX_LISTENERS = 8
MAX_LISTENERS_EACH = 2
TOO_MANY_LISTENERS = "too_many_listeners"  # the `error` code of a listen refused for it


def call_group(call_id: str) -> str:
    """The group of the staff pages watching one call (channel layer names: ASCII, < 100)."""
    return "live-call." + call_id


async def announce_call_ended(call_id: str, reason: str) -> None:
    """A call ended with no process carrying it (continuity/sweeper.py): the staff pages on
    it, and the live calls page, are told as its process would have told them."""
    await send_to_group(call_group(call_id), {
        "type": "live.event", "event": {"type": "ended", "reason": reason},
    }, patience_s=1.0)  # fmt: skip
    await send_to_group(LIVE_CALLS_GROUP, {
        "type": "live.call", "call": {"call_id": call_id, "ended": True},
    }, patience_s=1.0)  # fmt: skip


class StaffVoice:
    """A staff member's microphone on its way to the call, wherever it is carried.

    The page sends a frame every 20 ms; its consumer must never wait on the channel layer for
    each (a round trip slower than a frame would make the staff member fall ever further
    behind). Frames are kept here and one task sends whatever has gathered as one message; at
    most MAX_BACKLOG_S is kept (older audio is dropped: late speech is worse than none)."""

    RATE = 16_000
    MAX_BACKLOG_S = 1.0

    def __init__(self, call_id: str, staff: str, page: str,
                 carrier: Callable[[], Awaitable[str | None]]) -> None:  # fmt: skip
        """`page`: the channel of the staff page whose microphone this is."""
        self.call_id, self.staff, self.page, self._carrier = call_id, staff, page, carrier
        self._pending = bytearray()
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self.dropped_bytes = 0

    def put(self, pcm: bytes) -> None:
        if self._sender is None or self._sender.done():  # started, or started again
            self._sender = asyncio.create_task(self._send_all(), name=f"{self.call_id} staff voice")
        self._pending += pcm
        excess = len(self._pending) - int(self.RATE * 2 * self.MAX_BACKLOG_S)
        if excess > 0:
            excess += excess % 2  # whole samples
            del self._pending[:excess]
            self.dropped_bytes += excess
        self._wake.set()

    async def close(self) -> None:
        if self._sender is not None:
            await stop(self._sender)

    async def _send_all(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                pcm = bytes(self._pending)
                self._pending.clear()
                carrier = await self._carrier()
                if carrier is not None:
                    await send_to_channel(carrier, {
                        "type": "staff.audio", "call_id": self.call_id, "pcm": pcm,
                        "staff": self.staff, "page": self.page,
                    }, patience_s=0)  # fmt: skip


class StaffLink:
    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.listeners: dict[str, str] = {}  # a listening page's channel -> its staff member
        self._listener_heard: dict[str, float] = {}  # when each said so last (monotonic)
        # Listening pages not heard from for a while (drop_unheard_listeners): one that says
        # it still listens is back (still_listening).
        self._taken_for_gone: set[str] = set()
        self._queue: deque[tuple[str, str, dict[str, Any], float]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # nothing queued nor on its way
        self._idle.set()
        self._sender: asyncio.Task[None] | None = None
        self.dropped = 0
        self.state_id = ""  # of the latest `state` published (the module docstring says why)

    def start(self) -> None:
        self._sender = asyncio.create_task(self._send_all(), name=f"{self.call_id} staff link")

    async def close(self) -> None:
        """Stop, once what is queued went out (the call's last state and `ended`, which the
        pages and the live calls page must hear), or after CLOSE_DRAIN_S."""
        if self._sender is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_DRAIN_S):
                await self._idle.wait()
        await stop(self._sender)

    def listening(self) -> list[str]:
        """Who listens (each staff member once, however many of their pages do)."""
        return sorted(set(self.listeners.values()))

    def listen(self, page: str, username: str, *, holding: bool = False) -> bool:
        """`page` (its channel) listens, for `username`. False when the call has no place
        for another listening page (MAX_LISTENERS, MAX_LISTENERS_EACH): the page is told
        why, and sent no audio. `holding`: the call is held from `page`, which always has a
        place (its holder must hear the caller; one page at a time holds a call)."""
        refused = "" if holding or page in self.listeners else self._no_place_for(username)
        if refused:
            self.reply(page, {"type": "error", "code": TOO_MANY_LISTENERS, "message": refused})
            return False
        self.listeners[page] = username
        self._listener_heard[page] = time.monotonic()
        self._taken_for_gone.discard(page)
        return True

    def _no_place_for(self, username: str) -> str:
        """Why another page of `username`'s may not listen ("" when it may)."""
        if sum(1 for them in self.listeners.values() if them == username) >= MAX_LISTENERS_EACH:
            return (f"You are listening to this call in {MAX_LISTENERS_EACH} tabs already: "
                    "stop listening in one of them first.")  # fmt: skip
        if len(self.listeners) >= MAX_LISTENERS:
            return (f"{MAX_LISTENERS} pages are listening to this call already, the most it "
                    "takes: try again once one of them stops listening.")  # fmt: skip
        return ""

    def unlisten(self, page: str) -> None:
        self.listeners.pop(page, None)
        self._listener_heard.pop(page, None)
        self._taken_for_gone.discard(page)

    def still_listening(self, page: str, username: str) -> bool:
        """A listening page says it still listens (livestaff/consumers.py, every
        STAFF_HOLDING_EVERY_S). True when the call had taken it for gone: it listens again,
        if there is still a place for it (else it is told why, as a `listen` is). From a page
        the call neither lists nor took for gone, it is a beat that crossed the page's own
        `listen` or `unlisten` on the way, which decides: not a listen (it would go
        unrecorded, the `listen` then changing nothing), nor one after an `unlisten`."""
        if page in self.listeners:
            self._listener_heard[page] = time.monotonic()
            return False
        return page in self._taken_for_gone and self.listen(page, username)

    def drop_unheard_listeners(self, silent_s: float) -> list[str]:
        """Listening pages not heard from for `silent_s` (their server died, or their close
        was lost while Redis was away): no longer listed, nor sent audio. Answers who they
        listened for."""
        now = time.monotonic()
        gone = [page for page, heard in self._listener_heard.items() if now - heard > silent_s]
        names = [self.listeners[page] for page in gone]
        for page in gone:
            self.unlisten(page)
        self._taken_for_gone.update(gone)
        return names

    # --- what the call publishes (synchronous: called from the call's hot paths) -----------

    def event(self, payload: dict[str, Any]) -> None:
        """A section 3 event (`transcript`, `tool`, ...) or a `state` for every watcher; a
        `state` gets a new `state_id`."""
        if payload.get("type") == "state":
            self.state_id = uuid4().hex[:12]
            payload = {**payload, "state_id": self.state_id}
        self._put("group", call_group(self.call_id), {"type": "live.event", "event": payload}, 1.0)

    def live_list(self, summary: dict[str, Any]) -> None:
        """This call's line on the live calls page changed."""
        self._put("group", LIVE_CALLS_GROUP, {"type": "live.call", "call": summary}, 1.0)

    def audio(self, source: bytes, pcm: bytes, *, speaker: str | None = None) -> None:
        """A frame of one side's audio for every listener (source: livestaff.protocol's
        CUSTOMER, AGENT or HUMAN), except `speaker`, the staff member whose own voice it is."""
        if not self.listeners:
            return
        frame = source + pcm
        for channel, username in self.listeners.items():
            if username != speaker:
                self._put("channel", channel, {
                    "type": "live.audio", "frames": [frame], "state_id": self.state_id,
                }, 0.0)  # fmt: skip

    def moved_in(self) -> None:
        """The call moved to this process: the staff pages on it say again who they are, and
        whether they listen or hold it (livestaff/consumers.py `live_moved`)."""
        self._put("group", call_group(self.call_id), {"type": "live.moved"}, 1.0)

    def reply(self, channel: str, payload: dict[str, Any]) -> None:
        """An answer to one staff page (an error, say; a `state` as the latest published)."""
        if payload.get("type") == "state":
            payload = {**payload, "state_id": self.state_id}
        self._put("channel", channel, {"type": "live.event", "event": payload}, 1.0)

    def _put(self, kind: str, target: str, message: dict[str, Any], patience: float) -> None:
        if len(self._queue) >= QUEUE_LIMIT:
            self._drop_one()
        self._queue.append((kind, target, message, patience))
        self._idle.clear()
        self._wake.set()

    def _drop_one(self) -> None:
        # Audio goes first: a late frame is worth nothing; an event is the page's state.
        for index, (_, _, message, _) in enumerate(self._queue):
            if message["type"] == "live.audio":
                del self._queue[index]
                break
        else:
            self._queue.popleft()
        self.dropped += 1

    def _frames_for(self, channel: str, first: dict[str, Any]) -> list[bytes]:
        """`first`'s frames and those of the audio queued behind it for the same listener: when
        the channel layer is slower than a frame every 20 ms, one round trip carries several,
        so a listener catches up instead of falling further behind."""
        frames = list(first["frames"])
        batched = [
            index for index, (kind, target, message, _) in enumerate(self._queue)
            if kind == "channel" and target == channel and message["type"] == "live.audio"
        ][: BATCH_FRAMES - 1]  # fmt: skip
        for index in reversed(batched):
            frames[1:1] = self._queue[index][2]["frames"]
            del self._queue[index]
        return frames

    async def _send_all(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                kind, target, message, patience = self._queue.popleft()
                if message["type"] == "live.audio":
                    message = {**message, "frames": self._frames_for(target, message)}
                if kind == "group":
                    await send_to_group(target, message, patience_s=patience)
                else:
                    await send_to_channel(target, message, patience_s=patience)
            self._idle.set()
