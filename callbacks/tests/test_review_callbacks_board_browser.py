"""A dialled callback in real Chromium: a double click on "Call now", the dialler leaving the
ringing page before the customer answers, and a customer who picked up but was never put
through. Screenshots go to test-artifacts/callbacks/ beside test_callbacks_browser.py's.

    Chromium ──▶ daphne subprocess ──▶ FakeTwilioApi (this test's thread)
"""

# Its fixtures are imported by name and pytest passes them back as same-named arguments:
# F811 would flag every test (as support/tests/test_staff_browser.py, in pyproject.toml).
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import re

import pytest
from django.utils import timezone
from playwright.async_api import Browser, expect

from callbacks.models import Callback
from callbacks.tests.conftest import make_callback, today_at
from callbacks.tests.fake_twilio import FakeTwilioApi
from callbacks.tests.test_callbacks_browser import (  # noqa: F401  (fixtures)
    DESK,
    PHONE,
    arjun_on_the_board,
    browser,
    chromium,
    people,
    ravi_s_callback,
    row,
    screenshot,
    server,
    twilio,
    twilio_api,
    twilio_says,
)
from support import mongo
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),  # the server and Chromium are the module's
]


async def test_a_dialler_who_left_the_ringing_page_finds_the_answered_call_from_the_board(
    people: dict[str, Customer], server: DaphneServer, twilio: FakeTwilioApi, browser: Browser
) -> None:
    """Arjun double-clicks "Call now" for Ravi: one call, and his ringing page (not the board
    with an error). He goes back to the board; Ravi picks up meanwhile. The board says Ravi is
    on the call, and its status opens the call's live view."""
    await asyncio.to_thread(ravi_s_callback, people)
    async with arjun_on_the_board(browser, server, DESK) as (page, problems):
        await row(page, "CBK-RAVI01").get_by_role("button", name="Call now").dblclick()
        # The second click may be answered first ("Calling…"): the page then learns it rings.
        await expect(page.get_by_text("Ringing Ravi Kumar (+91 98000 00202)…")).to_be_visible(
            timeout=15_000)  # fmt: skip
        await expect(page.locator(".messagelist")).to_have_count(0)
        await screenshot(page, "15-double-click-ringing-1280")
        await page.get_by_role("link", name="Back to the callbacks").click()
        ravi = row(page, "CBK-RAVI01")
        await expect(ravi.locator(".state .badge")).to_contain_text("Dialled at")
        # Ravi answers (realtime/phone/consumer.py links his call to the callback).
        await mongo.async_db().calls.insert_one({
            "call_id": "CALL-RAVI", "user_id": 202, "channel": "phone",
            "started_at": timezone.now(), "ended_at": None,
        })  # fmt: skip
        await Callback.objects.filter(callback_id="CBK-RAVI01").aupdate(
            answered_call_id="CALL-RAVI")  # fmt: skip
        await page.reload()
        badge = ravi.get_by_role("link", name="On the call")
        await expect(badge).to_be_visible()
        await expect(ravi.get_by_role("button", name="Call now")).to_have_count(0)  # he is on it
        await screenshot(page, "16-on-the-call-board-1280")
        await badge.click()
        await expect(page).to_have_url(server.url + "/staff/live/CALL-RAVI/")
    assert len(twilio.requests) == 1
    assert problems == []


