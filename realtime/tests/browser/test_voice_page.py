"""The customer's voice page in real Chromium (issue 4).

Asha, a demo customer, calls the agent from a phone-sized browser whose microphone speaks an
espeak-ng sentence; a real daphne bridges her to the fake Gemini Live API, which plays the
agent. Each test saves screenshots of what Asha saw under test-artifacts/voice/.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio
from django.test import override_settings
from playwright.async_api import Browser, Locator, Page, WebSocketRoute, expect

from realtime import tokens
from realtime.tests.browser.conftest import (
    FakeAgent,
    Network,
    VoicePage,
    VoiceServers,
    conversation,
)
from realtime.tests.fake_live import FakeSession
from realtime.tests.voice_harness import wait_until_ended
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer, server_environment
from voiceproject.tests.signals import tone_pcm

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),
]

# PCM16 RMS: espeak's speech through Chromium's capture is thousands; silence is a few units.
SPEECH_RMS = 1000


def rms(pcm16: bytes) -> float:
    samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2)))


async def start_call(voice_page: VoicePage) -> None:
    await voice_page.open()
    await voice_page.page.get_by_role("button", name="Start call").click()
    await voice_page.wait_for("d.state === 'listening'")


LEDE = "Ask about your orders, refunds or a problem with a delivery. Our assistant answers by voice"


async def expect_no_call_promised(page: Page, *, captioned: bool = False) -> None:
    """No call can be made from the page (calls unavailable, a spent one-use link): the intro
    offers no typing, and the conversation neither says captions will appear nor shows a text
    box (not seen, read out or reached with Tab). The captions of a call that ended stay
    (`captioned`); without any, the conversation is not shown at all."""
    await expect(page.locator(".lede")).to_have_text(f"{LEDE}.", use_inner_text=True)
    await expect(page.locator("#captions-empty")).to_be_hidden()
    await expect(page.locator("#text-form")).to_be_hidden()
    await expect(page.get_by_role("textbox")).to_have_count(0)
    await expect(page.get_by_role("button", name="Send", exact=True)).to_have_count(0)
    heading = page.get_by_role("heading", name="Conversation")
    if captioned:
        await expect(heading).to_be_visible()
        await expect(conversation(page).locator(".line").first).to_be_visible()
    else:
        await expect(heading).to_be_hidden()


# --- Before a call -----------------------------------------------------------------------------


async def test_demo_customers_are_offered_with_their_tier_under_a_strict_csp(
    asha: Customer, voice_page: VoicePage
) -> None:
    await voice_page.open()
    page = voice_page.page

    await expect(page.get_by_label("Customer")).to_have_value("101")
    await expect(page.get_by_label("Customer").locator("option")).to_have_text(
        ["Asha Verma · Platinum (#101)"]
    )
    await expect(page.get_by_role("button", name="Start call")).to_be_enabled()
    assert "script-src 'self'" in voice_page.csp
    assert "ws://127.0.0.1:" in voice_page.csp
    await voice_page.screenshot("01-ready")
    assert voice_page.problems == []


# The chosen customer's line in the picker as the customer sees it: its text, and whether it
# is all in sight (no wider or taller than its box).
CUSTOMER_SHOWN = """() => {
  const box = document.getElementById("customer-chosen");
  return box && {
    text: box.textContent,
    fits: box.scrollWidth <= box.clientWidth && box.scrollHeight <= box.clientHeight,
  };
}"""


# The lightness (0 to 1) of the lightest pixel of a PNG (base64), decoded by the browser.
LIGHTEST = """async (png) => {
  const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  let lightest = 0;
  for (let i = 0; i < data.length; i += 4) {
    const light = 0.2126 * data[i] + 0.7152 * data[i + 1] + 0.0722 * data[i + 2];
    lightest = Math.max(lightest, light / 255);
  }
  return lightest;
}"""


async def test_the_chosen_customer_reads_whole_on_the_narrowest_phone(
    asha: Customer, voice_page: VoicePage
) -> None:
    """A <select> shows one line, cut at the width of a 320 px phone ("Asha Verma · Platinum
    (#"): the picker shows the chosen customer whole, over two lines if need be, and the
    select, unseen over it, still opens the browser's own list. In high contrast the box is
    drawn in the system's colours, as the select would be, and so are the state's dot and the
    microphone's meter (drawn in colours high contrast takes away, they were not there)."""
    await asyncio.to_thread(
        Customer.objects.create,
        user_id=12, name="Ishita Chatterjee", phone="+919800000012", email="ishita@example.com",
    )  # fmt: skip
    page = voice_page.page
    picker = page.get_by_label("Customer")
    for width, name in ((320, "41-customer-picker-320px"), (375, "42-customer-picker-375px"),
                        (1280, "43-customer-picker-desktop")):  # fmt: skip
        await page.set_viewport_size({"width": width, "height": 800})
        await voice_page.open()
        await picker.select_option("101")
        assert await page.evaluate(CUSTOMER_SHOWN) == {
            "text": "Asha Verma · Platinum (#101)", "fits": True,
        }  # fmt: skip
        await picker.select_option("12")  # the longest name, and not the first: it changes
        assert await page.evaluate(CUSTOMER_SHOWN) == {
            "text": "Ishita Chatterjee · Bronze (#12)", "fits": True,
        }  # fmt: skip
        # The select covers the box it is shown in: a tap anywhere on the box opens the list.
        assert await picker.bounding_box() == await page.locator("#customer-chosen").bounding_box()
        await voice_page.screenshot(name)

    # In high contrast (forced colours, here a dark palette) the box is drawn in the system's
    # colours, as a plain select is: its arrow in the text's (not dark on the black), and dimmed
    # while the select is disabled (app.js, during a call), not the same as when it is not.
    await page.emulate_media(forced_colors="active", color_scheme="dark")
    chosen = page.locator("#customer-chosen")
    box = await chosen.bounding_box()
    assert box is not None
    # Its arrow, inside the border and its rounded corners.
    arrow = await page.screenshot(clip={"x": box["x"] + box["width"] - 32, "y": box["y"] + 10,
                                        "width": 24, "height": box["height"] - 20})  # fmt: skip
    assert await page.evaluate(LIGHTEST, base64.b64encode(arrow).decode()) > 0.6
    enabled = await chosen.evaluate("box => getComputedStyle(box).color")
    await page.evaluate("document.getElementById('customer').disabled = true")
    assert await chosen.evaluate("box => getComputedStyle(box).color") != enabled
    # The dot before "Ready to call", the meter's track and, at a level (as during a call), its
    # fill are lit on the black, not black on black.
    await page.locator("#level .meter-fill").evaluate("fill => fill.style.transform = 'scaleX(.6)'")
    for part, inset in (("#state .state-dot", 0), ("#level", 0), ("#level .meter-fill", 3)):
        box = await page.locator(part).bounding_box()
        assert box is not None
        shot = await page.screenshot(clip={"x": box["x"] + inset, "y": box["y"] + inset,
                                           "width": box["width"] - 2 * inset,
                                           "height": box["height"] - 2 * inset})  # fmt: skip
        assert await page.evaluate(LIGHTEST, base64.b64encode(shot).decode()) > 0.5, part
    await voice_page.screenshot("47-customer-picker-high-contrast-disabled")
    assert voice_page.problems == []


# --- A call ------------------------------------------------------------------------------------


async def test_the_microphone_reaches_the_agent_as_16khz_speech_for_as_long_as_it_ran(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    await voice_page.open()
    page = voice_page.page
    # By keyboard: from the customer picker, Tab reaches the call button.
    await page.get_by_label("Customer").focus()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Start call")).to_be_focused()
    await page.keyboard.press("Enter")

    session = await agent.session()
    await voice_page.wait_for("d.state === 'listening'")
    await expect(page.get_by_role("button", name="End call")).to_be_visible()
    await session.wait_for_audio(seconds=2.0)
    await voice_page.screenshot("02-listening")
    await page.get_by_role("button", name="Mute").click()
    await session.wait_for_audio_stream_end()

    mic = await voice_page.debug(".mic")
    ran_s = (mic["lastSentAt"] - mic["firstSentAt"]) / 1000 + 0.020  # + the last frame
    # Every frame the page sent arrived, and there is as much of it as time passed: audio at
    # any other rate than 16 kHz would be 2.75-3 times too long (44.1/48 kHz) or too short.
    assert len(session.audio) == mic["bytesSent"]
    assert session.audio_seconds == pytest.approx(ran_s, rel=0.1)
    assert session.audio_mime_types[0] == "audio/pcm;rate=16000"
    assert mic["framesSent"] == len(session.audio) // 640  # 20 ms frames
    assert rms(session.audio) > SPEECH_RMS  # speech, not silence
    status = page.get_by_role("status").filter(has_text="You're")
    await expect(status).to_have_text(
        "You're muted: the assistant can't hear you. Unmute to speak, or type below.")  # fmt: skip
    await voice_page.screenshot("03-muted")
    await page.get_by_role("button", name="Unmute").click()
    await expect(status).to_have_text(
        "You're through to the assistant. Go ahead and speak, or type below.")  # fmt: skip

    await page.get_by_role("button", name="End call").click()
    await expect(page.get_by_role("status").filter(has_text="You ended the call.")).to_be_visible()
    await expect(page.get_by_role("button", name="Start call")).to_be_visible()
    await session.wait_closed()
    assert await voice_page.debug(".endReason") == "caller_hung_up"
    await voice_page.screenshot("04-ended")
    assert voice_page.problems == []


async def double_click(page: Page, button: Locator) -> None:
    """A person's double click on `button`: a click, then 150 ms on, the second click (its
    `detail` 2), on the button wherever the first click's news has moved it to."""
    for count in (1, 2):
        box = await button.bounding_box()
        assert box is not None
        await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        await page.mouse.down(click_count=count)
        await page.mouse.up(click_count=count)
        if count == 1:
            await page.wait_for_timeout(150)


async def test_a_double_click_starts_one_call_and_ends_it_without_starting_another(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """Asha double-clicks, as on a desktop icon: the button's second click must not undo its
    first (the call ended at once, or a new call started as the last one ended)."""
    await voice_page.open()
    page = voice_page.page
    await double_click(page, page.locator("#call-button"))
    await voice_page.wait_for("d.state === 'listening'")
    await agent.session()

    await double_click(page, page.locator("#call-button"))
    await expect(page.get_by_role("status").filter(has_text="You ended the call.")).to_be_visible()
    await page.wait_for_timeout(500)  # a call started by the second click would be connecting
    await expect(page.get_by_role("button", name="Start call")).to_be_enabled()
    assert await voice_page.debug(".state") == "ended"
    assert len(agent.live.sessions) == agent.sessions_before + 1  # one call, ended
    assert voice_page.problems == []


async def hold_enter(page: Page, repeats: int) -> None:
    """Enter held down on what has the focus: a press, then the keyboard's repeats of it."""
    for _ in range(1 + repeats):
        await page.keyboard.down("Enter")  # the second and later: repeat, as the keyboard does
        await page.wait_for_timeout(30)
    await page.keyboard.up("Enter")


async def test_enter_held_down_on_a_button_presses_it_once(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """Asha, at the keyboard, holds Enter on Start call a moment too long: each repeat of the
    key clicked the button again, starting and ending calls in turn, and on Mute, muting and
    unmuting. A press is one press, however long it is held."""
    await voice_page.open()
    page = voice_page.page
    await page.get_by_role("button", name="Start call").focus()
    await hold_enter(page, repeats=9)
    await voice_page.wait_for("d.state === 'listening'")
    await agent.session()
    await page.get_by_role("button", name="Mute").focus()
    await hold_enter(page, repeats=5)
    await expect(page.get_by_role("button", name="Unmute")).to_be_visible()
    assert await voice_page.debug(".states") == ["connecting", "listening", "muted"]
    assert len(agent.live.sessions) == agent.sessions_before + 1
    await page.get_by_role("button", name="End call").click()
    await voice_page.wait_for("d.state === 'ended'")
    assert voice_page.problems == []


async def test_the_call_button_stays_under_the_finger_whatever_the_page_says(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """What the page says comes a moment after a press ("You're through…", a colleague's
    name, "You ended the call."): it must not move the buttons Asha is about to press."""
    page = voice_page.page
    sockets: list[WebSocketRoute] = []

    async def route(socket: WebSocketRoute) -> None:
        sockets.append(socket)
        socket.connect_to_server()

    await page.route_web_socket(re.compile(r"/ws/voice"), route)
    await voice_page.open()
    button = page.locator("#call-button")
    where = await button.bounding_box()

    await button.click()
    await expect(page.get_by_role("status").filter(has_text="You're through")).to_be_visible()
    assert await button.bounding_box() == where
    sockets[-1].send(json.dumps({"type": "agent_changed", "mode": "human", "name": "Priya"}))
    connecting = page.get_by_role("status").filter(has_text="Connecting you to Priya")
    await expect(connecting).to_be_visible()
    assert await button.bounding_box() == where
    sockets[-1].send(tone_pcm(220, 0.3, 24_000))  # her voice: the page names her
    await expect(page.locator("#talking-to")).to_be_visible()
    assert await button.bounding_box() == where
    await voice_page.screenshot("29-news-under-the-buttons")
    await button.click()
    await expect(page.get_by_role("status").filter(has_text="You ended the call.")).to_be_visible()
    assert await button.bounding_box() == where
    await voice_page.screenshot("30-ended-under-the-buttons")
    assert voice_page.problems_with_a_routed_socket == []


async def test_the_agent_s_reply_is_captioned_and_played(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    reply = tone_pcm(440, 2.5, 24_000)  # the agent's "voice": a tone is enough to count samples

    async def script(session: FakeSession) -> None:
        await session.wait_for_audio(seconds=0.3)
        await session.send_transcript("user", "Where is my biryani?", finished=True)
        await session.send_transcript("agent", "Your biryani was delivered ")
        await session.send_audio(reply, chunk_ms=40)
        await session.send_transcript("agent", "half an hour ago.", finished=True)
        await session.send_turn_complete()

    agent.script = script
    await start_call(voice_page)
    await voice_page.wait_for("d.state === 'speaking'")
    await voice_page.screenshot("05-agent-speaking")

    captions = conversation(voice_page.page)
    await expect(captions).to_contain_text("You Where is my biryani?")
    await expect(captions).to_contain_text("Assistant Your biryani was delivered half an hour ago.")
    samples = len(reply) // 2
    await voice_page.wait_for(f"d.player.played === {samples} && !d.player.playing")
    player = await voice_page.debug(".player")
    assert player["received"] == samples
    assert player["flushed"] == 0 and player["buffered"] == 0
    assert await voice_page.debug(".states") == ["connecting", "listening", "speaking", "listening"]
    assert voice_page.problems == []


async def test_barge_in_empties_the_player_at_once(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    # Long enough that a page slowed by a loaded machine still catches it playing: it is cut
    # at the barge-in, so the test takes no longer for it.
    # The agent starts once the page is listening: a page slow to get there must not miss it.
    reply = tone_pcm(440, 8.0, 24_000)
    page_listening, customer_speaks = asyncio.Event(), asyncio.Event()

    async def script(session: FakeSession) -> None:
        await page_listening.wait()
        await session.send_transcript("agent", "Let me read you the whole menu, starting with")
        await session.send_audio(reply, chunk_ms=40)
        await customer_speaks.wait()
        await session.send_interrupted()

    agent.script = script
    await start_call(voice_page)
    page_listening.set()
    await voice_page.wait_for("d.player.playing && d.player.played > 4800")  # 200 ms in
    customer_speaks.set()

    await voice_page.wait_for("d.player.flushed > 0")
    player = await voice_page.debug(".player")
    assert player["buffered"] == 0 and not player["playing"]
    assert player["played"] + player["flushed"] == player["received"]
    assert player["played"] < len(reply) // 2 / 2  # cut off well before the end
    await voice_page.page.wait_for_timeout(200)
    assert (await voice_page.debug(".player"))["played"] == player["played"]  # and stays silent
    assert await voice_page.debug(".state") == "listening"
    await expect(voice_page.page.locator(".line--agent.cut")).to_have_count(1)
    await voice_page.screenshot("06-interrupted")


async def test_a_barge_in_marks_only_the_answer_it_cut_even_before_that_answer_is_captioned(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """The greeting is said in full. The next answer's audio comes before its transcription,
    and Asha talks over it at once: that answer is cut (its caption, coming after the
    barge-in, says so), not the greeting."""

    async def script(session: FakeSession) -> None:
        await session.wait_for_note(timeout=10)  # the greeting
        await session.send_transcript("agent", "Hello, how can I help?", finished=True)
        await session.send_turn_complete()
        await session.wait_for_audio(seconds=0.5)
        await session.send_audio(tone_pcm(440, 0.3, 24_000), chunk_ms=40)  # a new answer
        await session.send_interrupted()  # Asha barges in
        await session.send_transcript("agent", "Your order ORD-1001 was")  # its caption, late
        await session.send_turn_complete()

    agent.script = script
    await voice_page.open()
    await voice_page.page.get_by_role("button", name="Start call").click()
    lines = voice_page.page.locator(".line--agent")
    await expect(lines).to_have_count(2)
    greeting, cut = lines.nth(0), lines.nth(1)
    await expect(greeting).to_have_text("Assistant Hello, how can I help?")  # no "(interrupted)"
    await expect(greeting).not_to_have_class(re.compile(r"\bcut\b"))
    await expect(cut).to_have_text("Assistant Your order ORD-1001 was (interrupted)")
    await expect(cut).to_have_class(re.compile(r"\bcut\b"))
    await expect(voice_page.page.locator(".line--agent.cut")).to_have_count(1)
    await voice_page.screenshot("25-interrupted-before-captioned")
    await voice_page.page.get_by_role("button", name="End call").click()
    assert voice_page.problems == []


async def test_typed_messages_reach_the_agent_and_tools_are_shown_in_plain_words(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    async def script(session: FakeSession) -> None:
        await session.wait_for_text(timeout=10)
        await session.send_tool_call([{"name": "check_order_status"}])
        await session.wait_for_tool_response()
        await session.send_tool_call(
            [{"name": "initiate_refund", "args": {"order_id": "ORD-1001", "reason": "cold"}}]
        )
        await session.wait_for_tool_response()
        await session.send_tool_call(
            [{"name": "escalate_to_human", "args": {"reason": "wants to talk to a person"}}]
        )
        await session.wait_for_tool_response()

    agent.script = script
    await start_call(voice_page)
    page = voice_page.page
    await page.get_by_label("Type a message").fill("My biryani arrived cold, I want a refund")
    await page.get_by_label("Type a message").press("Enter")

    captions = conversation(page)
    await expect(captions).to_contain_text("You (typed) My biryani arrived cold, I want a refund")
    await expect(captions).to_contain_text("Found 2 recent orders")
    await expect(captions).to_contain_text("Refund of ₹337.50 credited to your wallet")
    # A colleague is fetched to join this call (a warm escalation): Asha must not hang up.
    ticket = page.get_by_role("status").filter(has_text="asking a colleague to join this call")
    await expect(ticket).to_contain_text("Please stay on the line")
    await expect(ticket).to_contain_text("ticket TKT-")
    await expect(ticket).not_to_contain_text("follow up")
    await expect(page.get_by_label("Type a message")).to_be_focused()
    await voice_page.screenshot("07-tools-and-escalation")
    assert (await agent.session()).texts == ["My biryani arrived cold, I want a refund"]
    assert voice_page.problems == []


async def test_a_paste_too_long_for_one_message_says_what_was_left_out(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """Asha pastes a long complaint: the box takes 2,000 characters and the browser cut the
    rest without a word, the message ending mid-word. The page says so, and how to send it."""
    await start_call(voice_page)
    page = voice_page.page
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    box = page.get_by_label("Type a message")
    await box.focus()

    async def paste(text: str) -> None:
        await page.evaluate("(text) => navigator.clipboard.writeText(text)", text)
        await page.keyboard.press("Control+V")

    # Its line breaks become spaces in the one-line box: 2,000 characters, which fit.
    await paste("a" * 999 + "\r\n" + "b" * 1000)
    await expect(box).to_have_value("a" * 999 + " " + "b" * 1000)
    await expect(page.locator("#text-hint")).to_have_text("Press Enter to send.")
    await box.fill("")

    complaint = "My biryani came cold and an hour late, and the raita was missing. " * 40
    await paste(complaint)

    cut = (
        "A message can be up to 2,000 characters: the end of what you pasted didn't fit. "
        "Send this part, then the rest."
    )
    await expect(page.locator("#text-hint")).to_have_text(cut)
    await expect(page.locator("#state-said")).to_have_text(cut)  # a screen reader hears it
    await expect(box).to_have_value(complaint[:2000])
    await voice_page.screenshot("53-long-paste-cut")
    await box.press("Enter")
    assert await (await agent.session()).wait_for_text() == complaint[:2000].strip()
    await expect(page.locator("#text-hint")).to_have_text("Press Enter to send.")
    assert voice_page.problems == []


async def test_callbacks_are_shown_in_plain_words_and_never_the_agent_s_instructions(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """The tools' refusals are written for the agent to act on ("Call list_callback_slots
    and offer the customer a free time", "category must be one of: …"): Asha reads what
    happened, in her terms."""

    async def script(session: FakeSession) -> None:
        await session.wait_for_audio(seconds=0.3)
        await session.send_tool_call([{"name": "list_callback_slots"}])
        slots = (await session.wait_for_tool_response())["response"]["slots"]
        past = {"slot_start": "2020-01-06T10:30+05:30", "reason": "a cold biryani"}
        await session.send_tool_call([{"name": "schedule_callback", "args": past}])
        await session.wait_for_tool_response()
        free = {"slot_start": slots[0]["slot_start"], "reason": "a cold biryani"}
        await session.send_tool_call([{"name": "schedule_callback", "args": free}])
        await session.wait_for_tool_response()
        wrong = {"category": "cold food", "description": "It arrived cold."}
        await session.send_tool_call([{"name": "file_complaint", "args": wrong}])
        await session.wait_for_tool_response()

    agent.script = script
    await start_call(voice_page)
    activity = voice_page.page.locator(".line--activity")
    await expect(activity).to_have_count(4)
    await expect(activity.nth(0)).to_have_text(
        re.compile(r"^Found \d+ free times? for a callback \(.+\)$")
    )
    await expect(activity.nth(1)).to_have_text("Callback not booked: that time can't be booked")
    await expect(activity.nth(2)).to_have_text(
        re.compile(r"^Callback booked for .+ at .+: we'll call your number ending 0101$")
    )
    await expect(activity.nth(3)).to_have_text(
        "That didn't work this time; the assistant will tell you what's next."
    )
    await voice_page.screenshot("28-callback-in-plain-words")
    assert voice_page.problems == []


async def test_a_routine_change_of_the_assistant_s_session_is_not_said(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    async def script(session: FakeSession) -> None:
        if session.resumed_from is None:
            await session.send_resumption_update("handle-1")
            await session.send_go_away(time_left=1)  # the Live API's routine session change

    agent.script = script
    await start_call(voice_page)

    resumed = await agent.session(1)
    assert resumed.resumed_handle == "handle-1"
    await voice_page.wait_for("d.events.some((e) => e.type === 'resumed')")
    kinds = [event["type"] for event in await voice_page.debug(".events")]
    assert kinds.index("reconnecting") < kinds.index("resumed")
    await voice_page.page.wait_for_timeout(2500)  # longer than the page waits to say anything
    # Over within a second: Asha heard nothing of it, and the page says nothing either.
    assert "reconnecting" not in await voice_page.debug(".states")
    info = voice_page.page.get_by_role("status").filter(has_text="You're through to the assistant")
    await expect(info).to_be_visible()
    await expect(conversation(voice_page.page)).not_to_contain_text("resumed")
    await voice_page.screenshot("08-assistant-session-changed")


async def test_a_call_whose_first_connection_hangs_is_given_up_and_said(
    asha: Customer, voice_page: VoicePage
) -> None:
    """Start call on a network that swallows the handshake: the page said "Connecting…" until
    the customer gave up. It says it cannot reach the service, and Start call is back."""
    page = voice_page.page
    async with Network(voice_page.server) as tunnel:
        await page.goto(tunnel.url + "/")
        tunnel.websockets_unanswered = True
        await page.get_by_role("button", name="Start call").click()
        await voice_page.wait_for("d.state === 'connecting'")

        await expect(page.get_by_role("alert")).to_contain_text(
            "Can't reach the voice service", timeout=20_000)
        await expect(page.get_by_role("button", name="Start call")).to_be_visible()
        await voice_page.screenshot("31-first-connection-hangs")
    assert not [p for p in voice_page.problems if p.startswith("page error")]


async def test_what_others_do_to_the_call_is_said_in_plain_words(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """What a colleague, the server and a server that is stopping do: the page's socket goes
    through the real server, with the events only they cause added by the test."""
    page = voice_page.page
    sockets: list[WebSocketRoute] = []

    async def route(socket: WebSocketRoute) -> None:
        sockets.append(socket)
        if len(sockets) == 1:
            # The first call reaches a server that is stopping (contract section 7).
            socket.send(json.dumps({"type": "reconnect"}))
            await socket.close(code=4502)
        else:
            socket.connect_to_server()

    def say(event: dict[str, object]) -> None:
        sockets[-1].send(json.dumps(event))

    await page.route_web_socket(re.compile(r"/ws/voice"), route)
    await start_call(voice_page)  # on the second try
    assert len(sockets) == 2

    # Typing faster than the server takes: what it refused is shown as not sent.
    await page.evaluate("""() => {
        const input = document.getElementById("text-input");
        for (let n = 1; n <= 7; n++) {
            input.value = `Message ${n}`;
            document.getElementById("text-form").requestSubmit();
        }
    }""")
    await expect(page.locator(".line.not-sent")).to_have_count(2)
    await expect(page.locator(".line.not-sent").last).to_contain_text("Message 7 Not sent")
    wait = page.get_by_role("status").filter(
        has_text="Please wait a moment before sending more text."
    )
    await expect(wait).to_be_visible()
    await expect(page.get_by_label("Type a message")).to_have_value("Message 7")  # to send again
    session = await agent.session()
    await session.wait_for(lambda: len(session.texts) == 5, "five texts")
    await voice_page.screenshot("18-typed-too-fast")

    # A colleague joins; the server says so again after a resume: one note, one banner. The
    # assistant introduces itself by a name too ("Priya, an AI assistant"): both say that
    # this Priya is a person (EU AI Act, Art. 50).
    say({"type": "agent_changed", "mode": "human", "name": "Priya"})
    say({"type": "agent_changed", "mode": "human", "name": "Priya"})
    sockets[-1].send(tone_pcm(220, 0.3, 24_000))  # her voice
    await expect(page.locator("#talking-to")).to_have_text(
        "You're talking to Priya, a person from our support team."
    )
    await page.wait_for_timeout(200)
    await expect(conversation(page).get_by_text("joined the call")).to_have_text(
        ["Priya, a person from our support team, joined the call."]
    )
    # A notice with a long address wraps on a phone.
    address = "https://status.example.com/incidents/voice-maintenance-window-tonight"
    say({"type": "error", "code": "maintenance", "message": f"Calls may drop tonight: {address}"})
    await expect(page.get_by_role("status").filter(has_text="status.example.com")).to_be_visible()

    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await voice_page.screenshot("19-colleague-and-a-long-notice")

    # The server's own session with the assistant is slow to come back while Priya holds the
    # call: Asha talks to Priya, not to the assistant, so nothing is said of it.
    say({"type": "reconnecting"})
    await page.wait_for_timeout(2500)  # longer than the page waits to say anything
    slow = page.get_by_role("status").filter(has_text="Reconnecting to the assistant")
    await expect(slow).to_be_hidden()
    assert await voice_page.debug(".state") != "reconnecting"
    await expect(page.locator("#talking-to")).to_be_visible()
    # Priya hands her back while it is still away: now Asha waits for it, and is told (2 s on).
    # Both words say she is back with the AI, not with another person.
    say({"type": "agent_changed", "mode": "agent"})
    handed_back = page.get_by_role("status").filter(has_text="You're back with the AI assistant.")
    await expect(handed_back).to_be_visible()
    await expect(conversation(page).get_by_text("handed you back")).to_have_text(
        ["Priya handed you back to the AI assistant."]
    )
    await expect(slow).to_be_visible()
    await voice_page.wait_for("d.state === 'reconnecting'")
    await voice_page.screenshot("20-assistant-slow-to-come-back")
    say({"type": "resumed"})
    back = page.get_by_role("status").filter(has_text="Back: the call is connected again.")
    await expect(back).to_be_visible()
    await expect(conversation(page)).not_to_contain_text("network blip")

    # Priya ends the call while Asha is in the text box.
    await page.get_by_label("Type a message").focus()
    say(
        {
            "type": "error",
            "code": "ended_by_staff",
            "message": "A member of our support team ended the call.",
        }
    )
    say({"type": "ended", "reason": "ended_by_staff"})
    await sockets[-1].close(code=1000)
    ended = page.get_by_role("status").filter(
        has_text="A member of our support team ended the call."
    )
    await expect(ended).to_be_visible()
    await expect(page.get_by_role("alert")).to_be_hidden()
    await expect(page.locator("#talking-to")).to_be_hidden()
    await expect(page.get_by_role("button", name="Start call")).to_be_focused()
    await voice_page.screenshot("21-ended-by-staff")

    # A second call, ended by a fault on the server's side.
    await page.get_by_role("button", name="Start call").click()
    await voice_page.wait_for("d.state === 'listening'")
    say({"type": "ended", "reason": "server_error"})
    await sockets[-1].close(code=1000)
    await expect(page.get_by_role("alert")).to_have_text(
        "Something went wrong on our side and the call ended. Please start a new call."
    )
    await expect(page.get_by_role("button", name="Start call")).to_be_enabled()
    # What she typed and could not send is kept for the next call, and the box says so.
    await expect(page.get_by_label("Type a message")).to_have_value("Message 7")
    await expect(page.locator("#text-hint")).to_have_text("Start a call to send what you typed.")
    # Another call can be made: the page still offers typing in it.
    await expect(page.locator(".lede")).to_have_text(f"{LEDE}; you can also type.")
    await expect(page.get_by_label("Type a message")).to_be_visible()
    await voice_page.screenshot("22-ended-by-a-server-error")

    # The same fault on a call from the app's one-use link: this page can start no new call,
    # and does not ask her to; it says how to call again.
    with override_settings(SECRET_KEY=server_environment()["SECRET_KEY"]):
        token = tokens.mint(101)
    await page.goto("about:blank")  # a fresh load, as from the host app's link
    await page.goto(f"{voice_page.server.url}/#token={token}")
    await page.get_by_role("button", name="Start call").click()
    await voice_page.wait_for("d.state === 'listening'")
    say({"type": "transcript", "role": "agent", "text": "Hello, how can I help?", "final": True})
    await expect(conversation(page)).to_contain_text("Assistant Hello, how can I help?")
    button = page.locator("#call-button")
    where = await button.bounding_box()
    say({"type": "ended", "reason": "server_error"})
    await sockets[-1].close(code=1000)
    await expect(page.get_by_role("alert")).to_have_text(
        "Something went wrong on our side and the call ended. "
        "To call us again, open support in the app."
    )
    await expect(page.get_by_role("button", name="Start call")).to_be_disabled()
    await expect(page.locator("#text-hint")).to_be_hidden()
    # Nor typing, nor a conversation to come: what the call said stays, where it was.
    await expect_no_call_promised(page, captioned=True)
    await expect(conversation(page)).to_have_text("Assistant Hello, how can I help?")
    assert await button.bounding_box() == where
    await voice_page.screenshot("45-one-use-link-ended-by-a-server-error")
    assert not [p for p in voice_page.problems if p.startswith("page error")]


@pytest_asyncio.fixture(loop_scope="module")
async def hasty_server(agent: FakeAgent) -> AsyncIterator[DaphneServer]:
    """A server of the test's own that checks on a silent caller after 0.5 s (10 s in
    production), twice, then says goodbye and ends the call as `idle`."""
    env = {"VOICE_IDLE_PROMPT_S": "0.5", "VOICE_STALL_S": "30"}
    with DaphneServer(gemini_live_url=agent.live.url, env=env) as server:
        await asyncio.to_thread(server.start)
        yield server
        print("daphne (hasty):", server.output(), sep="\n")  # shown when the test failed


async def test_the_agent_s_goodbye_is_heard_out_after_the_server_ends_the_call(
    asha: Customer, agent: FakeAgent, hasty_server: DaphneServer, voice_page: VoicePage
) -> None:
    """Asha says nothing: she is checked on twice, then the agent says goodbye (3 s, sent at
    once, as Gemini streams faster than it plays) and the server ends the call as `idle`. The
    page says so at once, and plays the goodbye it already holds to its end."""
    goodbye = tone_pcm(440, 3.0, 24_000)
    samples = len(goodbye) // 2

    async def script(session: FakeSession) -> None:
        for n in range(4):  # the greeting, two check-ins, the goodbye
            note = await session.wait_for_note(timeout=10)
            if n == 3:
                assert "goodbye" in note
                await session.send_transcript("agent", "Thank you for calling. Goodbye!")
                await session.send_audio(goodbye, chunk_ms=40)
            else:
                await session.send_transcript("agent", "…")
            await session.send_turn_complete()

    agent.script = script
    page = voice_page.page
    voice_page = VoicePage(page, hasty_server, voice_page.problems)
    await voice_page.open()
    await page.get_by_role("button", name="Start call").click()
    await voice_page.wait_for("d.endReason === 'idle' && d.state === 'ended'", timeout=20)
    # Said at once, while the goodbye plays: the page does not wait for it to say the call ended.
    ended = page.get_by_role("alert")
    await expect(ended).to_have_text("The call ended because we didn't hear from you for a while.")
    await expect(page.get_by_role("button", name="Start call")).to_be_visible()
    await expect(conversation(page)).to_contain_text("Thank you for calling. Goodbye!")
    assert (await voice_page.debug(".player"))["played"] < samples
    await voice_page.screenshot("26-ended-while-the-goodbye-plays")

    await voice_page.wait_for("d.player.closed", timeout=10)
    player = await voice_page.debug(".player")
    assert player["played"] >= samples * 0.95, (
        f"the page played {player['played']} of the goodbye's {samples} samples "
        f"({player['played'] / 24_000:.2f}s of 3.00s) before closing its player"
    )
    assert player["flushed"] == 0
    assert voice_page.problems == []


async def test_a_page_reloaded_mid_call_says_the_call_ended_and_its_reference(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """Asha pulls the page down to refresh it in the middle of a call. The page hangs up as
    it goes (the call's record is closed at once), and the page that loaded said nothing of
    the call: a fresh "Ready to call", as if there had been none."""
    await start_call(voice_page)
    page = voice_page.page
    session = await agent.session()
    call_id = await voice_page.debug(".callId")

    await page.reload()
    ended = page.locator("#info")
    await expect(ended).to_have_text(
        "Your call ended when this page was reloaded or left. "
        "If you still need help, call us again."
    )
    await expect(page.locator("#call-id")).to_have_text(f"Your call reference: {call_id}")
    await expect(page.get_by_role("button", name="Start call")).to_be_enabled()
    await voice_page.screenshot("54-reloaded-mid-call")
    assert (await wait_until_ended(call_id))["end_reason"] == "caller_hung_up"
    await session.wait_closed()
    # Said once: the next load has no call to speak of.
    await page.reload()
    await expect(page.locator("#state-text")).to_have_text("Ready to call")
    await expect(ended).to_have_text("")
    await expect(page.locator("#call-id")).to_have_text("")
    assert voice_page.problems == []


# --- When a call cannot happen -----------------------------------------------------------------


async def test_a_microphone_that_stops_mid_call_is_said_and_typing_goes_on(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """Asha takes the microphone's permission back in the middle of the call (as pulling out a
    headset does, Chromium ends the track): the page says so, and she types instead."""
    await start_call(voice_page)
    page = voice_page.page
    session = await agent.session()
    await session.wait_for_audio(seconds=0.5)
    await page.get_by_role("button", name="Mute").focus()

    await page.context.clear_permissions()

    await expect(page.get_by_role("alert")).to_contain_text("Your microphone stopped")
    await expect(page.locator("#state-text")).to_have_text("Microphone off")
    await expect(page.get_by_role("button", name="Mute")).to_be_disabled()
    await expect(page.get_by_label("Type a message")).to_be_focused()  # not dropped to <body>
    await session.wait_for_audio_stream_end()  # her turn is over: the agent need not wait
    await voice_page.screenshot("27-microphone-stopped")
    await page.get_by_label("Type a message").fill("Where is my biryani?")
    await page.get_by_label("Type a message").press("Enter")
    assert await session.wait_for_text() == "Where is my biryani?"
    await page.get_by_role("button", name="End call").click()
    await expect(page.get_by_role("status").filter(has_text="You ended the call.")).to_be_visible()
    assert voice_page.problems == []


async def test_a_denied_microphone_is_explained(
    asha: Customer, agent: FakeAgent, browser: Browser, voice_server: DaphneServer
) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844})  # no permission
    page = await context.new_page()
    try:
        voice_page = VoicePage(page, voice_server, [])
        await voice_page.open()
        await page.get_by_role("button", name="Start call").click()

        alert = page.get_by_role("alert")
        await expect(alert).to_contain_text("Microphone permission was denied")
        await expect(page.get_by_role("button", name="Start call")).to_be_visible()
        assert len(agent.live.sessions) == agent.sessions_before  # no call was opened
        await voice_page.screenshot("09-microphone-denied")
    finally:
        await context.close()


# The browser fails to start the call's audio once per page load (as a worklet it cannot run
# does), with an error that is not the AbortError of an unreachable server; then works again.
AUDIO_FAILS_ONCE = """
if (window.AudioWorklet) {  // not on about:blank
  const addModule = AudioWorklet.prototype.addModule;
  let failed = false;
  AudioWorklet.prototype.addModule = function (...args) {
    if (failed) return addModule.apply(this, args);
    failed = true;
    return Promise.reject(new TypeError("this browser can't run the worklet"));
  };
}
"""


async def test_audio_the_browser_could_not_start_is_tried_again_from_the_page(
    asha: Customer, voice_page: VoicePage
) -> None:
    """The browser fails to start the call's audio: Asha is asked to try again, and Start call
    does it, on the demo page and on one opened from the app's one-use link (which the page
    took out of the address bar: a reload would lose it)."""
    page = voice_page.page
    await page.add_init_script(AUDIO_FAILS_ONCE)
    with override_settings(SECRET_KEY=server_environment()["SECRET_KEY"]):
        token = tokens.mint(101)
    for address, words in [
        ("/", "Please try again, or reload the page if it happens again."),
        (f"/#token={token}", "Please try again."),
    ]:
        await page.goto("about:blank")  # a fresh load, as from the host app's link
        await page.goto(voice_page.server.url + address)
        await page.get_by_role("button", name="Start call").click()
        await expect(page.get_by_role("alert")).to_have_text(
            f"Your browser couldn't start audio for the call. {words}"
        )
        await expect(page.get_by_role("button", name="Start call")).to_be_enabled()
        if "token" in address:
            assert "token" not in page.url
            await voice_page.screenshot("46-one-use-link-audio-could-not-start")
        await page.get_by_role("button", name="Start call").click()
        await voice_page.wait_for("d.events.some((e) => e.type === 'ready')")
        await page.get_by_role("button", name="End call").click()
        await voice_page.wait_for("d.state === 'ended'")
    assert not [p for p in voice_page.problems if p.startswith("page error")]


async def refused_with(voice_page: VoicePage, code: int, reason: str) -> bool:
    """Whether the page was refused with close `code` and an `ended` event giving `reason`.
    A browser busy when the server closes may see 1006 instead of the code (as CI's did once;
    realtime/consumers.py), which is why the server says the reason in an event first: the
    page explains from either."""
    closed = await voice_page.debug(".closeCode")
    ended = [e["reason"] for e in await voice_page.debug(".events") if e["type"] == "ended"]
    return closed in (code, 1006) and ended == [reason]


async def test_an_unknown_customer_and_an_expired_link_are_explained(
    asha: Customer, voice_page: VoicePage
) -> None:
    await voice_page.open()
    await Customer.objects.filter(user_id=101).adelete()  # gone since the page loaded
    await voice_page.page.get_by_role("button", name="Start call").click()
    await voice_page.wait_for("d.closeCode !== null")
    assert await refused_with(voice_page, 4404, "customer_not_found")
    alert = voice_page.page.get_by_role("alert")
    await expect(alert).to_contain_text("couldn't find your customer account")
    await voice_page.screenshot("10-unknown-customer")

    await voice_page.page.goto("about:blank")  # a fresh load, as from the host app's link
    await voice_page.page.goto(voice_page.server.url + "/#token=expired.or.forged")
    assert "token" not in voice_page.page.url  # taken out of the address bar
    await expect(voice_page.page.get_by_label("Customer")).to_be_hidden()
    await voice_page.page.get_by_role("button", name="Start call").click()
    await voice_page.wait_for("d.closeCode !== null")
    assert await refused_with(voice_page, 4401, "unauthorized")
    await expect(voice_page.page.get_by_role("alert")).to_contain_text("support link has expired")
    # Only the app can give another: the page offers no call, nor typing in one.
    await expect(voice_page.page.get_by_role("button", name="Start call")).to_be_disabled()
    await expect(voice_page.page.locator("#text-hint")).to_be_hidden()
    await expect_no_call_promised(voice_page.page)
    await voice_page.screenshot("11-expired-link")


async def test_an_agent_without_a_gemini_key_is_explained(
    asha: Customer, browser: Browser, voice_servers: VoiceServers
) -> None:
    server = await asyncio.to_thread(voice_servers.without_agent)
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, permissions=["microphone"]
    )
    try:
        page = await context.new_page()
        voice_page = VoicePage(page, server, [])
        await voice_page.open()
        # Before any call: the page says so and offers no call.
        notice = page.locator("#not-configured")
        await expect(notice).to_contain_text("Our voice assistant is not available right now")
        await expect(page.get_by_role("button", name="Start call")).to_be_disabled()
        # Why, only for whoever runs the server (tests run it with DEBUG on, as `make run`):
        # customers of a production server are not told of API keys.
        await expect(notice.locator("#operator-hint")).to_contain_text("no GEMINI_API_KEY")
        # Nor does the text box ask for a call nobody can start, or promise typing in one.
        await expect(page.locator("#text-input")).to_be_disabled()
        await expect(page.locator("#text-hint")).to_be_hidden()
        await expect_no_call_promised(page)
        await voice_page.screenshot("12-agent-not-configured")

        # A page loaded before the key went away learns it from the server.
        await page.evaluate("document.getElementById('call-button').disabled = false")
        await page.get_by_role("button", name="Start call").click()
        await expect(page.get_by_role("alert")).to_contain_text(
            "Our voice assistant is not available right now, so the call couldn't start."
        )
        assert await voice_page.debug(".endReason") == "agent_not_configured"
        # Not the close code (4503): the message comes from the `ended` event before it.
    finally:
        await context.close()
        print("daphne:", server.output(), sep="\n")


async def test_a_demo_without_customers_promises_no_call_to_type_in(
    voice_page: VoicePage,
) -> None:
    """No demo customers: calls are unavailable, and the page promises neither typing nor
    captions of a call (it said "you can also type" over a dead, grey text box)."""
    await voice_page.open()
    page = voice_page.page
    await expect(page.locator("#customer-hint")).to_contain_text("no demo customers yet")
    await expect(page.locator("#state-text")).to_have_text("Calls unavailable")
    await expect(page.get_by_role("button", name="Start call")).to_be_disabled()
    await expect(page.locator("#text-input")).to_be_disabled()
    await expect(page.locator("#text-hint")).to_be_hidden()
    await expect_no_call_promised(page)
    await voice_page.screenshot("44-no-demo-customers")
    assert voice_page.problems == []


# A server's endings of a call from the app's one-use link (the events it sends, then its
# close code), whose words ask to call again: the link is spent, so the page asks the app's
# way instead, once. `ready` is the call begun (the page listening).
READY = {"type": "ready", "call_id": "CALL-SPENT-LINK", "resume_token": "resume"}
SPENT_LINK_ENDINGS = [
    (  # the server lost its GEMINI_API_KEY after the page loaded; the link stays spent
        [{"type": "ended", "reason": "agent_not_configured"}],
        4503,
        "Our voice assistant is not available right now, so the call couldn't start. "
        "Please open support in the app to try again later.",
    ),
    (  # an ending this page has no words for yet, before the call began
        [{"type": "ended", "reason": "a_new_reason"}],
        1000,
        "The call couldn't start. Please open support in the app to try again.",
    ),
    (  # a callback's colleague cut off, with no assistant to hand it back to: the server's
        # words, and the way to call again
        [
            READY,
            {
                "type": "error",
                "code": "staff_left",
                "message": "Sorry, our colleague was cut off, so the call has ended.",
            },
            {"type": "ended", "reason": "staff_left"},
        ],
        1000,
        "Sorry, our colleague was cut off, so the call has ended. "
        "To call us again, open support in the app.",
    ),
    (  # the call went on in another tab: nothing to call again for
        [READY],
        4409,
        "This call carried on in another window or tab.",
    ),
    (  # the assistant lost for good mid-call, with no ticket (realtime/call_session.py)
        [
            READY,
            {
                "type": "error",
                "code": "agent_unavailable",
                "message": "Sorry, our voice assistant is unavailable right now. "
                "Please try again shortly.",
            },
            {"type": "ended", "reason": "agent_unavailable"},
        ],
        1000,
        "Sorry, our voice assistant is unavailable right now. "
        "Please open support in the app to try again shortly.",
    ),
]


async def test_a_spent_one_use_link_says_how_to_call_again_once(voice_page: VoicePage) -> None:
    """A call from the app's one-use link ends with advice to try again: the page said it,
    then "To call us again, open support in the app." after it, the same advice twice. The
    test answers the page's socket in the server's place."""
    page = voice_page.page
    sockets: list[WebSocketRoute] = []

    async def answer(socket: WebSocketRoute) -> None:
        sockets.append(socket)

    await page.route_web_socket(re.compile(r"/ws/voice"), answer)
    for events, code, words in SPENT_LINK_ENDINGS:
        await page.goto("about:blank")  # a fresh load, as from the host app's link
        await page.goto(f"{voice_page.server.url}/#token=one-use")  # goes no further
        await page.get_by_role("button", name="Start call").click()
        async with asyncio.timeout(5):
            while not sockets:  # the microphone and the player start first
                await asyncio.sleep(0.02)
        for event in events:
            sockets[-1].send(json.dumps(event))
            if event is READY:
                await voice_page.wait_for("d.state === 'listening'")
        await sockets.pop().close(code=code)
        await expect(page.get_by_role("alert")).to_have_text(words)
        await expect(page.get_by_role("button", name="Start call")).to_be_disabled()
        await expect_no_call_promised(page)
    await voice_page.screenshot("49-one-use-link-assistant-lost")  # the last of them
    assert voice_page.problems_with_a_routed_socket == []


# --- The microphone worklet on its own ---------------------------------------------------------

MIC_WORKLET_PROBE = """
async ([rate, hz]) => {
  // One second of a tone through mic-processor, rendered offline at `rate`.
  const context = new OfflineAudioContext(1, rate, rate);
  await context.audioWorklet.addModule(document.getElementById("voice").dataset.micWorklet);
  const node = new AudioWorkletNode(context, "mic-processor", { numberOfOutputs: 0 });
  const frames = [];
  node.port.onmessage = (event) => frames.push(new Int16Array(event.data.pcm));
  const oscillator = new OscillatorNode(context, { frequency: hz });
  const gain = new GainNode(context, { gain: 0.5 });
  oscillator.connect(gain).connect(node);
  oscillator.start();
  await context.startRendering();
  await new Promise((resolve) => setTimeout(resolve, 100));  // the last port messages
  return { lengths: frames.map((f) => f.length), samples: frames.flatMap((f) => Array.from(f)) };
}
"""


@pytest.mark.parametrize("rate", [48_000, 44_100])
async def test_the_mic_worklet_low_passes_before_it_downsamples_to_16khz(
    rate: int, voice_page: VoicePage
) -> None:
    await voice_page.open()

    async def through_worklet(hz: float) -> tuple[list[int], np.ndarray]:
        result = await voice_page.page.evaluate(MIC_WORKLET_PROBE, [rate, hz])
        return result["lengths"], np.array(result["samples"], dtype=np.float64)

    lengths, speech_band = await through_worklet(1000)
    assert set(lengths) == {320}  # 20 ms frames at 16 kHz
    assert len(speech_band) == pytest.approx(16_000, abs=320 * 2)  # one second
    # A 12 kHz tone is above the new Nyquist (8 kHz): unfiltered it would fold to 4 kHz.
    _, above_nyquist = await through_worklet(12_000)
    settled = slice(1000, None)  # after the filter's start-up
    passed = np.sqrt(np.mean(speech_band[settled] ** 2))
    leaked = np.sqrt(np.mean(above_nyquist[settled] ** 2))
    assert passed == pytest.approx(0.5 * 32767 / np.sqrt(2), rel=0.05)
    assert leaked < passed / 1000  # at least 60 dB down
