"""/staff/callbacks/ in real Chromium over a real daphne, with screenshots.

Arjun, a support lead, signs in and opens the callbacks page: yesterday's callback nobody
closed (held by Venkatalakshmi) is on top as overdue, then today's four (one done already, one
held by Meera), then tomorrow's. He claims Asha's and marks it done, and calls Ravi now; the
"Call now" goes to a local server standing in for Twilio's REST API, which the daphne process
is pointed at. The page is then seen at phones' widths (down to 320 px), a tablet's, and in
the dark theme.

    Chromium ──▶ daphne subprocess ──▶ FakeTwilioApi (this test's thread)

Screenshots of each state go to test-artifacts/callbacks/.

The daphne, the stand-in for Twilio and Chromium are the module's (starting them took seconds a
test); each test has its own data, its own browser contexts and a stand-in that heard nothing yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import pytest
import pytest_asyncio
from django.contrib.auth.models import Group, User
from django.utils import timezone
from playwright.async_api import Browser, BrowserContext, Page, Response, ViewportSize, expect
from twilio.request_validator import RequestValidator

from callbacks import desk
from callbacks.models import Callback
from callbacks.tests.conftest import (
    AGENT,
    LEAD,
    due_now,
    make_callback,
    make_customer,
    today_at,
)
from callbacks.tests.fake_twilio import FakeTwilioApi
from support import mongo
from support.models import Customer
from voiceproject.tests.chromium import launched_chromium
from voiceproject.tests.live_server import BASE_DIR, DaphneServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),  # the server and Chromium are the module's
]


ARTIFACTS = BASE_DIR / "test-artifacts" / "callbacks"
PASSWORD = "correct horse battery staple"
DESK: ViewportSize = {"width": 1280, "height": 800}
NARROW_DESK: ViewportSize = {"width": 1100, "height": 800}  # the narrowest with the table
PHONE: ViewportSize = {"width": 390, "height": 844}
NARROW_PHONE: ViewportSize = {"width": 375, "height": 667}
NARROWEST_PHONE: ViewportSize = {"width": 320, "height": 568}
TABLET: ViewportSize = {"width": 900, "height": 1200}
AUTH_TOKEN = "twilio-test-token"
# A colleague whose name is long: wider than the assignee column, a word of it too.
VENKATA = "Venkatalakshmi Ramasubramanian"


@pytest.fixture
def people(staff_groups: dict[str, Group]) -> dict[str, Customer]:
    arjun = User.objects.create_user("arjun", password=PASSWORD, is_staff=True)
    arjun.groups.add(staff_groups[LEAD])
    meera = User.objects.create_user("meera", is_staff=True, first_name="Meera", last_name="Nair")
    meera.groups.add(staff_groups[AGENT])
    return {
        "asha": make_customer(101, "Asha Verma"),
        "ravi": make_customer(202, "Ravi Kumar"),
        "priya": make_customer(301, "Priya Nair"),
        "kiran": make_customer(404, "Kiran Rao"),
    }


@pytest.fixture
def callbacks(people: dict[str, Customer]) -> None:
    asha, ravi, priya, kiran = (people[n] for n in ("asha", "ravi", "priya", "kiran"))
    # A colleague whose name is long: "Release from" her, on one line, would run off a phone.
    first_name, last_name = VENKATA.split()
    User.objects.create_user("venkata", is_staff=True, first_name=first_name, last_name=last_name)
    make_callback(kiran, today_at(17, 0, days=-1), callback_id="CBK-KIRAN1",
                  reason="Wallet credit missing after a refund", assignee="venkata")
    make_callback(priya, today_at(10, 0), callback_id="CBK-PRIYA1", status="done",
                  assignee="meera", reason="Cold dosa; wanted to hear back about the complaint")
    make_callback(asha, today_at(12, 30), callback_id="CBK-ASHA01", ticket_id="TKT-AAAAAA",
                  reason="Refund was refused outside the window; wants a person to review it")
    make_callback(kiran, today_at(15, 0), callback_id="CBK-KIRAN2", assignee="meera",
                  reason="Rider left the order at the wrong gate")
    make_callback(ravi, today_at(18, 30), callback_id="CBK-RAVI01",
                  reason="Missing raita and gulab jamun from ORD-2001")
    make_callback(priya, today_at(11, 0, days=1), callback_id="CBK-PRIYA2",
                  reason="Follow-up on the hygiene complaint")  # fmt: skip


@pytest.fixture(scope="module")
def twilio_api() -> Iterator[FakeTwilioApi]:
    with FakeTwilioApi() as fake:
        yield fake


@pytest.fixture
def twilio(twilio_api: FakeTwilioApi) -> FakeTwilioApi:
    """The module's stand-in for Twilio, as new: no request heard, none refused, none slow."""
    twilio_api.requests.clear()
    twilio_api.refuse_with = None
    twilio_api.answer_after_s = 0.0
    return twilio_api


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(
    django_db_setup: Any, twilio_api: FakeTwilioApi
) -> AsyncIterator[DaphneServer]:
    env = {"TWILIO_ACCOUNT_SID": "AC" + "5" * 32, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TWILIO_FROM_NUMBER": "+911140001234",
           "TWILIO_API_BASE_URL": twilio_api.url}  # fmt: skip
    with DaphneServer(env=env) as server:
        await asyncio.to_thread(server.start)
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with launched_chromium() as browser:
        yield browser


