"""The customer's voice page from a review as its customers: Asha, who is blind and hears the
page through a screen reader, and what any customer reads at a phone's width, after a long
network drop, and back from another app.

Screenshots go to test-artifacts/voice/ with the others.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from django.test import override_settings
from playwright.async_api import Locator, Page, ViewportSize, WebSocketRoute, expect

from realtime import tokens
from realtime.tests.browser.conftest import FakeAgent, Network, VoicePage, conversation
from realtime.tests.fake_live import FakeSession
from support.models import Customer
from voiceproject.tests.chromium import RECORD_WHAT_IS_SAID
from voiceproject.tests.live_server import server_environment
from voiceproject.tests.signals import tone_pcm

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),
]

PHONE_SE = ViewportSize(width=320, height=700)  # the narrowest phone the page is made for


async def start_call(voice_page: VoicePage) -> None:
    await voice_page.open()
    await voice_page.page.get_by_role("button", name="Start call").click()
    await voice_page.wait_for("d.state === 'listening'")


# --- What a screen reader says ------------------------------------------------------------------


async def test_the_conversation_is_there_to_read_and_only_the_agent_s_work_is_said(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """The captions were a live region: Asha's screen reader said her own words back to her,
    and everything the assistant had just said, over its next words (and from her speakers
    into the microphone, where they could cut the assistant short). What it hears anyway is
    not said again; what it cannot hear is: the call's state, and what the assistant is doing
    while it goes quiet."""

    async def script(session: FakeSession) -> None:
        await session.wait_for_audio(seconds=0.3)
        await session.send_transcript("user", "Where is my biryani?", finished=True)
        await session.send_transcript("agent", "Let me check your orders.", finished=True)
        await session.send_tool_call([{"name": "check_order_status"}])
        await session.wait_for_tool_response()
        await session.send_transcript("agent", "Your biryani is on its way.", finished=True)
        await session.send_audio(tone_pcm(440, 0.5, 24_000), chunk_ms=40)
        await session.send_turn_complete()

    agent.script = script
    page = voice_page.page
    await page.add_init_script(RECORD_WHAT_IS_SAID)
    await start_call(voice_page)
    captions = conversation(page)
    await expect(captions).to_contain_text("Your biryani is on its way.")
    await expect(captions).to_contain_text("You Where is my biryani?")
    await expect(captions).to_contain_text("Found 2 recent orders")
    await voice_page.screenshot("35-conversation-read-not-said")
    await page.get_by_role("button", name="End call").click()
    await expect(page.get_by_role("status").filter(has_text="You ended the call.")).to_be_visible()

    said: list[str] = await page.evaluate("window.said")
    assert "Checking your orders…" in said
    heard_already = ["Where is my biryani?", "Let me check", "Your biryani is on its way."]
    assert [words for words in said if any(h in words for h in heard_already)] == [], said
    assert said[-2:] == ["Call ended", "You ended the call."], said
    assert voice_page.problems == []


# --- A colleague joins --------------------------------------------------------------------------


async def test_a_colleague_is_being_connected_or_talking_never_both_at_once(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """Priya takes the call over: "Connecting you to Priya…" showed under "You're talking to
    Priya from our support team." until her first words played. Both say she is a person: the
    assistant introduces itself by a name too ("Priya, an AI assistant")."""
    page = voice_page.page
    sockets: list[WebSocketRoute] = []

    async def route(socket: WebSocketRoute) -> None:
        sockets.append(socket)
        socket.connect_to_server()

    await page.route_web_socket(re.compile(r"/ws/voice"), route)
    await start_call(voice_page)
    sockets[-1].send(json.dumps({"type": "agent_changed", "mode": "human", "name": "Priya"}))
    connecting = page.get_by_role("status").filter(
        has_text="Connecting you to Priya, a person from our support team…"
    )
    talking = page.locator("#talking-to")
    await expect(connecting).to_be_visible()
    await page.wait_for_timeout(300)  # the page has had time to show anything it would
    await expect(talking).to_be_hidden()
    await voice_page.screenshot("36-colleague-connecting")

    # Her voice reaches Asha: now the page says who she is talking to, and only that.
    voice = tone_pcm(220, 0.5, 24_000)
    for start in range(0, len(voice), 1920):
        sockets[-1].send(voice[start : start + 1920])
    await expect(talking).to_have_text("You're talking to Priya, a person from our support team.")
    await expect(connecting).to_be_hidden()
    await voice_page.screenshot("37-colleague-talking")
    await page.get_by_role("button", name="End call").click()
    await expect(talking).to_be_hidden()
    assert voice_page.problems_with_a_routed_socket == []


# --- At a phone's width -------------------------------------------------------------------------


async def hint_of(box: Locator) -> dict[str, Any]:
    """What the text box's hints say, and whether each is read whole: its placeholder (cut
    off at the box's edge when wider than the box) and its description (the hint line)."""
    return dict(
        await box.evaluate("""input => {
        const style = getComputedStyle(input);
        const context = document.createElement("canvas").getContext("2d");
        context.font = style.font;
        const room = input.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        const hint = document.getElementById(input.getAttribute("aria-describedby"));
        const hintRight = hint ? hint.getBoundingClientRect().right : 0;
        return {
            placeholder_fits: context.measureText(input.placeholder).width <= room,
            hint: hint ? hint.textContent : "",
            hint_fits: !hint || (hint.scrollWidth <= hint.clientWidth
                && hintRight <= document.documentElement.clientWidth),
        };
    }""")
    )


