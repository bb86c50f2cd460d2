"""The live escalation queue: staff pages subscribe to the "escalations" group.

Mounted at ws/staff/queue behind AuthMiddlewareStack (scope["user"] from the session cookie).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from support.events import ESCALATIONS_GROUP
from support.staff.access import VIEW_TICKETS

FORBIDDEN = 4403


@database_sync_to_async
def _may_watch_queue(user: Any) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(VIEW_TICKETS)
    )


class StaffQueueConsumer(AsyncJsonWebsocketConsumer):
    joined = False

    async def connect(self) -> None:
        if not await _may_watch_queue(self.scope.get("user")):
            await self.close(code=FORBIDDEN)
            return
        await self.channel_layer.group_add(ESCALATIONS_GROUP, self.channel_name)
        self.joined = True
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.joined:
            await self.channel_layer.group_discard(ESCALATIONS_GROUP, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The page only listens; anything it sends is ignored."""

    async def escalation_opened(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "escalation", "ticket": event["ticket"]})

    async def escalation_changed(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "changed", "ticket": event["ticket"]})