@pytest_asyncio.fixture(loop_scope="module")
async def browser(chromium: Browser) -> AsyncIterator[Browser]:
    """The module's Chromium for one test: the contexts it opened close after it."""
    yield chromium
    for context in list(chromium.contexts):
        await context.close()


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def watch(page: Page, problems: list[str]) -> None:
    def on_response(response: Response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            problems.append(f"{response.status} {response.url}")

    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("response", on_response)


async def signed_in(
    browser: Browser, base: str, username: str = "arjun", **options: Any
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(**options)
    page = await context.new_page()
    await page.goto(base + "/staff/callbacks/")
    await expect(page).to_have_url(f"{base}/admin/login/?next=/staff/callbacks/")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(base + "/staff/callbacks/")
    return context, page


@contextlib.asynccontextmanager
async def arjun_on_the_board(
    browser: Browser, server: DaphneServer, viewport: ViewportSize
) -> AsyncIterator[tuple[Page, list[str]]]:
    """Arjun signed in on the callbacks board at `viewport`: the page, and what went wrong on
    it (console errors, failed requests) for the test to check; its context closes after."""
    problems: list[str] = []
    context, page = await signed_in(browser, server.url, viewport=viewport)
    watch(page, problems)
    try:
        yield page, problems
    finally:
        await context.close()


def ravi_s_callback(people: dict[str, Customer], start: datetime | None = None) -> Callback:
    """Ravi's callback CBK-RAVI01 about his missing raita, at 18:30 today unless `start`."""
    return make_callback(people["ravi"], start or today_at(18, 30), callback_id="CBK-RAVI01",
                         reason="Missing raita")  # fmt: skip


def row(page: Page, callback_id: str) -> Any:
    return page.locator(f'tr[data-callback="{callback_id}"]')


async def assert_inside_its_cell(badge: Any) -> None:
    """The longest status ("Did not go through at 10:31") stays in its column: it ran into the
    assignee's name beside it."""
    cell = badge.locator("xpath=ancestor::td[1]")
    badge_box, cell_box = await badge.bounding_box(), await cell.bounding_box()
    assert badge_box is not None and cell_box is not None
    assert badge_box["x"] + badge_box["width"] <= cell_box["x"] + cell_box["width"]


async def assert_name_breaks_between_words(row: Any, name: str) -> None:
    """A colleague's name in the assignee column breaks only between its words
    ("Venkatalaksh" on one line, "mi" on the next read as two names): a word too long for the
    column is cut with an ellipsis inside it, and the whole name is its title."""
    shown = row.locator(".assignee .colleague")
    await expect(shown).to_have_text(name)
    await expect(shown).to_have_attribute("title", name)
    # The letter before each line break: for each line of the name, from a character's box.
    before_breaks = await shown.evaluate("""shown => {
        const text = shown.firstChild, range = document.createRange(), found = [];
        let top = null;
        for (let i = 0; i < text.length; i++) {
            range.setStart(text, i);
            range.setEnd(text, i + 1);
            const box = range.getBoundingClientRect();
            if (top !== null && box.top > top + 1) found.push(text.data[i - 1]);
            top = box.top;
        }
        return found;
    }""")
    assert set(before_breaks) <= {" "}, f"{name!r} broken after {before_breaks}"
    cell_box, shown_box = await row.locator(".assignee").bounding_box(), await shown.bounding_box()
    assert cell_box is not None and shown_box is not None
    assert shown_box["x"] + shown_box["width"] <= cell_box["x"] + cell_box["width"]


def twilio_says(status_callback: str, call_sid: str, status: str) -> int:
    """Twilio's StatusCallback of the call `call_sid`, over as `status`: signed, posted to the
    URL the dial gave it. Answers the HTTP status."""
    form = {"CallSid": call_sid, "CallStatus": status, "Direction": "outbound-api"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(status_callback, form)
    request = urllib.request.Request(
        status_callback, urllib.parse.urlencode(form).encode(),
        headers={"X-Twilio-Signature": signature},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


async def test_a_lead_works_todays_callbacks(
    callbacks: None, server: DaphneServer, twilio: FakeTwilioApi, browser: Browser
) -> None:
    async with arjun_on_the_board(browser, server, DESK) as (page, problems):
        # The board: overdue first, then today, then tomorrow.
        await expect(page.get_by_role("heading", name="Callbacks", exact=True)).to_be_visible()
        headings = page.locator(".callback-day h2")
        await expect(headings).to_have_count(3)
        await expect(headings.nth(0)).to_contain_text("Overdue")
        await expect(headings.nth(1)).to_contain_text("Today, ")
        await expect(headings.nth(1)).to_contain_text("4 callbacks")
        await expect(headings.nth(2)).to_contain_text("Tomorrow, ")
        ravi = row(page, "CBK-RAVI01")
        await expect(ravi).to_contain_text("18:30–19:00")
        await expect(ravi.get_by_role("link", name="Ravi Kumar")).to_have_attribute(
            "href", "/staff/customers/202/"
        )
        await expect(ravi).to_contain_text("+91 98000 00202")
        await expect(ravi).to_contain_text("not claimed yet")
        await expect(row(page, "CBK-PRIYA1").locator(".state .badge")).to_have_text("Done")
        kiran = row(page, "CBK-KIRAN2")  # Meera's: Arjun can only take it back from her
        await expect(kiran.get_by_role("button")).to_have_text(["Release from Meera Nair"])
        await assert_name_breaks_between_words(kiran, "Meera Nair")
        await assert_name_breaks_between_words(row(page, "CBK-KIRAN1"), VENKATA)
        await screenshot(page, "01-board-1280")

        asha = row(page, "CBK-ASHA01")
        await asha.get_by_role("button", name="Claim").click()
        await expect(page.locator(".messagelist")).to_contain_text(
            "You claimed the callback to Asha Verma (+91 98000 00101)."
        )
        await expect(asha.locator(".assignee")).to_have_text("arjun")
        await expect(asha.get_by_role("button", name="Claim")).to_have_count(0)
        await screenshot(page, "02-claimed-1280")

        await asha.get_by_role("button", name="Mark done").click()
        await expect(page.locator(".messagelist")).to_contain_text(
            "The callback to Asha Verma (+91 98000 00101) is done."
        )
        await expect(asha.locator(".state .badge")).to_have_text("Done")
        await expect(asha.get_by_role("button")).to_have_count(0)
        await screenshot(page, "03-done-1280")

        # Meera is away: Arjun releases her callback, which anyone may then claim or call.
        await kiran.get_by_role("button", name="Release from Meera Nair").click()
        await expect(page.locator(".messagelist")).to_contain_text(
            "You released Meera Nair's callback to Kiran"
        )
        await expect(kiran.locator(".assignee")).to_have_text("not claimed yet")
        await expect(kiran.get_by_role("button", name="Call now")).to_be_visible()
        await screenshot(page, "03-released-1280")

        # Calling an unclaimed callback claims it.
        await ravi.get_by_role("button", name="Call now").click()
        await expect(page.get_by_text("Ringing Ravi Kumar (+91 98000 00202)…")).to_be_visible()
        await screenshot(page, "04-ringing-1280")
        # Nobody answers (the stand-in for Twilio never streams the call): the page, looking
        # again, says so once the ringing is over.
        await Callback.objects.filter(callback_id="CBK-RAVI01").aupdate(
            dialled_at=timezone.now() - desk.REDIAL_AFTER)  # fmt: skip
        await expect(page.get_by_text("No answer.")).to_be_visible(timeout=10_000)
        await expect(page.get_by_role("button", name="Call again")).to_be_visible()
        await screenshot(page, "04-no-answer-1280")
        await page.get_by_role("link", name="Back to the callbacks").click()
        await expect(ravi.locator(".state .badge")).to_contain_text("No answer at")
        await expect(ravi.locator(".assignee")).to_have_text("arjun")
        await screenshot(page, "04-dialled-board-1280")

        # Twilio fails on its side (a 5xx): no call SID came back, so the call did not go
        # through, and Arjun is told so at once (not "Calling…" for a minute); the board says
        # so too, and "Call now" dials again at once.
        twilio.refuse_with = (503, 20503, "Service temporarily unavailable")
        await kiran.get_by_role("button", name="Call now").click()
        await expect(page.locator(".calling-status")).to_have_text(
            "The call did not go through. Our phone service did not confirm the call to Kiran "
            "Rao (+91 98000 00404).")  # fmt: skip
        # The heading stays true whatever became of the call: who the callback is to.
        await expect(page.locator("h1")).to_have_text("Callback to Kiran Rao (+91 98000 00404)")
        await expect(page.get_by_role("button", name="Call again")).to_be_visible()
        await expect(page.locator(".messagelist")).to_have_count(0)  # said once, on the page
        await screenshot(page, "04-not-confirmed-1280")
        twilio.refuse_with = None
        await page.get_by_role("link", name="Back to the callbacks").click()
        await expect(kiran.locator(".state .badge")).to_contain_text("Did not go through at")
        await screenshot(page, "04-not-confirmed-board-1280")
        await assert_inside_its_cell(kiran.locator(".state .badge"))
        await kiran.get_by_role("button", name="Call now").click()
        await expect(page.get_by_text("Ringing Kiran Rao (+91 98000 00404)…")).to_be_visible()
        await expect(page.locator(".messagelist")).to_have_count(0)
        state = await page.context.storage_state()

        # The admin lists them too, read-only, newest slot first, each status as the board
        # says it (all six are stored as scheduled or done).
        await page.goto(server.url + "/admin/callbacks/callback/")
        await expect(page.locator("#result_list tbody tr")).to_have_count(6)
        await expect(page.locator("#result_list .field-status_")).to_have_text([
            "Scheduled", re.compile(r"No answer at \d\d:\d\d"),
            re.compile(r"Dialled at \d\d:\d\d"), "Done", "Done", "Late"])  # fmt: skip
        await screenshot(page, "08-admin-1280")

    # The same board on phones down to the narrowest, on a tablet, and in the dark theme.
    for name, viewport, scheme in [
        ("05-board-390", PHONE, "light"),
        ("05-board-375", NARROW_PHONE, "light"),
        ("05-board-320", NARROWEST_PHONE, "light"),
        ("05-board-900", TABLET, "light"),
        ("05-board-1100", NARROW_DESK, "light"),
        ("06-board-390-dark", PHONE, "dark"),
        ("07-board-1280-dark", DESK, "dark"),
    ]:
        context = await browser.new_context(
            storage_state=state, viewport=viewport, color_scheme=scheme  # type: ignore[arg-type]
        )
        page = await context.new_page()
        watch(page, problems)
        await page.goto(server.url + "/staff/callbacks/")
        await expect(row(page, "CBK-RAVI01")).to_contain_text("No answer at")
        await screenshot(page, name)
        # Nothing wider than the screen: a page that scrolls sideways hides its right edge.
        width, room = await page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width <= room, f"{name}: the page is {width}px wide on a {room}px screen"
        # An id in a reason stays whole: "ORD-" at the end of one line, "2001" on the next.
        ids = page.locator("td.why .id")
        await expect(ids).to_have_text(["TKT-AAAAAA", "ORD-2001"])
        lines = await ids.evaluate_all("ids => ids.map(id => id.getClientRects().length)")
        assert lines == [1, 1], f"{name}: an id broken across lines"
        if viewport["width"] >= NARROW_DESK["width"]:  # narrower, the assignee is beside the status
            await assert_name_breaks_between_words(row(page, "CBK-KIRAN1"), VENKATA)
        await context.close()

    assert [r.form["To"] for r in twilio.requests] == [
        "+919800000202", "+919800000404", "+919800000404"]  # fmt: skip
    done = await asyncio.to_thread(Callback.objects.get, callback_id="CBK-ASHA01")
    assert (done.status, done.assignee) == ("done", "arjun")
    assert problems == []


async def test_a_customer_who_answered_and_hung_up_is_shown_as_a_call_over(
    people: dict[str, Customer], server: DaphneServer, twilio: FakeTwilioApi, browser: Browser
) -> None:
    """Arjun calls Ravi, who picks up; the line drops moments later. The ringing page, looking
    again, says the call is over (not that the phone still rings) and offers to mark it done.
    On the board, Asha's callback, which Meera held until Asha cancelled it, says who did."""
    ravi = await asyncio.to_thread(ravi_s_callback, people)
    await asyncio.to_thread(make_callback, people["asha"], today_at(12, 30),
                            callback_id="CBK-ASHA01", status="cancelled", assignee="meera",
                            reason="Refund was refused outside the window")  # fmt: skip
    async with arjun_on_the_board(browser, server, DESK) as (page, problems):
        await row(page, "CBK-RAVI01").get_by_role("button", name="Call now").click()
        await expect(page.get_by_text("Ringing Ravi Kumar (+91 98000 00202)…")).to_be_visible()
        # Ravi answers (realtime/phone/consumer.py links his call) and hangs up at once.
        ended = {"call_id": "CALL-RAVI", "ended_at": timezone.now()}
        await mongo.async_db().calls.insert_one(ended)
        await Callback.objects.filter(pk=ravi.pk).aupdate(answered_call_id="CALL-RAVI")
        await expect(page.get_by_text("Call over.")).to_be_visible(timeout=10_000)
        await expect(page.locator(".calling-status")).to_have_text(
            "Call over. Ravi Kumar (+91 98000 00202) answered, and the call has ended.")
        await expect(page.get_by_text("Ringing")).to_have_count(0)
        await expect(page.locator(".calling-actions button")).to_have_text(
            ["Mark done", "Call again"])  # fmt: skip
        await screenshot(page, "09-call-over-1280")
        await page.get_by_role("button", name="Mark done").click()
        await expect(page.locator(".messagelist")).to_contain_text(
            "The callback to Ravi Kumar (+91 98000 00202) is done.")  # fmt: skip
        state = await page.context.storage_state()

    context = await browser.new_context(storage_state=state, viewport=PHONE)
    page = await context.new_page()
    watch(page, problems)
    await page.goto(server.url + "/staff/callbacks/")
    await expect(row(page, "CBK-ASHA01").locator(".state")).to_have_text(
        "Cancelled by the customer")  # fmt: skip
    await screenshot(page, "10-cancelled-390")
    await context.close()
    assert problems == []


async def test_a_busy_line_is_told_at_once(
    people: dict[str, Customer], server: DaphneServer, twilio: FakeTwilioApi, browser: Browser
) -> None:
    """Arjun calls Ravi, whose line is busy: Twilio says so moments after the dial, and the
    ringing page, looking again, says so (not "Ringing" for a minute, then "did not pick up");
    "Call again" rings him at once. Ravi's slot has begun: he may be marked missed."""
    await asyncio.to_thread(ravi_s_callback, people, due_now())
    async with arjun_on_the_board(browser, server, DESK) as (page, problems):
        await row(page, "CBK-RAVI01").get_by_role("button", name="Call now").click()
        await expect(page.get_by_text("Ringing Ravi Kumar (+91 98000 00202)…")).to_be_visible()
        [dial] = twilio.requests
        ravi = await Callback.objects.aget(callback_id="CBK-RAVI01")
        told = await asyncio.to_thread(
            twilio_says, dial.form["StatusCallback"], ravi.call_sid, "busy")  # fmt: skip
        assert told == 204
        await expect(page.locator(".calling-status")).to_have_text(
            "Line busy. Ravi Kumar (+91 98000 00202) is on another call.", timeout=10_000)
        await expect(page.get_by_text("Ringing")).to_have_count(0)
        await expect(page.locator(".calling-actions button")).to_have_text(
            ["Call again", "Mark missed"])  # fmt: skip
        await screenshot(page, "11-line-busy-1280")
        await page.get_by_role("button", name="Call again").click()
        await expect(page.get_by_text("Ringing Ravi Kumar (+91 98000 00202)…")).to_be_visible()
        await expect(page.locator(".messagelist")).to_have_count(0)
    assert len(twilio.requests) == 2
    assert problems == []


def a_full_fortnight(people: dict[str, Customer]) -> None:
    """More callbacks than a page holds: 54 customers over the coming two weeks (four a day,
    three on the last two); Asha's, held by Arjun, and Priya's due now, and Ravi's tomorrow,
    held by Arjun too. The first page ends in the middle of the twelfth day's four."""
    for n in range(54):
        customer = make_customer(1000 + n, f"Customer {n:02d}")
        make_callback(customer, today_at(9 + n // 14, 0, days=1 + n % 14),
                      callback_id=f"CBK-FULL{n:02d}", reason="Wants to hear back")  # fmt: skip
    make_callback(people["asha"], due_now(), callback_id="CBK-ASHA01", assignee="arjun",
                  reason="Refund was refused outside the window")  # fmt: skip
    make_callback(people["priya"], due_now(), callback_id="CBK-PRIYA1", seat=2)
    make_callback(people["ravi"], today_at(9, 30, days=1), callback_id="CBK-RAVI01",
                  assignee="arjun", reason="Missing raita")  # fmt: skip


async def test_the_board_pages_and_offers_only_what_can_work(
    people: dict[str, Customer], server: DaphneServer, browser: Browser,
    staff_groups: dict[str, Group],
) -> None:  # fmt: skip
    """With more callbacks than a page holds, the board shows the first 50 and a link to the
    later ones. Asha's slot has begun: Arjun may mark her missed; Ravi's is tomorrow: not yet.
    Kavya, an agent, may not take calls over: the page of the call she held, which found a
    busy line, offers no "Call again" and says why."""
    await asyncio.to_thread(a_full_fortnight, people)
    async with arjun_on_the_board(browser, server, DESK) as (page, problems):
        await expect(page.locator("tr.callback")).to_have_count(50)
        asha, ravi = row(page, "CBK-ASHA01"), row(page, "CBK-RAVI01")
        await expect(asha.get_by_role("button", name="Mark missed")).to_be_visible()
        await expect(ravi.get_by_role("button", name="Mark done")).to_be_visible()
        await expect(ravi.get_by_role("button", name="Mark missed")).to_have_count(0)
        pager = page.locator(".pager")
        await expect(page.locator(".callback-day h2").last).to_contain_text(
            "4 callbacks, 3 on this page")  # fmt: skip
        await expect(pager).to_have_text("Page 1 later callbacks →")
        await screenshot(page, "12-board-page-1-1280")
        await pager.get_by_role("link", name="later callbacks →").click()
        await expect(page).to_have_url(server.url + "/staff/callbacks/?page=2")
        await expect(page.locator("tr.callback")).to_have_count(7)
        await expect(page.locator(".callback-day h2").first).to_contain_text(
            "4 callbacks, 1 on this page")  # fmt: skip
        await expect(pager).to_have_text("← earlier callbacks Page 2")
        await screenshot(page, "13-board-page-2-1280")
        # The page past the last says so, with the way back.
        await page.goto(server.url + "/staff/callbacks/?page=3")
        await expect(page.get_by_text("No callbacks on this page.")).to_be_visible()
        await page.get_by_role("link", name="Back to the first page").click()
        await expect(page.locator("tr.callback")).to_have_count(50)

    kavya = await asyncio.to_thread(User.objects.create_user, "kavya", password=PASSWORD,
                                    is_staff=True, first_name="Kavya")  # fmt: skip
    await asyncio.to_thread(kavya.groups.add, staff_groups[AGENT])
    await Callback.objects.filter(callback_id="CBK-ASHA01").aupdate(
        assignee="kavya", dialled_at=timezone.now(), call_sid="CA" + "1" * 32, dial_status="busy")
    context, page = await signed_in(browser, server.url, "kavya", viewport=PHONE)
    watch(page, problems)
    try:
        await page.goto(server.url + "/staff/callbacks/CBK-ASHA01/calling")
        await expect(page.locator(".calling-status")).to_have_text(
            "Line busy. Asha Verma (+91 98000 00101) is on another call.")  # fmt: skip
        await expect(page.locator(".calling-actions button")).to_have_text(["Mark missed"])
        await expect(page.get_by_text("Calling again needs the right to take calls over")
                     ).to_be_visible()  # fmt: skip
        await screenshot(page, "14-call-again-not-offered-390")
    finally:
        await context.close()
    assert problems == []
