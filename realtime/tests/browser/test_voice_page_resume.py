"""The voice page getting back to its call after its socket dropped, in real Chromium, through
a relay the test controls (conftest.Network), to a server that keeps the call for the page as
long as in production (VOICE_RESUME_GRACE_S, 30 s).

A module of its own, with that server its only one: every process on a database sweeps the
calls whose page has been away longer than its own grace period and whose carrier it does not
see alive (continuity/sweeper.py, continuity.calls.end_expired). test_voice_page.py's servers
keep a call 0.2 s, and each has a cache of its own, so the patient server looks dead to them:
one that had carried a call swept this module's calls as soon as their page was away, and
recorded them `caller_left` while they went on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from playwright.async_api import Page, expect

from realtime import tokens
from realtime.tests.browser.conftest import FakeAgent, Network, VoicePage, conversation
from realtime.tests.voice_harness import call_record, wait_until_ended
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer, server_environment

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),
]

BACK = "Back: the call resumed after a network blip."
# What the page says while a colleague is fetched to join the call (a warm escalation).
STAY = re.compile(
    r"We're asking a colleague to join this call\. Please stay on the line \(ticket TKT-\w+\)\."
)
# What the model heard or said is shown as it is: markup in it is text, not the page's.
HOSTILE_CAPTION = (
    "Your order ORD-1137 <img src=x onerror=\"document.title='pwned'\"><b>is late</b>."
)


@pytest.fixture(scope="module")
def voice_server(django_db_setup: Any, fake_agent: FakeAgent) -> Iterator[DaphneServer]:
    """The module's one server (conftest's `voice_page` opens it), keeping a call for a page
    that lost its socket 30 s: no server on the database gives the call up sooner."""
    env = {"VOICE_RESUME_GRACE_S": "30"}
    with DaphneServer(gemini_live_url=fake_agent.live.url, env=env) as server:
        server.start()
        yield server


async def ids_shown(page: Page) -> list[tuple[str, str, int]]:
    """The ids in the page's message and its conversation, in order: where, the id, and the
    lines it takes (one each: "TKT-" and "7UMD7U" on two lines read as two things)."""
    shown = await page.locator("#info .id, #captions .id").evaluate_all(
        """spans => spans.map((span) => [
            span.closest("#info, #captions").id, span.textContent, span.getClientRects().length,
        ])"""
    )
    return [(where, id_, lines) for where, id_, lines in shown]


async def still_open(call_id: str) -> bool:
    """Whether the call's record is open: nothing on the database ended it."""
    return (await call_record(call_id))["ended_at"] is None


async def test_a_page_that_loses_its_socket_gets_back_to_its_call_and_can_end_it_meanwhile(
    asha: Customer, voice_page: VoicePage
) -> None:
    # Asha came from the app, with a link good for one call.
    with override_settings(SECRET_KEY=server_environment()["SECRET_KEY"]):
        token = tokens.mint(101)
    page = voice_page.page
    async with Network(voice_page.server) as network:
        await page.goto(f"{network.url}/#token={token}")
        await page.get_by_role("button", name="Start call").click()
        await voice_page.wait_for("d.state === 'listening'")
        await voice_page.meter_moves()  # her voice
        # It tries to get back for as long as the server keeps the call (2 s less).
        assert await voice_page.debug(".reconnectGiveUpMs") == 28_000
        call_id = await voice_page.debug(".callId")
        text_box = page.get_by_label("Type a message")
        await text_box.fill("My biryani")

        # Through a tunnel: her typing waits (the box is off, the focus on End call).
        network.websockets_blocked = True
        network.drop_websockets()
        await voice_page.wait_for("d.state === 'reconnecting'")
        await expect(text_box).to_be_disabled()
        await expect(page.get_by_role("button", name="Send")).to_be_disabled()
        await expect(page.get_by_role("button", name="End call")).to_be_focused()
        await expect(
            page.get_by_role("status").filter(has_text="the call is still on")
        ).to_be_visible()
        # Nothing she says reaches anyone now: the meter stays still, as when she is muted.
        assert await voice_page.meter_levels() == [0] * 6
        await voice_page.screenshot("15-reconnecting")

        network.websockets_blocked = False
        back = page.get_by_role("status").filter(has_text=BACK)
        await expect(back).to_be_visible()
        await expect(text_box).to_be_enabled()
        await expect(text_box).to_be_focused()
        await expect(text_box).to_have_value("My biryani")
        await voice_page.meter_moves()  # heard again
        await voice_page.screenshot("16-back-after-a-blip")

        # In the tunnel again, she hangs up: the page gets back to the call to say so.
        network.websockets_blocked = True
        network.drop_websockets()
        await voice_page.wait_for("d.reconnects >= 4")  # the next try is a second away
        network.websockets_blocked = False
        assert await voice_page.debug(".state") == "reconnecting"
        await page.get_by_role("button", name="End call").click()
        ended = page.get_by_role("status").filter(has_text="You ended the call.")
        await expect(ended).to_contain_text("To call us again, open support in the app.")
        # Not left for the server's resume grace (30 s) and recorded as "left".
        assert (await wait_until_ended(call_id))["end_reason"] == "caller_hung_up"

    # Her link is used up: the page does not offer a call that could only be refused, and
    # the focus is on what it says instead of the button she can no longer press.
    await expect(page.get_by_role("button", name="Start call")).to_be_disabled()
    await expect(ended).to_be_focused()
    await expect(page.locator("#talking-to")).to_be_hidden()
    # Nor does the text box ask her to start a call: it said "Start a call to type.". The page
    # offers no typing at all, only the conversation of the call that ended.
    await expect(page.locator("#text-hint")).to_be_hidden()
    await expect(page.locator("#text-form")).to_be_hidden()
    await expect(page.locator(".lede")).not_to_contain_text("type", use_inner_text=True)
    await expect(conversation(page)).to_contain_text("The call resumed after a network blip.")
    await voice_page.screenshot("17-one-use-link-after-the-call")
    events = await voice_page.debug(".events")
    assert [e for e in events if "resume_token" in e] == []  # not kept where scripts can read it
    assert not [p for p in voice_page.problems if p.startswith("page error")]


