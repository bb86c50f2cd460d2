"""Callers over real sockets, for tests across real daphne workers.

`Page` behaves like the voice page: it keeps its call's resume token and, when it must, comes
back on another worker with it. `Line` is Twilio's side of a phone call: the signed webhook,
then a Media Stream, and when the stream ends without the call ending, the webhook again
(`<Connect action>`) and a new stream, as Twilio does. Both note when agent audio arrives, so
a test can measure the gap a move caused.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
import urllib.parse
import urllib.request
from typing import Any

from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from voiceproject.tests.live_server import DaphneServer

TWILIO_AUTH_TOKEN = "twilio-test-auth-token"
PUBLIC_BASE_URL = "https://voice.example.com"
PHONE_ENV = {"TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN, "PUBLIC_BASE_URL": PUBLIC_BASE_URL}
SILENCE_FRAME = base64.b64encode(b"\xff" * 160).decode()


class _Listener:
    """Reads one socket until it closes: events, agent audio arrival times, the close code."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.audio_at: list[float] = []
        self.audio: list[str | bytes] = []  # the audio messages themselves, as they came
        self.close_code: int | None = None
        self._changed = asyncio.Condition()

    async def read(self, ws: ClientConnection, is_audio: Any) -> None:
        try:
            async for message in ws:
                async with self._changed:
                    if is_audio(message):
                        self.audio_at.append(time.monotonic())
                        self.audio.append(message)
                    elif isinstance(message, str):
                        self.events.append(json.loads(message))
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        async with self._changed:
            self.close_code = ws.close_code if ws.close_code is not None else 1006
            self._changed.notify_all()

    async def wait_for(self, predicate: Any, what: str, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(predicate)
        except TimeoutError:
            raise AssertionError(f"no {what} within {timeout}s") from None

    def longest_gap(self, after: float) -> float:
        """The longest silence in the agent's audio since `after` (monotonic seconds)."""
        times = [after] + [t for t in self.audio_at if t > after]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


class Page(_Listener):
    """A browser page on the voice bridge, reconnecting as static/voice/call.js does."""

    def __init__(self) -> None:
        super().__init__()
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.call_id = ""
        self.resume_token = ""

    @classmethod
    async def open(cls, worker: DaphneServer, query: str = "user_id=101") -> Page:
        page = cls()
        await page._connect(worker, query)
        ready = await page.next_event("ready")
        page.call_id, page.resume_token = ready["call_id"], ready["resume_token"]
        return page

    async def _connect(self, worker: DaphneServer, query: str) -> None:
        # Leave the old socket first, as the page does: its reader must not report its close
        # (or its events) while this one is being opened, or a retry would abandon a socket
        # that was about to carry the call.
        await self.close()
        self.close_code = None
        self.ws = await connect(
            f"ws://127.0.0.1:{worker.port}/ws/voice?{query}",
            additional_headers={"Origin": worker.url},
        )
        self.reader = asyncio.create_task(self.read(self.ws, lambda m: isinstance(m, bytes)))

    async def resume(self, worker: DaphneServer, *, timeout: float = 15.0) -> dict[str, Any]:
        """Come back to the call on `worker` (retrying, as the page does); its `ready`."""
        seen = len(self.events)
        async with asyncio.timeout(timeout):
            while True:
                await self._connect(worker, f"resume={self.resume_token}")
                await self.wait_for(
                    lambda: self.close_code is not None
                    or any(e["type"] == "ready" for e in self.events[seen:]),
                    "ready or a close", timeout,
                )  # fmt: skip
                ready = next((e for e in self.events[seen:] if e["type"] == "ready"), None)
                if ready is not None:
                    self.resume_token = ready["resume_token"]
                    return ready
                await asyncio.sleep(0.3)

    async def next_event(self, kind: str, *, after: int = 0, timeout: float = 10.0) -> Any:
        await self.wait_for(
            lambda: any(e["type"] == kind for e in self.events[after:]), kind, timeout
        )
        return next(e for e in self.events[after:] if e["type"] == kind)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(message))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


