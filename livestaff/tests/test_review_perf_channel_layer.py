"""The channel layer's reads on a take-over's path (voiceproject/channel_layer.py): each frame a
listener hears or a holder speaks is a message to a process's own channel, read by a reader
that waits for it. A read must cost one round trip to Redis, and a consumer cancelled while
Redis's answer is on its way (a staff page closing) must not lose the message for the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from channels.layers import BaseChannelLayer, get_channel_layer

from voiceproject import channel_layer
from voiceproject.redis_server import LocalRedis
from voiceproject.settings import redis_channel_layer

ANSWER_ON_ITS_WAY_S = 0.3


@pytest.fixture
async def layer(redis_server: LocalRedis, settings: Any) -> AsyncIterator[BaseChannelLayer]:
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer([redis_server.url(0)])}
    layer = get_channel_layer()
    assert layer is not None
    yield layer
    await layer.close_pools()  # type: ignore[attr-defined]


async def test_frames_to_a_waiting_reader_take_one_round_trip_each_to_read(
    layer: BaseChannelLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    execute = redis.asyncio.Redis.execute_command

    async def counted(client: Any, *args: Any, **options: Any) -> Any:
        if args[1:2] != (channel_layer._SEND,):  # the sender's round trips are not reads
            reads.append(str(args[0]))
        return await execute(client, *args, **options)

    monkeypatch.setattr(redis.asyncio.Redis, "execute_command", counted)
    channel = await layer.new_channel()
    reading = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0.2)  # the reader waits in its blocking pop
    started = len(reads)

    for n in range(5):  # frames one at a time, each read before the next is sent
        await layer.send(channel, {"type": "live.audio", "n": n})
        assert await asyncio.wait_for(reading, 5) == {"type": "live.audio", "n": n}
        reading = asyncio.create_task(layer.receive(channel))
        await asyncio.sleep(0.05)

    assert len(reads) - started <= 5, reads[started:]  # was ten: an empty take, then the pop
    reading.cancel()


async def test_a_read_whose_consumer_was_cancelled_mid_answer_loses_nothing(
    layer: BaseChannelLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bzpopmin = redis.asyncio.Redis.bzpopmin
    answered = asyncio.Event()

    async def slow_answer(client: Any, *args: Any, **options: Any) -> Any:
        popped = await bzpopmin(client, *args, **options)
        if popped is not None:  # Redis took the message; its answer is still on the way
            answered.set()
            await asyncio.sleep(ANSWER_ON_ITS_WAY_S)
        return popped

    monkeypatch.setattr(redis.asyncio.Redis, "bzpopmin", slow_answer)
    channel = await layer.new_channel()
    closing_page = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0.2)  # waiting in its blocking pop

    await layer.send(channel, {"type": "staff.whisper", "text": "offer a voucher"})
    await asyncio.wait_for(answered.wait(), 5)
    closing_page.cancel()

    received = await asyncio.wait_for(layer.receive(channel), 5)
    assert received == {"type": "staff.whisper", "text": "offer a voucher"}
