"""The dashboard's charts in real Chromium, at a desktop's and a phone's width, in the admin's
light and dark themes, with screenshots in test-artifacts/back-office/: a busy month with every
outcome, sums in crores, and a support lead who does not tell the series' colours apart.

    Chromium ──▶ daphne subprocess (the test database)
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.async_api import Browser, Page

from support.mongo import sync_db
from support.staff.dashboard import OUTCOME_SERIES, WEEKLY_AFTER_DAYS, DayRange
from support.tests.staff.conftest import staff_groups  # noqa: F401  (fixture)
from support.tests.test_back_office_browser import (  # noqa: F401  (fixtures)
    ARTIFACTS,
    WIDTHS,
    BackOffice,
    arjun,
    browser,
)
from voiceproject.tests.chromium import on_more_than_one_line
from voiceproject.tests.live_server import DaphneServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),  # the server and Chromium are the module's
]

THEMES = ("light", "dark")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(django_db_setup: Any) -> AsyncIterator[DaphneServer]:
    """One daphne for the module. It keeps past days' figures in its cache for minutes, so
    each test shows days no other test showed (`days_of_its_own`)."""
    with DaphneServer() as server:
        await asyncio.to_thread(server.start)
        yield server


@pytest.fixture(scope="module")
def days_of_its_own() -> Callable[[int], DayRange]:
    """`take(n)`: the next n days back, none of them shown before by the module's server:
    the first range taken ends today, each next one the day before the last began."""
    last = timezone.localdate()

    def take(n: int) -> DayRange:
        nonlocal last
        days = DayRange(last - timedelta(days=n - 1), last)
        last = days.first - timedelta(days=1)
        return days

    return take


def on(day: dt.date, minutes: int = 0) -> dt.datetime:
    """`minutes` past noon on local `day`."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12))) + timedelta(minutes=minutes)


def dashboard_of(days: DayRange) -> str:
    return f"/staff/?since={days.first.isoformat()}&until={days.last.isoformat()}"


@pytest_asyncio.fixture(loop_scope="module")
async def both_themes(server: DaphneServer, browser: Browser) -> AsyncIterator[BackOffice]:  # noqa: F811
    """The back office in each theme, a browser context each ("light", "dark"), whose page
    `each_view` shows at each width."""
    viewport = {"width": WIDTHS["desktop"], "height": 900}
    contexts = {
        theme: await browser.new_context(viewport=viewport, color_scheme=theme)  # type: ignore[arg-type]
        for theme in THEMES
    }
    yield BackOffice(server, contexts)
    for context in contexts.values():
        await context.close()


def a_busy_month(last: dt.date) -> None:
    """30 days of calls up to `last` with every outcome (and some without one, and two still
    going), the agent's answer times, model costs in crores and refunds in tens of crores."""
    outcomes = [s.key or None for s in OUTCOME_SERIES if s.key != "in_progress"]
    calls: list[dict[str, Any]] = []
    for day in range(30):
        started = on(last - timedelta(days=day))
        for n, outcome in enumerate(outcomes):
            for k in range(1 + (day + n) % 4):
                calls.append({
                    "call_id": f"CALL-{day}-{n}-{k}", "user_id": 301, "channel": "web",
                    "started_at": started, "ended_at": started + timedelta(minutes=3 + n),
                    "end_reason": "caller_hung_up", "transcript": [], "tool_calls": [],
                    "turns": [{"at": started, "user_ms": 900, "first_audio_ms": 600 + 90 * n,
                               "tools_ms": 0} for _ in range(3)],
                    "cost": {"currency": "INR", "amount": 1_23_45_678_00 * (1 + day % 5),
                             "by_modality": {}},
                    **({"outcome": outcome} if outcome else {}),
                })  # fmt: skip
    for n in range(2):
        calls.append({"call_id": f"CALL-LIVE-{n}", "user_id": 301, "channel": "phone",
                      "started_at": on(last, 10), "ended_at": None,
                      "transcript": [], "tool_calls": []})  # fmt: skip
    sync_db().calls.insert_many(calls)
    sync_db().refunds.insert_many([
        {"refund_id": f"RFD-BIG-{day}", "order_id": f"ORD-BIG-{day}", "user_id": 301,
         "amount": 12_34_56_789_00 if day % 2 else 5_00_00_00_000_00, "percent": 100,
         "tier": "Gold", "reason": "", "call_id": "",
         "created_at": on(last - timedelta(days=day))}
        for day in range(0, 30, 3)
    ])  # fmt: skip


