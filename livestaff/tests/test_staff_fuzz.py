"""A bounded fuzz of staff on a live call: two leads' pages throw actions, hostile frames and
odd audio at one call at once (take over, hand back, whisper, listen, all racing).

Asserts that the customer's call survives it: one holder at a time as the call tells the pages,
the agent back and heard once it is handed back, the call ending as staff end it, its record
closed with what staff did, neither page failed, and nothing died unobserved in the event
loop. The pages' own rate limits hold, as they would for a script: most actions are refused
as `rate_limited`, and what gets through comes in bursts. Seconds in CI;
`STAFF_FUZZ_FRAMES=5000 STAFF_FUZZ_SEED=...` for a long run (a frame every 10 ms). A failure
prints its seed.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
from typing import Any

import pytest

from livestaff.tests.test_staff_on_a_call import LEAD_GROUP, StaffPage, a_call
from realtime.tests import hostile_frames
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import speech, wait_until_ended
from support.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

FRAMES = int(os.environ.get("STAFF_FUZZ_FRAMES", "300"))
SEED = int(os.environ.get("STAFF_FUZZ_SEED", "20261206"))
AGENT_CHUNK = speech(0.02, 24_000)


def staff_frame(rng: random.Random) -> str | bytes:
    """What a buggy or hostile staff page might send on /ws/staff/calls/<call_id>."""
    kind = rng.random()
    if kind < 0.45:  # the actions themselves, with any text (take_over twice: pages race for it)
        action: dict[str, Any] = {"type": rng.choice(
            ["take_over", "hand_back", "whisper", "listen", "unlisten", "take_over"]
        )}  # fmt: skip
        for field in ("text", "note"):
            if rng.random() < 0.5:
                action[field] = hostile_frames.nasty(rng)
        return json.dumps(action, ensure_ascii=True, allow_nan=True)
    if kind < 0.75:  # a microphone's frames, whole or not, and far too long
        return rng.randbytes(rng.choice([0, 1, 3, 640, 641, 1280, 65_537]))
    return hostile_frames.browser_frame(rng)


async def fuzz(frames: int, seed: int, live: FakeLiveServer) -> None:
    rng = random.Random(seed)

    @live.on_session
    async def talking(session: FakeSession) -> None:  # the agent talks the whole time
        while not session.closed:
            await session.send_audio(AGENT_CHUNK, chunk_ms=20)
            await asyncio.sleep(0.02)

    call, call_id = await a_call(live)
    pages = [
        await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun"),
        await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya"),
    ]
    for page in pages:
        await page.next_event("state")

    async def read(page: StaffPage) -> None:
        while await page._receive(5) is not None:
            pass

    readers = [asyncio.create_task(read(page)) for page in pages]
    for _ in range(frames):
        frame = staff_frame(rng)
        page = pages[rng.randrange(len(pages))]
        if not frame:
            pass  # the test communicator cannot send an empty frame
        elif isinstance(frame, bytes):
            await page.communicator.send_to(bytes_data=frame)
        else:
            await page.communicator.send_to(text_data=frame)
        await asyncio.sleep(0.01)  # a script, not a person: the pages' rate limits hold it

    def states_seen() -> list[int]:
        return [sum(e["type"] == "state" for e in page.events) for page in pages]

    async with asyncio.timeout(20):  # until the call has told the pages all it will
        seen: list[int] = []
        while seen != (seen := states_seen()):
            await asyncio.sleep(1.0)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)

    for page in pages:
        assert page.close_code is None, f"{page.username}'s page closed ({page.close_code})"
    # The call tells every page the same, latest, state: at most one holder.
    states = [[e for e in page.events if e["type"] == "state"][-1] for page in pages]
    assert states[0]["staff"] == states[1]["staff"]
    holder = next((p for p in pages if p.username == states[0]["staff"]), None)
    if holder is not None:  # whoever holds it hands it back, and the agent is heard again
        await holder.send({"type": "hand_back", "note": "Back to you."})
        await holder.next_event("state", mode="agent")
    heard = len(call.agent_audio)
    await call.wait_for_audio(heard + 9_600, timeout=10)

    await pages[0].send({"type": "end_call", "reason": "fuzzed"})
    record = await wait_until_ended(call_id)
    assert record["end_reason"] == "ended_by_staff"
    assert {e["kind"] for e in record["staff_events"]} >= {"take_over", "end_call"}
    for page in pages:
        await page.leave()
    for session in live.sessions:
        await session.wait_closed(timeout=10)


async def test_fuzzed_staff_pages_on_one_call_break_nothing(
    asha: Customer, live: FakeLiveServer
) -> None:
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    try:
        await fuzz(FRAMES, SEED, live)
        gc.collect()
    except BaseException:
        print(f"staff fuzz failed with STAFF_FUZZ_SEED={SEED} STAFF_FUZZ_FRAMES={FRAMES}")
        raise
    finally:
        loop.set_exception_handler(previous)
    assert not unhandled, f"unhandled (STAFF_FUZZ_SEED={SEED}): {unhandled[:3]}"
