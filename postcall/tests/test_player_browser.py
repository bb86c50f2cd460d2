"""The call page's player in real Chromium, on calls recorded as the bridge records them: each
line of the conversation dated when its first caption came (before 2026-12-07, once it was
complete: the customer's as the agent answered her, the agent's as its turn ended), and the
turns the server timed say where the words began. Screenshots in test-artifacts/back-office/.

    Chromium ──▶ daphne subprocess (the test database, a real Ogg Opus recording in GridFS)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
from django.contrib.auth.models import User
from playwright.async_api import Route, expect

from postcall.finish import cost_now
from postcall.tests.test_cost import RECEIPT, summed_usage
from support import mongo
from support.models import Customer
from support.tests.staff.aftercall_data import LENGTH_S, ogg_recording, store_recording
from support.tests.staff.conftest import priya, staff_groups  # noqa: F401  (fixtures)
from support.tests.test_after_call_browser import arjun  # noqa: F401  (fixture)
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

CALL_ID = "call-priya-as-kept"
CALL_ID_NOW = "call-priya-as-dated-now"
USAGE = summed_usage(RECEIPT)  # priced at ₹0.17


Line = tuple[str, str, float]  # role, text, its time in the call (s)


def store_call(call_id: str, user_id: int, lines: list[Line],
               turns: list[tuple[float, int | None]]) -> None:
    """ogg_recording()'s call (the customer from 0.5 s, the agent from 2.5 s, the customer again
    from 4.5 s, 1.5 s each), ended a few minutes ago, with the record's `lines` and `turns`
    (when the customer stopped speaking after 1.5 s of it, and the agent's first audio after
    it, ms)."""
    started = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)

    def at(seconds: float) -> dt.datetime:
        return started + dt.timedelta(seconds=seconds)

    mongo.sync_db().calls.insert_one({
        "call_id": call_id, "user_id": user_id, "channel": "web",
        "started_at": started, "ended_at": at(LENGTH_S),
        "end_reason": "caller_hung_up", "outcome": "resolved_info",
        "transcript": [{"role": role, "text": text, "at": at(s)} for role, text, s in lines],
        "turns": [{"at": at(s), "user_ms": 1500, "first_audio_ms": first, "tools_ms": 0,
                   "source": "live"} for s, first in turns],
        "tool_calls": [], "usage": USAGE, "cost": cost_now(USAGE),
    })  # fmt: skip
    store_recording(call_id, started, ogg_recording())


def make_call_as_kept(user_id: int) -> None:
    """The call with its record as the bridge wrote it before 2026-12-07: each line at its end."""
    store_call(CALL_ID, user_id, [
        ("user", "Hello, my order is late.", 2.5),  # answered
        ("agent", "Let me check that for you.", 4.1),  # its end
        ("user", "Thank you.", 6.9),  # the call's end
    ], [(2.0, 500), (6.0, None)])  # fmt: skip


async def test_a_turn_plays_from_where_its_words_begin_not_where_its_line_was_kept(
    arjun: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    await asyncio.to_thread(make_call_as_kept, priya.user_id)
    await back_office.sign_in("arjun")
    pages = await back_office.visit(f"/staff/calls/{CALL_ID}/", "after-call-player-as-kept")
    page = pages["desktop"]
    turns = page.locator("ol.conversation li.turn")
    audio = page.locator("audio")
    await expect(turns).to_have_count(3)
    await audio.evaluate("a => { a.muted = true; }")

    # Her first words, said from 0.5 s: not from 2.5 s, where the agent answers them.
    await turns.nth(0).locator("p").click()
    await expect(turns.nth(0)).to_have_class("turn customer seekable playing")
    assert 0.4 <= await audio.evaluate("a => a.currentTime") < 1.5
    # The agent's answer, from its first audio at 2.5 s: not from 4.1 s, after it.
    await turns.nth(1).locator("p").click()
    await expect(turns.nth(1)).to_have_class("turn agent seekable playing")
    assert 2.4 <= await audio.evaluate("a => a.currentTime") < 3.5
    # Her thanks, from 4.5 s: not from the end of the call.
    await turns.nth(2).locator("p").click()
    await expect(turns.nth(2)).to_have_class("turn customer seekable playing")
    assert 4.4 <= await audio.evaluate("a => a.currentTime") < 5.5
    await audio.evaluate("a => a.pause()")
    # What the call cost, part by part, adds up to the call's cost.
    rows = page.locator("table.usage").first.locator("td")
    await expect(rows).to_have_text(["₹0.04", "₹0.02", "₹0.01", "₹0.05", "₹0.05", "₹0.17"])
    await page.screenshot(path=ARTIFACTS / "after-call-player-as-kept-playing-desktop.png",
                          full_page=True)  # fmt: skip
    assert back_office.problems == []


def make_call_dated_now(user_id: int) -> None:
    """The same call, its lines dated as the bridge dates them now (when their first caption
    came), and the agent's last words, "You're welcome", from 6.5 s. Both of its lines' captions
    came a moment before their audio left the server."""
    store_call(CALL_ID_NOW, user_id, [
        ("user", "Hello, my order is late.", 1.1),
        ("agent", "Let me check that for you.", 2.3),
        ("user", "Thank you.", 5.0),
        ("agent", "You're welcome.", 6.3),
    ], [(2.0, 500), (6.0, 500)])  # fmt: skip


async def test_a_line_dated_by_its_first_caption_plays_from_its_own_words(
    arjun: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    """A caption a moment ahead of its audio: the agent's first line still plays from its
    own first audio, and its last line from its own, not from the first line's."""
    await asyncio.to_thread(make_call_dated_now, priya.user_id)
    await back_office.sign_in("arjun")
    pages = await back_office.visit(f"/staff/calls/{CALL_ID_NOW}/", "after-call-player-dated-now")
    page = pages["desktop"]
    turns = page.locator("ol.conversation li.turn")
    audio = page.locator("audio")
    await expect(turns).to_have_count(4)
    await audio.evaluate("a => { a.muted = true; }")

    for n, earliest, latest in ((0, 0.4, 1.2), (1, 2.4, 3.0), (2, 4.4, 5.2), (3, 6.4, 7.0)):
        await turns.nth(n).locator("p").click()
        await expect(turns.nth(n)).to_contain_class("playing")
        assert earliest <= await audio.evaluate("a => a.currentTime") < latest, n
        await audio.evaluate("a => a.pause()")
    assert back_office.problems == []


