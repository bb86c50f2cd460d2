"""Fixtures for the voice bridge tests: the fake Gemini Live API, and Asha, who calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from realtime import live_client
from realtime.tests.fake_live import FakeLiveServer
from support.models import Customer
from support.tests.conftest import CONTRACT_TIERS, make_order


@pytest.fixture
async def fake_live() -> AsyncIterator[FakeLiveServer]:
    """A fresh fake Live API on 127.0.0.1 (API key "test-key"); see fake_live.py."""
    async with FakeLiveServer() as fake:
        yield fake


@pytest.fixture
def live(
    fake_live: FakeLiveServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> FakeLiveServer:
    """The fake Live API, configured as the bridge's upstream, with quick retries."""
    settings.GEMINI_API_KEY = "test-key"
    settings.GEMINI_LIVE_URL = fake_live.url
    monkeypatch.setattr(
        live_client,
        "DEFAULT_RETRY",
        live_client.RetryPolicy(
            max_attempts=3, base_delay_s=0.05, max_delay_s=0.2, setup_timeout_s=3
        ),
    )
    return fake_live


@pytest.fixture
def asha(db: Any) -> Customer:
    """Asha (#101), Silver (₹2,500 spent), an order of ₹337.50 delivered 30 minutes ago."""
    from support.models import RefundTier

    RefundTier.objects.all().delete()
    RefundTier.objects.bulk_create(
        RefundTier(name=n, min_lifetime_spend=s, percent=p) for n, s, p in CONTRACT_TIERS
    )
    asha = Customer.objects.create(
        user_id=101, name="Asha Verma", phone="+919800000101", email="asha@example.com"
    )
    make_order(
        asha, "ORD-1001", status="delivered", amount=33_750,
        placed_hours_ago=1, delivered_hours_ago=0.5,
    )  # fmt: skip
    make_order(
        asha, "ORD-1002", status="delivered", amount=216_250,
        placed_hours_ago=30, delivered_hours_ago=29,
    )  # fmt: skip
    return asha
