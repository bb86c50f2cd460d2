"""Call recordings: both sides on one stereo timeline (customer left; agent and staff right),
encoded as Opus in Ogg and written to GridFS while the call goes on.

    recorder = CallRecorder(call_id, t0=time.monotonic())
    await recorder.open()
    recorder.customer(pcm16k, at); recorder.agent(pcm24k, at); recorder.interrupted(at)
    await recorder.close(at)

Placement (`Timeline`, pure): a phone's caller audio is laid where its stream's own clock says
it was said (Twilio's media timestamps, counted from the stream's start, which its `start`
message marks as the server reads it, before the call's setup can hold her frames up:
`stream_began`; each new stream, after a reconnect, sets it again; one never announced is set
by its first frame's arrival), so a stall that delivers it in a burst changes nothing; and the
timeline waits up to LATE_MAX_S for a stream that stopped sending, or has not sent yet, before
it settles what it missed. A browser's caller audio has no such clock: it
arrives paced in real time and is laid end to end, with silence inserted only for a real gap
(the microphone paused, a reconnect); audio after a gap is laid so that none of it ends after
it arrived (the page sends the 200 ms it held back as speech resumes at once). Audio that
could not be laid where it was said (a burst longer than the silence left before it) puts the
customer's side behind: near-silent frames are dropped, never words, until it has caught up.
Agent audio
arrives faster than it is played, so it is laid where the caller hears it: at its arrival or
after the agent audio before it, whichever is later; a barge-in cuts what had not yet been
played. Every half second the settled part of the timeline (up to 0.2 s ago) is encoded
(`OggOpusEncoder`: libopus through postcall/opus.py, in the pages of postcall/ogg.py) and its
bytes written (`store.RecordingWriter`), so a crash keeps everything said up to a second before
it (up to LATE_MAX_S more while a phone stream is stalled or has not sent yet, and up to
ANCHOR_S more at a phone stream's start, held back until the frames after its first, less
delayed, have set its clock).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import zlib
from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from pymongo.errors import PyMongoError

from postcall import opus
from postcall.ogg import GRANULE_RATE, OggOpusStream
from postcall.opus import OpusEncoder
from postcall.store import RecordingWriter
from realtime.audio import StreamResampler
from voiceproject.tasks import stop

log = logging.getLogger(__name__)

RATE = 16_000  # the recording's rate: the caller's; the agent's 24 kHz is brought down to it
AGENT_RATE = 24_000  # the agent's voice, and a colleague's holding the call
GAP_S = 0.25  # caller audio later than this starts after silence, not end to end
SETTLE_S = 0.2  # how far behind real time the encoder stays, for late caller frames
# How long a phone stream that stopped sending is waited for: it sends all the time, silence
# too, so until it sends again (a stall, a stream that dropped) the audio it owes may still
# come, to be laid where it was said rather than after silence already settled.
LATE_MAX_S = 2.0
# How long a phone stream's start is held back from the encoder after its first frame came:
# the moment that set the stream's clock (its `start` read, or its first frame's arrival) came
# late when the server was busy (0.1-0.3 s on a loaded machine), and the frames after it, less
# delayed, move the clock (and her audio with it) back over the silence before it: silence not
# yet settled.
ANCHOR_S = 1.0
# Mean power under which a caller frame is near-silent (dBFS): the speech detector's floor
# (postcall/speech.py), under which nothing counts as speech.
QUIET_DBFS = -50.0
QUIET_POWER = 32768.0**2 * 10 ** (QUIET_DBFS / 10)
FLUSH_INTERVAL_S = 0.5
# CELT at complexity 0 (postcall/opus.py): the cheapest Opus encoding (~0.09 CPU-s per
# call-minute), clear enough to review speech. 32 kbit/s stereo is about 240 KB per minute.
OPUS_BITRATE = 32_000
FRAME_SAMPLES = RATE // 50  # 20 ms a packet
FRAME_VALUES = 2 * FRAME_SAMPLES  # both channels, interleaved
GRANULE_PER_SAMPLE = GRANULE_RATE // RATE
# Encoded audio waits until a page holds this many packets: on a crash that much more is lost.
# A crash loses at most FLUSH_INTERVAL_S + SETTLE_S + 0.2 s + store.BATCH_WINDOW_S: one second.
# Ten 20 ms packets a page; the pages' headers cost about 4% of the bytes.
PACKETS_PER_PAGE = 10

Samples = npt.NDArray[np.int16]


# When a chunk of caller audio began on its sender's own clock: (stream, ms), `ms` after
# `stream` began (a Twilio Media Stream's SID and its frame's `media.timestamp`). A plain tuple:
# one is made for every phone frame, and a NamedTuple costs ten times as much (0.45 µs).
StreamTime: TypeAlias = tuple[str, int]


def quiet(pcm16: bytes) -> bool:
    """Whether PCM16 audio is near-silent: no word is lost without it."""
    x = np.frombuffer(pcm16, "<i2").astype(np.float32)
    return float(np.dot(x, x)) <= QUIET_POWER * len(x)


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

    def pull_back(self, start: int, by: int) -> None:
        """Move what was placed from `start` on `by` samples earlier, over the silence
        before it (`start - by` not before `base`)."""
        begin = 2 * (start - by - self.base)
        del self.buffer[begin : begin + 2 * by]
        self.cursor -= by

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
    """Places both sides by arrival time (seconds on the caller's monotonic clock from `t0`),
    and a phone's caller audio by its stream's clock. `phone`: her audio comes by one, whose
    first frame may come late (the start is held back until then, as for a new stream)."""

    def __init__(self, t0: float, *, phone: bool = False, opened: float | None = None) -> None:
        self.t0 = t0
        self._phone = phone
        # When the recording began waiting for her audio (the call set up), at or after `t0`: a
        # phone stream that began at `t0` and has sent nothing may owe all of it since.
        self._opened = t0 if opened is None else max(t0, opened)
        self.customer_track = Track(RATE)
        self.agent_track = Track(AGENT_RATE)
        # The customer's audio since the last real gap (or the start of her phone stream):
        # where it starts, and where the audio before it ended.
        self._run_start = self._run_floor = 0
        # Her phone stream (None on the web), its last timestamp, the sample of the customer
        # track where its clock's 0 ms lies, and where its first frame began by its arrival.
        self._stream: str | None = None
        self._stream_ms = 0
        self._stream_zero = 0
        self._stream_first = 0
        # The stream that carries her audio from now on, and the sample where its clock's 0 ms
        # lies, by when its start was read (stream_began): its frames are laid by it.
        self._announced: tuple[str, int] | None = None

    def _index(self, track: Track, at: float) -> int:
        return round((at - self.t0) * track.rate)

    def stream_began(self, stream: str, at: float) -> None:
        """Her phone stream `stream` began at `at`: its timestamps' 0 ms (Twilio sends `start`
        as the stream begins, and the server reads it before setting the call up). Its frames
        are laid by it however late they are read, and waited for until they come (up to
        LATE_MAX_S)."""
        self._announced = (stream, self._index(self.customer_track, at))

    def customer(self, pcm16k: bytes, at: float, said: StreamTime | None = None) -> None:
        """Caller audio that arrived at `at`; `said`: when it began on its stream's clock."""
        pcm16k = pcm16k[: len(pcm16k) & ~1]
        track = self.customer_track
        samples = len(pcm16k) // 2
        arrived = self._index(track, at)
        if said is None:
            began = arrived - samples  # at the latest: it had all been said when it arrived
            start = self._end_to_end(began)
        else:
            began = self._on_stream_clock(said, arrived - samples)
            start = max(began, track.cursor, track.base)  # never over audio laid already
        # How far this run can still be pulled back: over the silence before it, not into
        # what was settled.
        room = max(0, self._run_start - max(self._run_floor, track.base))
        if start - began - room >= samples and quiet(pcm16k):
            # Laid after audio that could not go where it was said (a burst longer than the
            # silence left before it), it would lie wholly after it was said: her side
            # catches up by a silence, never by a word.
            return
        track.place(pcm16k, start)
        # Audio cannot arrive before it was said: a run ending after its last arrival began
        # earlier (the page sends what it held back as speech resumed in one burst, then
        # the rest in real time; a phone stream's first frame came late), as far back as the
        # silence before it allows.
        by = min(track.cursor - arrived, room)
        if by > 0:
            track.pull_back(self._run_start, by)
            self._run_start -= by
            self._stream_zero -= by
        if said is not None:
            # Nor can it have been said later than it arrived: her stream's clock is set by its
            # least-delayed frame. Her audio could not all be pulled back with it (its start
            # was settled): it is behind, and catches up by near-silent frames, as above.
            self._stream_zero -= max(0, began - by + samples - arrived)

    def _end_to_end(self, began: int) -> int:
        """Where audio without a clock of its own starts: after the audio before it, or
        where it `began` after a real gap (a new run)."""
        track = self.customer_track
        if began <= track.cursor + GAP_S * RATE:
            return max(track.cursor, track.base)  # arrival times jitter, the stream does not
        self._run_start, self._run_floor = began, track.cursor
        return began

    def _on_stream_clock(self, said: StreamTime, first: int) -> int:
        """Where audio began by its stream's clock; `first`: where it began by its arrival,
        if it is the stream's first."""
        stream, ms = said
        offset = ms * RATE // 1000
        began = self._stream_zero + offset
        if stream != self._stream or ms < self._stream_ms or began > first + LATE_MAX_S * RATE:
            # A new stream (a reconnect; the call moved here), whose clock starts again at 0,
            # or a clock that cannot be right (audio said seconds after it arrived).
            track = self.customer_track
            announced = self._announced
            if stream != self._stream and announced is not None and announced[0] == stream:
                # By when the stream began: her audio lies where she said it, before audio
                # laid already too (then her side is behind, and catches up as after a burst).
                # Never after this frame arrived: a `start` read late is set right by it, and
                # by the frames read sooner after it (below).
                began = min(announced[1] + offset, first)
            else:
                # Set by its first frame's arrival, as for audio without a clock.
                began = max(first, track.cursor, track.base)
            self._stream, self._stream_zero = stream, began - offset
            self._stream_first = first
            self._run_start, self._run_floor = began, track.cursor
        self._stream_ms = ms
        return began

    def agent(self, pcm24k: bytes, at: float) -> None:
        pcm24k = pcm24k[: len(pcm24k) & ~1]
        if not pcm24k:  # an empty frame (or a lone byte): nothing to place
            return
        track = self.agent_track
        track.place(pcm24k, max(track.cursor, self._index(track, at)))

    def interrupted(self, at: float) -> None:
        self.agent_track.cut(self._index(self.agent_track, at))

    def settled(self, at: float, *, last: bool = False) -> tuple[Samples, Samples]:
        """Both sides up to `at` (customer at 16 kHz, agent at 24 kHz); they leave the
        timeline. Whole 20 ms steps only, so both sides always cover the same span. A phone
        stream that fell behind is waited for (up to LATE_MAX_S), and a new one's start held
        back (for ANCHOR_S), unless this is the `last`. So is one announced (stream_began)
        that has sent nothing yet: her audio from its start is still to come."""
        if (self._stream is not None or self._announced is not None) and not last:
            heard = self.t0 + self.customer_track.cursor / RATE
            late = LATE_MAX_S
            if self._stream is None:
                # Announced, nothing from it yet: her frames since it began were held up with
                # the call's setup, and are waited for from when the recording began waiting.
                late += self._opened - self.t0
            at = min(at, max(heard, at - late))
        young = self._index(self.customer_track, at) < self._stream_first + ANCHOR_S * RATE
        if (self._stream is not None or self._phone) and young and not last:
            # Its clock may still move back, with her audio, over the silence before it.
            at = min(at, self.t0 + self._run_floor / RATE)
        steps = int((at - self.t0) * 50)
        return self.customer_track.take(steps * 320), self.agent_track.take(steps * 480)


