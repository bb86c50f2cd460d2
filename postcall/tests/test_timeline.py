"""Where each side's audio lands on the recording's timeline (postcall/recording.py's
Timeline, pure): the customer end to end from a browser and by its stream's clock from a phone,
catching up after a stall by dropping near-silence only, the agent where the customer hears it,
a barge-in cutting what was not yet played, and both sides always the same length."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from postcall.recording import (
    FLUSH_INTERVAL_S,
    LATE_MAX_S,
    SETTLE_S,
    StreamTime,
    Timeline,
    flush_phase,
    next_flush,
)


def pcm(value: int, samples: int) -> bytes:
    return np.full(samples, value, "<i2").tobytes()


def test_customer_frames_are_laid_end_to_end_whatever_their_jitter() -> None:
    timeline = Timeline(t0=0.0)
    timeline.customer(pcm(1, 640), at=0.041)  # 40 ms frames arriving a little early or late
    timeline.customer(pcm(2, 640), at=0.078)
    timeline.customer(pcm(3, 640), at=0.125)

    customer, agent = timeline.settled(0.12)

    assert customer.tolist() == [1] * 640 + [2] * 640 + [3] * 640
    assert len(agent) == 2880 and not agent.any()  # 120 ms at 24 kHz, silent


def test_customer_audio_after_a_real_gap_starts_after_silence() -> None:
    timeline = Timeline(t0=0.0)
    timeline.customer(pcm(1, 640), at=0.04)
    timeline.customer(pcm(2, 640), at=1.04)  # the microphone paused for 0.96 s

    customer, _ = timeline.settled(1.04)

    assert customer[:640].tolist() == [1] * 640
    assert not customer[640:16_000].any()
    assert customer[16_000:].tolist() == [2] * 640


def test_speech_resuming_after_a_pause_is_laid_where_it_was_said_despite_the_pre_roll() -> None:
    """The page holds the microphone back while the customer is quiet; as she speaks again it
    sends the 200 ms it held (static/voice/speech-gate.js) at once, then the rest in real time."""
    timeline = Timeline(t0=0.0)
    for n in range(50):  # a second of talk, frames in real time
        timeline.customer(pcm(1000, 320), at=0.02 * (n + 1))
    for _ in range(10):  # at 4.0 s, the quiet 200 ms said from 3.8 s
        timeline.customer(pcm(5, 320), at=4.0)
    for n in range(25):  # the words, said from 4.0 s on
        timeline.customer(pcm(2000, 320), at=4.0 + 0.02 * (n + 1))

    customer, _ = timeline.settled(4.5)

    assert customer[:16_000].tolist() == [1000] * 16_000
    assert not customer[16_000:60_800].any()
    assert customer[60_800:64_000].tolist() == [5] * 3_200
    assert customer[64_000:72_000].tolist() == [2000] * 8_000


def test_a_burst_longer_than_the_pause_before_it_is_laid_after_what_was_said_before() -> None:
    # Words (loud markers): a burst's near-silent frames that end up after their arrival are
    # dropped (test_a_burst_running_ahead_of_real_time_drops_only_its_near_silent_frames).
    timeline = Timeline(t0=0.0)
    timeline.customer(pcm(1, 640), at=0.04)
    for _ in range(25):  # 0.46 s later, 0.5 s at once (a reconnect's backlog, say)
        timeline.customer(pcm(2000, 320), at=0.5)

    customer, _ = timeline.settled(0.6)

    assert customer[:8_640].tolist() == [1] * 640 + [2000] * 8_000  # none of it overwritten


def test_a_burst_running_ahead_of_real_time_drops_only_its_near_silent_frames() -> None:
    timeline = Timeline(t0=0.0)
    timeline.customer(pcm(1, 640), at=0.04)
    for n in range(25):  # as above, its last four frames near-silent (under -50 dBFS)
        timeline.customer(pcm(2000 if n < 21 else 90, 320), at=0.5)

    customer, _ = timeline.settled(0.6)

    # The burst fills the 0.46 s before it arrived; its near-silent frames that would lie
    # wholly after its arrival are dropped (the two before them still fit before it).
    assert customer[:8_000].tolist() == [1] * 640 + [2000] * 6_720 + [90] * 640
    assert not customer[8_000:].any()


def test_agent_audio_lands_at_its_arrival_or_after_the_audio_before_it() -> None:
    timeline = Timeline(t0=0.0)
    timeline.agent(pcm(5, 480), at=0.1)  # 20 ms at 24 kHz, played from 0.1 s
    timeline.agent(pcm(6, 480), at=0.1)  # a burst: queued behind the first
    timeline.agent(pcm(7, 480), at=0.2)  # after a pause: at its arrival

    _, agent = timeline.settled(0.24)

    assert not agent[:2400].any()
    assert agent[2400:3360].tolist() == [5] * 480 + [6] * 480
    assert not agent[3360:4800].any()
    assert agent[4800:5280].tolist() == [7] * 480


def test_a_barge_in_cuts_the_agent_audio_not_yet_played() -> None:
    timeline = Timeline(t0=0.0)
    timeline.agent(pcm(5, 24_000), at=0.0)  # a whole second arrives at once
    timeline.interrupted(at=0.5)
    timeline.agent(pcm(6, 480), at=0.6)

    _, agent = timeline.settled(1.0)

    assert agent[:12_000].tolist() == [5] * 12_000
    assert not agent[12_000:14_400].any()
    assert agent[14_400:14_880].tolist() == [6] * 480
    assert not agent[14_880:].any()


def test_what_was_settled_leaves_the_timeline_and_both_sides_cover_the_same_span() -> None:
    timeline = Timeline(t0=0.0)
    timeline.customer(pcm(1, 16_000), at=1.0)
    timeline.agent(pcm(2, 24_000), at=0.0)

    first = timeline.settled(0.51)  # whole 20 ms steps only: 0.5 s
    second = timeline.settled(1.0)

    assert [len(side) for side in first] == [8_000, 12_000]
    assert [len(side) for side in second] == [8_000, 12_000]
    assert (np.concatenate([first[0], second[0]]) == 1).all()
    assert (np.concatenate([first[1], second[1]]) == 2).all()


def test_an_odd_trailing_byte_is_dropped() -> None:
    timeline = Timeline(t0=0.0)
    timeline.customer(pcm(1, 320) + b"\x07", at=0.02)

    customer, _ = timeline.settled(0.02)

    assert customer.tolist() == [1] * 320


def test_calls_started_together_encode_their_recordings_at_different_moments() -> None:
    phases = {flush_phase(f"CALL-{n:032x}") for n in range(50)}

    assert all(0 <= phase < FLUSH_INTERVAL_S for phase in phases)
    assert len(phases) >= 45  # spread over the second, not bunched
    assert max(phases) - min(phases) > 0.8 * FLUSH_INTERVAL_S


def test_each_recording_flushes_at_its_own_phase_however_long_its_last_write_took() -> None:
    phase = 0.123
    due = next_flush(1000.0, phase)
    moments = [due]
    for write_took in (0.01, 0.3, 0.49, 1.2, 0.0):  # the last two: one slow, then one quick
        due = next_flush(max(due, due + write_took), phase)
        moments.append(due)

    assert all(round((m - phase) % FLUSH_INTERVAL_S, 6) in (0, FLUSH_INTERVAL_S) for m in moments)
    assert [round(b - a, 6) for a, b in pairwise(moments)] == [0.5, 0.5, 0.5, 1.5, 0.5]
    assert moments[0] == pytest.approx(1000.123)


def test_an_empty_or_one_byte_frame_on_the_agent_side_is_ignored() -> None:
    timeline = Timeline(t0=0.0)
    timeline.agent(b"", at=0.02)  # a staff member's browser sent nothing
    timeline.agent(b"\x01", at=0.04)  # or half a sample
    timeline.agent(pcm(4, 480), at=0.06)  # then 20 ms of speech

    _, agent = timeline.settled(0.1)

    assert not agent[:1440].any()
    assert agent[1440:1920].tolist() == [4] * 480  # 20 ms at 24 kHz, from 60 ms on


# --- After a stall: caller audio that arrives late, in a burst --------------------------------

Frame = tuple[bytes, float, StreamTime | None]  # what the call session hands the recorder


def recorded(frames: list[Frame], end: float, phase: float = 0.37) -> np.ndarray:
    """The customer's side as CallRecorder lays and settles it: each frame at its arrival,
    the settled part taken every FLUSH_INTERVAL_S (SETTLE_S behind), the rest at the end."""
    timeline, parts = Timeline(t0=0.0), []
    flush = phase
    for audio, at, said in frames:
        while flush <= at:
            parts.append(timeline.settled(flush - SETTLE_S)[0])
            flush += FLUSH_INTERVAL_S
        timeline.customer(audio, at, said)
    parts.append(timeline.settled(end, last=True)[0])
    return np.concatenate(parts)


def where(customer: np.ndarray, marker: int) -> list[float]:
    """Where (s) the samples of `marker` lie: their first and their count."""
    found = np.flatnonzero(customer == marker)
    return [round(found[0] / 16_000, 4), len(found) / 16_000] if len(found) else [-1.0, 0.0]


def phone_line(
    seconds: float,
    stalled: tuple[float, float],
    stream: str = "MZ1",
    *,
    since: float = 0.0,
    marker: int = 1000,
) -> list[Frame]:
    """Twilio's 20 ms frames of `seconds` of her words from `since` (frame n marked `marker`
    + n), each arriving as it ends but those ending within `stalled` (seconds into the
    stream), which all arrive at its end."""
    frames: list[Frame] = []
    for n in range(round(seconds / 0.02)):
        ended = round(0.02 * (n + 1), 2)
        at = stalled[1] if stalled[0] < ended <= stalled[1] else ended
        frames.append((pcm(marker + n, 320), since + at, (stream, 20 * n)))
    return frames


@pytest.mark.parametrize("phase", [0.05, 0.2, 0.37, 0.5])
def test_a_phone_stream_that_stalls_is_laid_where_it_was_said_and_nothing_is_lost(
    phase: float,
) -> None:
    """The line stalls 0.6 s (a network hiccup, a busy loop), then sends what it held at once.
    Laid by arrival, the burst could only go after what was settled meanwhile, and her side
    stayed behind the agent's by that for the rest of the call, its end cut off."""
    customer = recorded(phone_line(3.0, stalled=(1.0, 1.6)), end=3.0, phase=phase)

    assert where(customer, 1000 + 130) == [2.6, 0.02]  # said at 2.60 s, laid there
    assert where(customer, 1000 + 60) == [1.2, 0.02]  # the burst too
    assert all(where(customer, 1000 + n)[1] == 0.02 for n in range(150))  # all of it


