"""After the call in real Chromium (contract section 10), at a desktop's and a phone's width,
with screenshots in test-artifacts/back-office/: the call page with its summary, wait chart and
cost; the one-line account standing in for a summary; the recording played with the
conversation following it, also for a call recorded in two parts; what an agent without the
recording permission sees; the ticket and customer pages carrying the summary.

    Chromium ──▶ daphne subprocess (the test database, a real Ogg Opus recording in GridFS)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from playwright.async_api import Route, expect

from support import mongo
from support.models import Customer, Escalation
from support.tests.staff.aftercall_data import (
    CALL_ID,
    MADE,
    MOVED_AT_S,
    MOVED_CALL_ID,
    RECORDED_CALL_ID,
    SILENT_CALL_ID,
    SUMMARY,
    add_after_call_fields,
    book_a_callback,
    make_moved_call,
    make_recorded_call,
    make_unrecorded_call,
)
from support.tests.staff.conftest import (  # noqa: F401  (fixtures)
    AGENT,
    LEAD,
    PASSWORD,
    priya,
    priya_ticket,
    staff_groups,
)
from support.tests.test_back_office_browser import (  # noqa: F401  (fixtures)
    ARTIFACTS,
    BackOffice,
    back_office,
    browser,
    server,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),  # the server and Chromium are the module's
]


def _staff(username: str, group: Group, first: str, last: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD,
                                    is_staff=True, first_name=first, last_name=last)  # fmt: skip
    user.groups.add(group)
    return user


@pytest.fixture
def arjun(staff_groups: dict[str, Group]) -> User:  # noqa: F811  (fixture by name)
    return _staff("arjun", staff_groups[LEAD], "Arjun", "Mehta")


@pytest.fixture
def meera(staff_groups: dict[str, Group]) -> User:  # noqa: F811  (fixture by name)
    return _staff("meera", staff_groups[AGENT], "Meera", "Iyer")


async def test_a_lead_reads_how_the_call_went_without_the_transcript(
    arjun: User, priya_ticket: Escalation, back_office: BackOffice,  # noqa: F811
) -> None:
    await asyncio.to_thread(add_after_call_fields)
    await back_office.sign_in("arjun")

    pages = await back_office.visit(f"/staff/calls/{CALL_ID}/", "after-call-summary")
    for page in pages.values():
        summary = page.get_by_role("region", name="Summary of the call")
        await expect(summary).to_contain_text("masala dosa arrived cold")
        await expect(summary).to_contain_text("Left to do: Refund ORD-3001")
        await expect(page.locator(".call-facts")).to_contain_text("₹2.45")
        await expect(page.get_by_role("img", name="How long the customer waited")).to_be_visible()

    pages = await back_office.visit(f"/staff/tickets/{priya_ticket.ticket_id}/",
                                    "after-call-ticket")  # fmt: skip
    for page in pages.values():
        await expect(page.locator(".briefing")).to_contain_text("Left to do: Refund ORD-3001")
    pages = await back_office.visit("/staff/customers/301/", "after-call-customer")
    for page in pages.values():
        await expect(page.locator("table.calls")).to_contain_text("masala dosa arrived cold")
    assert back_office.problems == []


async def test_without_a_summary_the_account_stands_in_and_summarise_again_writes_it(
    arjun: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    await asyncio.to_thread(add_after_call_fields, summary=None)
    await back_office.sign_in("arjun")

    pages = await back_office.visit(f"/staff/calls/{CALL_ID}/", "after-call-account")
    page = pages["desktop"]
    await expect(page.locator(".summary")).to_contain_text("no summary model is configured")
    await page.get_by_role("button", name="Summarise again").click()
    # No model: what is stored is the account already shown, and the message says so.
    await expect(page.locator(".messagelist")).to_contain_text(
        "the account of what the agent's tools did is kept as this call's summary"
    )
    await page.screenshot(path=ARTIFACTS / "after-call-summarising-desktop.png",
                          full_page=True)  # fmt: skip

    def written() -> Any:
        record = mongo.sync_db().calls.find_one({"call_id": CALL_ID}, {"summary": 1})
        return (record or {}).get("summary")

    for _ in range(100):  # the server writes it in the background, in well under a second
        if await asyncio.to_thread(written):
            break
        await asyncio.sleep(0.1)
    assert (await asyncio.to_thread(written))["text"].startswith("Escalated to a person")
    assert back_office.problems == []


async def test_playing_the_recording_the_conversation_follows(
    arjun: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    await asyncio.to_thread(make_recorded_call, priya.user_id)
    await back_office.sign_in("arjun")
    pages = await back_office.visit(f"/staff/calls/{RECORDED_CALL_ID}/", "after-call-player")
    page = pages["desktop"]
    turns = page.locator("ol.conversation li.turn")
    audio = page.locator("audio")
    await expect(turns).to_have_count(3)

    # Play from the start: the first turn lights up, then the second as the audio reaches it.
    await audio.evaluate("a => { a.muted = true; return a.play(); }")
    await expect(turns.nth(0)).to_have_class("turn customer seekable playing")
    await expect(turns.nth(1)).to_have_class("turn agent seekable playing", timeout=8_000)
    await expect(turns.nth(0)).not_to_have_class("turn customer seekable playing")

    # Click the last turn: the audio jumps there and the highlight follows.
    await turns.nth(2).locator("p").click()
    await expect(turns.nth(2)).to_have_class("turn customer seekable playing")
    position = await audio.evaluate("a => a.currentTime")
    assert 4.4 <= position <= 6.5

    # By keyboard: each turn's time is a button named for what it does.
    play_from = page.get_by_role("button", name=re.compile(r"^Play from \d+:\d\d$"))
    await expect(play_from).to_have_count(3)
    await play_from.nth(1).focus()
    await page.keyboard.press("Enter")
    await expect(turns.nth(1)).to_have_class("turn agent seekable playing")
    await audio.evaluate("a => a.pause()")
    await page.screenshot(path=ARTIFACTS / "after-call-playing-desktop.png",
                          full_page=True)  # fmt: skip
    assert back_office.problems == []


async def test_a_call_recorded_in_two_parts_plays_each_turn_from_its_part(
    arjun: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    await asyncio.to_thread(make_moved_call, priya.user_id)
    await back_office.sign_in("arjun")
    pages = await back_office.visit(f"/staff/calls/{MOVED_CALL_ID}/", "after-call-two-parts")
    page = pages["desktop"]
    turns = page.locator("ol.conversation li.turn")
    first, second = page.locator("audio").nth(0), page.locator("audio").nth(1)
    await expect(turns).to_have_count(5)
    await page.evaluate("document.querySelectorAll('audio').forEach(a => { a.muted = true; })")

    # A turn said after the move plays from the second part, at its place in that part.
    await turns.nth(3).locator("p").click()
    await expect(turns.nth(3)).to_have_class("turn agent seekable playing")
    position = await second.evaluate("a => a.currentTime")
    assert 2.4 <= position <= 4.5  # said 10.5 s into the call, 2.5 s into the second part
    assert await first.evaluate("a => a.paused")

    # One before the move plays from the first part, and the second stops.
    await turns.nth(1).locator("p").click()
    await expect(turns.nth(1)).to_have_class("turn agent seekable playing")
    assert await second.evaluate("a => a.paused")
    assert 2.4 <= await first.evaluate("a => a.currentTime") < MOVED_AT_S
    await first.evaluate("a => a.pause()")
    await page.screenshot(path=ARTIFACTS / "after-call-two-parts-playing-desktop.png",
                          full_page=True)  # fmt: skip

    # The second part gone since the page was opened: its turns no longer offer to play, the
    # first part's still do.
    async def gone(route: Route) -> None:
        await route.fulfill(status=404, body="This call has no recording.")

    await page.route(f"**/staff/calls/{MOVED_CALL_ID}/recording-2.ogg", gone)
    await second.evaluate("a => a.load()")
    await expect(page.locator("section.recording").get_by_role("status")).to_contain_text(
        "This recording could not be loaded")
    await expect(page.locator("audio")).to_have_count(1)
    await expect(turns.nth(3)).to_have_class("turn agent")
    await expect(turns.nth(4)).to_have_class("turn customer")
    await expect(turns.nth(2)).to_contain_class("seekable")
    play_from = page.get_by_role("button", name=re.compile(r"^Play from \d+:\d\d$"))
    await expect(play_from).to_have_count(3)
    await turns.nth(4).locator("p").click()
    await expect(turns.nth(4)).not_to_contain_class("playing")
    assert await first.evaluate("a => a.paused")
    await page.unroute(f"**/staff/calls/{MOVED_CALL_ID}/recording-2.ogg")
    # The browser's own 404 for the audio is what this part is about, not a problem.
    back_office.problems = [p for p in back_office.problems if "/recording-2.ogg" not in p]
    assert back_office.problems == []


async def test_an_agent_without_the_permission_sees_that_a_recording_exists(
    meera: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    await asyncio.to_thread(make_recorded_call, priya.user_id)
    await back_office.sign_in("meera")

    pages = await back_office.visit(f"/staff/calls/{RECORDED_CALL_ID}/", "after-call-no-player")
    for page in pages.values():
        await expect(page.locator(".recording")).to_contain_text("This call was recorded")
        await expect(page.locator("audio")).to_have_count(0)
    assert back_office.problems == []


async def test_a_recording_whose_worker_died_before_writing_says_nothing_was_recorded(
    arjun: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    await asyncio.to_thread(make_unrecorded_call, priya.user_id)
    await back_office.sign_in("arjun")

    pages = await back_office.visit(f"/staff/calls/{SILENT_CALL_ID}/",
                                    "after-call-nothing-recorded")  # fmt: skip
    for page in pages.values():
        recording = page.get_by_role("region", name="Recording")
        await expect(recording).to_contain_text(
            "Nothing was recorded: the call's server stopped before writing any of it.")
        await expect(page.locator("audio")).to_have_count(0)
        await expect(recording.get_by_role("link", name="Download")).to_have_count(0)
    assert back_office.problems == []


async def test_an_agent_sent_a_recordings_link_is_told_what_they_lack(
    meera: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    await asyncio.to_thread(make_recorded_call, priya.user_id)
    await back_office.sign_in("meera")

    url = f"{back_office.server.url}/staff/calls/{RECORDED_CALL_ID}/recording.ogg"
    for width, page in back_office.pages.items():
        response = await page.goto(url)
        assert response is not None and response.status == 403
        await expect(page.get_by_role("heading", name="You cannot open this page")).to_be_visible()
        await expect(page.locator("#content")).to_contain_text(
            "It needs the permission “Can download and play call recordings”")
        await expect(page.get_by_role("link", name="Back to the dashboard")).to_be_visible()
        # The staff pages' links and search are there, to go on from (her calls, say).
        nav = page.get_by_role("navigation", name="Staff pages")
        await expect(nav.get_by_role("link", name="Calls", exact=True)).to_be_visible()
        await expect(nav.get_by_role("searchbox", name="Search")).to_be_visible()
        await page.screenshot(path=ARTIFACTS / f"after-call-recording-refused-{width}.png",
                              full_page=True)  # fmt: skip
    # The refusal itself, as the browser notes it: nothing else.
    assert [problem for problem in back_office.problems if "403" not in problem] == []


async def test_a_summary_the_model_could_not_write_says_why_in_words(
    arjun: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    # Its failure as a record from before the status code went to the log alone keeps it.
    stand_in = {"text": "Escalated to a person: opened ticket TKT-AAAAAA. <script>x()</script>",
                "sentiment": None, "resolved": False,
                "follow_up": "A colleague should pick up ticket TKT-AAAAAA.",
                "source": "tool_results", "error": "its quota or rate limit was reached (429)"}
    await asyncio.to_thread(add_after_call_fields, summary=stand_in)
    await back_office.sign_in("arjun")

    pages = await back_office.visit(f"/staff/calls/{CALL_ID}/", "after-call-summary-failed")
    for page in pages.values():
        summary = page.get_by_role("region", name="Summary of the call")
        await expect(summary).to_contain_text("opened ticket TKT-AAAAAA. <script>x()</script>")
        await expect(summary).to_contain_text(
            "The summary model failed: its quota or rate limit was reached.")
        await expect(summary).not_to_contain_text("429")
    assert back_office.problems == []


async def test_a_summary_written_before_the_outcome_was_corrected_says_so(
    arjun: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    """A transfer nobody answered is escalated, not transferred: the model's summary from
    before that correction, not written again (the model failed), is marked."""
    await asyncio.to_thread(add_after_call_fields,
                            summary={**SUMMARY, "outcome_was": "transferred"})  # fmt: skip
    await back_office.sign_in("arjun")

    pages = await back_office.visit(f"/staff/calls/{CALL_ID}/", "after-call-summary-corrected")
    for page in pages.values():
        summary = page.get_by_role("region", name="Summary of the call")
        await expect(summary).to_contain_text(
            "Written before the call's outcome was corrected from Transferred to a person to "
            "Escalated to a person: it may say otherwise.")  # fmt: skip
    assert back_office.problems == []


def _week_of_answered_calls() -> None:
    """A week of calls with answer times and costs, for the dashboard's new charts."""
    now = dt.datetime.now(dt.UTC)
    calls = []
    for day in range(7):
        for n, outcome in enumerate(("resolved_info", "resolved_refund", "escalated")):
            started = now - dt.timedelta(days=day, hours=n + 1)
            calls.append({
                "call_id": f"CALL-WEEK-{day}-{n}", "user_id": 301, "channel": "web",
                "started_at": started, "ended_at": started + dt.timedelta(minutes=3),
                "end_reason": "caller_hung_up", "outcome": outcome, "transcript": [],
                "tool_calls": [],
                "turns": [{"at": started, "user_ms": 900, "tools_ms": 0,
                           "first_audio_ms": 600 + 90 * day + 150 * t + (1800 if t == 4 else 0)}
                          for t in range(5)],
                "cost": {"currency": "INR", "amount": 180 + 40 * n + 10 * day,
                         "by_modality": {}},
            })  # fmt: skip
    mongo.sync_db().calls.insert_many(calls)


