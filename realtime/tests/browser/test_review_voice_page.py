"""The voice page in real Chromium, from a review as its customers: calls refused before they
begin, and a colleague on the line who is listening, not speaking.

Asha, a demo customer, calls from a phone-sized browser as in test_voice_page; screenshots go
to test-artifacts/voice/ with the others.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio
from django.test import override_settings
from playwright.async_api import Browser, WebSocketRoute, expect

from realtime import guards, tokens
from realtime.tests.browser.conftest import FakeAgent, VoicePage, collect_problems
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer, server_environment
from voiceproject.tests.signals import tone_pcm

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),
]


# --- Refused before the call begins -------------------------------------------------------------


async def test_a_page_refused_for_its_address_says_so_in_plain_words(
    asha: Customer, voice_page: VoicePage
) -> None:
    """A proxy that rewrites the Host but not the Origin: the server refuses the page's socket
    exactly as realtime/guards.py does (`ended {origin_refused}`, then 4403). Asha read "The
    call ended (origin refused).", a code, for a call that never began."""
    page = voice_page.page

    async def refuse_as_the_origin_guard(socket: WebSocketRoute) -> None:
        socket.send(json.dumps(guards.ENDED))
        await socket.close(code=guards.ORIGIN_REJECTED)

    await page.route_web_socket(re.compile(r"/ws/voice"), refuse_as_the_origin_guard)
    await voice_page.open()
    await page.get_by_role("button", name="Start call").click()

    alert = page.get_by_role("alert")
    await expect(alert).to_have_text(
        "This page isn't allowed to connect to our voice service from here. "
        "Please open support from our app or website."
    )
    await expect(page.locator("#state-text")).to_have_text("Not connected")
    await expect(page.get_by_role("button", name="Start call")).to_be_enabled()
    await voice_page.screenshot("32-refused-for-its-address")
    assert voice_page.problems == []


@pytest_asyncio.fixture(loop_scope="module")
async def one_call_server(agent: FakeAgent) -> AsyncIterator[DaphneServer]:
    """A server of the test's own that lets a customer have one call open at a time."""
    env = {"VOICE_MAX_CALLS_PER_CUSTOMER": "1"}
    with DaphneServer(gemini_live_url=agent.live.url, env=env) as server:
        await asyncio.to_thread(server.start)
        yield server
        print("daphne (one call):", server.output(), sep="\n")  # shown when the test failed


async def test_a_link_refused_for_a_call_already_open_can_call_once_that_one_ends(
    asha: Customer,
    agent: FakeAgent,
    browser: Browser,
    one_call_server: DaphneServer,
    voice_page: VoicePage,
) -> None:
    """Asha is on a call in one tab and opens support from the app in another: refused
    (too_many_calls), and the server gives her link back for when she has ended the first.
    The page disabled Start call and sent her back to the app, contradicting its own "Use that
    one, or end it first"."""
    first = VoicePage(voice_page.page, one_call_server, voice_page.problems)
    await first.open()
    await first.page.get_by_role("button", name="Start call").click()
    await first.wait_for("d.state === 'listening'")

    with override_settings(SECRET_KEY=server_environment()["SECRET_KEY"]):
        token = tokens.mint(101)
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, permissions=["microphone"]
    )
    try:
        page = await context.new_page()
        second = VoicePage(page, one_call_server, [])
        collect_problems(page, second.problems)
        await page.goto(f"{one_call_server.url}/#token={token}")
        await page.get_by_role("button", name="Start call").click()

        alert = page.get_by_role("alert")
        await expect(alert).to_have_text(
            "You already have a call open with us. Use that one, or end it first."
        )
        await expect(page.get_by_role("button", name="Start call")).to_be_enabled()
        await second.screenshot("33-link-refused-while-another-call-is-open")

        await first.page.get_by_role("button", name="End call").click()
        await first.wait_for("d.state === 'ended'")
        await page.get_by_role("button", name="Start call").click()
        await second.wait_for("d.state === 'listening'")
        await expect(alert).to_be_hidden()
        await page.get_by_role("button", name="End call").click()
        ended = page.get_by_role("status").filter(has_text="You ended the call.")
        await expect(ended).to_be_visible()
        assert second.problems == []
    finally:
        await context.close()
    assert voice_page.problems == []


# --- A colleague on the line --------------------------------------------------------------------

FRAME_S = 0.04  # a colleague's voice reaches the page in frames about this long


def open_microphone(seconds: float, *, speaking: bool) -> list[bytes]:
    """A colleague's microphone at 24 kHz, as the page gets it while they hold the call, in
    40 ms frames: a quiet room's hiss (about -60 dBFS), or their voice (a tone, -12 dBFS)."""
    samples = round(seconds * 24_000)
    if speaking:
        pcm = tone_pcm(220, seconds, 24_000)
    else:
        hiss = np.random.default_rng(7).normal(0, 30, samples)
        pcm = hiss.astype("<i2").tobytes()
    step = round(FRAME_S * 24_000) * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


async def test_a_colleague_listening_on_an_open_microphone_is_not_shown_speaking(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """Priya takes the call over. Her page sends her microphone all the time she holds it
    (livestaff: not gated), so Asha's player plays her silence: the page said "Colleague
    speaking" the whole time, also while Priya listened to Asha."""
    page = voice_page.page
    sockets: list[WebSocketRoute] = []

    async def route(socket: WebSocketRoute) -> None:
        sockets.append(socket)
        socket.connect_to_server()

    async def stream(frames: list[bytes]) -> None:
        for frame in frames:
            sockets[-1].send(frame)
            await asyncio.sleep(FRAME_S)

    await page.route_web_socket(re.compile(r"/ws/voice"), route)
    await voice_page.open()
    await page.get_by_role("button", name="Start call").click()
    await voice_page.wait_for("d.state === 'listening'")
    sockets[-1].send(json.dumps({"type": "agent_changed", "mode": "human", "name": "Priya"}))

    # Priya listens.
    listening = asyncio.create_task(stream(open_microphone(1.5, speaking=False)))
    await voice_page.wait_for("d.player.playing && d.player.played > 24000")  # her line plays
    await expect(page.locator("#talking-to")).to_be_visible()
    await expect(page.locator("#state-text")).to_have_text("Listening")
    await voice_page.screenshot("34-colleague-listening")
    await listening
    speaking = asyncio.create_task(stream(open_microphone(1.0, speaking=True)))
    await voice_page.wait_for("d.state === 'colleague'")
    await expect(page.locator("#state-text")).to_have_text("Colleague speaking")
    await speaking
    await stream(open_microphone(1.5, speaking=False))  # and listens again
    await expect(page.locator("#state-text")).to_have_text("Listening")
    states = await voice_page.debug(".states")
    # Listening, then speaking, then listening again. A stall of this test's own sender longer
    # than the page's hold across gaps (0.6 s: a loaded CI run) reads as a pause in her words,
    # one more "listening" and "colleague" in the middle, as a real network gap would.
    assert states[:3] == ["connecting", "listening", "colleague"], states
    assert states[-1] == "listening" and set(states[3:]) <= {"colleague", "listening"}, states
    await page.get_by_role("button", name="End call").click()
    assert voice_page.problems_with_a_routed_socket == []
