"""Audio codecs for the phone bridge: G.711 µ-law, PCM16 helpers, streaming resamplers, framing.

Pure functions and small stateful objects; no I/O. Twilio speaks 8 kHz µ-law, Gemini Live takes
16 kHz PCM16 and answers in 24 kHz PCM16 (little-endian, mono), so a call needs, per direction:

    inbound:  ulaw_decode -> Resampler8kTo16k.process            (Twilio -> Gemini)
    outbound: Resampler24kTo8k.process -> ulaw_encode -> FrameChunker.push  (Gemini -> Twilio)

Keep one resampler per direction per call and ``reset()`` the outbound one (and ``clear()`` the
chunker) on barge-in, so no stale tail of the interrupted answer is played after ``clear``.

µ-law uses lookup tables that are bit-exact with ``audioop`` (audioop's 14-bit G.711 variant;
the 16-bit "g711.c" variant differs on 381 inputs), so no audioop is needed on Python 3.13+.

Why a stateful polyphase FIR and not libsamplerate ``sinc_fastest``
-------------------------------------------------------------------
Both measured per 20 ms frame, bytes to bytes, with ``python -m bench.bench_audio`` (2-core dev
container; CPU figures vary ±30 % between runs, and the FIR's figures and the sinc's low ends
are from one quiet run):

    ===================================  =========================  ==========================
    in (µ-law 8k -> 16k) / out (24k ->   polyphase FIR (this file)  samplerate ``sinc_fastest``
    µ-law 8k)                                                       (+ int16/float32 copies)
    ===================================  =========================  ==========================
    CPU, codec + resample                6.6 µs / 7.6 µs            29-56 µs / 34-67 µs
    latency vs an ideal resample         1.84 ms / 1.81 ms          2.50 ms / 2.38 ms
    stopband (worst tone)                71 dB / 74 dB              89 dB / 88 dB
    output samples per 20 ms frame       exactly 320 / 160          varies; 40 / 19 held back
    ===================================  =========================  ==========================

Both meet the quality and latency goals (≥ 60 dB, < 3 ms); only the FIR meets the CPU goal
(< 50 µs) with margin. The ratios are small (2:1 and 1:3 here; 3:2 for the agent's side of a
recording, postcall/recording.py, and 2:3 for a colleague's voice to the caller,
realtime/call_session.py), so a Kaiser-windowed sinc of 60 and 88 taps, designed once
and applied as a polyphase matrix product over a strided view of the input with the last taps'
worth carried between calls, is all it takes. It also returns
exactly ``L`` outputs per input sample (one per ``M`` going down) and holds no samples back:
its delay is the filter's group delay only, so the 160-byte Twilio framing stays exact. (The
last ~1.8 ms of a turn are still ringing in the filter when the turn ends; that is below
hearing, and ``reset()`` drops it on barge-in.) libsamplerate would need extra buffering to
even out its output counts, and its binding is alpha-status.

Filter design: telephone band. The passband ends at 3.4 kHz and the stopband starts at 4.6 kHz
(the 8 kHz side's Nyquist ± 15 %); attenuation target 70 dB, i.e. ≥ 60 dB measured. Content
between 4.0 and 4.6 kHz may alias to 3.4–4.0 kHz, outside the telephone band. Speech on the
PSTN carries nothing above 3.4 kHz anyway, so the inbound images stay below the stopband.
"""

from __future__ import annotations

import math
from typing import cast, overload

import numpy as np
import numpy.typing as npt

Pcm16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]

TWILIO_RATE = 8000
GEMINI_INPUT_RATE = 16000
GEMINI_OUTPUT_RATE = 24000
TWILIO_FRAME_BYTES = 160  # 20 ms of 8 kHz µ-law, the size Twilio sends and expects
ULAW_SILENCE = 0xFF  # ulaw_encode(0): what the tail of the last frame is padded with

# Filter design (see the module docstring): transition band = low side's Nyquist ± 15 %.
_TRANSITION_HALF_WIDTH = 0.15
_STOPBAND_TARGET_DB = 70.0
# Output steps per row of the resampler's matrix product (see StreamResampler._filter).
_BLOCK_STEPS = 16
# The largest term of a resampling ratio in lowest terms (3:2 for 24k -> 16k): the filter
# runs at the input rate times the upper term, and its taps grow with it.
_MAX_RATIO_TERM = 6

