"""Benchmark the phone audio path per 20 ms frame and print it against its goals.

Run: ``.venv/bin/python -m bench.bench_audio``. Not a test: figures depend on the machine.

- CPU: median µs per 20 ms frame of µ-law 8k -> PCM16 16k (decode + resample, bytes to bytes)
  and PCM16 24k -> µ-law 8k (resample + encode, bytes to bytes).
- Latency: cross-correlation lag of the streamed output (fed in 20 ms frames) against an ideal
  (FFT, brick-wall) resample of the same band-limited noise; it includes anything held back.
- Stopband: how far below the input tone the unwanted output lies. 8k -> 16k: the images of
  in-band tones (0.2-3.4 kHz) left after removing the tone itself; 24k -> 8k: everything left
  of out-of-band tones (4.6-11.9 kHz), which an ideal resampler removes entirely. Worst case.

libsamplerate ``sinc_fastest`` is measured the same way for comparison (see realtime/audio.py);
its CPU includes the int16 <-> float32 conversions any caller of it would pay.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt
import samplerate

from realtime.audio import (
    GEMINI_INPUT_RATE,
    GEMINI_OUTPUT_RATE,
    TWILIO_RATE,
    Pcm16Array,
    Resampler8kTo16k,
    Resampler24kTo8k,
    ulaw_decode,
    ulaw_encode,
)

GOAL_CPU_US = 50.0
GOAL_LATENCY_MS = 3.0
GOAL_STOPBAND_DB = 60.0

FRAME_MS = 20
CPU_FRAMES = 5000
AMPLITUDE = 16000.0  # loud but clear of clipping, so int16 rounding stays ~90 dB down
SIGNAL_SECONDS = 1.0
PASSBAND_HZ = (200.0, 3400.0)
STOPBAND_EDGE_HZ = 4600.0
TONE_STEP_HZ = 100.0
# An all-zero int16 output only says "below rounding": count it as the rounding noise power
# of uniform error in ±0.5 LSB, the measurement's floor (about 92 dB below AMPLITUDE).
ROUNDING_POWER = 1 / 12

FloatArray = npt.NDArray[np.float64]


class Resampler(Protocol):
    def process(self, pcm16: Pcm16Array) -> Pcm16Array: ...


class LibsamplerateResampler:
    """libsamplerate ``sinc_fastest`` behind the same int16 interface, for comparison."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self._ratio = out_rate / in_rate
        self._resampler = samplerate.Resampler("sinc_fastest", channels=1)

    def process(self, pcm16: Pcm16Array) -> Pcm16Array:
        out = self._resampler.process(pcm16.astype(np.float32) / 32768, self._ratio)
        return np.clip(np.rint(out * 32768), -32768, 32767).astype(np.int16)


def frames_of(signal: FloatArray, rate: int) -> list[Pcm16Array]:
    size = rate * FRAME_MS // 1000
    pcm = np.rint(signal).astype(np.int16)
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def stream(resampler: Resampler, signal: FloatArray, rate: int) -> FloatArray:
    out = [resampler.process(frame) for frame in frames_of(signal, rate)]
    return np.concatenate(out).astype(np.float64)


def tone(freq: float, rate: int) -> FloatArray:
    t = np.arange(int(rate * SIGNAL_SECONDS)) / rate
    return AMPLITUDE * np.sin(2 * np.pi * freq * t)


