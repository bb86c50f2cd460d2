"""Audio for tests that send sound through a call and check what came out the other end.

    speak(tone_pcm(440, 1.0, 16_000))                      # a second of A at 16 kHz, PCM16
    assert dominant_hz(heard, 24_000) == pytest.approx(440, abs=5)

A tone survives every resampler, codec and player on the way with its pitch intact, so the pitch
heard says which side's audio arrived where.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]


def tone(hz: float, seconds: float, rate: int, *, amplitude: float = 8000) -> Samples:
    """`seconds` of a sine at `hz`, as PCM16 samples at `rate`."""
    t = np.arange(round(seconds * rate)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def tone_pcm(hz: float, seconds: float, rate: int, *, amplitude: float = 8000) -> bytes:
    """The same tone as little-endian PCM16 bytes, as the sockets carry audio."""
    return tone(hz, seconds, rate, amplitude=amplitude).astype("<i2").tobytes()


def dominant_hz(audio: bytes | npt.ArrayLike, rate: int) -> float:
    """The strongest frequency in `audio` (PCM16 bytes, or samples) sampled at `rate`."""
    if isinstance(audio, bytes | bytearray):
        audio = np.frombuffer(audio, "<i2")
    samples = np.asarray(audio, dtype=np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])
