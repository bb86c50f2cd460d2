"""A process's own channel and its pages' channels, read together through a real Redis.

Every worker carries calls (its process channel, continuity/process.py) and serves pages
(each consumer's channel) at once: a staff page on a worker that also carries calls must hear
the call it watches, and the calls there must still hear their staff."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio
from channels.layers import get_channel_layer
from django.core.cache import cache

from continuity import process
from voiceproject.redis_server import LocalRedis
from voiceproject.settings import redis_channel_layer


async def test_a_worker_carrying_calls_still_delivers_to_the_pages_it_serves(
    redis_server: LocalRedis, settings: Any
) -> None:
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer([redis_server.url(0)])}
    layer = get_channel_layer()
    assert layer is not None
    for_the_call: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    try:
        carrier = await process.process_channel()
        process.register("CALL-1", for_the_call.put)
        page = await layer.new_channel()  # a staff page served by the same worker
        await reader_waits(redis_server)  # the carrier's reader

        await layer.send(page, {"type": "live.event", "event": {"type": "state"}})
        heard_by_page = await asyncio.wait_for(layer.receive(page), 2)
        waiting_page = asyncio.create_task(layer.receive(page))  # the page waits on
        await asyncio.sleep(0.2)
        await layer.send(carrier, {"type": "staff.action", "call_id": "CALL-1"})
        heard_by_call = await asyncio.wait_for(for_the_call.get(), 2)

        assert heard_by_page == {"type": "live.event", "event": {"type": "state"}}
        assert heard_by_call == {"type": "staff.action", "call_id": "CALL-1"}
        waiting_page.cancel()
    finally:
        process.unregister("CALL-1")
        await process._channel.stop()
        await layer.close_pools()  # type: ignore[attr-defined]


async def reader_waits(redis_server: LocalRedis) -> None:
    """Until a reader of the channel layer waits on Redis (its blocking pop of a channel)."""
    client = redis.asyncio.Redis(port=redis_server.port, db=0)
    try:
        async with asyncio.timeout(10):
            while not any(c["cmd"] == "bzpopmin" for c in await client.client_list()):
                await asyncio.sleep(0.02)
    finally:
        await client.aclose()


async def has_spoken(name: str) -> None:
    """Until the process reading channel `name` said it is alive (its first word goes through
    a thread and Redis: on a busy machine that can take longer than any fixed pause)."""
    async with asyncio.timeout(10):
        while await cache.aget(process._alive_key(name)) is None:
            await asyncio.sleep(0.02)


async def test_a_process_that_stops_saying_it_is_alive_is_dead_within_its_word_not_redis_seconds(
    redis_server: LocalRedis, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django's Redis cache keeps a key for whole seconds; a process killed is taken for dead
    ALIVE_FOR_S after it last spoke (1.5 s), not when Redis lets the key go (2 s)."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                    "LOCATION": redis_server.url(1)},
    }  # fmt: skip
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer([redis_server.url(0)])}
    layer = get_channel_layer()
    assert layer is not None
    try:
        name = await process.process_channel()
        # Stopped before its reader waits on Redis, the channel sometimes never stops (3 runs
        # in 100 on a loaded machine): not what this test is about.
        await reader_waits(redis_server)
        await has_spoken(name)
        assert await process.is_alive(name)
        await process._channel.stop()  # as if killed: it says nothing more
        spoke_at = time.time()
        assert await process.is_alive(name)  # its word still holds

        later = spoke_at + process.ALIVE_FOR_S + 0.01
        monkeypatch.setattr(process.time, "time", lambda: later)

        assert await cache.aget(process._alive_key(name)) is not None  # Redis still has it
        assert not await process.is_alive(name)
    finally:
        await process._channel.stop()
        await layer.close_pools()  # type: ignore[attr-defined]


async def test_a_process_of_the_release_before_counts_as_alive_while_its_key_lasts(
    redis_server: LocalRedis, settings: Any
) -> None:
    """Mid-deploy, a process of the earlier release says it is alive with its name only."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                    "LOCATION": redis_server.url(1)},
    }  # fmt: skip
    await cache.aset(process._alive_key("old-worker"), "host:123", 2)

    assert await process.is_alive("old-worker")
    assert not await process.is_alive("never-heard-of")
