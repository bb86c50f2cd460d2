"""Does staff browsing disturb live calls? A bystander call's audio while staff pages load.

    .venv/bin/python -m bench.bench_staff_bystander [--calls 5000] [--seconds 20] [--staff 4]

One daphne serves a bystander web call (40 ms caller frames up, the fake Live API's 20 ms
agent frames down, as in bench.bench_voice) on a database holding `--calls` past calls, each
with a transcript of about 40 lines and a few tool calls (some 10 KB: long calls). First the
bystander talks alone; then the same while `--staff` processes load the staff pages in a
loop (the call list and its second page, the admin's call list, a call, the dashboard, the
queue) as a signed-in support lead. The figure is the gap between consecutive agent frames
arriving at the caller (20 ms when nothing interferes): its p99 and worst, quiet and busy.
Goal: the busy p99 within 10% of the quiet one.

`--separate` serves the pages from a second daphne process, as `voiceproject.workers
--staff-workers K` does; `--staff-nice 10` lowers its CPU priority (and the browsing
sessions', which stand for other machines) as the workers command does by default.

`--root PATH` runs another checkout's server (e.g. `git worktree add /tmp/main main`) on the
same data and pages, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import numpy as np
from pymongo import MongoClient
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from bench.bench_voice import (
    UP_FRAME,
    UP_FRAME_S,
    Figures,
    LeanFake,
    cpu_seconds,
    rss_mb,
    stamped,
    stop_server,
    wait_for_port,
)
from bench.quiet_gc import collector_paused
from voiceproject.embedded_db import EmbeddedMongo, free_port

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "bench_bystander"
LEAD, PASSWORD = "bench-lead", "bench-lead-password-0123"
GOAL = 1.10  # busy p99 gap at most 10% above the quiet one
PAGES = ["/staff/calls/", "/staff/calls/?page=2", "/admin/support/call/", "/staff/",
         "/staff/queue/", "/staff/calls/call-b{n:05d}/"]  # fmt: skip
TURN = ("I ordered a biryani an hour ago and it's still not here, and the restaurant isn't "
        "answering. Can you check where it is and whether I can get something back for it?")


def call_document(rng: random.Random, n: int, now: datetime) -> dict[str, Any]:
    started = now - timedelta(seconds=rng.randint(60, 30 * 86_400))
    return {
        "call_id": f"call-b{n:05d}", "user_id": rng.randint(1, 20), "channel": "web",
        "started_at": started, "ended_at": started + timedelta(minutes=rng.randint(1, 9)),
        "end_reason": "caller_hung_up", "outcome": "resolved_info",
        "transcript": [{"role": "user" if i % 2 else "agent", "text": TURN,
                        "at": started + timedelta(seconds=8 * i)} for i in range(40)],
        "tool_calls": [{"name": "get_order_details", "args": {"order_id": f"ORD-{i}"},
                        "result": {"ok": True, "status": "delivered", "items": [TURN] * 3},
                        "ok": True, "started_at": started, "ms": 20} for i in range(4)],
        "usage": {"prompt_token_count": 9000, "response_token_count": 900,
                  "total_token_count": 9900},
    }  # fmt: skip


def load(uri: str, calls: int) -> None:
    rng, now = random.Random(7), datetime.now(UTC)
    with MongoClient[dict[str, Any]](uri) as client:
        db = client[DB_NAME]
        if db.calls.estimated_document_count() == calls:
            return
        db.calls.delete_many({})
        for start in range(0, calls, 1000):
            db.calls.insert_many([call_document(rng, n, now)
                                  for n in range(start, min(calls, start + 1000))])  # fmt: skip
        for n in range(1, 21):
            db.customers.update_one({"user_id": n}, {"$setOnInsert": {
                "name": f"Caller {n}", "phone": f"+9190000000{n:02d}", "wallet_balance": 0,
                "email": "", "created_at": now}}, upsert=True)  # fmt: skip


def make_lead(env: dict[str, str], root: Path) -> None:
    script = (
        "import django; django.setup()\n"
        "from django.contrib.auth.models import Group, User\n"
        f"u, _ = User.objects.get_or_create(username={LEAD!r}, defaults={{'is_staff': True}})\n"
        f"u.set_password({PASSWORD!r}); u.save()\n"
        "u.groups.add(Group.objects.get(name='Support lead'))\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=root, env=env, check=True)


def start_daphne(
    env: dict[str, str], port: int, root: Path, nice: int = 0
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "voiceproject.asgi:application"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,
    )  # fmt: skip


def browse(
    base: str, calls: int, stop_browsing: Any, counts: Any, think: float, nice: int
) -> None:
    """A support lead loading staff pages in a loop until `stop_browsing` is set (another
    process)."""
    os.nice(nice)  # as the staff server: a browser stands for a machine of its own
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(base + "/admin/login/").read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    form = urllib.parse.urlencode({"username": LEAD, "password": PASSWORD,
                                   "csrfmiddlewaretoken": token, "next": "/staff/"})  # fmt: skip
    request = urllib.request.Request(base + "/admin/login/", data=form.encode(),
                                     headers={"Referer": base + "/admin/login/"})  # fmt: skip
    opener.open(request).read()
    rng = random.Random(os.getpid())
    for page in itertools.cycle(PAGES):
        if stop_browsing.is_set():
            return
        started = time.perf_counter()
        with opener.open(base + page.format(n=rng.randrange(calls))) as response:
            response.read()
        with counts.get_lock():
            counts[0] += 1
            counts[1] += time.perf_counter() - started
        stop_browsing.wait(think)


@dataclass
class Gaps:
    arrivals: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        gaps = np.diff(np.array(self.arrivals)) * 1000
        return {"p50": float(np.percentile(gaps, 50)), "p99": float(np.percentile(gaps, 99)),
                "worst": float(gaps.max()), "frames": float(len(gaps))}  # fmt: skip


async def bystander(url: str, origin: str, seconds: float, warm_up: float) -> Gaps:
    """One caller talking for `warm_up` + `seconds`; agent frame arrival times while measured."""
    gaps = Gaps()
    async with connect(url, additional_headers={"Origin": origin}, compression=None) as ws:
        while True:
            message = await ws.recv()
            if isinstance(message, str) and json.loads(message)["type"] == "ready":
                break
        measure_from = time.perf_counter() + warm_up
        stop_at = measure_from + seconds

        async def listen() -> None:
            async for message in ws:
                now = time.perf_counter()
                if isinstance(message, bytes) and measure_from <= now < stop_at:
                    gaps.arrivals.append(now)

        listener = asyncio.create_task(listen())
        next_at = time.perf_counter()
        while next_at < stop_at:
            next_at += UP_FRAME_S
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            await ws.send(stamped(UP_FRAME))
        listener.cancel()
        # Hung up, not dropped: a call whose page only went away waits VOICE_RESUME_GRACE_S
        # for it, its model still streaming, and the quiet call did so all through the busy
        # phase, which then carried two calls against the quiet phase's one.
        await ws.send(json.dumps({"type": "end"}))
    return gaps


async def run(args: argparse.Namespace, uri: str) -> None:
    root = Path(args.root).resolve() if args.root else ROOT
    fake = LeanFake(Figures())
    env = {**os.environ, "DEBUG": "True", "SECRET_KEY": "bench-bystander-secret-key-0123456789",
           "MONGODB_URI": uri, "MONGODB_DB": DB_NAME, "GEMINI_API_KEY": "bench-key",
           "GEMINI_LIVE_URL": fake.url, "VOICE_DEMO_MODE": "True", "LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(root), "DJANGO_SETTINGS_MODULE": "voiceproject.settings"}  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=root, env=env,
                   check=True)  # fmt: skip
    load(uri, args.calls)
    make_lead(env, root)
    async with serve(fake.session, "127.0.0.1", fake.port, compression=None, max_size=2**20):
        port = free_port()
        daphne = start_daphne(env, port, root)
        staff_port = free_port() if args.separate else port
        staff_server = (
            start_daphne(env, staff_port, root, args.staff_nice) if args.separate else None
        )
        try:
            await asyncio.to_thread(wait_for_port, port)
            await asyncio.to_thread(wait_for_port, staff_port)
            base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/voice?user_id=1"
            staff_base = f"http://127.0.0.1:{staff_port}"
            if os.environ.get("BENCH_PAUSE"):  # look at the server by hand: BENCH_PAUSE=1
                print(f"serving {base} as {LEAD} / {PASSWORD}; Ctrl-C ends", flush=True)
                await asyncio.sleep(3600)
            with collector_paused():
                cpu_start = cpu_seconds(daphne.pid)
                quiet = await bystander(ws_url, base, args.seconds, warm_up=2.0)
                quiet_rss, quiet_cpu = rss_mb(daphne.pid), cpu_seconds(daphne.pid) - cpu_start
                counts = multiprocessing.Array("d", 2)
                # Staff browse until the busy window is over, however long the bystander's
                # call took to come up (a time fixed before it did left the window's end
                # without staff).
                stop_browsing = multiprocessing.Event()
                browsing = (staff_base, args.calls, stop_browsing, counts, args.think,
                            args.staff_nice)  # fmt: skip
                staff = [multiprocessing.Process(target=browse, args=browsing)
                         for _ in range(args.staff)]  # fmt: skip
                for process in staff:
                    process.start()
                cpu_start = cpu_seconds(daphne.pid)
                try:
                    busy = await bystander(ws_url, base, args.seconds, warm_up=2.0)
                finally:
                    stop_browsing.set()
                busy_rss, busy_cpu = rss_mb(daphne.pid), cpu_seconds(daphne.pid) - cpu_start
                for process in staff:
                    process.join(60)
        finally:
            for server in (daphne, staff_server):
                if server is not None:
                    await stop_server(server)
    seconds = args.seconds + 2.0  # each phase: the warm-up and the measured window
    report(args, root, quiet, busy, counts, (quiet_rss, busy_rss),
           (quiet_cpu / seconds, busy_cpu / seconds))


def report(args: argparse.Namespace, root: Path, quiet: Gaps, busy: Gaps, counts: Any,
           rss: tuple[float, float], cpu: tuple[float, float]) -> None:  # fmt: skip
    q, b = quiet.figures(), busy.figures()
    pages = int(counts[0])
    mean_ms = 1000 * counts[1] / max(1, pages)
    where = "a second server" if args.separate else "the bystander's server"
    if args.staff_nice:
        where += f" (browsers{' and server' if args.separate else ''} at nice +{args.staff_nice})"
    pace = f", {args.think:g} s between pages" if args.think else ""
    print(f"\n{root}: a bystander call, {args.calls:,} past calls (~10 KB each) in the "
          f"database; {args.seconds:.0f} s quiet, then {args.seconds:.0f} s while {args.staff} "
          f"staff sessions load pages from {where}{pace} ({pages} pages, mean "
          f"{mean_ms:.0f} ms)")  # fmt: skip
    print(f"{'agent audio gap at the caller':32}{'quiet':>10}{'busy':>10}{'ratio':>8}")
    for key in ("p50", "p99", "worst"):
        print(f"{key + ' ms':32}{q[key]:>10.1f}{b[key]:>10.1f}{b[key] / q[key]:>8.2f}")
    print(f"{'server memory MB':32}{rss[0]:>10.0f}{rss[1]:>10.0f}")
    print(f"{'server CPU (share of a core)':32}{cpu[0]:>10.0%}{cpu[1]:>10.0%}")
    load = os.getloadavg()[0]
    print(f"{'machine load average (1 min)':32}{load:>20.1f}  on {os.cpu_count()} cores")
    verdict = "PASS" if b["p99"] <= GOAL * q["p99"] else "MISS"
    print(f"\n  {verdict}  busy p99 gap within 10% of quiet ({b['p99']:.1f} vs {q['p99']:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--staff", type=int, default=4, help="staff sessions loading pages")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds each session waits between pages (0: back to back)")
    parser.add_argument("--root", help="another checkout to serve (a before/after comparison)")
    parser.add_argument("--separate", action="store_true",
                        help="staff pages from a second daphne process (same machine, same "
                        "database): how much of the effect is the machine, not the process")
    parser.add_argument("--staff-nice", type=int, default=0,
                        help="CPU niceness of the staff server and the browsing sessions, as "
                        "voiceproject.workers --staff-nice gives staff workers")
    args = parser.parse_args()
    uri = os.environ.get("MONGODB_URI")
    if uri:
        asyncio.run(run(args, uri))
        return
    with (
        tempfile.TemporaryDirectory(prefix="bench-bystander-") as tmp,
        EmbeddedMongo(Path(tmp) / "db") as db,
    ):
        asyncio.run(run(args, db.uri))


if __name__ == "__main__":
    main()
