"""WebSocket routes of the staff pages, each behind its own guard (as in realtime/routing.py):
the page must come from an allowed host, and AuthMiddlewareStack gives the consumer the staff
user from the session cookie. voiceproject/asgi.py adds these to its URLRouter."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import URLPattern, path

from support.staff.consumers import StaffQueueConsumer

staff_websocket_urlpatterns: list[URLPattern] = [
    path(
        "ws/staff/queue",
        AllowedHostsOriginValidator(AuthMiddlewareStack(StaffQueueConsumer.as_asgi())),
    ),
]
