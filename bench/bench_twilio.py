"""Benchmark simulated phone calls through a real daphne and print the figures.

Run: ``.venv/bin/python -m bench.bench_twilio [--calls 50] [--seconds 25]``. Not a test:
the figures depend on the machine.

The same load runs twice: through the product, then through bench.minimal_twilio_relay (a bare
ASGI relay doing the same transcoding on the same daphne, and nothing else), and the ratios
are printed: the relay is the floor this server stack reaches, the ratio what the product's
own plumbing (Channels, session, pacing, records) costs on top.

What runs where:

- daphne, a subprocess serving ``voiceproject.asgi:application`` on a free port, with an
  embedded SecantusDB (voiceproject.embedded_db) and these settings: Twilio signatures on,
  ``GEMINI_LIVE_URL`` pointing at ...
- ... the fake Live API (realtime/tests/fake_live.py), running in this process;
- N phones in this process, each doing what Twilio does: the signed webhook, the signed
  stream upgrade, then ``media`` frames of 160 µ-law bytes every 20 ms, echoing marks.

Both directions stream at once for the whole call. Latency is measured inside the audio:
every 10th 20 ms frame starts with a 10 ms tone burst, silence elsewhere. A phone notes when
it sends frame 10j; the fake notes when the 16 kHz sample where that burst must start has
arrived (and checks the burst is there). The fake sends 24 kHz speech the same way and a
phone notes when the 8 kHz frame carrying the burst arrives. Both clocks are this process's
``time.monotonic``, so the figures include this process's own scheduling delay (printed as
"bench loop lag": when it is large, the bench, not the server, is the bottleneck).

Frames lost: inbound, 16 kHz audio the fake did not receive (in 20 ms frames); outbound,
8 kHz frames the phone did not receive. Server CPU: user + system time of the daphne process
from /proc/<pid>/stat over the window in which all calls are up, per call-minute.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pymongo import MongoClient
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.bench_voice import stop_server
from bench.quiet_gc import collector_paused
from realtime.audio import ulaw_decode, ulaw_encode
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from voiceproject.embedded_db import EmbeddedMongo, free_port

GOAL_P99_MS = 30.0
AIM_CALLS_PER_CORE = 100
PRODUCT = "voiceproject.asgi:application"
RELAY = "bench.minimal_twilio_relay:application"
SETTLE_S = 2.0
AUTH_TOKEN = "bench-twilio-auth-token"
PUBLIC_HOST = "voice.bench.example"
FRAME_S = 0.020
MARK_EVERY = 10  # frames: a burst every 200 ms
TURN_FRAMES = 150  # the fake ends a turn (a mark comes back) every 3 s
THRESHOLD = 3000  # a burst sample; silence decodes to 0
TONE_HZ = 1000.0
AMPLITUDE = 12000.0
ROOT = Path(__file__).resolve().parent.parent
# Kept for a look afterwards, one per server: the bare relay's run wrote over the product's.
DAPHNE_LOGS = {
    PRODUCT: Path(tempfile.gettempdir()) / "bench_twilio_daphne.log",
    RELAY: Path(tempfile.gettempdir()) / "bench_twilio_daphne_relay.log",
}

Samples = npt.NDArray[np.int16]


def _burst_frame(rate: int) -> Samples:
    """20 ms at `rate` whose first 10 ms are a tone burst."""
    n = rate // 50
    t = np.arange(n // 2) / rate
    frame = np.zeros(n)
    frame[: n // 2] = AMPLITUDE * np.sin(2 * np.pi * TONE_HZ * t) * np.hanning(n // 2) ** 0.25
    return np.rint(frame).astype(np.int16)


ULAW_MARKED = ulaw_encode(_burst_frame(8000))
ULAW_SILENT = ulaw_encode(np.zeros(160, np.int16))
PCM24_MARKED = _burst_frame(24000).astype("<i2").tobytes()
PCM24_SILENT = bytes(960)


@dataclass
class Call:
    """One simulated phone call and what both ends observed."""

    index: int
    phone: str
    sent_at: list[float] = field(default_factory=list)  # phone: media frame k sent
    arrivals: list[tuple[int, float]] = field(default_factory=list)  # fake: (16k samples so far, t)
    fake_sent_at: list[float] = field(default_factory=list)  # fake: 24k chunk k sent
    received_at: list[float] = field(default_factory=list)  # phone: media frame k arrived
    received: list[bytes] = field(default_factory=list)
    inbound_audio: bytearray = field(default_factory=bytearray)
    marks_echoed: int = 0
    closed_early: str = ""


class Bench:
    def __init__(self, calls: int, seconds: float, app: str, profile: str = "") -> None:
        self.app = app
        self.profile = profile
        self.calls = [Call(i, f"+9198{i:08d}") for i in range(calls)]
        self.seconds = seconds
        self.stop_at = float("inf")
        self.port = free_port()
        self.validator = RequestValidator(AUTH_TOKEN)

    # --- the fake Live API's side of each call -----------------------------------------------

    async def agent(self, session: FakeSession) -> None:
        call = self.calls[session.index]  # calls are placed one after another
        await asyncio.gather(self._listen(session, call), self._speak(session, call))

    async def _listen(self, session: FakeSession, call: Call) -> None:
        seen = 0
        while not session.closed:
            try:
                await session.wait_for(
                    lambda: len(session.audio_chunks) > seen, "audio", timeout=1.0  # noqa: B023  (awaited in this iteration)
                )
            except AssertionError:  # closed, or nothing within the timeout: look again
                continue
            now = time.monotonic()
            for chunk in session.audio_chunks[seen:]:
                call.inbound_audio += chunk
            seen = len(session.audio_chunks)
            call.arrivals.append((len(call.inbound_audio) // 2, now))

    async def _speak(self, session: FakeSession, call: Call) -> None:
        started = time.monotonic()
        k = 0
        while time.monotonic() < self.stop_at:
            pcm = PCM24_MARKED if k % MARK_EVERY == 0 else PCM24_SILENT
            data = base64.b64encode(pcm).decode()
            part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}
            call.fake_sent_at.append(time.monotonic())
            await session.send({"serverContent": {"modelTurn": {"parts": [part]}}})
            k += 1
            if k % TURN_FRAMES == 0:
                await session.send_turn_complete()
            await asyncio.sleep(max(0.0, started + k * FRAME_S - time.monotonic()))
        await session.send_turn_complete()

    # --- the phone (Twilio's side) -------------------------------------------------------------

    async def place(self, call: Call) -> ClientConnection:
        call_sid = f"CA{call.index:032d}"
        token = await asyncio.to_thread(self._webhook, call_sid, call.phone)
        stream_url = f"wss://{PUBLIC_HOST}/ws/twilio"
        ws = await connect(
            f"ws://127.0.0.1:{self.port}/ws/twilio",
            additional_headers={
                "X-Twilio-Signature": self.validator.compute_signature(stream_url, {})
            },
            ping_interval=None,
        )
        stream_sid = f"MZ{call.index:032d}"
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({
            "event": "start", "sequenceNumber": "1", "streamSid": stream_sid,
            "start": {
                "accountSid": "AC" + "0" * 32, "streamSid": stream_sid, "callSid": call_sid,
                "tracks": ["inbound"], "customParameters": {"token": token},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }))
        return ws

    def _webhook(self, call_sid: str, phone: str) -> str:
        form = {"CallSid": call_sid, "From": phone, "To": "+918000000000"}
        signature = self.validator.compute_signature(f"https://{PUBLIC_HOST}/twilio/voice", form)
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/twilio/voice",
            data=urllib.parse.urlencode(form).encode(),
            headers={"X-Twilio-Signature": signature},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            twiml = response.read().decode()
        return twiml.split('name="token" value="')[1].split('"')[0]

    async def talk(self, call: Call, ws: ClientConnection) -> None:
        listener = asyncio.create_task(self._hear(call, ws))
        try:
            await self._talk(call, ws)
        except ConnectionClosed as closed:
            call.closed_early = call.closed_early or str(closed)
        await asyncio.gather(listener, return_exceptions=True)
        await ws.close()

    async def _talk(self, call: Call, ws: ClientConnection) -> None:
        stream_sid = f"MZ{call.index:032d}"
        started = time.monotonic()
        k = 0
        while time.monotonic() < self.stop_at:
            payload = ULAW_MARKED if k % MARK_EVERY == 0 else ULAW_SILENT
            message = json.dumps({
                "event": "media", "sequenceNumber": str(k + 2), "streamSid": stream_sid,
                "media": {"track": "inbound", "chunk": str(k + 1), "timestamp": str(k * 20),
                          "payload": base64.b64encode(payload).decode()},
            })
            call.sent_at.append(time.monotonic())
            await ws.send(message)
            k += 1
            await asyncio.sleep(max(0.0, started + k * FRAME_S - time.monotonic()))
        await asyncio.sleep(1.0)  # let the last frames arrive both ways
        await ws.send(json.dumps({
            "event": "stop", "sequenceNumber": str(k + 2), "streamSid": stream_sid,
            "stop": {"accountSid": "AC" + "0" * 32, "callSid": f"CA{call.index:032d}"},
        }))

    async def _hear(self, call: Call, ws: ClientConnection) -> None:
        try:
            async for text in ws:
                now = time.monotonic()
                message = json.loads(text)
                if message["event"] == "media":
                    call.received.append(base64.b64decode(message["media"]["payload"]))
                    call.received_at.append(now)
                elif message["event"] == "mark":
                    call.marks_echoed += 1
                    await ws.send(json.dumps({
                        "event": "mark", "sequenceNumber": "0", "streamSid": message["streamSid"],
                        "mark": message["mark"],
                    }))
        except ConnectionClosed as closed:
            if time.monotonic() < self.stop_at:
                call.closed_early = str(closed)

    # --- the run -----------------------------------------------------------------------------

    async def run(self) -> dict[str, float]:
        with tempfile.TemporaryDirectory(prefix="bench-twilio-") as tmp:
            db = EmbeddedMongo(Path(tmp) / "db")
            uri = db.start()
            try:
                self._seed(uri)
                async with FakeLiveServer() as fake:
                    fake.on_session(self.agent)
                    daphne = self._start_daphne(uri, fake.url, DAPHNE_LOGS[self.app])
                    try:
                        await self._wait_until_serving(daphne)
                        return await self._calls(fake, daphne.pid)
                    finally:
                        await stop_server(daphne, how=signal.SIGINT, timeout_s=20)
            finally:
                db.stop()

    def _seed(self, uri: str) -> None:
        client: MongoClient[dict[str, Any]] = MongoClient(uri)
        with client:
            client["voice_support"].customers.insert_many([
                {"user_id": 90000 + c.index, "name": f"Caller{c.index} Bench", "phone": c.phone,
                 "email": f"caller{c.index}@bench.example", "wallet_balance": 0}
                for c in self.calls
            ])

    def _start_daphne(self, uri: str, live_url: str, log_path: Path) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "voiceproject.settings",
            "MONGODB_URI": uri, "MONGODB_DB": "voice_support",
            "SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "False",
            "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "False",
            "GEMINI_API_KEY": "test-key", "GEMINI_LIVE_URL": live_url,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": f"https://{PUBLIC_HOST}",
            "TWILIO_ESCALATION_NUMBER": "", "LOG_LEVEL": "WARNING",
        }
        log = open(log_path, "wb")  # noqa: SIM115  (kept open for the child's lifetime)
        self.daphne_log = log_path
        return subprocess.Popen(
            [sys.executable, *(["-m", "cProfile", "-o", self.profile] if self.profile else []),
             "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), self.app],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )

    async def _wait_until_serving(self, daphne: subprocess.Popen[bytes]) -> None:
        for _ in range(300):
            if daphne.poll() is not None:
                raise SystemExit(f"daphne exited; see {self.daphne_log}")
            try:
                await asyncio.to_thread(
                    urllib.request.urlopen, f"http://127.0.0.1:{self.port}/healthz", timeout=1
                )
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise SystemExit("daphne did not start within 30 s")

    async def _calls(self, fake: FakeLiveServer, pid: int) -> dict[str, float]:
        with collector_paused():
            return await self._place_and_measure(fake, pid)

    async def _place_and_measure(self, fake: FakeLiveServer, pid: int) -> dict[str, float]:
        lag = LoopLag()
        lag_task = asyncio.create_task(lag.run())
        talking = []
        ramp_started = time.monotonic()
        for call in self.calls:
            ws = await self.place(call)
            await fake.wait_for_session(call.index, timeout=10)
            talking.append(asyncio.create_task(self.talk(call, ws)))
        await asyncio.sleep(SETTLE_S)  # first-call warm-up (imports, templates) is not the load
        window_start = time.monotonic()
        self.stop_at = window_start + self.seconds
        ramp_s = window_start - ramp_started - SETTLE_S
        print(f"{self.app}: {len(self.calls)} calls up after {ramp_s:.1f} s; "
              f"measuring for {self.seconds:.0f} s ...", flush=True)
        cpu_start = cpu_seconds(pid)
        lag.reset()
        await asyncio.sleep(self.seconds)
        cpu = cpu_seconds(pid) - cpu_start
        loop_lag = lag.percentile(99)
        await asyncio.gather(*talking)
        lag_task.cancel()
        return self.report(window_start, cpu, loop_lag)

    # --- figures ----------------------------------------------------------------------------

    def report(self, window_start: float, cpu: float, loop_lag_ms: float) -> dict[str, float]:
        inbound, outbound = [], []
        lost_in = lost_out = missing_in = missing_out = 0
        early = [c for c in self.calls if c.closed_early]
        for call in self.calls:
            latencies, lost, missing = inbound_latencies(call, window_start, self.stop_at)
            inbound += latencies
            lost_in += lost
            missing_in += missing
            latencies, lost, missing = outbound_latencies(call, window_start, self.stop_at)
            outbound += latencies
            lost_out += lost
            missing_out += missing
        call_minutes = len(self.calls) * self.seconds / 60
        sent_in = sum(len(c.sent_at) for c in self.calls)
        sent_out = sum(len(c.fake_sent_at) for c in self.calls)
        print()
        print(f"Phone calls through daphne ({self.app}): {len(self.calls)} calls, "
              f"{self.seconds:.0f} s measured, 20 ms frames both ways")
        print(f"  {'':28}{'p50':>9}{'p99':>9}{'max':>9}   samples   "
              f"goal p99 < {GOAL_P99_MS:.0f} ms")
        for name, values in (("in  (Twilio -> Live API)", inbound),
                             ("out (Live API -> Twilio)", outbound)):
            p50, p99, top = (percentile(values, q) for q in (50, 99, 100))
            verdict = "ok" if p99 < GOAL_P99_MS else "MISSED"
            print(f"  {name:28}{p50:7.1f}ms{p99:7.1f}ms{top:7.1f}ms   {len(values):7d}   {verdict}")
        print(f"  frames lost in:  {lost_in} of {sent_in}  (bursts missing: {missing_in})")
        print(f"  frames lost out: {lost_out} of {sent_out}  (bursts missing: {missing_out})")
        print(f"  marks echoed:    {sum(c.marks_echoed for c in self.calls)}")
        print(f"  server CPU:      {cpu:.2f} s over {self.seconds:.0f} s = "
              f"{cpu / call_minutes:.2f} CPU-s per call-minute "
              f"({100 * cpu / self.seconds:.0f}% of one core; "
              f"~{len(self.calls) * self.seconds / cpu:.0f} calls per core)")
        print(f"  bench loop lag:  p99 {loop_lag_ms:.1f} ms (this process's own delay, "
              "included in the latencies)")
        if early:
            print(f"  CALLS CLOSED EARLY: {len(early)}: {early[0].closed_early}")
        return {
            "in_p99": percentile(inbound, 99), "out_p99": percentile(outbound, 99),
            "lost": lost_in + lost_out, "cpu_per_call_min": cpu / call_minutes,
        }  # fmt: skip


def inbound_latencies(call: Call, start: float, stop: float) -> tuple[list[float], int, int]:
    """Per burst in the window: when the fake had it minus when the phone sent it (ms)."""
    audio = np.frombuffer(bytes(call.inbound_audio), "<i2")
    lost = max(0, len(call.sent_at) - len(audio) // 320)
    ends = np.array([n for n, _ in call.arrivals])
    times = [t for _, t in call.arrivals]
    latencies, missing = [], 0
    for k in range(0, len(call.sent_at), MARK_EVERY):
        onset = k * 320 + 48  # 16 kHz: two samples per 8 kHz sample, ~1.8 ms filter delay
        if onset + 64 > len(audio):
            missing += 1
            continue
        if np.abs(audio[onset : onset + 64]).max() < THRESHOLD:
            missing += 1
            continue
        arrived = times[int(np.searchsorted(ends, onset + 1))]
        if start <= call.sent_at[k] < stop:
            latencies.append((arrived - call.sent_at[k]) * 1000)
    return latencies, lost, missing


def outbound_latencies(call: Call, start: float, stop: float) -> tuple[list[float], int, int]:
    """Per burst in the window: when the phone had it minus when the fake sent it (ms)."""
    lost = max(0, len(call.fake_sent_at) - len(call.received))
    latencies, missing = [], 0
    for k in range(0, len(call.fake_sent_at), MARK_EVERY):
        # 24 kHz chunks of 480 samples become 8 kHz frames of 160: frame k carries chunk k.
        if k >= len(call.received):
            missing += 1
            continue
        if np.abs(ulaw_decode(call.received[k])[8:40]).max() < THRESHOLD:
            missing += 1
            continue
        if start <= call.fake_sent_at[k] < stop:
            latencies.append((call.received_at[k] - call.fake_sent_at[k]) * 1000)
    return latencies, lost, missing


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LoopLag:
    """How late this event loop wakes a 10 ms sleeper: the bench's own share of latency."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            self.samples.append((time.monotonic() - before - 0.01) * 1000)

    def reset(self) -> None:
        self.samples.clear()

    def percentile(self, q: float) -> float:
        return percentile(self.samples, q) if self.samples else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="simultaneous calls (50)")
    parser.add_argument("--seconds", type=float, default=25.0, help="measured window (25)")
    parser.add_argument("--profile", default="", help="write the server's cProfile stats here")
    args = parser.parse_args()
    product = asyncio.run(Bench(args.calls, args.seconds, PRODUCT, args.profile).run())
    relay = asyncio.run(Bench(args.calls, args.seconds, RELAY).run())
    compare(product, relay, args.calls)


def compare(product: dict[str, float], relay: dict[str, float], calls: int) -> None:
    print(f"\n{calls} phone calls: the product against the bare relay on the same daphne")
    print(f"  {'':30}{'product':>10}{'bare relay':>12}{'ratio':>8}")
    for label, key in (("in p99 ms", "in_p99"), ("out p99 ms", "out_p99"),
                       ("frames lost", "lost"), ("CPU-s per call-minute", "cpu_per_call_min")):
        ratio = product[key] / relay[key] if relay[key] else float("nan")
        print(f"  {label:30}{product[key]:>10.2f}{relay[key]:>12.2f}{ratio:>8.2f}")
    for label, figures in (("product", product), ("bare relay", relay)):
        print(f"  calls per core, {label}: ~{60 / figures['cpu_per_call_min']:.0f} "
              f"(aim: {AIM_CALLS_PER_CORE})")


if __name__ == "__main__":
    main()