# --- G.711 µ-law (audioop's 14-bit algorithm, tables built once) --------------------------

_ULAW_BIAS = 0x84
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], np.int32)
_ULAW_CLIP = 8159  # largest 14-bit magnitude before the bias


def _ulaw_encode_arithmetic(pcm16: Pcm16Array) -> npt.NDArray[np.uint8]:
    # Only used to build the encode table; audioop drops the two low bits first.
    x = pcm16.astype(np.int32) >> 2
    mask = np.where(x < 0, 0x7F, 0xFF)
    x = np.minimum(np.abs(x), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_ULAW_SEG_END, x)
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((x >> (seg + 1)) & 0xF))
    return (code ^ mask).astype(np.uint8)


def _ulaw_decode_table() -> Pcm16Array:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = ((((u & 0x0F) << 3) + _ULAW_BIAS) << ((u >> 4) & 7)) - _ULAW_BIAS
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


_ULAW_DECODE = _ulaw_decode_table()
# Indexed by the sample's bit pattern as uint16, hence the roll from -32768..32767 order.
_ULAW_ENCODE = np.roll(_ulaw_encode_arithmetic(np.arange(-32768, 32768).astype(np.int16)), -32768)


def ulaw_decode(data: bytes) -> Pcm16Array:
    """Decode µ-law bytes to PCM16 samples (one sample per byte)."""
    # take() is the cheap form of fancy indexing for a flat table.
    return _ULAW_DECODE.take(np.frombuffer(data, np.uint8))


def ulaw_encode(pcm16: bytes | Pcm16Array) -> bytes:
    """Encode PCM16 (little-endian bytes or int16 samples) to µ-law bytes."""
    if isinstance(pcm16, (bytes, bytearray)):
        _check_even(len(pcm16))  # read the bytes as the table's indices directly
        bit_patterns = np.frombuffer(pcm16, _PCM16_BIT_PATTERNS)
    else:
        bit_patterns = as_pcm16(pcm16).view(np.uint16)
    return _ULAW_ENCODE.take(bit_patterns).tobytes()


# --- PCM16 helpers -------------------------------------------------------------------------

# Parsed once: numpy otherwise parses a dtype string on every call.
_PCM16_LE = np.dtype("<i2")
_PCM16_BIT_PATTERNS = np.dtype("<u2")


def _check_even(num_bytes: int) -> None:
    if num_bytes % 2:
        raise ValueError(f"PCM16 data must have an even number of bytes, got {num_bytes}")


def pcm16_from_bytes(data: bytes) -> Pcm16Array:
    """View little-endian PCM16 bytes as int16 samples (read-only). Raises ValueError if odd."""
    _check_even(len(data))
    return np.frombuffer(data, _PCM16_LE).astype(np.int16, copy=False)


def pcm16_to_bytes(samples: Pcm16Array) -> bytes:
    """Little-endian PCM16 bytes of int16 samples."""
    return samples.astype(_PCM16_LE, copy=False).tobytes()


def as_pcm16(pcm16: bytes | Pcm16Array) -> Pcm16Array:
    """Int16 samples from PCM16 bytes or an int16 array (arrays pass through unchanged)."""
    if isinstance(pcm16, (bytes, bytearray, memoryview)):
        return pcm16_from_bytes(bytes(pcm16))
    if pcm16.dtype != np.int16:
        raise TypeError(f"PCM16 samples must be int16, got {pcm16.dtype}")
    return pcm16


# --- Streaming resampling --------------------------------------------------------------------


def kaiser_lowpass(num_taps: int, cutoff: float, rate: float, gain: float) -> FloatArray:
    """Linear-phase Kaiser-windowed sinc low-pass with DC gain ``gain``."""
    beta = 0.1102 * (_STOPBAND_TARGET_DB - 8.7)
    n = np.arange(num_taps) - (num_taps - 1) / 2
    taps = np.sinc(2 * cutoff / rate * n) * np.kaiser(num_taps, beta)
    return taps * (gain / taps.sum())


