"""With RECORD_CALLS on, the voice page tells the caller, before the call, that it is recorded
and for how long recordings are kept; screenshots at a phone's and a desktop's width."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import expect

from realtime.tests.browser.conftest import ARTIFACTS
from support.models import Customer
from voiceproject.tests.chromium import launched_chromium
from voiceproject.tests.live_server import DaphneServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


async def test_a_recorded_service_says_so_on_the_voice_page(
    asha: Customer, django_db_setup: Any
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with DaphneServer(env={"RECORD_CALLS": "true", "RECORDING_RETENTION_DAYS": "30",
                           "GEMINI_API_KEY": "test-key"}) as server:  # fmt: skip
        await asyncio.to_thread(server.start)
        async with launched_chromium() as browser:
            for name, width in (("phone", 390), ("desktop", 1280)):
                context = await browser.new_context(viewport={"width": width, "height": 844})
                page = await context.new_page()
                await page.goto(server.url + "/")
                notice = page.locator("#recording-notice")
                await expect(notice).to_be_visible()
                await expect(notice).to_have_text(
                    "This call may be recorded. Recordings help our team check how we helped "
                    "you, and are deleted after 30 days."
                )
                await page.screenshot(path=ARTIFACTS / f"12-recording-notice-{name}.png",
                                      full_page=True)  # fmt: skip
                await context.close()
