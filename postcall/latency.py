"""Per-turn latency: from the end of the customer's speech to the agent's first audio. Pure.

A `TurnTracker` is fed timestamped facts (seconds on one monotonic clock) and produces one
`Turn` per agent turn:

    user_speech(start, end, source)   the customer stopped speaking (or sent text)
    agent_audio(at)                   agent audio left the server
    tool(started, finished)           a tool ran
    held()                            a person holds the call (their talk is no agent turn)
    turn_over(at)                     the model's turn ended (turnComplete or interrupted)

Where the customer's speech ended comes from the Live API's own activity signals when it sends
them (`source="live"`; once one arrives, the server's detector is ignored for the rest of the
call), else from `postcall.speech` (`"detector"`), or from a typed message (`"text"`). A later
end before the agent answers replaces an earlier one: the customer went on talking. Speech (or
text) that ends after the agent answered is the next turn's, opened when this one is over.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from typing import Literal

Source = Literal["live", "detector", "text"]
PRIORITY: dict[str, int] = {"text": 2, "live": 1, "detector": 0}


@dataclass(frozen=True, slots=True)
class Turn:
    """One agent turn; times in seconds on the tracker's clock, durations in ms."""

    at: float  # when the customer's speech ended
    user_ms: int  # how long the customer spoke
    first_audio_ms: int | None  # None: the agent said nothing this turn
    tools_ms: int  # time tools were running inside the turn (overlaps counted once)
    source: Source


@dataclass
class _Open:
    start: float
    end: float
    source: Source
    first_audio: float | None = None


class TurnTracker:
    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self._open: _Open | None = None
        # Speech that ended while the agent was answering the open turn (a barge-in, a typed
        # message): the next turn's, opened when this one is over.
        self._next: _Open | None = None
        self._tools: list[tuple[float, float]] = []
        self._live_signals = False

    def user_speech(self, start: float, end: float, source: Source) -> None:
        if source == "live":
            self._live_signals = True
        elif source == "detector" and self._live_signals:
            return
        if self._open is not None and self._open.first_audio is not None:
            self._next = _merged(self._next, start, end, source)
        else:
            self._open = _merged(self._open, start, end, source)

    def held(self) -> None:
        """A person holds the call (the model hears nothing): what the customer says is not
        the agent's to answer, and an answer the agent had not begun is not coming. A turn
        it answered already is closed by its `turn_over`, as usual."""
        if self._open is not None and self._open.first_audio is None:
            self._open = None
        self._next = None

    def agent_audio(self, at: float) -> None:
        if self._open is not None and self._open.first_audio is None:
            self._open.first_audio = at

    def tool(self, started: float, finished: float) -> None:
        self._tools.append((started, finished))

    def turn_over(self, at: float) -> Turn | None:
        """Close the turn in progress; returns it (also kept in `turns`), or None when the
        customer had not spoken since the last turn."""
        current, self._open, self._next = self._open, self._next, None
        tools, self._tools = self._tools, []
        if self._open is not None:  # what runs after its speech ended is the next turn's
            self._tools = [tool for tool in tools if tool[1] > self._open.end]
        if current is None:
            return None
        turn = Turn(
            at=current.end,
            user_ms=_ms(current.end - current.start),
            first_audio_ms=(
                None if current.first_audio is None else _ms(current.first_audio - current.end)
            ),
            tools_ms=_ms(_covered(tools, current.end, at)),
            source=current.source,
        )
        self.turns.append(turn)
        return turn

    def call_over(self, at: float) -> Turn | None:
        """The call ended here at `at` (or moved to another process) before the model's turn
        was over, as when the customer hangs up during the agent's goodbye. A turn the agent
        had begun to answer is closed and kept (also in `turns`): its latency is known. Speech
        it had not answered yet is no agent turn. Returns the turn kept, if any."""
        self._next = None
        if self._open is None or self._open.first_audio is None:
            self._open, self._tools = None, []
            return None
        return self.turn_over(at)


def _merged(current: _Open | None, start: float, end: float, source: Source) -> _Open | None:
    """The customer's speech so far in a turn, with this speech (or text) too: a later end
    replaces an earlier one (she went on talking), unless from a lesser source."""
    if current is not None and PRIORITY[source] < PRIORITY[current.source]:
        return current
    start = min(start, current.start) if current is not None else start
    return _Open(start=start, end=max(end, start), source=source)


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _covered(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of [start, end] covered by at least one interval."""
    total, reach = 0.0, start
    for a, b in sorted(intervals):
        a, b = max(a, reach), min(b, end)
        if b > a:
            total += b - a
            reach = b
    return total


class AudioClock:
    """When each moment of the caller's audio stream arrived, for the Live API's
    `audioOffset` ("relative to the start of the audio stream" of the connection).

    `restart(queued)` when a new upstream connection starts; `add(samples, at)` per chunk
    as it arrives; `arrival(offset_s)` gives the arrival time of that offset, or None when
    unknown. Only the last `keep_s` seconds are remembered.
    """

    def __init__(self, rate: int = 16_000, keep_s: float = 120.0) -> None:
        self._rate = rate
        self._keep = int(keep_s * rate)
        self._ends: deque[int] = deque()  # cumulative samples at the end of each chunk
        self._ats: deque[float] = deque()
        self._total = 0

    def restart(self, queued_samples: int = 0) -> None:
        """A new connection's stream starts. `queued_samples`: the last of the audio added
        so far, not sent yet, which the new connection is sent first: its stream starts with
        it (added, as every chunk is, in the order it is sent)."""
        start = self._total - queued_samples
        kept = [(end - start, at) for end, at in zip(self._ends, self._ats, strict=True)
                if end > start]  # fmt: skip
        self._ends = deque(end for end, _ in kept)
        self._ats = deque(at for _, at in kept)
        self._total = self._ends[-1] if kept else 0

    def add(self, samples: int, at: float) -> None:
        self._total += samples
        self._ends.append(self._total)
        self._ats.append(at)
        while self._ends and self._ends[0] < self._total - self._keep:
            self._ends.popleft()
            self._ats.popleft()

    def arrival(self, offset_s: float, *, start: bool = False) -> float | None:
        """`start`: the offset starts something (speech), so it is the moment of the sample
        just after it; it differs from the one before where the stream paused there."""
        exact = offset_s * self._rate
        if not 0 <= exact <= self._total:  # past what arrived (1e308 s, say), or NaN: unknown
            return None
        sample = round(exact)
        index = (bisect.bisect_right if start else bisect.bisect_left)(self._ends, sample)
        if index >= len(self._ends):
            return None
        # Within chunk `index`, which arrived whole at _ats[index]: its audio ended then.
        return self._ats[index] - (self._ends[index] - sample) / self._rate