async def each_view(back_office: BackOffice, days: DayRange,
                    name: str) -> AsyncIterator[tuple[str, Page]]:  # fmt: skip
    """The dashboard of `days` at each width in each theme in turn ("desktop", "phone",
    "desktop-dark", "phone-dark"), screenshotted as `name`: loaded once per theme, then
    resized. Its layout is HTML, CSS and SVG that follow the width at once, with no script
    that reads it as the page loads; a load per width was two more renderings of a year of
    thousands of calls a day. (Not one load for both themes: Chromium leaves the links in the
    colour of the scheme the page had before `emulate_media` changed it.)"""
    await back_office.sign_in("arjun")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for theme, page in back_office.pages.items():
        response = await page.goto(back_office.server.url + dashboard_of(days))
        assert response is not None and response.ok, f"{days}: {response and response.status}"
        for width, px in WIDTHS.items():
            view = width if theme == "light" else f"{width}-dark"
            await page.set_viewport_size({"width": px, "height": 900})
            await page.screenshot(path=ARTIFACTS / f"{name}-{view}.png", full_page=True)
            yield view, page


# Each legend key as drawn: its colour, its hatch, or its dash and marker shape, and whether
# it is faded (today's columns, or a part week's).
LEGEND_KEYS = """figure => [...figure.querySelectorAll('.legend li')].map(li => {
    const key = li.querySelector('svg.key');
    if (!key) return 'colour only';
    const hatch = key.querySelector('.hatch');
    const line = key.querySelector('polyline');
    const mark = key.querySelector('.mark');
    return [hatch && hatch.getAttribute('fill'),
            line && getComputedStyle(line).strokeDasharray,
            mark && mark.getAttribute('d').replace(/[^A-Za-z]/g, ''),
            getComputedStyle(key.firstElementChild).strokeDasharray,
            getComputedStyle(key.querySelector('rect, path')).fillOpacity].join('|');
})"""


