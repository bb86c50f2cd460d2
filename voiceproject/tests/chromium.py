"""Debian's Chromium for the browser tests, with the flags that let it run on these machines:
no sandbox (tests run as root), no GPU, and no calls home (the network is closed, and
Chromium's background requests would otherwise fail loudly, many at a time)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.asynccontextmanager
async def launched_chromium(extra_args: Sequence[str] = ()) -> AsyncIterator[Browser]:
    """Chromium under Playwright with CHROMIUM_ARGS and `extra_args`; skips the test when
    Debian's Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            await browser.close()


# What a screen reader says on its own, in order, for `page.add_init_script` (window.said):
# the text of a live region (role status or alert) each time it shows a new one, and each line
# added to a log (role log; not what is aria-hidden). A live region says only what changes once
# it is in the accessibility tree: one that appears with its text (from `hidden`, or added to
# the page) says nothing until its text changes again. Runs before the page's scripts (and
# outside its CSP).
RECORD_WHAT_IS_SAID = """
window.said = [];
const known = new WeakSet(); // the live regions in the accessibility tree at the last look
new MutationObserver((changes) => {
  for (const change of changes) {
    const log = change.target.closest && change.target.closest("[role=log]");
    if (!log) continue;
    for (const added of change.addedNodes) {
      if (added.nodeType !== 1 || added.closest("[aria-hidden=true]")) continue;
      window.said.push(added.textContent);
    }
  }
  for (const region of document.querySelectorAll("[role=status], [role=alert]")) {
    if (region.closest("[hidden]")) {
      known.delete(region);
      continue;
    }
    const text = region.textContent.trim();
    const wasKnown = known.has(region);
    known.add(region);
    if (region.dataset.lastSaid === text) continue;
    region.dataset.lastSaid = text;
    if (wasKnown && text) window.said.push(text);
  }
}).observe(document, { childList: true, subtree: true, characterData: true, attributes: true });
"""


# How many lines an element's text takes on screen: the distinct tops of its text's boxes.
LINES_OF = """(e) => { const r = document.createRange(); r.selectNodeContents(e);
    return new Set(Array.from(r.getClientRects(), (b) => Math.round(b.top))).size; }"""


async def lines_of(element: Locator) -> int:
    """How many lines the element's text takes."""
    return int(await element.evaluate(LINES_OF))


async def on_more_than_one_line(elements: Locator) -> list[str]:
    """The text of each of `elements` that takes more than one line."""
    return list(await elements.evaluate_all(
        f"(all) => all.filter((e) => ({LINES_OF})(e) > 1).map((e) => e.textContent)"))  # fmt: skip
