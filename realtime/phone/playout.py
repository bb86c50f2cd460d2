"""The agent's voice on its way to a phone: 24 kHz PCM in, paced 20 ms µ-law frames out.

    audio(pcm24k)  -> Resampler24kTo8k -> ulaw_encode -> FrameChunker -> queue
    end_turn()     -> the tail padded to a frame, then a `mark` (played -> Twilio echoes it)
    interrupt()    -> `clear` now, queue emptied, resampler and chunker reset
    played_out()   -> waits for Twilio's echo of a mark after everything queued so far
    queue          -> one sender task -> Twilio, at most LEAD_S ahead of playback

Twilio plays whatever it is sent and buffers the rest, so a burst from the model could put
many seconds into Twilio's buffer. Everything buffered there is heard unless cleared, and
the sooner a frame is sent the sooner the caller hears it, so the sender runs ahead of
playback by at most LEAD_S: enough to ride out network jitter, little enough for `clear` to
be the only thing left to do on barge-in. Playback is tracked with a clock (20 ms per frame
sent) that each echoed `mark` corrects: when Twilio echoes a mark, it has played everything
sent before it, so what is still buffered is exactly what was sent after it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from realtime.audio import (
    TWILIO_FRAME_BYTES,
    TWILIO_RATE,
    FrameChunker,
    Resampler24kTo8k,
    ulaw_encode,
)
from realtime.twilio_protocol import clear_message, mark_message, media_message
from voiceproject.tasks import stop

log = logging.getLogger(__name__)

FRAME_S = TWILIO_FRAME_BYTES / TWILIO_RATE  # 20 ms
LEAD_S = 1.0
# The model can send audio far faster than real time; what waits here to be paced out is
# bounded (the oldest is dropped beyond it): 30 s of speech, about 240 KB of µ-law.
MAX_QUEUED_FRAMES = 1_500

Send = Callable[[str], Awaitable[None]]


class Playout:
    """One call's outbound audio. Feed it from the session; `close()` when the call ends."""

    def __init__(self, send: Send, stream_sid: str, *, lead_s: float = LEAD_S) -> None:
        self._send = send
        self._stream_sid = stream_sid
        self._lead_s = lead_s
        self._resampler = Resampler24kTo8k()
        self._chunker = FrameChunker()
        # Frames (bytes) and mark names (str), in the order Twilio must get them.
        self._queue: deque[bytes | str] = deque()
        self._queued_frames = 0
        self.dropped_frames = 0
        self._wake = asyncio.Event()
        self._last_turn = 0  # number of the last turn given a mark
        self._turn_has_audio = False
        self._frames_sent = 0
        self._plays_until = 0.0  # monotonic time Twilio will have played all we sent
        self._marks_sent: dict[str, int] = {}  # name -> frames sent before it (not yet echoed)
        self._played_turn = 0  # highest turn whose mark Twilio echoed
        self._played = asyncio.Condition()
        self._sender = asyncio.create_task(self._run(), name=f"playout {stream_sid}")
        self._sender.add_done_callback(_log_failure)

    # --- from the session ---------------------------------------------------------------------

    def audio(self, pcm24k: bytes) -> None:
        frames = self._chunker.push(ulaw_encode(self._resampler.process(pcm24k)))
        if frames:
            self._queue.extend(frames)
            self._queued_frames += len(frames)
            self._turn_has_audio = True
            if self._queued_frames > MAX_QUEUED_FRAMES:
                self._drop_oldest(self._queued_frames - MAX_QUEUED_FRAMES)
            self._wake.set()

    def _drop_oldest(self, count: int) -> None:
        # Marks stay, in order: Twilio's echo of each still says when its turn was heard.
        kept: deque[bytes | str] = deque()
        for item in self._queue:
            if count and isinstance(item, bytes):
                count -= 1
                self.dropped_frames += 1
                self._queued_frames -= 1
            else:
                kept.append(item)
        self._queue = kept

    def end_turn(self) -> None:
        """The agent finished speaking: send the tail and a mark to learn when it was heard."""
        tail = self._chunker.flush()
        if tail is not None:
            self._queue.append(tail)
            self._queued_frames += 1
            self._turn_has_audio = True
        if self._turn_has_audio:
            self._last_turn += 1
            self._queue.append(f"turn-{self._last_turn}")
            self._turn_has_audio = False
            self._wake.set()

    async def interrupt(self) -> None:
        """The caller barged in: nothing more of this answer may be heard."""
        self._queue.clear()
        self._queued_frames = 0
        self._resampler.reset()
        self._chunker.clear()
        self._turn_has_audio = False
        # Twilio echoes the marks the clear discards; they say nothing about playback. Nothing
        # of the turns they followed is left to hear: played_out waits for none of them.
        self._marks_sent.clear()
        self._plays_until = time.monotonic()
        async with self._played:
            self._played_turn = max(self._played_turn, self._last_turn)
            self._played.notify_all()
        await self._send(clear_message(self._stream_sid))

    # --- from Twilio ------------------------------------------------------------------------

    async def mark_played(self, name: str) -> None:
        """Twilio echoed mark `name`: the audio sent before it has been played."""
        sent_before = self._marks_sent.pop(name, None)
        if sent_before is None:
            return  # cleared, or not ours
        still_buffered = self._frames_sent - sent_before
        self._plays_until = time.monotonic() + still_buffered * FRAME_S
        async with self._played:
            self._played_turn = max(self._played_turn, int(name.removeprefix("turn-")))
            self._played.notify_all()

    async def next_turn_played(self) -> None:
        """Wait until the caller has heard the end of the next agent turn (from now on)."""
        target = self._last_turn + 1
        async with self._played:
            await self._played.wait_for(lambda: self._played_turn >= target)

    def still_to_play_s(self) -> float:
        """How long the caller has yet to listen to what is queued here or buffered at Twilio,
        by the clock (which each echoed mark sets right)."""
        return self._queued_frames * FRAME_S + max(0.0, self._plays_until - time.monotonic())

    async def played_out(self) -> None:
        """Wait until the caller has heard everything queued so far: Twilio echoes the mark
        that follows it (audio not followed by one yet is given one). Twilio may never echo
        it (the stream closing): bound the wait, by still_to_play_s."""
        self.end_turn()
        target = self._last_turn
        async with self._played:
            await self._played.wait_for(lambda: self._played_turn >= target)

    async def close(self) -> None:
        await stop(self._sender)

    # --- the sender ---------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                ahead = self._plays_until - time.monotonic()
                if ahead > self._lead_s:
                    await asyncio.sleep(ahead - self._lead_s)
                    continue  # an interrupt may have emptied the queue meanwhile
                await self._send_next(self._queue.popleft())

    async def _send_next(self, item: bytes | str) -> None:
        if isinstance(item, str):
            self._marks_sent[item] = self._frames_sent
            await self._send(mark_message(self._stream_sid, item))
            return
        self._queued_frames -= 1
        now = time.monotonic()
        self._plays_until = max(self._plays_until, now) + FRAME_S
        self._frames_sent += 1
        await self._send(media_message(self._stream_sid, item))


def _log_failure(task: asyncio.Task[None]) -> None:
    if task.cancelled() or task.exception() is None:
        return
    if isinstance(task.exception(), ConnectionError):  # the stream closed: its end is handled
        log.info("twilio: outbound audio stopped: %s", task.exception())
        return
    log.error("twilio: outbound audio stopped", exc_info=task.exception())
