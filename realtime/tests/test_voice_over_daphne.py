"""What only a real server shows: daphne's own WebSocket frame limit, over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from realtime.tests.fake_live import FakeLiveServer
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def server(fake_live: FakeLiveServer, db: Any) -> AsyncIterator[DaphneServer]:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    daphne = DaphneServer(gemini_live_url=fake_live.url)
    await asyncio.to_thread(daphne.start)
    try:
        yield daphne
    finally:
        await asyncio.to_thread(daphne.stop)


async def open_call(server: DaphneServer) -> ClientConnection:
    ws = await connect(
        f"ws://127.0.0.1:{server.port}/ws/voice?user_id=101",
        additional_headers={"Origin": server.url},
        max_size=None,
    )
    while json.loads(await ws.recv())["type"] != "ready":
        pass
    return ws


async def next_event(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            message = await ws.recv()
            if isinstance(message, str) and (event := json.loads(message))["type"] == kind:
                return event


async def test_a_frame_over_daphnes_1_mib_limit_closes_that_connection_with_1009(
    server: DaphneServer,
) -> None:
    ws = await open_call(server)
    await ws.send(b"\x00" * (2 * 2**20))
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    # The server and other calls are unharmed.
    other = await open_call(server)
    await other.close()


async def test_a_frame_under_the_limit_but_over_64_kib_is_dropped_and_the_call_goes_on(
    server: DaphneServer, fake_live: FakeLiveServer
) -> None:
    ws = await open_call(server)
    await ws.send(b"\x00" * (100 * 1024))
    error = await next_event(ws, "error")
    assert error["code"] == "frame_too_large"

    await ws.send(b"\x01\x00" * 320)
    session = await fake_live.wait_for_session()
    assert (await session.wait_for_audio(nbytes=640)) == b"\x01\x00" * 320
    await ws.close()
