"""Twilio's end of a phone call, for tests: the signed webhook, then a Media Stream in
Twilio's own message format, paced like a real phone line."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

from channels.testing import WebsocketCommunicator
from django.test import AsyncClient
from twilio.request_validator import RequestValidator

from voiceproject.asgi import application

AUTH_TOKEN = "twilio-test-auth-token"
PUBLIC = "https://voice.example.com"
STREAM_URL = "wss://voice.example.com/ws/twilio"
FRAME = 160  # 20 ms of 8 kHz µ-law


async def webhook(phone_number: str, call_sid: str, **extra: str) -> str:
    """POST Twilio's signed "a call comes in" webhook; answers the TwiML."""
    form = {"CallSid": call_sid, "From": phone_number, "To": "+918000000000", **extra}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC}/twilio/voice", form)
    response = await AsyncClient().post(
        "/twilio/voice", form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 200, response.content
    return str(response.content.decode())


def token_of(twiml: str) -> str:
    """The signed `token` parameter of the TwiML's stream."""
    return twiml.split('name="token" value="')[1].split('"')[0]


def said_then_hung_up(twiml: str) -> str:
    """What Twilio is told to say before hanging up ("" for nothing); fails on other TwiML."""
    root = ElementTree.fromstring(twiml)
    assert [child.tag for child in root] in (["Say", "Hangup"], ["Hangup"]), twiml
    return "".join(child.text or "" for child in root if child.tag == "Say")


class Phone:
    """Twilio's end of one Media Stream: sends what Twilio sends, records what comes back."""

    def __init__(self, communicator: WebsocketCommunicator, call_sid: str, stream_sid: str) -> None:
        self.communicator = communicator
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.received: list[dict[str, Any]] = []  # JSON messages from the server, in order
        self.close_code: int | None = None
        self._sequence = itertools.count(1)
        self._chunk = itertools.count(1)
        # Twilio's media timestamps count from the stream's start, through pauses (it sends
        # all the time): a frame is stamped with when it is sent, to the 20 ms.
        self._began = time.monotonic()
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def dial(cls, phone_number: str, call_sid: str = "CA" + "1" * 32) -> Phone:
        """Place a call as Twilio does: the signed webhook, then the signed stream upgrade."""
        twiml = await webhook(phone_number, call_sid)
        assert f'url="{STREAM_URL}"' in twiml
        return await cls.stream(call_sid, token_of(twiml))

    @classmethod
    async def stream(
        cls, call_sid: str, token: str, extra_parameters: dict[str, str] | None = None
    ) -> Phone:
        """Open the Media Stream Twilio opens for `call_sid`, presenting `token` (and any
        other <Parameter>s the TwiML named)."""
        validator = RequestValidator(AUTH_TOKEN)
        stream_url = STREAM_URL
        communicator = WebsocketCommunicator(
            application, "/ws/twilio",
            headers=[(b"x-twilio-signature", validator.compute_signature(stream_url, {}).encode())],
        )
        connected, _ = await communicator.connect()
        assert connected
        phone = cls(communicator, call_sid, stream_sid="MZ" + "2" * 32)
        await phone.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await phone.send({
            "event": "start", "sequenceNumber": str(next(phone._sequence)),
            "streamSid": phone.stream_sid,
            "start": {
                "accountSid": "AC" + "0" * 32, "streamSid": phone.stream_sid,
                "callSid": call_sid, "tracks": ["inbound"],
                "customParameters": {"token": token, **(extra_parameters or {})},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        })
        return phone

    async def send(self, message: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def speak(self, ulaw: bytes) -> None:
        """Send µ-law audio in 20 ms media frames, one every 20 ms like a real phone line."""
        started = time.monotonic()
        for index, offset in enumerate(range(0, len(ulaw), FRAME)):
            chunk = next(self._chunk)
            await self.send({
                "event": "media", "sequenceNumber": str(next(self._sequence)),
                "streamSid": self.stream_sid,
                "media": {
                    "track": "inbound", "chunk": str(chunk), "timestamp": str(self._now_ms()),
                    "payload": base64.b64encode(ulaw[offset : offset + FRAME]).decode(),
                },
            })
            await asyncio.sleep(max(0.0, started + (index + 1) * 0.02 - time.monotonic()))

    def _now_ms(self) -> int:
        return round((time.monotonic() - self._began) * 50) * 20

    async def press(self, digit: str) -> None:
        await self.send({
            "event": "dtmf", "sequenceNumber": str(next(self._sequence)),
            "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": digit},
        })

    async def echo_mark(self, name: str) -> None:
        """What Twilio does once the audio before a mark has played."""
        await self.send({
            "event": "mark", "sequenceNumber": str(next(self._sequence)),
            "streamSid": self.stream_sid, "mark": {"name": name},
        })

    async def hang_up(self) -> None:
        await self.send({
            "event": "stop", "sequenceNumber": str(next(self._sequence)),
            "streamSid": self.stream_sid,
            "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid},
        })

    # -- what came back --

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("event") == kind]

    def media(self, messages: list[dict[str, Any]] | None = None) -> list[bytes]:
        chosen = self.received if messages is None else messages
        return [base64.b64decode(m["media"]["payload"]) for m in chosen if m["event"] == "media"]

    async def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 5) -> None:
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(predicate)
        except TimeoutError:
            raise AssertionError(f"no {what} within {timeout}s; got {self.summary()}") from None

    async def wait_for_event(self, kind: str, count: int = 1, timeout: float = 5) -> dict[str, Any]:
        await self.wait_for(lambda: len(self.events(kind)) >= count, f"{kind} #{count}", timeout)
        return self.events(kind)[count - 1]

    async def wait_closed(self, timeout: float = 5) -> int:
        await self.wait_for(lambda: self.close_code is not None, "close", timeout)
        assert self.close_code is not None
        return self.close_code

    def summary(self) -> str:
        kinds = [m.get("event") for m in self.received]
        runs = [k for k, _ in itertools.groupby(kinds)]
        return f"{len(kinds)} messages {runs}, close {self.close_code}"

    async def _read(self) -> None:
        while True:
            # No timeout: asgiref cancels the application when a receive times out.
            output = await self.communicator.receive_output(timeout=None)  # type: ignore[arg-type]  # asgiref allows None
            async with self._changed:
                if output["type"] == "websocket.close":
                    self.close_code = int(output.get("code", 1000))
                else:
                    self.received.append(json.loads(output["text"]))
                self._changed.notify_all()
            if self.close_code is not None:
                return

    async def hang_up_and_go(self) -> None:
        """The caller hangs up: Twilio's `stop`, the stream closed, the socket gone."""
        await self.hang_up()
        await self.wait_closed()
        await self.leave()

    async def leave(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.communicator.disconnect()


