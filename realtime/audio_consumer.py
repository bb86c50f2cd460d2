"""The base of the audio consumers (`/ws/voice`, `/ws/twilio`): Channels, minus its per-frame costs.

Audio arrives 25-50 times a second per call, so two things Channels does for every message
are skipped, neither of which these consumers need:

* the ORM connection clean-up before each handler (`aclose_old_connections`, ~150 µs through
  a shared thread): these consumers never use the ORM;
* the channel-layer receive loop (`await_many_dispatch`, a new task and an `asyncio.wait`
  per message): a call talks to no other consumer, so it reads its socket directly.
"""

from __future__ import annotations

from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer


class AudioConsumer(AsyncWebsocketConsumer):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        # Channels itself stores None when there is no layer; its stubs say a layer is always set.
        self.channel_layer = None  # type: ignore[assignment]
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