async def test_each_series_is_told_apart_by_more_than_its_colour(
    arjun: User,  # noqa: F811
    both_themes: BackOffice,
    days_of_its_own: Callable[[int], DayRange],
) -> None:
    """WCAG 1.4.1: the lines differ in dash and marker, the stacked outcomes in hatch (the calls
    still in progress in their dashed outline), and each legend shows the same cue. Today (the
    module's first range ends on it), not over, is drawn apart on every chart, its columns
    faded and its points hollow, with a line of each legend that says so, and its row in the
    table is named so; over 120 days by week, the week that holds it is."""
    days = days_of_its_own(120)
    assert days.last == timezone.localdate()
    month = DayRange(days.last - timedelta(days=29), days.last)
    await sync_to_async(a_busy_month)(days.last)
    today = f"{days.last.day} {days.last:%b} (today, so far)"

    async for width, page in each_view(both_themes, month, "dashboard-series"):
        for title in ("Calls per day by outcome", "Containment and escalation rate",
                      "How quickly the agent answered"):  # fmt: skip
            figure = page.get_by_role("figure", name=title)
            keys = await figure.evaluate(LEGEND_KEYS)
            assert len(keys) >= 2 and len(set(keys)) == len(keys), (width, title, keys)
            hatches = await figure.evaluate("""f => [...f.querySelectorAll('rect.hatch')]
                .map(r => getComputedStyle(r).fill).filter(fill => !fill.includes('url('))""")
            assert hatches == [], (width, title)  # each hatch's pattern is found
        assert len(await page.locator("rect.hatch").all()) > 30
        for chart in await page.locator(".chart:has(line.axis)").all():
            caption = await chart.locator("figcaption").text_content()
            drawn = await chart.locator("svg[role=img]").evaluate(DRAWN_PERIODS)
            so_far = {(opacity, look) for said, opacity, look in drawn if said.startswith(today)}
            whole = {(opacity, look) for said, opacity, look in drawn
                     if not said.startswith(today)}  # fmt: skip
            assert so_far and whole and not so_far & whole, (width, caption, so_far, whole)
            key = chart.locator(".legend li.part-key")
            legend = await key.text_content()
            assert legend in ("Faded: today, so far", "Hollow: today, so far"), (width, caption)
            assert await key.is_visible(), (width, caption)
        rows = page.locator("details.figures td:first-child")
        assert await rows.last.text_content() == today, width
    by_week = both_themes.pages["light"]
    await by_week.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})
    await by_week.goto(both_themes.server.url + dashboard_of(days))
    await by_week.get_by_text("The figures per week").click()
    await by_week.screenshot(path=ARTIFACTS / "dashboard-series-by-week-desktop.png",
                             full_page=True)  # fmt: skip
    held = days.last.weekday() + 1
    said = f"the last week, {held} of its 7 days so far" if held < 7 else "the last week, so far"
    keys = await by_week.locator(".legend li.part-key").all_text_contents()
    assert sorted(keys) == [f"Faded: {said}"] * 3 + [f"Hollow: {said}"] * 3, keys
    week = await by_week.locator("details.figures td:first-child").last.text_content()
    assert week is not None and week.endswith(" so far)"), week
    assert both_themes.problems == []


# Each y-axis label that sticks out of its chart's left edge or into the plot.
OUTSIDE_THE_MARGIN = """svg => {
    const box = svg.getBoundingClientRect();
    const axis = svg.querySelector('line.axis').getBoundingClientRect().left;
    return [...svg.querySelectorAll('text.tick[text-anchor=end]')].filter(t => {
        const r = t.getBoundingClientRect();
        return r.left < box.left - 0.5 || r.right > axis + 0.5;
    }).map(t => t.textContent);
}"""

# Each figure in the tiles (a number, a sum, a percentage, seconds) that the line broke into
# pieces, or away from its unit.
BROKEN_FIGURES = """() => {
    const broken = [];
    for (const p of document.querySelectorAll('.tile p')) {
        const walker = document.createTreeWalker(p, NodeFilter.SHOW_TEXT);
        for (let node; (node = walker.nextNode());) {
            for (const m of node.data.matchAll(/[₹\\d][\\d,.]*\\d(%|\\s+s\\b)?/g)) {
                const range = document.createRange();
                range.setStart(node, m.index);
                range.setEnd(node, m.index + m[0].length);
                const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
                if (tops.size > 1) broken.push(m[0]);
            }
        }
    }
    return broken;
}"""


# The same, with every tile as narrow as each width from 60 to 400 px in turn.
BROKEN_AT_ANY_TILE_WIDTH = f"""() => {{
    const tiles = [...document.querySelectorAll('.tile')];
    const broken = new Set();
    for (let px = 60; px <= 400; px += 2) {{
        tiles.forEach(tile => {{ tile.style.flex = `0 0 ${{px}}px`; }});
        ({BROKEN_FIGURES})().forEach(figure => broken.add(figure));
    }}
    tiles.forEach(tile => {{ tile.style.flex = ''; }});
    return [...broken];
}}"""


