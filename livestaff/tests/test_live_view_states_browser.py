"""The live call view and the live calls page in real Chromium, after each thing their server
can say: their sockets are scripted here (Playwright stands in for the server's side), so each
message, drop and refusal comes exactly when the test says. The pages themselves, the call's
record and the staff member's session are real (a daphne over the test database).

What a page holds of the browser is checked too: the microphone's tracks and the AudioContexts
it opened (window.tracks, window.contexts, recorded by an init script), which must be released
when nothing of the call can reach the page any more.

Screenshots go to test-artifacts/livestaff/, beside those of test_live_calls_browser.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.utils import timezone
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from livestaff.presenting import for_staff, with_now
from livestaff.protocol import PLACED_CALLBACK
from livestaff.tests.conftest import LEAD
from livestaff.tests.test_live_calls_browser import (
    DESK,
    PHONE,
    SLOW_MICROPHONE,
    _staff,
    person,
    shots,
    until,
)
from livestaff.tests.test_live_pages import asha, live_call, warm_ticket  # noqa: F401
from realtime.tests.browser.conftest import FAKE_MICROPHONE_ARGS
from support.models import Call, Customer
from voiceproject.tests.chromium import launched_chromium
from voiceproject.tests.live_server import DaphneServer, server_environment

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),  # Chromium is the module's
]

EXPECT_TIMEOUT_MS = 10_000  # conftest.py sets it before each test

CALL_ID = "CALL-STATES1"

# Every microphone track and AudioContext the page opens, to check they are released.
RECORD_AUDIO = """
window.tracks = [];
const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (constraints) => {
  const stream = await getUserMedia(constraints);
  window.tracks.push(...stream.getTracks());
  return stream;
};
window.liveTracks = () => window.tracks.filter((track) => track.readyState === "live").length;
window.contexts = [];
const Context = window.AudioContext;
window.AudioContext = function (...args) {
  const context = new Context(...args);
  window.contexts.push(context);
  return context;
};
window.AudioContext.prototype = Context.prototype;
window.openContexts = () => window.contexts.filter((c) => c.state !== "closed").length;
"""


@pytest.fixture
def arjun(groups: dict[str, Group], settings: Any) -> str:
    """A lead's session cookie: may listen, whisper, take over."""
    settings.SECRET_KEY = server_environment()["SECRET_KEY"]  # the server checks the session
    return _staff("arjun", "Arjun", groups[LEAD])


@pytest.fixture
def watcher(db: Any, settings: Any) -> str:
    """Someone who may watch live calls (support.monitor_call) and nothing else."""
    settings.SECRET_KEY = server_environment()["SECRET_KEY"]
    user = User.objects.create_user("watcher", is_staff=True, first_name="Dev")
    user.user_permissions.add(
        Permission.objects.get(codename="monitor_call", content_type__app_label="support")
    )
    client = Client()
    client.force_login(user)
    return str(client.cookies["sessionid"].value)


@pytest.fixture(scope="module")
def server(django_db_setup: Any) -> Iterator[DaphneServer]:
    """One daphne for the file's tests: it serves the pages and their sessions from the test
    database (emptied between tests); no call process, the sockets are scripted."""
    with DaphneServer() as server:
        server.start()
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Browser]:
    """One Chromium for the file's tests (starting one took seconds a test)."""
    async with launched_chromium(FAKE_MICROPHONE_ARGS) as browser:
        yield browser


@pytest_asyncio.fixture(loop_scope="module")
async def browser(chromium: Browser) -> AsyncIterator[Browser]:
    """The module's Chromium for one test: the pages it opened close after it."""
    yield chromium
    for context in list(chromium.contexts):
        await context.close()


