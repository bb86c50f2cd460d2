"""What a staff page reads of a live call's events: a finished tool call arrives with the line
the call page gives it (its arguments included), over the real ASGI app and the fake Live API."""

from __future__ import annotations

import asyncio

import pytest

from livestaff.tests.test_staff_on_a_call import AGENT_GROUP, StaffPage, a_call
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from support.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_finished_tool_reaches_staff_as_the_call_page_words_it(
    asha: Customer, live: FakeLiveServer
) -> None:
    watching = asyncio.Event()

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await watching.wait()
        await session.send_tool_call([{"name": "file_complaint", "args": {
            "order_id": "ORD-1001", "category": "food_quality", "description": "Cold biryani",
        }}])  # fmt: skip
        await session.wait_for_tool_response()

    call, call_id = await a_call(live)
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state")
    watching.set()

    started = await meera.next_event("tool", status="started")
    done = await meera.next_event("tool", status="done")

    assert "line" not in started
    assert done["line"].startswith("Complaint CMP-")
    assert done["line"].endswith(" filed: Food quality about ORD-1001")
    assert done["ok"] is True and '"category": "food_quality"' in done["raw"]["arguments"]
    await meera.leave()
    await call.send({"type": "end"})