async def test_sums_in_crores_fit_the_axes_and_are_never_broken_in_the_tiles(
    arjun: User,  # noqa: F811
    both_themes: BackOffice,
    days_of_its_own: Callable[[int], DayRange],
) -> None:
    """The axes say "₹1.5 Cr" inside their margin; a tile keeps "₹25,61,72,83,945.00" whole, on
    a line of its own when it must, and "0.95 s" together, however narrow it is."""
    days = days_of_its_own(30)
    await sync_to_async(a_busy_month)(days.last)

    async for width, page in each_view(both_themes, days, "dashboard-crores"):
        for svg in await page.locator(".chart svg:has(line.axis)").all():
            assert await svg.evaluate(OUTSIDE_THE_MARGIN) == [], width
        assert await page.evaluate(BROKEN_FIGURES) == [], width
        assert await page.evaluate(BROKEN_AT_ANY_TILE_WIDTH) == [], width
        refunds = page.get_by_role("figure", name="Refunds per day")
        assert "₹500 Cr" in await refunds.locator("text.tick").all_text_contents()
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide == WIDTHS[width.removesuffix("-dark")], width
    assert both_themes.problems == []


# The size each chart's text is drawn at, in CSS pixels (its font size times the SVG's scale),
# and the legends', each with the text: [[size, text], ...].
RENDERED_TEXT = """() => [
    ...[...document.querySelectorAll('.chart svg')].flatMap(svg => {
        const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        return [...svg.querySelectorAll('text')].filter(t => t.getClientRects().length)
            .map(t => [parseFloat(getComputedStyle(t).fontSize) * scale, t.textContent]);
    }),
    ...[...document.querySelectorAll('.chart .legend li')].map(
        li => [parseFloat(getComputedStyle(li).fontSize), li.textContent]),
]"""

# The x-axis labels that overlap the one before them or a y-axis label, or stick out of their
# chart.
CROWDED_X_LABELS = """svg => {
    const box = svg.getBoundingClientRect();
    const shown = [...svg.querySelectorAll('text.tick[text-anchor=middle]')]
        .filter(t => t.getClientRects().length).map(t => [t.getBoundingClientRect(), t]);
    const ys = [...svg.querySelectorAll('text.tick[text-anchor=end]')]
        .map(t => t.getBoundingClientRect());
    const meets = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom
        && b.top < a.bottom;
    return shown.filter(([r], i) => r.left < box.left - 0.5 || r.right > box.right + 0.5
                        || (i > 0 && r.left < shown[i - 1][0].right + 2)
                        || ys.some(y => meets(r, y)))
        .map(([r, t]) => `${t.textContent} at ${Math.round(r.left)}-${Math.round(r.right)}`);
}"""


# The last x-axis label the screen shows.
LAST_X_LABEL = """svg => [...svg.querySelectorAll('text.tick[text-anchor=middle]')]
    .filter(t => t.getClientRects().length).map(t => t.textContent).pop()"""

# How wide the narrowest column of a chart is drawn, in CSS pixels.
NARROWEST_COLUMN = """svg => Math.min(...[...svg.querySelectorAll('rect:not(.hatch)')]
    .map(r => r.getBoundingClientRect().width))"""


def per(days: int) -> str:
    """What a column of the dashboard's charts is over `days`: "day", or "week"."""
    return "day" if days <= WEEKLY_AFTER_DAYS else "week"


def last_named(days: DayRange) -> str:
    """The last x-axis label of the dashboard of `days`: its last day, or the Monday of its
    last week; with the year when a date comes round again in the range."""
    last = days.last
    if per(len(days.days)) == "week":
        last -= timedelta(days=last.weekday())
    return f"{last.day} {last:%b}" + (f" {last:%Y}" if len(days.days) > 365 else "")