def test_a_phone_stream_is_waited_for_no_longer_than_late_max_s() -> None:
    frames = phone_line(1.0, stalled=(0.0, 0.0))
    timeline = Timeline(t0=0.0)
    for audio, at, said in frames:
        timeline.customer(audio, at, said)

    waiting, _ = timeline.settled(1.5)  # the stream stopped at 1.0 s: wait for it
    given_up, _ = timeline.settled(1.5 + LATE_MAX_S)  # no longer than LATE_MAX_S
    rest, _ = timeline.settled(5.0, last=True)  # the call is over: everything

    assert len(waiting) == 16_000  # up to 1.0 s
    assert len(given_up) == 8_000  # up to 1.5 s
    assert len(rest) == 56_000  # up to 5.0 s


def test_a_phone_stream_that_reconnects_is_laid_by_its_own_clock_which_starts_again() -> None:
    """Twilio's timestamps count from each stream's start: a stream that drops and is opened
    again (or a call moved to another process) starts at 0 ms, set by its first frame."""
    before = phone_line(1.0, stalled=(0.0, 0.0), stream="MZ1")
    for stream in ("MZ2", "MZ1"):  # a new SID, or only the timestamps starting again
        # Back at 3.0 s, and stalled 0.5 s from 3.4 s.
        after = phone_line(1.0, stalled=(0.4, 0.9), stream=stream, since=3.0, marker=2000)
        customer = recorded(before + after, end=4.0)

        assert where(customer, 1000 + 49) == [0.98, 0.02]
        assert not customer[16_000:48_000].any()  # the line was away
        assert where(customer, 2000) == [3.0, 0.02]
        assert where(customer, 2000 + 30) == [3.6, 0.02]  # after its own stall
        assert all(where(customer, 2000 + n)[1] == 0.02 for n in range(50))


