"""Who may reach the after-the-call endpoints. Pure checks; the views apply them."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence

DOWNLOAD_RECORDINGS = "postcall.download_recording"  # postcall/models.py


def metrics_allowed(
    authorization: str, client_ip: str, *, token: str, networks: Sequence[str]
) -> bool | None:
    """True to serve /metrics, False to refuse, None when it is not configured at all."""
    if not token and not networks:
        return None
    if token:
        scheme, _, given = authorization.partition(" ")
        # As bytes: compare_digest raises on a str with anything but ASCII in it.
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return True
    if networks and client_ip:
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(net, strict=False) for net in networks)
    return False