@pytest.mark.parametrize("days", [30, 366])
async def test_the_charts_text_is_readable_on_a_phone(
    arjun: User,  # noqa: F811
    both_themes: BackOffice,
    days_of_its_own: Callable[[int], DayRange],
    days: int,
) -> None:
    """The SVGs are drawn 520 wide and scaled to the screen: at 390 px their 11 px labels were
    drawn at 7. Every label and legend is drawn at 11 CSS pixels or more at either width, the
    x-axis names fewer days on a phone, and no label runs into the next. The last day (today,
    the one a lead looks at most; over a year, its week) is always named. A year is shown by
    week: its columns were 1.5 px a day on a desktop, under 1 px on a phone."""
    shown = days_of_its_own(days)
    last = last_named(shown)
    await sync_to_async(a_busy_month)(shown.last)

    async for width, page in each_view(both_themes, shown, f"dashboard-{days}-days"):
        small = [(round(size, 1), text) for size, text in await page.evaluate(RENDERED_TEXT)
                 if size < 11]  # fmt: skip
        assert small == [], width
        for n, figure in enumerate(await page.locator(".chart").all()):
            # Each chart as it is read, at the screen's own resolution.
            await figure.screenshot(path=ARTIFACTS / f"dashboard-{days}-days-chart-{n}-{width}.png")
        for svg in await page.locator(".chart svg:has(line.axis)").all():
            assert await svg.evaluate(CROWDED_X_LABELS) == [], width
            assert await svg.evaluate(OUTSIDE_THE_MARGIN) == [], width
            assert await svg.evaluate(LAST_X_LABEL) == last, width
        calls = page.get_by_role("figure", name=f"Calls per {per(days)} by outcome")
        assert await calls.locator("svg[role=img]").evaluate(NARROWEST_COLUMN) >= 3, width
    assert both_themes.problems == []


def one_call(last: dt.date) -> None:
    started = on(last)
    sync_db().calls.insert_one({
        "call_id": "CALL-ONE", "user_id": 301, "channel": "web", "started_at": started,
        "ended_at": started + timedelta(seconds=75), "end_reason": "caller_hung_up",
        "outcome": "resolved_info", "transcript": [], "tool_calls": [],
        "turns": [{"at": started, "user_ms": 900, "first_audio_ms": 820, "tools_ms": 0}],
        "cost": {"currency": "INR", "amount": 245, "by_modality": {}},
    })  # fmt: skip


def thousands_a_day(last: dt.date) -> None:
    """A year of calls up to `last`: thousands on three days, a handful on the others."""
    outcomes = [s.key for s in OUTCOME_SERIES if s.key not in ("", "in_progress")]
    calls = []
    for day in range(366):
        started = on(last - timedelta(days=day))
        for n in range(1200 if day in (0, 180, 365) else 3 + day % 5):
            calls.append({
                "call_id": f"CALL-{day}-{n}", "user_id": 301, "channel": "web",
                "started_at": started, "ended_at": started + timedelta(seconds=40 + n % 300),
                "end_reason": "caller_hung_up", "transcript": [], "tool_calls": [],
                "outcome": outcomes[n % len(outcomes)],
                "turns": [{"at": started, "user_ms": 900, "first_audio_ms": 500 + n % 2000,
                           "tools_ms": 0}],
                "cost": {"currency": "INR", "amount": 245 + n % 100, "by_modality": {}},
            })  # fmt: skip
    sync_db().calls.insert_many(calls)


def some_days_unpriced(last: dt.date) -> None:
    """Calls priced on some days; on `last`, only calls of a model LIVE_PRICES has no price
    for (no `cost`): that day's cost is not known, not ₹0.00."""
    calls = []
    for day in range(5):
        started = on(last - timedelta(days=day))
        for n in range(3):
            calls.append({
                "call_id": f"CALL-U-{day}-{n}", "user_id": 301, "channel": "web",
                "started_at": started, "ended_at": started + timedelta(seconds=90),
                "end_reason": "caller_hung_up", "outcome": "resolved_info", "transcript": [],
                "tool_calls": [],
                **({"cost": {"currency": "INR", "amount": 245 + 30 * n, "by_modality": {}}}
                   if day and n < 2 else {}),
            })  # fmt: skip
    sync_db().calls.insert_many(calls)


@pytest.mark.parametrize("data, days", [(None, 30), (one_call, 30), (thousands_a_day, 366),
                                        (some_days_unpriced, 30)])  # fmt: skip
