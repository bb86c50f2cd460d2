"""Who may reach the after-the-call endpoints. Pure checks; the views apply them."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from voiceproject.bearer import bearer_matches

DOWNLOAD_RECORDINGS = "postcall.download_recording"  # postcall/models.py


def metrics_allowed(
    authorization: str, client_ip: str, *, token: str, networks: Sequence[str]
) -> bool | None:
    """True to serve /metrics, False to refuse, None when it is not configured at all."""
    if not token and not networks:
        return None
    if bearer_matches(authorization, token):
        return True
    if networks and client_ip:
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # A v4 peer of a server listening on `::` (HOST=::) is seen as ::ffff:a.b.c.d.
            address = address.ipv4_mapped
        return any(address in ipaddress.ip_network(net, strict=False) for net in networks)
    return False
