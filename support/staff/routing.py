"""WebSocket routes of the staff pages, each behind its own guard (as in realtime/routing.py):
the page must be one of this very site (sockets.SameOriginOnly), and AuthMiddlewareStack gives
the consumer the staff user from the session cookie. voiceproject/asgi.py adds these to its
URLRouter."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from django.urls import URLPattern, path

from support.staff.consumers import StaffQueueConsumer
from support.staff.sockets import SameOriginOnly

staff_websocket_urlpatterns: list[URLPattern] = [
    path(
        "ws/staff/queue",
        SameOriginOnly(AuthMiddlewareStack(StaffQueueConsumer.as_asgi())),
    ),
]