async def test_the_dashboard_reads_right_with_no_call_one_call_or_thousands_a_day(
    arjun: User,  # noqa: F811
    both_themes: BackOffice,
    days_of_its_own: Callable[[int], DayRange],
    data: Any,
    days: int,
) -> None:
    name = f"dashboard-{data.__name__ if data else 'no-calls'}"
    shown = days_of_its_own(days)
    if data:
        await sync_to_async(data)(shown.last)

    async for width, page in each_view(both_themes, shown, name):
        figures = page.get_by_text(f"The figures per {per(days)}")
        await figures.click()
        await page.screenshot(path=ARTIFACTS / f"{name}-figures-{width}.png", full_page=True)
        # Each day and figure on one line: on a phone the table scrolls sideways instead.
        assert await on_more_than_one_line(page.locator("details.figures td")) == [], width
        small = [(round(size, 1), text) for size, text in await page.evaluate(RENDERED_TEXT)
                 if size < 11]  # fmt: skip
        assert small == [], width
        for svg in await page.locator(".chart svg:has(line.axis)").all():
            assert await svg.evaluate(CROWDED_X_LABELS) == [], width
            assert await svg.evaluate(OUTSIDE_THE_MARGIN) == [], width
        assert await page.evaluate(BROKEN_FIGURES) == [], width
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide == WIDTHS[width.removesuffix("-dark")], width
        await figures.click()  # closed again: each view's first screenshot shows it closed
    assert both_themes.problems == []


def steady_days(days: DayRange) -> None:
    """Every day of `days` alike: six calls of three outcomes, answered and priced, and a
    refund, so a week's figures are its days' times seven, a part week's fewer."""
    outcomes = ["resolved_info", "resolved_refund", "escalated"]
    calls: list[dict[str, Any]] = []
    for day in days.days:
        started = on(day)
        for n in range(6):
            calls.append({
                "call_id": f"CALL-STEADY-{day.isoformat()}-{n}", "user_id": 301,
                "channel": "web", "started_at": started,
                "ended_at": started + timedelta(minutes=2 + n), "end_reason": "caller_hung_up",
                "outcome": outcomes[n % 3], "transcript": [], "tool_calls": [],
                "turns": [{"at": started, "user_ms": 900, "first_audio_ms": 600 + 100 * n,
                           "tools_ms": 0}],
                "cost": {"currency": "INR", "amount": 250 + 10 * n, "by_modality": {}},
            })  # fmt: skip
    sync_db().calls.insert_many(calls)
    sync_db().refunds.insert_many([
        {"refund_id": f"RFD-STEADY-{day.isoformat()}", "order_id": f"ORD-S-{day.isoformat()}",
         "user_id": 301, "amount": 40_000, "percent": 100, "tier": "Gold", "reason": "",
         "call_id": "", "created_at": on(day)}
        for day in days.days
    ])  # fmt: skip


# Each column segment and line point of a chart, as drawn: [tooltip, fill-opacity, fill].
DRAWN_PERIODS = """svg => [
    ...[...svg.querySelectorAll('g > rect:not(.hatch)')].map(r => [
        r.parentElement.querySelector('title').textContent,
        getComputedStyle(r).fillOpacity, getComputedStyle(r).stroke]),
    ...[...svg.querySelectorAll('path.mark')].map(p => [
        p.querySelector('title').textContent, '', getComputedStyle(p).fill]),
]"""


