"""Browser callers through daphne to a fake Live API, against a minimal relay as the floor.

    .venv/bin/python -m bench.bench_voice [--calls 50] [--seconds 30] [--workers N]

Each simulated caller streams 40 ms PCM frames in real time to `/ws/voice` on a real daphne
process (with the embedded database); the fake Live API streams 20 ms agent chunks back the
whole time. Every frame carries its send time in its first 8 bytes (the bridge relays audio
byte-exact), so latency is measured inside the audio on one clock: the load generator and
the fake share this process. Then the same load goes through `bench.minimal_relay`, a bare
`websockets` relay doing the same conversion, and the ratios are printed. The measured window
starts once every call is up (a call refused fails the run). The load generator shares the
machine with the server, so compare figures from one run.

With `--record` the same calls go through daphne with RECORD_CALLS off, then on (`--rounds`
times, alternating), and it prints what recording adds: the server's CPU per call-minute (goal:
under 15% more) and the database's, which takes the recordings' writes.

With `--workers N` the calls go through `python -m voiceproject.workers` instead: HAProxy in
front of N daphne workers with Redis between them. It prints the CPU of all the workers
together (per call-minute, and calls per core), each worker's share, HAProxy's CPU, and the
load generator's own (this process, the fake Live API included): when that nears a whole
core, the load generator is the limit, not the server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pymongo import MongoClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bench.quiet_gc import collector_paused
from voiceproject.embedded_db import EmbeddedMongo, free_port

ROOT = Path(__file__).resolve().parent.parent
UP_FRAME_S, DOWN_FRAME_S = 0.040, 0.020
UP_FRAME = np.random.default_rng(1).normal(0, 3000, 640).astype("<i2").tobytes()  # 40 ms @16k
DOWN_FRAME = np.random.default_rng(2).normal(0, 3000, 480).astype("<i2").tobytes()  # 20 ms @24k
WARM_UP_S = 2.0
RAMP_TIMEOUT_S = 60.0  # for all the calls to be up
LIVE_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


def stamped(frame: bytes) -> bytes:
    return struct.pack("<q", time.perf_counter_ns()) + frame[8:]


def age_ms(frame: bytes) -> float:
    return (time.perf_counter_ns() - struct.unpack_from("<q", frame)[0]) / 1e6


@dataclass
class Figures:
    """Frames count when they were *sent* inside the measured window (by the time stamped
    in them), whenever they arrive, so frames in flight at the window's edges are neither
    lost nor double counted."""

    up_ms: list[float] = field(default_factory=list)
    down_ms: list[float] = field(default_factory=list)
    up_sent: int = 0
    up_received: int = 0
    down_sent: int = 0
    down_received: int = 0
    window_ns: tuple[int, int] = (0, 0)

    def in_window(self, frame: bytes) -> bool:
        start, end = self.window_ns
        return start > 0 and start <= struct.unpack_from("<q", frame)[0] < (end or 2**63)


class LeanFake:
    """Just enough Live API for load: setupComplete, then agent audio every 20 ms."""

    def __init__(self, figures: Figures) -> None:
        self.figures = figures
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{LIVE_PATH}"

    def counts(self, setup: str | bytes) -> bool:
        """Whether the session this setup opens counts in `figures` (here: every one)."""
        return True

    async def session(self, ws: ServerConnection) -> None:
        counted = self.counts(await ws.recv())
        await ws.send(b'{"setupComplete":{}}')
        talker = asyncio.create_task(self.talk(ws, counted))
        try:
            async for message in ws:
                audio = json.loads(message).get("realtimeInput", {}).get("audio")
                if audio and counted:
                    pcm = base64.b64decode(audio["data"])
                    # A message may carry several caller frames (the bridge coalesces a
                    # backlog); each frame carries its own send time.
                    for start in range(0, len(pcm), len(UP_FRAME)):
                        frame = pcm[start : start + 8]
                        if self.figures.in_window(frame):
                            self.figures.up_received += 1
                            self.figures.up_ms.append(age_ms(frame))
        except ConnectionClosed:
            pass
        finally:
            talker.cancel()

    async def talk(self, ws: ServerConnection, counted: bool) -> None:
        next_at = time.perf_counter()
        while True:
            next_at += DOWN_FRAME_S
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            frame = stamped(DOWN_FRAME)
            message = (
                '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
                '{"mimeType":"audio/pcm;rate=24000","data":"'
                + base64.b64encode(frame).decode()
                + '"}}]}}}'
            )
            try:
                await ws.send(message.encode())
            except ConnectionClosed:
                return
            if counted and self.figures.in_window(frame):
                self.figures.down_sent += 1


async def speak(ws: ClientConnection, figures: Figures, going: Callable[[float], bool]) -> None:
    """A caller's time-stamped frames, one every UP_FRAME_S for as long as `going(due)` says
    of the time the last one was due (perf_counter's), counted in `figures` when sent inside
    its window."""
    due = time.perf_counter()
    while going(due):
        due += UP_FRAME_S
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        frame = stamped(UP_FRAME)
        await ws.send(frame)
        if figures.in_window(frame):
            figures.up_sent += 1


async def hear(ws: ClientConnection, figures: Figures) -> None:
    """The agent's time-stamped frames as they arrive, counted in `figures` when sent inside
    its window."""
    async for message in ws:
        if isinstance(message, bytes) and figures.in_window(message):
            figures.down_received += 1
            figures.down_ms.append(age_ms(message))


class Ramp:
    """The callers of one run coming up. The measured window starts WARM_UP_S after the last
    of them is up, not while calls are still being set up (a busy machine takes seconds for
    50), and a call refused fails the run: left out of the frames, it would still have been
    counted in the figures per call."""

    def __init__(self, calls: int) -> None:
        self.waiting = calls
        self.stop_at = float("inf")  # perf_counter's; set once all are up
        self._all_up = asyncio.Event()

    def up(self) -> None:
        self.waiting -= 1
        if self.waiting <= 0:
            self._all_up.set()

    async def all_up(self, callers: Sequence[asyncio.Task[None]]) -> None:
        """Until every caller is up; the first to fail before then fails the run, and so
        does a ramp longer than RAMP_TIMEOUT_S."""
        up = asyncio.create_task(self._all_up.wait())
        done, _ = await asyncio.wait(
            [up, *callers], timeout=RAMP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if up in done:
            return
        up.cancel()
        for task in done:
            task.result()  # the caller's error
        raise RuntimeError(f"{self.waiting} of {len(callers)} calls not up after "
                           f"{RAMP_TIMEOUT_S:.0f} s")  # fmt: skip


async def caller(url: str, origin: str, figures: Figures, ramp: Ramp) -> None:
    async with connect(url, additional_headers={"Origin": origin}, compression=None) as ws:
        while True:  # wait for `ready`
            message = await ws.recv()
            if isinstance(message, str) and json.loads(message)["type"] == "ready":
                break
        ramp.up()

        listener = asyncio.create_task(hear(ws, figures))
        await speak(ws, figures, lambda due: due < ramp.stop_at)
        await asyncio.sleep(1.0)  # let the frames in flight land
        listener.cancel()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on port {port}")


def summary(
    figures: Figures, cpu: float, seconds: float, calls: int, mem_per_call: float
) -> dict[str, float]:
    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    call_minutes = calls * seconds / 60
    result = {
        "up_p50": pct(figures.up_ms, 50), "up_p99": pct(figures.up_ms, 99),
        "down_p50": pct(figures.down_ms, 50), "down_p99": pct(figures.down_ms, 99),
        "up_lost": max(0, figures.up_sent - figures.up_received),
        "down_lost": max(0, figures.down_sent - figures.down_received),
        "cpu_per_call_min": cpu / call_minutes,
        "mem_mb_per_call": mem_per_call,
    }  # fmt: skip
    result["calls_per_core"] = 60 / result["cpu_per_call_min"] if result["cpu_per_call_min"] else 0
    return result


async def measure(
    server_url: str, origin: str, pids: Sequence[int], calls: int, seconds: float,
    figures: Figures, others: Sequence[int] = (),
) -> dict[str, float]:
    """Run `calls` callers against `server_url`; the server is the processes `pids` (their CPU
    and memory are summed); `others` (a balancer) are reported as `cpu_pid_<pid>` too."""
    with collector_paused():
        return await _measure(server_url, origin, pids, calls, seconds, figures, others)


async def _measure(
    server_url: str, origin: str, pids: Sequence[int], calls: int, seconds: float,
    figures: Figures, others: Sequence[int],
) -> dict[str, float]:
    idle_rss = sum(rss_mb(pid) for pid in pids)
    ramp, placed = Ramp(calls), time.perf_counter()
    tasks = [
        asyncio.create_task(caller(f"{server_url}?user_id={1 + n % 20}", origin, figures, ramp))
        for n in range(calls)
    ]
    try:
        await ramp.all_up(tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    print(f"  {calls} calls up after {time.perf_counter() - placed:.1f} s", flush=True)
    ramp.stop_at = time.perf_counter() + WARM_UP_S + seconds
    await asyncio.sleep(WARM_UP_S)
    figures.window_ns = (time.perf_counter_ns(), 0)
    cpu_before = {pid: cpu_seconds(pid) for pid in [*pids, *others]}
    own_before = time.process_time()
    await asyncio.sleep(seconds / 2)
    loaded_rss = sum(rss_mb(pid) for pid in pids)
    await asyncio.sleep(seconds / 2)
    figures.window_ns = (figures.window_ns[0], time.perf_counter_ns())
    cpu = {pid: cpu_seconds(pid) - before for pid, before in cpu_before.items()}
    own_cpu = time.process_time() - own_before
    failed = [
        error for error in await asyncio.gather(*tasks, return_exceptions=True)
        if isinstance(error, BaseException)
    ]  # fmt: skip
    if failed:  # its frames went uncounted, and the figures per call counted it
        raise RuntimeError(f"{len(failed)} of {calls} calls failed; the first: {failed[0]!r}")
    result = summary(
        figures, sum(cpu[pid] for pid in pids), seconds, calls, (loaded_rss - idle_rss) / calls
    )
    result["loadgen_core_share"] = own_cpu / seconds
    for pid, used in cpu.items():
        result[f"cpu_pid_{pid}"] = used / seconds
    return result


async def stop_server(
    server: subprocess.Popen[bytes], *, how: signal.Signals = signal.SIGTERM,
    timeout_s: float = 30.0,
) -> None:
    """Stop a server this bench started: SIGTERM drains (calls finishing their records,
    recordings their last writes); a busy machine may take a while, then it is killed.

    Waited for off the event loop: the fake Live API serves on this loop, and a server
    stopping closes its calls' upstream sessions. A loop held in a blocking wait answers none
    of those closes, so each call's teardown ran out its bounds and logged "task live did not
    stop when cancelled"."""
    server.send_signal(how)
    try:
        await asyncio.to_thread(server.wait, timeout_s)
    except subprocess.TimeoutExpired:
        server.kill()
        await asyncio.to_thread(server.wait, 10)


SERVER_LOG = Path(tempfile.gettempdir()) / "bench-voice-daphne.log"


def start_daphne(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """daphne on `port`, what it prints appended to SERVER_LOG (a pipe nobody reads would
    stall the server once full)."""
    with SERVER_LOG.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "voiceproject.asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=None,
                        help="through HAProxy and N daphne workers with Redis")  # fmt: skip
    parser.add_argument("--record", action="store_true",
                        help="daphne with RECORD_CALLS off, then on: what recording costs")
    parser.add_argument("--rounds", type=int, default=2,
                        help="with --record: how many times each (off and on alternate)")
    args = parser.parse_args()
    asyncio.run(bench(args.calls, args.seconds, args.workers, args.rounds if args.record else 0))


async def bench(
    calls: int, seconds: float, workers: int | None = None, record_rounds: int = 0
) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
        db = None
        uri = os.environ.get("MONGODB_URI")
        if not uri:
            db = EmbeddedMongo(Path(tmp) / "db")
            uri = db.start()
        try:
            figures = Figures()
            fake = LeanFake(figures)
            env = {
                **os.environ, "DEBUG": "True", "SECRET_KEY": "bench", "MONGODB_URI": uri,
                "MONGODB_DB": "bench_voice", "GEMINI_API_KEY": "bench-key",
                "GEMINI_LIVE_URL": fake.url, "VOICE_DEMO_MODE": "True", "LOG_LEVEL": "WARNING",
                # 50 calls share 20 demo customers: lift the per-customer limit.
                "VOICE_MAX_CALLS_PER_CUSTOMER": "100",
                "CALL_SUMMARY_MODEL": "",  # no summaries: Google cannot be reached from here
            }  # fmt: skip
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
            )
            with MongoClient[dict[str, Any]](uri) as client:
                customers = client["bench_voice"].customers
                for n in range(1, 21):
                    customers.update_one(
                        {"user_id": n},
                        {"$setOnInsert": {"name": f"Caller {n}", "phone": f"+9190000000{n:02d}",
                                          "wallet_balance": 0}},
                        upsert=True,
                    )  # fmt: skip
            async with serve(
                fake.session, "127.0.0.1", fake.port, compression=None, max_size=2**20
            ):
                if record_rounds:
                    db_pids = [db.process.pid] if db is not None and db.process else []
                    recorded = await with_and_without_recording(
                        env, fake, db_pids, calls, seconds, record_rounds
                    )
                elif workers is None:
                    results = await against_one_daphne_and_the_relay(
                        env, fake, figures, calls, seconds
                    )
                else:
                    run_dir = Path(tmp) / "workers"
                    result = await through_workers(env, workers, run_dir, figures, calls, seconds)
        finally:
            if db is not None:
                db.stop()
    if record_rounds:
        report_recording(recorded, calls, seconds)
    elif workers is None:
        report(results, calls)
    else:
        report_workers(result, calls, workers)


