"""The live call view of a call with no agent (no GEMINI_API_KEY: a callback a colleague
placed), in real Chromium: listening, it shows the customer's and the colleague's levels, and
no level for an agent that is not there."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from playwright.async_api import Browser, expect

from continuity.tests.callers import Line
from livestaff.tests.test_callback_browser import ASHA_PHONE, CALL_SID, call_of, dialled_callback
from livestaff.tests.test_callback_no_agent_browser import server  # noqa: F401  (fixture)
from livestaff.tests.test_live_calls_browser import (  # noqa: F401  (fixtures)
    DESK,
    asha,
    browsers,
    chromiums,
    cookies,
    person,
    shots,
)
from realtime.phone import outbound, security
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),  # Chromium is the module's
]


async def test_with_no_agent_the_listening_lead_sees_no_agent_level(
    asha: Customer,  # noqa: F811
    cookies: dict[str, str],  # noqa: F811
    server: DaphneServer,  # noqa: F811
    browsers: tuple[Browser, Browser],  # noqa: F811
) -> None:
    _, staff_browser = browsers
    problems: list[str] = []
    await sync_to_async(dialled_callback)(asha)
    token = security.mint_callback_token(security.CallbackStream("CBK-ASHA01", ASHA_PHONE,
                                                                 "arjun"))  # fmt: skip
    line = await Line.answer(server, CALL_SID, ASHA_PHONE, {
        "token": token, outbound.KIND: outbound.CALLBACK, outbound.CALLBACK_ID: "CBK-ASHA01",
    })  # fmt: skip
    try:
        call_id = await call_of("CBK-ASHA01")
        _, arjun = await person(staff_browser, server, DESK, problems, cookies["arjun"])
        await arjun.goto(f"{server.url}/staff/live/{call_id}/")
        await expect(arjun.get_by_role("button", name="Start my microphone")).to_be_enabled()

        await arjun.get_by_role("button", name="Listen in").click()

        await expect(arjun.get_by_role("meter", name="Customer's level")).to_be_visible()
        await expect(arjun.get_by_role("meter", name="Agent's level")).to_be_hidden()
        await expect(arjun.get_by_text("Agent", exact=True)).to_be_hidden()
        await shots(arjun, "18-listening-with-no-agent")
        assert problems == []
    finally:
        if line.ws is not None:
            await line.ws.close()
        print("daphne:", server.output(), sep="\n")  # shown when the test failed
