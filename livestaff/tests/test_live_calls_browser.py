"""Staff on a live call in real Chromium, three people at once, over a real daphne and the fake
Live API (contract section 8).

Asha calls from her phone's browser, whose microphone plays a 440 Hz tone; the fake agent
hears her and escalates. Arjun, a support lead whose microphone plays 1000 Hz, watches
/staff/live/: the call appears with "Join call" and its briefing (so does the queue). He joins,
listens (he hears 440 Hz), takes over (Asha's page says who she is talking to and plays
1000 Hz), whispers, and hands back with a note; Kavya, another lead, opens the same call
meanwhile and is told Arjun holds it (and offered to hand it back for him). Pitches are
checked in what each page's player received (`liveCallDebug.recent`,
`voiceDebug.recentAudio`).

    Chromium (Asha, 440 Hz) ──▶ daphne ──▶ FakeLiveServer (this loop)
    Chromium (Arjun 1000 Hz, Kavya) ──┘

Screenshots of every page and state, at 1280 and 390 px, go to test-artifacts/livestaff/.

The daphne, the fake Live API and the two Chromiums are the module's (starting them took seconds
a test); each test's people leave with it, their calls ended, before the next one's data.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import wave
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    WebSocketRoute,
    expect,
)

from livestaff.presenting import with_now
from livestaff.tests.conftest import AGENT, LEAD
from realtime.tests.browser.conftest import FAKE_MICROPHONE_ARGS
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from support.models import Customer, Order, OrderItem
from support.mongo import sync_db
from voiceproject.tests.chromium import RECORD_WHAT_IS_SAID, launched_chromium
from voiceproject.tests.live_server import BASE_DIR, DaphneServer, server_environment
from voiceproject.tests.signals import dominant_hz, tone_pcm

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),  # the server, the fake and Chromium are the module's
]

EXPECT_TIMEOUT_MS = 15_000  # a separate server on a busy 2-core machine

ARTIFACTS = BASE_DIR / "test-artifacts" / "livestaff"
DESK, PHONE = 1280, 390
CUSTOMER_HZ, STAFF_HZ = 440.0, 1000.0
WAIT_S = 20.0


def tone_wav(path: Path, hz: float, seconds: float = 4.0, rate: int = 48_000) -> Path:
    """A continuous tone (Chromium loops the file: a whole number of periods, no click)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(tone_pcm(hz, seconds, rate, amplitude=0.5 * 32767))
    return path


