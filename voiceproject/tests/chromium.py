"""Debian's Chromium for the browser tests, with the flags that let it run on these machines:
no sandbox (tests run as root), no GPU, and no calls home (the network is closed, and
Chromium's background requests would otherwise fail loudly, many at a time)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

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
