"""Session tokens: minting (`POST /api/voice/sessions`) and verifying them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth.models import Group, User
from django.core import signing
from django.core.cache import cache
from django.test import AsyncClient, Client, override_settings
from django.utils import timezone

from realtime import tokens
from realtime.models import VoiceTokenMint
from realtime.views import GUESSES, MINTS
from support.models import Customer
from voiceproject.asgi import application

pytestmark = pytest.mark.django_db

HOST_KEY = "host-application-key-0123456789"
AGENT, LEAD = "Support agent", "Support lead"  # support/migrations/0003_staff_groups.py


@pytest.fixture(autouse=True)
def fresh_counts() -> Iterator[None]:
    cache.clear()  # what each address did is counted in the cache
    yield
    cache.clear()


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
    # Not ASCII (a header byte over 0x80 arrives so): refused too, not a 500 for anyone.
    assert mint(Client(), {"user_id": 7}, Authorization="Bearer caf\u00e9")[0] == 401


def staff_client(username: str, group: str | None = None, **names: str) -> Client:
    """A logged-in staff member, in one of the groups the migrations made."""
    user = User.objects.create_user(username, password="x", is_staff=True, **names)
    if group is not None:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@override_settings(VOICE_API_KEY="", VOICE_DEMO_MODE=False)
def test_a_support_lead_mints_without_a_key_and_the_mint_is_audited(asha: Customer) -> None:
    lead = staff_client("arjun", LEAD, first_name="Arjun", last_name="Mehta")
    before = timezone.now()

    status, body = mint(lead, {"user_id": 7})

    assert status == 200 and tokens.verify(str(body["token"])).user_id == 7
    audit = VoiceTokenMint.objects.get()
    assert (audit.staff_username, audit.staff_name) == ("arjun", "Arjun Mehta")
    assert (audit.user_id, audit.customer_name) == (7, "Asha Rao")
    assert audit.minted_at >= before
    assert audit.address == "127.0.0.1"


@override_settings(VOICE_API_KEY="", VOICE_DEMO_MODE=False)
@pytest.mark.parametrize("group", [None, AGENT])
def test_staff_without_the_mint_permission_cannot_mint(asha: Customer, group: str | None) -> None:
    status, body = mint(staff_client("meera", group), {"user_id": 7})

    assert status == 403 and "may not mint" in str(body["error"])
    assert not VoiceTokenMint.objects.exists()


def test_only_support_leads_hold_the_mint_permission() -> None:
    holders = Group.objects.filter(
        permissions__content_type__app_label="realtime",
        permissions__codename="mint_voice_token",
    )

    assert [group.name for group in holders] == [LEAD]


@override_settings(VOICE_API_KEY=HOST_KEY, VOICE_DEMO_MODE=True)
def test_host_application_and_demo_mints_are_not_audited(asha: Customer) -> None:
    assert mint(Client(), {"user_id": 7}, Authorization=f"Bearer {HOST_KEY}")[0] == 200
    assert mint(Client(), {"user_id": 7})[0] == 200
    assert mint(staff_client("meera", AGENT), {"user_id": 7})[0] == 200  # demo mode: anyone

    assert not VoiceTokenMint.objects.exists()


@override_settings(VOICE_API_KEY="", VOICE_DEMO_MODE=False)
def test_no_token_and_no_audit_for_an_unknown_customer(asha: Customer) -> None:
    assert mint(staff_client("arjun", LEAD), {"user_id": 999})[0] == 404

    assert not VoiceTokenMint.objects.exists()


@override_settings(VOICE_API_KEY="", VOICE_DEMO_MODE=False)
def test_leads_read_the_audit_in_the_admin_and_nobody_edits_it(asha: Customer) -> None:
    lead = staff_client("arjun", LEAD, first_name="Arjun", last_name="Mehta")
    mint(lead, {"user_id": 7})
    audit = VoiceTokenMint.objects.get()

    listing = lead.get("/admin/realtime/voicetokenmint/").content.decode()
    detail = lead.get(f"/admin/realtime/voicetokenmint/{audit.pk}/change/").content.decode()

    assert "Arjun Mehta (arjun)" in listing and "Asha Rao (#7)" in listing
    assert "Asha Rao (#7)" in detail and 'name="_save"' not in detail
    assert lead.get("/admin/realtime/voicetokenmint/add/").status_code == 403
    assert lead.get(f"/admin/realtime/voicetokenmint/{audit.pk}/delete/").status_code == 403
    agent = staff_client("meera", AGENT)
    assert agent.get("/admin/realtime/voicetokenmint/").status_code == 403


def test_a_search_of_the_audit_longer_than_any_name_finds_nothing_and_says_why(
    asha: Customer,
) -> None:
    """Each word is looked for as a pattern, which the embedded database refuses over 1,000
    characters: the list answered 500."""
    lead = staff_client("arjun", LEAD, first_name="Arjun", last_name="Mehta")
    mint(lead, {"user_id": 7})

    page = lead.get("/admin/realtime/voicetokenmint/", {"q": "arjun" * 201})

    assert page.status_code == 200
    assert "Arjun Mehta (arjun)" not in page.content.decode()
    assert "A search of more than 200 characters finds nobody" in page.content.decode()
    assert "Arjun Mehta (arjun)" in lead.get("/admin/realtime/voicetokenmint/",
                                             {"q": "arjun"}).content.decode()  # fmt: skip


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
    nested = Client().post("/api/voice/sessions", data=b"[" * 1_000,
                           content_type="application/json")  # fmt: skip
    assert nested.status_code == 400 and "JSON" in nested.json()["error"]
    oversized = Client().post("/api/voice/sessions", data=b"[" * 100_000,
                              content_type="application/json")  # fmt: skip
    assert oversized.status_code == 413


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


# --- abuse: counted per client address, as the trusted proxies vouch for it ---------------------




def from_address(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


@override_settings(VOICE_API_KEY=HOST_KEY, VOICE_DEMO_MODE=False)
def test_guessing_the_key_locks_the_address_out_the_right_key_included(asha: Customer) -> None:
    guesser = from_address("203.0.113.5")
    answers = [mint(guesser, {"user_id": 7}, Authorization=f"Bearer guess-{n}")[0]
               for n in range(GUESSES.times)]  # fmt: skip

    status, body = mint(guesser, {"user_id": 7}, Authorization=f"Bearer {HOST_KEY}")
    refused = guesser.post("/api/voice/sessions", data="{}", content_type="application/json")

    assert answers == [401] * GUESSES.times
    assert status == 429 and "token" not in body  # no way to tell the right key from a wrong one
    assert refused.status_code == 429 and int(refused["Retry-After"]) <= 15 * 60
    # The host application, elsewhere, mints as before.
    assert mint(from_address("198.51.100.9"), {"user_id": 7},
                Authorization=f"Bearer {HOST_KEY}")[0] == 200  # fmt: skip


async def minted_all_at_once(address: str, keys: list[str]) -> list[int]:
    """POST /api/voice/sessions once per key, all at the same time, from `address`."""
    client = AsyncClient(REMOTE_ADDR=address)

    async def post(key: str) -> int:
        response = await client.post(
            "/api/voice/sessions", data=json.dumps({"user_id": 7}),
            content_type="application/json", headers={"Authorization": f"Bearer {key}"},
        )  # fmt: skip
        return response.status_code

    return list(await asyncio.gather(*(post(key) for key in keys)))


@pytest.mark.django_db(transaction=True)
@override_settings(VOICE_API_KEY=HOST_KEY, VOICE_DEMO_MODE=False)
async def test_guesses_sent_all_at_once_are_held_to_the_guess_limit() -> None:
    await Customer.objects.acreate(user_id=7, name="Asha Rao", phone="+919800000007")

    answers = await minted_all_at_once(
        "203.0.113.8", [f"guess-{n}" for n in range(GUESSES.times * 3)]
    )

    assert sorted(answers) == [401] * GUESSES.times + [429] * GUESSES.times * 2


@pytest.mark.django_db(transaction=True)
@override_settings(VOICE_API_KEY=HOST_KEY, VOICE_DEMO_MODE=False)
async def test_a_host_applications_mints_sent_all_at_once_are_all_answered() -> None:
    await Customer.objects.acreate(user_id=7, name="Asha Rao", phone="+919800000007")

    answers = await minted_all_at_once("198.51.100.9", [HOST_KEY] * (GUESSES.times * 3))

    assert set(answers) == {200}


@override_settings(VOICE_API_KEY=HOST_KEY, VOICE_DEMO_MODE=False)
def test_a_host_application_mints_for_all_its_customers_from_one_address(asha: Customer) -> None:
    host = from_address("198.51.100.9")

    answers = {mint(host, {"user_id": 7}, Authorization=f"Bearer {HOST_KEY}")[0]
               for _ in range(MINTS.times * 2)}  # fmt: skip

    assert answers == {200}


@override_settings(VOICE_DEMO_MODE=True)
def test_demo_mode_mints_a_few_a_minute_per_address(asha: Customer) -> None:
    visitor = from_address("203.0.113.6")

    answers = [mint(visitor, {"user_id": 7})[0] for _ in range(MINTS.times + 1)]

    assert answers == [200] * MINTS.times + [429]
    assert mint(from_address("203.0.113.7"), {"user_id": 7})[0] == 200


@override_settings(VOICE_API_KEY="", VOICE_DEMO_MODE=False)
def test_a_staff_member_without_the_permission_counts_as_a_refused_guess(asha: Customer) -> None:
    agent = staff_client("meera", AGENT)
    agent.defaults["REMOTE_ADDR"] = "192.0.2.44"

    answers = [mint(agent, {"user_id": 7})[0] for _ in range(GUESSES.times + 1)]

    assert answers == [403] * GUESSES.times + [429]


async def post_through_the_proxy(forwarded_for: str, authorization: str) -> int:
    """POST /api/voice/sessions through the whole ASGI application as daphne serves it, from
    the proxy's own address, with the X-Forwarded-For the client and the proxy wrote."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "https", "path": "/api/voice/sessions", "raw_path": b"/api/voice/sessions",
        "root_path": "", "query_string": b"", "client": ("10.0.0.2", 41000),
        "server": ("testserver", 443),
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                    (b"x-forwarded-for", forwarded_for.encode()), (b"x-forwarded-proto", b"https"),
                    (b"authorization", authorization.encode())],
    }  # fmt: skip
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b'{"user_id": 7}'})
    start = await communicator.receive_output(10)
    while (await communicator.receive_output(10)).get("more_body"):
        pass
    return int(start["status"])


@pytest.mark.django_db(transaction=True)
@override_settings(VOICE_API_KEY=HOST_KEY, VOICE_DEMO_MODE=False, TRUSTED_PROXY_COUNT=1)
async def test_behind_a_proxy_a_forged_forwarded_for_neither_hides_nor_frames_an_address() -> None:
    await Customer.objects.acreate(user_id=7, name="Asha Rao", phone="+919800000007")
    # The guesser writes a new address of their own each time; the proxy appends theirs.
    guesses = [await post_through_the_proxy(f"6.6.6.{n}, 203.0.113.5", f"Bearer guess-{n}")
               for n in range(GUESSES.times)]  # fmt: skip

    locked = await post_through_the_proxy("198.51.100.9, 203.0.113.5", f"Bearer {HOST_KEY}")
    # ...nor can they lock out the host application by writing its address in the header.
    host = await post_through_the_proxy("203.0.113.5, 198.51.100.9", f"Bearer {HOST_KEY}")

    assert guesses == [401] * GUESSES.times
    assert (locked, host) == (429, 200)