async def shots(page: Page, name: str, widths: tuple[int, ...] = (DESK, PHONE)) -> None:
    """Full-page screenshots at each width, then back to the first."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # The tab photographed is the one in front, as a person would look at it: Chromium does
    # not paint a tab behind another (Kavya's call view behind her live calls board), and a
    # screenshot of one waited seconds for a frame.
    await page.bring_to_front()
    for width in widths:
        await page.set_viewport_size({"width": width, "height": 800 if width == DESK else 844})
        await page.screenshot(path=ARTIFACTS / f"{name}-{width}.png", full_page=True)
    await page.set_viewport_size({"width": widths[0], "height": 800 if widths[0] == DESK else 844})


async def until(page: Page, expression: str, timeout: float = WAIT_S) -> None:
    """Until `expression` (JavaScript) is true on the page; a function, not eval (the CSP)."""
    await page.wait_for_function(f"() => {expression}", timeout=timeout * 1000)


@pytest.fixture(scope="module")
def a_file_imported_after_this_one() -> None:
    """Playwright's `expect` as a test file imported after this one leaves it (before any test
    of this file runs: a fixture of the module's is set up before each test's own)."""
    expect.set_options(timeout=10_000)


async def test_each_expect_here_waits_as_long_as_this_file_says(
    a_file_imported_after_this_one: None,
) -> None:
    assert expect._timeout == EXPECT_TIMEOUT_MS  # where Playwright keeps it (no public reader)


# --- people ------------------------------------------------------------------------------------


def _staff(username: str, first: str, group: Group) -> str:
    user = User.objects.create_user(username, is_staff=True, first_name=first, last_name="Mehta")
    user.groups.add(group)
    client = Client()
    client.force_login(user)  # sessions are in the database: daphne reads this one too
    return str(client.cookies["sessionid"].value)


@pytest.fixture
def asha(db: Any) -> Customer:  # noqa: F811  (this file's own Asha)
    asha = Customer.objects.create(user_id=101, name="Asha Verma", phone="+919800000101")
    Order.objects.create(
        order_id="ORD-1001", customer=asha, restaurant="Biryani Blues", status="delivered",
        items=[OrderItem(name="Chicken Biryani", qty=1, price=33_750)], amount=33_750,
        placed_at=timezone.now() - timedelta(hours=1),
        delivered_at=timezone.now() - timedelta(minutes=30),
    )  # fmt: skip
    return asha


@pytest.fixture
def cookies(groups: dict[str, Group], settings: Any) -> dict[str, str]:
    settings.SECRET_KEY = server_environment()["SECRET_KEY"]  # the server checks the session
    return {"arjun": _staff("arjun", "Arjun", groups[LEAD]),
            "kavya": _staff("kavya", "Kavya", groups[LEAD]),
            "meera": _staff("meera", "Meera", groups[AGENT])}  # fmt: skip


# --- the servers and browsers ------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake_agent() -> AsyncIterator[FakeLiveServer]:
    async with FakeLiveServer() as live:

        @live.on_session
        async def escalate_when_asha_speaks(session: FakeSession) -> None:
            await session.wait_for_audio(seconds=0.3, timeout=WAIT_S)
            await session.send_transcript("user", "I want to talk to a person.", finished=True)
            await session.send_tool_call([{"name": "escalate_to_human", "args": {
                "reason": "Biryani arrived cold; wants a person", "priority": "high",
                "order_id": "ORD-1001"}}])  # fmt: skip
            await session.wait_for_tool_response(timeout=WAIT_S)
            await asyncio.sleep(0.05)  # apart from the ticket in the record, as a model would be
            await session.send_transcript("agent", "I'm fetching a colleague for you now.",
                                          finished=True)  # fmt: skip

        yield live


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(django_db_setup: Any, fake_agent: FakeLiveServer) -> AsyncIterator[DaphneServer]:
    # The fake agent hears Asha speak once; no model transcribes her after that, so the call
    # would take her for silent, check on her, and end after half a minute of that, which a
    # busy machine reaches before Arjun takes the call over.
    idle_never = {"VOICE_IDLE_PROMPT_S": "600"}
    with DaphneServer(gemini_live_url=fake_agent.url, env=idle_never) as server:
        await asyncio.to_thread(server.start)
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromiums(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Browser, Browser]]:
    """Two Chromiums: a microphone is per browser, and each side has its own pitch."""
    microphones = tmp_path_factory.mktemp("microphones")
    customer_mic = tone_wav(microphones / "customer.wav", CUSTOMER_HZ)
    staff_mic = tone_wav(microphones / "staff.wav", STAFF_HZ)
    async with AsyncExitStack() as stack:
        customer, staff = await asyncio.gather(*(
            stack.enter_async_context(launched_chromium(
                [*FAKE_MICROPHONE_ARGS, f"--use-file-for-fake-audio-capture={wav}"]))
            for wav in (customer_mic, staff_mic)
        ))  # fmt: skip
        yield customer, staff


@pytest_asyncio.fixture(loop_scope="module")
async def browsers(
    chromiums: tuple[Browser, Browser], server: DaphneServer
) -> AsyncIterator[tuple[Browser, Browser]]:
    """The module's Chromiums (the customer's, the staff's) for one test, whose pages all close
    after it. Before they do, shown by pytest when the test failed: daphne's output meanwhile
    and what each live call view knew."""
    output_before = len(server.output())
    yield chromiums
    print("daphne:", server.output()[output_before:], sep="\n")
    for context in chromiums[1].contexts:
        for page in context.pages:
            print(f"live call view at {page.url}:", await debug_of(page))
    for browser in chromiums:
        for context in list(browser.contexts):
            await context.close()


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def everyone_leaves(fake_agent: FakeLiveServer) -> AsyncIterator[None]:
    """After each test (its pages closed), its calls end before the database is put back for
    the next one: a call still open would be in the next test's records, and count against
    Asha's calls. A failing script of the fake's is this test's, not the module's last."""
    errors_before = len(fake_agent.script_errors)
    yield
    await asyncio.to_thread(_until_no_call_is_open)
    errors = fake_agent.script_errors[errors_before:]
    if errors:
        raise errors[0]


def _until_no_call_is_open(timeout: float = WAIT_S) -> None:
    """Until every call's record says it ended (its caller's page gone, the grace period
    VOICE_RESUME_GRACE_S over)."""
    deadline = time.monotonic() + timeout
    while sync_db().calls.count_documents({"ended_at": None}):
        if time.monotonic() > deadline:
            raise AssertionError(f"calls still open {timeout:.0f} s after their pages closed")
        time.sleep(0.05)


async def person(
    browser: Browser, server: DaphneServer, width: int, problems: list[str], cookie: str = ""
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        viewport={"width": width, "height": 800 if width == DESK else 844},
        permissions=["microphone"],
    )
    if cookie:
        await context.add_cookies([{"name": "sessionid", "value": cookie, "url": server.url}])
    page = await context.new_page()
    watch(page, problems)
    return context, page


def watch(page: Page, problems: list[str]) -> None:
    """Console errors, uncaught exceptions and failed requests (the admin frame has no
    favicon: that one 404 is Chromium asking, not the page)."""

    def on_response(response: Response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            problems.append(f"{response.status} {response.url}")

    def on_console(message: ConsoleMessage) -> None:
        # A failed request is reported by on_response, with its address.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console error: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("response", on_response)


# --- the test ----------------------------------------------------------------------------------


async def test_a_lead_joins_an_escalated_call_takes_it_over_and_hands_it_back(
    asha: Customer,
    cookies: dict[str, str],
    fake_agent: FakeLiveServer,
    server: DaphneServer,
    browsers: tuple[Browser, Browser],
) -> None:
    customer_browser, staff_browser = browsers
    problems: list[str] = []
    _, customer = await person(customer_browser, server, PHONE, problems)
    arjuns, arjun = await person(staff_browser, server, DESK, problems, cookies["arjun"])
    kavyas, kavya = await person(staff_browser, server, DESK, problems, cookies["kavya"])
    board = await kavyas.new_page()  # Kavya keeps the live calls page open in another tab
    watch(board, problems)
    # Nobody is calling yet.
    await arjun.goto(server.url + "/staff/live/")
    await expect(arjun.get_by_text("No calls in progress right now.")).to_be_visible()
    await expect(arjun.get_by_text("Live: calls appear")).to_be_visible()
    await shots(arjun, "01-live-calls-empty")
    # Kavya has the queue open from before the call.
    await kavya.goto(server.url + "/staff/queue/")
    await expect(kavya.get_by_text("Live: tickets appear")).to_be_visible()

    # Asha calls; the agent hears her and escalates.
    await calls_and_is_escalated(customer, server)
    session = fake_agent.session

    # Arjun's live page shows the call as it happens, with Join call and the briefing.
    row = arjun.locator("tr[data-call]")
    await expect(row).to_contain_text("Asha Verma")
    await expect(row.get_by_role("link", name="Join call")).to_be_visible()
    await expect(row).to_contain_text("Biryani arrived cold; wants a person")
    await expect(row).to_contain_text("ORD-1001")
    await row.get_by_text("What the agent did").click()
    await expect(row).to_contain_text("Escalated to a person (High) about ORD-1001")
    await until(arjun, "/^0:0[1-9]|^0:[1-5]/.test("
                       "document.querySelector('[data-duration]').textContent)")
    await shots(arjun, "02-live-calls-escalated")

    # The queue, open all along, offers the same. It fetched the ticket as it opened,
    # before the call's record said what the agent did: it catches up.
    ticket_row = kavya.locator("tr[data-ticket]")
    await expect(ticket_row.get_by_role("link", name="Join call")).to_be_visible()
    await expect(ticket_row).to_contain_text("On the call now, waiting for a colleague.")
    await expect(ticket_row.locator(".briefing-actions")).to_contain_text(
        "Escalated to a person (High) about ORD-1001")  # fmt: skip
    await ticket_row.get_by_text("What the agent did").click()
    await shots(kavya, "03-queue-join-call")

    # An agent (who may listen and whisper, not take over) is offered to listen in.
    _, meera = await person(staff_browser, server, DESK, problems, cookies["meera"])
    await meera.goto(server.url + "/staff/queue/")
    await expect(meera.get_by_role("link", name="Join call")).to_be_hidden()
    await expect(meera.get_by_text("Live: tickets appear")).to_be_visible()
    await shots(meera, "03b-queue-listen-in-for-an-agent")
    await meera.get_by_role("link", name="Listen in").click()
    await expect(meera.get_by_role("heading", name="Live call with Asha Verma")).to_be_visible()
    await expect(meera.get_by_role("button", name="Listen")).to_be_enabled()
    await expect(meera.get_by_role("button", name="Take over")).to_have_count(0)
    await shots(meera, "03c-live-call-for-an-agent")
    await meera.close()

    # Arjun joins: the conversation so far, with the agent's escalation as on the call page.
    await row.get_by_role("link", name="Join call").click()
    await expect(arjun.get_by_role("heading", name="Live call with Asha Verma")).to_be_visible()
    conversation = arjun.locator("ol.conversation")
    await expect(conversation).to_contain_text("I want to talk to a person.")
    await expect(conversation).to_contain_text("Escalated to a person (High) about ORD-1001")
    # As the live calls page says it (one wording: livestaff/presenting.py with_now).
    await expect(arjun.locator("span[data-mode]")).to_have_text("Waiting for a colleague")

    # Listen: Asha's 440 Hz reaches Arjun's customer player, and the meter moves.
    await arjun.get_by_role("button", name="Listen").click()
    await until(arjun, "window.liveCallDebug.recent('C').length >= 4096")
    heard = await arjun.evaluate("() => window.liveCallDebug.recent('C')")
    assert dominant_hz(heard, 16_000) == pytest.approx(CUSTOMER_HZ, abs=15)
    meter = arjun.get_by_role("meter", name="Customer's level")
    await until(arjun, "Number(document.querySelector('[data-meter=C]')"
                       ".getAttribute('aria-valuenow')) > 30")
    await expect(meter).to_be_visible()
    await expect(arjun.get_by_text("Listening: you")).to_be_visible()
    await shots(arjun, "04-live-call-listening")

    # Whisper: the agent gets it as context; it shows in Arjun's view.
    await arjun.get_by_label("Whisper to the agent").fill("Offer her a full refund.")
    await arjun.get_by_role("button", name="Whisper").click()
    assert "Offer her a full refund." in await note_with(session, "Offer her a full refund.")
    await expect(conversation.locator("li.whisper")).to_contain_text(
        "You: Offer her a full refund.")  # fmt: skip

    await board.goto(server.url + "/staff/live/")
    await expect(board.locator("tr[data-call]")).to_contain_text("Waiting for a colleague")

    # A second lead has the call open as Arjun takes it over.
    await kavya.goto(server.url + arjun.url.removeprefix(server.url))
    await expect(kavya.locator("span[data-mode]")).to_have_text("Waiting for a colleague")
    # Take over: Asha is told who she is talking to and hears Arjun's 1000 Hz.
    await arjun.get_by_role("button", name="Take over").click()
    await expect(arjun.get_by_text("You are talking to Asha")).to_be_visible()
    await expect(arjun.get_by_text("You took over the call.")).to_be_visible()  # his own
    await expect(customer.get_by_text("You're talking to Arjun, a person from our support team.")
                 ).to_be_visible()  # fmt: skip
    await until(customer, "window.voiceDebug.recentAudio && "
                          "window.voiceDebug.recentAudio().length >= 4096")
    received = await customer.evaluate("() => window.voiceDebug.recentAudio()")
    assert dominant_hz(received, 24_000) == pytest.approx(STAFF_HZ, abs=15)
    await until(customer, "window.voiceDebug.player.played > 4800")  # and it played
    # Arjun still hears Asha, at her pitch, while he talks.
    heard = await arjun.evaluate("() => window.liveCallDebug.recent('C')")
    assert dominant_hz(heard, 16_000) == pytest.approx(CUSTOMER_HZ, abs=15)
    await shots(arjun, "05-live-call-taken-over")
    await shots(customer, "06-customer-talking-to-arjun", widths=(PHONE, DESK))

    # The second lead is told who took the call, as colleagues know him, and who holds it.
    await expect(kavya.get_by_text("Arjun Mehta took over the call.")).to_be_visible()
    await expect(kavya.get_by_text("Arjun Mehta holds this call.")).to_be_visible()
    await expect(kavya.get_by_role("button", name="Take over")).to_be_disabled()
    # She may still whisper: the agent, off the call meanwhile, reads it after the hand-back.
    await expect(kavya.get_by_label("Whisper to the agent")).to_be_enabled()
    await expect(kavya.locator("[data-whisper] label")).to_contain_text(
        "the agent reads it when Arjun Mehta hands the call back")  # fmt: skip
    await expect(arjun.locator("[data-whisper] label")).to_contain_text(
        "the agent reads it when you hand the call back")  # fmt: skip
    # Should Arjun be unable to carry on, she can hand the call back for him.
    await expect(kavya.get_by_label("If Arjun Mehta cannot carry on, hand the call back "
                                    "to the agent with a note")).to_be_visible()  # fmt: skip
    await expect(kavya.get_by_role("button", name="Hand back for Arjun Mehta")).to_be_visible()
    await shots(kavya, "07-live-call-held-by-another")

    # Arjun opens the call in another tab: it says he talks from the first one, and
    # offers to take the call over in this one.
    second_tab = await arjuns.new_page()
    watch(second_tab, problems)
    await second_tab.goto(arjun.url)
    await expect(second_tab.get_by_text("You are talking to Asha from another tab")
                 ).to_be_visible()  # fmt: skip
    await expect(second_tab.get_by_role("button", name="Take over here")).to_be_enabled()
    # He listens there, not in this tab (which offers Listen in).
    await expect(second_tab.locator("[data-staff]")).to_have_text(
        "Held by you · Listening: you (in another tab)")  # fmt: skip
    await shots(second_tab, "07b-live-call-held-from-another-tab")
    # He talks from the second tab for a moment, then takes the call back to the first.
    await second_tab.get_by_role("button", name="Take over here").click()
    await expect(second_tab.get_by_text("You are talking to Asha", exact=True)).to_be_visible()
    await expect(second_tab.locator("[data-staff]")).to_have_text("Held by you · Listening: you")
    await expect(arjun.get_by_text("You are talking to Asha from another tab")).to_be_visible()
    await until(second_tab, "window.liveCallDebug.mic.framesSent > 10")
    sent = await arjun.evaluate("() => window.liveCallDebug.mic.framesSent")  # it stopped
    await arjun.get_by_role("button", name="Take over here").click()
    await expect(arjun.get_by_text("You are talking to Asha", exact=True)).to_be_visible()
    await expect(second_tab.get_by_role("button", name="Take over here")).to_be_enabled()
    await second_tab.close()
    await until(arjun, f"window.liveCallDebug.mic.framesSent > {sent + 10}")
    await expect(arjun.get_by_text("You are talking to Asha", exact=True)).to_be_visible()

    # Hand back with a note: the agent gets the note; Asha is back with the assistant.
    await arjun.get_by_label("Note for the agent when you hand back").fill(
        "Refunded in full; confirm and close.")  # fmt: skip
    await arjun.get_by_role("button", name="Hand back").click()
    assert "Refunded in full" in await note_with(session, "Refunded in full")
    await expect(customer.get_by_text("You're back with the AI assistant.")).to_be_visible()
    await expect(customer.locator("#talking-to")).to_be_hidden()
    await expect(customer.get_by_role("list", name="Conversation")).to_contain_text(
        "Arjun handed you back to the AI assistant.")  # fmt: skip
    await expect(arjun.locator("#live-call")).to_have_attribute("data-mode", "agent")
    await expect(arjun.locator("span[data-mode]")).not_to_contain_text("talking")
    # As the call's record words it: who handed back, and the note they left the agent.
    await expect(conversation).to_contain_text(
        "You handed back to the agent: Refunded in full; confirm and close.")  # fmt: skip
    # The briefings still say a colleague joined: Asha met one (his own view says "You").
    await expect(arjun.locator(".briefing")).to_contain_text("You joined the call")
    await expect(arjun.get_by_text("Waiting for a colleague")).to_be_hidden()
    on_board = board.locator("tr[data-call]")
    await expect(on_board).not_to_contain_text("Held by")  # the hand-back arrived
    await expect(on_board).to_contain_text("Arjun Mehta joined the call")
    await expect(on_board.get_by_text("Waiting for a colleague")).to_be_hidden()
    await shots(board, "08-live-calls-joined")
    await shots(arjun, "08-live-call-handed-back")
    await shots(customer, "09-customer-back-with-the-assistant", widths=(PHONE, DESK))

    # The ticket went to Arjun when he took the call over (from the open queue to the
    # claimed one), and the queue says he joined.
    await kavya.goto(server.url + "/staff/queue/claimed/")
    ticket_row = kavya.locator("tr[data-ticket]")
    await expect(ticket_row).to_contain_text("On the call now, Arjun Mehta joined it.")
    await expect(ticket_row.locator("td[data-label=Assignee]")).to_have_text("Arjun Mehta")
    await expect(kavya.locator("[data-live-status]")).to_contain_text("Live:")
    await shots(kavya, "10-queue-joined-and-claimed")

    # Asha hangs up: Arjun's view says so, and the call leaves the live page.
    await hangs_up(customer, arjun)
    await expect(arjun.get_by_role("link", name="See its record")).to_be_visible()
    await expect(arjun.get_by_role("button", name="Listen")).to_be_hidden()
    ended_heading = arjun.get_by_role("heading", name="Call with Asha Verma (ended)")
    await expect(ended_heading).to_be_visible()
    assert (await arjun.title()).startswith("Call with Asha Verma (ended) |")
    await shots(arjun, "11-live-call-ended")
    await kavya.goto(server.url + "/staff/live/")
    await expect(kavya.get_by_text("No calls in progress right now.")).to_be_visible()
    assert problems == []


async def hangs_up(customer: Page, staff: Page) -> None:
    """The customer ends the call from the voice page; the staff's live call view says so."""
    await customer.get_by_role("button", name="End call").click()
    await expect(staff.get_by_text("This call has ended.")).to_be_visible()


