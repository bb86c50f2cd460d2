"""A bounded fuzz of the bridge: random and hostile frames at both WebSocket routes, and a
hostile Live API behind them, while a bystander call goes on.

Asserts that the bystander's audio keeps flowing, every call record closes, none was ended by
a failing task, the fake has no session left open once the calls end, and no task died
unobserved in the event loop.
Seconds in CI; `FUZZ_FRAMES=26000 FUZZ_SEED=...` for a long run (about two minutes; add
`--timeout 0`). A failure prints its seed.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
from typing import Any

import pytest
from django.test import override_settings

from realtime.tests import hostile_frames
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.phone_harness import AUTH_TOKEN, PUBLIC, Phone
from realtime.tests.voice_harness import BrowserCall, speech
from support import mongo
from support.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

FRAMES = int(os.environ.get("FUZZ_FRAMES", "400"))
SEED = int(os.environ.get("FUZZ_SEED", "20261202"))
AGENT_CHUNK = speech(0.02, 24_000)


async def send_frame(communicator: Any, frame: hostile_frames.Frame) -> None:
    if not frame:
        return  # the test communicator cannot send an empty frame
    if isinstance(frame, bytes):
        await communicator.send_to(bytes_data=frame)
    else:
        await communicator.send_to(text_data=frame)


async def bystander_agent(session: FakeSession) -> None:
    """Session 0: an ordinary call, the agent talking all the time."""
    while not session.closed:
        await session.send_audio(AGENT_CHUNK, chunk_ms=20)
        await asyncio.sleep(0.02)


async def hostile_agent(session: FakeSession, rng: random.Random, count: list[int]) -> None:
    while not session.closed:
        await session.send_raw(hostile_frames.live_frame(rng))
        count[0] += 1
        await asyncio.sleep(rng.choice([0, 0.001, 0.005]))


async def fuzz(frames: int, seed: int, live: FakeLiveServer) -> int:
    """Answers how many hostile frames the Live API side sent."""
    rng = random.Random(seed)
    upstream_frames = [0]

    async def script(session: FakeSession) -> None:
        if session.index == 0:
            await bystander_agent(session)
        else:
            await hostile_agent(session, random.Random(seed + session.index), upstream_frames)

    live.on_session(script)
    bystander = await BrowserCall.open()
    await bystander.next_event("ready")
    heard: list[float] = []  # when each agent chunk reached the bystander

    async def listen() -> None:
        while True:
            before = len(bystander.agent_audio)
            if await bystander._receive(5) is None:
                return
            if len(bystander.agent_audio) > before:
                heard.append(time.monotonic())

    listener = asyncio.create_task(listen())
    call_ids: list[str] = []
    per_call = 40
    sent = 0
    while sent < frames:
        if rng.random() < 0.75:
            call = await BrowserCall.open()
            ready = await call.next_event("ready")
            call_ids.append(ready["call_id"])
            for _ in range(per_call):
                await send_frame(call.communicator, hostile_frames.browser_frame(rng))
            await asyncio.sleep(0.05)  # the hostile Live API's turn
            await call.leave()
        else:
            phone = await Phone.dial("+919800000101", call_sid=f"CA{rng.getrandbits(64):032x}")
            for _ in range(per_call):
                frame = hostile_frames.twilio_frame(rng, phone.stream_sid)
                await send_frame(phone.communicator, frame)
            await phone.hang_up()
            await phone.wait_closed(timeout=10)
            await phone.leave()
        sent += per_call
    # The bystander heard the agent right up to now, with no long silence.
    assert heard and time.monotonic() - heard[-1] < 1.0
    gaps = [b - a for a, b in zip(heard, heard[1:], strict=False)]
    assert max(gaps, default=0) < 2.0, f"the bystander's audio stopped for {max(gaps):.1f}s"
    await bystander.leave()
    listener.cancel()
    await asyncio.gather(listener, return_exceptions=True)
    try:
        async with asyncio.timeout(15):
            while await mongo.async_db().calls.count_documents({"ended_at": None}):
                await asyncio.sleep(0.1)
    except TimeoutError:
        still_open = await mongo.async_db().calls.find({"ended_at": None}).to_list()
        raise AssertionError(f"call records left open: {still_open}") from None
    # A call ends "server_error" when one of its tasks raised: a bug, whatever came in.
    failed = await mongo.async_db().calls.distinct("call_id", {"end_reason": "server_error"})
    assert not failed, f"calls ended by a failing task: {failed}"
    for session in live.sessions:
        await session.wait_closed(timeout=10)
    return upstream_frames[0]


@pytest.fixture
def many_calls(settings: Any) -> None:
    settings.VOICE_MAX_CALLS_PER_CUSTOMER = 1000


async def test_fuzzed_frames_from_callers_twilio_and_the_live_api_break_nothing(
    asha: Customer, live: FakeLiveServer, many_calls: None
) -> None:
    # A task that died with nobody awaiting it is reported to the loop's handler (when it is
    # collected): a tool's task that died answering the model had recorded nothing.
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    with override_settings(TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_BASE_URL=PUBLIC):
        try:
            upstream = await fuzz(FRAMES, SEED, live)
            gc.collect()
        except BaseException:
            print(f"fuzz failed with FUZZ_SEED={SEED} FUZZ_FRAMES={FRAMES}")
            raise
        finally:
            loop.set_exception_handler(previous)
    assert upstream > FRAMES / 10  # the Live API side was hostile too
    assert not unhandled, f"unhandled in the event loop (FUZZ_SEED={SEED}): {unhandled[:3]}"
