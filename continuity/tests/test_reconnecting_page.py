"""The voice page in Chromium, through HAProxy and two daphne workers: the worker carrying the
call is killed mid-call, the page says "Reconnecting…" and carries on, same call, captions
kept. Screenshots under test-artifacts/continuity/."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from realtime.tests.browser.conftest import FAKE_MICROPHONE_ARGS, collect_problems
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from support import mongo
from support.models import Customer
from voiceproject.tests.chromium import launched_chromium
from voiceproject.tests.live_server import BASE_DIR, WorkersCommand

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

ARTIFACTS = BASE_DIR / "test-artifacts" / "continuity"


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def until_state(page: Page, state: str, timeout: float = 20.0) -> None:
    await page.wait_for_function(
        f"() => window.voiceDebug.state === {state!r}", timeout=timeout * 1000
    )


async def test_the_page_reconnects_by_itself_when_its_worker_dies(
    workers_command: Callable[..., WorkersCommand], speech_wav: Path
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    async with FakeLiveServer() as live:

        @live.on_session
        async def agent(session: FakeSession) -> None:
            await session.send_resumption_update(f"handle-{session.index}")
            words = "Hello Asha, I'm looking at your order." if session.index == 0 else (
                "Sorry, the line dropped for a moment. Where were we?"
            )  # fmt: skip
            await session.send_transcript("agent", words, finished=True)
            await session.send_turn_complete()

        fleet = await asyncio.to_thread(
            workers_command, workers=2, gemini_live_url=live.url,
            env={"VOICE_RESUME_GRACE_S": "30", "VOICE_DRAIN_NOTICE_S": "0"},
        )  # fmt: skip
        async with launched_chromium(
            [*FAKE_MICROPHONE_ARGS, f"--use-file-for-fake-audio-capture={speech_wav}"]
        ) as browser:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 800}, permissions=["microphone"]
            )
            page = await context.new_page()
            problems: list[str] = []
            collect_problems(page, problems)
            await page.goto(fleet.url + "/")
            await page.get_by_role("button", name="Start call").click()
            await until_state(page, "listening")
            await expect(page.get_by_text("I'm looking at your order")).to_be_visible()
            call_id = await page.evaluate("window.voiceDebug.callId")
            await until(lambda: _stored_handle(call_id), "the handle stored")

            os.kill(await _carrying_pid(call_id), signal.SIGKILL)
            await until_state(page, "reconnecting")
            await expect(page.get_by_text("Reconnecting…").first).to_be_visible()
            await shot(page, "01-reconnecting")
            await until_state(page, "listening", timeout=30)
            await expect(page.get_by_text("the line dropped for a moment")).to_be_visible()
            await shot(page, "02-carried-on")

            assert await page.evaluate("window.voiceDebug.callId") == call_id
            assert await page.get_by_text("I'm looking at your order").is_visible()
            assert await page.evaluate("window.voiceDebug.reconnects") >= 1
            assert live.sessions[-1].resumed_handle is not None
            await page.get_by_role("button", name="End call").click()
            await until_state(page, "ended")
            # The dead worker's socket closing is the only complaint the browser may have.
            assert [p for p in problems if "WebSocket" not in p] == []
            await context.close()


async def until(predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def _stored_handle(call_id: str) -> bool:
    record = await mongo.async_db().calls.find_one({"call_id": call_id})
    return bool(record and record.get("resume_handle"))


async def _carrying_pid(call_id: str) -> int:
    record = await mongo.async_db().calls.find_one({"call_id": call_id})
    assert record is not None
    return int(str(record["worker"]).rsplit(":", 1)[1])
