"""Messages between processes over the channel layer, without ever crashing the sender.

Anything that must reach a call or a page served by another process (a staff action, an
escalation for the queue pages, a resume asking the old process to let go) goes through
these two functions instead of `channel_layer.send` / `group_send`:

    from voiceproject.messaging import send_to_channel, send_to_group

    delivered = await send_to_channel(call_channel, {"type": "staff.whisper", "text": text})
    if not delivered:
        ...  # tell the staff member the call did not answer

The policy. With Redis, a channel whose reader has stopped reading (its process died, or is
stalled) fills up to the layer's `capacity`, and the layer then raises `ChannelFull`; a Redis
that cannot be reached raises a connection error. Neither may end a call or a staff page. So
a send that fails for either reason is retried with backoff for up to `patience_s` (enough for
a reader that paused to catch up, or for Redis to fail over), then dropped: the function
returns False and logs a warning, at most one per target every LOG_EVERY_S (a dead reader
would otherwise flood the log, channels_redis #181). Messages that are worthless late (audio
frames for a listener) pass `patience_s=0` and are dropped at once. A dropped message is
gone: the caller decides what that means, since only it knows whether to tell someone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

DEFAULT_PATIENCE_S = 1.0
# One attempt against a Redis that does not answer waits this long, clamped to the caller's
# patience: a send returns within about patience_s + MIN_ATTEMPT_S at worst.
MIN_ATTEMPT_S, MAX_ATTEMPT_S = 0.25, 2.0
FIRST_BACKOFF_S = 0.05
LOG_EVERY_S = 10.0
TARGETS_KEPT = 1_000  # beyond this, targets not logged in the last LOG_EVERY_S are forgotten

# What a call to Redis fails with while it is away (restarting, failing over, or stalled: a
# stalled one times out). The channel layer (voiceproject/channel_layer.py) and the cache
# (voiceproject/cache.py) wait it out or answer without it on these.
REDIS_AWAY = (RedisError, OSError, TimeoutError)
# What a send can fail with that is the layer's or Redis's trouble, not the caller's bug.
_UNDELIVERABLE = (ChannelFull, *REDIS_AWAY)


class LogEvery:
    """`due()` is True at most once every LOG_EVERY_S: a warning that a lasting outage repeats
    (Redis away, for every cache read or receive) is logged once in a while, not each time."""

    def __init__(self) -> None:
        self._last = float("-inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < LOG_EVERY_S:
            return False
        self._last = now
        return True


class _DropLog:
    """Counts drops per target and logs them at most every LOG_EVERY_S per target."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[float, int]] = {}  # target -> (last logged, unlogged)

    def dropped(self, target: str, why: BaseException) -> None:
        now = time.monotonic()
        if len(self._pending) > TARGETS_KEPT:  # targets come and go (a group per call)
            self._pending = {t: e for t, e in self._pending.items() if now - e[0] < LOG_EVERY_S}
        last, unlogged = self._pending.get(target, (float("-inf"), 0))
        unlogged += 1
        if now - last < LOG_EVERY_S:
            self._pending[target] = (last, unlogged)
            return
        self._pending[target] = (now, 0)
        if isinstance(why, ChannelFull):
            reason = "full (its reader is not reading)"
        else:  # a send that timed out against a stalled Redis says nothing of itself
            reason = str(why) or f"{type(why).__name__} (Redis did not answer in time)"
        log.warning("channel layer: %d message(s) to %s dropped: %s", unlogged, target, reason)


_drops = _DropLog()


async def send_to_channel(
    channel: str, message: dict[str, Any], *, patience_s: float = DEFAULT_PATIENCE_S
) -> bool:
    """Send `message` to one channel (a consumer's `channel_name`); True when it was accepted.

    Retries a full channel or an unreachable Redis for up to `patience_s`, then drops the
    message, logs it, and returns False. Never raises for a delivery failure. It awaits Redis:
    where a stall would hurt (a call's audio path), send from a task of its own.
    """
    layer = _layer(channel)
    if layer is None:
        return False
    return await _deliver(channel, lambda: layer.send(channel, message), patience_s)


async def send_to_group(
    group: str, message: dict[str, Any], *, patience_s: float = DEFAULT_PATIENCE_S
) -> bool:
    """Send `message` to every channel in `group`; True when the layer accepted it.

    The layers skip members that are full themselves (channels_redis logs them), so only an
    unreachable Redis makes this retry and then return False. Never raises for that.
    """
    layer = _layer(group)
    if layer is None:
        return False
    return await _deliver(f"group {group}", lambda: layer.group_send(group, message), patience_s)


def _layer(target: str) -> BaseChannelLayer | None:
    layer = get_channel_layer()
    if layer is None:  # CHANNEL_LAYERS unset: nobody can be listening
        log.warning("no channel layer configured; message to %s dropped", target)
    return layer


async def _deliver(
    target: str, attempt: Callable[[], Awaitable[None]], patience_s: float
) -> bool:
    deadline = time.monotonic() + patience_s
    attempt_s = min(MAX_ATTEMPT_S, max(MIN_ATTEMPT_S, patience_s))
    backoff = FIRST_BACKOFF_S
    while True:
        try:
            async with asyncio.timeout(attempt_s):
                await attempt()
            return True
        except _UNDELIVERABLE as error:
            wait = min(backoff, deadline - time.monotonic())
            if wait <= 0:
                _drops.dropped(target, error)
                return False
            await asyncio.sleep(wait)
            backoff *= 2
