"""One pass over the staff queue and a ticket in real Chromium (issue 5), with screenshots.

Meera, a support agent, signs in through the admin's login page, opens the open-escalations
queue and sees Priya's ticket. A caller is then escalated through the real path: a voice
call on the daphne server's /ws/voice, where the fake Gemini Live API has the agent call
`escalate_to_human`; the bridge stores the ticket and announces it on the server's own
(in-memory) channel layer, and the new ticket appears on Meera's open page without a reload.
(The test process cannot announce into daphne's in-memory layer itself; the announcement's
consumer side is covered by a WebsocketCommunicator in test_staff_queue.py.) Meera then
opens Priya's ticket, claims it, adds a note and resolves it.

    Chromium ──▶ daphne subprocess ──▶ FakeLiveServer (this test's loop)
    test's WebSocket caller ──▶ /ws/voice ─┘

Screenshots of each state go to test-artifacts/staff/.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from django.contrib.auth.models import User
from playwright.async_api import Browser, ConsoleMessage, Page, Response, expect
from websockets.asyncio.client import connect

from realtime.tests.fake_live import FakeLiveServer, FakeSession
from support.models import Escalation
from support.tests.staff.conftest import (  # noqa: F401  (fixtures)
    PASSWORD,
    fresh_cache,
    meera,
    priya,
    priya_ticket,
    staff_groups,
)
from voiceproject.tests.chromium import launched_chromium
from voiceproject.tests.live_server import BASE_DIR, DaphneServer

# Deliberately NOT importing staff/conftest.py's staff_test_settings: its MD5 hasher would only be
# known to this process, and daphne (default hashers) could not check Meera's password.

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Playwright's 5 s default is tight for a page rendered by a separate server on a 2-core
# machine that is also running the database; a real failure still fails, only later.
expect.set_options(timeout=15_000)

ARTIFACTS = BASE_DIR / "test-artifacts" / "staff"
ESCALATION_REASON = "Rider left the order at the wrong gate; caller wants a person"


@pytest_asyncio.fixture
async def fake_live() -> AsyncIterator[FakeLiveServer]:
    async with FakeLiveServer() as live:
        yield live


@pytest_asyncio.fixture
async def staff_server(
    django_db_setup: Any, fake_live: FakeLiveServer
) -> AsyncIterator[DaphneServer]:
    """daphne on the test database, its Live API the fake (for the escalating call)."""
    with DaphneServer(gemini_live_url=fake_live.url) as server:
        # Starting blocks until /healthz answers; the fake must keep serving meanwhile.
        await asyncio.to_thread(server.start)
        yield server


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with launched_chromium() as browser:
        yield browser


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def escalate_a_call(server: DaphneServer, live: FakeLiveServer, user_id: int) -> str:
    """A web voice call from customer `user_id` in which the agent escalates; the ticket id."""

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_tool_call([{
            "name": "escalate_to_human",
            "args": {"reason": ESCALATION_REASON, "priority": "urgent"},
        }])  # fmt: skip
        await session.wait_for_tool_response(timeout=10)
        await session.send_turn_complete()

    ws_url = server.url.replace("http://", "ws://") + f"/ws/voice?user_id={user_id}"
    # The voice route only takes connections from pages of an allowed host.
    async with connect(ws_url, origin=server.url) as call:  # type: ignore[arg-type]
        async with asyncio.timeout(15):
            async for frame in call:
                if isinstance(frame, str):
                    event = json.loads(frame)
                    if event["type"] == "escalated":
                        return str(event["ticket_id"])
    raise AssertionError("the call ended without an escalation")


async def test_an_agent_works_a_ticket_from_the_live_queue(
    meera: User,
    priya_ticket: Escalation,
    staff_server: DaphneServer,
    fake_live: FakeLiveServer,
    browser: Browser,
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    problems: list[str] = []

    def on_console(m: ConsoleMessage) -> None:
        if m.type == "error":
            problems.append(f"console: {m.text} ({m.location.get('url')})")

    def on_response(r: Response) -> None:
        if r.status >= 400:
            problems.append(f"{r.status} {r.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("response", on_response)
    base = staff_server.url
    try:
        # Signing in: /staff/ sends a stranger to the admin's login page, then back.
        await page.goto(base + "/staff/queue/")
        await expect(page).to_have_url(f"{base}/admin/login/?next=/staff/queue/")
        await page.get_by_label("Username").fill("meera")
        await page.get_by_label("Password").fill(PASSWORD)
        await screenshot(page, "01-login")
        await page.get_by_role("button", name="Log in").click()

        # The open queue with Priya's ticket, connected for live updates.
        await expect(page).to_have_url(base + "/staff/queue/")
        await expect(page.get_by_role("heading", name="Open escalations")).to_be_visible()
        priya_row = page.locator("table.queue tbody tr", has_text="TKT-AAAAAA")
        await expect(priya_row).to_contain_text("High")
        await expect(priya_row).to_contain_text("Cold food, wants a full refund")
        await expect(page.locator("[data-live-status]")).to_have_text(
            "Live: tickets appear, move and leave here as they change."
        )
        await screenshot(page, "02-queue")

        # A caller is escalated on the server: the ticket appears at the top, no reload.
        assert priya_ticket.customer_id is not None
        new_ticket = await escalate_a_call(
            staff_server, fake_live, user_id=priya_ticket.customer_id
        )
        new_row = page.locator("table.queue tbody tr").first
        await expect(new_row).to_contain_text(new_ticket)
        await expect(new_row).to_contain_text(ESCALATION_REASON)
        await expect(new_row).to_contain_text("Urgent")
        await expect(page.locator("[data-live-status]")).to_contain_text(f"New ticket {new_ticket}")
        await screenshot(page, "03-queue-live")

        # Priya's ticket: her profile, the order, the call, the bot's note.
        await priya_row.get_by_role("link", name="TKT-AAAAAA").click()
        await expect(page).to_have_url(base + "/staff/tickets/TKT-AAAAAA/")
        await expect(page.locator(".briefing")).to_contain_text("Priya Nair")
        await expect(page.locator(".briefing")).to_contain_text("ORD-3001 · Udupi Grand")
        await expect(page.get_by_text("My dosa was cold and soggy.")).to_be_visible()
        await expect(page.get_by_text("Customer sounded upset.")).to_be_visible()
        await screenshot(page, "04-ticket")

        await page.get_by_role("button", name="Claim").click()
        await expect(page.locator(".messagelist")).to_contain_text("You claimed ticket TKT-AAAAAA.")
        await expect(page.locator(".ticket-head")).to_contain_text("held by meera")
        await expect(page.get_by_role("button", name="Claim")).to_have_count(0)
        await screenshot(page, "05-claimed")

        await page.locator("form[action$='/note'] textarea").fill(
            "Called Priya back: a full refund is on its way."
        )
        await page.get_by_role("button", name="Add note").click()
        await expect(page.locator(".messagelist")).to_contain_text("Note added.")
        await expect(page.locator(".note", has_text="meera")).to_contain_text(
            "Called Priya back: a full refund is on its way."
        )
        await screenshot(page, "06-note")

        await page.get_by_placeholder("resolution note (optional)").fill("Refunded in full.")
        await page.get_by_role("button", name="Resolve").click()
        await expect(page.locator(".messagelist")).to_contain_text("Ticket TKT-AAAAAA resolved.")
        await expect(page.locator(".ticket-head")).to_contain_text("Resolved")
        await expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
        await screenshot(page, "07-resolved")
    finally:
        await context.close()

    done = await asyncio.to_thread(Escalation.objects.get, ticket_id="TKT-AAAAAA")
    assert (done.status, done.assignee) == ("resolved", "meera")
    assert [n.text for n in done.notes][-2:] == [
        "Called Priya back: a full refund is on its way.",
        "Refunded in full.",
    ]
    escalated = await asyncio.to_thread(Escalation.objects.get, ticket_id=new_ticket)
    assert (escalated.status, escalated.priority, escalated.customer_id) == ("open", "urgent", 301)
    # Chromium asks every site for /favicon.ico on its own; the project serves none.
    assert [p for p in problems if not p.endswith("/favicon.ico)")] == [], problems
