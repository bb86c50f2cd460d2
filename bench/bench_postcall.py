"""What the after-the-call work costs on the audio path, per 20 ms frame.

    .venv/bin/python -m bench.bench_postcall

- The speech detector (postcall/speech.py) on caller frames: speech, room noise and silence,
  median µs per 20 ms frame of 16 kHz PCM16 (goal: under 5 µs).
- The recorder (postcall/recording.py) without the database: CPU-s per call-minute of laying
  both sides on the timeline (a caller frame every 40 ms, an agent chunk every 20 ms) and of
  encoding each settled second to Ogg Opus. The whole server, writes included, is measured by
  `bench.bench_voice --record`.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from postcall.recording import OggOpusEncoder, Timeline
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
    for second in range(1, int(minutes * 60) + 1):
        start = time.process_time()
        for step in range(50):
            at = second - 1 + (step + 1) * 0.02
            timeline.agent(agent, at)
            if step % 2:
                timeline.customer(caller, at)
        placing += time.process_time() - start
        start = time.process_time()
        encoder.encode(*timeline.settled(second - 0.5))
        encoding += time.process_time() - start
    encoder.finish()
    return placing / minutes, encoding / minutes


def main() -> None:
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


if __name__ == "__main__":
    main()
