"""Voice session tokens: signed, short-lived, naming one customer, good for one call
(contract section 2).

A host application (or staff, or the demo page) mints one with `POST /api/voice/sessions`
and the browser presents it as `/ws/voice?token=...`. The signature and the timestamp inside
prove it; its nonce is claimed when a call opens with it (realtime/single_use.py), so a token
copied from a page or a log opens nothing more. A dropped page re-attaches to its call with
the call's resume token instead.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing

SALT = "realtime.voice-session"


class InvalidToken(Exception):
    """Missing, tampered with or expired; the message says which."""


@dataclass(frozen=True)
class SessionToken:
    user_id: int
    nonce: str


def load_signed(token: str, salt: str, max_age: int, error: type[Exception], name: str) -> Any:
    """What `token` signs with `salt`, if it is genuine and younger than `max_age` seconds;
    else raises `error` (the caller's domain exception), saying that `name` ("the session
    token") has expired or is not valid. What the payload must hold is the caller's to check."""
    try:
        return signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise error(f"{name} has expired") from None
    except signing.BadSignature:
        raise error(f"{name} is not valid") from None


def mint(user_id: int) -> str:
    return signing.dumps(
        {"user_id": user_id, "n": secrets.token_urlsafe(12)}, salt=SALT, compress=False
    )


def verify(token: str, max_age: int | None = None) -> SessionToken:
    """The customer and nonce the token names, or raise InvalidToken."""
    if not token:
        raise InvalidToken("no session token")
    if max_age is None:
        max_age = settings.VOICE_SESSION_TOKEN_TTL
    payload = load_signed(token, SALT, max_age, InvalidToken, "the session token")
    user_id = payload.get("user_id") if isinstance(payload, dict) else None
    nonce = payload.get("n") if isinstance(payload, dict) else None
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not isinstance(nonce, str):
        raise InvalidToken("the session token is not valid")
    return SessionToken(user_id, nonce)
