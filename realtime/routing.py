"""WebSocket routes, each behind its own guard.

The browser route must come from an allowed host (channels' origin check); Twilio sends no
Origin header, so its route is verified by Twilio's signature instead.
"""

from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
