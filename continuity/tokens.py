"""Resume tokens (contract section 7): what lets a page re-attach to its call.

`ready` carries one; `/ws/voice?resume=R` presents it. It is signed and names the call and
its customer, so it can neither be forged nor point at another customer's call. Whether the
call can still be resumed is the call record's business (ended calls are refused with 4410),
so the signature's own age limit only bounds how long a leaked token is worth checking: a
genuine token past it names a call that is over, and is refused as one (4410, not 4401).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "continuity.resume"


class InvalidResumeToken(Exception):
    """Forged or mangled, or (ExpiredResumeToken) far too old; the message says which."""


class ExpiredResumeToken(InvalidResumeToken):
    """Genuine, but older than any call it could name lasts: that call is over."""


@dataclass(frozen=True)
class ResumeClaim:
    call_id: str
    user_id: int | None


def mint(call_id: str, user_id: int | None) -> str:
    return signing.dumps({"c": call_id, "u": user_id}, salt=SALT, compress=False)


def verify(token: str) -> ResumeClaim:
    """The call and customer the token names, or raise InvalidResumeToken (its subclass
    ExpiredResumeToken for a genuine token too old to name a call still going)."""
    # A call lasts at most VOICE_MAX_CALL_S; its token is refused by the record once it ended.
    max_age = int(settings.VOICE_MAX_CALL_S + settings.VOICE_RESUME_GRACE_S + 600)
    try:
        payload = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired:
        # Its age is read only once its signature holds: no forgery gets this far.
        raise ExpiredResumeToken("the resume token has expired") from None
    except signing.BadSignature:
        raise InvalidResumeToken("the resume token is not valid") from None
    call_id = payload.get("c") if isinstance(payload, dict) else None
    user_id = payload.get("u") if isinstance(payload, dict) else None
    if not isinstance(call_id, str) or not (user_id is None or isinstance(user_id, int)):
        raise InvalidResumeToken("the resume token is not valid")
    return ResumeClaim(call_id, user_id)
