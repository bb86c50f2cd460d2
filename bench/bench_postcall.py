"""What the after-the-call work costs on the audio path, per 20 ms frame.

    .venv/bin/python -m bench.bench_postcall

- The speech detector (postcall/speech.py) on caller frames: speech, room noise and silence,
  median µs per 20 ms frame of 16 kHz PCM16 (goal: under 5 µs).
- The recorder (postcall/recording.py) without the database: CPU-s per call-minute of laying
  both sides on the timeline (a caller frame every 40 ms, an agent chunk every 20 ms) and of
  encoding what settled to Ogg Opus every FLUSH_INTERVAL_S.
- The recordings' writes (postcall/store.py) on an embedded database: 50 recordings written
  every FLUSH_INTERVAL_S for 20 s, each at its own moment, CPU-s per call-minute of this process
  and of the database, sent as one bulk write per recording, then gathered by `ChunkWrites`.
  The whole server, writes included, is measured by `bench.bench_voice --record`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.bench_tools import setup_django
from bench.bench_voice import cpu_seconds
from postcall.recording import FLUSH_INTERVAL_S, SETTLE_S, OggOpusEncoder, Timeline, flush_phase
from postcall.speech import SpeechDetector

GOAL_DETECTOR_US = 5.0
FRAME_SAMPLES = 320  # 20 ms at 16 kHz
FRAMES = 20_000
REPEATS = 7


def frames(kind: str) -> list[bytes]:
    rng = np.random.default_rng(1)
    if kind == "silence":
        block = np.zeros(FRAME_SAMPLES * FRAMES)
    elif kind == "room noise":
        block = rng.normal(0, 30, FRAME_SAMPLES * FRAMES)
    else:  # bursts of loud noise shaped like words and pauses
        t = np.arange(FRAME_SAMPLES * FRAMES) / 16_000
        block = rng.normal(0, 3000, len(t)) * (np.sin(2 * np.pi * 2 * t) > -0.3)
    pcm = block.astype("<i2").tobytes()
    step = FRAME_SAMPLES * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def detector_us(chunks: list[bytes]) -> float:
    runs = []
    for _ in range(REPEATS):
        detector = SpeechDetector()
        feed = detector.feed
        start = time.perf_counter()
        at = 0.0
        for chunk in chunks:
            at += 0.02
            feed(chunk, at)
        runs.append((time.perf_counter() - start) / len(chunks) * 1e6)
    return statistics.median(runs)


def recorder_cpu(minutes: float = 1.0) -> tuple[float, float]:
    """(placing, encoding) CPU-s for `minutes` of a call, as the call session feeds them."""
    caller = frames("speech")[0] * 2  # a 40 ms frame
    agent = np.random.default_rng(2).normal(0, 3000, 480).astype("<i2").tobytes()  # 20 ms
    timeline, encoder = Timeline(t0=0.0), OggOpusEncoder()
    placing = encoding = 0.0
    steps = round(FLUSH_INTERVAL_S / 0.02)  # 20 ms steps between two flushes
    for flush in range(1, int(minutes * 60 / FLUSH_INTERVAL_S) + 1):
        start = time.process_time()
        for step in range(steps):
            at = (flush - 1) * FLUSH_INTERVAL_S + (step + 1) * 0.02
            timeline.agent(agent, at)
            if step % 2:
                timeline.customer(caller, at)
        placing += time.process_time() - start
        start = time.process_time()
        encoder.encode(*timeline.settled(flush * FLUSH_INTERVAL_S - SETTLE_S))
        encoding += time.process_time() - start
    encoder.finish()
    return placing / minutes, encoding / minutes


WRITERS = 50
WRITE_S = 20.0
OPUS_BYTES_PER_S = 4_000  # 32 kbit/s


async def writes_cpu(db_pid: int, *, gathered: bool) -> tuple[float, float]:
    """(this process, the database) CPU-s per call-minute of WRITERS recordings written for
    WRITE_S, each every FLUSH_INTERVAL_S at its own moment. Not `gathered`: the batching
    window is 0 and no two writes fall in one turn of the loop, so each goes alone."""
    from postcall import store
    from support import mongo

    store.BATCH_WINDOW_S = 0.1 if gathered else 0.0
    writers = [store.RecordingWriter(f"CALL-{gathered}-{n:04d}") for n in range(WRITERS)]
    for writer in writers:
        await writer.open()
    data = bytes(int(OPUS_BYTES_PER_S * FLUSH_INTERVAL_S))

    async def record(writer: store.RecordingWriter) -> None:
        await asyncio.sleep(flush_phase(writer.call_id))
        for _ in range(int(WRITE_S / FLUSH_INTERVAL_S)):
            await asyncio.sleep(FLUSH_INTERVAL_S)
            await writer.append(data)

    start, db_start = time.process_time(), cpu_seconds(db_pid)
    await asyncio.gather(*(record(writer) for writer in writers))
    spent, db_spent = time.process_time() - start, cpu_seconds(db_pid) - db_start
    await mongo.close_async_client()
    minutes = WRITERS * WRITE_S / 60
    return spent / minutes, db_spent / minutes


def report_writes() -> None:
    from voiceproject.embedded_db import EmbeddedMongo

    print(f"\nrecordings' writes, {WRITERS} recordings for {WRITE_S:.0f} s, CPU-s per "
          "call-minute (this process / the database)")  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="bench-postcall-") as tmp,
        EmbeddedMongo(Path(tmp) / "data") as server,
    ):
        setup_django(server.uri)
        assert server.process is not None
        for gathered in (False, True, False, True):
            mine, db = asyncio.run(writes_cpu(server.process.pid, gathered=gathered))
            how = "gathered (ChunkWrites)     " if gathered else "one bulk write a recording"
            print(f"  {how}  {mine:.4f} / {db:.4f}")


def main() -> None:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()  # no options: --help says what it measures
    print("speech detector, µs per 20 ms frame (median of", REPEATS, "runs of", FRAMES, "frames)")
    worst = 0.0
    for kind in ("speech", "room noise", "silence"):
        us = detector_us(frames(kind))
        worst = max(worst, us)
        print(f"  {kind:12} {us:6.2f}")
    verdict = "PASS" if worst < GOAL_DETECTOR_US else "MISS"
    print(f"  {verdict}  under {GOAL_DETECTOR_US:g} µs per frame")
    runs = [recorder_cpu() for _ in range(3)]
    placing, encoding = (min(run[i] for run in runs) for i in (0, 1))
    print("\nrecorder without the database, CPU-s per call-minute (best of 3 minutes)")
    print(f"  placing both sides on the timeline   {placing:.3f}")
    print(f"  encoding stereo Ogg Opus, 16 kHz      {encoding:.3f}")
    report_writes()


if __name__ == "__main__":
    main()
