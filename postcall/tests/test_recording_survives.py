"""A recording outlives the worker writing it: killed mid-call (SIGKILL, nothing flushed on
the way out), its recording still holds the call up to about the last second."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from postcall import store
from postcall.tests.test_after_the_call import decode, loudness
from realtime.tests.conftest import fake_live
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.voice_harness import speech
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer

__all__ = ["fake_live"]

pytestmark = pytest.mark.django_db(transaction=True)

FRAME = 1280  # the browser's 40 ms frames
SPOKEN_S = 3.0
# The recorder writes every half second what is 0.2 s old, in Ogg pages of up to 200 ms, with
# the process's other recordings within 0.1 s: a crash loses at most a second, and a loaded
# machine's server runs a little behind the sender.
MAY_LOSE_S = 1.25


def recording_bytes(call_id: str) -> bytes:
    grid = store.open_recording(call_id)
    assert grid is not None, "no recording"
    return grid.read()


async def test_a_worker_killed_mid_call_keeps_its_recording_up_to_the_last_second(
    fake_live: FakeLiveServer, transactional_db: Any
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    server = DaphneServer(gemini_live_url=fake_live.url, env={"RECORD_CALLS": "True"})
    await asyncio.to_thread(server.start)
    try:
        async with connect(f"ws://127.0.0.1:{server.port}/ws/voice?user_id=101",
                           additional_headers={"Origin": server.url}) as ws:  # fmt: skip
            while (event := json.loads(await ws.recv()))["type"] != "ready":
                pass
            voice = speech(SPOKEN_S, 16_000)
            for start in range(0, len(voice), FRAME):  # in real time, as a microphone would
                await ws.send(voice[start : start + FRAME])
                await asyncio.sleep(0.04)
            server.send_signal(signal.SIGKILL)
            await asyncio.to_thread(server.wait_exited, 10)
    finally:
        await asyncio.to_thread(server.stop)

    decoded = decode(await sync_to_async(recording_bytes)(event["call_id"]))

    kept_s = decoded.shape[1] / 48_000
    assert SPOKEN_S - MAY_LOSE_S <= kept_s <= SPOKEN_S + 0.5
    assert loudness(decoded[0], 0.2, kept_s - 0.2) > 10 * loudness(decoded[1], 0.2, kept_s - 0.2)
