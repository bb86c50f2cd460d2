"""What the live calls page paints first (livestaff.queries.live_calls): every call in progress
with its customer, tier, start and what the agent is doing now, read from the call records."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from livestaff.link import LIVE_CALLS_GROUP
from livestaff.queries import LiveCall, live_calls
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.voice_harness import BrowserCall, wait_until_ended
from support.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)


async def row_when(call_id: str, doing: str, timeout: float = 5.0) -> LiveCall:
    """The call's row once its record says the agent is `doing` (records are written about
    once a second)."""
    async with asyncio.timeout(timeout):
        while True:
            rows = {row.call_id: row for row in await sync_to_async(live_calls)()}
            if call_id in rows and rows[call_id].doing == doing:
                return rows[call_id]
            await asyncio.sleep(0.1)


async def test_a_call_in_progress_is_listed_with_what_the_agent_is_doing(
    asha: Customer, live: FakeLiveServer
) -> None:
    call = await BrowserCall.open()
    call_id = str((await call.next_event("ready"))["call_id"])

    row = await row_when(call_id, "listening")

    assert (row.customer, row.tier, row.channel, row.mode) == ("Asha Verma", "Silver", "web",
                                                                "agent")  # fmt: skip
    # Aware, so the page can show local time and tick the duration from it.
    assert row.started_at.tzinfo is not None
    assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - row.started_at < dt.timedelta(seconds=30)
    await call.send({"type": "end"})
    await wait_until_ended(call_id)
    assert call_id not in {row.call_id for row in await sync_to_async(live_calls)()}


async def test_between_a_tool_result_and_the_answer_the_agent_is_thinking(
    asha: Customer, live: FakeLiveServer
) -> None:
    call = await BrowserCall.open()
    call_id = str((await call.next_event("ready"))["call_id"])
    session = await live.wait_for_session()

    await session.send_tool_call([{"name": "escalate_to_human",
                                   "args": {"reason": "wants a person"}}])  # fmt: skip
    await session.wait_for_tool_response()

    # Not "Escalating to a person" still, once the ticket is open and the model has the result.
    assert (await row_when(call_id, "thinking")).doing == "thinking"
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_the_page_hears_a_call_ended_once_its_record_no_longer_lists_it(
    asha: Customer, live: FakeLiveServer
) -> None:
    """The live calls page fetches its rows again when it hears a call ended: they must not
    list the call still."""
    layer = get_channel_layer()
    assert layer is not None
    page = await layer.new_channel()
    await layer.group_add(LIVE_CALLS_GROUP, page)
    call = await BrowserCall.open()
    call_id = str((await call.next_event("ready"))["call_id"])

    await call.send({"type": "end"})
    async with asyncio.timeout(10):
        while not (await layer.receive(page))["call"].get("ended"):
            pass

    assert call_id not in {row.call_id for row in await sync_to_async(live_calls)()}
    await layer.group_discard(LIVE_CALLS_GROUP, page)
