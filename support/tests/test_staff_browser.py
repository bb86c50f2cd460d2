"""The back office in real Chromium over a real daphne, as a support lead (Arjun), an agent
(Meera) and a customer-side user who is not staff, on the demo data (seed_demo).

    Chromium (one context per person) ──▶ daphne subprocess ──▶ FakeLiveServer (this loop)
    test's WebSocket caller ──▶ /ws/voice ─┘  (a real call, escalated by the fake agent)

Every page and state is photographed at 1280 px and at 390 px (and the dashboard and a call in
the dark theme too) under test-artifacts/staff/.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.utils import timezone
from playwright.async_api import Browser, BrowserContext, Page, expect
from websockets.asyncio.client import connect

from callbacks.models import Callback
from callbacks.slots import Hours, local_date
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from support import escalations, mongo
from support.models import Customer, Escalation
from support.staff.labels import phone_label
from support.tests.staff.conftest import AGENT, LEAD, PASSWORD, make_ticket
from voiceproject.tests.chromium import launched_chromium, lines_of, on_more_than_one_line
from voiceproject.tests.live_server import BASE_DIR, DaphneServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),
]

# Playwright's 5 s default is tight for pages rendered by a separate server on a 2-core
# machine that is also running the database; a real failure still fails, only later.
EXPECT_TIMEOUT_MS = 20_000  # conftest.py sets it before each test

ARTIFACTS = BASE_DIR / "test-artifacts" / "staff"
WIDE, NARROW = 1280, 390
ESCALATION_REASON = "Rider left the order at the wrong gate; caller wants a person"
RECONNECT_MAX_MS = 30_000  # static/staff/live-rows.js: MAX_DELAY_MS
SUPPORT_COLLECTIONS = ("customers", "orders", "refunds", "complaints", "escalations", "calls",
                       "callbacks")  # fmt: skip


# --- The server, the browser, the data ----------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake_live() -> AsyncIterator[FakeLiveServer]:
    async with FakeLiveServer() as live:
        yield live


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def staff_server(
    django_db_setup: Any, fake_live: FakeLiveServer
) -> AsyncIterator[DaphneServer]:
    """daphne on the test database, its Live API the fake (for the escalating call)."""
    with DaphneServer(gemini_live_url=fake_live.url) as server:
        # Starting blocks until /healthz answers; the fake must keep serving meanwhile.
        await asyncio.to_thread(server.start)
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with launched_chromium() as browser:
        yield browser


_demo: dict[str, list[dict[str, Any]]] = {}


@pytest.fixture
def demo(transactional_db: Any) -> Iterator[None]:
    """The demo data set, as seed_demo writes it; seeded once, put back for later tests."""
    db = mongo.sync_db()
    if not _demo:
        call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
        _demo.update({name: list(db[name].find()) for name in SUPPORT_COLLECTIONS})
    else:
        for name, documents in _demo.items():
            db[name].delete_many({})
            db[name].insert_many([dict(doc) for doc in documents])
    yield


def _person(username: str, group: str | None, first_name: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD,
                                    is_staff=group is not None, first_name=first_name)  # fmt: skip
    if group is not None:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def people(demo: None) -> dict[str, User]:
    """Meera (agent), Arjun (lead) and a guest; the groups come from the migrations."""
    return {
        "meera": _person("meera", AGENT, "Meera"),
        "arjun": _person("arjun", LEAD, "Arjun"),
        "guest": _person("guest", None, "Guest"),
    }


@dataclass
class Staff:
    """One person's browser context, signed in, with what the browser complained about."""

    context: BrowserContext
    page: Page
    base: str
    problems: list[str] = field(default_factory=list)

    async def open(self, path: str) -> None:
        response = await self.page.goto(self.base + path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"

    async def shoot(self, name: str, *, narrow: bool = True) -> None:
        """The page at 1280 px, then (the same state) at 390 px."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=ARTIFACTS / f"{name}-{WIDE}.png", full_page=True)
        if narrow:
            await self.page.set_viewport_size({"width": NARROW, "height": 844})
            await self.page.screenshot(path=ARTIFACTS / f"{name}-{NARROW}.png", full_page=True)
            await self.page.set_viewport_size({"width": WIDE, "height": 900})


def watch(staff: Staff) -> None:
    """Note the page's script errors and failed requests (with their address) in `problems`.
    Chromium asks every site for /favicon.ico on its own; the project serves none."""

    def on_console(message: Any) -> None:
        # A failed request is reported below, with its address.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            staff.problems.append(f"console: {message.text}")

    def on_response(response: Any) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            staff.problems.append(f"{response.status} {response.url}")

    staff.page.on("console", on_console)
    staff.page.on("pageerror", lambda error: staff.problems.append(f"page error: {error}"))
    staff.page.on("response", on_response)


@pytest_asyncio.fixture(loop_scope="module")
async def sign_in(browser: Browser, staff_server: DaphneServer) -> AsyncIterator[Any]:
    contexts: list[Staff] = []

    async def signed_in(username: str, *, password: str = PASSWORD, dark: bool = False) -> Staff:
        context = await browser.new_context(viewport={"width": WIDE, "height": 900},
                                            color_scheme="dark" if dark else "light")  # fmt: skip
        page = await context.new_page()
        staff = Staff(context, page, staff_server.url)
        watch(staff)
        await staff.open("/admin/login/?next=/staff/")
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.locator("#user-tools")).to_be_visible()
        contexts.append(staff)
        return staff

    yield signed_in
    for staff in contexts:
        await staff.context.close()
    problems = [problem for staff in contexts for problem in staff.problems]
    assert problems == [], problems


@contextlib.asynccontextmanager
async def escalating_call(server: DaphneServer, live: FakeLiveServer,
                          user_id: int) -> AsyncIterator[str]:  # fmt: skip
    """A web voice call from customer `user_id` in which the agent escalates: the ticket id,
    with the call still up. (The bridge announces the ticket to staff pages after telling the
    caller; a caller hanging up at once can cancel that announcement: see the report.)"""

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_tool_call([{
            "name": "escalate_to_human",
            "args": {"reason": ESCALATION_REASON, "priority": "urgent"},
        }])  # fmt: skip
        await session.wait_for_tool_response(timeout=10)
        await session.send_turn_complete()

    ws_url = server.url.replace("http://", "ws://") + f"/ws/voice?user_id={user_id}"
    # The voice route only takes connections from pages of an allowed host.
    async with connect(ws_url, origin=server.url) as call:  # type: ignore[arg-type]
        ticket_id = await asyncio.wait_for(_escalated(call), timeout=20)
        yield ticket_id


async def _escalated(call: Any) -> str:
    async for frame in call:
        if isinstance(frame, str) and json.loads(frame)["type"] == "escalated":
            return str(json.loads(frame)["ticket_id"])
    raise AssertionError("the call ended without an escalation")


def a_callback_for(ticket: Escalation) -> None:
    """A callback booked on `ticket` for its customer, two days from now at 15:00 local."""
    hours = Hours.from_settings()
    day = local_date(timezone.now(), hours.zone) + dt.timedelta(days=2)
    start = dt.datetime.combine(day, dt.time(15), tzinfo=hours.zone).astimezone(dt.UTC)
    assert ticket.customer_id is not None
    customer = Customer.objects.get(user_id=ticket.customer_id)
    Callback.objects.create(
        callback_id="CBK-TICKET1", customer=customer, phone=customer.phone, slot_start=start,
        local_date=day.isoformat(), seat=9, reason=ticket.reason, ticket_id=ticket.ticket_id,
    )  # fmt: skip


def a_call(outcome: str) -> str:
    """The id of a demo call with this outcome."""
    call = mongo.sync_db().calls.find_one({"outcome": outcome}, {"call_id": 1})
    assert call is not None, outcome
    return str(call["call_id"])


PRIORITY_RANK = {"Urgent": 0, "High": 1, "Normal": 2, "Low": 3}


async def queue_rows(page: Page) -> list[tuple[str, str]]:
    """(ticket id, priority) of each row of the queue, top to bottom."""
    rows = page.locator("table.queue tbody tr[data-ticket]")
    tickets = await rows.evaluate_all("rows => rows.map(r => r.dataset.ticket)")
    priorities = await rows.locator(".priority").all_inner_texts()
    return list(zip(tickets, priorities, strict=True))


# The contrast ratio (WCAG 2) of an element's text with the background it is drawn on: that of
# the nearest box, itself or an ancestor, whose background is not transparent.
CONTRAST = """(e) => {
  const rgb = (css) => css.match(/[\\d.]+/g).map(Number);
  const luminance = (css) => {
    const [r, g, b] = rgb(css).slice(0, 3).map((c) => c / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  let box = e;
  while (box.parentElement && (rgb(getComputedStyle(box).backgroundColor)[3] ?? 1) === 0) {
    box = box.parentElement;
  }
  const [a, b] = [getComputedStyle(e).color, getComputedStyle(box).backgroundColor].map(luminance);
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


# What of `all` the browser broke over two lines or more (an id must keep to one).
BROKEN = "(all) => all.filter((e) => e.getClientRects().length > 1).map((e) => e.textContent)"


async def underlined(link: Any) -> bool:
    """Whether a link is underlined, as one inside a sentence must be: the admin's link blue
    and its text's grey are 2.6:1, too close to tell a link by its colour alone."""
    return "underline" in str(await link.evaluate("a => getComputedStyle(a).textDecorationLine"))


async def placeholder_fits(box: Any) -> bool:
    """Whether a text box's placeholder is read whole, not cut off at its right edge (the
    search box's was, on a phone: "Name, phone, email or id (ORD-, TKT-, C")."""
    return bool(
        await box.evaluate("""input => {
        const style = getComputedStyle(input);
        const context = document.createElement("canvas").getContext("2d");
        context.font = style.font;
        const room = input.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        return context.measureText(input.placeholder).width <= room;
    }""")
    )


# --- The tests ----------------------------------------------------------------------------------


async def test_a_lead_adds_an_agent_who_then_logs_in(
    people: dict[str, User], sign_in: Any
) -> None:
    arjun = await sign_in("arjun")
    await arjun.shoot("01-dashboard")
    await arjun.page.set_viewport_size({"width": NARROW, "height": 844})
    assert await placeholder_fits(arjun.page.get_by_role("searchbox", name="Search"))
    await arjun.page.set_viewport_size({"width": WIDE, "height": 900})
    await arjun.page.get_by_role("link", name="Team").click()
    await expect(arjun.page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    await arjun.shoot("02-team")

    await arjun.page.get_by_role("link", name="Add team member").click()
    form = arjun.page.locator("#user_form")
    # The admin puts the cursor in the first field once its script has run; typing before
    # that, under load, had "Kiran" land after "kiran" in the username.
    await expect(form.get_by_label("Username")).to_be_focused()
    await form.get_by_label("Username").fill("kiran")
    await form.get_by_label("First name").fill("Kiran")
    await form.get_by_label("Last name").fill("Rao")
    await form.get_by_label("Support agent: works the queue").check()
    await form.locator("#id_password1").fill("a-long-Pass-word-42")
    await form.locator("#id_password2").fill("a-long-Pass-word-42")
    await expect(form.get_by_label("Superuser status")).to_have_count(0)
    await arjun.shoot("03-team-add")
    await form.get_by_role("button", name="Save", exact=True).click()
    await expect(arjun.page.locator(".messagelist")).to_contain_text("was added successfully")
    await arjun.shoot("04-team-added")

    kiran = await sign_in("kiran", password="a-long-Pass-word-42")
    await kiran.open("/staff/queue/")
    await expect(kiran.page.get_by_role("heading", name="Open escalations")).to_be_visible()
    await expect(kiran.page.locator("#user-tools")).to_contain_text("Welcome, Kiran.")
    assert not (await asyncio.to_thread(User.objects.get, username="kiran")).is_superuser


async def test_a_new_ticket_is_sorted_in_live_claimable_and_leaves_for_everyone(
    people: dict[str, User], sign_in: Any, staff_server: DaphneServer, fake_live: FakeLiveServer
) -> None:
    meera, arjun = await sign_in("meera"), await sign_in("arjun")
    # Arjun's page keeps its own time (flowing as it would), for the blip below.
    await arjun.context.clock.install()
    for staff in (meera, arjun):
        await staff.open("/staff/queue/")
        await expect(staff.page.locator("[data-live-status]")).to_contain_text("Live:")
    before = await queue_rows(meera.page)
    await meera.shoot("05-queue")
    # On a phone "Claim" is a finger's size, as the callbacks board's buttons are (it was 27 px).
    await meera.page.set_viewport_size({"width": NARROW, "height": 844})
    claim = meera.page.get_by_role("button", name="Claim").first
    assert ((await claim.bounding_box()) or {"height": 0})["height"] >= 40
    await meera.page.set_viewport_size({"width": WIDE, "height": 900})

    # A caller is escalated on the server: both pages show the ticket, in its place.
    async with escalating_call(staff_server, fake_live, user_id=1) as ticket_id:
        for staff in (meera, arjun):
            row = staff.page.locator(f"tr[data-ticket='{ticket_id}']")
            await expect(row).to_contain_text("Aarav Sharma")
            await expect(row).to_contain_text(ESCALATION_REASON)
            await expect(row.get_by_role("button", name="Claim")).to_be_visible()
            await expect(row.locator(".live-now")).to_contain_text("On the call now")
    for staff in (meera, arjun):
        # The caller hung up: the ticket is no longer live, and the rows were fetched again.
        # Clicking while they are replaced can miss (CI once lost Meera's "Claim" that way).
        row = staff.page.locator(f"tr[data-ticket='{ticket_id}']")
        await expect(row.locator(".live-now")).to_have_count(0)
    rows = await queue_rows(meera.page)
    assert len(rows) == len(before) + 1
    ranks = [PRIORITY_RANK[priority] for _, priority in rows]
    assert ranks == sorted(ranks), rows  # urgent, high, normal, low …
    urgent = [t for t, p in rows if p == "Urgent"]
    assert urgent[-1] == ticket_id  # … then oldest first: the new one is the last urgent
    await meera.shoot("06-queue-live")

    # Meera claims it from the row; it leaves Arjun's open queue without a reload.
    await meera.page.locator(f"tr[data-ticket='{ticket_id}']").get_by_role(
        "button", name="Claim").click()
    await expect(meera.page.locator(".messagelist")).to_contain_text(
        f"You claimed ticket {ticket_id}.")
    await expect(arjun.page.locator(f"tr[data-ticket='{ticket_id}']")).to_have_count(0)
    await expect(arjun.page.locator("[data-live-status]")).to_contain_text(
        f"Ticket {ticket_id} claimed by Meera.")
    claimed = await asyncio.to_thread(Escalation.objects.get, ticket_id=ticket_id)
    assert (claimed.status, claimed.assignee) == ("claimed", "meera")

    # A network blip: the server goes away and comes back. A ticket opened meanwhile is on the
    # page once it has reconnected.
    await asyncio.to_thread(staff_server.stop)
    try:
        # "...paused; reconnecting…" once the socket closes, "...retrying…" a second later when
        # the next try fails: a busy machine may look only then.
        await expect(arjun.page.locator("[data-live-status]")).to_contain_text(
            re.compile("reconnecting|retrying"))
        await asyncio.to_thread(make_ticket, "TKT-BL1PQR", priority="high", minutes_ago=0,
                                reason="Opened while the page was offline")  # fmt: skip
    finally:  # the module's other tests use this server
        await asyncio.to_thread(staff_server.start)
    # The server is back. The page tries again on its own timer, which has grown while the
    # server restarted (1, 2, 4 ... up to 30 s between tries): its next try is now, not up to
    # half a minute later, as if the laptop had slept through the wait.
    await arjun.page.clock.fast_forward(RECONNECT_MAX_MS)
    await expect(arjun.page.locator("tr[data-ticket='TKT-BL1PQR']")).to_be_visible(
        timeout=45_000)
    await expect(arjun.page.locator("[data-live-status]")).to_contain_text("Live:")
    for staff in (meera, arjun):  # the browser reports each failed reconnection: expected
        staff.problems[:] = [p for p in staff.problems if "/ws/staff/queue' failed" not in p]

    await arjun.open("/staff/queue/claimed/")
    await expect(arjun.page.locator("[data-live-status]")).to_contain_text("Live:")
    await arjun.shoot("07-queue-claimed")
    await arjun.open("/staff/queue/resolved/")
    await arjun.shoot("08-queue-resolved")


async def test_the_customer_page_and_a_call_read_as_a_conversation(
    people: dict[str, User], sign_in: Any
) -> None:
    meera = await sign_in("meera")
    await meera.page.get_by_role("searchbox", name="Search").fill("aarav")
    await meera.page.get_by_role("button", name="Search").click()
    await expect(meera.page).to_have_url(f"{meera.base}/staff/customers/1/")
    page = meera.page
    await expect(page.get_by_role("heading", name="Aarav Sharma")).to_be_visible()
    for text in ["Gold", "refunds 75% of an order", "more to Platinum", "Orders", "Calls",
                 "Tickets", "Complaints", "Refunds", "Callbacks"]:  # fmt: skip
        await expect(page.locator("#content")).to_contain_text(text)
    await meera.shoot("09-customer")
    # An id is one word: on a phone it goes to the next line whole, not split at its hyphen.
    await page.set_viewport_size({"width": NARROW, "height": 844})
    ids = page.locator("#content .id")
    assert await ids.count() >= 5  # orders in tickets, complaints, refunds; the tickets themselves
    assert await on_more_than_one_line(ids) == []
    await page.set_viewport_size({"width": WIDE, "height": 900})
    # A ticket's id in its line of the list links to it, and looks like a link.
    assert await underlined(page.locator("#content li a.id").first)

    # A call in which the agent refunded an order, from the call history.
    call_id = await asyncio.to_thread(a_call, "resolved_refund")
    await meera.open(f"/staff/calls/{call_id}/")
    refund_line = page.locator("li.tool", has_text="Refunded ₹")
    await expect(refund_line).to_be_visible()
    await expect(refund_line).to_contain_text("%) for ORD-")
    await expect(page.locator(".call-facts")).to_contain_text("Resolved with a refund")
    await expect(page.locator("#content")).not_to_contain_text("prompt_token_count")
    await refund_line.locator("summary").click()  # the raw data, behind the disclosure
    await expect(refund_line.locator("pre").first).to_contain_text('"order_id"')
    await meera.shoot("10-call-refund")

    await meera.open("/staff/search/?q=sharma")
    await meera.shoot("11-search")
    ticket = await asyncio.to_thread(
        lambda: Escalation.objects.exclude(order_id=None).exclude(call_id="").first()
    )
    assert ticket is not None
    # Nobody could join its call in time: the agent booked a callback on it.
    await asyncio.to_thread(a_callback_for, ticket)
    await meera.open(f"/staff/tickets/{ticket.ticket_id}/")
    await expect(page.locator(".briefing")).to_contain_text(ticket.order_id or "")
    await expect(page.locator(".briefing")).to_contain_text("Agent did")
    await expect(page.locator(".briefing")).to_contain_text("CBK-TICKET1")
    assert await underlined(page.locator("#content dd a").first)  # "open the call"
    await meera.shoot("12-ticket")


def a_reader() -> None:
    """Kiran: on the team to read tickets and calls, not customers or orders."""
    kiran = User.objects.create_user("kiran", "kiran@example.com", PASSWORD, is_staff=True,
                                     first_name="Kiran")  # fmt: skip
    kiran.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="support", codename__in=["view_escalation", "view_call"]))


def a_claimed_ticket_about_an_order() -> Escalation:
    """A demo customer's open ticket about one of their orders, claimed by Meera."""
    ticket = next(t for t in Escalation.objects.filter(status="open")
                  if t.customer_id is not None and t.order_id)  # fmt: skip
    return escalations.claim(ticket.ticket_id, "meera")


def caller_of(call_id: str) -> Customer:
    call = mongo.sync_db().calls.find_one({"call_id": call_id}, {"user_id": 1})
    assert call is not None
    return Customer.objects.get(user_id=call["user_id"])


async def test_a_colleague_who_may_not_see_customers_works_tickets_by_their_names_alone(
    people: dict[str, User], sign_in: Any
) -> None:
    await asyncio.to_thread(a_reader)
    ticket = await asyncio.to_thread(a_claimed_ticket_about_an_order)
    customer = await asyncio.to_thread(Customer.objects.get, user_id=ticket.customer_id)
    kiran = await sign_in("kiran")
    content = kiran.page.locator("#content")

    await kiran.open(f"/staff/tickets/{ticket.ticket_id}/")
    briefing = kiran.page.locator(".briefing")
    await expect(briefing).to_contain_text(customer.name)
    await expect(briefing).to_contain_text("open for")
    await expect(briefing).to_contain_text(f"{ticket.order_id} · you need permission to view "
                                           "orders to see it")  # fmt: skip
    await expect(content).to_contain_text("You need permission to view customers")
    await expect(content).not_to_contain_text(phone_label(customer.phone))
    await expect(content).not_to_contain_text(customer.email or "@")
    await kiran.shoot("23-ticket-for-a-reader")

    await kiran.open("/staff/queue/claimed/")
    row = kiran.page.locator(f"tr[data-ticket='{ticket.ticket_id}']")
    await expect(row).to_contain_text(customer.name)
    await expect(content).not_to_contain_text(phone_label(customer.phone))
    await kiran.shoot("24-queue-for-a-reader")

    call_id = await asyncio.to_thread(a_call, "resolved_refund")
    caller = await asyncio.to_thread(caller_of, call_id)
    await kiran.open(f"/staff/calls/{call_id}/")
    await expect(kiran.page.locator(".call-facts")).to_contain_text(caller.name)
    await expect(content).not_to_contain_text(phone_label(caller.phone))
    await kiran.shoot("25-call-for-a-reader")


async def test_a_long_first_name_and_a_tool_lines_labels_keep_their_words_whole(
    people: dict[str, User], sign_in: Any
) -> None:
    """The speaker's column is as wide as the longest name on the call (up to 10em): a long
    first name is not broken mid-word, and every line's time and words start where the
    others' do; so are the labels of a tool line's details."""
    call_id = await asyncio.to_thread(a_call, "resolved_refund")
    await asyncio.to_thread(renamed_caller_of, call_id, "Radhakrishnan Venkataraman")
    meera = await sign_in("meera")
    await meera.open(f"/staff/calls/{call_id}/")
    page = meera.page
    await page.locator("li.tool summary").first.click()
    name = page.locator("li.turn.customer .who").first
    arguments = page.locator("dl.raw dt", has_text="arguments").first
    await expect(name).to_have_text("Radhakrishnan")
    for width in (WIDE, NARROW):
        await page.set_viewport_size({"width": width, "height": 900})
        assert await lines_of(name) == 1, width
        assert await lines_of(arguments) == 1, width
    await page.set_viewport_size({"width": WIDE, "height": 900})
    for column in ("time", "p"):  # each at one left edge, whoever speaks
        lefts = await page.locator(f"ol.conversation li.turn > {column}").evaluate_all(
            "all => all.map(e => Math.round(e.getBoundingClientRect().left))")  # fmt: skip
        assert len(lefts) > 2 and len(set(lefts)) == 1, (column, lefts)
    await meera.shoot("10b-call-long-first-name")


def renamed_caller_of(call_id: str, name: str) -> None:
    call = mongo.sync_db().calls.find_one({"call_id": call_id}, {"user_id": 1})
    assert call is not None
    customer = Customer.objects.get(user_id=call["user_id"])
    customer.name = name
    customer.save()


async def test_a_bad_filter_shows_an_error_beside_it(people: dict[str, User], sign_in: Any) -> None:
    meera = await sign_in("meera")
    await meera.open("/staff/calls/")
    await expect(meera.page.locator("table.calls tbody tr")).to_have_count(50)
    hint = "name, phone, email or user id (e.g. #301)"
    await expect(meera.page.get_by_label("Customer")).to_have_accessible_description(hint)
    await meera.shoot("13-calls")

    await meera.page.get_by_label("Customer").fill("Nobody Atall")
    await meera.page.get_by_role("button", name="Filter").click()

    field = meera.page.locator(".filter.errors")
    await expect(field).to_contain_text("No customer matches “Nobody Atall”.")
    await expect(meera.page.locator("table.calls")).to_have_count(0)
    customer = meera.page.get_by_label("Customer")
    await expect(customer).to_have_value("Nobody Atall")
    # A screen reader reads the error with the field it is about, after what the field takes.
    await expect(customer).to_have_accessible_description(
        f"{hint} No customer matches “Nobody Atall”.")  # fmt: skip
    await expect(customer).to_have_attribute("aria-invalid", "true")
    await meera.shoot("14-calls-bad-filter")

    await meera.open("/staff/?since=soon")
    await expect(meera.page.locator(".filter.errors")).to_contain_text("Enter a valid date.")
    await expect(meera.page.get_by_label("From")).to_have_accessible_description(
        "Enter a valid date.")  # fmt: skip

    await meera.open("/staff/customers/3/")
    form = meera.page.locator("form.goodwill-form")
    await form.get_by_role("button", name="Propose to a lead").click()
    amount = meera.page.locator("form.goodwill-form").get_by_label("Amount (₹)")
    await expect(amount).to_have_attribute("aria-invalid", "true")
    await expect(amount).not_to_have_accessible_description("")


async def test_a_goodwill_credit_approved_twice_changes_the_wallet_once(
    people: dict[str, User], sign_in: Any
) -> None:
    wallet_before = (await asyncio.to_thread(Customer.objects.get, user_id=3)).wallet_balance
    meera = await sign_in("meera")
    await meera.open("/staff/customers/3/")
    form = meera.page.locator("form.goodwill-form")
    await form.get_by_label("Goodwill credit to the wallet").check()
    await form.get_by_label("Amount (₹)").fill("150")
    await form.get_by_label("Why").fill("Rider was rude at the door")
    await form.get_by_role("button", name="Propose to a lead").click()
    await expect(meera.page.locator(".messagelist")).to_contain_text("Sent to a lead for approval")
    await meera.shoot("15-goodwill-proposed")

    arjun = await sign_in("arjun")
    await arjun.open("/staff/customers/3/")
    approve = arjun.page.locator("tr.goodwill-proposed").get_by_role("button", name="Approve")
    await approve.dblclick()
    await expect(arjun.page.locator(".messagelist")).to_contain_text("Credited ₹150.00")
    await expect(arjun.page.locator("tr.goodwill-approved")).to_contain_text("approved by Arjun")
    await arjun.shoot("16-goodwill-approved")

    customer = await asyncio.to_thread(Customer.objects.get, user_id=3)
    assert customer.wallet_balance == wallet_before + 15_000


async def test_the_dashboard_and_a_call_in_the_dark_theme(
    people: dict[str, User], sign_in: Any
) -> None:
    arjun = await sign_in("arjun", dark=True)
    await arjun.open("/staff/")
    await expect(arjun.page.locator("svg[role=img]")).to_have_count(8)
    # A bar chart's figures are read too, not only its title (the others have a table of them).
    ages = arjun.page.get_by_role("figure", name="Open tickets by waiting time")
    await expect(ages.get_by_role("listitem").first).to_have_text(re.compile(r".+: \d+$"))
    await arjun.shoot("17-dashboard-dark")
    # The exports' links in the line over the charts look like links (not only by colour).
    assert await underlined(arjun.page.locator(".range-says a").first)
    # An overdue ticket's red words are read on its row's warning brown: the admin's red was
    # 3.2:1 there.
    await arjun.open("/staff/queue/")
    await expect(arjun.page.locator("[data-live-status]")).to_contain_text("Live:")
    for words in ("tr.overdue .overdue-flag", "tr.overdue.priority-urgent .priority"):
        # In one look: the live queue can replace its rows between two.
        ratios = await arjun.page.locator(words).evaluate_all(f"(all) => all.map({CONTRAST})")
        assert ratios and min(ratios) >= 4.5, (words, ratios)
    call_id = await asyncio.to_thread(a_call, "escalated")
    await arjun.open(f"/staff/calls/{call_id}/")
    await arjun.shoot("18-call-dark")
    await arjun.open(f"/admin/support/call/?q={call_id}")
    await arjun.page.get_by_role("link", name=call_id).click()
    await expect(arjun.page.locator(".conversation")).to_be_visible()
    await arjun.shoot("19-admin-call-dark")
    # On a phone the trail ends in the call's id on one line, and the ids in the conversation's
    # sentences ("about ORD-1193: ticket TKT-…") keep to theirs.
    await arjun.page.set_viewport_size({"width": NARROW, "height": 844})
    crumb = arjun.page.locator(".breadcrumbs .id")
    await expect(crumb).to_have_text(call_id)
    ids = arjun.page.locator(".conversation .id")
    await expect(ids.first).to_be_visible()
    assert await crumb.evaluate_all(BROKEN) == []
    assert await ids.evaluate_all(BROKEN) == []
    await arjun.page.set_viewport_size({"width": WIDE, "height": 900})
    await arjun.open("/admin/")
    await arjun.shoot("21-admin-index-dark")
    await arjun.open("/admin/support/order/?q=aarav")
    await expect(arjun.page.locator("#result_list")).to_contain_text("Aarav Sharma")
    await arjun.shoot("22-admin-orders-by-name-dark")
    # A refund's "₹732.75 (75%, RFD-1125)" keeps its id on one line.
    refunds = arjun.page.locator("#result_list .field-refund_ a")
    await expect(refunds.first).to_contain_text("RFD-")
    assert await refunds.evaluate_all(BROKEN) == []


async def test_someone_who_is_not_staff_gets_no_back_office(
    people: dict[str, User], browser: Browser, staff_server: DaphneServer
) -> None:
    context = await browser.new_context(viewport={"width": WIDE, "height": 900})
    page = await context.new_page()
    staff = Staff(context, page, staff_server.url)
    watch(staff)
    try:
        await staff.open("/staff/customers/1/")
        await expect(page).to_have_url(f"{staff.base}/admin/login/?next=/staff/customers/1/")
        await staff.shoot("00-login")
        await page.get_by_label("Username").fill("guest")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.locator(".errornote")).to_contain_text(
            "Please enter the correct username and password for a staff account")
        await staff.shoot("20-guest-refused")
        await staff.open("/staff/")
        await expect(page).to_have_url(f"{staff.base}/admin/login/?next=/staff/")
    finally:
        await context.close()


async def test_a_queue_left_open_by_someone_deactivated_stops_its_live_updates(
    people: dict[str, User], sign_in: Any
) -> None:
    """Its socket asks every 5 s what its user may do (support/staff/sockets.py). The page
    says so as a warning, not in the quiet grey of its usual news: its rows look as fresh as
    ever but no longer change."""
    meera = await sign_in("meera")
    await meera.open("/staff/queue/")
    status = meera.page.locator("[data-live-status]")
    await expect(status).not_to_contain_text("Connecting")
    quiet = await status.evaluate("p => getComputedStyle(p).color")
    await expect(status).not_to_have_role("alert")

    await User.objects.filter(username="meera").aupdate(is_active=False)

    await expect(meera.page.get_by_role("alert")).to_have_text(
        "Live updates stopped: you were signed out or lost access to tickets. "
        "Reload the page to sign in again.",
        timeout=15_000,
    )
    await expect(status).to_have_class(re.compile(r"\berrornote\b"))
    assert await status.evaluate("p => getComputedStyle(p).color") != quiet
    assert await status.evaluate("p => getComputedStyle(p).borderStyle") == "solid"
    await meera.shoot("22-queue-updates-stopped")
