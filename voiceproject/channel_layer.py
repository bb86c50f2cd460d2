"""The channel layer of several processes: channels_redis's RedisChannelLayer, made to wait
out Redis being away (stalled, restarting, failing over) instead of ending the sockets.

channels_redis raises Redis's errors out of `receive()`, and Channels ends a consumer whose
channel receive raised: daphne closes its socket with 1011 and never dispatches
`websocket.disconnect`. So a Redis restart, or a stall longer than a read's timeout, closed
the staff pages (a live call's, the live calls page, the queue), and a page holding a call
never said it had gone: the call stayed held from a page that no longer existed. Here
`receive()` keeps waiting, retrying with backoff, until Redis answers again.

A Redis that restarts empty has also forgotten every group membership, and the pages would
hear nothing more (silently) until they joined again. So the layer remembers the groups its
own channels joined, and once Redis answers after a failure it joins them all again (and
leaves those its channels left meanwhile: `group_discard` does not raise while Redis is away).
What was sent while Redis was away is lost all the same: `outages_over()` counts the outages
this process saw end, and the staff pages catch up after each (support/staff/sockets.py).

A message sent to a channel is one round trip to Redis: channels_redis makes four (drop the
channel's expired messages, count the rest against its capacity, add the message, renew the
key's expiry), one after another, for every frame a listener hears or a staff member speaks.
Here the same four steps run in one script (`send`). A process's own channel is read in one
round trip a message (`receive_single`), where channels_redis makes four.

    CHANNEL_LAYERS = {"default": {"BACKEND": "voiceproject.channel_layer.SteadyRedisChannelLayer",
                                  "CONFIG": {...}}}   # as for RedisChannelLayer
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer  # type: ignore[import-untyped]

from voiceproject.messaging import REDIS_AWAY, LogEvery
from voiceproject.tasks import raise_if_cancelled

log = logging.getLogger(__name__)

FIRST_RETRY_S, MAX_RETRY_S = 0.1, 2.0
# Groups are joined again this often until Redis answers: what is published to a group before
# its pages are back in it is lost, so they must be back within moments.
JOIN_AGAIN_EVERY_S = 0.25

# channels_redis's send, step for step (core.RedisChannelLayer.send), in one round trip. KEYS[1]:
# the channel's key; ARGV: expired before, capacity, now, the message, the key's expiry (s).
_SEND = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
if redis.call('ZCOUNT', KEYS[1], '-inf', '+inf') >= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# One read of a process's own channel (`receive_single`). KEYS: the channel's key, its
# in-flight copy. ARGV[1]: the SHA-1 of the message this process last took and delivered ("" if
# none). What else is in flight (taken by a read cancelled while its answer was on the way) goes
# back first, as channels_redis puts it back. Answers the next message, kept in flight until the
# next read says it was delivered; nil when none is waiting.
_TAKE = """
local in_flight = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = #in_flight, 1, -2 do
    if redis.sha1hex(in_flight[i - 1]) ~= ARGV[1] then
        redis.call('ZADD', KEYS[1], in_flight[i], in_flight[i - 1])
    end
end
redis.call('DEL', KEYS[2])
local taken = redis.call('ZPOPMIN', KEYS[1])
if taken[1] then
    redis.call('ZADD', KEYS[2], taken[2], taken[1])
    redis.call('EXPIRE', KEYS[2], ARGV[2])
    return taken[1]
