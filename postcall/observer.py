"""What a call session tells the after-the-call work: the interface realtime/ calls.

    observer = CallObserver(call_id=..., channel="web")   # sets the call id for logs
    observer.caller_stream(stream_sid, at)                 # a phone stream began (its `start`)
    await observer.started()                               # after the call record exists
    observer.caller_audio(pcm16k, said=...)                # every caller chunk
    observer.caller_text(to_model=...)                     # a typed message
    observer.on_live_event(event)                          # every Live API / client event
    observer.tool_finished(name, ms, ok)                   # every tool run
    observer.caller_away() / observer.caller_back()        # her line went / came back
    await observer.ended(reason, dropped_agent_chunks=n, dropped_caller_bytes=m)

`at` (seconds, time.monotonic()) defaults to now. The feeding methods are synchronous and
cheap (the speech detector, a few comparisons, the recorder's copy of the audio); the work
at the end (outcome, cost, turns, the recording's last bytes, the summary) happens in
`ended()` and in a background task.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from pymongo.errors import PyMongoError

from postcall import finish, logs, metrics
from postcall.latency import AudioClock, Turn, TurnTracker
from postcall.opus import OpusError
from postcall.outcome import MOVED_END_REASONS
from postcall.recording import LATE_MAX_S, CallRecorder, StreamTime
from postcall.speech import SpeechDetector, SpeechEnded
from realtime import live_protocol as lp
from realtime.live_client import Failed, Ready, Resumed
from support.tools.registry import TOOLS

log = logging.getLogger(__name__)


class CallObserver:
    def __init__(
        self, *, call_id: str, channel: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.call_id = call_id
        self.channel = channel
        self._clock = clock
        # Every log line of the task carrying this call (and of the tasks it starts from now
        # on) names the call.
        logs.call_id.set(call_id)
        self._t0 = clock()
        self._wall0 = dt.datetime.now(dt.UTC)
        self.detector = SpeechDetector()
        self.turns = TurnTracker()
        self.audio_clock = AudioClock()
        self.recorder: CallRecorder | None = None
        self._user_start: float | None = None
        self._started = self._ended = False
        self._start_counted = False
        # A person holds the call, as far as this observer has seen (their voice, or the
        # customer's going to them rather than to the model); until the model speaks again.
        self._held = False
        self._away_at: float | None = None  # when the caller's line went (caller_away)
        self._stream: tuple[str, float] | None = None  # her phone stream, and when it began

    async def started(
        self, *, moved_in: bool = False, started_at: dt.datetime | None = None
    ) -> None:
        """The call is on here (its record exists and it was not refused). `moved_in`: it
        began on another process, which counted its start. `started_at`: the record's, where
        the recording starts (so that it lasts as long as the call), else from here. A new
        phone call's record starts with her stream (caller_stream); one that moved in began
        long before, and its recording here starts where her new stream began, if that is
        earlier than here (up to LATE_MAX_S before: it waits no longer for a stream's audio)."""
        self._started = True
        # Counted once the caller is put through (`_count_start`): a record its process let go
        # before that is no call (postcall.outcome.MOVED_END_REASONS); the page opened the call
        # again elsewhere, which counts it. One that moved in was counted where it began (as it
        # moved out at the latest).
        self._start_counted = moved_in
        metrics.CALLS_IN_PROGRESS.labels(self.channel).inc()
        if settings.RECORD_CALLS:
            t0 = self._t0 if started_at is None else self._on_clock(started_at)
            if self._stream is not None:
                t0 = max(min(t0, self._stream[1]), t0 - LATE_MAX_S)
            try:
                recorder = CallRecorder(
                    self.call_id, t0=t0, clock=self._clock, channel=self.channel
                )
                await recorder.open()
            except (PyMongoError, OpusError) as error:
                # A recording is for review: the call goes on without one.
                log.warning("call %s: not recorded, its recording could not start: %s",
                            self.call_id, error)  # fmt: skip
                return
            if self._away_at is not None:
                recorder.hold(self._away_at)
            if self._stream is not None:
                recorder.stream_began(*self._stream)
            self.recorder = recorder

    def _on_clock(self, moment: dt.datetime) -> float:
        """A wall-clock moment of this call on its monotonic clock."""
        return self._t0 + (moment - self._wall0).total_seconds()

    # --- during the call ---------------------------------------------------------------------

    def caller_audio(
        self,
        pcm16k: bytes,
        at: float | None = None,
        *,
        to_model: bool = True,
        said: StreamTime | None = None,
    ) -> None:
        """`to_model`: the model hears it (not while a person holds the call). Only that audio
        counts on the clock that the model's speech offsets are read against. `said`: when it
        began on its stream's own clock (a phone's): where the recording lays it."""
        at = self._clock() if at is None else at
        if to_model:
            self.audio_clock.add(len(pcm16k) // 2, at)
        else:
            self.held(at)  # she talks to a colleague, who answers her: no agent turn
        edge = self.detector.feed(pcm16k, at)
        if isinstance(edge, SpeechEnded) and to_model:
            self.turns.user_speech(edge.started_at, edge.at, "detector")
        if self.recorder is not None:
            self.recorder.customer(pcm16k, at, said)

    def caller_stream(self, stream: str, at: float) -> None:
        """Her phone stream `stream` carries her audio from now on; it began at `at` (when its
        `start` came, before the call was set up here): its media timestamps count from there,
        and the recording lays her audio by them."""
        self._stream = (stream, at)
        if self.recorder is not None:
            self.recorder.stream_began(stream, at)

    def caller_text(self, at: float | None = None, *, to_model: bool = True) -> None:
        """A typed message; `to_model`: the model reads it (not while a person holds the
        call, when it is written to them: no agent turn is theirs)."""
        at = self._clock() if at is None else at
        if to_model:
            self.turns.user_speech(at, at, "text")
        else:
            self.held(at)

    def caller_away(self, at: float | None = None) -> None:
        """The caller's line went (her socket or her phone stream, without hanging up) at
        `at`: the recording is written no further until she is back (`caller_back`). A call
        nobody comes back for ended when her line went (its record's `ended_at`), and its
        recording ends there, not after the grace period of silence it waited."""
        self._away_at = self._clock() if at is None else at
        if self.recorder is not None:
            self.recorder.hold(self._away_at)

    def caller_back(self) -> None:
        """A socket or stream carries the call again: the time she was away is recorded."""
        self._away_at = None
        if self.recorder is not None:
            self.recorder.release()

    def staff_audio(self, pcm24k: bytes, at: float | None = None) -> None:
        """A staff member's voice to the customer (contract section 8), at the agent's rate:
        the agent's side of the recording, and no agent turn (turns time the model)."""
        at = self._clock() if at is None else at
        self.held(at)
        if self.recorder is not None:
            self.recorder.agent(pcm24k, at)

    def held(self, at: float | None = None) -> None:
        """A person holds the call by `at`: said by the take-over itself, and again by each
        sign of the hold (her voice to them, theirs to her). No agent turn is theirs; and the
        first sign cuts the agent's side of the recording there, as a barge-in does: what the
        model had sent and the customer had not yet heard was dropped when the call was taken
        over (livestaff/on_call.py: take_over). Left in, it talked over the colleague,
        whose words were laid after it, seconds after they were said, or, on a quiet line,
        stayed in the recording as if she had heard it."""
        at = self._clock() if at is None else at
        self._count_start()
        self.turns.held()
        if not self._held and self.recorder is not None:
            self.recorder.interrupted(at)
        self._held = True

    def on_live_event(self, event: object, at: float | None = None) -> None:
        at = self._clock() if at is None else at
        match event:
            case lp.AudioChunk(data=data):
                self._held = False  # the model speaks again: the call was handed back
                self.turns.agent_audio(at)
                if self.recorder is not None:
                    self.recorder.agent(data, at)
            case lp.VoiceActivity(start=start, offset_s=offset):
                moment = None if offset is None else self.audio_clock.arrival(offset, start=start)
                moment = at if moment is None else moment
                if start:
                    self._user_start = moment
                else:
                    self.turns.user_speech(self._user_start or moment, moment, "live")
                    self._user_start = None
            case lp.Interrupted():
                if self.recorder is not None:
                    self.recorder.interrupted(at)
                self._turn_over(at)
            case lp.TurnComplete():
                self._turn_over(at)
            case Ready(queued_audio_bytes=queued) | Resumed(queued_audio_bytes=queued):
                # Offsets count from each connection's start: the audio queued while there
                # was none, sent first on it, included.
                self.audio_clock.restart(queued // 2)
                self._count_start()
                if isinstance(event, Resumed):
                    metrics.UPSTREAM_RESUMES.inc()
            case Failed(reason=reason):
                metrics.UPSTREAM_FAILURES.labels(reason).inc()

    def _count_start(self) -> None:
        """The caller is through (the model's session is up, or a colleague holds the call):
        the call counts as started, once."""
        if not self._start_counted:
            self._start_counted = True
            metrics.CALLS_STARTED.labels(self.channel).inc()

    def _turn_over(self, at: float) -> None:
        self._timed(self.turns.turn_over(at))

    def _call_over(self, at: float) -> None:
        """The call ends here (or moves on) at `at`: a turn the agent had begun to answer is
        kept, though the model never said it was over (she hung up during its goodbye)."""
        self._timed(self.turns.call_over(at))

    @staticmethod
    def _timed(turn: Turn | None) -> None:
        if turn is not None and turn.first_audio_ms is not None:
            metrics.TURN_LATENCY_SECONDS.observe(turn.first_audio_ms / 1000)

    def tool_finished(self, name: str, ms: int, ok: bool, at: float | None = None) -> None:
        at = self._clock() if at is None else at
        self.turns.tool(at - ms / 1000, at)
        # A name the model made up is one label, not one each: labels are series to keep.
        label = name if name in TOOLS else "unknown"
        metrics.TOOL_SECONDS.labels(label, "true" if ok else "false").observe(ms / 1000)

    # --- at the end --------------------------------------------------------------------------

    async def moved_out(
        self, *, dropped_agent_chunks: int = 0, dropped_caller_bytes: int = 0
    ) -> None:
        """The call goes on in another process: it is no longer in progress here, and that
        process writes what happens at its end. What was recorded here is completed; the
        recording goes on there in a file of its own. What was dropped here is counted here
        (the next process counts only its own)."""
        if not self._started or self._ended:
            return
        self._ended = True
        # Let go before it was put through (a phone call released as its process drains,
        # its model not up yet), it goes on there as one moved in, which counts no start.
        self._count_start()
        metrics.CALLS_IN_PROGRESS.labels(self.channel).dec()
        _count_dropped(dropped_agent_chunks, dropped_caller_bytes)
        if self.recorder is not None:
            # Moved while she was away: this part ends when her line went (the next begins
            # when she is back).
            at = self._clock() if self._away_at is None else min(self._clock(), self._away_at)
            try:
                await self.recorder.close(at)
            except PyMongoError as error:
                log.warning("call %s: could not finish its recording: %s", self.call_id, error)
        self._call_over(self._clock())
        await finish.hand_on_turns(self.call_id, self._turn_documents())

    async def ended(
        self,
        reason: str,
        *,
        ended_at: dt.datetime | None = None,
        dropped_agent_chunks: int = 0,
        dropped_caller_bytes: int = 0,
    ) -> None:
        """Call once the call record is closed: finish the recording, then write outcome,
        duration, turns and cost, and schedule the summary. Idempotent. `ended_at`: the
        record's, where the recording ends (not after the record's closing write), else now."""
        if self._ended or not self._started:
            return
        self._ended = True
        if reason not in MOVED_END_REASONS:
            self._count_start()  # ended before it was put through (the model never came)
        at = self._clock()
        if ended_at is not None:
            at = min(at, self._on_clock(ended_at))
        metrics.CALLS_IN_PROGRESS.labels(self.channel).dec()
        _count_dropped(dropped_agent_chunks, dropped_caller_bytes)
        if self.recorder is not None:
            try:
                await self.recorder.close(at)
            except PyMongoError as error:
                # What was written so far stays playable (store.open_recording repairs it).
                log.warning("call %s: could not finish its recording: %s", self.call_id, error)
        self._call_over(at)
        # Counted as ended there, once, by whichever process finishes it.
        await finish.finish_call(self.call_id, self._turn_documents())

    def _turn_documents(self) -> list[dict[str, Any]]:
        return [self._turn_document(turn) for turn in self.turns.turns]

    def _turn_document(self, turn: Turn) -> dict[str, Any]:
        return {
            "at": self._wall0 + dt.timedelta(seconds=turn.at - self._t0),
            "user_ms": turn.user_ms,
            "first_audio_ms": turn.first_audio_ms,
            "tools_ms": turn.tools_ms,
            "source": turn.source,
        }


def _count_dropped(agent_chunks: int, caller_bytes: int) -> None:
    """What one process of a call dropped: agent chunks the caller could not keep up with,
    and caller audio the model's link could not take, in 20 ms frames (16 kHz, 16-bit)."""
    if agent_chunks:
        metrics.FRAMES_DROPPED.labels("to_caller").inc(agent_chunks)
    if caller_bytes:
        metrics.FRAMES_DROPPED.labels("to_model").inc(caller_bytes // 640)
