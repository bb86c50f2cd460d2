"""Staff on live calls as a support agent and a lead meet them, where a first review found the
pages wanting: the live calls page and the live call view saying one thing of a call in the
same words, a page whose sign-in ended while its socket was down, a microphone that could not
be opened for another reason than a refusal.

The sockets' own tests talk to the real ASGI app; the browser tests script the live call view's
socket as test_live_view_states_browser.py does (its fixtures), letting a socket through to the
real server where the server's answer is the point. Screenshots go to test-artifacts/livestaff/.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session
from playwright.async_api import Browser, WebSocketRoute, expect

from livestaff.tests.test_live_calls_browser import DESK, PHONE, person, shots, until
from livestaff.tests.test_live_pages import asha, live_call, warm_ticket  # noqa: F401
from livestaff.tests.test_live_view_states_browser import (  # noqa: F401
    CALL_ID,
    RECORD_AUDIO,
    ServerSide,
    arjun,
    browser,
    chromium,
    holding,
    live_view,
    server,
    state,
)
from livestaff.tests.test_signed_out_staff import next_text, signed_in_lead, socket
from livestaff.tests.test_staff_on_a_call import StaffPage
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.voice_harness import BrowserCall, wait_until_ended
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)

# Chromium is test_live_view_states_browser.py's module fixture: its tests run on the module's loop.
browser_test = pytest.mark.browser
on_the_module_loop = pytest.mark.asyncio(loop_scope="module")

FORBIDDEN = 4403

# The browser finds no microphone (none plugged in): getUserMedia fails as Chromium fails it.
NO_MICROPHONE = """
navigator.mediaDevices.getUserMedia = async () => {
  throw new DOMException("Requested device not found", "NotFoundError");
};
"""


class LetThrough(ServerSide):
    """The first socket the page opens is scripted; from `through` on, the page's sockets go
    to the real server (whose answer is the point)."""

    def __init__(self) -> None:
        super().__init__()
        self.through = False
        self.real: list[WebSocketRoute] = []

    def __call__(self, socket: WebSocketRoute) -> None:
        if self.through:
            self.real.append(socket)
            socket.connect_to_server()
        else:
            super().__call__(socket)


async def a_call_escalated_and_thinking(live: FakeLiveServer) -> tuple[BrowserCall, str]:
    """A customer's call whose agent escalated and has the ticket, not answered yet."""
    call = await BrowserCall.open()
    call_id = str((await call.next_event("ready"))["call_id"])
    session = await live.wait_for_session()
    await session.send_tool_call([{"name": "escalate_to_human",
                                   "args": {"reason": "wants a person"}}])  # fmt: skip
    await session.wait_for_tool_response()
    return call, call_id


async def worded(communicator: WebsocketCommunicator, kind: str, doing: str) -> dict[str, Any]:
    """The first `kind` message (a `state`, or a `call` on the live calls page) whose call is
    `doing`: as the page gets it."""
    async with asyncio.timeout(10):
        while True:
            message = await next_text(communicator, kind)
            event = message["call"] if kind == "call" else message
            if event.get("doing") == doing:
                return event


# --- one wording, whichever page shows the call -------------------------------------------------


async def test_the_live_calls_page_and_the_live_call_view_get_a_call_worded_alike(
    asha: Customer,  # noqa: F811
    live: FakeLiveServer,
    groups: Any,
) -> None:
    """Between the ticket and the agent's answer the agent is thinking: both live pages get
    it worded by the server (livestaff/presenting.py), the same words the live calls page is
    painted with, and what an escalation nobody joined yet reads as."""
    desk = await sync_to_async(signed_in_lead)()
    board = socket("/ws/staff/live", desk)
    assert (await board.connect(timeout=5))[0]

    call, call_id = await a_call_escalated_and_thinking(live)
    view = socket(f"/ws/staff/calls/{call_id}", desk)
    assert (await view.connect(timeout=5))[0]

    listed = await worded(board, "call", "thinking")
    viewed = await worded(view, "state", "thinking")
    assert (listed["now"], listed["now_waiting"]) == ("Thinking", "Waiting for a colleague")
    assert (viewed["now"], viewed["now_waiting"]) == (listed["now"], listed["now_waiting"])
    await board.disconnect()
    await view.disconnect()
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


