"""Staff pages' sockets for tests: over the ASGI app in this process (`staff_socket`), or over
real sockets against real daphne workers (`StaffSocket`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from channels.testing import WebsocketCommunicator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from voiceproject.asgi import application
from voiceproject.tests.live_server import DaphneServer


def staff_socket(path: str, session: str) -> WebsocketCommunicator:
    """A staff page's socket on `path` (its query too), over the ASGI app, not connected yet:
    opened from a page of this site by a browser signed in with the session key `session`
    (its `sessionid` cookie)."""
    return WebsocketCommunicator(application, path, headers=[
        (b"host", b"testserver"), (b"origin", b"http://testserver"),
        (b"cookie", f"sessionid={session}".encode()),
    ])  # fmt: skip


class StaffSocket:
    """A staff page's socket: its events as they come, and how it closed."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, worker: DaphneServer, path: str, cookie: str) -> StaffSocket:
        """`path`: the socket's, with its query (`/ws/staff/calls/<call_id>?since=...`)."""
        ws = await connect(f"ws://127.0.0.1:{worker.port}{path}", additional_headers={
            "Origin": worker.url, "Cookie": f"sessionid={cookie}",
        })  # fmt: skip
        return cls(ws)

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.ws:
                if isinstance(message, str):
                    self.events.append(json.loads(message))
        self.close_code = self.ws.close_code

    async def event(self, kind: str, after: int = 0, **fields: Any) -> dict[str, Any]:
        async with asyncio.timeout(10):
            while True:
                for event in self.events[after:]:
                    if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                        return event
                assert self._reader.done() is False, f"the page closed ({self.close_code})"
                await asyncio.sleep(0.02)

    async def closed(self, timeout: float = 15.0) -> int | None:
        """Wait for the socket to close; its close code."""
        async with asyncio.timeout(timeout):
            await asyncio.gather(self._reader, return_exceptions=True)
        return self.close_code

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)
