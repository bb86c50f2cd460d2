"""A call's limits across two real daphne workers and a real Redis: a page that comes back on
the other worker (which asks the first, over the channel layer, to let the call go) gets no
fresh allowance of typed messages or audio there (hardening issue item 7)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from continuity.tests.callers import Page
from realtime.call_session import AUDIO_BURST_S
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.voice_harness import speech
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)

StartWorkers = Callable[..., list[DaphneServer]]
MOVING_CALLS = {"VOICE_RESUME_GRACE_S": "30", "VOICE_IDLE_PROMPT_S": "600"}
FRAME = 1_280  # 40 ms of 16 kHz PCM16


async def burst(page: Page) -> None:
    """Five typed messages (the whole burst) and four seconds of audio (twice the
    allowance), as fast as the socket takes them."""
    assert page.ws is not None
    for n in range(5):
        await page.send({"type": "text", "text": f"message {n}"})
    audio = speech(4.0, 16_000)
    for start in range(0, len(audio), FRAME):
        await page.ws.send(audio[start : start + FRAME])


async def test_a_call_moved_to_another_worker_gets_no_fresh_allowances_there(
    daphne_workers: StartWorkers,
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    async with FakeLiveServer() as live:
        worker_a, worker_b = await asyncio.to_thread(
            daphne_workers, 2, gemini_live_url=live.url, env=MOVING_CALLS
        )
        began = time.monotonic()  # before the call: its real time can only be shorter
        page = await Page.open(worker_a)
        await burst(page)
        first = await live.wait_for_session()
        await first.wait_for(lambda: len(first.texts) == 5, "the typed burst", timeout=10)
        await first.wait_for_audio(seconds=AUDIO_BURST_S, timeout=10)

        seen = len(page.events)
        await page.resume(worker_b)  # worker A lets the call go; B takes it up
        await burst(page)
        await page.next_event("error", after=seen)
        await asyncio.sleep(0.5)

        second = live.sessions[1]
        elapsed = time.monotonic() - began
        assert second.closed is False and first.closed  # the call is on worker B now
        assert {e["code"] for e in page.events[seen:] if e["type"] == "error"} == {"rate_limited"}
        assert len(first.texts) + len(second.texts) <= 5 + int(elapsed)  # one a second after
        assert first.audio_seconds + second.audio_seconds <= AUDIO_BURST_S + elapsed
        await page.send({"type": "end"})
        await page.close()