async def test_the_dashboard_shows_answer_times_and_what_the_model_cost(
    arjun: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    await asyncio.to_thread(_week_of_answered_calls)
    await back_office.sign_in("arjun")

    pages = await back_office.visit("/staff/", "after-call-dashboard")
    for page in pages.values():
        await expect(page.get_by_role("img", name="How quickly the agent answered")).to_be_visible()
        await expect(page.get_by_role("img", name="What the model cost per day")).to_be_visible()
        await expect(page.locator(".tiles")).to_contain_text("per resolved call")
    assert back_office.problems == []


async def test_a_call_that_booked_a_callback_says_when_and_that_it_was_made(
    arjun: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    await asyncio.to_thread(book_a_callback, priya, status="done", closed_at=MADE)
    await back_office.sign_in("arjun")

    pages = await back_office.visit(f"/staff/calls/{CALL_ID}/", "after-call-callback-made")
    for page in pages.values():
        await expect(page.locator(".call-facts")).to_contain_text(
            "CBK-PRIYA1 (8 Dec 2026, 10:30, Done)")
        await expect(page.get_by_role("region", name="Summary of the call")).to_contain_text(
            "Since the call: callback CBK-PRIYA1 was made on 8 Dec 2026, 10:42.")
    assert back_office.problems == []


async def test_a_call_whose_agent_answered_no_turn_says_so(
    arjun: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    def unanswered() -> None:
        fields = add_after_call_fields()
        turns = [{**turn, "first_audio_ms": None, "tools_ms": 0} for turn in fields["turns"]]
        mongo.sync_db().calls.update_one({"call_id": CALL_ID}, {"$set": {
            "turns": turns, "end_reason": "agent_unavailable", "outcome": "agent_unavailable"}})

    await asyncio.to_thread(unanswered)
    await back_office.sign_in("arjun")

    pages = await back_office.visit(f"/staff/calls/{CALL_ID}/", "after-call-no-turn-answered")
    for page in pages.values():
        await expect(page.locator(".call-facts")).to_contain_text(
            "none: the agent did not answer 5 of 5 turns")
        await expect(page.locator(".call-facts")).not_to_contain_text("typically")
    assert back_office.problems == []