async def debug_of(page: Page) -> str:
    """What a live call view knows (`window.liveCallDebug`): its last state and events, its
    microphone, whether its socket is up; for a failed test to say where it stood."""
    try:
        return str(await page.evaluate("""() => JSON.stringify(window.liveCallDebug && {
            ...window.liveCallDebug, events: window.liveCallDebug.events.slice(-30)})"""))
    except Exception as error:  # closed, or another page
        return repr(error)


async def test_a_line_said_as_the_live_view_opens_is_shown_once_in_its_place(
    asha: Customer,
    cookies: dict[str, str],
    fake_agent: FakeLiveServer,
    server: DaphneServer,
    browsers: tuple[Browser, Browser],
) -> None:
    problems: list[str] = []
    customer, arjun, call_id, said_at = await an_escalated_call(
        browsers, server, problems, cookies["arjun"])  # fmt: skip

    # The page is painted from the record as it was just before the agent's last line
    # (as if the line came while the page loaded): its socket must bring the line. The
    # painting is wound back once the page is parsed, before its scripts run.
    since = (said_at - timedelta(microseconds=1)).isoformat()
    await arjun.add_init_script(script=WIND_BACK % {"since": since,
                                                    "words": "fetching a colleague"})
    await arjun.goto(f"{server.url}/staff/live/{call_id}/")
    conversation = arjun.locator("ol.conversation")
    line = conversation.get_by_text("I'm fetching a colleague for you now.")
    await expect(line).to_have_count(1)
    classes = await conversation.locator("li").evaluate_all(
        "items => items.map(item => item.className)")  # fmt: skip
    assert classes.index("turn agent") > classes.index("tool ok")  # after the escalation
    await arjun.wait_for_timeout(500)  # nothing else arrives twice
    await expect(line).to_have_count(1)
    await expect(conversation.locator("li.tool")).to_have_count(1)
    await shots(arjun, "13-live-call-caught-up", widths=(DESK,))
    await hangs_up(customer, arjun)
    assert problems == []


