"""The server's own measure of when a caller speaks: an energy detector on 16 kHz PCM16. Pure.

Used for per-turn latency when the Live API sends no speech-activity signals of its own. It
runs on every caller frame, so it does one numpy pass per frame and nothing else (about 2 µs
per 20 ms frame, `bench.bench_postcall`).

A frame is loud when its mean power is `margin_db` above the noise floor (tracked per call:
it starts at the first frame, drops at once to a quieter frame and creeps back up slowly) and
above an absolute floor.
Speech starts after `onset_s` of loud frames and ends after `hangover_s` of quiet ones; the
end is the end of the last loud frame, not the moment the hangover confirms it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
FULL_SCALE_POWER = 32768.0**2


def _power(dbfs: float) -> float:
    return FULL_SCALE_POWER * 10 ** (dbfs / 10)


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at: float


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    started_at: float
    at: float


class SpeechDetector:
    """Feed every caller chunk with `feed(pcm16, at)`, `at` being when the chunk arrived
    (the end of its audio, on any monotonic clock in seconds). Returns an edge or None."""

    def __init__(
        self,
        *,
        margin_db: float = 12.0,
        floor_dbfs: float = -50.0,
        onset_s: float = 0.06,
        hangover_s: float = 0.3,
        floor_rise_db_per_s: float = 3.0,
    ) -> None:
        self._margin = 10 ** (margin_db / 10)
        self._absolute = _power(floor_dbfs)
        self._lowest = self._absolute / self._margin
        self._onset_s = onset_s
        self._hangover_s = hangover_s
        self._rise_per_s = 10 ** (floor_rise_db_per_s / 10)
        # The first frame sets the floor: a call that opens on room noise must not count
        # it as speech (one that opens on speech finds its floor in the first pause).
        self._noise: float | None = None
        self.speaking = False
        self._loud_since: float | None = None  # start of the current run of loud frames
        self._last_loud_end = 0.0
        self._started_at = 0.0

    def feed(self, pcm16: bytes, at: float) -> SpeechStarted | SpeechEnded | None:
        samples = len(pcm16) // 2
        if not samples:
            return None
        x = np.frombuffer(pcm16, "<i2", samples).astype(np.float32)
        power = float(np.dot(x, x)) / samples
        seconds = samples / SAMPLE_RATE
        noise = self._noise
        if noise is None or power < noise:
            # Never below what the absolute floor makes quiet anyway: a floor of exact zeros
            # (a microphone's first frames) is one the room's noise could never creep up
            # from, and would be her voice for the rest of the call.
            noise = max(power, self._lowest)
        else:
            noise *= self._rise_per_s**seconds
        self._noise = noise
        loud = power > noise * self._margin and power > self._absolute
        if loud:
            if self._loud_since is None:
                self._loud_since = at - seconds
            self._last_loud_end = at
            if not self.speaking and at - self._loud_since >= self._onset_s:
                self.speaking = True
                self._started_at = self._loud_since
                return SpeechStarted(self._started_at)
            return None
        self._loud_since = None
        if self.speaking and at - self._last_loud_end >= self._hangover_s:
            self.speaking = False
            return SpeechEnded(self._started_at, self._last_loud_end)
        return None
