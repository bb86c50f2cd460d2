"""The staff path on a live call: how late does each side hear the other, across two workers?

    .venv/bin/python -m bench.bench_staff_path [--calls 50] [--rounds 4] [--seconds 10] [--quick]

Two real daphne workers share a real Redis (a throwaway `redis-server` on a free port: the
channel layer and the cache) and the embedded database. A customer's web call is carried by
worker A; a support lead's live call view (`/ws/staff/calls/<call_id>`) is served by worker
B, so everything between them crosses Redis (contract section 8). Meanwhile `--calls` other
web calls (spread over both workers, 40 ms frames up, the fake Live API's 20 ms agent frames
down, as in bench.bench_voice) talk to the fake Live API the whole time. `--rounds` rounds of two
windows each:

- without: the customer talks to the agent; nobody on the staff path (the lead's page closed);
- with: the lead's page opens, listens and takes over; the customer and the lead talk at once,
  40 ms frames each way (the customer's reach the lead as `C` frames, the lead's reach the
  customer resampled to 24 kHz); then the lead hands back and the page closes.

The rounds alternate which window comes first (without/with, then with/without, ...), so a
machine slowing down or speeding up through the run weighs on both kinds alike. One window's
p99 of the other calls moves by a millisecond or two with the machine's scheduling, as much
as a take-over costs them: pooling the rounds is what lets their ratio say something, and each
window's cores busy outside the bench's own processes (the workers, Redis, this one) show which
rounds other people's work disturbed.

Figures: the one-way latency of the staff path each way (p50/p99 over all the "with" windows,
from the customer's socket to the lead's and back: the two workers and Redis, what a take-over
adds between two people; the browsers' own capture and playout buffers are the same as for any
call and not in it), the frames each way that never arrived, and the other calls' uplink and
downlink p99 over all the "with" windows against all the "without" ones, with each round's
ratio beside it to show the spread. Customer frames carry their send time in
their first 8 bytes (relayed byte-exact); the lead's frames are resampled on the way, so each
carries its sequence number as a constant level, which a resampler keeps exactly (a
filter's gain at 0 Hz is 1). Goals (issue 13): p99 under 150 ms each way, no frame lost, the
other calls' pooled p99 within 10% of the windows without the take-over. The load generator, the
fake Live API and both pages run in this process, on one clock, beside the server: note the
machine's load printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from pymongo import MongoClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from bench.bench_voice import (
    UP_FRAME_S,
    Figures,
    LeanFake,
    Ramp,
    age_ms,
    cpu_seconds,
    hear,
    speak,
    stop_server,
    wait_for_port,
)
from bench.quiet_gc import collector_paused
from voiceproject.embedded_db import EmbeddedMongo, free_port
from voiceproject.redis_server import LocalRedis

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "bench_staff_path"
CUSTOMER_ID, CUSTOMER_NAME = 9_001, "Zoraida Mehta"  # the fake knows her call by her name
LEAD, LEAD_NAME = "bench-lead", "Arjun"
WARM_UP_S = 2.0
LAND_S = 1.0  # after a window, for the frames in flight to arrive
SETTLE_S = 0.5  # after the staff page comes or goes, before a window starts
GOAL_P99_MS = 150.0
GOAL_OTHERS = 1.10
# The lead's frame number n is sent as the constant level BASE + STEP * (n % LEVELS): 400
# frames of 40 ms, so a frame is told from its namesakes unless it is 16 s late.
LEVELS, LEVEL_BASE, LEVEL_STEP = 400, -20_000, 100
STAFF_FRAME_SAMPLES = 640  # 40 ms at 16 kHz
LEAD_FRAME_BYTES_24K = 960 * 2  # one of those frames as the customer hears it


def level_frame(number: int) -> bytes:
    level = LEVEL_BASE + LEVEL_STEP * (number % LEVELS)
    return np.full(STAFF_FRAME_SAMPLES, level, "<i2").tobytes()


def frame_residue(pcm24k: bytes) -> int | None:
    """Which of the lead's frames (modulo LEVELS) this chunk of the customer's audio is; None
    when it is not one (most of its samples must sit exactly on a level: the first few carry
    the end of the previous frame through the resamplers' filters)."""
    samples = np.frombuffer(pcm24k, "<i2")
    if not len(samples):
        return None
    level = int(np.median(samples))
    residue, off = divmod(level - LEVEL_BASE, LEVEL_STEP)
    if off or not 0 <= residue < LEVELS or np.count_nonzero(samples == level) < len(samples) // 2:
        return None
    return residue


def in_window(figures: Figures, sent_ns: int) -> bool:
    start, end = figures.window_ns
    return start > 0 and start <= sent_ns < (end or 2**63)


class SortingFake(LeanFake):
    """The Live API as bench.bench_voice's LeanFake plays it (agent audio every 20 ms to every
    session), counting into its figures every session but the customer's, whose call is the
    one staff join: its audio stops reaching the customer during the take-over by design."""

    def counts(self, setup: str | bytes) -> bool:
        return CUSTOMER_NAME.split()[0] not in str(setup)


async def ready(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = await ws.recv()
        if isinstance(message, str) and (event := json.loads(message))["type"] == "ready":
            return dict(event)


async def other_call(
    url: str, origin: str, figures: Figures, stop: asyncio.Event, ramp: Ramp
) -> None:
    """A caller of bench.bench_voice, talking until `stop`."""
    async with connect(url, additional_headers={"Origin": origin}, compression=None) as ws:
        await ready(ws)
        ramp.up()

        listener = asyncio.create_task(hear(ws, figures))
        await speak(ws, figures, lambda _: not stop.is_set())
        await asyncio.sleep(LAND_S)
        listener.cancel()


@dataclass
class StaffPath:
    """Both directions of the staff path: `up` is the customer to the lead, `down` the lead to
    the customer (bench.bench_voice's Figures, for the take-over window)."""

    figures: Figures = field(default_factory=Figures)
    sent_ns: dict[int, int] = field(default_factory=dict)  # the lead's frame number -> sent
    latest: dict[int, int] = field(default_factory=dict)  # residue -> newest frame number
    heard: set[int] = field(default_factory=set)

    def lead_sent(self, number: int, at_ns: int) -> None:
        self.sent_ns[number] = at_ns
        self.latest[number % LEVELS] = number
        if in_window(self.figures, at_ns):
            self.figures.down_sent += 1

    def customer_heard(self, residue: int, at_ns: int) -> None:
        number = self.latest.get(residue)
        if number is None or number in self.heard:
            return
        self.heard.add(number)
        if in_window(self.figures, self.sent_ns[number]):
            self.figures.down_received += 1
            self.figures.down_ms.append((at_ns - self.sent_ns[number]) / 1e6)


class Customer:
    """The customer's voice page on worker A: talks all along, and once a person holds the
    call (`agent_changed`), hears the lead's numbered frames."""

    def __init__(self, url: str, origin: str, path: StaffPath) -> None:
        self.url, self.origin, self.path = url, origin, path
        self.call_id = ""
        self.started = asyncio.Event()
        self.held = asyncio.Event()
        self.freed = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        headers = {"Origin": self.origin}
        async with connect(self.url, additional_headers=headers, compression=None) as ws:
            self.call_id = (await ready(ws))["call_id"]
            self.started.set()
            listener = asyncio.create_task(self.listen(ws))
            await speak(ws, self.path.figures, lambda _: not stop.is_set())
            await ws.send(json.dumps({"type": "end"}))
            await asyncio.sleep(LAND_S)
            listener.cancel()

    async def listen(self, ws: ClientConnection) -> None:
        held = False
        async for message in ws:
            if isinstance(message, bytes):
                if held:  # a message may carry several of the lead's frames (livestaff/link.py)
                    at_ns = time.perf_counter_ns()
                    for start in range(0, len(message), LEAD_FRAME_BYTES_24K):
                        chunk = message[start : start + LEAD_FRAME_BYTES_24K]
                        if (residue := frame_residue(chunk)) is not None:
                            self.path.customer_heard(residue, at_ns)
                continue
            event = json.loads(message)
            if event["type"] == "agent_changed":
                held = event["mode"] == "human"
                (self.held if held else self.freed).set()


class Lead:
    """A support lead's live call view on worker B: listens, takes over, speaks numbered
    frames every 40 ms while holding the call, hands back."""

    def __init__(self, url: str, origin: str, cookie: str, path: StaffPath) -> None:
        self.url, self.origin, self.cookie, self.path = url, origin, cookie, path
        self.ws: ClientConnection | None = None
        self.states: list[dict[str, Any]] = []
        self.closed = ""  # why the page can go no further
        self.state_changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._speaker: asyncio.Task[None] | None = None
        # Never restarted: StaffPath tells the lead's frames apart by number, so a second
        # take-over's frame 0 must not pass for one the customer heard in the first.
        self.number = 0

    async def open(self) -> None:
        """The live call view, opened afresh (after `close`, for the next round)."""
        self.states, self.closed = [], ""
        self.ws = await connect(
            self.url, compression=None,
            additional_headers={"Origin": self.origin, "Cookie": f"sessionid={self.cookie}"},
        )  # fmt: skip
        self._reader = asyncio.create_task(self.read(self.ws))
        await self.state(mode="agent")

    async def read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._read(ws)
        self.closed = f"the staff socket closed: {ws.close_code} {ws.close_reason}"
        self.state_changed.set()

    async def _read(self, ws: ClientConnection) -> None:
        path = self.path.figures
        async for message in ws:
            if isinstance(message, bytes):
                if message[:1] == b"C" and path.in_window(message[1:]):
                    path.up_received += 1
                    path.up_ms.append(age_ms(message[1:]))
                continue
            event = json.loads(message)
            if event["type"] == "state":
                self.states.append(event)
                self.state_changed.set()
            elif event["type"] == "error":
                self.closed = f"the staff socket refused an action: {event}"
                self.state_changed.set()

    async def state(self, **fields: Any) -> dict[str, Any]:
        async with asyncio.timeout(15):
            while True:
                if self.closed:
                    raise RuntimeError(self.closed)
                latest = self.states[-1] if self.states else {}
                if all(latest.get(k) == v for k, v in fields.items()):
                    return latest
                self.state_changed.clear()
                await self.state_changed.wait()

    async def take_over(self) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({"type": "listen"}))
        await self.ws.send(json.dumps({"type": "take_over"}))
        await self.state(mode="human", staff=LEAD)
        self._speaker = asyncio.create_task(self.speak(self.ws))

    async def speak(self, ws: ClientConnection) -> None:
        next_at = time.perf_counter()
        while True:
            next_at += UP_FRAME_S
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            frame = level_frame(self.number)
            sent_ns = time.perf_counter_ns()
            await ws.send(frame)
            self.path.lead_sent(self.number, sent_ns)
            self.number += 1

    async def hand_back(self) -> None:
        assert self.ws is not None and self._speaker is not None
        self._speaker.cancel()
        await self.ws.send(json.dumps({"type": "hand_back", "note": "Bench: all yours."}))
        await self.state(mode="agent")

    async def close(self) -> None:
        for task in (self._speaker, self._reader):
            if task is not None:
                task.cancel()
        self._speaker = self._reader = None
        if self.ws is not None:
            await self.ws.close()


@dataclass
class Window:
    others: Figures
    worker_shares: list[float]  # the two workers' and Redis's, of a core each
    loadgen_share: float
    machine_busy: float  # of all the machine's cores, whoever used them

    @property
    def elsewhere(self) -> float:
        """Cores busy outside the bench (other people's work), the noise a window's p99
        suffers from: the machine's busy cores less the bench's own processes'."""
        total = self.machine_busy * (os.cpu_count() or 1)
        return max(0.0, total - sum(self.worker_shares) - self.loadgen_share)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot, from /proc/stat."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


async def window(
    seconds: float, others: Figures, pids: Sequence[int], path: StaffPath | None = None
) -> Window:
    """Measure for `seconds`: the other calls (and the staff path, given one); then let the
    frames in flight land and hand back what was counted, the counters emptied for the next."""
    start = time.perf_counter_ns()
    others.window_ns = (start, 0)
    if path is not None:
        path.figures.window_ns = (start, 0)
    cpu_before = [cpu_seconds(pid) for pid in pids]
    own_before = time.process_time()
    busy_before, total_before = machine_ticks()
    await asyncio.sleep(seconds)
    busy_after, total_after = machine_ticks()
    end = time.perf_counter_ns()
    others.window_ns = (start, end)
    if path is not None:
        path.figures.window_ns = (start, end)
    used = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
    own = (time.process_time() - own_before) / seconds
    await asyncio.sleep(LAND_S)
    counted = Figures(
        up_ms=list(others.up_ms), down_ms=list(others.down_ms), up_sent=others.up_sent,
        up_received=others.up_received, down_sent=others.down_sent,
        down_received=others.down_received, window_ns=(start, end),
    )  # fmt: skip
    others.up_ms.clear()
    others.down_ms.clear()
    others.up_sent = others.up_received = others.down_sent = others.down_received = 0
    busy = (busy_after - busy_before) / max(1, total_after - total_before)
    return Window(counted, [seconds_used / seconds for seconds_used in used], own, busy)


def make_lead(env: dict[str, str]) -> str:
    """A support lead (may take over) signed in: their session cookie, as the workers read it."""
    script = (
        "import django; django.setup()\n"
        "from django.contrib.auth.models import Group, User\n"
        "from django.test import Client\n"
        f"u = User.objects.create_user({LEAD!r}, is_staff=True, first_name={LEAD_NAME!r})\n"
        "u.groups.add(Group.objects.get(name='Support lead'))\n"
        "c = Client(); c.force_login(u); print(c.cookies['sessionid'].value)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"could not make the lead:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def start_worker(env: dict[str, str], port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "voiceproject.asgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


@dataclass(frozen=True)
class Plan:
    calls: int  # other calls beside the customer's
    rounds: int  # of one window without the take-over and one with it
    seconds: float  # each window


async def bench(plan: Plan) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-staff-path-") as tmp:
        uri = os.environ.get("MONGODB_URI")
        db = None if uri else EmbeddedMongo(Path(tmp) / "db")
        if db is not None:
            uri = db.start()
        redis = LocalRedis(Path(tmp) / "redis").start()
        try:
            assert uri is not None
            await with_servers(Path(tmp), uri, redis, plan)
        finally:
            redis.stop()
            if db is not None:
                db.stop()


async def with_servers(tmp: Path, uri: str, redis: LocalRedis, plan: Plan) -> None:
    others = Figures()
    fake = SortingFake(others)
    env = {
        **os.environ, "DEBUG": "True", "SECRET_KEY": "bench-staff-path-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "MONGODB_URI": uri, "MONGODB_DB": DB_NAME,
        "GEMINI_API_KEY": "bench-key", "GEMINI_LIVE_URL": fake.url, "VOICE_DEMO_MODE": "True",
        "LOG_LEVEL": "WARNING", "CHANNEL_LAYERS_URL": redis.url(0), "REDIS_URL": redis.url(1),
        "VOICE_WORKERS": "2", "VOICE_MAX_CALLS_PER_CUSTOMER": "100",
        "VOICE_IDLE_PROMPT_S": "3600", "CALL_SUMMARY_MODEL": "",
        "DJANGO_SETTINGS_MODULE": "voiceproject.settings",
    }  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env,
                   check=True)  # fmt: skip
    with MongoClient[dict[str, Any]](uri) as client:
        client[DB_NAME].customers.drop()
        client[DB_NAME].customers.insert_many([
            {"user_id": n, "name": f"Caller {n}", "phone": f"+9190{n:08d}", "wallet_balance": 0}
            for n in range(1, plan.calls + 1)
        ] + [{"user_id": CUSTOMER_ID, "name": CUSTOMER_NAME, "phone": "+919800009001",
              "wallet_balance": 0}])  # fmt: skip
    cookie = make_lead(env)
    ports = [free_port(), free_port()]
    with (tmp / "worker-a.log").open("w+b") as log_a, (tmp / "worker-b.log").open("w+b") as log_b:
        workers = [start_worker(env, ports[0], log_a), start_worker(env, ports[1], log_b)]
        assert redis.process is not None
        measured = [workers[0].pid, workers[1].pid, redis.process.pid]
        try:
            async with serve(fake.session, "127.0.0.1", fake.port, compression=None,
                             max_size=2**20):  # fmt: skip
                try:
                    for port in ports:
                        await asyncio.to_thread(wait_for_port, port)
                    results = await run_rounds(ports, measured, cookie, others, plan)
                finally:
                    # While the fake Live API still answers: the workers close their calls'
                    # sessions as they stop, which the fake going first would cut instead.
                    await asyncio.gather(*(stop_server(worker, timeout_s=15) for worker in workers))
        except BaseException:
            for log in (log_a, log_b):
                log.seek(0)
                print(log.read().decode(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            for worker in workers:  # a bench cut short (Ctrl-C) leaves no worker behind
                if worker.poll() is None:
                    worker.kill()
                    worker.wait(10)
    report(results, measured, plan)


@dataclass
class Round:
    without: Window  # nobody on the staff path
    during: Window  # the lead holding the call, both people talking
    with_first: bool  # which of the two was measured first


async def take_over(lead: Lead, customer: Customer) -> None:
    """The lead's page opens and takes the call; back once the customer hears a person."""
    customer.held.clear()
    await lead.open()
    await lead.take_over()
    await asyncio.wait_for(customer.held.wait(), 15)
    await asyncio.sleep(SETTLE_S)  # the first frames start the path


async def hand_back(lead: Lead, customer: Customer) -> None:
    """The lead hands back and their page closes: nothing left on the staff path."""
    customer.freed.clear()
    await lead.hand_back()
    await asyncio.wait_for(customer.freed.wait(), 15)
    await lead.close()
    await asyncio.sleep(SETTLE_S)  # the workers drop the page's groups and tasks


async def one_round(
    number: int, lead: Lead, customer: Customer, others: Figures, pids: Sequence[int],
    seconds: float,
) -> Round:  # fmt: skip
    """A window without the take-over and one with it, in turn first (0: without first), so
    that a machine whose speed drifts through the run favours neither kind of window."""

    async def taken() -> Window:
        await take_over(lead, customer)
        measured = await window(seconds, others, pids, lead.path)
        await hand_back(lead, customer)
        return measured

    with_first = number % 2 == 1
    if with_first:
        during = await taken()
        without = await window(seconds, others, pids)
    else:
        without = await window(seconds, others, pids)
        during = await taken()
    return Round(without, during, with_first)


async def run_rounds(
    ports: list[int], pids: list[int], cookie: str, others: Figures, plan: Plan
) -> dict[str, Any]:
    load_before = os.getloadavg()
    path = StaffPath()
    stop = asyncio.Event()
    a, b = (f"127.0.0.1:{port}" for port in ports)
    customer = Customer(f"ws://{a}/ws/voice?user_id={CUSTOMER_ID}", f"http://{a}", path)
    tasks = [asyncio.create_task(customer.run(stop))]
    await asyncio.wait_for(customer.started.wait(), 30)
    ramp = Ramp(plan.calls)
    for n in range(1, plan.calls + 1):
        host = (a, b)[n % 2]  # half the other calls on each worker, as a balancer spreads them
        url = f"ws://{host}/ws/voice?user_id={n}"
        tasks.append(asyncio.create_task(other_call(url, f"http://{host}", others, stop, ramp)))
    lead = Lead(f"ws://{b}/ws/staff/calls/{customer.call_id}", f"http://{b}", cookie, path)
    print(f"{plan.calls} other calls on workers A and B (pids {pids[0]}, {pids[1]}); the "
          f"customer's call {customer.call_id} on A, the lead on B; {plan.rounds} rounds of "
          f"{plan.seconds:.0f} s without and {plan.seconds:.0f} s with the take-over ...",
          flush=True)  # fmt: skip
    rounds: list[Round] = []
    try:
        with collector_paused():
            if plan.calls:
                await ramp.all_up(tasks[1:])  # the first window starts with every call up
            await asyncio.sleep(WARM_UP_S)
            for number in range(plan.rounds):
                rounds.append(await one_round(number, lead, customer, others, pids, plan.seconds))
    finally:
        stop.set()
        await lead.close()
        done = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [error for error in done if isinstance(error, BaseException)]
    if failed:
        raise RuntimeError(f"{len(failed)} call(s) failed; the first: {failed[0]!r}")
    return {"path": path.figures, "rounds": rounds, "load": (load_before, os.getloadavg())}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def pooled(windows: Sequence[Window]) -> Figures:
    """The other calls' figures of several windows as one."""
    return Figures(
        up_ms=[ms for w in windows for ms in w.others.up_ms],
        down_ms=[ms for w in windows for ms in w.others.down_ms],
        up_sent=sum(w.others.up_sent for w in windows),
        up_received=sum(w.others.up_received for w in windows),
        down_sent=sum(w.others.down_sent for w in windows),
        down_received=sum(w.others.down_received for w in windows),
    )


def frames_lost(figures: Figures) -> int:
    return (figures.up_sent - figures.up_received) + (figures.down_sent - figures.down_received)


def p99_ratios(without: Figures, during: Figures) -> tuple[float, float]:
    """The other calls' p99 with the take-over over without it: (uplink, downlink)."""
    return (pct(during.up_ms, 99) / pct(without.up_ms, 99),
            pct(during.down_ms, 99) / pct(without.down_ms, 99))  # fmt: skip


def report_path(path: Figures, plan: Plan) -> tuple[float, float, int, int]:
    """Print the staff path's figures; hand back its p99 and frames lost, each way."""
    lost_up = path.up_sent - path.up_received
    lost_down = path.down_sent - path.down_received
    print(f"\nThe staff path, customer on worker A, lead on worker B, Redis between; {plan.calls} "
          f"other calls; {plan.rounds} take-overs of {plan.seconds:.0f} s")  # fmt: skip
    print(f"{'':30}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'frames':>10}{'lost':>8}")
    for label, values, sent, missing in (
        ("customer -> lead", path.up_ms, path.up_sent, lost_up),
        ("lead -> customer", path.down_ms, path.down_sent, lost_down),
    ):
        worst = max(values) if values else float("nan")
        print(f"{label:30}{pct(values, 50):>10.1f}{pct(values, 99):>10.1f}{worst:>10.1f}"
              f"{sent:>10}{missing:>8}")  # fmt: skip
    return pct(path.up_ms, 99), pct(path.down_ms, 99), lost_up, lost_down


def report_others(rounds: Sequence[Round], pids: Sequence[int], plan: Plan) -> tuple[float, int]:
    """Print the other calls' figures over all the rounds; hand back the worse p99 ratio of
    the two directions and the frames they lost."""
    withouts, durings = [r.without for r in rounds], [r.during for r in rounds]
    without, during = pooled(withouts), pooled(durings)
    print(f"\nThe {plan.calls} other calls, all rounds{'':2}{'without':>10}{'with':>10}"
          f"{'ratio':>8}  (with the take-over / without)")  # fmt: skip
    for label, values, q in (
        ("uplink p50 ms", "up_ms", 50), ("uplink p99 ms", "up_ms", 99),
        ("downlink p50 ms", "down_ms", 50), ("downlink p99 ms", "down_ms", 99),
    ):  # fmt: skip
        b, d = pct(getattr(without, values), q), pct(getattr(during, values), q)
        print(f"{label:30}{b:>10.1f}{d:>10.1f}{d / b:>8.2f}")
    lost = frames_lost(without) + frames_lost(during)
    print(f"{'frames lost (both ways)':30}{frames_lost(without):>10}{frames_lost(during):>10}")
    for n, pid in enumerate(pids):
        shares = [float(np.mean([w.worker_shares[n] for w in ws])) for ws in (withouts, durings)]
        name = ("worker A", "worker B", "redis")[n]
        print(f"{name + ' (pid ' + str(pid) + ') core':30}"
              + "".join(f"{s:>10.0%}" for s in shares))  # fmt: skip
    print(f"{'load generator + fake, core':30}"
          + "".join(f"{np.mean([w.loadgen_share for w in ws]):>10.0%}"
                    for ws in (withouts, durings)))  # fmt: skip
    print(f"{'the whole machine busy':30}"
          + "".join(f"{np.mean([w.machine_busy for w in ws]):>10.0%}"
                    for ws in (withouts, durings))
          + f"  (of {os.cpu_count()} cores)")  # fmt: skip
    print(f"{'outside the bench, cores':30}"
          + "".join(f"{np.mean([w.elsewhere for w in ws]):>10.2f}"
                    for ws in (withouts, durings))
          + "  (other people's work: the noise)")  # fmt: skip

    return max(p99_ratios(without, during)), lost


def report_rounds(rounds: Sequence[Round]) -> None:
    """Print the other calls' p99 round by round: how far one round's ratio strays."""
    print(f"\nEach round's p99 ms{'':11}{'uplink without / with':>28}"
          f"{'downlink without / with':>30}{'outside, cores':>18}")  # fmt: skip
    ups, downs = [], []
    for number, one in enumerate(rounds, 1):
        alone, taken = one.without.others, one.during.others
        up, down = p99_ratios(alone, taken)
        ups.append(up)
        downs.append(down)
        order = "with first" if one.with_first else "without first"
        print(f"{f'round {number} ({order})':30}"
              f"{pct(alone.up_ms, 99):>12.1f} / {pct(taken.up_ms, 99):<5.1f} x{up:<5.2f}"
              f"{pct(alone.down_ms, 99):>14.1f} / {pct(taken.down_ms, 99):<5.1f} x{down:<5.2f}"
              f"{one.without.elsewhere:>9.2f} / {one.during.elsewhere:.2f}")  # fmt: skip
    print(f"the rounds' ratios: uplink x{min(ups):.2f}-{max(ups):.2f} (median "
          f"{np.median(ups):.2f}), downlink x{min(downs):.2f}-{max(downs):.2f} (median "
          f"{np.median(downs):.2f})")  # fmt: skip


def report(results: dict[str, Any], pids: list[int], plan: Plan) -> None:
    up_p99, down_p99, lost_up, lost_down = report_path(results["path"], plan)
    worst_ratio, lost = report_others(results["rounds"], pids, plan)
    report_rounds(results["rounds"])
    (b1, b5, _), (a1, a5, _) = results["load"]
    print(f"machine load average (1 / 5 min): {b1:.1f} / {b5:.1f} before, {a1:.1f} / {a5:.1f} "
          f"after, on {os.cpu_count()} cores")  # fmt: skip

    path: Figures = results["path"]
    goals = [
        (f"staff path p99 under {GOAL_P99_MS:.0f} ms each way ({up_p99:.1f} / {down_p99:.1f})",
         up_p99 < GOAL_P99_MS and down_p99 < GOAL_P99_MS),
        (f"no staff-path frame lost ({lost_up} / {lost_down})",
         lost_up == 0 and lost_down == 0 and path.up_sent > 0 and path.down_sent > 0),
        (f"the other calls' pooled p99 within 10% of without (worse ratio {worst_ratio:.2f})",
         worst_ratio <= GOAL_OTHERS),
        (f"no other call's frame lost ({lost})", lost == 0),
    ]  # fmt: skip
    print()
    for goal, met in goals:
        print(f"  {'PASS' if met else 'MISS'}  {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=50, help="other calls beside the staff one")
    parser.add_argument("--rounds", type=int, default=4,
                        help="rounds of a window without the take-over and one with it",
                        )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="each window")
    parser.add_argument("--quick", action="store_true",
                        help="a short run to see it work: 5 other calls, 2 rounds, 3 s windows",
                        )  # fmt: skip
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    plan = Plan(5, 2, 3.0) if args.quick else Plan(args.calls, args.rounds, args.seconds)
    asyncio.run(bench(plan))


if __name__ == "__main__":
    main()