# The microphone opens only when the test says (`window.openMicrophone()`), as a busy machine
# may take seconds to open one.
SLOW_MICROPHONE = """
const gate = new Promise((open) => { window.openMicrophone = open; });
const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (constraints) => {
  await gate;
  return getUserMedia(constraints);
};
"""


class Blips:
    """A live call view's sockets, each through the test to the server (`route_web_socket`),
    whose server may go away (`blip`). What the page sends on a socket whose server is `going`
    reaches nobody: sent as its server went, before the page saw its socket close."""

    def __init__(self) -> None:
        self.sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []  # (page's, server's)
        self.lost: list[str] = []  # what the page sent that reached nobody
        self._going: WebSocketRoute | None = None

    def __call__(self, socket: WebSocketRoute) -> None:
        to_server = socket.connect_to_server()
        self.sockets.append((socket, to_server))

        def from_page(message: str | bytes) -> None:
            if socket is self._going:
                self.lost.append(message if isinstance(message, str) else "(audio)")
            else:
                to_server.send(message)

        socket.on_message(from_page)

    def going(self) -> None:
        self._going = self.sockets[-1][0]

    async def blip(self) -> None:
        """The page's socket closes as when its server went away (1011), and the server's side
        of it closes too: its consumer leaves the call as a page gone does. (Playwright would
        pass 1011 on to the server's side, which a browser's socket may not send: it would stay
        open, listening, its audio crossing this test's process for the rest of the call.)"""
        page_side, server_side = self.sockets[-1]
        await page_side.close(code=1011)
        await server_side.close(code=1000)


