"""Staff pages while Redis, between the processes, is away: one real daphne worker, a real
Redis restarted empty under it. Pages stay open, and once Redis is back what staff do reaches
the call and what the call does reaches their pages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis.asyncio
from asgiref.sync import sync_to_async

from continuity.tests.callers import Page
from livestaff.link import LIVE_CALLS_GROUP, call_group
from livestaff.tests.sockets import StaffSocket
from livestaff.tests.test_staff_on_a_call import LEAD_GROUP, _staff_cookie
from realtime.tests.fake_live import FakeLiveServer
from support import mongo
from support.models import Customer
from voiceproject.redis_server import LocalRedis
from voiceproject.tests.live_server import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_DOWN_S = 3.0


async def test_a_lead_holding_a_call_through_a_redis_restart_keeps_the_page_and_hands_back(
    daphne_workers: Callable[..., list[DaphneServer]], redis_server: LocalRedis
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    cookie = await sync_to_async(_staff_cookie)("arjun", LEAD_GROUP, "Arjun")
    async with FakeLiveServer() as live:
        (worker,) = await asyncio.to_thread(daphne_workers, 1, gemini_live_url=live.url)
        page = await Page.open(worker)
        staff = await StaffSocket.open(worker, f"/ws/staff/calls/{page.call_id}", cookie)
        await staff.event("state", mode="agent")
        await staff.send({"type": "take_over"})
        await staff.event("state", mode="human", staff="arjun")
        await page.next_event("agent_changed")

        await asyncio.to_thread(redis_server.restart, REDIS_DOWN_S)
        await until_the_page_joined_again(redis_server, call_group(page.call_id))
        seen = len(staff.events)
        await staff.send({"type": "hand_back", "note": "Refund agreed; confirm it."})
        await page.wait_for(
            lambda: any(e == {"type": "agent_changed", "mode": "agent"} for e in page.events),
            "the call handed back", 10,
        )  # fmt: skip
        handed_back = await staff.event("state", after=seen, mode="agent")

        assert handed_back["staff"] is None
        assert staff.close_code is None  # the page was never closed under the staff member
        await page.send({"type": "end"})
        await staff.close()
        await page.close()


async def until_the_page_joined_again(redis_server: LocalRedis, group: str) -> None:
    """Redis restarted empty knows no group until a page joins again (what was published
    before that is lost, as what was published while Redis was down)."""
    client = redis.asyncio.Redis(port=redis_server.port, db=0)
    try:
        async with asyncio.timeout(10):
            while not await client.exists(f"asgi:group:{group}"):
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def test_the_live_calls_page_hears_of_new_calls_after_a_redis_restart(
    daphne_workers: Callable[..., list[DaphneServer]], redis_server: LocalRedis
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    cookie = await sync_to_async(_staff_cookie)("arjun", LEAD_GROUP, "Arjun")
    async with FakeLiveServer() as live:
        (worker,) = await asyncio.to_thread(daphne_workers, 1, gemini_live_url=live.url)
        board = await StaffSocket.open(worker, "/ws/staff/live", cookie)
        await asyncio.sleep(0.5)  # joined its group

        await asyncio.to_thread(redis_server.restart, REDIS_DOWN_S)
        await until_the_page_joined_again(redis_server, LIVE_CALLS_GROUP)
        page = await Page.open(worker)
        listed = await board.event("call")

        assert listed["call"]["call_id"] == page.call_id
        assert board.close_code is None
        await page.send({"type": "end"})
        await board.close()
        await page.close()


async def test_a_hand_back_while_redis_is_down_is_said_to_have_done_nothing_and_works_after(
    daphne_workers: Callable[..., list[DaphneServer]], redis_server: LocalRedis
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    cookie = await sync_to_async(_staff_cookie)("arjun", LEAD_GROUP, "Arjun")
    async with FakeLiveServer() as live:
        (worker,) = await asyncio.to_thread(daphne_workers, 1, gemini_live_url=live.url)
        page = await Page.open(worker)
        staff = await StaffSocket.open(worker, f"/ws/staff/calls/{page.call_id}", cookie)
        await staff.event("state", mode="agent")
        await staff.send({"type": "take_over"})
        await staff.event("state", mode="human", staff="arjun")

        port = redis_server.port
        await asyncio.to_thread(redis_server.stop)
        try:
            await staff.send({"type": "hand_back", "note": "Refund agreed."})
            refused = await staff.event("error")
        finally:
            await asyncio.to_thread(redis_server.start, port=port)
        await until_the_page_joined_again(redis_server, call_group(page.call_id))
        seen = len(staff.events)
        await staff.send({"type": "hand_back", "note": "Refund agreed."})
        await staff.event("state", after=seen, mode="agent")
        await page.send({"type": "end"})
        recorded = await staff_events_once_ended(page.call_id)

        assert refused["code"] == "not_live" and "nothing was done" in refused["message"]
        assert recorded == ["take_over", "hand_back"]
        assert [e for e in page.events if e["type"] == "agent_changed"] == [
            {"type": "agent_changed", "mode": "human", "name": "Arjun"},
            {"type": "agent_changed", "mode": "agent"},
        ]
        await staff.close()
        await page.close()


async def staff_events_once_ended(call_id: str) -> list[str]:
    """The kinds of `calls.staff_events`, once the call's record is closed (all written)."""
    calls = mongo.async_db().calls
    async with asyncio.timeout(10):
        while not (record := await calls.find_one({"call_id": call_id, "ended_at": {"$ne": None}})):
            await asyncio.sleep(0.05)
    return [event["kind"] for event in record["staff_events"]]


async def test_a_call_whose_holder_left_while_redis_was_down_goes_back_to_the_agent(
    daphne_workers: Callable[..., list[DaphneServer]], redis_server: LocalRedis
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    cookie = await sync_to_async(_staff_cookie)("arjun", LEAD_GROUP, "Arjun")
    async with FakeLiveServer() as live:
        (worker,) = await asyncio.to_thread(
            daphne_workers, 1, gemini_live_url=live.url, env={"STAFF_HOLD_GRACE_S": "1"}
        )
        page = await Page.open(worker)
        staff = await StaffSocket.open(worker, f"/ws/staff/calls/{page.call_id}", cookie)
        await staff.event("state", mode="agent")
        await staff.send({"type": "take_over"})
        await staff.event("state", mode="human", staff="arjun")
        await page.next_event("agent_changed")

        # Arjun closes his page while Redis is down: the call cannot hear that it closed.
        port = redis_server.port
        await asyncio.to_thread(redis_server.stop)
        try:
            await staff.close()
            await asyncio.sleep(2)
        finally:
            await asyncio.to_thread(redis_server.start, port=port)
        await page.wait_for(
            lambda: {"type": "agent_changed", "mode": "agent"} in page.events,
            "the call back with the agent", 30,
        )  # fmt: skip

        await page.send({"type": "end"})
        assert await staff_events_once_ended(page.call_id) == ["take_over", "hand_back"]
        await page.close()
