"""The back office as a support lead sees it in real Chromium, at a desktop's and a phone's
width, with screenshots in test-artifacts/back-office/.

Arjun, a support lead, signs in through the admin's login page and opens the pages of the back
office. Every page must load without a console error: in particular without a violation of
its Content-Security-Policy (voiceproject/csp.py), which Chromium reports as one.

    Chromium ──▶ daphne subprocess (the test database)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from django.contrib.auth.models import Group, User
from django.utils import timezone
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Cookie,
    Page,
    Response,
    expect,
)

from callbacks.models import Callback
from realtime.models import VoiceTokenMint
from support import escalations
from support.models import Complaint, Customer, Escalation, Goodwill, Refund, RefundTier
from support.mongo import sync_db
from support.tests.staff.conftest import (  # noqa: F401  (fixtures)
    LEAD,
    PASSWORD,
    priya,
    priya_ticket,
    staff_groups,
)
from voiceproject.tests.chromium import launched_chromium
from voiceproject.tests.live_server import BASE_DIR, DaphneServer

# One daphne and one Chromium for the module's tests (and test_after_call_browser.py's): the
# database is put back after each test, and each test signs in afresh.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),
]


ARTIFACTS = BASE_DIR / "test-artifacts" / "back-office"
WIDTHS = {"desktop": 1280, "phone": 390}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(django_db_setup: Any) -> AsyncIterator[DaphneServer]:
    with DaphneServer() as server:
        await asyncio.to_thread(server.start)
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with launched_chromium() as browser:
        yield browser


@pytest.fixture
def arjun(staff_groups: dict[str, Group]) -> User:  # noqa: F811  (fixture by name)
    user = User.objects.create_user(
        "arjun", "arjun@example.com", PASSWORD, is_staff=True, first_name="Arjun",
        last_name="Mehta",
    )
    user.groups.add(staff_groups[LEAD])
    return user


@pytest.fixture
def mints(arjun: User) -> None:
    """Two tokens Arjun minted today for customers who called in."""
    now = timezone.now()
    for minutes_ago, user_id, name in ((95, 7, "Asha Rao"), (12, 12, "Vikram Singh")):
        Customer.objects.create(user_id=user_id, name=name, phone=f"+9198000000{user_id:02}")
        VoiceTokenMint.objects.create(
            minted_at=now - timedelta(minutes=minutes_ago),
            staff_username="arjun",
            staff_name="Arjun Mehta",
            user_id=user_id,
            customer_name=name,
            address="203.0.113.7",
        )


class BackOffice:
    """One signed-in browser context per width, noting what the browser complained about."""

    def __init__(self, server: DaphneServer, contexts: dict[str, BrowserContext]) -> None:
        self.server = server
        self.contexts = contexts
        self.pages: dict[str, Page] = {}
        self.problems: list[str] = []

    def _on_console(self, message: ConsoleMessage) -> None:
        # Chromium asks every site for /favicon.ico on its own; the project serves none.
        if message.type == "error" and not message.location.get("url", "").endswith(
            "/favicon.ico"
        ):
            self.problems.append(f"console: {message.text} ({message.location.get('url')})")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} {response.url}")

    async def sign_in(self, username: str) -> None:
        """Signs in through the admin's login page at the first width. The other widths take
        that session's cookie, as a second tab would: a sign-in per width was seconds a test."""
        signed_in: list[Cookie] = []
        for width, context in self.contexts.items():
            page = await context.new_page()
            page.on("console", self._on_console)
            page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
            page.on("response", self._on_response)
            if signed_in:
                await context.add_cookies(signed_in)  # type: ignore[arg-type]
            else:
                await page.goto(self.server.url + "/admin/login/?next=/admin/")
                await page.get_by_label("Username").fill(username)
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Log in").click()
                await expect(page.get_by_role("link", name="Log out").or_(
                    page.get_by_role("button", name="Log out")
                )).to_be_visible()  # fmt: skip
                signed_in = await context.cookies()
            self.pages[width] = page

    async def visit(self, path: str, name: str) -> dict[str, Page]:
        """Open `path` at every width and screenshot it as `name`."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for width, page in self.pages.items():
            response = await page.goto(self.server.url + path)
            assert response is not None and response.ok, f"{path}: {response and response.status}"
            await page.screenshot(path=ARTIFACTS / f"{name}-{width}.png", full_page=True)
        return self.pages


@pytest_asyncio.fixture(loop_scope="module")
async def back_office(server: DaphneServer, browser: Browser) -> AsyncIterator[BackOffice]:
    contexts = {
        name: await browser.new_context(viewport={"width": px, "height": 900})
        for name, px in WIDTHS.items()
    }
    yield BackOffice(server, contexts)
    for context in contexts.values():
        await context.close()


async def test_a_lead_reads_who_minted_voice_tokens(
    arjun: User, mints: None, back_office: BackOffice
) -> None:
    await back_office.sign_in("arjun")

    pages = await back_office.visit("/admin/realtime/voicetokenmint/", "mint-audit")

    for page in pages.values():
        table = page.locator("#result_list")
        await expect(table).to_contain_text("Arjun Mehta (arjun)")
        await expect(table).to_contain_text("Vikram Singh (#12)")
        await expect(page.locator(".object-tools .addlink")).to_have_count(0)
    assert back_office.problems == []


async def test_the_back_office_runs_under_its_content_security_policy(
    arjun: User, priya_ticket: Escalation, back_office: BackOffice,  # noqa: F811
) -> None:
    gold = await asyncio.to_thread(RefundTier.objects.get, name="Gold")
    await back_office.sign_in("arjun")

    for path, name in [
        ("/admin/", "admin-index"),
        ("/admin/support/escalation/", "admin-escalations"),
        (f"/admin/support/refundtier/{gold.pk}/change/", "admin-refund-tier"),
        ("/staff/", "staff-dashboard"),
        ("/staff/queue/", "staff-queue"),
        ("/staff/tickets/TKT-AAAAAA/", "staff-ticket"),
        ("/staff/calls/call-priya-1/", "staff-call"),
    ]:
        await back_office.visit(path, name)

    # The admin's own scripts run: the action checkbox selects every escalation on the page.
    page = back_office.pages["desktop"]
    await page.goto(back_office.server.url + "/admin/support/escalation/")
    await page.locator("#action-toggle").check()
    await expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")
    # And the live queue's script opened its WebSocket.
    await page.goto(back_office.server.url + "/staff/queue/")
    await expect(page.locator("[data-live-status]")).to_contain_text("Live:")
    assert back_office.problems == []


async def test_the_admin_names_who_holds_a_ticket_as_the_staff_pages_do(
    arjun: User, priya_ticket: Escalation, back_office: BackOffice,  # noqa: F811
) -> None:
    await asyncio.to_thread(Escalation.objects.filter(ticket_id="TKT-AAAAAA").update,
                            status="claimed", assignee="arjun")  # fmt: skip
    await asyncio.to_thread(escalations.add_note, "TKT-AAAAAA", "arjun", "Called the restaurant")
    await back_office.sign_in("arjun")

    pages = await back_office.visit("/admin/support/escalation/", "admin-escalations-claimed")
    for page in pages.values():
        await expect(page.locator("#result_list")).to_contain_text("Arjun Mehta (arjun)")
        # Its age as the claimed queue heads it: someone holds it, so it is not "Waiting".
        await expect(page.locator("#result_list .field-time")).to_have_text(
            "Open for 10 minutes")  # fmt: skip

    path = f"/admin/support/escalation/{priya_ticket.pk}/change/"
    for page in (await back_office.visit(path, "admin-escalation-claimed")).values():
        await expect(page.locator(".field-assignee_")).to_contain_text("Arjun Mehta (arjun)")
        await expect(page.locator(".field-notes_")).to_contain_text("Arjun Mehta (arjun)")
    assert back_office.problems == []


def _a_big_customer() -> None:
    """A customer whose name is one long word, with a month of costly calls and a refund in
    crores: what imported data or a large operation can hold."""
    now = timezone.now()
    Customer.objects.create(user_id=999, name="Venkatanarasimharajuvaripetasubramaniam" * 2,
                            phone="+919800000999")  # fmt: skip
    db = sync_db()
    db.refunds.insert_one({"refund_id": "RFD-BIG", "order_id": "ORD-BIG", "user_id": 999,
                           "amount": 12_34_56_789_00, "percent": 100, "tier": "Gold",
                           "reason": "", "call_id": "", "created_at": now})  # fmt: skip
    db.calls.insert_many([
        {"call_id": f"CALL-BIG-{n}", "user_id": 999, "channel": "web",
         "started_at": now - timedelta(days=n), "ended_at": now - timedelta(days=n, hours=-3),
         "end_reason": "caller_hung_up", "outcome": "resolved_info", "transcript": [],
         "tool_calls": [], "cost": {"currency": "INR", "amount": 9_87_654_32, "by_modality": {}}}
        for n in range(20)
    ])  # fmt: skip


async def test_long_names_and_large_sums_stay_inside_the_page(
    arjun: User, back_office: BackOffice
) -> None:
    await asyncio.to_thread(_a_big_customer)
    await back_office.sign_in("arjun")

    for path, name in [("/staff/", "big-dashboard"), ("/staff/calls/", "big-calls"),
                       ("/staff/customers/999/", "big-customer"),
                       ("/staff/calls/CALL-BIG-1/", "big-call")]:  # fmt: skip
        for width, page in (await back_office.visit(path, name)).items():
            if path == "/staff/":
                await page.get_by_text("The figures per day").click()
                await page.screenshot(path=ARTIFACTS / f"{name}-figures-{width}.png",
                                      full_page=True)  # fmt: skip
            overflowing = await page.evaluate("""() => [...document.querySelectorAll(
                '#content *')].filter(e => e.scrollWidth > e.clientWidth + 1
                && getComputedStyle(e).overflowX == 'visible' && e.tagName != 'svg'
                && !e.closest('svg')).map(e => e.tagName + '.' + e.className)""")
            wide = await page.evaluate("document.documentElement.scrollWidth")
            assert (wide, overflowing) == (WIDTHS[width], []), f"{path} at {width}"
    assert back_office.problems == []


def _one_of_everything(priya: Customer) -> None:  # noqa: F811  (the fixture's customer)
    """A row in every list of the admin, as a working day leaves them, and Arjun the
    operator who may open them all."""
    now = timezone.now()
    User.objects.filter(username="arjun").update(is_superuser=True)
    Escalation.objects.filter(ticket_id="TKT-AAAAAA").update(status="claimed", assignee="arjun")
    Refund.objects.create(refund_id="RFD-AAAAAA", order_id="ORD-3001", customer=priya,
                          amount=24_000, percent=100, tier="Gold", reason="Cold food",
                          call_id="call-priya-1", created_at=now)  # fmt: skip
    Complaint.objects.create(complaint_id="CMP-AAAAAA", customer=priya, category="food_quality",
                             status="open", order_id="ORD-3001", created_at=now,
                             description="The dosa was cold.")  # fmt: skip
    Goodwill.objects.create(goodwill_id="GWL-AAAAAA", kind="credit", customer=priya,
                            amount=15_000, reason="Rider was rude at the door",
                            proposed_by="arjun", status="approved", decided_by="arjun",
                            decided_at=now, request_key="k1")  # fmt: skip
    tomorrow = timezone.localtime(now + timedelta(days=1))
    Callback.objects.create(callback_id="CBK-AAAAAA", customer=priya, phone=priya.phone,
                            slot_start=tomorrow, local_date=tomorrow.date().isoformat(),
                            seat=1, reason="Wants to talk about the refund",
                            assignee="arjun")  # fmt: skip
    VoiceTokenMint.objects.create(minted_at=now, staff_username="arjun", staff_name="Arjun Mehta",
                                  user_id=301, customer_name="Priya Nair",
                                  address="203.0.113.7")  # fmt: skip


ADMIN_LISTS = ["support/escalation", "support/call", "support/order", "support/customer",
               "support/complaint", "support/refund", "support/goodwill", "support/refundtier",
               "support/goodwillpolicy", "callbacks/callback", "realtime/voicetokenmint",
               "auth/user"]  # fmt: skip


async def test_every_admin_list_fits_a_laptop_with_the_menu_open(
    arjun: User, priya: Customer, priya_ticket: Escalation,  # noqa: F811
    back_office: BackOffice,
) -> None:
    """At 1280 px the admin's menu on the left and its filters on the right leave a list
    about 600 px: a list of tickets hid its order, time and page columns past a sideways
    scroll. Every list shows all its columns there, and the filters are still at hand; the
    page of a row opens from it."""
    await asyncio.to_thread(_one_of_everything, priya)
    await back_office.sign_in("arjun")
    page = back_office.pages["desktop"]  # a phone has the admin's own layout
    hidden = {}
    for path in ADMIN_LISTS:
        await page.goto(f"{back_office.server.url}/admin/{path}/")
        await expect(page.locator("#nav-sidebar")).to_be_visible()
        name = path.split("/")[1]
        if name == "call":  # how it ended, in words of its own beside its outcome
            await expect(page.locator("#result_list .field-ended_how")).to_have_text(
                "Escalation")  # fmt: skip
        await page.screenshot(path=ARTIFACTS / f"admin-list-{name}-desktop.png", full_page=True)
        if cut := await _hidden_past_the_list(page):
            hidden[path] = cut
        # And the page of its first row, as the list links it.
        await page.locator("#result_list tbody tr").first.get_by_role("link").first.click()
        await expect(page.locator("#content h2").first).to_be_visible()
        await page.screenshot(path=ARTIFACTS / f"admin-page-{name}-desktop.png", full_page=True)
        assert await page.evaluate("document.documentElement.scrollWidth") == 1280, path
    assert hidden == {}, str(hidden)

    # A smaller screen with the menu closed: the filters are above the list there too.
    await page.locator("#toggle-nav-sidebar").click()
    await expect(page.locator("#nav-sidebar")).to_be_hidden()
    await page.set_viewport_size({"width": 1024, "height": 768})
    await page.goto(back_office.server.url + "/admin/support/escalation/")
    await expect(page.get_by_role("link", name="Claimed")).to_be_visible()
    await expect(page.locator("#result_list .field-time")).to_contain_text("Open for")
    await page.screenshot(path=ARTIFACTS / "admin-list-escalation-1024.png", full_page=True)
    assert await _hidden_past_the_list(page) == 0
    assert back_office.problems == []


async def _hidden_past_the_list(page: Page) -> int:
    """How many pixels of the admin's list are past its right edge (a sideways scroll)."""
    return int(await page.evaluate("""() => {
        const results = document.querySelector('#changelist .results');
        return results ? results.scrollWidth - results.clientWidth : 0; }"""))


