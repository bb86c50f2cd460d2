"""A staff socket lives as long as the sign-in it was opened with (contract section 8).

Arjun, a lead, listens to Asha's call. When his session ends (he signs out in another tab, a
lead resets his password after his laptop was stolen, the session expires) whoever holds a
copy of his cookie must lose the call too: its audio, its transcript, its controls. The
socket is not a way around signing out: it asks again every few seconds, and before each
action, whether the session it was opened with still signs him in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.test import Client

from livestaff.tests.sockets import staff_socket
from livestaff.tests.test_staff_on_a_call import a_call
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.test_database_freeze import freeze
from realtime.tests.voice_harness import wait_until_ended
from support.models import Customer
from support.staff import sockets
from voiceproject import socket_auth

pytestmark = pytest.mark.django_db(transaction=True)

LEAD_GROUP = "Support lead"
FORBIDDEN = 4403
TRY_AGAIN = 1013


@pytest.fixture
def quick_rechecks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Open staff sockets ask again every 0.1 s (5 s in production)."""
    monkeypatch.setattr(sockets, "RECHECK_S", 0.1)


def signed_in_lead(username: str = "arjun") -> Client:
    """Arjun's browser, signed in as a support lead."""
    user = User.objects.create_user(username, password="pw", is_staff=True, first_name="Arjun")
    user.groups.add(Group.objects.get(name=LEAD_GROUP))
    browser = Client()
    browser.force_login(user)
    return browser


def socket(path: str, browser: Client) -> WebsocketCommunicator:
    """A staff page's socket on `path`, opened from `browser` (with its sign-in)."""
    return staff_socket(path, browser.cookies["sessionid"].value)


async def closed_with(communicator: WebsocketCommunicator, timeout: float = 5.0) -> int:
    """The close code the server ends the socket with (what it sent before is skipped)."""
    async with asyncio.timeout(timeout):
        while (message := await communicator.receive_output(timeout))["type"] != "websocket.close":
            pass
    return int(message.get("code", 1000))