class Line(_Listener):
    """Twilio's side of one phone call, following <Connect action> as Twilio does."""

    def __init__(self, call_sid: str, phone: str) -> None:
        super().__init__()
        self.call_sid = call_sid
        self.phone = phone
        self.stream_sid = ""
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.streams = 0
        self._sequence = itertools.count(1)
        self._talker: asyncio.Task[None] | None = None

    @classmethod
    async def dial(cls, worker: DaphneServer, call_sid: str, phone: str) -> Line:
        line = cls(call_sid, phone)
        await line.stream_from(worker)
        return line

    async def webhook(self, worker: DaphneServer) -> str:
        """Twilio's signed POST to /twilio/voice; the TwiML it answers."""
        form = {"CallSid": self.call_sid, "From": self.phone, "To": "+918000000000",
                "CallStatus": "in-progress"}  # fmt: skip
        signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(
            f"{PUBLIC_BASE_URL}/twilio/voice", form
        )
        request = urllib.request.Request(
            f"{worker.url}/twilio/voice", urllib.parse.urlencode(form).encode(),
            headers={"X-Twilio-Signature": signature},
        )  # fmt: skip

        def post() -> str:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return str(answer.read().decode())

        return await asyncio.to_thread(post)

    @classmethod
    async def answer(
        cls, worker: DaphneServer, call_sid: str, phone: str, parameters: dict[str, str]
    ) -> Line:
        """A customer answering a call we placed (a callback): the Media Stream Twilio opens
        from the TwiML given when the call was placed, with its <Parameter>s (token and all)."""
        line = cls(call_sid, phone)
        await line._stream(worker, parameters)
        return line

    async def stream_from(self, worker: DaphneServer) -> None:
        """The webhook, then the Media Stream its TwiML names, on `worker`."""
        twiml = await self.webhook(worker)
        token = twiml.split('name="token" value="')[1].split('"')[0]
        await self._stream(worker, {"token": token})

    async def _stream(self, worker: DaphneServer, parameters: dict[str, str]) -> None:
        stream_url = f"wss://{urllib.parse.urlsplit(PUBLIC_BASE_URL).netloc}/ws/twilio"
        signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(stream_url, {})
        self.close_code = None
        self.ws = await connect(
            f"ws://127.0.0.1:{worker.port}/ws/twilio",
            additional_headers={"X-Twilio-Signature": signature},
        )
        self.streams += 1
        self.stream_sid = f"MZ{self.streams:032d}"
        self.reader = asyncio.create_task(self.read(self.ws, _is_media))
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send({
            "event": "start", "sequenceNumber": str(next(self._sequence)),
            "streamSid": self.stream_sid,
            "start": {
                "accountSid": "AC" + "0" * 32, "streamSid": self.stream_sid,
                "callSid": self.call_sid, "tracks": ["inbound"],
                "customParameters": parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        })  # fmt: skip

    async def follow_when_the_stream_ends(self, worker: DaphneServer) -> None:
        """What Twilio does when the stream closes but the caller is still there: ask the
        webhook again (on `worker`, where the balancer would send it) and stream anew."""
        await self.wait_for(lambda: self.close_code is not None, "the stream's end", 30)
        await self.stream_from(worker)

    def heard(self, last: int) -> bytes:
        """The µ-law audio of the last `last` media messages the caller received."""
        return b"".join(base64.b64decode(json.loads(m)["media"]["payload"])
                        for m in self.audio[-last:])  # fmt: skip

    async def hang_up(self) -> None:
        await self._send({
            "event": "stop", "sequenceNumber": str(next(self._sequence)),
            "streamSid": self.stream_sid,
            "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid},
        })  # fmt: skip

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(message))


def _is_media(message: str | bytes) -> bool:
    return isinstance(message, str) and message.startswith('{"event":"media"')
