"""Who may open `/ws/voice` (contract section 3): tokens, demo mode, origin, customers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client, override_settings
from pymongo.errors import ServerSelectionTimeoutError

from continuity import tokens as resume_tokens
from realtime import consumers as voice_consumers
from realtime import tokens
from realtime.phone import security
from realtime.tests.voice_harness import closed_with
from support.models import Customer
from voiceproject.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

SAME_ORIGIN = [(b"origin", b"http://testserver")]


@pytest.fixture
async def asha() -> Customer:
    return await Customer.objects.acreate(user_id=7, name="Asha Rao", phone="+919800000007")


async def connect(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> tuple[
    WebsocketCommunicator, bool, int | str | None
]:
    communicator = WebsocketCommunicator(
        application, path, headers=SAME_ORIGIN if headers is None else headers
    )
    connected, code = await communicator.connect()
    return communicator, connected, code



async def test_a_connection_without_a_token_is_closed_with_4401(asha: Customer) -> None:
    with override_settings(VOICE_DEMO_MODE=False):
        communicator, connected, _ = await connect("/ws/voice")
        assert connected
        assert json.loads(await communicator.receive_from()) == {
            "type": "ended", "reason": "unauthorized"
        }
        assert await closed_with(communicator) == 4401


async def test_a_tampered_token_is_closed_with_4401(asha: Customer) -> None:
    communicator, _, _ = await connect(f"/ws/voice?token={tokens.mint(7)}x")
    assert await closed_with(communicator) == 4401


async def test_an_expired_token_is_closed_with_4401(asha: Customer) -> None:
    token = tokens.mint(7)
    with override_settings(VOICE_SESSION_TOKEN_TTL=-1):
        communicator, _, _ = await connect(f"/ws/voice?token={token}")
        assert await closed_with(communicator) == 4401


@pytest.mark.parametrize("query", [
    f"token={resume_tokens.mint('CALL-0123456789abcdef', 7)}",  # a resume token as a session's
    f"resume={tokens.mint(7)}",  # a session token as a resume token
    f"token={security.mint_stream_token(security.StreamCaller('CA1', '+919800000007'))}",
], ids=["resume as session", "session as resume", "twilio stream as session"])  # fmt: skip
async def test_a_token_minted_for_another_purpose_is_closed_with_4401(
    asha: Customer, query: str
) -> None:
    with override_settings(VOICE_DEMO_MODE=False):
        communicator, _, _ = await connect(f"/ws/voice?{query}")
        assert await closed_with(communicator) == 4401


async def test_demo_user_id_is_refused_outside_demo_mode(asha: Customer) -> None:
    with override_settings(VOICE_DEMO_MODE=False):
        communicator, _, _ = await connect("/ws/voice?user_id=7")
        assert await closed_with(communicator) == 4401


async def test_a_customer_that_does_not_exist_is_closed_with_4404(asha: Customer) -> None:
    communicator, _, _ = await connect(f"/ws/voice?token={tokens.mint(404)}")
    assert json.loads(await communicator.receive_from()) == {
        "type": "ended", "reason": "customer_not_found"
    }
    assert await closed_with(communicator) == 4404


@pytest.mark.parametrize(
    "headers",
    [[], [(b"origin", b"https://evil.example")], [(b"origin", b"null")]],
    ids=["no origin", "foreign origin", "null origin"],
)
async def test_a_page_from_another_origin_is_refused_with_4403(
    asha: Customer, headers: list[tuple[bytes, bytes]]
) -> None:
    communicator, connected, _ = await connect("/ws/voice?user_id=7", headers=headers)

    # Accepted only to say why: closed before, a browser sees a failed handshake (1006) and
    # the page tells the customer to check their internet connection.
    assert connected
    assert json.loads(await communicator.receive_from()) == {
        "type": "ended", "reason": "origin_refused"
    }
    assert await closed_with(communicator) == 4403


async def test_without_a_gemini_key_the_page_is_told_the_agent_is_not_configured(
    asha: Customer,
) -> None:
    with override_settings(GEMINI_API_KEY=""):
        communicator, connected, _ = await connect("/ws/voice?user_id=7")
        assert connected
        error = json.loads(await communicator.receive_from())
        ended = json.loads(await communicator.receive_from())
        assert error["type"] == "error" and error["code"] == "agent_not_configured"
        # Customers are not told of API keys; the server's log says why.
        assert "GEMINI" not in error["message"]
        assert ended == {"type": "ended", "reason": "agent_not_configured"}
        assert await closed_with(communicator) == 4503


def test_a_production_voice_page_tells_customers_nothing_of_api_keys(settings: Any) -> None:
    settings.GEMINI_API_KEY, settings.DEBUG = "", False
    # DEBUG off serves static files from a manifest only collectstatic makes; the page needs URLs.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # fmt: skip

    body = Client().get("/").content.decode()

    assert "Our voice assistant is not available right now" in body
    assert "GEMINI" not in body and "operator-hint" not in body


def test_the_page_is_told_how_long_the_server_keeps_a_dropped_call(settings: Any) -> None:
    # Its reconnecting gives up 2 s before the server lets the call go (static/voice/call.js),
    # 28 s at least: a grace set longer than the default is not cut short by the page.
    settings.VOICE_RESUME_GRACE_S = 120
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # fmt: skip
    assert 'data-resume-grace-s="120"' in Client().get("/").content.decode()


async def test_when_the_database_is_down_the_page_is_told_and_the_socket_closed(
    asha: Customer, unreachable_database: None
) -> None:
    communicator, connected, _ = await connect("/ws/voice?user_id=7")
    assert connected
    error = json.loads(await communicator.receive_from(timeout=5))
    assert error["type"] == "error" and error["code"] == "unavailable"
    # Then `ended`, as before every close the server makes (contract section 3).
    assert json.loads(await communicator.receive_from()) == {
        "type": "ended", "reason": "unavailable"
    }
    assert await closed_with(communicator) == 4500


async def test_a_link_spent_on_a_call_that_failed_on_our_side_works_again(
    asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page says "please try again shortly": the host application's one-use link must
    still open a call then, not answer token_used."""
    token = tokens.mint(7)

    async def records_away(**_: object) -> None:
        raise ServerSelectionTimeoutError("the customers' records are away")

    with monkeypatch.context() as patched:
        patched.setattr(voice_consumers, "find_customer", records_away)
        first, connected, _ = await connect(f"/ws/voice?token={token}")
        assert connected
        assert json.loads(await first.receive_from(timeout=5))["code"] == "unavailable"
        assert await closed_with(first) == 4500

    with override_settings(GEMINI_API_KEY=""):  # past the token, the next check answers
        again, connected, _ = await connect(f"/ws/voice?token={token}")
        assert connected
        assert json.loads(await again.receive_from())["code"] == "agent_not_configured"
        assert await closed_with(again) == 4503
