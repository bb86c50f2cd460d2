"""ASGI guards for the WebSocket routes, composed in realtime/routing.py."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import ParseResult, urlparse

from channels.security.websocket import OriginValidator
from django.conf import settings

ORIGIN_REJECTED = 4403
ENDED = {"type": "ended", "reason": "origin_refused"}


class BrowserOriginGuard(OriginValidator):
    """Only pages served from an allowed host may open `/ws/voice`.

    Channels' `AllowedHostsOriginValidator` with one change: a refusal is accepted, told
    `ended` and closed with 4403 (contract section 3), as the consumer's own refusals are. A
    close before the accept reaches a browser as a failed handshake (1006), which the page can
    only take for a network fault ("Can't reach the voice service"); nothing of the call is
    open to a refused page either way. A missing Origin is refused too, and so is one
    naming no host (`null`, from a sandboxed frame or a file), also when ALLOWED_HOSTS is
    `*`: Channels lets those through a wildcard, the contract does not.
    """

    def __init__(self, application: Any) -> None:
        hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not hosts:
            hosts = ["localhost", "127.0.0.1", "[::1]"]
        super().__init__(application, hosts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        parsed = _origin(scope)
        if parsed is not None and self.valid_origin(parsed):
            # The stubs allow an ASGI2 app here; routing.py only ever wraps ASGI3 consumers.
            return await self.application(scope, receive, send)  # type: ignore[call-arg, misc]
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(ENDED)})
        await send({"type": "websocket.close", "code": ORIGIN_REJECTED})


def _origin(scope: Any) -> ParseResult | None:
    """The handshake's Origin, or None when it has none, names no host, or cannot be read
    (`http://[::1` makes urlparse raise: a refusal, not a traceback)."""
    origin = dict(scope.get("headers", [])).get(b"origin")
    if not origin:
        return None
    try:
        parsed = urlparse(origin.decode("latin1"))
        return parsed if parsed.hostname else None
    except ValueError:
        return None