def test_a_phone_stream_seen_first_mid_way_is_set_by_its_first_frame() -> None:
    """A call moved here mid-stream (or a first frame with any timestamp): laid from where
    that frame arrived, not from its stream's start."""
    timeline = Timeline(t0=0.0)
    timeline.customer(pcm(3000, 320), at=0.52, said=("MZ1", 60_000))
    timeline.customer(pcm(3001, 320), at=0.54, said=("MZ1", 60_020))

    customer, _ = timeline.settled(0.6, last=True)

    assert where(customer, 3000) == [0.5, 0.02]
    assert where(customer, 3001) == [0.52, 0.02]


def test_a_phone_frame_said_to_be_from_seconds_after_it_arrived_is_laid_as_it_arrived() -> None:
    """A timestamp that leaps ahead cannot be when the audio was said: the frame sets the
    stream's clock again rather than have the timeline fill hours of silence before it."""
    timeline = Timeline(t0=0.0)
    timeline.customer(pcm(3000, 320), at=0.02, said=("MZ1", 0))
    timeline.customer(pcm(3001, 320), at=0.04, said=("MZ1", 3_600_000))  # an hour on
    timeline.customer(pcm(3002, 320), at=0.06, said=("MZ1", 3_600_020))

    customer, _ = timeline.settled(0.06, last=True)

    assert len(timeline.customer_track.buffer) == 0
    assert [where(customer, 3000 + n)[0] for n in range(3)] == [0.0, 0.02, 0.04]