async def test_a_take_over_whose_socket_blips_while_the_microphone_opens_goes_through(
    asha: Customer,
    cookies: dict[str, str],
    fake_agent: FakeLiveServer,
    server: DaphneServer,
    browsers: tuple[Browser, Browser],
) -> None:
    """The page asks to take the call over once its microphone is open; should its socket be
    down at that moment (a blip; it reconnects within a second), the request is sent when the
    socket is back, not lost with the lead left holding a microphone and a disabled button."""
    problems: list[str] = []
    sockets = Blips()
    customer, arjun, call_id, _ = await an_escalated_call(
        browsers, server, problems, cookies["arjun"])  # fmt: skip
    await arjun.add_init_script(script=SLOW_MICROPHONE)
    await arjun.route_web_socket(re.compile(r"/ws/staff/calls/"), sockets)
    await arjun.goto(f"{server.url}/staff/live/{call_id}/")
    await expect(arjun.locator("span[data-mode]")).to_have_text("Waiting for a colleague")

    await arjun.get_by_role("button", name="Take over").click()
    await sockets.blip()
    await until(arjun, "window.liveCallDebug.connected === false")
    await arjun.evaluate("window.openMicrophone()")

    await expect(arjun.get_by_text("You are talking to Asha", exact=True)).to_be_visible()
    await expect(customer.get_by_text("You're talking to Arjun, a person from our support team.")
                 ).to_be_visible()  # fmt: skip
    await until(arjun, "window.liveCallDebug.mic.framesSent > 10")
    assert len(sockets.sockets) == 2
    await hangs_up(customer, arjun)
    assert problems == []


async def test_a_take_over_sent_as_the_socket_s_server_went_is_asked_again_once_back(
    asha: Customer,
    cookies: dict[str, str],
    fake_agent: FakeLiveServer,
    server: DaphneServer,
    browsers: tuple[Browser, Browser],
) -> None:
    """The microphone opens while the socket still looks open, its server already gone: the
    take-over sent on it reaches nobody. It is asked again once the socket is back; it was
    left unanswered, the lead with an open microphone, a disabled button and the agent still
    talking to the customer."""
    problems: list[str] = []
    sockets = Blips()
    customer, arjun, call_id, _ = await an_escalated_call(
        browsers, server, problems, cookies["arjun"])  # fmt: skip
    await arjun.add_init_script(script=SLOW_MICROPHONE)
    await arjun.route_web_socket(re.compile(r"/ws/staff/calls/"), sockets)
    await arjun.goto(f"{server.url}/staff/live/{call_id}/")
    await expect(arjun.locator("span[data-mode]")).to_have_text("Waiting for a colleague")

    await arjun.get_by_role("button", name="Take over").click()
    sockets.going()
    await arjun.evaluate("window.openMicrophone()")
    async with asyncio.timeout(WAIT_S):  # the microphone is open: the take-over sent
        while '{"type":"take_over"}' not in sockets.lost:
            await asyncio.sleep(0.05)
    await sockets.blip()

    await expect(arjun.get_by_text("You are talking to Asha", exact=True)).to_be_visible()
    await expect(customer.get_by_text("You're talking to Arjun, a person from our support team.")
                 ).to_be_visible()  # fmt: skip
    await until(arjun, "window.liveCallDebug.mic.framesSent > 10")
    await shots(arjun, "34-live-call-take-over-asked-again-after-a-blip", widths=(DESK,))
    await hangs_up(customer, arjun)
    assert problems == []


