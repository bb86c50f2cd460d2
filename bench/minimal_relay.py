"""The floor plain Python reaches: a bare `websockets` relay doing the bridge's conversion.

Browser binary PCM -> `realtimeInput.audio` JSON upstream; upstream JSON -> agent audio as
binary frames back. No Django, no tools, no records, no resumption: bench_voice compares the
real bridge against this.

    python -m bench.minimal_relay --port 9000 --upstream ws://127.0.0.1:9001/ws/...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from realtime import live_protocol as lp


async def relay(browser: ServerConnection, upstream_url: str) -> None:
    async with connect(upstream_url, additional_headers={"x-goog-api-key": "bench-key"}) as gemini:
        setup = lp.build_setup(
            model="gemini-3.8-live", voice="Kore", system_instruction="bench",
            function_declarations=[],
        )  # fmt: skip
        await gemini.send(lp.setup_message(setup))
        await gemini.recv()  # setupComplete
        await browser.send('{"type":"ready","call_id":"relay"}')

        async def up() -> None:
            async for frame in browser:
                if isinstance(frame, bytes):
                    await gemini.send(lp.audio_message(frame))

        async def down() -> None:
            async for frame in gemini:
                for event in lp.parse_server_message(frame):
                    if isinstance(event, lp.AudioChunk):
                        await browser.send(event.data)

        tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()


async def main(port: int, upstream: str) -> None:
    async def handler(browser: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await relay(browser, upstream)

    async with serve(handler, "127.0.0.1", port, compression=None, max_size=2**20):
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.upstream))
