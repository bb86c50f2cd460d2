"""A phone stream whose first frames came late (the server still busy opening the call): its
clock is set by its `start` as the server read it, before the call's setup (stream_began), or
without one by the least-delayed of its frames, not by the first one's arrival, so her audio
lies where Twilio's timestamps say and the end of the call cuts none of her last words
(postcall/recording.py's Timeline, pure, flushed as CallRecorder flushes it)."""

from __future__ import annotations

import numpy as np
import pytest

from postcall.recording import (
    ANCHOR_S,
    FLUSH_INTERVAL_S,
    LATE_MAX_S,
    SETTLE_S,
    CallRecorder,
    Timeline,
)
from postcall.tests.test_timeline import Frame, pcm, phone_line, where

PAUSE = (2.0, 2.3)  # seconds of the stream in which she is silent (the line's near-silence)


def busy_start(delay: float, catching_up: float, seconds: float = 3.0) -> list[Frame]:
    """Twilio's 20 ms frames of her words from the stream's start (frame n marked 1000 + n,
    near-silent within PAUSE), handled `delay` late at first, less and less over `catching_up`
    seconds (0: late by `delay` for as long, then the rest at once), then as each ends."""
    frames: list[Frame] = []
    for n in range(round(seconds / 0.02)):
        ended = round(0.02 * (n + 1), 2)
        if catching_up:
            lag = delay * max(0.0, 1 - (ended - 0.02) / catching_up)
        else:
            lag = delay if ended <= delay + 0.02 else 0.0
        at = round(max(ended + lag, frames[-1][1] if frames else 0.0), 4)  # handled in order
        silent = PAUSE[0] < ended <= PAUSE[1]
        frames.append((pcm(5 if silent else 1000 + n, 320), at, ("MZ1", 20 * n)))
    return frames


def recorded(timeline: Timeline, frames: list[Frame], end: float, phase: float) -> np.ndarray:
    """Her side as CallRecorder lays and settles it: every FLUSH_INTERVAL_S from `phase`
    (SETTLE_S behind), between the frames as they are handled, and the rest at the end."""
    parts, flush = [], phase
    for audio, at, said in frames:
        while flush <= at:
            parts.append(timeline.settled(flush - SETTLE_S)[0])
            flush += FLUSH_INTERVAL_S
        timeline.customer(audio, at, said)
    parts.append(timeline.settled(end, last=True)[0])
    return np.concatenate(parts)


def words(seconds: float = 3.0) -> list[int]:
    ends = [(n, round(0.02 * (n + 1), 2)) for n in range(round(seconds / 0.02))]
    return [n for n, ended in ends if not PAUSE[0] < ended <= PAUSE[1]]


@pytest.mark.parametrize("phase", [0.05, 0.2, 0.37, 0.5])
@pytest.mark.parametrize("delay", [0.1, 0.2, 0.3])
@pytest.mark.parametrize("catching_up", [0.0, 0.3, ANCHOR_S])
def test_a_phone_stream_handled_late_at_first_is_laid_where_it_was_said_to_its_end(
    phase: float, delay: float, catching_up: float
) -> None:
    """Set by its first frame's arrival, the clock put all of her audio `delay` late once the
    settled part reached her first words (the next flush), and the call's end cut her last."""
    customer = recorded(Timeline(t0=0.0), busy_start(delay, catching_up), end=3.0, phase=phase)

    assert where(customer, 1000) == [0.0, 0.02]  # said first, laid at the start
    assert where(customer, 1000 + 50) == [1.0, 0.02]
    assert where(customer, 1000 + 149) == [2.98, 0.02]  # her last words, not cut
    assert all(where(customer, 1000 + n)[1] == 0.02 for n in words())


@pytest.mark.parametrize("delay", [0.1, 0.2, 0.3])
def test_a_phone_stream_catching_up_for_longer_is_behind_only_until_she_pauses(
    delay: float,
) -> None:
    """A server busy for longer than ANCHOR_S: her start was settled before the clock was
    right. Her side catches up by near-silent frames (never words): after her pause her words
    lie where they were said, and the call's end cuts none of them."""
    frames = busy_start(delay, catching_up=1.8)
    customer = recorded(Timeline(t0=0.0), frames, end=3.0, phase=0.37)

    # After the pause, where she said it (within a frame: her side catches up by whole ones,
    # so less than one may still be cut off her last frame at the call's end).
    assert where(customer, 1000 + 120)[0] == pytest.approx(2.4, abs=0.02)
    assert where(customer, 1000 + 149)[0] == pytest.approx(2.98, abs=0.02)
    assert all(where(customer, 1000 + n)[1] == 0.02 for n in words()[:-1])  # every word kept


@pytest.mark.parametrize("delay", [0.22, 0.3])
def test_a_phone_calls_start_waits_for_its_stream_first_frame(delay: float) -> None:
    """The server busy opening the call: its recording flushes (SETTLE_S behind) before the
    stream's first frame is handled, then the frames said meanwhile come at once. A phone
    call's start is held back for them as a new stream's is."""
    recorder = CallRecorder("CA-late", t0=0.0, clock=lambda: 0.0, channel="phone")
    frames = [(audio, max(at, delay), said) for audio, at, said in busy_start(0.0, 0.0)]
    customer = recorded(recorder.timeline, frames, end=3.0, phase=delay - 0.01)

    assert where(customer, 1000) == [0.0, 0.02]
    assert where(customer, 1000 + 149) == [2.98, 0.02]
    assert all(where(customer, 1000 + n)[1] == 0.02 for n in words())


