"""WebSocket routes of staff on live calls, behind the same guards as the other staff pages:
a page of this very site (support/staff/sockets.py: SameOriginOnly), and the staff user from
the session cookie."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from django.urls import URLPattern, path

from livestaff.consumers import LiveCallsConsumer, StaffCallConsumer
from support.staff.sockets import SameOriginOnly

live_staff_websocket_urlpatterns: list[URLPattern] = [
    path(
        "ws/staff/calls/<str:call_id>",
        SameOriginOnly(AuthMiddlewareStack(StaffCallConsumer.as_asgi())),
    ),
    path(
        "ws/staff/live",
        SameOriginOnly(AuthMiddlewareStack(LiveCallsConsumer.as_asgi())),
    ),
]
