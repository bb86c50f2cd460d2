"""WebSocket routes, each behind its own guard.

The browser route must come from an allowed host (origin check, 4403 otherwise); Twilio
sends no Origin header, so its route is verified by Twilio's signature instead.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from realtime.consumers import VoiceConsumer
from realtime.guards import BrowserOriginGuard
from realtime.phone.consumer import TwilioConsumer
from realtime.phone.guard import TwilioSignatureGuard

websocket_urlpatterns: list[URLPattern] = [
    path("ws/voice", BrowserOriginGuard(VoiceConsumer.as_asgi())),
    path("ws/twilio", TwilioSignatureGuard(TwilioConsumer.as_asgi())),
]
