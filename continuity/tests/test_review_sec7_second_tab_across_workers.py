"""One call's resume token presented on another worker, as a second tab (or someone who
copied it) would: contract section 7 across two real daphne workers and a real Redis.

From another origin it opens nothing and the call goes on untouched (section 3's 4403). From
the page's own origin it re-attaches there: the same call and record, `ready {call_id,
resume_token}` then `resumed`, the Live API session resumed with the stored handle once the
first worker's was closed, and the older socket closed with 4409. A socket that drops is
waited for (VOICE_RESUME_GRACE_S) and comes back on whichever worker it reaches, the one the
call left included. Once the call has ended, its tokens are refused with 4410 and `ended
{reason: "call_over"}`, on either worker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from continuity.tests.callers import Page
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import wait_until_ended
from support import mongo
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)

StartWorkers = Callable[..., list[DaphneServer]]
GRACE_S = 3.0
ENV = {"VOICE_RESUME_GRACE_S": str(GRACE_S), "VOICE_IDLE_PROMPT_S": "600"}


async def refused(worker: DaphneServer, query: str, origin: str) -> tuple[list[Any], int | None]:
    """The events and close code a socket to `/ws/voice?{query}` from `origin` is given."""
    events: list[Any] = []
    async with connect(
        f"ws://127.0.0.1:{worker.port}/ws/voice?{query}", additional_headers={"Origin": origin}
    ) as ws:
        try:
            async with asyncio.timeout(10):
                async for message in ws:
                    events.append(json.loads(message))
        except ConnectionClosed:
            pass
    return events, ws.close_code


async def stored(call_id: str) -> dict[str, Any]:
    return await mongo.async_db().calls.find_one({"call_id": call_id}) or {}


async def test_a_second_tab_on_another_worker_takes_the_call_over_and_only_its_origin_may(
    daphne_workers: StartWorkers,
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    async with FakeLiveServer() as live:

        @live.on_session
        async def agent(session: FakeSession) -> None:
            await session.send_resumption_update(f"handle-{session.index}")
            while not session.closed:
                text = await session.wait_for_text(timeout=30)
                await session.send_transcript("agent", f"You said: {text}", finished=True)
                await session.send_turn_complete()

        worker_a, worker_b = await asyncio.to_thread(
            daphne_workers, 2, gemini_live_url=live.url, env=ENV
        )
        first_tab = await Page.open(worker_a)
        first_token = first_tab.resume_token
        async with asyncio.timeout(10):
            while (await stored(first_tab.call_id)).get("resume_handle") != "handle-0":
                await asyncio.sleep(0.05)

        # Another site holding the token: refused before anything of the call is touched.
        events, code = await refused(worker_b, f"resume={first_token}", "https://evil.example")
        assert (events, code) == ([{"type": "ended", "reason": "origin_refused"}], 4403)
        seen = len(first_tab.events)
        await first_tab.send({"type": "text", "text": "still me"})
        await first_tab.next_event("turn_complete", after=seen)
        assert len(live.sessions) == 1 and first_tab.close_code is None

        # The page's own origin: the second tab carries the call on the other worker.
        second_tab = Page()
        second_tab.resume_token = first_token
        ready = await second_tab.resume(worker_b)
        assert set(ready) == {"type", "call_id", "resume_token"}
        assert ready["call_id"] == first_tab.call_id and ready["resume_token"]
        kinds = [event["type"] for event in second_tab.events]
        assert kinds[:2] == ["ready", "resumed"], kinds
        await first_tab.wait_for(lambda: first_tab.close_code is not None, "4409", 10)
        assert first_tab.close_code == 4409
        resumed = await live.wait_for_session(1)
        # (The fake refuses a resumption while the handle's session is still open.)
        assert resumed.resumed_handle == "handle-0"
        assert resumed.resumed_from is live.sessions[0]
        seen = len(second_tab.events)
        await second_tab.send({"type": "text", "text": "from the second tab"})
        await second_tab.next_event("turn_complete", after=seen)

        # Its socket drops without `end`: the call waits for it, and it comes back on the
        # first worker, which carried the call before; the grace period it had left on the
        # second ends nothing.
        await second_tab.close()
        await asyncio.sleep(GRACE_S / 2)
        assert (await stored(first_tab.call_id)).get("ended_at") is None
        back = await second_tab.resume(worker_a)
        assert back["call_id"] == first_tab.call_id
        await asyncio.sleep(GRACE_S)
        seen = len(second_tab.events)
        await second_tab.send({"type": "text", "text": "back again"})
        await second_tab.next_event("turn_complete", after=seen)
        assert (await stored(first_tab.call_id)).get("ended_at") is None
        await second_tab.send({"type": "end"})
        record = await wait_until_ended(first_tab.call_id, timeout=10)

        # Over: the first tab's token, and the second's, are refused on either worker.
        for worker, token in ((worker_a, first_token), (worker_b, second_tab.resume_token)):
            events, code = await refused(worker, f"resume={token}", worker.url)
            assert (events, code) == ([{"type": "ended", "reason": "call_over"}], 4410)
        await second_tab.close()
        await first_tab.close()

    assert await mongo.async_db().calls.count_documents({}) == 1
    assert record["end_reason"] == "caller_hung_up"
    said = [line["text"] for line in record["transcript"] if line["role"] == "user"]
    assert said == ["still me", "from the second tab", "back again"]
    assert len(live.sessions) == 3
