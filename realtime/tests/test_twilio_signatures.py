"""Who may reach the phone endpoints (contract sections 2 and 4): Twilio's signatures on the
webhook and on the stream upgrade, computed with the real RequestValidator, and the per-call
stream token the webhook mints."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING
from xml.etree import ElementTree

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client, override_settings
from pymongo.errors import ServerSelectionTimeoutError
from twilio.request_validator import RequestValidator

from realtime.phone import consumer as phone_consumer
from realtime.phone import security
from realtime.phone import views as phone_views
from realtime.tests.voice_harness import closed_with
from support.customers import CustomerRef
from voiceproject.asgi import application
from voiceproject.tests.test_page_db_timeout import database_pid

__all__ = ["database_pid"]

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse  # what Client().post() returns

# Channels' disconnect handler closes stale ORM connections, which pytest-django must allow.
pytestmark = pytest.mark.django_db(transaction=True)

AUTH_TOKEN = "twilio-test-auth-token"
PUBLIC = "https://voice.example.com"
CALL_SID = "CA5bc8f6a5b8ae4e8a3b3b4e2d3f3e2d1c"
STREAM_SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
ASHA_PHONE = "+919800000007"
WEBHOOK_FORM = {
    "CallSid": CALL_SID,
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "From": ASHA_PHONE,
    "To": "+918000000000",
    "CallStatus": "ringing",
    "Direction": "inbound",
}


@pytest.fixture(autouse=True)
def twilio_configured() -> Iterator[None]:
    with override_settings(
        TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_BASE_URL=PUBLIC, GEMINI_API_KEY="test-key"
    ):
        yield


def signed(url: str, params: dict[str, str] | None = None, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params or {})


def post_webhook(
    signature: str | None, form: dict[str, str] = WEBHOOK_FORM
) -> _MonkeyPatchedWSGIResponse:
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    return Client().post("/twilio/voice", form, headers=headers)


def stream_of(twiml: bytes) -> ElementTree.Element:
    root = ElementTree.fromstring(twiml)
    stream = root.find("./Connect/Stream")
    assert stream is not None, twiml
    return stream


# --- POST /twilio/voice ----------------------------------------------------------------------


def test_a_signed_webhook_connects_the_call_to_the_media_stream() -> None:
    response = post_webhook(signed(f"{PUBLIC}/twilio/voice", WEBHOOK_FORM))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    stream = stream_of(response.content)
    assert stream.get("url") == "wss://voice.example.com/ws/twilio"
    [parameter] = stream.findall("Parameter")
    assert parameter.get("name") == "token"
    caller = security.verify_stream_token(parameter.get("value", ""), CALL_SID)
    assert (caller.call_sid, caller.phone, caller.verified) == (CALL_SID, ASHA_PHONE, False)


@pytest.mark.parametrize(
    "signature",
    [
        signed(f"{PUBLIC}/twilio/voice", {**WEBHOOK_FORM, "From": "+15550000000"}),
        signed("http://testserver/twilio/voice", WEBHOOK_FORM),
        signed(f"{PUBLIC}/twilio/voice", WEBHOOK_FORM, token="another-accounts-token"),
        "",
    ],
    ids=["other parameters", "other url", "other account", "empty"],
)
def test_a_badly_signed_webhook_is_refused_with_403(signature: str) -> None:
    assert post_webhook(signature).status_code == 403


def test_an_unsigned_webhook_is_refused_with_403() -> None:
    assert post_webhook(None).status_code == 403


def test_without_an_auth_token_the_webhook_answers_503_saying_what_is_missing() -> None:
    with override_settings(TWILIO_AUTH_TOKEN=""):
        response = post_webhook(signed(f"{PUBLIC}/twilio/voice", WEBHOOK_FORM))
    assert response.status_code == 503
    assert b"TWILIO_AUTH_TOKEN" in response.content


def test_the_webhook_only_takes_post() -> None:
    assert Client().get("/twilio/voice").status_code == 405


def test_without_a_public_base_url_the_request_url_is_the_signed_one() -> None:
    with override_settings(PUBLIC_BASE_URL=""):
        response = post_webhook(signed("http://testserver/twilio/voice", WEBHOOK_FORM))
    assert response.status_code == 200
    assert stream_of(response.content).get("url") == "wss://testserver/ws/twilio"


def test_behind_a_tls_proxy_without_a_public_base_url_the_https_url_is_the_signed_one() -> None:
    """Twilio signs the https URL it called. The proxy in front says https with
    X-Forwarded-Proto; a request that did not come over https (or whose Host is not ours) is
    not the one Twilio signed."""
    signature = signed("https://testserver/twilio/voice", WEBHOOK_FORM)

    def post(headers: dict[str, str]) -> int:
        headers = {"X-Twilio-Signature": signature, **headers}
        return Client().post("/twilio/voice", WEBHOOK_FORM, headers=headers).status_code

    over_https = {"X-Forwarded-Proto": "https"}
    with override_settings(PUBLIC_BASE_URL="", TRUSTED_PROXY_COUNT=1,
                           SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        assert post(over_https) == 200
        assert post({}) == 403  # plain http: not the URL Twilio signed
        assert post({**over_https, "Host": "evil.example"}) == 400  # not our host


def test_an_oversized_or_field_flooded_webhook_is_refused_not_an_error() -> None:
    signature = signed(f"{PUBLIC}/twilio/voice", WEBHOOK_FORM)
    huge = b"From=" + b"9" * 3_000_000
    flood = b"&".join(b"f%d=1" % n for n in range(5_000))

    for body in (huge, flood):
        response = Client().post("/twilio/voice", data=body, headers={
            "X-Twilio-Signature": signature,
        }, content_type="application/x-www-form-urlencoded")  # fmt: skip
        assert response.status_code == 400


def test_without_a_gemini_key_the_caller_is_told_and_the_call_ends() -> None:
    with override_settings(GEMINI_API_KEY=""):
        response = post_webhook(signed(f"{PUBLIC}/twilio/voice", WEBHOOK_FORM))
    root = ElementTree.fromstring(response.content)
    assert [child.tag for child in root] == ["Say", "Hangup"]


def test_with_the_database_away_a_new_caller_is_told_and_a_call_going_on_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def away(**_: str) -> None:
        raise ServerSelectionTimeoutError("no servers")

    monkeypatch.setattr(phone_views.stored_calls, "find_call", away)
    ringing = post_webhook(signed(f"{PUBLIC}/twilio/voice", WEBHOOK_FORM))
    going_on = {**WEBHOOK_FORM, "CallStatus": "in-progress"}  # its stream ended: it moves
    moving = post_webhook(signed(f"{PUBLIC}/twilio/voice", going_on), going_on)

    said = ElementTree.fromstring(ringing.content)
    assert [child.tag for child in said] == ["Say", "Hangup"]
    assert "can't reach our records" in (said[0].text or "")
    assert stream_of(moving.content).get("url") == "wss://voice.example.com/ws/twilio"


def test_a_new_caller_is_answered_in_time_by_a_database_slow_to_answer_each_lookup(
    monkeypatch: pytest.MonkeyPatch, database_pid: int
) -> None:
    """Each of the webhook's lookups is bounded, and together they are too (LOOKUPS_S):
    one after another, each answered just within its own bound, they would keep Twilio
    waiting past its 15 s, and the caller would hear Twilio's error rather than ours."""
    monkeypatch.setattr(phone_views, "LOOKUPS_S", 1.5)
    thaw = threading.Timer(8, os.kill, (database_pid, signal.SIGCONT))

    async def slow_lookup(**_: str) -> None:
        await asyncio.sleep(0.5)  # answered, slowly

    async def slow_then_frozen(**_: str) -> CustomerRef:
        await asyncio.sleep(0.5)
        os.kill(database_pid, signal.SIGSTOP)  # her open calls: not answered at all
        thaw.start()
        return CustomerRef(user_id=101, name="Asha Verma", phone=ASHA_PHONE)

    monkeypatch.setattr(phone_views.stored_calls, "find_call", slow_lookup)
    monkeypatch.setattr(phone_views, "find_customer", slow_then_frozen)
    try:
        ringing = post_webhook(signed(f"{PUBLIC}/twilio/voice", WEBHOOK_FORM))
    finally:
        thaw.cancel()
        os.kill(database_pid, signal.SIGCONT)

    said = ElementTree.fromstring(ringing.content)  # before the thaw: within the bound
    assert [child.tag for child in said] == ["Say", "Hangup"]
    assert "can't reach our records" in (said[0].text or "")