async def test_a_recording_gone_since_the_page_opened_says_so_instead_of_a_dead_player(
    arjun: User, priya: Customer, back_office: BackOffice,  # noqa: F811
) -> None:
    """Deleted by the retention run after the page listed it (or the server could not read
    it): the browser gets no audio, and the page says so where the player was, rather than
    a player stuck at 0:00 that no click plays."""
    await asyncio.to_thread(make_call_as_kept, priya.user_id)
    await back_office.sign_in("arjun")

    async def gone(route: Route) -> None:
        await route.fulfill(status=404, body="This call has no recording.")

    for page in back_office.pages.values():
        await page.route(f"**/staff/calls/{CALL_ID}/recording.ogg", gone)
    pages = await back_office.visit(f"/staff/calls/{CALL_ID}/", "after-call-player-gone")
    page = pages["desktop"]
    recording = page.locator("section.recording")
    await expect(recording.get_by_role("status")).to_contain_text(
        "This recording could not be loaded")
    await expect(recording.locator("audio")).to_have_count(0)
    await expect(recording).not_to_contain_text("click a turn to hear it")
    # Nor does the conversation offer to play: its turns and their times are plain lines again.
    turns = page.locator("ol.conversation li.turn")
    await expect(turns).to_have_count(3)
    await expect(page.locator("ol.conversation .seekable")).to_have_count(0)
    await expect(page.get_by_role("button", name=re.compile("^Play from"))).to_have_count(0)
    await expect(page.locator("ol.conversation time[tabindex], ol.conversation time[title]")
                 ).to_have_count(0)  # fmt: skip
    await turns.nth(1).locator("p").click()
    await expect(turns.nth(1)).not_to_contain_class("playing")
    await page.screenshot(path=ARTIFACTS / "after-call-player-gone-desktop.png", full_page=True)
    phone = pages["phone"]
    await expect(phone.locator("section.recording").get_by_role("status")).to_contain_text(
        "This recording could not be loaded")
    await expect(phone.locator("ol.conversation .seekable")).to_have_count(0)
    await phone.screenshot(path=ARTIFACTS / "after-call-player-gone-phone.png", full_page=True)
    for page in pages.values():
        await page.unroute(f"**/staff/calls/{CALL_ID}/recording.ogg")
    # The browser's own 404 for the audio is what this test is about, not a problem.
    back_office.problems = [p for p in back_office.problems if "/recording.ogg" not in p]
    assert back_office.problems == []