async def test_a_live_view_open_on_an_escalation_says_so_when_its_ticket_is_resolved(
    asha: Customer,
    cookies: dict[str, str],
    fake_agent: FakeLiveServer,
    server: DaphneServer,
    browsers: tuple[Browser, Browser],
) -> None:
    problems: list[str] = []
    customer, arjun, call_id, _ = await an_escalated_call(
        browsers, server, problems, cookies["arjun"])  # fmt: skip
    await arjun.goto(f"{server.url}/staff/live/{call_id}/")
    briefing = arjun.locator("[data-briefing]")
    await expect(briefing).to_contain_text("Waiting for a colleague")

    # Kavya resolves the ticket (sorted another way) while Arjun watches.
    ticket = await asyncio.to_thread(
        lambda: sync_db().escalations.find_one({"call_id": call_id})
    )
    assert ticket is not None
    _, kavya = await person(browsers[1], server, DESK, problems, cookies["kavya"])
    await kavya.goto(f"{server.url}/staff/tickets/{ticket['ticket_id']}/")
    await kavya.get_by_label("Resolution note").fill("Refunded by phone already.")
    await kavya.get_by_role("button", name="Resolve").click()
    await expect(kavya.get_by_text("resolved", exact=False).first).to_be_visible()

    await expect(briefing).to_contain_text("Ticket resolved: nobody needs to join")
    await expect(briefing.get_by_text("Waiting for a colleague")).to_be_hidden()
    await shots(arjun, "14-live-call-ticket-resolved", widths=(DESK,))
    await hangs_up(customer, arjun)
    assert problems == []


async def test_an_escalated_call_reads_as_escalated_whatever_order_its_news_comes_in(
    asha: Customer,
    cookies: dict[str, str],
    fake_agent: FakeLiveServer,
    server: DaphneServer,
    browsers: tuple[Browser, Browser],
) -> None:
    """A busy server can bring a call's news late and out of order: the first the live calls
    page hears of Asha's call may be its escalation, and older news may follow. The page holds
    the server's news here and hands it over in that order."""
    problems: list[str] = []
    _, customer = await person(browsers[0], server, PHONE, problems)
    _, arjun = await person(browsers[1], server, DESK, problems, cookies["arjun"])
    sockets: list[WebSocketRoute] = []
    held: list[dict[str, Any]] = []  # the calls' news, as the server sent it

    def hold(socket: WebSocketRoute) -> None:
        sockets.append(socket)
        socket.connect_to_server().on_message(lambda message: held.append(json.loads(message)))

    def tell(call: dict[str, Any]) -> None:
        sockets[-1].send(json.dumps({"type": "call", "call": call}))

    await arjun.route_web_socket(re.compile(r"/ws/staff/live$"), hold)
    await arjun.goto(server.url + "/staff/live/")
    await expect(arjun.get_by_text("Live: calls appear")).to_be_visible()
    await calls_and_is_escalated(customer, server)
    async with asyncio.timeout(WAIT_S):
        while not any(m["call"].get("escalation") for m in held if m["type"] == "call"):
            await asyncio.sleep(0.05)
    news = [m["call"] for m in held if m["type"] == "call"]
    escalated = next(call for call in reversed(news) if call.get("escalation"))
    older = [call for call in news if not call.get("escalation")]
    assert older  # connecting, listening, escalating ...

    # The escalation first: the call appears escalated, and the page says so.
    tell(escalated)
    row = arjun.locator("tr[data-call]")
    status = arjun.locator("[data-live-status]")
    await expect(row.get_by_role("link", name="Join call")).to_be_visible()
    await expect(status).to_have_text("A customer is waiting for a colleague: join the call.")
    await expect(row.locator("[data-doing]")).to_have_text("Waiting for a colleague")

    # Then the older news, and the agent speaking meanwhile: still waiting for a colleague.
    for call in [*older, with_now({**escalated, "doing": "speaking"})]:
        tell(call)
    await until(arjun, f"window.liveCallsDebug.events >= {len(older) + 2}")
    await expect(row.get_by_role("link", name="Join call")).to_be_visible()
    await expect(row.locator("[data-doing]")).to_have_text("Waiting for a colleague")
    await expect(status).to_have_text("A customer is waiting for a colleague: join the call.")
    await expect(row.locator(".briefing-actions")).to_contain_text("Escalated to a person")
    await shots(arjun, "02b-live-calls-escalated-news-out-of-order")
    await customer.get_by_role("button", name="End call").click()
    assert problems == []


PUTTING_THROUGH = "Putting the caller through to our escalation phone line"