async def test_a_week_the_range_holds_only_in_part_is_drawn_faded_or_hollow(
    arjun: User,  # noqa: F811
    both_themes: BackOffice,
    days_of_its_own: Callable[[int], DayRange],
) -> None:
    """180 days from a Friday to a Tuesday, the same calls every day: the last week's two
    days are a column two sevenths high, which read as a week of few calls. Its columns (and
    the first week's, of three days) are faded inside an outline of their colour, their points
    hollow, in both themes, and each chart's legend says so; whole weeks are drawn as before."""
    while days_of_its_own(1).last.weekday() != 2:  # the next range ends on a Tuesday
        pass
    days = days_of_its_own(180)
    assert (days.first.weekday(), days.last.weekday()) == (4, 1)
    await sync_to_async(steady_days)(days)

    async for width, page in each_view(both_themes, days, "dashboard-part-weeks"):
        for n, figure in enumerate(await page.locator(".chart:has(line.axis)").all()):
            await figure.screenshot(path=ARTIFACTS / f"dashboard-part-weeks-chart-{n}-{width}.png")
            drawn = await figure.locator("svg[role=img]").evaluate(DRAWN_PERIODS)
            title = await figure.locator("figcaption").text_content()
            part = {(opacity, look) for said, opacity, look in drawn if "only)" in said}
            whole = {(opacity, look) for said, opacity, look in drawn if "only)" not in said}
            assert part and whole and not part & whole, (width, title, part, whole)
            if title and title.startswith(("Calls", "Refunds", "What")):
                assert {opacity for opacity, _ in part} == {"0.4"}, (width, title)
                assert "none" not in {look for _, look in part}, (width, title)  # outlined
                assert {look for _, look in whole} == {"none"}, (width, title)
            else:  # every line's part-week points filled alike: with the page's background
                assert len({look for _, look in part}) == 1, (width, title, part)
            key = figure.locator(".legend li.part-key")
            assert await key.text_content() in (
                "Faded: the first and last weeks, 3 and 2 of their 7 days in the range",
                "Hollow: the first and last weeks, 3 and 2 of their 7 days in the range",
            ), (width, title)
            assert await key.is_visible(), (width, title)
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide == WIDTHS[width.removesuffix("-dark")], width
    assert both_themes.problems == []


async def test_a_part_week_without_calls_is_not_drawn_nor_said_to_be(
    arjun: User,  # noqa: F811
    both_themes: BackOffice,
    days_of_its_own: Callable[[int], DayRange],
) -> None:
    """117 days from a Thursday to a Monday morning, the same calls every day but the Monday,
    which has none yet: the first week's four days are drawn faded or hollow, as a part week;
    the last week has no column and no point, and no legend speaks of it; its row in the
    table says 0 calls and "—" for the rates and times of none."""
    while days_of_its_own(1).last.weekday() != 1:  # the next range ends on a Monday
        pass
    days = days_of_its_own(117)
    assert (days.first.weekday(), days.last.weekday()) == (3, 0)
    await sync_to_async(steady_days)(DayRange(days.first, days.last - timedelta(days=1)))
    monday = f"Week of {days.last.day} {days.last:%b} ({days.last.day} {days.last:%b} only)"

    name = "dashboard-part-week-without-calls"
    async for width, page in each_view(both_themes, days, name):
        for figure in await page.locator(".chart:has(line.axis)").all():
            drawn = await figure.locator("svg[role=img]").evaluate(DRAWN_PERIODS)
            title = await figure.locator("figcaption").text_content()
            assert [said for said, *_ in drawn if said.startswith(monday)] == [], (width, title)
            assert [said for said, *_ in drawn if "only)" in said], (width, title)
            assert await figure.locator(".legend li.part-key").all_text_contents() in (
                ["Faded: the first week, 4 of its 7 days in the range"],
                ["Hollow: the first week, 4 of its 7 days in the range"],
            ), (width, title)
        figures = page.get_by_text("The figures per week")
        await figures.click()
        await page.screenshot(path=ARTIFACTS / f"{name}-figures-{width}.png", full_page=True)
        row = page.locator("details.figures tr", has_text=monday)
        cells = await row.locator("td").all_text_contents()
        assert cells == [monday, "0", "0", "0", "—", "—", "₹0.00", "—", "₹0.00"], width
        await figures.click()  # closed again: each view's first screenshot shows it closed
    assert both_themes.problems == []