async def test_a_try_to_get_back_that_hangs_is_given_up_and_made_again(
    asha: Customer, voice_page: VoicePage
) -> None:
    """Asha's socket drops and the page's first try to get back to her call hangs unanswered:
    the browser would wait on it for minutes, long after the server let the call go. The page
    gives that try up and makes another, which gets her back to the same call."""
    page = voice_page.page
    async with Network(voice_page.server) as tunnel:
        await page.goto(tunnel.url + "/")
        await page.get_by_role("button", name="Start call").click()
        await voice_page.wait_for("d.state === 'listening'")
        call_id = await voice_page.debug(".callId")

        tunnel.websockets_unanswered = True
        tunnel.drop_websockets()
        await voice_page.wait_for("d.state === 'reconnecting' && d.reconnects === 1")
        await page.wait_for_timeout(1000)  # the first try is under way, and hangs
        tunnel.websockets_unanswered = False

        back = page.get_by_role("status").filter(has_text=BACK)
        await expect(back).to_be_visible(timeout=15_000)
        assert await voice_page.debug(".callId") == call_id
        assert await voice_page.debug(".state") == "listening"
        assert await still_open(call_id)
        await page.get_by_role("button", name="End call").click()
        assert (await wait_until_ended(call_id))["end_reason"] == "caller_hung_up"
    assert not [p for p in voice_page.problems if p.startswith("page error")]