def test_a_phone_stream_whose_first_frame_came_late_is_laid_by_the_frames_after_it() -> None:
    timeline = Timeline(t0=0.0)
    timeline.customer(pcm(3000, 320), at=0.08, said=("MZ1", 0))  # 60 ms late
    timeline.customer(pcm(3001, 320), at=0.04, said=("MZ1", 20))  # on time
    timeline.customer(pcm(3002, 320), at=0.06, said=("MZ1", 40))

    customer, _ = timeline.settled(0.1, last=True)

    assert [where(customer, 3000 + n)[0] for n in range(3)] == [0.0, 0.02, 0.04]


def test_a_web_burst_after_a_stall_catches_up_in_her_quiet_frames_without_losing_words() -> None:
    """The page's 40 ms frames stall 0.6 s mid-sentence and come at once. What was settled
    meanwhile (up to 1.17 s, by the flush at 1.37 s) cannot take them: they are laid after it,
    0.17 s behind real time, and her side catches up by dropping near-silent frames (a breath
    between words), never words. Laid end to end, it stayed behind until she paused."""
    frames: list[Frame] = []
    for n in range(75):  # 3 s: words, 0.2 s between two of them at 2.0 s, words to the end
        ended = round(0.04 * (n + 1), 2)
        at = 1.6 if 1.0 < ended <= 1.6 else ended
        frames.append((pcm(5 if 2.0 < ended <= 2.2 else 1000 + n, 640), at, None))

    customer = recorded(frames, end=3.0)

    # Words said from 2.2 s on are where they arrived, within one frame.
    assert abs(where(customer, 1000 + 55)[0] - 2.2) <= 0.04
    assert abs(where(customer, 1000 + 74)[0] - 2.96) <= 0.04
    words = [n for n in range(75) if not 2.0 < round(0.04 * (n + 1), 2) <= 2.2]
    assert all(where(customer, 1000 + n)[1] == 0.04 for n in words)  # every word kept
