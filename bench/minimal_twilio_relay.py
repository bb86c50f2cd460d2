"""The floor under daphne: a bare ASGI app relaying Twilio Media Streams to the Live API.

The same wire formats and the same pure code as the product (twilio_protocol, audio,
live_protocol), with nothing else: no Channels, no signatures, no session, no tools, no
records, no pacing, no resumption. bench_twilio runs the same phones through it, on the same
daphne, so the ratio of the two is what the product's own plumbing costs.

    media (µ-law 8k) -> decode -> 8k->16k -> realtimeInput.audio        (one send per frame)
    modelTurn audio (24k) -> 24k->8k -> encode -> 20 ms frames -> media  (one send per frame)

    daphne bench.minimal_twilio_relay:application   (with GEMINI_LIVE_URL set)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from realtime import live_protocol as lp
from realtime import twilio_protocol as tp
from realtime.audio import (
    FrameChunker,
    Resampler8kTo16k,
    Resampler24kTo8k,
    pcm16_to_bytes,
    ulaw_decode,
    ulaw_encode,
)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

TWIML = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://relay/ws/twilio">'
    b'<Parameter name="token" value="relay" /></Stream></Connect></Response>'
)


async def application(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await _answer_webhook(receive, send)
    elif scope["type"] == "websocket":
        await _relay(receive, send)


async def _answer_webhook(receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/xml")]})  # fmt: skip
    await send({"type": "http.response.body", "body": TWIML})


async def _relay(receive: Receive, send: Send) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    async with connect(
        os.environ["GEMINI_LIVE_URL"],
        additional_headers={"x-goog-api-key": os.environ.get("GEMINI_API_KEY", "test-key")},
        compression=None,
    ) as gemini:
        setup = lp.build_setup(
            model="gemini-3.8-live", voice="Kore", system_instruction="bench",
            function_declarations=[],
        )  # fmt: skip
        await gemini.send(lp.setup_message(setup))
        await gemini.recv()  # setupComplete
        stream_sid: list[str] = []
        down = asyncio.create_task(_down(gemini, send, stream_sid))
        try:
            await _up(receive, gemini, stream_sid)
        finally:
            down.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await down
    await send({"type": "websocket.close"})  # daphne keeps the socket open otherwise


async def _up(receive: Receive, gemini: ClientConnection, stream_sid: list[str]) -> None:
    inbound = Resampler8kTo16k()
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        match tp.parse_message(message.get("text") or message.get("bytes") or b""):
            case tp.Media(payload=payload):
                pcm16k = pcm16_to_bytes(inbound.process(ulaw_decode(payload)))
                await gemini.send(lp.audio_message(pcm16k))
            case tp.Start(stream_sid=sid):
                stream_sid.append(sid)
            case tp.Stop():
                return


async def _down(gemini: ClientConnection, send: Send, stream_sid: list[str]) -> None:
    outbound, chunker = Resampler24kTo8k(), FrameChunker()
    async for frame in gemini:
        for event in lp.parse_server_message(frame):
            if isinstance(event, lp.AudioChunk) and stream_sid:
                for ulaw in chunker.push(ulaw_encode(outbound.process(event.data))):
                    text = tp.media_message(stream_sid[0], ulaw)
                    await send({"type": "websocket.send", "text": text})
