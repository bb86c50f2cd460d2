"""WebSocket routes of the staff pages, each behind its own guard (as in realtime/routing.py):
the page must be one of this very site (sockets.SameOriginOnly), and BoundedAuthMiddlewareStack
gives the consumer the staff user from the session cookie, read within PAGE_DB_TIMEOUT_S
(voiceproject/socket_auth.py). voiceproject/asgi.py adds these to its URLRouter."""

from __future__ import annotations

from django.urls import URLPattern, path

from support.staff.consumers import StaffQueueConsumer
from support.staff.sockets import SameOriginOnly
from voiceproject.socket_auth import BoundedAuthMiddlewareStack

staff_websocket_urlpatterns: list[URLPattern] = [
    path(
        "ws/staff/queue",
        SameOriginOnly(BoundedAuthMiddlewareStack(StaffQueueConsumer.as_asgi())),
    ),
]
