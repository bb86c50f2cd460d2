"""The live escalation queue: staff pages subscribe to the "escalations" group.

Mounted at ws/staff/queue behind BoundedAuthMiddlewareStack (voiceproject/socket_auth.py:
scope["user"] from the session cookie).
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from support.events import ESCALATIONS_GROUP
from support.staff.access import VIEW_TICKETS
from support.staff.sockets import StaffGroupListener


class StaffQueueConsumer(StaffGroupListener, AsyncJsonWebsocketConsumer):
    group = ESCALATIONS_GROUP
    needed = VIEW_TICKETS
    watched = (VIEW_TICKETS,)

    async def escalation_opened(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "escalation", "ticket": event["ticket"]})

    async def escalation_changed(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "changed", "ticket": event["ticket"]})