async def test_a_live_view_offers_no_take_over_while_a_caller_is_put_through_to_the_phone_line(
    asha: Customer,
    cookies: dict[str, str],
    fake_agent: FakeLiveServer,
    server: DaphneServer,
    browsers: tuple[Browser, Browser],
) -> None:
    """While Twilio puts a phone caller through to the escalation line (which cannot be called
    back), the view says so and offers Listen and Whisper, not Take over nor End call; once
    that is over (Twilio refused), they are back. Its briefing, the live calls row's and the
    queue's say the caller is being put through, not that they wait for a colleague. Asha's
    browser call stands in for the phone call: the call's `state`s reach Arjun's view as a call
    being put through sends them (`doing` "transferring"), then as they are (the call refuses
    the take-over and the end itself: livestaff/tests/test_staff_on_a_call.py), and its record
    says "transferring" as such a call writes it, for the pages painted from it."""
    problems: list[str] = []
    putting_through = [True]

    def as_if_put_through(socket: WebSocketRoute) -> None:
        def to_page(message: str | bytes) -> None:
            if putting_through[0] and isinstance(message, str):
                event = json.loads(message)
                if event["type"] == "state":
                    message = json.dumps(with_now({**event, "doing": "transferring"}))
            socket.send(message)

        socket.connect_to_server().on_message(to_page)

    customer, arjun, call_id, _ = await an_escalated_call(
        browsers, server, problems, cookies["arjun"])  # fmt: skip
    await arjun.route_web_socket(re.compile(r"/ws/staff/calls/"), as_if_put_through)
    await arjun.goto(f"{server.url}/staff/live/{call_id}/")
    now = arjun.locator("span[data-mode]")
    take_over = arjun.get_by_role("button", name="Take over", exact=True)
    hint = arjun.locator("[data-take-hint]")
    end_call = arjun.get_by_role("button", name="End call for the customer")
    await expect(now).to_have_text(PUTTING_THROUGH)  # as the live calls page says it
    await expect(take_over).to_be_disabled()
    why = ("The caller is being put through to our escalation phone line; you can take "
           "over or end the call if that does not go through.")  # fmt: skip
    await expect(hint).to_have_text(why)
    await arjun.get_by_text("End call…").click()
    await expect(end_call).to_be_disabled()
    why_not_end = ("Not while the caller is being put through; you can end the call if "
                   "that does not go through.")  # fmt: skip
    await expect(end_call).to_have_accessible_description(why_not_end)  # said beside it
    await expect(arjun.get_by_role("button", name="Listen")).to_be_enabled()
    await expect(arjun.get_by_role("button", name="Whisper")).to_be_enabled()
    briefing = arjun.locator("[data-briefing]")
    await expect(briefing.locator(".briefing-head")).to_contain_text(PUTTING_THROUGH)
    await expect(briefing.get_by_text("Waiting for a colleague")).to_be_hidden()
    await shots(arjun, "16-live-call-being-put-through")

    # A queue open meanwhile is told (as the call tells it once its record says so:
    # test_staff_on_a_call.py) and fetches its rows again; the live calls row is painted
    # from the call's record as it is now.
    board = await arjun.context.new_page()
    watch(board, problems)
    queue_sockets: list[WebSocketRoute] = []

    def from_the_server(socket: WebSocketRoute) -> None:
        queue_sockets.append(socket)
        socket.connect_to_server()

    await board.route_web_socket(re.compile(r"/ws/staff/queue$"), from_the_server)
    await board.goto(f"{server.url}/staff/queue/")
    status = board.locator("[data-live-status]")
    await expect(status).to_contain_text("Live:")
    ticket_row = board.locator("tr[data-ticket]")
    await expect(ticket_row).to_contain_text("On the call now, waiting for a colleague.")
    ticket_id = await ticket_row.get_attribute("data-ticket")
    await asyncio.to_thread(lambda: sync_db().calls.update_one(
        {"call_id": call_id}, {"$set": {"doing": "transferring"}}))  # fmt: skip
    queue_sockets[-1].send(json.dumps({"type": "changed", "ticket": {
        "ticket_id": ticket_id, "status": "open", "transferring": True}}))  # fmt: skip
    await expect(ticket_row).to_contain_text(f"On the call now, {PUTTING_THROUGH.lower()}.")
    await expect(status).to_have_text(f"Ticket {ticket_id}: the caller is being put "
                                      "through to our escalation phone line.")  # fmt: skip
    # A take-over would be refused meanwhile: what is offered is listening in.
    await expect(ticket_row.get_by_role("link", name="Listen in")).to_be_visible()
    await expect(ticket_row.get_by_role("link", name="Join call")).to_have_count(0)
    await shots(board, "16-queue-being-put-through")

    # The live calls page hears of the escalation only now (news late, or lost in a blip
    # of its socket): the call is listed without it, then its news comes, and the row
    # shows what the call's record says.
    live_sockets: list[WebSocketRoute] = []

    def from_the_live_server(socket: WebSocketRoute) -> None:
        live_sockets.append(socket)
        socket.connect_to_server()

    def ticket_live(live: bool) -> None:
        sync_db().escalations.update_one({"ticket_id": ticket_id}, {"$set": {"live": live}})

    await board.route_web_socket(re.compile(r"/ws/staff/live$"), from_the_live_server)
    await asyncio.to_thread(ticket_live, False)
    await board.goto(f"{server.url}/staff/live/")
    await expect(status).to_contain_text("Live:")
    row = board.locator("tr[data-call]")
    await expect(row.get_by_role("link", name="Open")).to_be_visible()
    await asyncio.to_thread(ticket_live, True)
    live_sockets[-1].send(json.dumps({"type": "call", "call": with_now({
        "call_id": call_id, "escalation": ticket_id, "mode": "agent", "staff": None,
        "listeners": [], "doing": "transferring"})}))  # fmt: skip
    await expect(row.get_by_role("link", name="Listen in")).to_be_visible()
    await expect(status).to_have_text("A customer asked for a colleague and is being put "
                                      "through to our escalation phone line.")  # fmt: skip
    await expect(row.locator("[data-doing]")).to_have_text(PUTTING_THROUGH)
    await expect(row.locator(".briefing-head")).to_contain_text(PUTTING_THROUGH)
    await expect(row.get_by_text("Waiting for a colleague")).to_be_hidden()
    await shots(board, "16-live-calls-being-put-through")
    live_sockets[-1].send(json.dumps({"type": "call", "call": with_now({
        "call_id": call_id, "escalation": ticket_id, "mode": "agent", "staff": None,
        "listeners": [], "doing": "listening"})}))  # Twilio refused: back with the agent
    await expect(row.get_by_role("link", name="Join call")).to_be_visible()
    await expect(row.locator("[data-doing]")).to_have_text("Waiting for a colleague")
    await board.close()

    putting_through[0] = False  # Twilio refused: the caller stays on the line
    await arjun.get_by_role("button", name="Listen").click()  # a `state` as it is
    await expect(take_over).to_be_enabled()
    await expect(hint).to_have_text("The agent stops; the customer hears you.")
    await expect(end_call).to_be_enabled()
    await expect(arjun.locator("[data-end-hint]")).to_be_hidden()
    await expect(briefing.locator(".briefing-head")).to_contain_text(
        "Waiting for a colleague")  # fmt: skip
    await expect(briefing.get_by_text(PUTTING_THROUGH)).to_be_hidden()
    await hangs_up(customer, arjun)
    assert problems == []


# Run on the live call view as it finishes parsing (readyState "interactive" comes before
# deferred and module scripts run): the painting loses the agent's turn with `words`, and
# says it was read just before that turn was written.
WIND_BACK = """
document.addEventListener("readystatechange", () => {
  if (document.readyState !== "interactive") return;
  for (const turn of document.querySelectorAll("ol.conversation li.turn.agent")) {
    if (turn.textContent.includes("%(words)s")) turn.remove();
  }
  document.getElementById("live-call").dataset.since = "%(since)s";
});
"""


