"""WebSocket routes of the staff pages; voiceproject/asgi.py wraps them in
AllowedHostsOriginValidator(AuthMiddlewareStack(...))."""

from __future__ import annotations

from django.urls import URLPattern, path

from support.staff.consumers import StaffQueueConsumer

staff_websocket_urlpatterns: list[URLPattern] = [
    path("ws/staff/queue", StaffQueueConsumer.as_asgi()),
]
