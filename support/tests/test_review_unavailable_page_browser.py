# The page-timeout tests' fixtures are imported (another directory's), then named.
# ruff: noqa: F811
"""The page a request gets while the database does not answer (templates/503.html, served by
voiceproject/page_timeout.py), as a support agent sees it in Chromium, wide and narrow.

The page is the one Django really answers with: a staff page requested through its ASGI
handler while the suite's embedded database is frozen (as voiceproject/tests/
test_page_db_timeout.py freezes it), then shown to the browser with that answer's status,
headers (its Content-Security-Policy among them) and body. Photographed under
test-artifacts/staff/.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.async_api import Browser, Route, expect

from realtime.tests.test_database_freeze import freeze
from voiceproject.tests.asgi_client import served
from voiceproject.tests.chromium import launched_chromium
from voiceproject.tests.live_server import BASE_DIR
from voiceproject.tests.test_page_db_timeout import (  # noqa: F401  (fixtures)
    database_pid,
    kavya,
    page_bound,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

ARTIFACTS = BASE_DIR / "test-artifacts" / "staff"
ORIGIN = "http://localhost:8000"  # a trustworthy origin, as the deployed https one is
WIDTHS = (1280, 390)
STYLESHEET = BASE_DIR / "static" / "pages" / "unavailable.css"


async def unavailable_answer(client: Client, database_pid: int, path: str) -> dict[str, Any]:
    """What GET `path` answers while the database is frozen: status, headers, body."""
    await served(client, path)  # the session and pool warm, as a freeze finds them
    await freeze(database_pid)
    try:
        sent = await served(client, path)
    finally:
        os.kill(database_pid, signal.SIGCONT)
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    body = b"".join(part.get("body", b"") for part in sent[1:])
    return {"status": sent[0]["status"], "headers": headers, "body": body}


async def test_the_page_for_a_database_that_does_not_answer_reads_plainly_wide_and_narrow(
    kavya: Client, page_bound: float, database_pid: int
) -> None:
    answer = await unavailable_answer(kavya, database_pid, "/staff/queue/")
    assert answer["status"] == 503

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with launched_chromium() as browser:
        for width in WIDTHS:
            await photographed(browser, answer, width)


async def photographed(browser: Browser, answer: dict[str, Any], width: int) -> None:
    """The answer shown at `width` px, checked and photographed."""
    page = await browser.new_page(viewport={"width": width, "height": 700})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))

    async def as_answered(route: Route) -> None:
        # The page's own stylesheet is served as the static files would; anything else asked
        # is answered as the page was.
        if route.request.url.startswith(f"{ORIGIN}{settings.STATIC_URL}pages/unavailable"):
            await route.fulfill(path=STYLESHEET, content_type="text/css")
        else:
            await route.fulfill(**answer)

    await page.route(f"{ORIGIN}/**", as_answered)
    await page.goto(f"{ORIGIN}/staff/queue/")

    await expect(page).to_have_title("Try again in a moment")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Try again in a moment")
    # Whoever had just sent a change is told it may or may not have been kept.
    await expect(page.get_by_text("we cannot tell whether it was saved")).to_be_visible()
    await page.screenshot(path=ARTIFACTS / f"unavailable-503-{width}.png", full_page=True)
    # The page asks for nothing more than its stylesheet (the database may be down for all of
    # it), which its own policy lets it use; the browser's one complaint is its 503.
    assert asked[0] == f"{ORIGIN}/staff/queue/"
    assert [url.rsplit("/", 2)[-2] for url in asked[1:]] == ["pages"], asked
    heading_font = await page.get_by_role("heading", level=1).evaluate(
        "h => getComputedStyle(h).fontWeight"
    )
    assert heading_font == "400"  # the stylesheet's, not the browser's bold
    assert [p for p in problems if "status of 503" not in p] == [], problems
    # Its text fits the screen: nothing to scroll sideways on a phone.
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    await page.close()