async def test_a_customer_who_picked_up_but_was_never_put_through_is_told_in_place(
    people: dict[str, Customer], server: DaphneServer, twilio: FakeTwilioApi, browser: Browser
) -> None:
    """Ravi picks up, but his call never reaches Arjun (the phone bridge refused it): Twilio
    says the call `completed`, and the ringing page says so at once, on a phone too."""
    await asyncio.to_thread(ravi_s_callback, people)
    async with arjun_on_the_board(browser, server, PHONE) as (page, problems):
        await row(page, "CBK-RAVI01").get_by_role("button", name="Call now").click()
        await expect(page.get_by_text("Ringing Ravi Kumar (+91 98000 00202)…")).to_be_visible()
        [dial] = twilio.requests
        ravi = await Callback.objects.aget(callback_id="CBK-RAVI01")
        told = await asyncio.to_thread(
            twilio_says, dial.form["StatusCallback"], ravi.call_sid, "completed")  # fmt: skip
        assert told == 204
        await expect(page.locator(".calling-status")).to_have_text(
            "Not put through. Ravi Kumar (+91 98000 00202) picked up, but the call could not be "
            "connected to you: they heard that we could not connect them.", timeout=10_000)
        await expect(page.get_by_role("button", name="Call again")).to_be_visible()
        await screenshot(page, "17-not-put-through-390")
        await page.get_by_role("link", name="Back to the callbacks").click()
        await expect(row(page, "CBK-RAVI01").locator(".state .badge")).to_contain_text(
            "Not put through at")  # fmt: skip
        await screenshot(page, "18-not-put-through-board-390")
    assert problems == []


async def test_a_calling_page_shown_before_twilio_confirmed_the_dial_says_ringing_once_it_has(
    people: dict[str, Customer], server: DaphneServer, twilio: FakeTwilioApi, browser: Browser
) -> None:
    """A double click's second request can answer before the first has Twilio's word: the
    page says "Calling…, waiting for Twilio", and then, still open, that the phone rings."""
    await asyncio.to_thread(ravi_s_callback, people)
    # Arjun's dial, still waiting for Twilio's answer (callbacks/desk.py call_now).
    await Callback.objects.filter(callback_id="CBK-RAVI01").aupdate(
        assignee="arjun", dialled_at=timezone.now())  # fmt: skip
    async with arjun_on_the_board(browser, server, DESK) as (page, problems):
        await page.goto(server.url + "/staff/callbacks/CBK-RAVI01/calling")
        await expect(page.locator(".calling-status")).to_have_text(
            "Calling Ravi Kumar (+91 98000 00202)…")  # fmt: skip
        await Callback.objects.filter(callback_id="CBK-RAVI01").aupdate(call_sid="CA" + "5" * 32)
        await expect(page.locator(".calling-status")).to_have_text(
            "Ringing Ravi Kumar (+91 98000 00202)…", timeout=10_000)  # fmt: skip
    assert problems == []


async def test_a_demo_customers_made_up_number_says_so_where_call_now_would_be(
    people: dict[str, Customer], server: DaphneServer, twilio: FakeTwilioApi, browser: Browser
) -> None:
    """Ravi's number is the one the demo made up (seed_demo marks it `demo_phone`): "Call now"
    would be refused, so his row says "Demo number", why in its title and the page's
    introduction (a phone has no hovering); Asha's real number is offered as before."""
    await asyncio.to_thread(ravi_s_callback, people)
    await asyncio.to_thread(make_callback, people["asha"], today_at(19, 0),
                            callback_id="CBK-ASHA01", reason="Refused refund")  # fmt: skip
    ravi_s_number = people["ravi"].phone
    await mongo.async_db().customers.update_one(
        {"user_id": 202}, {"$set": {"demo_phone": ravi_s_number}})  # fmt: skip
    for viewport, width in ((DESK, 1280), (PHONE, 390)):
        async with arjun_on_the_board(browser, server, viewport) as (page, problems):
            ravi = row(page, "CBK-RAVI01")
            await expect(ravi.get_by_role("button", name="Claim")).to_be_visible()
            await expect(ravi.get_by_role("button", name="Call now")).to_have_count(0)
            demo = ravi.locator(".demo-number")
            await expect(demo).to_have_text("Demo number")
            await expect(demo).to_have_attribute("title", re.compile("Made up for the demo"))
            await expect(row(page, "CBK-ASHA01").get_by_role("button", name="Call now")
                         ).to_be_visible()  # fmt: skip
            await expect(page.locator(".callbacks-intro")).to_contain_text(
                "The demo customers' numbers were made up")  # fmt: skip
            await screenshot(page, f"19-demo-number-{width}")
        assert problems == []
    assert twilio.requests == []
