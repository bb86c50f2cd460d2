"""WebSocket routes of staff on live calls, behind the same guards as the other staff pages:
a page of this very site (support/staff/sockets.py: SameOriginOnly), and the staff user from
the session cookie, read within PAGE_DB_TIMEOUT_S (voiceproject/socket_auth.py)."""

from __future__ import annotations

from django.urls import URLPattern, path

from livestaff.consumers import LiveCallsConsumer, StaffCallConsumer
from support.staff.sockets import SameOriginOnly
from voiceproject.socket_auth import BoundedAuthMiddlewareStack

live_staff_websocket_urlpatterns: list[URLPattern] = [
    path(
        "ws/staff/calls/<str:call_id>",
        SameOriginOnly(BoundedAuthMiddlewareStack(StaffCallConsumer.as_asgi())),
    ),
    path(
        "ws/staff/live",
        SameOriginOnly(BoundedAuthMiddlewareStack(LiveCallsConsumer.as_asgi())),
    ),
]
