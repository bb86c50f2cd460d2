"""The voice page when a call cannot start, in real Chromium: a computer with no microphone,
and a voice service that cannot be reached.

Asha, a demo customer, presses "Start call". Each time she is told why in plain words, the
page goes back to "Start call", and she can call again (and get through, once the cause is
gone). Screenshots go to test-artifacts/voice/ as in test_voice_page.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from realtime.tests.browser.conftest import FakeAgent, Network, VoicePage, collect_problems
from support.models import Customer
from voiceproject.tests.chromium import launched_chromium
from voiceproject.tests.live_server import DaphneServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),
]

# The page's words (static/voice/call.js: MICROPHONE_WORDS.missing, UNREACHABLE_WORDS).
NO_MICROPHONE = "No microphone was found. Connect one (or a headset) and start the call again."
UNREACHABLE = "Can't reach the voice service. Check your internet connection and try again."


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser_without_microphone() -> AsyncIterator[Browser]:
    """Chromium without the fake capture device: it has only the machine's own microphones,
    and the machines these tests run on have none."""
    async with launched_chromium() as browser:
        yield browser


@pytest.fixture
def server(asha: Customer, agent: FakeAgent) -> Iterator[DaphneServer]:
    """A daphne of this test's own, which it may stop and start again (on the same port)."""
    with DaphneServer(gemini_live_url=agent.live.url) as server:
        server.start()
        yield server
        print("daphne:", server.output(), sep="\n")  # shown when the test failed


async def open_page(browser: Browser, server: DaphneServer, url: str = "") -> VoicePage:
    """The voice page (from `server`, or `url` in front of it) at a phone's width, with the
    microphone allowed."""
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, permissions=["microphone"]
    )
    page = await context.new_page()
    voice_page = VoicePage(page, server, [])
    collect_problems(page, voice_page.problems)
    response = await page.goto((url or server.url) + "/")
    assert response is not None and response.ok
    return voice_page


async def start_call(page: Page) -> None:
    await page.get_by_role("button", name="Start call").click()


async def expect_ready_to_call_again(page: Page) -> None:
    """What the page promises after a call that never started: "Not connected", and the
    call button and the customer picker usable again."""
    await expect(page.locator("#state-text")).to_have_text("Not connected")
    await expect(page.get_by_role("button", name="Start call")).to_be_enabled()
    await expect(page.get_by_label("Customer")).to_be_enabled()
    await expect(page.get_by_role("button", name="Mute")).to_be_disabled()
    await expect(page.get_by_label("Type a message")).to_be_disabled()


# --- No microphone ------------------------------------------------------------------------------


async def test_a_computer_without_a_microphone_is_told_to_connect_one(
    agent: FakeAgent, server: DaphneServer, browser_without_microphone: Browser
) -> None:
    voice_page = await open_page(browser_without_microphone, server)
    page = voice_page.page
    try:
        devices = await page.evaluate(
            "async () => (await navigator.mediaDevices.enumerateDevices()).map((d) => d.kind)"
        )
        if "audioinput" in devices:
            pytest.skip("this machine has a microphone of its own")

        # Chromium's own NotFoundError, not a stub: the page asks and there is nothing.
        for _ in range(2):  # the same words the second time: the page is not stuck
            await start_call(page)
            await expect(page.get_by_role("alert")).to_have_text(NO_MICROPHONE)
            await expect_ready_to_call_again(page)
        await voice_page.screenshot("13-no-microphone")
        assert await voice_page.debug(".states") == ["connecting", "failed"]
        assert await voice_page.debug(".closeCode") is None  # no WebSocket was opened
        assert len(agent.live.sessions) == agent.sessions_before
        assert voice_page.problems == []
    finally:
        await page.context.close()


# --- The voice service cannot be reached ---------------------------------------------------------


async def test_an_unreachable_service_is_said_and_the_call_can_be_retried_once_it_is_back(
    agent: FakeAgent, server: DaphneServer, browser: Browser
) -> None:
    voice_page = await open_page(browser, server)
    page = voice_page.page
    try:
        await asyncio.to_thread(server.stop)  # the page is loaded; its server is gone

        # The worklet scripts (fetched at the first call) are the first requests to fail.
        await start_call(page)
        await expect(page.get_by_role("alert")).to_have_text(UNREACHABLE)
        await expect_ready_to_call_again(page)
        await voice_page.screenshot("14-service-unreachable")
        assert len(agent.live.sessions) == agent.sessions_before

        await asyncio.to_thread(server.start)  # same address: the page needs no reload
        await start_call(page)
        await voice_page.wait_for("d.state === 'listening'")
        await expect(page.get_by_role("alert")).to_be_hidden()
        await agent.session()
        await page.get_by_role("button", name="End call").click()
        ended = page.get_by_role("status").filter(has_text="You ended the call.")
        await expect(ended).to_be_visible()
        assert not [p for p in voice_page.problems if p.startswith("page error")]
    finally:
        await page.context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def websockets_blocked(server: DaphneServer) -> AsyncIterator[str]:
    """The server's address through a network that lets pages through but drops WebSocket
    handshakes, as some company proxies and firewalls do."""
    async with Network(server) as network:
        network.websockets_blocked = True
        yield network.url


async def test_a_network_that_blocks_websockets_gets_the_same_words(
    agent: FakeAgent, server: DaphneServer, websockets_blocked: str, browser: Browser
) -> None:
    voice_page = await open_page(browser, server, url=websockets_blocked)
    page = voice_page.page
    try:
        await start_call(page)
        await expect(page.get_by_role("alert")).to_have_text(UNREACHABLE)
        await expect_ready_to_call_again(page)
        # The page, its script and the worklets came through; only the WebSocket did not.
        assert await voice_page.debug(".mic.sampleRate") is not None
        assert await voice_page.debug(".closeCode") == 1006  # closed before it ever opened
        assert len(agent.live.sessions) == agent.sessions_before
        assert not [p for p in voice_page.problems if p.startswith("page error")]
    finally:
        await page.context.close()
