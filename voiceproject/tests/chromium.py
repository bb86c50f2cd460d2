"""Debian's Chromium for the browser tests, with the flags that let it run on these machines:
no sandbox (tests run as root), no GPU, and no calls home (the network is closed, and
Chromium's background requests would otherwise fail loudly, many at a time)."""

from __future__ import annotations

from pathlib import Path

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
