"""The live escalation queue: staff pages subscribe to the "escalations" group.

Mounted at ws/staff/queue behind AuthMiddlewareStack (scope["user"] from the session cookie).
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from support.events import ESCALATIONS_GROUP
from support.staff.access import VIEW_TICKETS
from support.staff.sockets import FORBIDDEN, MISSED, PermissionWatch, staff_permissions


class StaffQueueConsumer(AsyncJsonWebsocketConsumer):
    joined = False

    async def connect(self) -> None:
        permissions = await staff_permissions(self.scope, (VIEW_TICKETS,))
        if VIEW_TICKETS not in permissions:
            await self.close(code=FORBIDDEN)
            return
        await self.channel_layer.group_add(ESCALATIONS_GROUP, self.channel_name)
        self.joined = True
        self._permission_watch = PermissionWatch(
            self.scope, (VIEW_TICKETS,), self._permissions_now, seen=permissions,
            rejoin=lambda: self.channel_layer.group_add(ESCALATIONS_GROUP, self.channel_name),
            missed=lambda: self.close(code=MISSED),
        )  # fmt: skip
        await self.accept()
        self._permission_watch.start()

    async def disconnect(self, code: int) -> None:
        if self.joined:
            self._permission_watch.stop()
            await self.channel_layer.group_discard(ESCALATIONS_GROUP, self.channel_name)

    async def _permissions_now(self, permissions: set[str]) -> None:
        if VIEW_TICKETS not in permissions:
            await self.close(code=FORBIDDEN)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """The page only listens; anything it sends is ignored (not even read as JSON: a
        frame that is not would close the page's own socket)."""

    async def escalation_opened(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "escalation", "ticket": event["ticket"]})

    async def escalation_changed(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "changed", "ticket": event["ticket"]})
