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

    CHANNEL_LAYERS = {"default": {"BACKEND": "voiceproject.channel_layer.SteadyRedisChannelLayer",
                                  "CONFIG": {...}}}   # as for RedisChannelLayer
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer  # type: ignore[import-untyped]

from voiceproject.messaging import REDIS_AWAY, LogEvery

log = logging.getLogger(__name__)

FIRST_RETRY_S, MAX_RETRY_S = 0.1, 2.0
# Groups are joined again this often until Redis answers: what is published to a group before
# its pages are back in it is lost, so they must be back within moments.
JOIN_AGAIN_EVERY_S = 0.25


class SteadyRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memberships: set[tuple[str, str]] = set()  # (group, channel) joined from here
        self._leaving: set[tuple[str, str]] = set()  # left while Redis was away
        self._joining_again: asyncio.Task[None] | None = None
        self._log = LogEvery()
        self.outages_over = 0  # how many times Redis answered again after failing here

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next message on `channel`, however long Redis is away meanwhile."""
        wait = FIRST_RETRY_S
        while True:
            try:
                return dict(await super().receive(channel))
            except REDIS_AWAY as error:
                self._away(error)
            await asyncio.sleep(wait)
            wait = min(wait * 2, MAX_RETRY_S)

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
                continue
            self.outages_over += 1
            log.info("channel layer: Redis answers again; %d group membership(s) renewed",
                     len(self._memberships))  # fmt: skip
            return


def outages_over() -> int:
    """How many times this process's channel layer lost Redis and found it again (0 for a
    layer of one process). Messages sent meanwhile are lost: a page that was open then has
    missed some, and must catch up (support/staff/sockets.py)."""
    return int(getattr(get_channel_layer(), "outages_over", 0))