async def test_a_page_whose_device_goes_offline_says_so_and_is_back_once_it_is_online(
    asha: Customer, agent: FakeAgent, voice_page: VoicePage
) -> None:
    """Asha's phone loses its network mid-call (the browser says it is offline), while the
    assistant fetches a colleague to join her call. Its socket can look open for minutes while
    nothing gets through: the page said "Listening" to her and took what she typed as sent. It
    says the call is reconnecting, its meter still (nobody hears her), keeps her typing for
    later, and gets back to the same call as soon as the network is back, not after its
    backoff. The server says the escalation once: the page still asks her to stay on the line
    once back. Her ticket's id, which she may read out or note down, keeps to one line on a
    phone (not "ticket TKT-" over "7UMD7U"), as does an order's id in a caption, whose markup
    shows as text."""
    page = voice_page.page
    await voice_page.open()
    await page.get_by_role("button", name="Start call").click()
    await voice_page.wait_for("d.state === 'listening'")
    call_id = await voice_page.debug(".callId")
    session = await agent.session()
    await session.send_tool_call([{"name": "escalate_to_human", "args": {"reason": "a person"}}])
    await session.wait_for_tool_response()
    status = page.get_by_role("status").and_(page.locator("#info"))
    await expect(status).to_have_text(STAY)
    [ticket] = re.findall(r"TKT-\w+", await status.inner_text())
    # The assistant's caption, in fragments, holds an order's id and markup.
    await session.send_transcript("agent", "Your order ")
    await session.send_transcript("agent", HOSTILE_CAPTION.removeprefix("Your order "))
    partial = page.locator("#captions .line--agent.partial .text")
    await expect(partial).to_have_text(HOSTILE_CAPTION)
    await expect(partial.locator(".id")).to_have_text("ORD-1137")
    await session.send_transcript("agent", "", finished=True)
    said = conversation(page).locator(".line--agent .text")
    await expect(said).to_have_text(HOSTILE_CAPTION)
    # Its markup is text: the one element in it is the id's span.
    assert await said.evaluate("text => [...text.querySelectorAll('*')].map(e => e.outerHTML)") == [
        '<span class="id">ORD-1137</span>'
    ]
    text_box = page.get_by_label("Type a message")
    await text_box.fill("My biryani")

    await page.context.set_offline(True)
    await voice_page.wait_for("d.state === 'reconnecting'")
    await expect(status).to_have_text(
        "Your device lost its internet connection. "
        "Reconnecting… the call is still on, hold on a moment."
    )
    await expect(text_box).to_be_disabled()
    await expect(text_box).to_have_value("My biryani")
    assert await voice_page.meter_levels() == [0] * 6
    await voice_page.screenshot("50-offline")
    # Offline, each try fails at once, and the next waits longer: by the fifth, 4 s.
    await voice_page.wait_for("d.reconnects >= 5")
    assert await still_open(call_id)

    await page.context.set_offline(False)
    back = page.get_by_role("status").filter(has_text=BACK)
    await expect(back).to_be_visible(timeout=3000)  # before the next try was due, 4 s on
    # Nobody has joined yet: she is still asked to stay on the line, with her ticket.
    await expect(back).to_have_text(re.compile(re.escape(BACK) + " " + STAY.pattern))
    await expect(text_box).to_be_enabled()
    await expect(text_box).to_have_value("My biryani")
    assert await voice_page.debug(".callId") == call_id
    assert len(agent.live.sessions) == agent.sessions_before + 1  # the same assistant's session
    await voice_page.screenshot("51-back-online")
    # The ticket's id keeps to one line at every phone width down to 320 px, in what the page
    # says and in the conversation, as does the order's: a hyphen is no place to cut an id.
    for width in range(390, 319, -5):
        await page.set_viewport_size({"width": width, "height": 844})
        assert await ids_shown(page) == [
            ("info", ticket, 1),
            ("captions", ticket, 1),
            ("captions", "ORD-1137", 1),
        ], f"at {width} px"
    await voice_page.screenshot("55-ids-whole-on-a-narrow-phone")
    assert await page.title() == "Talk to support"  # the caption's onerror never ran
    await expect(status).to_have_text(STAY, timeout=10_000)  # once the news of the blip is read
    await page.get_by_role("button", name="End call").click()
    assert (await wait_until_ended(call_id))["end_reason"] == "caller_hung_up"
    assert not [p for p in voice_page.problems if p.startswith("page error")]


async def test_a_microphone_that_stopped_is_still_said_after_a_network_blip(
    asha: Customer, voice_page: VoicePage
) -> None:
    """Asha had muted herself when her microphone stops, then her network blips. Back on the
    call, the page said only "Microphone off", without why or what she could do: the words of
    the alert it replaced come back once the news of the blip has been read. The mute button,
    with nothing left to mute, is off and reads "Mute": it read "Unmute", an offer the page
    could not keep."""
    page = voice_page.page
    async with Network(voice_page.server) as network:
        await page.goto(network.url + "/")
        await page.get_by_role("button", name="Start call").click()
        await voice_page.wait_for("d.state === 'listening'")
        await page.get_by_role("button", name="Mute").click()
        await expect(page.get_by_role("button", name="Unmute")).to_be_enabled()
        await page.context.clear_permissions()
        alert = page.get_by_role("alert")
        await expect(alert).to_contain_text("Your microphone stopped")
        mute = page.locator("#mute-button")
        await expect(mute).to_have_text("Mute")
        await expect(mute).to_be_disabled()
        await expect(mute).not_to_have_class(re.compile(r"is-active"))

        network.drop_websockets()
        await expect(page.get_by_role("status").filter(has_text=BACK)).to_be_visible()
        await expect(page.locator("#state-text")).to_have_text("Microphone off")
        await expect(alert).to_contain_text("Your microphone stopped", timeout=10_000)
        await expect(alert).to_contain_text("Type below, or end the call")
        await expect(mute).to_have_text("Mute")
        await expect(mute).to_be_disabled()
        await voice_page.screenshot("52-microphone-still-off-after-a-blip")
        await page.get_by_role("button", name="End call").click()
        await voice_page.wait_for("d.state === 'ended'")
    assert not [p for p in voice_page.problems if p.startswith("page error")]