def band_noise(rate: int) -> FloatArray:
    # Periodic, band-limited noise: its FFT resample is exactly the ideal resample.
    n = int(rate * SIGNAL_SECONDS)
    spectrum = np.fft.rfft(np.random.default_rng(7).standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum[(freqs < PASSBAND_HZ[0]) | (freqs > PASSBAND_HZ[1])] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise * (AMPLITUDE / 3 / noise.std())


def ideal_resample(signal: FloatArray, in_rate: int, out_rate: int) -> FloatArray:
    n_out = len(signal) * out_rate // in_rate
    spectrum = np.fft.rfft(signal)
    out = np.zeros(n_out // 2 + 1, complex)
    keep = min(len(spectrum), len(out))
    out[:keep] = spectrum[:keep]
    return np.fft.irfft(out, n_out) * (out_rate / in_rate)


def lag_samples(output: FloatArray, ideal: FloatArray, max_lag: int) -> float:
    """Delay of output against ideal, in output samples, with parabolic sub-sample refinement."""
    start, stop = max_lag, min(len(output), len(ideal)) - max_lag
    scores = np.array(
        [np.dot(output[start:stop], ideal[start - lag : stop - lag]) for lag in range(max_lag)]
    )
    best = int(np.argmax(scores))
    if 0 < best < max_lag - 1:
        left, mid, right = scores[best - 1 : best + 2]
        best_f = best + 0.5 * (left - right) / (left - 2 * mid + right)
        return float(best_f)
    return float(best)


def latency_ms(make: Callable[[], Resampler], in_rate: int, out_rate: int) -> float:
    signal = band_noise(in_rate)
    output = stream(make(), signal, in_rate)
    ideal = ideal_resample(signal, in_rate, out_rate)
    # A resampler may drop its start-up delay and hold samples back instead (libsamplerate
    # does): those samples are heard that much later, so they count as latency too.
    held_back = len(ideal) - len(output)
    lag = lag_samples(output, ideal, out_rate // 50)
    return (lag + held_back) / out_rate * 1000


def steady_state(x: FloatArray, rate: int) -> FloatArray:
    return x[rate // 10 : len(x) - rate // 10]  # skip the start-up transient (and any tail)


def residual_after_tone(x: FloatArray, freq: float, rate: int) -> FloatArray:
    # Least-squares fit of the tone's sine and cosine absorbs passband gain and delay.
    t = np.arange(len(x)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    return x - basis @ coef


def db(power_ratio: float) -> float:
    return 10 * float(np.log10(power_ratio))


def image_rejection_db(make: Callable[[], Resampler], in_rate: int, out_rate: int) -> float:
    worst = np.inf
    for freq in np.arange(PASSBAND_HZ[0], PASSBAND_HZ[1] + 1, TONE_STEP_HZ):
        out = steady_state(stream(make(), tone(freq, in_rate), in_rate), out_rate)
        leftover = max(
            float(np.mean(residual_after_tone(out, freq, out_rate) ** 2)), ROUNDING_POWER
        )
        worst = min(worst, db(AMPLITUDE**2 / 2 / leftover))
    return float(worst)


def alias_rejection_db(make: Callable[[], Resampler], in_rate: int, out_rate: int) -> float:
    worst = np.inf
    for freq in np.arange(STOPBAND_EDGE_HZ, in_rate / 2, TONE_STEP_HZ):
        out = steady_state(stream(make(), tone(freq, in_rate), in_rate), out_rate)
        worst = min(worst, db(AMPLITUDE**2 / 2 / max(float(np.mean(out**2)), ROUNDING_POWER)))
    return float(worst)


def median_us(step: Callable[[bytes], object], frames: list[bytes]) -> float:
    times = []
    for frame in frames:
        started = time.perf_counter_ns()
        step(frame)
        times.append(time.perf_counter_ns() - started)
    return statistics.median(times) / 1000


def cpu_in_us(resampler: Resampler) -> float:
    noise = np.random.default_rng(1).standard_normal(160 * CPU_FRAMES) * 3000
    ulaw = ulaw_encode(np.rint(noise).astype(np.int16))
    frames = [ulaw[i : i + 160] for i in range(0, len(ulaw), 160)]
    return median_us(lambda frame: resampler.process(ulaw_decode(frame)).tobytes(), frames)


def cpu_out_us(resampler: Resampler) -> float:
    noise = np.random.default_rng(2).standard_normal(480 * CPU_FRAMES) * 3000
    pcm = np.rint(noise).astype(np.int16).tobytes()
    frames = [pcm[i : i + 960] for i in range(0, len(pcm), 960)]

    def step(frame: bytes) -> bytes:
        return ulaw_encode(resampler.process(np.frombuffer(frame, np.int16)))

    return median_us(step, frames)


def verdict(value: float, goal: float, higher_is_better: bool) -> str:
    return "PASS" if (value >= goal if higher_is_better else value <= goal) else "MISS"


def report(name: str, up: Callable[[], Resampler], down: Callable[[], Resampler]) -> None:
    in_rates = (TWILIO_RATE, GEMINI_INPUT_RATE)
    out_rates = (GEMINI_OUTPUT_RATE, TWILIO_RATE)
    # (label, value, unit, goal, higher is better)
    rows = [
        ("CPU in: µ-law 8k -> PCM16 16k (decode + resample)", cpu_in_us(up()), "µs",
         GOAL_CPU_US, False),
        ("CPU out: PCM16 24k -> µ-law 8k (resample + encode)", cpu_out_us(down()), "µs",
         GOAL_CPU_US, False),
        ("latency 8k -> 16k vs ideal resample", latency_ms(up, *in_rates), "ms",
         GOAL_LATENCY_MS, False),
        ("latency 24k -> 8k vs ideal resample", latency_ms(down, *out_rates), "ms",
         GOAL_LATENCY_MS, False),
        ("stopband 8k -> 16k: images of 0.2-3.4 kHz tones", image_rejection_db(up, *in_rates),
         "dB", GOAL_STOPBAND_DB, True),
        ("stopband 24k -> 8k: 4.6-11.9 kHz tones removed", alias_rejection_db(down, *out_rates),
         "dB", GOAL_STOPBAND_DB, True),
    ]
    print(f"{name}, per 20 ms frame")
    for label, value, unit, goal, higher in rows:
        sign = ">=" if higher else "<="
        print(
            f"  {label:<52} {value:8.2f} {unit:<2}  goal {sign} {goal:g} {unit:<2}  "
            f"{verdict(value, goal, higher)}"
        )


def main() -> None:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()  # no options: --help says what it measures
    report("realtime.audio polyphase FIR (chosen)", Resampler8kTo16k, Resampler24kTo8k)
    print()
    report(
        "samplerate sinc_fastest (for comparison)",
        lambda: LibsamplerateResampler(TWILIO_RATE, GEMINI_INPUT_RATE),
        lambda: LibsamplerateResampler(GEMINI_OUTPUT_RATE, TWILIO_RATE),
    )


if __name__ == "__main__":
    main()
