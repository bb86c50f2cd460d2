"""Fixtures for the voice bridge tests: the fake Gemini Live API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from realtime.tests.fake_live import FakeLiveServer


@pytest.fixture
async def fake_live() -> AsyncIterator[FakeLiveServer]:
    """A fresh fake Live API on 127.0.0.1 (API key "test-key"); see fake_live.py."""
    async with FakeLiveServer() as fake:
        yield fake