def _kaiser_num_taps(transition_hz: float, rate: float, multiple: int) -> int:
    # Kaiser's estimate, rounded up to a whole number of taps per polyphase branch.
    width = 2 * math.pi * transition_hz / rate
    taps = math.ceil((_STOPBAND_TARGET_DB - 7.95) / (2.285 * width)) + 1
    return math.ceil(taps / multiple) * multiple


class StreamResampler:
    """Resample a PCM16 stream by a small rational ratio ``L/M``, carrying filter state across
    calls.

    ``process`` accepts chunks of any size. Output comes in steps of ``L`` samples per ``M``
    input samples, each step as soon as the last input it reads has arrived: upsampling by
    ``L`` returns exactly ``L`` samples per input sample, downsampling by ``M`` returns
    ``ceil(total_in / M)`` samples over the stream so far (so 480 in -> 160 out at 24k -> 8k),
    and 3:2 (24k -> 16k) 320 per 480 in (a step's first output waits for its second's input).
    Output is delayed by ``delay_ms`` (the FIR's group delay). Call ``reset()`` to forget the
    past, e.g. on barge-in.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        common = math.gcd(in_rate, out_rate) if in_rate > 0 and out_rate > 0 else 0
        if not common or max(in_rate, out_rate) // common > _MAX_RATIO_TERM:
            raise ValueError(
                f"only ratios of small whole numbers (up to {_MAX_RATIO_TERM}) are supported, "
                f"not {in_rate} -> {out_rate} Hz"
            )
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._up = out_rate // common
        self._down = in_rate // common
        self._filter_rate = in_rate * self._up  # the zero-stuffed rate the taps run at
        nyquist = min(in_rate, out_rate) / 2
        if self._up == self._down == 1:
            taps: FloatArray = np.ones(1)
        else:
            num_taps = _kaiser_num_taps(
                2 * _TRANSITION_HALF_WIDTH * nyquist, self._filter_rate, self._up
            )
            taps = kaiser_lowpass(num_taps, nyquist, self._filter_rate, gain=self._up)
        self.num_taps = len(taps)
        # Column p of `branches` is branch p of the polyphase filter, time-reversed so that a
        # window of input (oldest first) dotted with it gives an output of phase p.
        self._window = len(taps) // self._up
        branches = taps.reshape(self._window, self._up)[::-1]
        # A step reads `down` new inputs and gives `up` outputs; output j of a step has phase
        # (j * down) % up and its window ends (j * down) // up inputs into the step (always 0
        # for whole-number ratios). One row of the matrix product computes _BLOCK_STEPS steps:
        # step r reads its windows r * down samples further on, so the block matrix holds each
        # output's branch once per step, shifted down by `down` rows and across by `up` columns.
        offsets = [j * self._down // self._up for j in range(self._up)]
        self._reach = offsets[-1]  # how far into a step its last output reads
        self._block_span = (_BLOCK_STEPS - 1) * self._down + self._reach + self._window
        self._block = np.zeros((self._block_span, _BLOCK_STEPS * self._up))
        for r in range(_BLOCK_STEPS):
            for j, offset in enumerate(offsets):
                start = r * self._down + offset
                phase = j * self._down % self._up
                self._block[start : start + self._window, r * self._up + j] = branches[:, phase]
        self._padding = np.zeros((_BLOCK_STEPS - 1) * self._down)
        self._history: FloatArray = np.zeros(self._window - 1)

    @property
    def delay_ms(self) -> float:
        """Group delay the filter adds, in milliseconds."""
        return (self.num_taps - 1) / 2 / self._filter_rate * 1000

    def reset(self) -> None:
        """Forget all past input, as if the stream started again."""
        self._history = np.zeros(self._window - 1)

    @overload
    def process(self, pcm16: bytes) -> bytes: ...
    @overload
    def process(self, pcm16: Pcm16Array) -> Pcm16Array: ...

    def process(self, pcm16: bytes | Pcm16Array) -> bytes | Pcm16Array:
        """Resample the next chunk: bytes in gives bytes out, int16 samples give samples."""
        out = self._filter(as_pcm16(pcm16))
        return pcm16_to_bytes(out) if isinstance(pcm16, (bytes, bytearray, memoryview)) else out

    def _filter(self, samples: Pcm16Array) -> Pcm16Array:
        available = len(self._history) + len(samples)
        window, step = self._window + self._reach, self._down
        steps = (available - window) // step + 1 if available >= window else 0
        blocks = -(-steps // _BLOCK_STEPS)
        block_stride = _BLOCK_STEPS * step
        # Zeros after the input make the last block whole; the steps they feed are dropped.
        # (A 20 ms frame needs none: 160 steps is ten blocks.)
        padding = (blocks - 1) * block_stride + self._block_span - available
        if padding > 0:
            buffer = np.concatenate((self._history, samples, self._padding[:padding]))
        else:
            buffer = np.concatenate((self._history, samples))
        # Overlapping blocks over the buffer without copying: row i is
        # buffer[i*block_stride : i*block_stride + block_span]. np.ndarray() is the cheap form of
        # as_strided (which costs a few µs per call); the shape keeps every row inside the
        # buffer. A few long rows rather than one row per step: np.dot copies overlapping rows
        # before handing them to BLAS, and this way it copies ten times fewer samples.
        itemsize = buffer.itemsize
        windows = np.ndarray(
            (blocks, self._block_span), np.float64, buffer, 0, (block_stride * itemsize, itemsize)
        )
        out = np.dot(windows, self._block).ravel()[: steps * self._up]
        # float64 history joined with int16 samples is float64 (numpy's stubs cannot tell).
        self._history = cast(FloatArray, buffer[steps * step : available])
        return _to_pcm16(out)


def _to_pcm16(x: FloatArray) -> Pcm16Array:
    # The filter can overshoot full scale (Gibbs ripple), so saturate instead of wrapping.
    # (Float bounds: an int bound costs numpy a conversion per call; np.clip a Python wrapper.)
    np.maximum(x, -32768.0, out=x)
    np.minimum(x, 32767.0, out=x)
    return np.rint(x, out=x).astype(np.int16)


class Resampler8kTo16k(StreamResampler):
    """Caller audio (Twilio, 8 kHz) to the rate Gemini Live takes (16 kHz)."""

    def __init__(self) -> None:
        super().__init__(TWILIO_RATE, GEMINI_INPUT_RATE)


class Resampler24kTo8k(StreamResampler):
    """Gemini Live's voice (24 kHz) to the rate Twilio plays (8 kHz)."""

    def __init__(self) -> None:
        super().__init__(GEMINI_OUTPUT_RATE, TWILIO_RATE)


