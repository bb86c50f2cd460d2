"""A callback answered on a server with no agent configured (no GEMINI_API_KEY), in real
Chromium (contract sections 1, 8 and 9: everything but the agent works without the key).

Arjun dialled Asha back; she answers. No model is on the call, so his live call view offers
no hand-back and no whisper and says why, and listening shows no agent's level; he talks with
her, then ends the call himself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from livestaff.tests.dialled_back import DIALLING_ENV, arjun_dialled_and_asha_answered
from livestaff.tests.test_live_calls_browser import (  # noqa: F401  (fixtures)
    STAFF_HZ,
    asha,
    browsers,
    chromiums,
    cookies,
    shots,
)
from realtime.audio import ulaw_decode
from support.models import Call, Customer
from voiceproject.tests.live_server import DaphneServer
from voiceproject.tests.signals import dominant_hz

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),  # Chromium is the module's
]


@pytest_asyncio.fixture(loop_scope="module")
async def server(django_db_setup: Any) -> AsyncIterator[DaphneServer]:
    with DaphneServer(env={**DIALLING_ENV, "GEMINI_API_KEY": ""}) as server:
        await asyncio.to_thread(server.start)
        yield server


async def test_with_no_agent_the_lead_talks_with_the_customer_and_ends_the_call(
    asha: Customer,  # noqa: F811
    cookies: dict[str, str],  # noqa: F811
    server: DaphneServer,
    browsers: tuple[Browser, Browser],  # noqa: F811
) -> None:
    problems: list[str] = []
    async with arjun_dialled_and_asha_answered(
        asha, server, browsers, cookies, problems
    ) as (line, call_id, arjun):
        await arjun.goto(f"{server.url}/staff/live/{call_id}/")
        start = arjun.get_by_role("button", name="Start my microphone")
        await expect(start).to_be_enabled()
        # Nobody to hand back to, nor to whisper to: the page says so rather than offer it.
        await expect(arjun.get_by_role("button", name="Hand back")).to_be_hidden()
        await expect(arjun.get_by_role("button", name="Whisper")).to_be_disabled()
        await expect(arjun.get_by_text("no agent is configured on this call")).to_be_visible()

        await start.click()
        await expect(start).to_be_hidden()
        before = len(line.audio)
        await line.wait_for(lambda: len(line.audio) >= before + 100, "Arjun's voice", 20)
        assert dominant_hz(list(ulaw_decode(line.heard(50))), 8_000) == pytest.approx(
            STAFF_HZ, abs=15
        )
        await shots(arjun, "17-callback-with-no-agent")

        await arjun.get_by_text("End call…").click()
        await arjun.get_by_label("Reason (kept on the call)").fill("Sorted on the phone")
        await arjun.get_by_role("button", name="End call for the customer").click()
        await expect(arjun.get_by_text("This call has ended.")).to_be_visible()
        async with asyncio.timeout(10):  # the page hears of the end as the record is closed
            while not (call := await Call.objects.aget(call_id=call_id)).end_reason:
                await asyncio.sleep(0.1)
        assert call.end_reason == "ended_by_staff"
        assert problems == []


async def test_with_no_agent_the_listening_lead_sees_no_agent_level(
    asha: Customer,  # noqa: F811
    cookies: dict[str, str],  # noqa: F811
    server: DaphneServer,
    browsers: tuple[Browser, Browser],  # noqa: F811
) -> None:
    problems: list[str] = []
    async with arjun_dialled_and_asha_answered(
        asha, server, browsers, cookies, problems
    ) as (_, call_id, arjun):
        await arjun.goto(f"{server.url}/staff/live/{call_id}/")
        await expect(arjun.get_by_role("button", name="Start my microphone")).to_be_enabled()

        await arjun.get_by_role("button", name="Listen in").click()

        await expect(arjun.get_by_role("meter", name="Customer's level")).to_be_visible()
        await expect(arjun.get_by_role("meter", name="Agent's level")).to_be_hidden()
        await expect(arjun.get_by_text("Agent", exact=True)).to_be_hidden()
        await shots(arjun, "18-listening-with-no-agent")
        assert problems == []