end
return false
"""


class SteadyRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memberships: set[tuple[str, str]] = set()  # (group, channel) joined from here
        self._leaving: set[tuple[str, str]] = set()  # left while Redis was away
        self._joining_again: asyncio.Task[None] | None = None
        self._log = LogEvery()
        self.outages_over = 0  # how many times Redis answered again after failing here
        self._delivered: dict[str, str] = {}  # channel key: SHA-1 of its last message delivered
        self._reads: dict[str, asyncio.Task[bytes]] = {}  # channel key: its read under way
        self._popping: set[str] = set()  # channel keys whose next read is the blocking pop

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """As RedisChannelLayer.send (ChannelFull when the channel is at capacity), in one
        round trip to Redis instead of four."""
        assert isinstance(message, dict), "message is not a dict"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        key = channel
        if "!" in channel:  # a process's own channel: the reader tells its consumers apart
            message = {**message, "__asgi_channel__": channel}
            key = self.non_local_name(channel)
            index = self.consistent_hash(channel)
        else:
            index = next(self._send_index_generator)
        now = time.time()
        expiry = int(self.expiry)
        added = await self.connection(index).eval(
            _SEND, 1, self.prefix + key,
            int(now) - expiry, self.get_capacity(channel), now, self.serialize(message), expiry,
        )  # fmt: skip
        if not added:
            raise ChannelFull()

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next message on `channel`, however long Redis is away meanwhile."""
        wait = FIRST_RETRY_S
        while True:
            try:
                return dict(await super().receive(channel))
            except REDIS_AWAY as error:
                # A cancellation that came back as a timeout (Redis's client timeout firing
                # as the read was cancelled) is no outage: retried, the read never stopped.
                raise_if_cancelled()
                self._away(error)
            await asyncio.sleep(wait)
            wait = min(wait * 2, MAX_RETRY_S)

    async def receive_single(self, channel: str) -> tuple[str | list[str], dict[str, Any]]:
        """As RedisChannelLayer.receive_single: (the channel it is for, the message).

        A process's own channel (only this process reads it) is read by a task of its own
        (`_take`), which the consumer whose receive happens to read it (channels_redis lets one
        at a time) awaits shielded: a consumer cancelled meanwhile (its page closing) leaves
        the read running, and what it answers goes to the next. So Redis's answer is never
        lost on its way, and each message costs one round trip to read (see `_take`), where
        channels_redis makes four."""
        if "!" not in channel:  # a channel several processes read: channels_redis's way
            return tuple(await super().receive_single(channel))
        assert self.require_valid_channel_name(channel, receive=True), "Channel name invalid"
        assert channel.endswith("!")
        key = self.prefix + channel
        loop = asyncio.get_running_loop()
        await self.receive_clean_locks.acquire(key)  # one read of the key at a time, here
        try:
            read = self._reads.get(key)
            if read is None or read.get_loop() is not loop or read.cancelled():
                read = self._reads[key] = loop.create_task(
                    self._take(channel, key), name="channel layer: read " + channel,
                    context=contextvars.Context(),  # the process's, not the reading consumer's
                )  # fmt: skip
                read.add_done_callback(_retrieved)
            try:
                content = await asyncio.shield(read)
            except BaseException:
                # A read that failed is done with; a consumer cancelled meanwhile leaves the
                # read, and its answer (even one already in), to the next consumer.
                if read.done() and (read.cancelled() or read.exception() is not None):
                    del self._reads[key]
                raise
            del self._reads[key]  # answered: the next read is a new one
        finally:
            self.receive_clean_locks.release(key)
        message = dict(self.deserialize(content))
        # Which of the process's consumers it is for: a channel, or a list of them (a group's
        # message, once for all its members here); RedisChannelLayer.receive hands it over.
        return message.pop("__asgi_channel__", channel), message

    async def _take(self, channel: str, key: str) -> bytes:
        """The next message on the process's channel `key`, as Redis keeps it.

        While messages wait, `_TAKE` takes the next one in one round trip, keeping it in flight,
        and names the one before, delivered, for Redis to forget (in case a read is stopped
        mid-answer after all: the process stopping). With none waiting, a blocking pop waits
        for the next; nothing is then in flight, so the read after it pops at once too (Redis
        answers it at once when a message waits): one round trip a message where `_TAKE` first
        made two, an empty one and the pop."""
        connection = self.connection(self.consistent_hash(channel))
        if key not in self._popping:
            content = await connection.eval(
                _TAKE, 2, key, self._backup_channel_name(key), self._delivered.get(key, ""),
                int(self.expiry),
            )  # fmt: skip
            # Redis has forgotten the last message delivered (a read that failed keeps it
            # named, and the next read forgets it then).
            self._delivered.pop(key, None)
            if content is not None:
                self._delivered[key] = hashlib.sha1(content, usedforsecurity=False).hexdigest()
                return bytes(content)
        self._popping.discard(key)  # a pop that fails: the next read starts with `_TAKE`
        while True:
            popped = await connection.bzpopmin(key, timeout=self.brpop_timeout)
            if popped is not None:
                self._popping.add(key)
                return bytes(popped[1])

    async def group_add(self, group: str, channel: str) -> None:
        self._memberships.add((group, channel))
        await super().group_add(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        """Leave `group`; while Redis is away, as soon as it is back (a page closing then must
        not fail: what it still had to tell its call comes after)."""
        self._memberships.discard((group, channel))
        try:
            await super().group_discard(group, channel)
        except REDIS_AWAY as error:
            self._leaving.add((group, channel))
            self._away(error)

    def _away(self, error: BaseException) -> None:
        if self._log.due():
            log.warning("channel layer: Redis unavailable (%r); waiting for it", error)
        if self._joining_again is None or self._joining_again.done():
            self._joining_again = asyncio.get_running_loop().create_task(
                self._join_again_when_back(), name="channel layer: join groups again",
                context=contextvars.Context(),  # the process's, not the call's that saw it
            )

    async def _join_again_when_back(self) -> None:
        """Once Redis answers, join again every group this process's channels are in (a
        Redis restarted empty has forgotten them; joining again is harmless otherwise)."""
        while True:
            await asyncio.sleep(JOIN_AGAIN_EVERY_S)
            try:
                for group, channel in list(self._memberships):
                    if (group, channel) in self._memberships:  # not left meanwhile
                        await super().group_add(group, channel)
                for group, channel in list(self._leaving):
                    await super().group_discard(group, channel)
                    self._leaving.discard((group, channel))
            except REDIS_AWAY:
                raise_if_cancelled()  # a cancellation that came back as a timeout
                continue
            self.outages_over += 1
            log.info("channel layer: Redis answers again; %d group membership(s) renewed",
                     len(self._memberships))  # fmt: skip
            return


def _retrieved(read: asyncio.Task[bytes]) -> None:
    """A read whose consumer was cancelled, and that failed before another consumer read (a
    Redis away as the process stops): its error is the layer's to retry, not the loop's to log."""
    if not read.cancelled():
        read.exception()


def outages_over() -> int:
    """How many times this process's channel layer lost Redis and found it again (0 for a
    layer of one process). Messages sent meanwhile are lost: a page that was open then has
    missed some, and must catch up (support/staff/sockets.py)."""
    return int(getattr(get_channel_layer(), "outages_over", 0))
