"""A frozen database, again and again: does the server recover every time?

    .venv/bin/python -m bench.soak_db_freeze [--freezes 10] [--freeze-s 35]

Starts the embedded database and a real daphne (DEBUG off, as in production) against the fake
Live API, then freezes the database with SIGSTOP while calls keep arriving (each one asking
the agent for the customer's profile, a tool that reads the database), and resumes it. After
each resume it measures how long until /healthz answers 200 and a new call gets its tool
answered. Goal (hardening issue, item 4): within 5 s, every time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from websockets.asyncio.client import connect

from bench.bench_voice import stop_server
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from voiceproject.embedded_db import EmbeddedMongo, free_port

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 5.0


async def one_call(port: int) -> bool:
    """A call whose agent reads the profile: True when the tool answered ok."""
    url = f"ws://127.0.0.1:{port}/ws/voice?user_id=1"
    try:
        async with asyncio.timeout(15), connect(
            url, additional_headers={"Origin": f"http://127.0.0.1:{port}"}
        ) as ws:
            async for message in ws:
                if isinstance(message, str):
                    event = json.loads(message)
                    if event["type"] == "tool" and event["status"] != "started":
                        return bool(event.get("result", {}).get("ok"))
                    if event["type"] == "ended":
                        return False
    except (OSError, TimeoutError, Exception):  # noqa: BLE001  a soak counts failures
        return False
    return False


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


async def recovery_time(port: int, limit_s: float = 60.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if await asyncio.to_thread(healthy, port) and await one_call(port):
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    return float("inf")


async def soak(freezes: int, freeze_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="soak-freeze-") as tmp:
        db = EmbeddedMongo(Path(tmp) / "db")
        uri = db.start()
        # The database stops however the soak ends (before, a failed migrate left it running).
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(db.stop)
            fake = await stack.enter_async_context(FakeLiveServer())

            @fake.on_session
            async def agent(session: FakeSession) -> None:
                await session.send_tool_call([{"name": "get_user_profile"}])
                await session.wait_for_tool_response(timeout=30)

            env = {
                **os.environ, "DEBUG": "False", "SECRET_KEY": secrets.token_urlsafe(50),
                "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "False",
                "MONGODB_URI": uri, "MONGODB_DB": "soak", "GEMINI_API_KEY": "test-key",
                "GEMINI_LIVE_URL": fake.url, "VOICE_DEMO_MODE": "True", "LOG_LEVEL": "ERROR",
                "VOICE_MAX_CALLS_PER_CUSTOMER": "1000",
            }  # fmt: skip
            subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT,
                           env=env, check=True)  # fmt: skip
            with MongoClient[dict[str, Any]](uri) as client:
                client["soak"].customers.insert_one(
                    {"user_id": 1, "name": "Asha Verma", "phone": "+919800000001",
                     "wallet_balance": 0}
                )  # fmt: skip
            port = free_port()
            daphne = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port),
                 "voiceproject.asgi:application"], cwd=ROOT, env=env,
            )  # fmt: skip
            try:
                print(f"warming up ({await recovery_time(port):.1f} s to the first call)")
                times = []
                for n in range(1, freezes + 1):
                    assert db.process is not None
                    os.kill(db.process.pid, signal.SIGSTOP)
                    during = [asyncio.create_task(one_call(port)) for _ in range(5)]
                    await asyncio.sleep(freeze_s)
                    os.kill(db.process.pid, signal.SIGCONT)
                    await asyncio.gather(*during)
                    took = await recovery_time(port)
                    times.append(took)
                    verdict = "ok" if took <= GOAL_S else "MISS"
                    print(f"freeze {n}/{freezes} ({freeze_s:.0f} s): working again after "
                          f"{took:.1f} s  {verdict}", flush=True)  # fmt: skip
            finally:
                await stop_server(daphne)
    print(f"\nworst recovery {max(times):.1f} s over {freezes} freezes; goal {GOAL_S:.0f} s: "
          f"{'PASS' if max(times) <= GOAL_S else 'MISS'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--freezes", type=int, default=10)
    parser.add_argument("--freeze-s", type=float, default=35.0)
    args = parser.parse_args()
    asyncio.run(soak(args.freezes, args.freeze_s))


if __name__ == "__main__":
    main()
