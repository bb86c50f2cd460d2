"""A callback answered, in real Chromium: the lead who dialled it holds the call from the
start, with no microphone yet (contract sections 8 and 9).

Arjun, a support lead whose microphone plays 1000 Hz, dialled Asha back ("Call now"); she
answers, and Twilio opens the call's Media Stream to a real daphne. Arjun's live call view
says he holds the call and offers "Start my microphone" (the browser needs a click to open a
microphone); once he presses it, Asha's phone line carries his voice as µ-law at his pitch.

    Twilio's side (this loop) ──▶ daphne ──▶ FakeLiveServer (silent: a person holds the call)
    Chromium (Arjun, 1000 Hz) ──┘

Screenshots go to test-artifacts/livestaff/, beside those of test_live_calls_browser.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from django.utils import timezone
from playwright.async_api import Browser, expect

from callbacks import desk
from callbacks.models import Callback
from livestaff.tests.dialled_back import (
    DIALLING_ENV,
    arjun_dialled_and_asha_answered,
    asha_answers,
    ringing,
)
from livestaff.tests.test_live_calls_browser import (  # noqa: F401  (fixtures)
    DESK,
    STAFF_HZ,
    asha,
    browsers,
    chromiums,
    cookies,
    shots,
    until,
)
from realtime.audio import ulaw_decode
from realtime.tests.fake_live import FakeLiveServer
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer
from voiceproject.tests.signals import dominant_hz

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),  # Chromium is the module's
]


@pytest_asyncio.fixture(loop_scope="module")
async def silent_agent() -> AsyncIterator[FakeLiveServer]:
    async with FakeLiveServer() as live:
        yield live


@pytest_asyncio.fixture(loop_scope="module")
async def server(
    django_db_setup: Any, silent_agent: FakeLiveServer
) -> AsyncIterator[DaphneServer]:
    with DaphneServer(gemini_live_url=silent_agent.url, env=DIALLING_ENV) as server:
        await asyncio.to_thread(server.start)
        yield server


async def test_the_lead_who_dialled_starts_their_microphone_and_the_customer_hears_them(
    asha: Customer,  # noqa: F811
    cookies: dict[str, str],  # noqa: F811
    server: DaphneServer,
    browsers: tuple[Browser, Browser],  # noqa: F811
) -> None:
    problems: list[str] = []
    async with arjun_dialled_and_asha_answered(
        asha, server, browsers, cookies, problems
    ) as (line, call_id, arjun):
        # The page "Call now" took him to (ringing) opens the call once Asha has answered:
        # he holds it already, and is asked to start his microphone.
        await arjun.goto(f"{server.url}/staff/callbacks/CBK-ASHA01/calling")
        await expect(arjun).to_have_url(f"{server.url}/staff/live/{call_id}/")
        start = arjun.get_by_role("button", name="Start my microphone")
        await expect(start).to_be_enabled()
        await expect(arjun.get_by_text("You hold this call: start your microphone to talk.")
                     ).to_be_visible()  # fmt: skip
        # Asha hears nobody yet: the page does not say he talks to her.
        now = arjun.locator("span[data-mode]")
        await expect(now).to_have_text("Asha is waiting: your microphone is off")
        await expect(arjun.get_by_role("button", name="Hand back")).to_be_visible()
        await expect(arjun.locator("ol.conversation")).to_contain_text(
            "You took over the call (a callback you placed).")  # fmt: skip
        await shots(arjun, "11-callback-answered-microphone-off")

        # He starts it: Asha's line carries his 1000 Hz, as a phone hears it (8 kHz µ-law).
        before = len(line.audio)
        await start.click()
        await expect(start).to_be_hidden()
        await expect(now).to_have_text("You are talking to Asha")
        await line.wait_for(lambda: len(line.audio) >= before + 100, "Arjun's voice", 20)
        assert dominant_hz(list(ulaw_decode(line.heard(50))), 8_000) == pytest.approx(
            STAFF_HZ, abs=15
        )
        await until(arjun, "window.liveCallDebug.mic.framesSent > 10")
        await shots(arjun, "12-callback-talking")

        # Asha hangs up: Arjun's view says the call has ended.
        await line.hang_up()
        await expect(arjun.get_by_text("This call has ended.")).to_be_visible()
        assert problems == []


async def test_a_ringing_callback_waits_for_the_answer_without_reloading_the_page(
    asha: Customer,  # noqa: F811
    cookies: dict[str, str],  # noqa: F811
    server: DaphneServer,
    browsers: tuple[Browser, Browser],  # noqa: F811
) -> None:
    problems: list[str] = []
    arjun = await ringing(asha, server, browsers, cookies, problems)
    await expect(arjun.get_by_text("Ringing Asha")).to_be_visible()
    back = arjun.get_by_role("link", name="Back to the callbacks")
    await back.focus()
    await arjun.evaluate("() => { window.waitingHere = true; }")

    # The page looks again, twice, as he waits: the same page, his keyboard focus where it was
    # (a reload would start his screen reader over at the top each time).
    for _ in range(2):
        async with arjun.expect_request(lambda request: request.url.endswith("/calling")):
            pass
    await expect(back).to_be_focused()
    assert await arjun.evaluate("() => window.waitingHere === true")

    # Asha answers: the page opens the call.
    async with asha_answers(server) as (_, call_id):
        await expect(arjun).to_have_url(f"{server.url}/staff/live/{call_id}/")
        await expect(arjun.get_by_role("button", name="Start my microphone")).to_be_enabled()
        assert problems == []


async def test_a_callback_nobody_answers_says_so_in_place(
    asha: Customer,  # noqa: F811
    cookies: dict[str, str],  # noqa: F811
    server: DaphneServer,
    browsers: tuple[Browser, Browser],  # noqa: F811
) -> None:
    problems: list[str] = []
    arjun = await ringing(asha, server, browsers, cookies, problems)
    await expect(arjun.get_by_text("Ringing Asha")).to_be_visible()
    await arjun.evaluate("() => { window.waitingHere = true; }")

    dialled = Callback.objects.filter(callback_id="CBK-ASHA01")
    await dialled.aupdate(dialled_at=timezone.now() - desk.REDIAL_AFTER)
    await expect(arjun.get_by_text("No answer.")).to_be_visible()
    await expect(arjun.get_by_role("button", name="Call again")).to_be_visible()
    assert await arjun.evaluate("() => window.waitingHere === true")  # said in place
    await shots(arjun, "13-callback-no-answer", widths=(DESK,))
    assert problems == []
