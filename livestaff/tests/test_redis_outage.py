"""Staff pages while Redis, between the processes, is away: one real daphne worker, a real
Redis stopped and started again empty under it. Pages stay open through the outage; once Redis
is back they are told to come back and catch up on what they missed, and what staff do
reaches the call again. A call whose holder left meanwhile goes back to the agent."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import redis.asyncio
from asgiref.sync import sync_to_async

from continuity.tests.callers import Page
from livestaff.link import LIVE_CALLS_GROUP
from livestaff.tests.sockets import StaffSocket
from livestaff.tests.test_staff_on_a_call import LEAD_GROUP, _staff_cookie
from realtime.tests.fake_live import FakeLiveServer
from support import mongo
from support.models import Customer
from support.staff.sockets import MISSED, RECHECK_S
from voiceproject.redis_server import LocalRedis
from voiceproject.tests.live_server import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_DOWN_S = 3.0


async def asha_and_arjuns_cookie() -> str:
    """Asha, a customer; Arjun, a lead, signed in: his session cookie."""
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    return await sync_to_async(_staff_cookie)("arjun", LEAD_GROUP, "Arjun")


async def held_by_arjun(worker: DaphneServer, cookie: str) -> tuple[Page, StaffSocket]:
    """Asha's call on `worker`, and Arjun's live call page, which has taken it over."""
    page = await Page.open(worker)
    staff = await StaffSocket.open(worker, f"/ws/staff/calls/{page.call_id}", cookie)
    await staff.event("state", mode="agent")
    await staff.send({"type": "take_over"})
    await staff.event("state", mode="human", staff="arjun")
    return page, staff


@contextlib.asynccontextmanager
async def redis_away(redis_server: LocalRedis) -> AsyncIterator[None]:
    """Redis stopped for the block, then started again, empty, on its port."""
    port = redis_server.port
    await asyncio.to_thread(redis_server.stop)
    try:
        yield
    finally:
        await asyncio.to_thread(redis_server.start, port=port)


async def test_a_lead_holding_a_call_through_a_redis_restart_catches_up_and_hands_back(
    daphne_workers: Callable[..., list[DaphneServer]], redis_server: LocalRedis
) -> None:
    cookie = await asha_and_arjuns_cookie()
    async with FakeLiveServer() as live:
        (worker,) = await asyncio.to_thread(daphne_workers, 1, gemini_live_url=live.url)
        page, staff = await held_by_arjun(worker, cookie)
        since = quote(datetime.now(UTC).isoformat())  # what Arjun's page has seen
        await page.next_event("agent_changed")

        # Redis restarts; meanwhile Asha types, which Arjun's page cannot hear.
        async with redis_away(redis_server):
            await page.send({"type": "text", "text": "Hello? Is anyone there?"})
            await asyncio.sleep(REDIS_DOWN_S)
        # The page stayed open through the outage; once Redis is back it is told it missed
        # messages, and comes back as the page does (it held the call from here). The old
        # socket's close may reach the call after the new one joined: a `state` saying no
        # page holds it can come first, until the call hears where the page is now.
        missed = await staff.closed()
        back = await StaffSocket.open(
            worker, f"/ws/staff/calls/{page.call_id}?since={since}&holding=1", cookie
        )
        state = await back.event("state", held_from="this_page")
        caught_up = await back.event("backlog")
        await back.send({"type": "hand_back", "note": "Refund agreed; confirm it."})
        await page.wait_for(
            lambda: {"type": "agent_changed", "mode": "agent"} in page.events,
            "the call handed back", 10,
        )  # fmt: skip
        handed_back = await back.event("state", mode="agent")

        assert missed == MISSED
        assert (state["mode"], state["staff"]) == ("human", "arjun")
        assert [e["text"] for e in caught_up["events"]] == ["Hello? Is anyone there?"]
        assert handed_back["staff"] is None
        await page.send({"type": "end"})
        await back.close()
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
    cookie = await asha_and_arjuns_cookie()
    async with FakeLiveServer() as live:
        (worker,) = await asyncio.to_thread(daphne_workers, 1, gemini_live_url=live.url)
        board = await StaffSocket.open(worker, "/ws/staff/live", cookie)
        opened = time.monotonic()
        # The socket's check, every RECHECK_S from its opening, closes it once Redis is back
        # (after its catch-up, below). Redis goes away just after the first check and comes
        # back at once, so that the page hears the new call well before the next (on a busy
        # machine opening the call can take a second or two).
        await asyncio.sleep(max(0.0, opened + RECHECK_S + 0.3 - time.monotonic()))
        await asyncio.to_thread(redis_server.restart, 0.5)
        await until_the_page_joined_again(redis_server, LIVE_CALLS_GROUP)
        page = await Page.open(worker)
        listed = await board.event("call")

        assert listed["call"]["call_id"] == page.call_id
        # What it missed while Redis was away it gets by coming back (the page repaints).
        assert await board.closed() == MISSED
        await page.send({"type": "end"})
        await board.close()
        await page.close()


async def test_a_hand_back_while_redis_is_down_is_said_not_to_reach_the_call_and_works_after(
    daphne_workers: Callable[..., list[DaphneServer]], redis_server: LocalRedis
) -> None:
    cookie = await asha_and_arjuns_cookie()
    async with FakeLiveServer() as live:
        (worker,) = await asyncio.to_thread(daphne_workers, 1, gemini_live_url=live.url)
        page, staff = await held_by_arjun(worker, cookie)

        async with redis_away(redis_server):
            await staff.send({"type": "hand_back", "note": "Refund agreed."})
            refused = await staff.event("error")
        assert await staff.closed() == MISSED  # to catch up: it comes back, still holding
        back = await StaffSocket.open(
            worker, f"/ws/staff/calls/{page.call_id}?holding=1", cookie
        )
        await back.event("state", held_from="this_page")
        await back.send({"type": "hand_back", "note": "Refund agreed."})
        await back.event("state", mode="agent")
        await page.send({"type": "end"})
        recorded = await staff_events_once_ended(page.call_id)

        assert refused["code"] == "not_live" and "could not be reached" in refused["message"]
        assert recorded == ["take_over", "hand_back"]
        assert [e for e in page.events if e["type"] == "agent_changed"] == [
            {"type": "agent_changed", "mode": "human", "name": "Arjun"},
            {"type": "agent_changed", "mode": "agent"},
        ]
        await back.close()
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
    cookie = await asha_and_arjuns_cookie()
    async with FakeLiveServer() as live:
        # A holding page speaks every second here: taken for gone after 3 s of silence.
        quick = {"STAFF_HOLD_GRACE_S": "1", "STAFF_HOLDING_EVERY_S": "1"}
        (worker,) = await asyncio.to_thread(
            daphne_workers, 1, gemini_live_url=live.url, env=quick
        )
        page, staff = await held_by_arjun(worker, cookie)
        await page.next_event("agent_changed")

        # Arjun closes his page while Redis is down: the call cannot hear that it closed.
        async with redis_away(redis_server):
            await staff.close()
            await asyncio.sleep(2)
        await page.wait_for(
            lambda: {"type": "agent_changed", "mode": "agent"} in page.events,
            "the call back with the agent", 30,
        )  # fmt: skip

        await page.send({"type": "end"})
        assert await staff_events_once_ended(page.call_id) == ["take_over", "hand_back"]
        await page.close()