async def next_text(communicator: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            message = await communicator.receive_output(5)
            assert message["type"] != "websocket.close", f"closed before {kind}"
            if message.get("text") and (event := json.loads(message["text"]))["type"] == kind:
                return dict(event)


async def watching(call_id: str, browser: Client) -> WebsocketCommunicator:
    """The live call view `browser` opens on the call, once it has the call's state."""
    page = socket(f"/ws/staff/calls/{call_id}", browser)
    assert (await page.connect(timeout=5))[0]
    await next_text(page, "state")
    return page


def sign_out(browser: Client) -> None:
    assert browser.post("/admin/logout/").status_code == 200


def reset_password(username: str) -> None:
    """A lead sets a new password for them (the admin's "Reset password")."""
    user = User.objects.get(username=username)
    user.set_password("a-new-password-nobody-has-yet")
    user.save()


@pytest.mark.parametrize("session_ends", [sign_out, lambda _: reset_password("arjun")],
                         ids=["signed out", "password reset"])  # fmt: skip
async def test_a_live_call_view_is_closed_when_its_session_ends(
    asha: Customer, live: FakeLiveServer, groups: Any, quick_rechecks: None, session_ends: Any
) -> None:
    call, call_id = await a_call(live)
    browser = await sync_to_async(signed_in_lead)()
    page = await watching(call_id, browser)
    await page.send_json_to({"type": "listen"})

    await sync_to_async(session_ends)(browser)

    assert await closed_with(page) == FORBIDDEN
    await page.disconnect()
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert record["listeners"] == []


async def test_an_action_after_signing_out_is_refused_before_the_page_is_closed(
    asha: Customer, live: FakeLiveServer, groups: Any
) -> None:
    """Between two of the socket's checks (5 s apart), an action asks for itself."""
    call, call_id = await a_call(live)
    browser = await sync_to_async(signed_in_lead)()
    page = await watching(call_id, browser)

    await sync_to_async(sign_out)(browser)
    await page.send_json_to({"type": "take_over"})
    refused = await next_text(page, "error")
    await asyncio.sleep(0.3)

    assert refused["code"] == "forbidden"
    assert [e for e in call.events if e["type"] == "agent_changed"] == []
    await page.disconnect()
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [e["kind"] for e in record.get("staff_events", [])] == []


@pytest.mark.parametrize("path", ["/ws/staff/live", "/ws/staff/queue"])
async def test_the_live_calls_page_and_the_queue_close_when_their_session_ends(
    groups: Any, quick_rechecks: None, path: str
) -> None:
    browser = await sync_to_async(signed_in_lead)()
    page = socket(path, browser)
    assert (await page.connect(timeout=5))[0]

    await sync_to_async(sign_out)(browser)

    assert await closed_with(page) == FORBIDDEN
    await page.disconnect()


async def test_a_session_still_signed_in_keeps_its_page(
    asha: Customer, live: FakeLiveServer, groups: Any, quick_rechecks: None
) -> None:
    """Signing out on the laptop leaves the phone's session, and its page, as they were."""
    call, call_id = await a_call(live)
    laptop = await sync_to_async(signed_in_lead)()
    phone = Client()
    await sync_to_async(phone.force_login)(await User.objects.aget(username="arjun"))
    page = await watching(call_id, phone)

    await sync_to_async(sign_out)(laptop)
    await asyncio.sleep(0.5)  # five of the socket's checks
    await page.send_json_to({"type": "take_over"})

    async with asyncio.timeout(5):
        while (state := await next_text(page, "state"))["mode"] != "human":
            pass
    assert state["staff"] == "arjun"
    await page.disconnect()
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_an_open_socket_asking_a_frozen_database_gives_up_as_a_page_would(
    groups: Any, quick_rechecks: None, database_pid: int, settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its check every few seconds is bounded as a page's database work is (PAGE_DB_TIMEOUT_S):
    with the database frozen it does not wait on it for as long as the freeze lasts, and says
    so in one line, the page kept open."""
    browser = await sync_to_async(signed_in_lead)()
    live_calls = socket("/ws/staff/live", browser)
    assert (await live_calls.connect(timeout=5))[0]
    settings.PAGE_DB_TIMEOUT_S = 0.5
    caplog.set_level(logging.WARNING, logger="support.staff.sockets")

    await freeze(database_pid)
    frozen_at = time.monotonic()
    try:
        async with asyncio.timeout(8):
            while "could not read the permissions" not in caplog.text:
                await asyncio.sleep(0.05)
        gave_up_after = time.monotonic() - frozen_at
    finally:
        os.kill(database_pid, signal.SIGCONT)

    assert gave_up_after < 3
    assert "Traceback" not in caplog.text
    assert await live_calls.receive_nothing(timeout=0.5)  # still open
    await live_calls.disconnect()


async def test_a_staff_socket_opened_while_the_database_is_frozen_is_refused_within_the_bound(
    groups: Any, database_pid: int, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Who signs a socket in (its session, then its user) is read as a page reads it, within
    PAGE_DB_TIMEOUT_S: with the database frozen, each staff socket's handshake is refused soon
    after, not held for as long as the freeze lasts (the page says it is reconnecting and tries
    again). Handshakes queued in the thread those reads share are refused with the first, not
    one bound after another. Once the database is back, they open."""
    browser = await sync_to_async(signed_in_lead)()
    settings.PAGE_DB_TIMEOUT_S = 0.5
    paths = ("/ws/staff/live", "/ws/staff/queue", "/ws/staff/calls/no-such-call") * 2
    caplog.set_level(logging.WARNING, logger="voiceproject.socket_auth")

    await freeze(database_pid)
    # Thawed in any case (a handshake that waits for the database must not wait for ever), and
    # before six bounds, one after another, would have passed.
    thaw = asyncio.get_running_loop().call_later(2.5, os.kill, database_pid, signal.SIGCONT)
    try:
        refused = await asyncio.gather(*(socket(path, browser).connect(10) for path in paths))
    finally:
        thaw.cancel()
        os.kill(database_pid, signal.SIGCONT)

    assert refused == [(False, TRY_AGAIN)] * 6  # within the freeze: before the thaw
    said = [r for r in caplog.records if r.name == "voiceproject.socket_auth"]
    assert len(said) == 6 and not any(r.exc_info for r in said)  # a line each, no traceback
    for path in paths[:2]:
        page = socket(path, browser)
        assert (await page.connect(timeout=5))[0]
        assert await page.receive_nothing(timeout=0.2)  # open: signed in, as before the freeze
        await page.disconnect()


async def test_a_staff_socket_signed_in_just_before_the_database_froze_opens(
    groups: Any, database_pid: int, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database stops answering between the socket's sign-in and its `connect`: what the
    user may do was read with who they are, and the socket opens (its later rechecks give up
    as a page would), rather than failing its first check with a server error."""
    browser = await sync_to_async(signed_in_lead)()
    settings.PAGE_DB_TIMEOUT_S = 0.5
    signed_in = socket_auth._signed_in

    async def then_frozen(scope: Any) -> Any:
        user = await signed_in(scope)
        await freeze(database_pid)
        return user

    monkeypatch.setattr(socket_auth, "_signed_in", then_frozen)
    thaw = asyncio.get_running_loop().call_later(6, os.kill, database_pid, signal.SIGCONT)
    queue = socket("/ws/staff/queue", browser)
    try:
        opened, _ = await queue.connect(timeout=5)
    finally:
        thaw.cancel()
        os.kill(database_pid, signal.SIGCONT)

    assert opened
    await queue.disconnect()
