"""The base of consumers that carry audio: Channels' AsyncWebsocketConsumer without the ORM
clean-up it runs before every message.

Channels calls `aclose_old_connections()` before each handler: a hop to a shared thread and
back (~150 µs of CPU, and a wait on that thread) for every frame. A consumer that carries
audio gets 25-50 messages a second, and those that derive from this one never use the ORM in a
handler except through `database_sync_to_async`, which closes old connections itself, before
and after its work. So the hop is skipped: `/ws/voice` and `/ws/twilio` (realtime/
audio_consumer.py) and a staff member's live call view, whose microphone and listening are
frames too (livestaff/consumers.py).
"""

from __future__ import annotations

from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer


class LeanWebsocketConsumer(AsyncWebsocketConsumer):
    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
