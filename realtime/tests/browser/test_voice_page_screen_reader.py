"""The customer's voice page as a screen reader presents it.

Asha, a demo customer, is blind: she starts the call by the button's name, hears through the
page's live regions (role status or alert) when the call connects, reconnects or ends, and
is not talked over at every turn of the agent.
"""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from realtime.tests.browser.conftest import FakeAgent, VoicePage, conversation
from realtime.tests.fake_live import FakeSession
from support.models import Customer
from voiceproject.tests.chromium import RECORD_WHAT_IS_SAID
from voiceproject.tests.signals import tone_pcm

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),
]


async def test_the_call_s_state_is_said_when_it_is_news_not_at_every_turn(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    async def a_turn(session: FakeSession) -> None:
        await session.wait_for_audio(seconds=0.3)
        await session.send_transcript("agent", "Your biryani is on its way.", finished=True)
        await session.send_audio(tone_pcm(440, 1.0, 24_000), chunk_ms=40)
        await session.send_turn_complete()

    agent.script = a_turn
    page = voice_page.page
    await page.add_init_script(RECORD_WHAT_IS_SAID)
    await voice_page.open()
    await page.get_by_role("button", name="Start call").click()
    await expect(conversation(page)).to_contain_text("Your biryani is on its way.")
    await voice_page.wait_for("d.states.join() === 'connecting,listening,speaking,listening'")
    await page.get_by_role("button", name="End call").click()
    await expect(page.get_by_role("button", name="Start call")).to_be_focused()

    said = await page.evaluate("window.said")
    assert "Connecting…" in said
    assert "Call ended" in said
    assert "You ended the call." in said
    # Her own ears tell her when the agent speaks: the screen reader does not say it over them.
    assert "Assistant speaking" not in said
    assert said.count("Listening") <= 1
    assert voice_page.problems == []


async def test_the_mute_button_says_what_it_does_and_nothing_contrary(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    page = voice_page.page
    await voice_page.open()
    await page.get_by_role("button", name="Start call").click()
    await voice_page.wait_for("d.state === 'listening'")
    await page.get_by_role("button", name="Mute").click()
    # Not "Unmute, pressed": a screen reader would say both the action and the opposite state.
    await expect(page.get_by_role("button", name="Unmute", pressed=False)).to_be_visible()
    await voice_page.wait_for("d.state === 'muted'")
    await voice_page.screenshot("23-muted-for-a-screen-reader")
    await page.get_by_role("button", name="Unmute").click()
    await expect(page.get_by_role("button", name="Mute", pressed=False)).to_be_visible()
    await page.get_by_role("button", name="End call").click()
    assert voice_page.problems == []


async def test_the_page_s_news_region_is_there_before_the_news(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    # A screen reader says what changes in a live region it already knows: one that appears
    # with its text (from `hidden`) may go unsaid. Before a call: the state's and the news'.
    await voice_page.open()
    page = voice_page.page
    await expect(page.get_by_role("status")).to_have_count(2)
    await expect(page.locator("#info")).to_have_role("status")
    await voice_page.screenshot("24-ready-for-a-screen-reader")
    assert voice_page.problems == []
