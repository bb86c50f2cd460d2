"""Slowloris: a real daphne closes connections that send a request too slowly (issue 10, item
11), and leaves alone a kept-alive connection waiting for its next request.

The server runs with short bounds (2 s for headers, 3 s for a body) so the tests take seconds;
each scenario gets a few seconds of slack before it counts as left open. They run at once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest

from voiceproject.tests.live_server import DaphneServer

HEADER_S, BODY_S = 2.0, 3.0
SLACK_S = 4.0


@pytest.fixture(scope="module")
def server(django_db_setup: Any) -> Iterator[DaphneServer]:
    env = {"HTTP_HEADER_TIMEOUT_S": str(HEADER_S), "HTTP_BODY_TIMEOUT_S": str(BODY_S)}
    with DaphneServer(env=env) as server:
        yield server.start()


class SlowClient:
    def __init__(self, server: DaphneServer) -> None:
        self.port = server.port
        self.closed_by_server = False
        self.answer = b""

    async def __aenter__(self) -> SlowClient:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def drip(self, data: bytes, every: float = 0.4) -> None:
        """One byte at a time, until the server hangs up (or everything is sent)."""
        for byte in data:
            if self.reader.at_eof():
                return
            try:
                await self.send(bytes([byte]))
            except ConnectionError:
                return
            await asyncio.sleep(every)

    async def response(self) -> bytes:
        """One whole response (its status line, headers and Content-Length body)."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        return head + await self.reader.readexactly(int(length.group(1)) if length else 0)

    async def wait_for_close(self, within: float) -> bool:
        """Whether the server closed the connection within `within` seconds."""
        try:
            async with asyncio.timeout(within):
                while chunk := await self.reader.read(4096):
                    self.answer += chunk
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        return True


async def half_a_request_line(server: DaphneServer) -> SlowClient:
    async with SlowClient(server) as client:
        await client.send(b"GET /heal")
        client.closed_by_server = await client.wait_for_close(HEADER_S + SLACK_S)
    return client


async def headers_dripped_forever(server: DaphneServer) -> SlowClient:
    async with SlowClient(server) as client:
        await client.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        drip = asyncio.create_task(client.drip(b"X-Slow: " + b"a" * 100))
        client.closed_by_server = await client.wait_for_close(HEADER_S + SLACK_S)
        drip.cancel()
    return client


async def half_a_websocket_handshake(server: DaphneServer) -> SlowClient:
    async with SlowClient(server) as client:
        await client.send(
            b"GET /ws/voice?user_id=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        )
        client.closed_by_server = await client.wait_for_close(HEADER_S + SLACK_S)
    return client


async def body_dripped_forever(server: DaphneServer) -> SlowClient:
    async with SlowClient(server) as client:
        await client.send(
            b"POST /api/voice/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
        )
        drip = asyncio.create_task(client.drip(b'{"user_id": 1' + b" " * 187))
        client.closed_by_server = await client.wait_for_close(BODY_S + SLACK_S)
        drip.cancel()
    return client


async def test_slow_requests_are_answered_408_and_closed(server: DaphneServer) -> None:
    clients = await asyncio.gather(
        half_a_request_line(server),
        headers_dripped_forever(server),
        half_a_websocket_handshake(server),
        body_dripped_forever(server),
    )

    assert [client.closed_by_server for client in clients] == [True] * 4
    assert all(client.answer.startswith(b"HTTP/1.1 408 ") for client in clients)


async def test_a_kept_alive_connection_may_wait_longer_for_its_next_request(
    server: DaphneServer,
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    async with SlowClient(server) as client:
        await client.send(request)
        first = await client.response()
        await asyncio.sleep(HEADER_S + 1)  # idle between requests, not slow within one
        await client.send(request)
        second = await client.response()

    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")
