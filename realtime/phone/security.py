"""Who may reach the phone endpoints: Twilio's signatures and the per-call stream token.

Twilio signs every request with the account's auth token over the exact URL it requested
(plus, for form posts, the sorted parameters). Behind a proxy or tunnel the URL Django sees is
not the one Twilio signed, so the public URL is built from PUBLIC_BASE_URL when it is set.

The WebSocket upgrade's signature covers the URL only, which is the same for every call, so
a captured one could be replayed. The stream therefore also carries a token minted by the
webhook for one call: it binds the call SID and the caller's number and expires quickly.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from twilio.request_validator import RequestValidator

from realtime.tokens import load_signed

log = logging.getLogger(__name__)

STREAM_PATH = "/ws/twilio"
TOKEN_SALT = "realtime.phone.stream-token"
# Twilio opens the stream within a second or two of our webhook answer; a minute is generous.
TOKEN_MAX_AGE_S = 60


# What the webhook answers (503), and the stream's guard logs, without TWILIO_AUTH_TOKEN.
NOT_CONFIGURED = (
    "Phone calls are not configured on this server: set TWILIO_AUTH_TOKEN to the auth token "
    "of the Twilio account whose number points here."
)


class InvalidStreamToken(Exception):
    """The stream's token is missing, forged, expired or for another call; message says which."""


# Twilio's STIR/SHAKEN result on the webhook (`StirVerstat`): "A" attestation means the
# carrier vouches that the caller owns the number, which we take as verified.
FULL_ATTESTATION = {"TN-Validation-Passed-A"}


@dataclass(frozen=True)
class StreamCaller:
    call_sid: str
    phone: str  # the webhook's From: E.164, or whatever Twilio had ("anonymous", say)
    verified: bool = False  # the carrier attests the number (see FULL_ATTESTATION)
    nonce: str = ""  # makes each token single-use (realtime/single_use.py)
    # A call we placed (a callback: Twilio's Direction "outbound-…"): its stream may carry on
    # a call on record, never begin one (the number is our own, the customer did not call).
    outbound: bool = False


def signature_is_valid(url: str, params: Mapping[str, Any], signature: str) -> bool:
    """True if `signature` is Twilio's for `url` and `params` under TWILIO_AUTH_TOKEN."""
    if not settings.TWILIO_AUTH_TOKEN or not signature:
        return False
    return bool(RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, params, signature))


def webhook_refusal(request: HttpRequest, what: str) -> HttpResponse | None:
    """The answer to a request for a Twilio webhook that is not Twilio's: 503 while Twilio is
    not configured, 403 (logged, naming `what` and the URL) without its valid signature.
    None when Twilio sent it."""
    if not settings.TWILIO_AUTH_TOKEN:
        return HttpResponse(NOT_CONFIGURED, status=503, content_type="text/plain")
    url = public_https_url(request.get_full_path(), request.build_absolute_uri())
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature_is_valid(url, request.POST, signature):
        log.warning("twilio: refused %s with a bad or missing signature for %s", what, url)
        return HttpResponse("Invalid Twilio signature.", status=403, content_type="text/plain")
    return None


def public_host(request_host: str) -> str:
    """The host (and port) Twilio reaches us at: PUBLIC_BASE_URL's, else the request's."""
    if settings.PUBLIC_BASE_URL:
        return urlsplit(settings.PUBLIC_BASE_URL).netloc
    return request_host


def public_https_url(full_path: str, request_url: str) -> str:
    """The https URL Twilio signed for a webhook at `full_path` (path and query)."""
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL.rstrip("/") + full_path
    return request_url  # development: no proxy in front, the request is what Twilio sent


def stream_url(request_host: str) -> str:
    """The `wss://` URL of the media stream, as put in the TwiML and signed by Twilio."""
    return f"wss://{public_host(request_host)}{STREAM_PATH}"


def voice_url(request_host: str) -> str:
    """The https URL of the voice webhook, for TwiML made outside a request to it (a
    transfer's, from the stream): what Twilio asks, and signs, when that TwiML is over."""
    path = reverse("twilio-voice")
    return public_https_url(path, f"https://{request_host}{path}")


def mint_stream_token(caller: StreamCaller) -> str:
    return signing.dumps(
        {"call_sid": caller.call_sid, "from": caller.phone, "v": caller.verified,
         "o": caller.outbound, "n": secrets.token_urlsafe(12)},
        salt=TOKEN_SALT, compress=False,
    )  # fmt: skip


def _signed_payload(token: str, salt: str, max_age_s: int, what: str) -> Any:
    """What a stream's `token` parameter signs with `salt`, if it is genuine and younger than
    `max_age_s`; raises InvalidStreamToken, naming the token `what`."""
    if not token:
        raise InvalidStreamToken("the stream has no token parameter")
    return load_signed(token, salt, max_age_s, InvalidStreamToken, what)


def verify_stream_token(token: str, call_sid: str) -> StreamCaller:
    """The caller the token names, if it is genuine, fresh and minted for `call_sid`."""
    payload = _signed_payload(token, TOKEN_SALT, TOKEN_MAX_AGE_S, "the stream token")
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("from"), str)
        or not isinstance(payload.get("n"), str)
    ):
        raise InvalidStreamToken("the stream token is not valid")
    if payload.get("call_sid") != call_sid:
        raise InvalidStreamToken("the stream token was minted for another call")
    return StreamCaller(
        call_sid, payload["from"], payload.get("v") is True, payload["n"],
        outbound=payload.get("o") is True,
    )  # fmt: skip


# --- Calls we place: a staff member's "Call now" on a callback (realtime/phone/outbound.py) ---

CALLBACK_TOKEN_SALT = "realtime.phone.callback-token"
# The stream opens when the customer answers: after up to twilio_rest.DIAL_RING_TIMEOUT_S of
# ringing, plus Twilio's own set-up.
CALLBACK_TOKEN_MAX_AGE_S = 120


@dataclass(frozen=True)
class CallbackStream:
    """Who an outbound callback's stream is for: the callback, the number dialled and the
    staff member (username) who dialled it."""

    callback_id: str
    phone: str
    staff: str
    nonce: str = ""  # makes each token single-use (realtime/single_use.py)


def mint_callback_token(stream: CallbackStream) -> str:
    """The signed `token` parameter of an outbound callback's stream. It cannot bind the call
    SID, which Twilio assigns only when the call is placed; the callback records that SID
    (callbacks.models.Callback.call_sid) for the stream to be checked against."""
    return signing.dumps(
        {"callback_id": stream.callback_id, "to": stream.phone, "staff": stream.staff,
         "n": secrets.token_urlsafe(12)},
        salt=CALLBACK_TOKEN_SALT, compress=False,
    )  # fmt: skip


def verify_callback_token(token: str) -> CallbackStream:
    """The callback stream the token names, if it is genuine and fresh; raises
    InvalidStreamToken. A token minted for an incoming call is not valid here (another salt),
    nor one of these for an incoming call."""
    payload = _signed_payload(
        token, CALLBACK_TOKEN_SALT, CALLBACK_TOKEN_MAX_AGE_S, "the callback token"
    )
    fields = ("callback_id", "to", "staff", "n")
    if not isinstance(payload, dict) or not all(isinstance(payload.get(f), str) for f in fields):
        raise InvalidStreamToken("the callback token is not valid")
    return CallbackStream(payload["callback_id"], payload["to"], payload["staff"], payload["n"])
