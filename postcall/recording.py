"""Call recordings: both sides on one stereo timeline (customer left; agent and staff right),
encoded as Opus in Ogg and written to GridFS while the call goes on.

    recorder = CallRecorder(call_id, t0=time.monotonic())
    await recorder.open()
    recorder.customer(pcm16k, at); recorder.agent(pcm24k, at); recorder.interrupted(at)
    await recorder.close(at)

Placement (`Timeline`, pure): caller audio arrives paced in real time and is laid end to end,
with silence inserted only for a real gap (the microphone paused, a reconnect). Agent audio
arrives faster than it is played, so it is laid where the caller hears it: at its arrival or
after the agent audio before it, whichever is later; a barge-in cuts what had not yet been
played. Every half second the settled part of the timeline (up to 0.2 s ago) is encoded
(`OggOpusEncoder`, PyAV's libopus) and its bytes written (`store.RecordingWriter`), so a crash
keeps everything said up to a second before it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fractions
import logging
import zlib
from collections.abc import Callable

import av
import numpy as np
import numpy.typing as npt
from pymongo.errors import PyMongoError

from postcall.store import RecordingWriter
from voiceproject.tasks import stop

log = logging.getLogger(__name__)

RATE = 16_000  # the recording's rate: the caller's; the agent's 24 kHz is brought down to it
AGENT_RATE = 24_000
STAFF_RATE = 16_000
GAP_S = 0.25  # caller audio later than this starts after silence, not end to end
SETTLE_S = 0.2  # how far behind real time the encoder stays, for late caller frames
FLUSH_INTERVAL_S = 0.5
# CELT at complexity 0: the cheapest Opus encoding (~0.1 CPU-s per call-minute), clear
# enough to review speech. 32 kbit/s stereo is about 240 KB per minute.
OPUS_OPTIONS = {"application": "audio", "compression_level": "0"}
OPUS_BITRATE = 32_000
# The muxer holds encoded audio until a page is this long: on a crash that much more is lost.
# A crash loses at most FLUSH_INTERVAL_S + SETTLE_S + this + store.BATCH_WINDOW_S: one second.
# Ten 20 ms packets a page; the pages' headers cost about 4% of the bytes.
OGG_PAGE_DURATION_US = 200_000

Samples = npt.NDArray[np.int16]


class Track:
    """One channel being laid out: PCM16 bytes from sample `base` on, at `rate`.

    Chunks are appended to a bytearray as they come (a copy, no numpy per 20 ms frame);
    samples become an array only when `take` hands half a second of them to the encoder."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.base = 0  # sample index of buffer[0]
        self.buffer = bytearray()  # what was placed from `base` on (zeros where nothing)
        self.cursor = 0  # where the next chunk goes, at the earliest

    def place(self, pcm: bytes, start: int) -> None:
        """`pcm` (PCM16, a whole number of samples) from sample `start` on, never before
        `base`; silence fills any space before it."""
        offset = 2 * (max(start, self.base) - self.base)
        if offset > len(self.buffer):
            self.buffer += bytes(offset - len(self.buffer))
        self.buffer[offset : offset + len(pcm)] = pcm
        self.cursor = max(self.cursor, self.base + (offset + len(pcm)) // 2)

    def cut(self, at: int) -> None:
        """Forget what was placed from `at` on."""
        if at < self.cursor:
            del self.buffer[2 * max(0, at - self.base) :]
            self.cursor = max(at, self.base)

    def take(self, until: int) -> Samples:
        """Samples from `base` to `until` (silence where nothing was placed)."""
        count = max(0, until - self.base)
        have = min(2 * count, len(self.buffer))
        out = np.zeros(count, np.int16)
        out[: have // 2] = np.frombuffer(bytes(self.buffer[:have]), "<i2")
        del self.buffer[:have]
        self.base = until if count else self.base
        return out


class Timeline:
    """Places both sides by arrival time (seconds on the caller's monotonic clock from `t0`)."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.customer_track = Track(RATE)
        self.agent_track = Track(AGENT_RATE)

    def _index(self, track: Track, at: float) -> int:
        return round((at - self.t0) * track.rate)

    def customer(self, pcm16k: bytes, at: float) -> None:
        pcm16k = pcm16k[: len(pcm16k) & ~1]
        track = self.customer_track
        start = self._index(track, at) - len(pcm16k) // 2
        if start <= track.cursor + GAP_S * RATE:
            start = track.cursor  # end to end: arrival times jitter, the stream does not
        track.place(pcm16k, start)

    def agent(self, pcm: bytes, at: float, rate: int = AGENT_RATE) -> None:
        pcm = pcm[: len(pcm) & ~1]
        if not pcm:  # an empty frame (or a lone byte): nothing to place, nothing to resample
            return
        if rate != AGENT_RATE:  # staff speech (16 kHz) on the agent's side
            pcm = _upsample_16k_to_24k(np.frombuffer(pcm, "<i2")).tobytes()
        track = self.agent_track
        track.place(pcm, max(track.cursor, self._index(track, at)))

    def interrupted(self, at: float) -> None:
        self.agent_track.cut(self._index(self.agent_track, at))

    def settled(self, at: float) -> tuple[Samples, Samples]:
        """Both sides up to `at` (customer at 16 kHz, agent at 24 kHz); they leave the
        timeline. Whole 20 ms steps only, so both sides always cover the same span."""
        steps = int((at - self.t0) * 50)
        return self.customer_track.take(steps * 320), self.agent_track.take(steps * 480)


def _upsample_16k_to_24k(samples: Samples) -> Samples:
    # Rare (staff on the call): linear interpolation is enough for a review recording.
    positions = np.arange(len(samples) * 3 // 2) * (2 / 3)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.int16)


class OggOpusEncoder:
    """Stereo 16 kHz PCM16 in, Ogg Opus bytes out as they are ready (`encode`, `finish`)."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._container = av.open(
            self, "w", format="ogg", buffer_size=4096,
            options={"flush_packets": "1", "page_duration": str(OGG_PAGE_DURATION_US)},
        )  # fmt: skip
        self._stream = self._container.add_stream("libopus", rate=RATE, layout="stereo")
        self._stream.bit_rate = OPUS_BITRATE
        self._stream.options = dict(OPUS_OPTIONS)
        self._agent_rate = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        self._pts = 0

    def write(self, data: bytes) -> int:  # PyAV's output
        self._out += data
        return len(data)

    def _drain(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def encode(self, customer16k: Samples, agent24k: Samples) -> bytes:
        agent = self._resample(agent24k, len(customer16k))
        stereo = np.empty((1, 2 * len(customer16k)), np.int16)
        stereo[0, 0::2] = customer16k
        stereo[0, 1::2] = agent
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += len(customer16k)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._drain()

    def _resample(self, agent24k: Samples, count: int) -> Samples:
        frame = av.AudioFrame.from_ndarray(agent24k.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AGENT_RATE
        out = [f.to_ndarray().reshape(-1) for f in self._agent_rate.resample(frame)]
        got: Samples = np.concatenate(out) if out else np.zeros(0, np.int16)
        # The resampler holds a few samples back: pad or trim to keep both sides aligned.
        if len(got) < count:
            got = np.concatenate((np.zeros(count - len(got), np.int16), got))
        return got[-count:] if count else got[:0]

    def finish(self) -> bytes:
        first = b""
        if not self._pts:
            # Nothing was encoded (a call over within its first 20 ms): the Ogg headers go out
            # with the first packet, and a file without them is no recording a player opens.
            first = self.encode(np.zeros(320, np.int16), np.zeros(480, np.int16))
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return first + self._drain()


def flush_phase(call_id: str) -> float:
    """When in each FLUSH_INTERVAL_S a call's recording is encoded and written, from its id.

    Calls that start together (a load test, every call of a process resumed elsewhere at once)
    would otherwise all encode in the same instant, a few ms each, and hold up every call's
    audio on the process for their sum: 50 calls put 120-240 ms on the p99 (bench_voice
    --record). Spread over the interval, each costs the others one encode at most."""
    return zlib.crc32(call_id.encode()) % 1000 / 1000 * FLUSH_INTERVAL_S


class CallRecorder:
    """One call's recording. All feeding methods are synchronous and cheap; `open()` starts
    the writer task and `close()` ends it (idempotent), writing the rest."""

    def __init__(
        self, call_id: str, *, t0: float, clock: Callable[[], float], channel: str = ""
    ) -> None:
        self.call_id = call_id
        self._clock = clock
        self.timeline = Timeline(t0)
        self._encoder = OggOpusEncoder()
        # The wall-clock moment of `t0`: the recording's time zero, for lining up the transcript.
        started_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=clock() - t0)
        self._writer = RecordingWriter(call_id, channel=channel, started_at=started_at)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def open(self) -> None:
        await self._writer.open()
        self._task = asyncio.create_task(self._run(), name=f"{self.call_id} recording")

    def customer(self, pcm16k: bytes, at: float) -> None:
        self.timeline.customer(pcm16k, at)

    def agent(self, pcm: bytes, at: float, rate: int = AGENT_RATE) -> None:
        self.timeline.agent(pcm, at, rate)

    def interrupted(self, at: float) -> None:
        self.timeline.interrupted(at)

    async def _run(self) -> None:
        await asyncio.sleep(flush_phase(self.call_id))
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            try:
                await asyncio.shield(self._flush(self._clock() - SETTLE_S))
            except PyMongoError as error:
                # The call goes on; the bytes stay pending and the next flush retries them.
                log.warning("call %s: could not write its recording: %s", self.call_id, error)

    async def _flush(self, until: float, *, last: bool = False) -> None:
        async with self._lock:
            customer, agent = self.timeline.settled(until)
            data = self._encoder.encode(customer, agent) if len(customer) else b""
            if last:
                data += self._encoder.finish()
            await self._writer.append(data, final=last)

    async def close(self, at: float) -> None:
        """Everything up to `at` (the end of the call) is written and the file completed."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            await stop(self._task)
        await self._flush(at, last=True)