class OggOpusEncoder:
    """Both sides in (customer at 16 kHz, agent at 24 kHz, PCM16), Ogg Opus bytes out as whole
    pages are ready (`encode`, `finish`): stereo at RATE, customer left and agent right."""

    def __init__(self, serial: int = 0) -> None:
        self._opus = OpusEncoder(RATE, channels=2, bitrate=OPUS_BITRATE)
        self._agent_rate = StreamResampler(AGENT_RATE, RATE)
        self._pre_skip = self._opus.lookahead * GRANULE_PER_SAMPLE
        self._ogg = OggOpusStream(serial=serial, channels=2, input_rate=RATE,
                                  pre_skip=self._pre_skip, vendor=opus.version())  # fmt: skip
        self._out = bytearray(self._ogg.headers())
        self._unframed = np.zeros(0, np.int16)  # interleaved samples short of a whole frame
        self._packets: list[bytes] = []  # encoded, waiting for a whole page
        self._frames = 0  # frames encoded
        self._samples = 0  # samples per channel given: the recording's length

    def encode(self, customer16k: Samples, agent24k: Samples) -> bytes:
        self._encode(customer16k, agent24k)
        return self._drain()

    def _encode(self, customer16k: Samples, agent24k: Samples) -> None:
        agent = self._resample(agent24k, len(customer16k))
        stereo = np.empty(2 * len(customer16k), np.int16)
        stereo[0::2] = customer16k
        stereo[1::2] = agent
        self._samples += len(customer16k)
        if len(self._unframed):
            stereo = np.concatenate((self._unframed, stereo))
        whole = len(stereo) - len(stereo) % FRAME_VALUES
        self._unframed = stereo[whole:]
        self._packets += self._opus.encode(stereo[:whole], FRAME_SAMPLES)
        self._frames += whole // FRAME_VALUES
        while len(self._packets) >= PACKETS_PER_PAGE:
            page, self._packets = self._packets[:PACKETS_PER_PAGE], self._packets[PACKETS_PER_PAGE:]
            ended = self._frames - len(self._packets)  # frames up to this page's last packet
            self._out += self._ogg.page(page, ended * FRAME_SAMPLES * GRANULE_PER_SAMPLE)

    def _resample(self, agent24k: Samples, count: int) -> Samples:
        got = self._agent_rate.process(agent24k)
        # Whole 20 ms steps come out whole; anything else may hold a sample back: pad or trim
        # to keep both sides aligned.
        if len(got) < count:
            got = np.concatenate((np.zeros(count - len(got), np.int16), got))
        return got[-count:] if count else got[:0]

    def _drain(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def finish(self) -> bytes:
        """The rest, and the end of the stream: silence after the last sample carries it
        through the encoder's lookahead, and the last page's granule trims it off."""
        if not self._samples:
            # A call over within its first 20 ms: 20 ms of silence rather than a stream of
            # no audio, which players report as an error.
            self._encode(np.zeros(FRAME_SAMPLES, np.int16), np.zeros(0, np.int16))
        needed = len(self._unframed) + 2 * self._opus.lookahead  # both channels' values
        tail = np.zeros(-(-needed // FRAME_VALUES) * FRAME_VALUES, np.int16)
        tail[: len(self._unframed)] = self._unframed
        self._unframed = tail[:0]
        self._packets += self._opus.encode(tail, FRAME_SAMPLES)
        end = self._pre_skip + self._samples * GRANULE_PER_SAMPLE
        self._out += self._ogg.page(self._packets, end, last=True)
        self._packets = []
        return self._drain()


def flush_phase(call_id: str) -> float:
    """When in each FLUSH_INTERVAL_S a call's recording is encoded and written, from its id.

    Calls that start together (a load test, every call of a process resumed elsewhere at once)
    would otherwise all encode in the same instant, a few ms each, and hold up every call's
    audio on the process for their sum: 50 calls put 120-240 ms on the p99 (bench_voice
    --record). Spread over the interval, each costs the others one encode at most."""
    return zlib.crc32(call_id.encode()) % 1000 / 1000 * FLUSH_INTERVAL_S


def next_flush(after: float, phase: float) -> float:
    """The first moment strictly after `after` (the event loop's clock) at `phase` in its
    FLUSH_INTERVAL_S. Pure.

    Each flush keeps to its call's phase of the clock, however long the last one's write
    took: the writes of the process's recordings are sent together and finish together, so
    counting the interval from each write's end would line every recording's next encode up
    with the others' again (bench_voice --record: the event loop stalled up to 256 ms)."""
    return after + FLUSH_INTERVAL_S - (after - phase) % FLUSH_INTERVAL_S


class CallRecorder:
    """One call's recording. All feeding methods are synchronous and cheap; `open()` starts
    the writer task and `close()` ends it (idempotent), writing the rest."""

    def __init__(
        self, call_id: str, *, t0: float, clock: Callable[[], float], channel: str = ""
    ) -> None:
        self.call_id = call_id
        self._clock = clock
        self.timeline = Timeline(t0, phone=channel == "phone", opened=clock())
        self._encoder = OggOpusEncoder(serial=zlib.crc32(call_id.encode()))
        # The wall-clock moment of `t0`: the recording's time zero, for lining up the transcript.
        started_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=clock() - t0)
        self._writer = RecordingWriter(call_id, channel=channel, started_at=started_at)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._held_at: float | None = None  # written no further than this (hold)

    async def open(self) -> None:
        await self._writer.open()
        self._task = asyncio.create_task(self._run(), name=f"{self.call_id} recording")

    def customer(self, pcm16k: bytes, at: float, said: StreamTime | None = None) -> None:
        self.timeline.customer(pcm16k, at, said)

    def stream_began(self, stream: str, at: float) -> None:
        self.timeline.stream_began(stream, at)

    def agent(self, pcm24k: bytes, at: float) -> None:
        self.timeline.agent(pcm24k, at)

    def interrupted(self, at: float) -> None:
        self.timeline.interrupted(at)

    def hold(self, at: float) -> None:
        """The caller's line went at `at`: nothing after it is written until `release` (or
        `close`, which writes up to where it is told). A call nobody comes back for ends
        there, and its recording with it: what was written cannot be taken back."""
        self._held_at = at

    def release(self) -> None:
        self._held_at = None

    async def _run(self) -> None:
        loop, phase = asyncio.get_running_loop(), flush_phase(self.call_id)
        due = next_flush(loop.time(), phase)
        while True:
            await asyncio.sleep(due - loop.time())
            try:
                until = self._clock() - SETTLE_S
                if self._held_at is not None:
                    until = min(until, self._held_at)
                await asyncio.shield(self._flush(until))
            except PyMongoError as error:
                # The call goes on; the bytes stay pending and the next flush retries them.
                log.warning("call %s: could not write its recording: %s", self.call_id, error)
            due = next_flush(max(due, loop.time()), phase)  # a slow write skips what it missed

    async def _flush(self, until: float, *, last: bool = False) -> None:
        async with self._lock:
            customer, agent = self.timeline.settled(until, last=last)
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