# --- the stream token --------------------------------------------------------------------------


def test_a_stream_token_names_one_call_only() -> None:
    token = security.mint_stream_token(security.StreamCaller(CALL_SID, ASHA_PHONE))
    with pytest.raises(security.InvalidStreamToken, match="another call"):
        security.verify_stream_token(token, "CA00000000000000000000000000000000")


def test_a_stream_token_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = security.mint_stream_token(security.StreamCaller(CALL_SID, ASHA_PHONE))
    monkeypatch.setattr(security, "TOKEN_MAX_AGE_S", -1)
    with pytest.raises(security.InvalidStreamToken, match="expired"):
        security.verify_stream_token(token, CALL_SID)


def test_a_voice_session_token_is_not_a_stream_token() -> None:
    from realtime import tokens

    with pytest.raises(security.InvalidStreamToken, match="not valid"):
        security.verify_stream_token(tokens.mint(7), CALL_SID)


# --- WS /ws/twilio -----------------------------------------------------------------------------

STREAM_URL = "wss://voice.example.com/ws/twilio"


def start_frame(token: str, call_sid: str = CALL_SID) -> str:
    return json.dumps({
        "event": "start", "sequenceNumber": "1", "streamSid": STREAM_SID,
        "start": {
            "accountSid": "AC0123456789abcdef0123456789abcdef", "streamSid": STREAM_SID,
            "callSid": call_sid, "tracks": ["inbound"], "customParameters": {"token": token},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    })


async def open_stream(
    signature: str | None, host: str = "voice.example.com"
) -> tuple[WebsocketCommunicator, bool, int | str | None]:
    # No Origin header: Twilio sends none, and this route must not ask for one.
    headers = [(b"host", host.encode())]
    if signature is not None:
        headers.append((b"x-twilio-signature", signature.encode()))
    communicator = WebsocketCommunicator(application, "/ws/twilio", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code



async def test_a_signed_upgrade_is_accepted() -> None:
    communicator, connected, _ = await open_stream(signed(STREAM_URL))
    assert connected
    await communicator.disconnect()


@pytest.mark.parametrize(
    "signature",
    [
        signed("https://voice.example.com/ws/twilio"),
        signed(STREAM_URL, token="another-accounts-token"),
        signed("wss://evil.example/ws/twilio"),
        "",
        None,
    ],
    ids=["https url", "other account", "other host", "empty", "missing"],
)
async def test_an_upgrade_without_twilios_signature_is_closed_before_accept(
    signature: str | None,
) -> None:
    _, connected, code = await open_stream(signature)
    assert not connected
    assert code == 4403


async def test_without_an_auth_token_no_upgrade_is_accepted_and_the_log_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Contract section 1: without TWILIO_AUTH_TOKEN the Twilio endpoints say clearly what is
    missing. A refused upgrade can only be a 403 under daphne, so the log says it."""
    with override_settings(TWILIO_AUTH_TOKEN=""):
        _, connected, _ = await open_stream(signed(STREAM_URL))
    assert not connected
    assert "set TWILIO_AUTH_TOKEN" in caplog.text
    assert "bad or missing signature" not in caplog.text


async def test_without_a_public_base_url_the_host_header_is_the_signed_one() -> None:
    with override_settings(PUBLIC_BASE_URL="", ALLOWED_HOSTS=["voice.example.com"]):
        communicator, connected, _ = await open_stream(signed(STREAM_URL))
        assert connected
        await communicator.disconnect()


async def test_without_a_public_base_url_only_an_allowed_host_is_believed() -> None:
    """An upgrade Twilio signed for another deployment on the same account (a staging server,
    say) is not one for this server, whatever Host header comes with it: as for any request,
    the host must be one of ALLOWED_HOSTS."""
    staging = "wss://staging.example.com/ws/twilio"
    with override_settings(PUBLIC_BASE_URL="", ALLOWED_HOSTS=["voice.example.com"]):
        _, connected, code = await open_stream(signed(staging), host="staging.example.com")
    assert (connected, code) == (False, 4403)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "forged.token.value",
        security.mint_stream_token(security.StreamCaller("CA_another_call", ASHA_PHONE)),
    ],
    ids=["missing", "forged", "another call's"],
)
async def test_a_signed_stream_whose_start_has_no_valid_token_is_closed(token: str) -> None:
    communicator, connected, _ = await open_stream(signed(STREAM_URL))
    assert connected
    await communicator.send_to(text_data=start_frame(token))
    assert await closed_with(communicator) == 4401


async def test_a_stream_that_never_starts_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(phone_consumer, "START_TIMEOUT_S", 0.05)
    communicator, connected, _ = await open_stream(signed(STREAM_URL))
    assert connected
    await asyncio.sleep(0.1)
    assert await closed_with(communicator) == 4401
