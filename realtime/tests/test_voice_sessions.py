"""Session tokens: minting (`POST /api/voice/sessions`) and verifying them."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.test import Client, override_settings

from realtime import tokens
from support.models import Customer

pytestmark = pytest.mark.django_db

HOST_KEY = "host-application-key-0123456789"


@pytest.fixture
def asha() -> Customer:
    return Customer.objects.create(user_id=7, name="Asha Rao", phone="+919800000007")


def mint(client: Client, body: object, **headers: str) -> tuple[int, dict[str, object]]:
    response = client.post(
        "/api/voice/sessions",
        data=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )
    return response.status_code, response.json()


@override_settings(VOICE_API_KEY=HOST_KEY, VOICE_DEMO_MODE=False)
def test_a_host_application_mints_a_token_naming_one_customer(asha: Customer) -> None:
    status, body = mint(Client(), {"user_id": 7}, Authorization=f"Bearer {HOST_KEY}")

    assert status == 200
    assert body["ws_url"] == f"/ws/voice?token={body['token']}"
    assert body["expires_in"] == 300
    assert tokens.verify(str(body["token"])).user_id == 7


@override_settings(VOICE_API_KEY=HOST_KEY, VOICE_DEMO_MODE=False)
def test_a_wrong_key_or_none_is_refused(asha: Customer) -> None:
    assert mint(Client(), {"user_id": 7}, Authorization="Bearer wrong")[0] == 401
    assert mint(Client(), {"user_id": 7})[0] == 401


@override_settings(VOICE_API_KEY="", VOICE_DEMO_MODE=False)
def test_staff_can_mint_without_a_key(asha: Customer) -> None:
    staff = User.objects.create_user("meera", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)

    assert mint(client, {"user_id": 7})[0] == 200


@override_settings(VOICE_API_KEY="", VOICE_DEMO_MODE=False)
def test_a_logged_in_customer_who_is_not_staff_cannot_mint(asha: Customer) -> None:
    client = Client()
    client.force_login(User.objects.create_user("guest", password="x"))

    assert mint(client, {"user_id": 7})[0] == 401


@override_settings(VOICE_DEMO_MODE=True)
def test_demo_mode_mints_for_anyone(asha: Customer) -> None:
    assert mint(Client(), {"user_id": 7})[0] == 200


@override_settings(VOICE_DEMO_MODE=True)
def test_bad_bodies_and_unknown_customers_are_explained(asha: Customer) -> None:
    for body in ({}, {"user_id": "7"}, {"user_id": True}, {"user_id": {"$ne": None}}, [7]):
        status, answer = mint(Client(), body)
        assert status == 400 and "user_id" in str(answer["error"]), body
    status, answer = mint(Client(), {"user_id": 999})
    assert status == 404 and "999" in str(answer["error"])


def test_tokens_are_refused_when_tampered_with_or_expired() -> None:
    token = tokens.mint(7)
    with pytest.raises(tokens.InvalidToken, match="not valid"):
        tokens.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.verify(signing.dumps({"user_id": 7}, salt=tokens.SALT), max_age=-1)
    with pytest.raises(tokens.InvalidToken, match="no session token"):
        tokens.verify("")


def test_a_token_signed_for_another_purpose_is_refused() -> None:
    other = signing.dumps({"user_id": 7}, salt="something-else")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(other)