def test_a_phone_calls_start_is_held_back_no_longer_than_anchor_s() -> None:
    """A phone call's recording is written while it goes on: the hold on a stream's start (for
    its clock to settle) ends ANCHOR_S after its first frame, or after the call's start if none
    comes."""
    timeline = Timeline(t0=0.0, phone=True)
    timeline.agent(pcm(7, 24_000), at=0.0)  # the greeting, with no frame from her yet

    held, _ = timeline.settled(ANCHOR_S - 0.1)
    customer, agent = timeline.settled(ANCHOR_S + 0.1)

    assert len(held) == 0
    assert len(customer) == len(agent) * 2 // 3 == round((ANCHOR_S + 0.1) * 16_000)


@pytest.mark.parametrize("phase", [0.05, 0.37])
@pytest.mark.parametrize("delay", [0.3, 1.5])
@pytest.mark.parametrize("start_read_late", [False, True])
def test_a_phone_stream_is_laid_by_its_start_however_long_the_call_took_to_set_up(
    phase: float, delay: float, start_read_late: bool
) -> None:
    """Its `start` read as it came (stream_began), before the call's setup held her frames up
    `delay` (then all at once): each lies where she said it, a setup longer than ANCHOR_S too
    (its frames are waited for, up to LATE_MAX_S). A `start` read late with the first frames
    (the server busy as it came) is set right by the frames read sooner after them."""
    timeline = Timeline(t0=0.0, phone=True)
    timeline.stream_began("MZ1", delay if start_read_late else 0.0)
    frames = [(audio, max(at, delay), said) for audio, at, said in busy_start(0.0, 0.0)]
    customer = recorded(timeline, frames, end=3.0, phase=phase)

    assert where(customer, 1000) == [0.0, 0.02]
    assert where(customer, 1000 + 149) == [2.98, 0.02]
    assert all(where(customer, 1000 + n)[1] == 0.02 for n in words())
    assert all(where(customer, 1000 + n)[0] == round(0.02 * n, 2) for n in words())


@pytest.mark.parametrize("delay", [3.5, 5.0])
def test_a_phone_call_set_up_for_longer_than_its_stream_is_waited_for_lays_her_from_its_start(
    delay: float,
) -> None:
    """The call's setup (its database slow) took `delay`, longer than LATE_MAX_S and ANCHOR_S
    together: the recording, begun once it was done, flushes before her frames held up
    meanwhile are read. Her stream is waited for from then, not from its start: she lies where
    she said it, not late by what the setup took past the wait."""
    timeline = Timeline(t0=0.0, phone=True, opened=delay)
    timeline.stream_began("MZ1", 0.0)
    frames = [(audio, delay + 0.01, said) for audio, _, said in busy_start(0.0, 0.0)]
    customer = recorded(timeline, frames, end=delay + 0.01, phase=delay + 0.005)

    assert where(customer, 1000) == [0.0, 0.02]
    assert all(where(customer, 1000 + n)[0] == round(0.02 * n, 2) for n in words())


def test_a_phone_stream_that_began_but_sends_nothing_is_waited_for_a_while_only() -> None:
    """Her frames from its start may still come (up to LATE_MAX_S late), and the start of a
    call is held back (ANCHOR_S) for them: no longer."""
    timeline = Timeline(t0=0.0, phone=True)
    timeline.stream_began("MZ1", 0.0)

    waiting, _ = timeline.settled(LATE_MAX_S + ANCHOR_S - 0.1)
    given_up, _ = timeline.settled(LATE_MAX_S + ANCHOR_S + 0.5)

    assert len(waiting) == 0
    assert len(given_up) == round((ANCHOR_S + 0.5) * 16_000)


def test_a_phone_stream_taken_up_again_is_laid_by_its_own_start() -> None:
    """Her line dropped and Twilio opened a new stream (a new SID, its timestamps from 0 again)
    at 3.0 s, whose first frames were read late while the call was taken up again: laid from
    where the new stream began, as each is said."""
    timeline = Timeline(t0=0.0, phone=True)
    timeline.stream_began("MZ1", 0.0)
    first = recorded(timeline, phone_line(1.0, (0.0, 0.0), "MZ1"), end=1.0, phase=0.37)
    timeline.stream_began("MZ2", 3.0)
    after = phone_line(1.0, stalled=(0.0, 0.6), stream="MZ2", since=3.0, marker=2000)
    customer = np.concatenate((first, recorded(timeline, after, end=4.0, phase=1.37)))

    assert where(customer, 1000 + 49) == [0.98, 0.02]
    assert not customer[16_000:48_000].any()  # the line was away
    assert [where(customer, 2000 + n) for n in range(50)] == [
        [round(3.0 + 0.02 * n, 2), 0.02] for n in range(50)
    ]
