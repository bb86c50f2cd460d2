"""The base of consumers that carry audio: Channels' AsyncWebsocketConsumer without the ORM
clean-up it runs before every message.

Channels calls `aclose_old_connections()` before each handler: a hop to a shared thread and
back (~150 µs of CPU, and a wait on that thread) for every frame. A consumer that carries
audio gets 25-50 messages a second, and those that derive from this one never use the ORM in a
handler except through `database_sync_to_async`, which closes old connections itself, before
and after its work. So the hop is skipped: `/ws/voice` and `/ws/twilio` (realtime/
audio_consumer.py) and a staff member's live call view, whose microphone and listening are
frames too (livestaff/consumers.py).

And `no_such_socket`, the socket route of last resort (voiceproject/asgi.py).
"""

from __future__ import annotations

import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

log = logging.getLogger(__name__)


class LeanWebsocketConsumer(AsyncWebsocketConsumer):
    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


async def no_such_socket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The last WebSocket route, matching any path the others do not (`/ws/nope`): the
    handshake is refused (daphne answers 403, as for any socket closed before it opens) and a
    line logged, as Django logs an HTTP 404. Without it Channels' router raised, daphne
    answered 500 a second later, and logged a traceback at ERROR for every path a scanner
    tried."""
    if (await receive())["type"] == "websocket.connect":
        log.warning("Not Found: WebSocket %s", str(scope.get("path", ""))[:200])
        await send({"type": "websocket.close", "code": 4404})
