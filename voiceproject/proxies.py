"""The client's address, believed only as far as the configured proxies vouch for it.

`X-Forwarded-For` is a list anyone can start: each proxy appends the address it was reached
from, so only the last `TRUSTED_PROXY_COUNT` entries were written by proxies we run or trust.
With N trusted proxies the client is the Nth entry from the right; whatever stands left of it
is the client's own claim. With none (the default) the header is ignored and the socket's peer
is the client.

daphne's `--proxy-headers` takes the *first* entry instead, which the client writes, so the
server never lets daphne read the header (`voiceproject.lifecycle.ignore_daphne_proxy_headers`)
and this wrapper is the one place a client address comes from, for HTTP and WebSockets alike.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import cast

from asgiref.typing import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from django.conf import settings
from django.http import HttpRequest


def forwarded_client(
    peer: str | None, forwarded_for: Iterable[str], trusted_proxies: int
) -> str | None:
    """The client address for a request from `peer` carrying these X-Forwarded-For values.

    None when it cannot be trusted: fewer entries than trusted proxies (the request did not
    come through them all) or an entry that is not an IP address (a proxy configured wrongly).
    """
    if trusted_proxies <= 0:
        return peer
    entries = [entry.strip() for value in forwarded_for for entry in value.split(",")]
    entries = [entry for entry in entries if entry]
    if len(entries) < trusted_proxies:
        return None
    try:
        return str(ipaddress.ip_address(entries[-trusted_proxies]))
    except ValueError:
        return None


# The scope key of the socket's peer, for a request that came with no X-Forwarded-For.
DIRECT_PEER = "voiceproject.direct_peer"


def direct_peer(request: HttpRequest) -> str | None:
    """The address that connected to this process, when the request came straight to it, not
    through a proxy (it carries no X-Forwarded-For): a neighbour inside the deployment, such as
    a scraper reaching each worker itself. None for a request that came through a proxy, whose
    peer is that proxy."""
    if settings.TRUSTED_PROXY_COUNT <= 0:
        return request.META.get("REMOTE_ADDR") or None  # the peer, whatever the header says
    scope = getattr(request, "scope", None) or {}
    peer = scope.get(DIRECT_PEER)
    return str(peer) if peer else None


class TrustedProxies:
    """ASGI wrapper setting `scope["client"]` to the client `forwarded_client` finds.

    Django reads `REMOTE_ADDR` from it. An address that cannot be trusted leaves no client at
    all (`None`): a caller must then not count anything per address. A request with no
    X-Forwarded-For at all keeps its socket's peer under DIRECT_PEER (see `direct_peer`).
    """

    def __init__(self, app: ASGI3Application) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        trusted = settings.TRUSTED_PROXY_COUNT
        if (scope["type"] == "http" or scope["type"] == "websocket") and trusted > 0:
            values = [
                value.decode("latin-1")
                for name, value in scope["headers"]
                if name.lower() == b"x-forwarded-for"
            ]
            client = scope.get("client")
            address = forwarded_client(client[0] if client else None, values, trusted)
            # The port is the proxy's connection, not the client's: not worth pretending.
            client_address = (address, 0) if address else None
            peer = None if values or not client else client[0]
            scope = cast(Scope, {**scope, "client": client_address, DIRECT_PEER: peer})
        await self.app(scope, receive, send)
