"""Requests served by Django's ASGI handler as daphne runs it (the test Client is WSGI-like
and hides what ASGI does with a streaming response), in a test Client's session."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django.core.handlers.asgi import ASGIHandler
from django.test import Client


async def served(
    client: Client, path: str, query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """What Django's ASGI handler (as daphne runs it) sends for GET `path` (with `query` and
    request `headers`) in `client`'s session: the response's start, then each part of its
    body."""
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": urlencode(query or {}).encode(), "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode()),
                    *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())],
    }  # fmt: skip
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the browser stays connected
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(dict(message))

    await ASGIHandler()(scope, receive, send)
    return sent