# The weight and colour of each link in the header's row, and of its log-out button.
HEADER_LOOKS = """() => {
  const look = (el) => {
    const style = getComputedStyle(el);
    return {text: el.textContent.trim(), weight: style.fontWeight, color: style.color};
  };
  return {
    links: [...document.querySelectorAll("#user-tools a")].map(look),
    logOut: look(document.querySelector("#logout-form button")),
  };
}"""


async def test_log_out_looks_like_the_links_beside_it_at_every_width(
    arjun: User, back_office: BackOffice
) -> None:
    """The admin's narrow layout (up to 1024 px) sets its header links' weight to 400 and
    leaves the log-out button at 300: on a phone "LOG OUT" came out pale and thin, as a
    disabled control does, beside "CHANGE PASSWORD"."""
    await back_office.sign_in("arjun")
    for path, name in (("/staff/", "header-dashboard"), ("/admin/", "header-admin")):
        pages = await back_office.visit(path, name)
        for width, page in pages.items():
            looks = await page.evaluate(HEADER_LOOKS)
            log_out, links = looks["logOut"], looks["links"]
            assert log_out["text"].lower() == "log out"
            assert links, f"{path} at {width}: no header links"
            for link in links:
                assert (log_out["weight"], log_out["color"]) == (link["weight"], link["color"]), (
                    f"{path} at {width}: {log_out} beside {link}")
    assert back_office.problems == []
