"""ASGI guard for `/ws/twilio`: only upgrades Twilio signed reach the consumer.

Twilio sends no Origin header, so the browser route's origin check does not apply; it signs
the handshake instead (X-Twilio-Signature over the exact `wss://` URL, no parameters). The
daphne scope has no scheme and, behind a proxy, not the public host, so the URL is rebuilt
from PUBLIC_BASE_URL, or else from the Host header, believed only for one of ALLOWED_HOSTS as
Django believes it for any request (an upgrade Twilio signed for another server on the same
account is not one for this server).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from realtime.phone import security

log = logging.getLogger(__name__)

SIGNATURE_REJECTED = 4403


class TwilioSignatureGuard:
    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        signature = headers.get(b"x-twilio-signature", b"").decode("latin1")
        host = headers.get(b"host", b"").decode("latin1")
        url = _signed_url(scope, host)
        if _allowed(host) and security.signature_is_valid(url, {}, signature):
            return await self.application(scope, receive, send)
        if not settings.TWILIO_AUTH_TOKEN:
            # The contract's 503 cannot be sent: daphne refuses an upgrade with 403 only.
            log.error("twilio: refused a stream upgrade: %s", security.NOT_CONFIGURED)
        else:
            log.warning("twilio: refused a stream upgrade with a bad or missing signature")
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": SIGNATURE_REJECTED})


def _signed_url(scope: Any, request_host: str) -> str:
    query = scope.get("query_string", b"").decode("latin1")
    path = scope.get("path", "") + (f"?{query}" if query else "")
    return f"wss://{security.public_host(request_host)}{path}"


def _allowed(host: str) -> bool:
    """Whether the Host header names this server (as HttpRequest.get_host decides); with
    PUBLIC_BASE_URL the signed URL does not depend on it."""
    if settings.PUBLIC_BASE_URL:
        return True
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)
