"""A token is spent for the whole deployment, not for the process that saw it (contract sections
2 and 7): two real daphne workers, then a third started after the first was killed.

A session token that opened a call on one worker opens nothing on another, nor on a worker
started afterwards; and once the call has ended, its resume token brings nobody back to it,
anywhere. What says so is the database (`used_tokens`, the call's record), which every process
shares and no restart forgets.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import pytest

from continuity.tests.callers import Page
from realtime import tokens
from realtime.tests.fake_live import FakeLiveServer
from support import mongo
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)

StartWorkers = Callable[..., list[DaphneServer]]
NO_DEMO = {"VOICE_DEMO_MODE": "False"}


async def refused(worker: DaphneServer, query: str) -> tuple[int | None, list[str]]:
    """How `worker` closes a page that opens `/ws/voice?query`: the close code, and the
    reasons of the `ended` events it was sent before."""
    page = Page()
    await page._connect(worker, query)
    await page.wait_for(lambda: page.close_code is not None, "the socket's close", 15)
    await page.close()
    assert not [e for e in page.events if e["type"] == "ready"], "a call opened"
    return page.close_code, [e["reason"] for e in page.events if e["type"] == "ended"]


async def ended(call_id: str) -> None:
    over = {"call_id": call_id, "ended_at": {"$ne": None}}
    async with asyncio.timeout(10):
        while not await mongo.async_db().calls.find_one(over):
            await asyncio.sleep(0.05)


async def test_a_spent_token_opens_nothing_on_another_worker_nor_after_a_restart(
    daphne_workers: StartWorkers,
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    token = tokens.mint(101)
    async with FakeLiveServer() as live:
        worker_a, worker_b = await asyncio.to_thread(
            daphne_workers, 2, gemini_live_url=live.url, env=NO_DEMO
        )
        page = await Page.open(worker_a, f"token={token}")

        on_the_other = await refused(worker_b, f"token={token}")
        await page.send({"type": "end"})
        await ended(page.call_id)
        await page.close()
        worker_a.send_signal(signal.SIGKILL)
        [worker_c] = await asyncio.to_thread(
            daphne_workers, 1, gemini_live_url=live.url, env=NO_DEMO
        )
        after_a_restart = await refused(worker_c, f"token={token}")
        resumed_after_the_end = await refused(worker_c, f"resume={page.resume_token}")

    assert on_the_other == (4401, ["token_used"])
    assert after_a_restart == (4401, ["token_used"])
    assert resumed_after_the_end == (4410, ["call_over"])
    assert await mongo.async_db().calls.count_documents({}) == 1
