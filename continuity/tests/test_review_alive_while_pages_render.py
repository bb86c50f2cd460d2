"""A process says it is alive whatever its pages are doing (continuity/process.py).

Django renders sync pages (the admin, the staff pages, exports) in one thread per process, and
runs `cache.aget`/`cache.aset` there too. A page holding that thread longer than ALIVE_FOR_S
(an export, a page waiting out a slow database) must not make the process look dead to the
others: they would take its calls over without waiting for it to let go, or end them as lost.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache

from continuity import process
from continuity.tests.test_process_channel import has_spoken
from voiceproject.redis_server import LocalRedis
from voiceproject.settings import redis_channel_layer

PAGE_AT_MOST_S = 30.0  # the page ends when the test says so: this only bounds a failing run


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
    rendered = threading.Event()
    try:
        name = await process.process_channel()
        await has_spoken(name)
        # A staff page rendering in the process's sync thread, as Django runs sync views. It
        # holds the thread until the checks below are done, however long they take on a busy
        # machine (a page of fixed length could end before them, and hide a process that only
        # speaks between pages).
        page = asyncio.create_task(
            sync_to_async(rendered.wait, thread_sensitive=True)(PAGE_AT_MOST_S)
        )
        await asyncio.sleep(process.ALIVE_FOR_S + 0.5)  # what it said before the page is stale

        # What another process reads (its own thread, its own Redis connection).
        said = await asyncio.to_thread(cache.get, process._alive_key(name))
        assert said is not None and said["until"] > time.time()
        # And this process itself can tell, without waiting for the page to finish.
        assert await process.is_alive(name)
        assert not page.done()
        rendered.set()
        await page
    finally:
        rendered.set()
        await process._channel.stop()
        await layer.close_pools()  # type: ignore[attr-defined]
