"""WebSocket routes of staff on live calls, behind the same guards as the other staff pages:
an allowed Origin, and the staff user from the session cookie."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import URLPattern, path

from livestaff.consumers import LiveCallsConsumer, StaffCallConsumer

live_staff_websocket_urlpatterns: list[URLPattern] = [
    path(
        "ws/staff/calls/<str:call_id>",
        AllowedHostsOriginValidator(AuthMiddlewareStack(StaffCallConsumer.as_asgi())),
    ),
    path(
        "ws/staff/live",
        AllowedHostsOriginValidator(AuthMiddlewareStack(LiveCallsConsumer.as_asgi())),
    ),
]