async def against_one_daphne_and_the_relay(
    env: dict[str, str], fake: LeanFake, figures: Figures, calls: int, seconds: float
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    port = free_port()
    daphne = start_daphne(env, port)
    try:
        await asyncio.to_thread(wait_for_port, port)
        print(f"bridge: {calls} calls x {seconds:.0f} s through daphne "
              f"(pid {daphne.pid}) ...", flush=True)  # fmt: skip
        results["bridge (daphne)"] = await measure(
            f"ws://127.0.0.1:{port}/ws/voice", f"http://127.0.0.1:{port}",
            [daphne.pid], calls, seconds, figures,
        )  # fmt: skip
    finally:
        await stop_server(daphne)

    figures_relay = Figures()
    fake.figures = figures_relay
    relay_port = free_port()
    relay = subprocess.Popen(
        [sys.executable, "-m", "bench.minimal_relay",
         "--port", str(relay_port), "--upstream", fake.url],
        cwd=ROOT,
    )  # fmt: skip
    try:
        await asyncio.to_thread(wait_for_port, relay_port)
        print(f"minimal relay: the same load (pid {relay.pid}) ...", flush=True)
        results["minimal relay"] = await measure(
            f"ws://127.0.0.1:{relay_port}/", "http://127.0.0.1", [relay.pid],
            calls, seconds, figures_relay,
        )  # fmt: skip
    finally:
        await stop_server(relay)
    return results


async def with_and_without_recording(
    env: dict[str, str], fake: LeanFake, db_pids: list[int], calls: int, seconds: float,
    rounds: int,
) -> dict[bool, list[dict[str, float]]]:
    """The bridge on one daphne, RECORD_CALLS off then on, `rounds` times; the database's CPU
    (`db_pids`, when it is the embedded one) as `cpu_pid_<pid>`."""
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for round_ in range(rounds):
        for record in (False, True):
            figures = Figures()
            fake.figures = figures
            port = free_port()
            daphne = start_daphne({**env, "RECORD_CALLS": str(record)}, port)
            try:
                await asyncio.to_thread(wait_for_port, port)
                print(f"round {round_ + 1}/{rounds}: {calls} calls x {seconds:.0f} s, "
                      f"recording {'on' if record else 'off'} (pid {daphne.pid}) ...",
                      flush=True)  # fmt: skip
                result = await measure(
                    f"ws://127.0.0.1:{port}/ws/voice", f"http://127.0.0.1:{port}",
                    [daphne.pid], calls, seconds, figures, others=db_pids,
                )  # fmt: skip
                result.pop(f"cpu_pid_{daphne.pid}")  # the rest is the database's
                results[record].append(result)
                print(f"  server {result['cpu_per_call_min']:.3f} CPU-s per call-minute, "
                      f"p99 up/down {result['up_p99']:.1f}/{result['down_p99']:.1f} ms, "
                      f"lost {result['up_lost'] + result['down_lost']:.0f}", flush=True)
            finally:
                await stop_server(daphne)
    return results


def report_recording(
    results: dict[bool, list[dict[str, float]]], calls: int, seconds: float
) -> None:
    def cpu(result: dict[str, float]) -> float:
        return result["cpu_per_call_min"]

    def db_cpu(result: dict[str, float]) -> float:
        # The database's CPU-s per call-minute (its share of a core over the window).
        shares = [v for k, v in result.items() if k.startswith("cpu_pid_")]
        return sum(shares) * seconds / (calls * seconds / 60)

    off, on = results[False], results[True]
    print(f"\n{calls} browser calls through one daphne, {seconds:.0f} s each run, "
          "RECORD_CALLS off / on (runs alternate)")  # fmt: skip
    rows = [
        ("server CPU-s per call-minute", [cpu(r) for r in off], [cpu(r) for r in on]),
        ("database CPU-s per call-minute", [db_cpu(r) for r in off], [db_cpu(r) for r in on]),
        ("uplink p99 ms", [r["up_p99"] for r in off], [r["up_p99"] for r in on]),
        ("downlink p99 ms", [r["down_p99"] for r in off], [r["down_p99"] for r in on]),
        ("frames lost", [r["up_lost"] + r["down_lost"] for r in off],
         [r["up_lost"] + r["down_lost"] for r in on]),
        ("load generator, share of a core", [r["loadgen_core_share"] for r in off],
         [r["loadgen_core_share"] for r in on]),
    ]  # fmt: skip
    print(f"{'':34}{'off':>22}{'on':>22}")
    for label, a, b in rows:
        print(f"{label:34}{' / '.join(f'{v:.3f}' for v in a):>22}"
              f"{' / '.join(f'{v:.3f}' for v in b):>22}")  # fmt: skip
    server_off = sum(cpu(r) for r in off) / len(off)
    server_on = sum(cpu(r) for r in on) / len(on)
    added = server_on / server_off - 1
    print(f"\nrecording adds {server_on - server_off:.3f} CPU-s per call-minute to the server "
          f"({added:+.0%}; means of the runs)")  # fmt: skip
    print(f"  {'PASS' if added < 0.15 else 'MISS'}  under 15% more server CPU per call-minute")


async def through_workers(
    env: dict[str, str], workers: int, run_dir: Path, figures: Figures, calls: int,
    seconds: float,
) -> dict[str, Any]:
    """The same calls through `python -m voiceproject.workers` (its own throwaway Redis)."""
    port = free_port()
    env = {k: v for k, v in env.items() if k not in ("REDIS_URL", "CHANNEL_LAYERS_URL")}
    run_dir.mkdir(parents=True)
    log = run_dir / "command.log"
    with log.open("wb") as output:
        command = subprocess.Popen(
            [sys.executable, "-m", "voiceproject.workers", "--workers", str(workers),
             "--port", str(port), "--run-dir", str(run_dir)],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        state = await asyncio.to_thread(wait_for_workers, run_dir / "workers.json", command, log)
        pids = [worker["pid"] for worker in state["workers"]]
        balancer = state["balancer"]["pid"]
        print(f"{calls} calls x {seconds:.0f} s through HAProxy (pid {balancer}) and {workers} "
              f"worker(s) (pids {', '.join(map(str, pids))}) ...", flush=True)  # fmt: skip
        result: dict[str, Any] = dict(
            await measure(
                f"ws://127.0.0.1:{port}/ws/voice", f"http://127.0.0.1:{port}",
                pids, calls, seconds, figures, others=[balancer],
            )  # fmt: skip
        )
        result["worker_core_shares"] = [result.pop(f"cpu_pid_{pid}") for pid in pids]
        result["balancer_core_share"] = result.pop(f"cpu_pid_{balancer}")
        return result
    finally:
        await stop_server(command, how=signal.SIGINT, timeout_s=60)


def wait_for_workers(
    state_file: Path, command: subprocess.Popen[bytes], log: Path
) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if command.poll() is not None:
            raise RuntimeError(f"the workers command exited:\n{log.read_text()}")
        if state_file.exists():
            return dict(json.loads(state_file.read_text()))
        time.sleep(0.2)
    raise RuntimeError("the workers did not start within 120 s")


def report(results: dict[str, dict[str, float]], calls: int) -> None:
    rows = [
        ("uplink p50 ms", "up_p50"), ("uplink p99 ms", "up_p99"),
        ("downlink p50 ms", "down_p50"), ("downlink p99 ms", "down_p99"),
        ("uplink frames lost", "up_lost"), ("downlink frames lost", "down_lost"),
        ("server CPU s per call-minute", "cpu_per_call_min"), ("calls per core", "calls_per_core"),
        ("memory MB per call", "mem_mb_per_call"),
    ]  # fmt: skip
    bridge, relay = results["bridge (daphne)"], results["minimal relay"]
    print(f"\n{calls} simulated browser calls, 40 ms frames up, 20 ms frames down")
    print(f"{'':32}{'bridge':>12}{'minimal relay':>16}{'ratio':>10}")
    for label, key in rows:
        ratio = bridge[key] / relay[key] if relay[key] else float("nan")
        print(f"{label:32}{bridge[key]:>12.2f}{relay[key]:>16.2f}{ratio:>10.2f}")
    goals = [
        ("p99 under 30 ms each way", bridge["up_p99"] < 30 and bridge["down_p99"] < 30),
        ("no frame lost", bridge["up_lost"] == 0 and bridge["down_lost"] == 0),
        ("CPU at most 1.5x the minimal relay",
         bridge["cpu_per_call_min"] <= 1.5 * relay["cpu_per_call_min"]),
        ("100 calls per core (0.6 CPU-s per call-minute)", bridge["cpu_per_call_min"] <= 0.6),
        ("under 1 MB per call", bridge["mem_mb_per_call"] < 1.0),
    ]  # fmt: skip
    print()
    for goal, met in goals:
        print(f"  {'PASS' if met else 'MISS'}  {goal}")


def report_workers(result: dict[str, Any], calls: int, workers: int) -> None:
    shares = result["worker_core_shares"]
    print(f"\n{calls} simulated browser calls through HAProxy and {workers} worker(s), "
          "40 ms frames up, 20 ms frames down")  # fmt: skip
    rows = [
        ("uplink p50 / p99 ms", f"{result['up_p50']:.2f} / {result['up_p99']:.2f}"),
        ("downlink p50 / p99 ms", f"{result['down_p50']:.2f} / {result['down_p99']:.2f}"),
        ("frames lost up / down", f"{result['up_lost']:.0f} / {result['down_lost']:.0f}"),
        ("workers' CPU-s per call-minute", f"{result['cpu_per_call_min']:.3f}"),
        ("calls per core (workers)", f"{result['calls_per_core']:.0f}"),
        ("each worker, share of a core", " / ".join(f"{s:.0%}" for s in shares)),
        ("HAProxy, share of a core", f"{result['balancer_core_share']:.0%}"),
        ("load generator + fake Live API", f"{result['loadgen_core_share']:.0%} of a core"),
        ("workers' memory MB per call", f"{result['mem_mb_per_call']:.2f}"),
    ]  # fmt: skip
    for label, value in rows:
        print(f"  {label:34}{value}")
    goals = [
        ("p99 under 30 ms each way", result["up_p99"] < 30 and result["down_p99"] < 30),
        ("no frame lost", result["up_lost"] == 0 and result["down_lost"] == 0),
        ("the load generator is not the limit (under 80% of a core)",
         result["loadgen_core_share"] < 0.8),
    ]  # fmt: skip
    print()
    for goal, met in goals:
        print(f"  {'PASS' if met else 'MISS'}  {goal}")


if __name__ == "__main__":
    main()