class ServerSide:
    """The server's side of a page's socket, as the test says: each socket the page opens
    (the last one is `socket`), and what the page sent on them."""

    def __init__(self) -> None:
        self.sockets: list[WebSocketRoute] = []
        self.sent: list[Any] = []

    def __call__(self, socket: WebSocketRoute) -> None:
        self.sockets.append(socket)
        socket.on_message(lambda m: self.sent.append(json.loads(m) if isinstance(m, str) else m))

    @property
    def socket(self) -> WebSocketRoute:
        return self.sockets[-1]

    def says(self, **event: Any) -> None:
        self.socket.send(json.dumps(event))

    async def heard(self, kind: str) -> None:
        async with asyncio.timeout(10):
            while not any(isinstance(m, dict) and m.get("type") == kind for m in self.sent):
                await asyncio.sleep(0.05)


def state(**fields: Any) -> dict[str, Any]:
    """The call's `state` (contract section 8) as the page gets it, worded: with the agent
    unless `fields` say otherwise."""
    return with_now({"type": "state", "call_id": CALL_ID, "user_id": 101, "channel": "web",
                     "mode": "agent", "staff": None, "listeners": [], "escalation": None,
                     "doing": "listening", "held_from": "", **fields})  # fmt: skip


async def live_view(
    browser: Browser, server: DaphneServer, cookie: str, customer: Customer, *scripts: str,
    minutes_ago: float = 2, **record: Any,
) -> tuple[Page, ServerSide, list[str]]:
    """`customer`'s call CALL_ID, begun `minutes_ago` (its record with `record`'s fields too),
    in its live call view, the page's socket open on a scripted server side."""
    await sync_to_async(live_call)(CALL_ID, customer, minutes_ago=minutes_ago, **record)
    problems: list[str] = []
    _, page = await person(browser, server, DESK, problems, cookie)
    for script in (*scripts, RECORD_AUDIO):
        await page.add_init_script(script)
    call = ServerSide()
    await page.route_web_socket(re.compile(r"/ws/staff/calls/"), call)
    await page.goto(f"{server.url}/staff/live/{CALL_ID}/")
    await until(page, "window.liveCallDebug.connected")
    return page, call, problems


async def holding(page: Page, call: ServerSide) -> None:
    """Arjun takes the call over from this page, and the call says he holds it."""
    await page.get_by_role("button", name="Take over").click()
    await call.heard("take_over")
    call.says(**state(mode="human", staff="arjun", doing="staff", held_from="this_page"))
    await expect(page.get_by_text("You are talking to Asha", exact=True)).to_be_visible()
    assert await page.evaluate("window.liveTracks()") == 1


# --- the live call view ------------------------------------------------------------------------


