"""A staff member on one worker takes over a call carried by another: two real daphne workers
and a real Redis between them (the call's messages and audio cross the channel layer). The
staff page's worker killed while it holds the call: the page comes back on the other and
talks on."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from continuity.tests.callers import Page
from livestaff.tests.sockets import StaffSocket
from livestaff.tests.test_staff_on_a_call import LEAD_GROUP, _staff_cookie
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.voice_harness import speech
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer
from voiceproject.tests.signals import tone_pcm

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_lead_on_one_worker_takes_over_a_call_on_the_other(
    daphne_workers: Callable[..., list[DaphneServer]],
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    cookie = await sync_to_async(_staff_cookie)("arjun", LEAD_GROUP, "Arjun")
    async with FakeLiveServer() as live:
        worker_a, worker_b = await asyncio.to_thread(daphne_workers, 2, gemini_live_url=live.url)
        page = await Page.open(worker_a)
        staff = await connect(
            f"ws://127.0.0.1:{worker_b.port}/ws/staff/calls/{page.call_id}",
            additional_headers={"Origin": worker_b.url, "Cookie": f"sessionid={cookie}"},
        )
        events: list[dict[str, Any]] = []
        customer_audio = bytearray()

        async def read_staff() -> None:
            async for message in staff:
                if isinstance(message, bytes):
                    if message[:1] == b"C":
                        customer_audio.extend(message[1:])
                else:
                    events.append(json.loads(message))

        reader = asyncio.create_task(read_staff())

        async def staff_event(kind: str, **fields: Any) -> dict[str, Any]:
            async with asyncio.timeout(10):
                while True:
                    for event in events:
                        if event["type"] == kind and all(event.get(k) == v
                                                          for k, v in fields.items()):  # fmt: skip
                            return event
                    await asyncio.sleep(0.02)

        await staff_event("state", mode="agent")
        await staff.send(json.dumps({"type": "take_over"}))
        await staff.send(json.dumps({"type": "listen"}))
        await staff_event("state", mode="human", staff="arjun", listeners=["arjun"])
        changed = await page.next_event("agent_changed")
        heard_before = len(page.audio_at)
        voice = tone_pcm(440, 1.0, 16_000)
        for start in range(0, len(voice), 640):
            await staff.send(voice[start : start + 640])
            await asyncio.sleep(0.02)
        await page.send({"type": "text", "text": "Hello?"})
        assert page.ws is not None
        customer_voice = speech(0.5, 16_000, seed=7)
        for start in range(0, len(customer_voice), 1280):
            await page.ws.send(customer_voice[start : start + 1280])
        async with asyncio.timeout(10):
            while len(customer_audio) < len(customer_voice):
                await asyncio.sleep(0.05)

        assert changed == {"type": "agent_changed", "mode": "human", "name": "Arjun"}
        assert len(page.audio_at) - heard_before >= 20  # the staff member's voice, in frames
        assert bytes(customer_audio[: len(customer_voice)]) == customer_voice
        assert live.session.audio_seconds < 0.2  # the model heard nothing during the take-over
        assert live.session.texts == []  # nor the typed message
        await page.send({"type": "end"})
        await staff.close()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await page.close()


async def test_a_lead_whose_worker_is_killed_while_holding_a_call_talks_on_from_the_other(
    daphne_workers: Callable[..., list[DaphneServer]],
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    cookie = await sync_to_async(_staff_cookie)("arjun", LEAD_GROUP, "Arjun")
    async with FakeLiveServer() as live:
        carrier, staff_worker = await asyncio.to_thread(
            daphne_workers, 2, gemini_live_url=live.url
        )
        page = await Page.open(carrier)
        staff = await StaffSocket.open(staff_worker, f"/ws/staff/calls/{page.call_id}", cookie)
        await staff.event("state", mode="agent")
        await staff.send({"type": "take_over"})
        await staff.event("state", mode="human", staff="arjun", held_from="this_page")

        # The staff page's worker dies: its socket never says it closed. The page comes
        # back through the balancer, to the other worker, saying it held the call from here.
        staff_worker.send_signal(signal.SIGKILL)
        await staff.closed()
        path = f"/ws/staff/calls/{page.call_id}?holding=1"
        back = await StaffSocket.open(carrier, path, cookie)
        state = await back.event("state")
        heard_before = len(page.audio_at)
        voice = tone_pcm(440, 1.0, 16_000)
        for start in range(0, len(voice), 640):
            await back.ws.send(voice[start : start + 640])
            await asyncio.sleep(0.02)
        await page.wait_for(lambda: len(page.audio_at) - heard_before >= 20, "Arjun's voice", 10)

        assert (state["mode"], state["staff"], state["held_from"]) == ("human", "arjun",
                                                                       "this_page")  # fmt: skip
        await page.send({"type": "end"})
        await back.close()
        await page.close()
