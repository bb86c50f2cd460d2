"""`Authorization: Bearer <key>` against a configured key, for the endpoints other programs
call (the minting API, /metrics). Pure."""

from __future__ import annotations

import hmac


def bearer_matches(authorization: str, key: str) -> bool:
    """Whether the header presents `key` (never when no key is configured). Constant-time,
    and as bytes: compare_digest raises on a str with anything but ASCII in it, which a header
    byte over 0x80 becomes (a 500 for anyone)."""
    scheme, _, presented = authorization.partition(" ")
    return (
        bool(key)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(presented.strip().encode("utf-8", "replace"), key.encode())
    )
