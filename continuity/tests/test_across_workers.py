"""Calls that survive their server: two real daphne workers and a real Redis.

A worker killed mid-call: the page comes back on the other, same call and record, the Live
API session resumed with the stored handle. A worker drained (SIGTERM) with web and phone
calls: every call moves to the other worker and none ends.
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

from continuity.tests.callers import PHONE_ENV, Line, Page
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import speech
from support import mongo
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)

StartWorkers = Callable[..., list[DaphneServer]]
MOVING_CALLS = {"VOICE_RESUME_GRACE_S": "30", "VOICE_DRAIN_NOTICE_S": "0",
                "VOICE_MAX_CALLS_PER_CUSTOMER": "50", "VOICE_IDLE_PROMPT_S": "600"}  # fmt: skip
AGENT_CHUNK = speech(0.02, 24_000)


async def record_of(call_id: str) -> dict[str, Any]:
    record = await mongo.async_db().calls.find_one({"call_id": call_id})
    assert record is not None
    return record


async def until(predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def talking_agent(session: FakeSession) -> None:
    """Every session: a resumable handle, then the agent's voice every 20 ms until closed."""
    await session.send_resumption_update(f"handle-{session.index}")
    while not session.closed:
        await session.send_audio(AGENT_CHUNK, chunk_ms=20)
        await asyncio.sleep(0.02)


async def test_a_page_whose_worker_is_killed_carries_on_with_the_other_worker(
    daphne_workers: StartWorkers,
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    async with FakeLiveServer() as live:

        @live.on_session
        async def agent(session: FakeSession) -> None:
            await session.send_resumption_update(f"handle-{session.index}")
            await session.wait_for_text(timeout=20)
            words = "First half." if session.index == 0 else "Second half."
            await session.send_transcript("agent", words, finished=True)
            await session.send_audio(AGENT_CHUNK, chunk_ms=20)
            await session.send_turn_complete()

        worker_a, worker_b = await asyncio.to_thread(
            daphne_workers, 2, gemini_live_url=live.url, env=MOVING_CALLS
        )
        page = await Page.open(worker_a)
        await page.send({"type": "text", "text": "Where is my order?"})
        await page.next_event("turn_complete")
        # What the record may lose in a crash is the last second or so: let it be written.
        await until(lambda: _has_handle(page.call_id, "handle-0"), "the handle stored")
        await until(lambda: _has_line(page.call_id, "First half."), "the first half stored")

        worker_a.send_signal(signal.SIGKILL)
        await page.wait_for(lambda: page.close_code is not None, "the socket's end", 10)
        lost_at = time.monotonic()
        seen = len(page.events)
        again = await page.resume(worker_b)
        await page.next_event("resumed", after=seen)
        back_after = time.monotonic() - lost_at
        await page.send({"type": "text", "text": "Are you still there?"})
        await page.next_event("turn_complete", after=seen)

        assert again["call_id"] == page.call_id
        resumed = live.sessions[1]
        assert resumed.resumed_handle == "handle-0" and resumed.resumed_from is live.sessions[0]
        assert len(live.sessions) == 2  # never a second session while the first was open
        assert resumed.texts == ["Are you still there?"]  # the model hears the caller again
        assert page.audio_at[-1] > lost_at  # and the caller hears the agent
        print(f"\nkilled worker: the page was back on its call after {back_after:.2f} s")
        assert back_after < 5
        await page.send({"type": "end"})
        await until(lambda: _ended(page.call_id), "the end of the call")
        await page.close()

    record = await record_of(page.call_id)
    assert await mongo.async_db().calls.count_documents({}) == 1
    assert record["end_reason"] == "caller_hung_up"
    agent_lines = [line["text"] for line in record["transcript"] if line["role"] == "agent"]
    assert agent_lines == ["First half.", "Second half."]


async def test_draining_a_worker_moves_its_web_and_phone_calls_and_ends_none(
    daphne_workers: StartWorkers,
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    await Customer.objects.acreate(user_id=102, name="Ravi Kumar", phone="+919800000102")
    async with FakeLiveServer() as live:
        live.on_session(talking_agent)
        worker_a, worker_b = await asyncio.to_thread(
            daphne_workers, 2, gemini_live_url=live.url, env={**MOVING_CALLS, **PHONE_ENV}
        )
        pages = [await Page.open(worker_a) for _ in range(10)]
        lines = [await Line.dial(worker_a, f"CA{n:032d}", "+919800000102") for n in range(2)]
        await asyncio.gather(*(
            call.wait_for(lambda call=call: len(call.audio_at) > 10, "agent audio", 10)
            for call in (*pages, *lines)
        ))  # fmt: skip
        call_ids = [page.call_id for page in pages]

        drained_at = time.monotonic()
        worker_a.send_signal(signal.SIGTERM)

        async def page_moves(page: Page) -> None:
            await page.next_event("reconnect", timeout=10)
            await page.resume(worker_b)

        await asyncio.gather(
            *(page_moves(page) for page in pages),
            *(line.follow_when_the_stream_ends(worker_b) for line in lines),
        )
        await asyncio.gather(*(
            call.wait_for(lambda call=call: call.audio_at[-1] > drained_at + 0.5,
                          "agent audio after the move", 15)
            for call in (*pages, *lines)
        ))  # fmt: skip
        await asyncio.to_thread(worker_a.wait_exited, 30)

        gaps = sorted(call.longest_gap(drained_at) for call in (*pages, *lines))
        print(f"\ndrain: audio gaps per call p50 {statistics.median(gaps):.2f} s, "
              f"max {gaps[-1]:.2f} s over {len(gaps)} calls")  # fmt: skip
        open_calls = await mongo.async_db().calls.count_documents({"ended_at": None})
        assert open_calls == 12  # none ended
        assert all(page.call_id == call_id for page, call_id in zip(pages, call_ids, strict=True))
        assert all(line.streams == 2 for line in lines)
        assert gaps[-1] < 10
        for page in pages:
            await page.send({"type": "end"})
        for line in lines:
            await line.hang_up()
        await until(lambda: _none_open(), "every call ended", 15)
        for page in pages:
            await page.close()


async def _has_handle(call_id: str, handle: str) -> bool:
    return (await record_of(call_id)).get("resume_handle") == handle


async def _has_line(call_id: str, text: str) -> bool:
    return any(line["text"] == text for line in (await record_of(call_id))["transcript"])


async def _ended(call_id: str) -> bool:
    return (await record_of(call_id)).get("ended_at") is not None


async def _none_open() -> bool:
    return await mongo.async_db().calls.count_documents({"ended_at": None}) == 0
