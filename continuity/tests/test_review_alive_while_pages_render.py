"""A process says it is alive whatever its pages are doing (continuity/process.py).

Django renders sync pages (the admin, the staff pages, exports) in one thread per process, and
runs `cache.aget`/`cache.aset` there too. A page holding that thread longer than ALIVE_FOR_S
(an export, a page waiting out a slow database) must not make the process look dead to the
others: they would take its calls over without waiting for it to let go, or end them as lost.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache

from continuity import process
from voiceproject.redis_server import LocalRedis
from voiceproject.settings import redis_channel_layer

PAGE_S = process.ALIVE_FOR_S + 1.5


async def test_a_process_rendering_a_slow_page_still_says_it_is_alive(
    redis_server: LocalRedis, settings: Any
) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                    "LOCATION": redis_server.url(1)},
    }  # fmt: skip
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer([redis_server.url(0)])}
    layer = get_channel_layer()
    assert layer is not None
    try:
        name = await process.process_channel()
        await asyncio.sleep(0.1)  # it has spoken
        # A staff page rendering in the process's sync thread, as Django runs sync views.
        page = asyncio.create_task(sync_to_async(time.sleep, thread_sensitive=True)(PAGE_S))
        await asyncio.sleep(process.ALIVE_FOR_S + 0.5)

        # What another process reads (its own thread, its own Redis connection).
        said = await asyncio.to_thread(cache.get, process._alive_key(name))
        assert said is not None and said["until"] > time.time()
        # And this process itself can tell, without waiting for the page to finish.
        assert await asyncio.wait_for(process.is_alive(name), 0.5)
        await page
    finally:
        await process._channel.stop()
        await layer.close_pools()  # type: ignore[attr-defined]
