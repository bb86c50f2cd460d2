"""The real application plus one WebSocket route, `/test/held-call`, for the tests of the
process's own lifecycle (draining, the workers command) under a real daphne:

    daphne voiceproject.tests.held_calls_app:application

Each socket there is a call as the process counts them (voiceproject/draining.py): registered
on connect, unregistered on disconnect, and told `{"type": "reconnect"}` when the process
drains, as a page would be. It answers `{"pid", "call_id", "client"}` on connect and echoes
text, so a test can tell which worker holds it, from which address, and that it still flows.
Tests of real calls use the real routes.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from voiceproject import draining
from voiceproject.asgi import application as real_application


class HeldCall(AsyncWebsocketConsumer):
    call_id = ""

    async def connect(self) -> None:
        await self.accept()
        self.call_id = f"held-{uuid.uuid4().hex[:8]}"
        draining.register_call(self.call_id, on_drain=self.tell_to_reconnect)
        client = (self.scope.get("client") or ["?"])[0]  # what daphne --proxy-headers believed
        await self.send(json.dumps({"pid": os.getpid(), "call_id": self.call_id, "client": client}))

    async def tell_to_reconnect(self) -> None:
        await self.send(json.dumps({"type": "reconnect"}))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data)

    async def disconnect(self, code: int) -> None:
        draining.unregister_call(self.call_id)


held_call = HeldCall.as_asgi()


# The same socket under the back office's paths: which worker the balancer sends staff to.
HELD_CALL_PATHS = ("/test/held-call", "/ws/staff/test/held-call")


async def application(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "websocket" and scope["path"] in HELD_CALL_PATHS:
        await held_call(scope, receive, send)
    else:
        await real_application(scope, receive, send)