# --- Outbound framing --------------------------------------------------------------------------


class FrameChunker:
    """Cut a byte stream into whole frames (default: 20 ms of 8 kHz µ-law, 160 bytes).

    Twilio's ``clear`` and ``mark`` work at frame granularity, so send only whole frames: push
    whatever the encoder produced, send the frames returned, and ``flush()`` at the end of a
    turn to get the tail padded with µ-law silence. ``clear()`` drops the tail on barge-in.
    """

    def __init__(self, frame_bytes: int = TWILIO_FRAME_BYTES, pad: int = ULAW_SILENCE) -> None:
        if frame_bytes <= 0:
            raise ValueError(f"frame_bytes must be positive, got {frame_bytes}")
        self.frame_bytes = frame_bytes
        self._pad = bytes([pad])
        self._pending = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back until a frame is complete."""
        return len(self._pending)

    def push(self, data: bytes) -> list[bytes]:
        """Add bytes; return the frames now complete (possibly none)."""
        if not self._pending and len(data) == self.frame_bytes:
            return [bytes(data)]  # the usual case, one whole frame: skip the buffer
        self._pending += data
        whole = len(self._pending) - len(self._pending) % self.frame_bytes
        frames = [
            bytes(self._pending[i : i + self.frame_bytes])
            for i in range(0, whole, self.frame_bytes)
        ]
        del self._pending[:whole]
        return frames

    def flush(self) -> bytes | None:
        """The held-back tail padded to a whole frame, or None if nothing is pending."""
        if not self._pending:
            return None
        frame = bytes(self._pending) + self._pad * (self.frame_bytes - len(self._pending))
        self._pending.clear()
        return frame

    def clear(self) -> None:
        """Drop the held-back tail without sending it."""
        self._pending.clear()