async def test_the_live_view_stops_saying_it_reconnects_once_its_socket_is_back(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    page, call, problems = await live_view(browser, server, arjun, asha)
    call.says(**state())
    await expect(page.locator("span[data-mode]")).to_have_text("Listening")

    await call.socket.close(code=1011)  # a blip
    reconnecting = page.get_by_text("Connection lost; reconnecting…")
    await expect(reconnecting).to_be_visible()
    await expect(page.get_by_role("button", name="Listen")).to_be_disabled()

    await until(page, "window.liveCallDebug.connected")  # back
    call.says(**state())
    await expect(reconnecting).to_be_hidden()
    await expect(page.get_by_role("status")).to_have_count(1)  # still there, for its next news
    await expect(page.get_by_role("button", name="Listen")).to_be_enabled()
    await shots(page, "20-live-call-back-after-a-blip", widths=(DESK,))
    assert problems == []


async def test_a_refused_take_over_says_who_holds_the_call_for_as_long_as_they_do(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    page, call, problems = await live_view(browser, server, arjun, asha)
    call.says(**state())
    await page.get_by_role("button", name="Take over").click()
    await call.heard("take_over")

    # Kavya took the call a moment before him: his take-over is refused, his microphone off.
    call.says(**state(mode="human", staff="kavya", doing="staff", held_from="another_page"))
    call.says(type="error", code="taken", message="kavya holds this call.", staff="kavya")
    refused = page.get_by_role("alert").filter(has_text="kavya holds this call: you can listen")
    await expect(refused).to_be_visible()
    assert await page.evaluate("window.liveTracks()") == 0
    call.says(**state(mode="human", staff="kavya", doing="staff", held_from="another_page",
                      listeners=["arjun"]))  # fmt: skip
    await expect(page.get_by_text("Held by kavya · Listening: you")).to_be_visible()
    await expect(refused).to_be_visible()  # still so
    await shots(page, "21-live-call-take-over-refused", widths=(DESK,))

    # She hands back: nobody holds it any more, and the page no longer says she does.
    call.says(**state(listeners=["arjun"]))
    await expect(page.locator("span[data-mode]")).to_have_text("Listening")
    await expect(refused).to_be_hidden()
    await expect(page.get_by_role("button", name="Take over")).to_be_enabled()
    await shots(page, "22-live-call-handed-back-after-a-refusal", widths=(DESK,))
    assert problems == []


async def test_a_page_refused_for_good_releases_the_microphone_and_the_players(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    """Signed out elsewhere, or the permission taken away while holding the call: the server
    closes the socket for good (4403). Nothing of the call reaches the page any more: the
    browser's recording indicator must go off, and the players' contexts close."""
    page, call, problems = await live_view(browser, server, arjun, asha)
    call.says(**state())
    await holding(page, call)

    await call.socket.close(code=4403)

    await expect(page.get_by_role("alert")).to_contain_text(
        "You were signed out, or may no longer watch live calls")  # fmt: skip
    await until(page, "window.liveTracks() === 0 && window.openContexts() === 0")
    await expect(page.get_by_role("button", name="Listen")).to_be_disabled()
    assert len(call.sockets) == 1  # not opened again
    assert problems == []


async def test_a_call_that_ends_while_the_microphone_opens_leaves_it_released(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    page, call, problems = await live_view(browser, server, arjun, asha, SLOW_MICROPHONE)
    call.says(**state())
    await page.get_by_role("button", name="Take over").click()  # the browser opens it slowly

    call.says(type="ended", reason="caller_hung_up")
    await expect(page.get_by_text("This call has ended.")).to_be_visible()
    await page.evaluate("window.openMicrophone()")  # open only now

    await until(page, "window.tracks.length === 1")
    await until(page, "window.liveTracks() === 0 && window.openContexts() === 0")
    await expect(page.get_by_text("This call has ended.")).to_be_visible()  # no other news
    assert not any(isinstance(m, dict) and m.get("type") == "take_over" for m in call.sent)
    assert problems == []


async def test_a_whisper_refused_while_the_microphone_opens_does_not_call_the_take_over_off(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    """Only an answer to the take-over may call it off: it is asked once the microphone is
    open, so an error before then (a whisper sent meanwhile, refused) is about something else."""
    page, call, problems = await live_view(browser, server, arjun, asha, SLOW_MICROPHONE)
    call.says(**state())
    await page.get_by_role("button", name="Take over").click()  # the browser opens it slowly

    call.says(type="error", code="rate_limited",
              message="Too many actions at once; wait a moment and try again.")  # fmt: skip
    await expect(page.get_by_role("alert")).to_contain_text("Too many actions")
    await page.evaluate("window.openMicrophone()")

    await call.heard("take_over")
    call.says(**state(mode="human", staff="arjun", doing="staff", held_from="this_page"))
    await expect(page.get_by_text("You are talking to Asha", exact=True)).to_be_visible()
    assert await page.evaluate("window.liveTracks()") == 1
    assert problems == []


async def test_a_take_over_refused_releases_the_microphone(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    page, call, problems = await live_view(browser, server, arjun, asha)
    call.says(**state())
    await page.get_by_role("button", name="Take over").click()
    await call.heard("take_over")

    call.says(type="error", code="not_live",
              message="This call is reconnecting; try again in a moment.")  # fmt: skip

    await until(page, "window.liveTracks() === 0")
    await expect(page.get_by_role("button", name="Take over")).to_be_enabled()
    assert problems == []


async def test_a_tab_that_never_held_the_call_comes_back_without_taking_it_from_the_one_talking(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    """Arjun talks from another tab, whose socket drops: for a moment the call is held from no
    page, which this tab shows as his to talk from. This tab's own socket drops too: back, it
    must not say it held the call (`holding=1`), or it takes the call from his talking tab,
    back meanwhile (the customer hearing nobody, his microphone there turned off)."""
    page, call, problems = await live_view(browser, server, arjun, asha)
    call.says(**state(mode="human", staff="arjun", doing="staff", held_from="another_page"))
    await expect(page.get_by_text("You are talking to Asha from another tab")).to_be_visible()
    call.says(**state(mode="human", staff="arjun", doing="staff", held_from=""))
    await expect(page.get_by_role("button", name="Start my microphone")).to_be_visible()

    await call.socket.close(code=1011)  # a blip of this tab's own
    await until(page, "window.liveCallDebug.closeCode === 1011 && window.liveCallDebug.connected")

    assert len(call.sockets) == 2 and "holding=1" not in call.sockets[1].url
    # Once it talks from here, even while the call holds it from no page (moving, say), it does.
    await page.get_by_role("button", name="Start my microphone").click()
    await call.heard("take_over")
    call.says(**state(mode="human", staff="arjun", doing="staff", held_from="this_page"))
    call.says(**state(mode="human", staff="arjun", doing="staff", held_from=""))
    await page.evaluate("window.liveCallDebug.closeCode = null")
    await call.socket.close(code=1011)
    await until(page, "window.liveCallDebug.closeCode === 1011 && window.liveCallDebug.connected")
    assert len(call.sockets) == 3 and "holding=1" in call.sockets[2].url
    assert await page.evaluate("window.liveTracks()") == 1
    assert problems == []


async def test_listening_stopped_at_once_is_no_fault_of_the_browser(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    page, call, problems = await live_view(browser, server, arjun, asha)
    call.says(**state())

    # Listen, and Stop listening before the players are ready (a double click).
    await page.get_by_role("button", name="Listen").dblclick()

    await call.heard("unlisten")
    await until(page, "window.openContexts() === 0")
    await page.wait_for_timeout(500)  # the players' modules, refused by the closed contexts
    await expect(page.get_by_role("alert")).to_have_text("")
    await expect(page.get_by_role("button", name="Listen")).to_be_visible()
    assert problems == []


async def test_a_page_refused_a_place_among_the_listeners_stops_listening_and_says_why(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    """The call has as many listening pages as it takes (livestaff/link.py): the page stops
    listening (the server knows: it is not told) and says why. Refused as Arjun takes the call
    over, the take-over goes on, and once the call is held from this page it listens: he talks
    to the customer and must hear her (the call makes room for the page it is held from)."""
    full = "8 pages are listening to this call already, the most it takes."
    page, call, problems = await live_view(browser, server, arjun, asha)
    call.says(**state())

    await page.get_by_role("button", name="Listen in").click()
    await call.heard("listen")
    call.says(type="error", code="too_many_listeners", message=full)
    await expect(page.get_by_role("alert")).to_have_text(full)
    await expect(page.get_by_role("button", name="Listen in")).to_be_visible()
    await until(page, "window.openContexts() === 0")
    await page.get_by_role("button", name="Take over").click()
    await call.heard("take_over")
    call.says(type="error", code="too_many_listeners", message=full)  # the listen it sent
    await expect(page.get_by_role("button", name="Listen in")).to_be_visible()
    call.says(**state(mode="human", staff="arjun", doing="staff", held_from="this_page"))

    await expect(page.get_by_text("You are talking to Asha", exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="Stop listening")).to_be_visible()
    kinds = [m["type"] for m in call.sent if isinstance(m, dict)]
    assert kinds == ["listen", "listen", "take_over", "listen"]
    assert await page.evaluate("window.liveTracks()") == 1  # the microphone still open
    assert problems == []


async def test_a_call_past_an_hour_reads_in_hours_as_the_server_paints_it(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    page, call, problems = await live_view(browser, server, arjun, asha, minutes_ago=65)
    call.says(**state())

    await expect(page.locator("[data-duration]")).to_have_text(re.compile(r"^1:05:\d\d$"))
    # A clock time and a duration each under its own name, as the live calls page heads it.
    facts = page.locator("dl.call-facts")
    await expect(facts.locator("dt:text-is('Channel') + dd")).to_have_text(
        re.compile(r"^Web · since \d\d:\d\d$"))  # fmt: skip
    await expect(facts.locator("dt:text-is('Duration') + dd")).to_have_text(
        re.compile(r"^1:05:\d\d$"))  # fmt: skip
    assert problems == []


async def test_the_lines_painted_with_the_page_say_you_as_those_it_adds_do(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    """A lead opens the call of a callback he placed (his from its start) and whispered on:
    the page's first lines say "You" to him, as the lines it adds once open do."""
    started = timezone.now() - timedelta(minutes=2)  # about when the call's record says
    staff_events = [
        {"kind": "take_over", "staff": "arjun", "text": PLACED_CALLBACK, "at": started},
        {"kind": "whisper", "staff": "arjun", "text": "Note the new address.",
         "at": started + timedelta(seconds=5)},
    ]  # fmt: skip
    page, call, problems = await live_view(browser, server, arjun, asha, staff_events=staff_events)
    call.says(**state(mode="human", staff="arjun", doing="staff", held_from=""))
    conversation = page.locator("ol.conversation")

    await expect(conversation).to_contain_text("You took over the call (a callback you placed).")
    await expect(conversation).to_contain_text("You: Note the new address.")
    call.says(type="whisper", staff="arjun", text="Offer a full refund.")
    await expect(conversation).to_contain_text("You: Offer a full refund.")
    await expect(conversation).not_to_contain_text("Arjun Mehta")
    now = page.locator("span[data-mode]")
    await expect(now).to_have_text("Asha is waiting: your microphone is off")
    await shots(page, "26-live-call-your-own-lines", widths=(DESK,))
    await page.get_by_role("button", name="Start my microphone").click()
    await expect(now).to_have_text("You are talking to Asha")
    await call.heard("take_over")
    assert problems == []


async def test_ids_in_the_lines_added_live_stay_whole_as_in_those_painted_with_the_page(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    """On a phone the call page's lines keep "TKT-9XK2QA" on one line (the `ids` filter): the
    lines the live view adds as the call goes on (a line it missed, a caption, a tool, a
    whisper, the escalation, a hand-back) keep theirs whole too, and show what a caller said
    as text, markup and all."""
    page, call, problems = await live_view(browser, server, arjun, asha)
    await page.set_viewport_size({"width": PHONE, "height": 844})
    call.says(**state())
    escalation = for_staff({
        "type": "tool", "name": "escalate_to_human", "status": "done", "ms": 80,
        "args": {"reason": "Cold biryani", "priority": "high", "order_id": "ORD-20012345"},
        "result": {"ok": True, "ticket_id": "TKT-9XK2QA"}})  # fmt: skip
    call.says(type="backlog", events=[{"type": "transcript", "role": "user", "final": True,
                                       "text": "My order ORD-20012345 came cold.",
                                       "at": timezone.now().isoformat()}])  # fmt: skip
    call.says(type="transcript", role="user", final=True,
              text="<b>Hello</b>, is ORD-20012345 refunded? My last call was CALL-229a2d0b1c.")
    call.says(**escalation)
    call.says(type="escalated", ticket_id="TKT-9XK2QA")
    call.says(type="whisper", staff="arjun", text="Check TKT-9XK2QA before you refund.")
    call.says(type="agent_changed", mode="agent", by="arjun",
              note="Refunded ORD-20012345 in full; confirm and close TKT-9XK2QA.")
    conversation = page.locator("ol.conversation")
    await expect(conversation.locator("li")).to_have_count(3 + 6)  # painted, then added

    ids = conversation.locator(".id")
    await expect(ids).to_have_text([
        "ORD-1001",  # painted with the page
        "ORD-20012345", "ORD-20012345", "CALL-229a2d0b1c", "ORD-20012345", "TKT-9XK2QA",
        "TKT-9XK2QA", "TKT-9XK2QA", "ORD-20012345", "TKT-9XK2QA"])  # fmt: skip
    lines = await ids.evaluate_all("ids => ids.map(id => id.getClientRects().length)")
    assert lines == [1] * 10, "an id broken across lines"
    said = conversation.locator("li.turn.customer").last
    await expect(said).to_contain_text("<b>Hello</b>, is ORD-20012345 refunded?")
    await expect(said.locator("b")).to_have_count(0)
    await shots(page, "27-live-call-ids-kept-whole", widths=(PHONE, DESK))
    assert problems == []


# --- the live calls page -----------------------------------------------------------------------


async def test_an_ended_call_leaves_the_live_calls_page_though_its_record_says_so_later(
    asha: Customer,  # noqa: F811
    arjun: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    """A call tells the page it ended before its record says so (it ends its ticket and writes
    the record after, realtime/call_session.py close): rows fetched at once still list it."""
    await sync_to_async(live_call)(CALL_ID, asha)
    problems: list[str] = []
    _, page = await person(browser, server, DESK, problems, arjun)
    calls = ServerSide()
    await page.route_web_socket(re.compile(r"/ws/staff/live$"), calls)
    await page.goto(f"{server.url}/staff/live/")
    row = page.locator("tr[data-call]")
    await expect(row).to_contain_text("Asha Verma")

    calls.says(type="call", call={"call_id": CALL_ID, "ended": True})
    await until(page, "window.liveCallsDebug.refreshes >= 1")
    # Late news of it, from before it ended: not a call that starts.
    calls.says(type="call", call={**state(), "doing": "speaking"})
    await page.wait_for_timeout(300)
    await sync_to_async(Call.objects.filter(call_id=CALL_ID).update)(ended_at=timezone.now())

    await expect(row).to_have_count(0)
    await expect(page.get_by_text("No calls in progress right now.")).to_be_visible()
    await expect(page.locator("[data-live-status]")).to_have_text("A call ended.")
    await shots(page, "23-live-calls-ended-late-in-its-record", widths=(DESK,))

    # Signed out elsewhere, or the permission taken away: the rows no longer change, and the
    # page warns so (as the queue does), not in the quiet grey of its news.
    await calls.socket.close(code=4403)
    await expect(page.get_by_role("alert")).to_have_text(
        "Live updates stopped: you were signed out or lost access to live calls. "
        "Reload the page to sign in again.")  # fmt: skip
    await expect(page.locator("[data-live-status]")).to_have_class(re.compile(r"\berrornote\b"))
    await shots(page, "23b-live-calls-updates-stopped", widths=(DESK,))
    assert problems == []


async def test_staff_who_may_not_see_customers_watch_calls_by_the_customer_s_name_alone(
    asha: Customer,  # noqa: F811
    watcher: str,
    server: DaphneServer,
    browser: Browser,
) -> None:
    await sync_to_async(live_call)(CALL_ID, asha)
    await sync_to_async(warm_ticket)("TKT-STATE1", CALL_ID, asha)
    problems: list[str] = []
    _, page = await person(browser, server, DESK, problems, watcher)

    await page.goto(f"{server.url}/staff/live/")
    row = page.locator("tr[data-call]")
    await expect(row).to_contain_text("Asha Verma")
    await expect(row).not_to_contain_text("00101")
    await expect(row.get_by_role("link", name="ORD-1001")).to_have_count(0)
    await expect(row.get_by_role("link", name="TKT-STATE1")).to_have_count(0)
    await expect(row.get_by_role("link", name="Listen in")).to_be_visible()
    await shots(page, "24-live-calls-without-customer-details", widths=(DESK, PHONE))

    await row.get_by_role("link", name="Listen in").click()
    facts = page.locator(".call-facts")
    await expect(facts).to_contain_text("Asha Verma")
    await expect(facts).not_to_contain_text("00101")
    await expect(facts.get_by_role("link", name="Asha Verma")).to_have_count(0)
    await shots(page, "25-live-call-without-customer-details", widths=(DESK,))
    assert problems == []
