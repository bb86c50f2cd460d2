"""Where each side's audio lands on the recording's timeline (postcall/recording.py's
Timeline, pure): the customer end to end, the agent where the customer hears it, a barge-in
cutting what was not yet played, and both sides always the same length."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from postcall.recording import FLUSH_INTERVAL_S, Timeline, flush_phase, next_flush


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
    timeline = Timeline(t0=0.0)
    timeline.customer(pcm(1, 640), at=0.04)
    for _ in range(25):  # 0.46 s later, 0.5 s at once (a reconnect's backlog, say)
        timeline.customer(pcm(2, 320), at=0.5)

    customer, _ = timeline.settled(0.6)

    assert customer[:8_640].tolist() == [1] * 640 + [2] * 8_000  # none of it overwritten


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