async def test_a_lead_on_a_screen_reader_takes_over_and_hands_back_by_keyboard(
    asha: Customer,
    cookies: dict[str, str],
    fake_agent: FakeLiveServer,
    server: DaphneServer,
    browsers: tuple[Browser, Browser],
) -> None:
    problems: list[str] = []
    customer, arjun, call_id, _ = await an_escalated_call(
        browsers, server, problems, cookies["arjun"])  # fmt: skip
    await arjun.add_init_script(RECORD_WHAT_IS_SAID)
    await arjun.goto(f"{server.url}/staff/live/{call_id}/")
    said = "window.said.some((text) => text.includes(%s))"

    # Take over: the button goes, and the focus goes to the note for handing back.
    take_over = arjun.get_by_role("button", name="Take over", exact=True)
    await expect(take_over).to_be_enabled()
    # No news yet: its region is there for a screen reader, out of sight.
    await expect(arjun.get_by_role("status")).to_have_count(1)
    # The conversation is a log read out line by line, and still a list of its lines (a list
    # given the log's role was none: its lines were items of no list).
    await expect(arjun.get_by_role("log", name="Conversation").get_by_role("list")).to_have_count(1)
    await shots(arjun, "15a-live-call-for-a-screen-reader", widths=(DESK,))
    await take_over.focus()
    await arjun.keyboard.press("Enter")
    note = arjun.get_by_role("textbox", name="Note for the agent when you hand back")
    await expect(note).to_be_focused()
    await until(arjun, said % json.dumps("You took over the call."))
    # He hears the call: the button says how to stop, the meters whose level they show.
    stop = arjun.get_by_role("button", name="Stop listening", pressed=False)
    await expect(stop).to_be_visible()
    await expect(arjun.get_by_role("meter", name="Your level")).to_be_visible()

    # Hand back from the note: the focus goes back to Take over once it can be pressed.
    await arjun.keyboard.type("Refunded in full.")
    await arjun.keyboard.press("Tab")
    await expect(arjun.get_by_role("button", name="Hand back")).to_be_focused()
    await arjun.keyboard.press("Enter")
    await until(arjun, said % json.dumps("You handed back to the agent: Refunded in full."))
    await expect(take_over).to_be_focused()

    # Asha hangs up: said, in the conversation and by the page's news (a status region in
    # the accessibility tree from the start, so its first news is said), and the focus goes
    # to the call's record.
    await customer.get_by_role("button", name="End call").click()
    await until(arjun, said % json.dumps("The call ended."))
    await until(arjun, said % json.dumps("This call has ended. See its record"))
    await expect(arjun.get_by_role("link", name="See its record")).to_be_focused()
    await shots(arjun, "15-live-call-ended-by-keyboard", widths=(DESK,))
    assert problems == []


async def test_the_live_calls_page_keeps_the_keyboard_focus_when_its_rows_change(
    asha: Customer,
    cookies: dict[str, str],
    fake_agent: FakeLiveServer,
    server: DaphneServer,
    browsers: tuple[Browser, Browser],
) -> None:
    problems: list[str] = []
    _, arjun, _, _ = await an_escalated_call(browsers, server, problems, cookies["arjun"])
    await arjun.goto(server.url + "/staff/live/")
    join_asha = arjun.locator("tr[data-call]", has_text="Asha Verma").get_by_role(
        "link", name="Join call")  # fmt: skip
    await join_asha.focus()

    # Ravi calls meanwhile: the rows are fetched again, and Arjun's place stays his.
    await asyncio.to_thread(Customer.objects.create, user_id=102, name="Ravi Kumar")
    _, ravi = await person(browsers[0], server, PHONE, problems)
    await ravi.goto(server.url + "/")
    await ravi.get_by_label("Customer").select_option("102")
    await ravi.get_by_role("button", name="Start call").click()
    await expect(arjun.locator("tr[data-call]", has_text="Ravi Kumar")).to_be_visible()
    await expect(arjun.get_by_text("A customer is waiting for a colleague")).to_be_visible()
    await expect(join_asha).to_be_focused()
    assert problems == []


def _agents_last_line(words: str) -> tuple[str, datetime]:
    """The open call whose agent said `words`, once its record holds it, and when."""
    for _ in range(100):
        call = sync_db().calls.find_one({"ended_at": None, "transcript.text": {"$regex": words}})
        if call is not None:
            line = next(t for t in call["transcript"] if words in t["text"])
            return str(call["call_id"]), line["at"]
        time.sleep(0.1)
    raise AssertionError(f"no open call's record has {words!r}")


async def an_escalated_call(
    browsers: tuple[Browser, Browser], server: DaphneServer, problems: list[str], cookie: str
) -> tuple[Page, Page, str, datetime]:
    """Asha's call, escalated, on the voice page, and a staff page signed in with `cookie`:
    (her page, the staff page, the call id, when the agent said it is fetching a colleague)."""
    _, customer = await person(browsers[0], server, PHONE, problems)
    _, staff = await person(browsers[1], server, DESK, problems, cookie)
    await calls_and_is_escalated(customer, server)
    call_id, said_at = await asyncio.to_thread(_agents_last_line, "fetching a colleague")
    return customer, staff, call_id, said_at


async def calls_and_is_escalated(customer: Page, server: DaphneServer) -> None:
    """The customer starts a call on the voice page; the fake agent hears her and escalates."""
    await customer.goto(server.url + "/")
    await customer.get_by_role("button", name="Start call").click()
    waiting = customer.get_by_role("status").filter(has_text="Please stay on the line")
    await expect(waiting).to_be_visible()


async def note_with(session: FakeSession, text: str) -> str:
    """The next note the bridge sent the model that contains `text`."""
    while True:
        note = await session.wait_for_note(timeout=WAIT_S)
        if text in note:
            return note