async def test_the_text_box_s_hint_is_read_whole_on_a_narrow_phone(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """At 320 px the box showed "Type and press E" (and "Start a call to ty")."""
    page = voice_page.page
    await page.set_viewport_size(PHONE_SE)
    await voice_page.open()
    box = page.get_by_label("Type a message")
    assert await hint_of(box) == {
        "placeholder_fits": True, "hint": "Start a call to type.", "hint_fits": True,
    }  # fmt: skip
    await voice_page.screenshot("38-narrow-phone-before-a-call")

    await page.get_by_role("button", name="Start call").click()
    await voice_page.wait_for("d.state === 'listening'")
    await expect(box).to_be_enabled()
    await expect(box).to_have_accessible_description("Press Enter to send.")
    assert await hint_of(box) == {
        "placeholder_fits": True, "hint": "Press Enter to send.", "hint_fits": True,
    }  # fmt: skip
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE_SE["width"]
    # The call's reference says what it is for, and reads on one line: a double click (or a
    # long press) selects it whole to copy, not only the part on one side of its hyphen.
    call_id = await voice_page.debug(".callId")
    await expect(page.locator("#call-id")).to_have_text(f"Your call reference: {call_id}")
    reference = page.locator("#call-id").get_by_text(call_id, exact=True)
    assert await reference.evaluate("reference => reference.getClientRects().length") == 1
    # Too long to go beside its label at 320 px, it has a line of its own under the label, and
    # reads as the label's value (in the page's ink, not the label's grey), not as the end of
    # a sentence cut in two.
    assert await reference.evaluate("""reference => {
        const box = reference.parentElement, label = document.createRange();
        label.selectNodeContents(box.firstChild);
        const where = reference.getBoundingClientRect(), labelAt = label.getBoundingClientRect();
        return {
            own_line: where.top >= labelAt.bottom - 1,
            under_the_label: Math.abs(where.left - labelAt.left) < 1,
            stands_out: getComputedStyle(reference).color !== getComputedStyle(box).color,
        };
    }""") == {"own_line": True, "under_the_label": True, "stands_out": True}
    await reference.dblclick()
    assert await page.evaluate("getSelection().toString()") == call_id
    await page.evaluate("getSelection().removeAllRanges()")
    await voice_page.screenshot("39-narrow-phone-in-a-call")
    await page.get_by_role("button", name="End call").click()
    assert voice_page.problems == []


# --- A long network drop ------------------------------------------------------------------------


async def test_a_call_that_ended_while_the_connection_was_lost_says_so_and_what_to_do(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """Asha's train is in a tunnel for longer than the server keeps her call (0.2 s for the
    suite's server, 30 s in production). Back, the page said only "The call has ended.", as
    if someone had hung up."""
    page = voice_page.page
    await page.set_viewport_size(PHONE_SE)
    async with Network(voice_page.server) as tunnel:
        await page.goto(tunnel.url + "/")
        await page.get_by_role("button", name="Start call").click()
        await voice_page.wait_for("d.state === 'listening'")

        tunnel.websockets_blocked = True
        tunnel.drop_websockets()
        await voice_page.wait_for("d.state === 'reconnecting'")
        box = page.get_by_label("Type a message")
        assert await hint_of(box) == {
            "placeholder_fits": True,
            "hint": "You can type again once the call is reconnected.",
            "hint_fits": True,
        }
        await voice_page.wait_for("d.reconnects >= 3")  # over a second: the call is over
        tunnel.websockets_blocked = False

        alert = page.get_by_role("alert")
        await expect(alert).to_have_text(
            "The call ended while your connection was lost. If you still need help, call us again."
        )
    await expect(page.get_by_role("button", name="Start call")).to_be_enabled()
    await expect(page.locator("#state-text")).to_have_text("Call ended")
    await voice_page.screenshot("40-ended-while-the-connection-was-lost")

    # The same from the app's one-use link, now spent: how to call again is said once, the
    # app's way (it was said, then "To call us again, open support in the app." after it).
    async def greet(session: FakeSession) -> None:
        await session.send_transcript("agent", "Hello, how can I help?", finished=True)
        await session.send_turn_complete()

    agent.script = greet
    with override_settings(SECRET_KEY=server_environment()["SECRET_KEY"]):
        token = tokens.mint(101)
    async with Network(voice_page.server) as tunnel:
        await page.goto("about:blank")  # a fresh load, as from the host app's link
        await page.goto(f"{tunnel.url}/#token={token}")
        await page.get_by_role("button", name="Start call").click()
        await voice_page.wait_for("d.state === 'listening'")
        await expect(conversation(page)).to_have_text("Assistant Hello, how can I help?")
        tunnel.websockets_blocked = True
        tunnel.drop_websockets()
        await voice_page.wait_for("d.reconnects >= 3")
        tunnel.websockets_blocked = False
        await expect(alert).to_have_text(
            "The call ended while your connection was lost. "
            "If you still need help, open support in the app to call us again."
        )
    await expect(page.get_by_role("button", name="Start call")).to_be_disabled()
    # Nor typing in a call, nor captions to come: only those of the call that ended.
    await expect(page.locator(".lede")).to_have_text(
        "Ask about your orders, refunds or a problem with a delivery. "
        "Our assistant answers by voice.",
        use_inner_text=True,
    )
    await expect(page.locator("#text-form")).to_be_hidden()
    await expect(page.locator("#captions-empty")).to_be_hidden()
    await expect(conversation(page)).to_have_text("Assistant Hello, how can I help?")
    await voice_page.screenshot("48-one-use-link-ended-while-the-connection-was-lost")
    assert not [p for p in voice_page.problems if p.startswith("page error")]


# --- Back from another app ----------------------------------------------------------------------

# Keeps the page's AudioContexts where the test can reach them, and lets the test hide and show
# the page (headless Chromium's tabs are never hidden) as a phone does when another app comes
# to the front.
CONTEXTS_AND_VISIBILITY = """
window.audioContexts = [];
const PageAudioContext = window.AudioContext;
window.AudioContext = class extends PageAudioContext {
  constructor(...args) { super(...args); window.audioContexts.push(this); }
};
let visibility = "visible";
Object.defineProperty(Document.prototype, "visibilityState", { get: () => visibility });
Object.defineProperty(Document.prototype, "hidden", { get: () => visibility === "hidden" });
window.showPage = (shown) => {
  visibility = shown ? "visible" : "hidden";
  document.dispatchEvent(new Event("visibilitychange"));
};
"""


async def context_states(page: Page) -> list[str]:
    return list(await page.evaluate("window.audioContexts.map((context) => context.state)"))


async def suspended_as_a_phone_does(voice_page: VoicePage, *, hidden: bool) -> int:
    """Suspend the page's audio, `hidden` or not; the microphone frames sent so far."""
    page = voice_page.page
    if hidden:
        await page.evaluate("window.showPage(false)")
    await page.evaluate("Promise.all(window.audioContexts.map((context) => context.suspend()))")
    assert await context_states(page) == ["suspended", "suspended"]
    sent = int(await voice_page.debug(".mic.framesSent"))
    await asyncio.sleep(0.3)
    assert await context_states(page) == ["suspended", "suspended"]  # nothing resumes it yet
    return sent


ALL_RUNNING = "window.audioContexts.every((context) => context.state === 'running')"


async def test_audio_the_phone_stopped_while_the_page_was_hidden_comes_back_with_it(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """Asha switches to another app mid-call; her phone suspends the page's audio. Back on the
    page, nothing resumed it: the assistant could not hear her, nor she it."""
    page = voice_page.page
    await page.add_init_script(CONTEXTS_AND_VISIBILITY)
    await start_call(voice_page)
    assert await context_states(page) == ["running", "running"]

    sent = await suspended_as_a_phone_does(voice_page, hidden=True)
    await page.evaluate("window.showPage(true)")
    await voice_page.wait_for(ALL_RUNNING)
    await voice_page.wait_for(f"d.mic.framesSent > {sent + 10}")  # she is heard again

    # Where showing the page is not enough (Safari wants a gesture), her next touch is.
    sent = await suspended_as_a_phone_does(voice_page, hidden=False)
    await page.get_by_role("heading", name="Conversation").click()
    await voice_page.wait_for(ALL_RUNNING)
    await voice_page.wait_for(f"d.mic.framesSent > {sent + 10}")

    # Once the call is over, nothing is resumed: a closed call stays closed.
    await page.get_by_role("button", name="End call").click()
    await voice_page.wait_for(
        "window.audioContexts.every((context) => context.state === 'closed')")  # fmt: skip
    await page.get_by_role("heading", name="Conversation").click()
    await page.evaluate("window.showPage(true)")
    assert await context_states(page) == ["closed", "closed"]
    assert voice_page.problems == []