@browser_test
@on_the_module_loop
async def test_the_live_call_view_says_what_the_live_calls_page_says(
    asha: Customer,  # noqa: F811
    arjun: str,  # noqa: F811
    server: DaphneServer,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    await sync_to_async(warm_ticket)("TKT-WORDS1", CALL_ID, asha)
    page, call, problems = await live_view(browser, server, arjun, asha)
    now = page.locator("span[data-mode]")

    # The customer waits for a colleague: so says the row of the live calls page.
    call.says(**state(doing="thinking", escalation="TKT-WORDS1"))
    await expect(now).to_have_text("Waiting for a colleague")
    await shots(page, "30-live-call-waiting-worded-as-listed", widths=(DESK, PHONE))
    _, board = await person(browser, server, DESK, problems, arjun)
    await board.goto(f"{server.url}/staff/live/")
    await expect(board.locator("tr[data-call] [data-doing]")).to_have_text(
        "Waiting for a colleague")  # fmt: skip

    # Arjun joined and handed back: the agent thinks, in the words the row has for it.
    call.says(**state(mode="human", staff="arjun", doing="staff", held_from="this_page",
                      escalation="TKT-WORDS1"))  # fmt: skip
    await expect(now).to_have_text("Asha is waiting: your microphone is off")  # none here
    call.says(**state(doing="thinking", escalation="TKT-WORDS1"))
    await expect(now).to_have_text("Thinking")
    await shots(page, "31-live-call-thinking-worded-as-listed", widths=(DESK,))
    assert problems == []


# --- a page whose sign-in ended -----------------------------------------------------------------


async def test_a_socket_refused_for_its_sign_in_is_told_so_with_its_code(
    asha: Customer,  # noqa: F811
    live: FakeLiveServer,
    groups: Any,
) -> None:
    """Refused before it opens, the browser would see a failed handshake (1006), as in a
    network blip, and the page would try again for ever (static/livestaff/call.js)."""
    call = await BrowserCall.open()
    call_id = str((await call.next_event("ready"))["call_id"])

    guest = await StaffPage.open(call_id, "guest", None)

    assert guest.close_code is None  # it opened
    assert await guest.communicator.receive_output(timeout=5) == {
        "type": "websocket.close", "code": FORBIDDEN}  # fmt: skip
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


@browser_test
@on_the_module_loop
async def test_a_lead_signed_out_while_the_socket_was_down_is_told_and_the_microphone_let_go(
    asha: Customer,  # noqa: F811
    arjun: str,  # noqa: F811
    server: DaphneServer,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    """Arjun holds the call; his socket drops (a deploy, say) and meanwhile his session ended
    (signed out in another tab, a password reset). Coming back, the page must say so and let
    go of his microphone and the players, not say "reconnecting" for ever with the browser's
    recording light on."""
    await sync_to_async(live_call)(CALL_ID, asha)
    problems: list[str] = []
    _, page = await person(browser, server, DESK, problems, arjun)
    await page.add_init_script(RECORD_AUDIO)
    call = LetThrough()
    await page.route_web_socket(re.compile(r"/ws/staff/calls/"), call)
    await page.goto(f"{server.url}/staff/live/{CALL_ID}/")
    await until(page, "window.liveCallDebug.connected")
    call.says(**state())
    await holding(page, call)

    await sync_to_async(lambda: Session.objects.all().delete())()
    call.through = True
    await call.socket.close(code=1011)

    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("You were signed out, or may no longer watch live calls")
    await expect(alert.get_by_role("link", name="Reload the page")).to_be_visible()
    await until(page, "window.liveTracks() === 0 && window.openContexts() === 0")
    await expect(page.get_by_text("Connection lost; reconnecting…")).to_be_hidden()
    await page.wait_for_timeout(1500)  # the page's next try would have come by now
    assert len(call.real) == 1  # not opened again
    await shots(page, "32-live-call-signed-out-while-away", widths=(DESK, PHONE))
    # Playwright's route passes the page's first message (`listen`) on to a server socket that
    # closed as it opened, and logs that in the page: the page itself sends only while open.
    routed = "console error: WebSocket is already in CLOSING or CLOSED state."
    assert [problem for problem in problems if problem != routed] == []


# --- the microphone -----------------------------------------------------------------------------


@browser_test
@on_the_module_loop
async def test_a_lead_with_no_microphone_is_told_to_connect_one_not_to_allow_it(
    asha: Customer,  # noqa: F811
    arjun: str,  # noqa: F811
    server: DaphneServer,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    page, call, problems = await live_view(browser, server, arjun, asha, NO_MICROPHONE)
    call.says(**state())

    await page.get_by_role("button", name="Take over").click()

    alert = page.get_by_role("alert")
    await expect(alert).to_have_text(
        "No microphone was found. Connect one (or a headset), then try again.")  # fmt: skip
    await expect(page.get_by_role("button", name="Take over")).to_be_enabled()
    await expect(page.get_by_role("button", name="Take over")).to_be_focused()
    assert not any(isinstance(m, dict) and m.get("type") == "take_over" for m in call.sent)
    await shots(page, "33-live-call-no-microphone", widths=(DESK,))

    # Holding the call (a callback he placed, say), his microphone fails again: the customer
    # hears nobody, and the page says so rather than that he talks to her.
    call.says(**state(mode="human", staff="arjun", doing="staff", held_from=""))
    now = page.locator("span[data-mode]")
    await expect(now).to_have_text("Asha is waiting: your microphone is off")
    await page.get_by_role("button", name="Start my microphone").click()  # says "starting…"
    await expect(now).to_have_text("Asha is waiting: your microphone is off")
    assert problems == []
