"""Voice session tokens: signed, short-lived, naming one customer (contract section 2).

A host application (or staff, or the demo page) mints one with `POST /api/voice/sessions`
and the browser presents it as `/ws/voice?token=...`. Nothing is stored: the signature and
the timestamp inside the token are the whole proof.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

SALT = "realtime.voice-session"


class InvalidToken(Exception):
    """Missing, tampered with or expired; the message says which."""


def mint(user_id: int) -> str:
    return signing.dumps({"user_id": user_id}, salt=SALT, compress=False)


def verify(token: str, max_age: int | None = None) -> int:
    """Return the customer's user_id the token names, or raise InvalidToken."""
    if not token:
        raise InvalidToken("no session token")
    try:
        payload = signing.loads(
            token,
            salt=SALT,
            max_age=settings.VOICE_SESSION_TOKEN_TTL if max_age is None else max_age,
        )
    except signing.SignatureExpired:
        raise InvalidToken("the session token has expired") from None
    except signing.BadSignature:
        raise InvalidToken("the session token is not valid") from None
    user_id = payload.get("user_id") if isinstance(payload, dict) else None
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise InvalidToken("the session token is not valid")
    return user_id
