"""A browser caller for the bridge tests: a WebsocketCommunicator on the real ASGI app that
reads like a person on a call (send audio, wait for an event, collect the agent's audio)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from channels.testing import WebsocketCommunicator

from realtime.tests.fake_live import FakeLiveServer
from support import mongo
from support.tools import ToolContext, registry
from voiceproject.asgi import application

SAME_ORIGIN = [(b"origin", b"http://testserver")]


async def closed_with(communicator: WebsocketCommunicator) -> int:
    """The close code the server sent, skipping whatever came before it."""
    message = await communicator.receive_output(timeout=3)
    while message["type"] != "websocket.close":
        message = await communicator.receive_output(timeout=3)
    return int(message.get("code", 1000))


class BrowserCall:
    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.events: list[dict[str, Any]] = []
        self.event_bytes: dict[str, int] = {}  # what the events of each type cost the socket
        self.agent_audio = bytearray()
        self.close_code: int | None = None

    @classmethod
    async def open(cls, query: str = "user_id=101") -> BrowserCall:
        communicator = WebsocketCommunicator(
            application, f"/ws/voice?{query}", headers=SAME_ORIGIN
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected, "the bridge refused the connection"
        return cls(communicator)

    async def _receive(self, timeout: float) -> dict[str, Any] | None:
        """The next output: collects audio, returns JSON events; None once closed."""
        message = await self.communicator.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", 1000)
            return None
        if message.get("bytes") is not None:
            self.agent_audio.extend(message["bytes"])
            return {"type": "_audio"}
        event: dict[str, Any] = json.loads(message["text"])
        self.events.append(event)
        kind = event["type"]
        self.event_bytes[kind] = self.event_bytes.get(kind, 0) + len(message["text"].encode())
        return event

    async def next_event(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next event of this type (others are kept in `events`)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self._receive(timeout)
                if event is None:
                    raise AssertionError(f"the call closed ({self.close_code}) before {kind!r}")
                if event["type"] == kind:
                    return event

    async def wait_for_audio(self, nbytes: int, timeout: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout):
            while len(self.agent_audio) < nbytes:
                if await self._receive(timeout) is None:
                    raise AssertionError("the call closed before the agent's audio arrived")
        return bytes(self.agent_audio)

    async def wait_closed(self, timeout: float = 5.0) -> int:
        async with asyncio.timeout(timeout):
            while await self._receive(timeout) is not None:
                pass
        assert self.close_code is not None
        return self.close_code

    async def say(self, pcm16k: bytes, frame_bytes: int = 1280) -> None:
        """Send microphone audio in 40 ms frames."""
        for start in range(0, len(pcm16k), frame_bytes):
            await self.communicator.send_to(bytes_data=pcm16k[start : start + frame_bytes])

    async def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        await self.communicator.send_to(text_data=text)

    async def leave(self) -> None:
        await self.communicator.disconnect(timeout=5)


async def keep_dropping(
    page: BrowserCall, ready: dict[str, Any], *, away_s: float, between_s: float
) -> BrowserCall:
    """The caller, silent, loses her line for `away_s` every `between_s` or so and comes back
    with the call's resume token, until the call ends; answers the page she is on last."""
    call_id = str(ready["call_id"])
    while not (await call_record(call_id)).get("ended_at"):
        with contextlib.suppress(TimeoutError, AssertionError):
            await page.next_event("ended", timeout=between_s)
            break
        await page.leave()
        await asyncio.sleep(away_s)
        page = await BrowserCall.open(f"resume={ready['resume_token']}")
        with contextlib.suppress(AssertionError):  # it ended meanwhile: refused
            ready = await page.next_event("ready")
    return page


def speech(seconds: float, rate: int, seed: int = 1) -> bytes:
    """Noise shaped like speech levels: what matters here is that every byte survives."""
    samples = np.random.default_rng(seed).normal(0, 3000, int(seconds * rate))
    return samples.clip(-32768, 32767).astype("<i2").tobytes()


async def call_record(call_id: str) -> dict[str, Any]:
    record = await mongo.async_db().calls.find_one({"call_id": call_id})
    assert record is not None
    return record


async def no_session_left_open(live: FakeLiveServer) -> None:
    """Every connection the bridge opened to the fake Live API is closed (or closes soon)."""
    for session in live.sessions:
        await session.wait_closed(timeout=5)


async def wait_until_ended(call_id: str, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            record = await call_record(call_id)
            if record.get("ended_at"):
                return record
            await asyncio.sleep(0.05)


async def handed_to_a_person(call_id: str, ticket_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """The call of a model that stayed silent, nudged and resumed in vain, once ended: given up
    on (`agent_unavailable`), its stalls recorded, and ticket `ticket_id` saying it stalled.
    Its record."""
    record = await wait_until_ended(call_id, timeout)
    assert record["end_reason"] == "agent_unavailable"
    assert [stall["action"] for stall in record["stalls"]] == ["resumed", "gave_up"]
    ticket = await mongo.async_db().escalations.find_one({"ticket_id": ticket_id})
    assert ticket is not None and "stalled" in ticket["reason"]
    return record


class HeldTool:
    """The tool `name`, made to wait once started until the test lets it answer `answer`:
    for what happens to a call while one of its tools is still running."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str, answer: dict[str, Any]) -> None:
        self.started, self.released = asyncio.Event(), asyncio.Event()

        async def run(ctx: ToolContext, **args: str) -> dict[str, Any]:
            self.started.set()
            await self.released.wait()
            return answer

        monkeypatch.setitem(registry.TOOLS, name, replace(registry.TOOLS[name], run=run))
