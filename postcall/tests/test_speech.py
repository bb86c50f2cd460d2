"""The energy detector on real speech (espeak-ng) and on silence and room noise."""

from __future__ import annotations

import numpy as np

from postcall.speech import SAMPLE_RATE, SpeechDetector, SpeechEnded, SpeechStarted

FRAME = 640  # 20 ms of 16 kHz PCM16


def run(detector: SpeechDetector, pcm: bytes, frame: int = FRAME) -> list[object]:
    """Feed `pcm` in frames as if it arrived in real time from t=0; the edges found."""
    edges: list[object] = []
    for start in range(0, len(pcm), frame):
        chunk = pcm[start : start + frame]
        edge = detector.feed(chunk, (start + len(chunk)) / 2 / SAMPLE_RATE)
        if edge is not None:
            edges.append(edge)
    return edges


def noise(seconds: float, dbfs: float, seed: int = 3) -> bytes:
    rms = 32768 * 10 ** (dbfs / 20)
    samples = np.random.default_rng(seed).normal(0, rms, int(seconds * SAMPLE_RATE))
    return samples.astype("<i2").tobytes()


def silence(seconds: float) -> bytes:
    return b"\x00\x00" * int(seconds * SAMPLE_RATE)


def test_speech_between_silences_is_found_within_a_frame_or_two(sentence: bytes) -> None:
    spoken_s = len(sentence) / 2 / SAMPLE_RATE
    edges = run(SpeechDetector(), silence(1.0) + sentence + silence(1.0))

    assert [type(e) for e in edges] == [SpeechStarted, SpeechEnded]
    ended = edges[1]
    assert isinstance(ended, SpeechEnded)
    assert abs(ended.started_at - 1.0) <= 0.04
    assert abs(ended.at - (1.0 + spoken_s)) <= 0.04


def test_the_end_is_reported_once_the_hangover_has_passed(sentence: bytes) -> None:
    detector = SpeechDetector(hangover_s=0.3)
    pcm = sentence + silence(1.0)
    reported_at = None
    for start in range(0, len(pcm), FRAME):
        at = (start + FRAME) / 2 / SAMPLE_RATE
        if isinstance(detector.feed(pcm[start : start + FRAME], at), SpeechEnded):
            reported_at = at
    spoken_s = len(sentence) / 2 / SAMPLE_RATE
    assert reported_at is not None and 0.3 <= reported_at - spoken_s <= 0.34


def test_pauses_between_words_do_not_end_the_speech(sentence: bytes) -> None:
    edges = run(SpeechDetector(), sentence + silence(0.2) + sentence + silence(1.0))
    assert [type(e) for e in edges] == [SpeechStarted, SpeechEnded]


def test_silence_and_steady_room_noise_are_not_speech() -> None:
    assert run(SpeechDetector(), silence(3.0)) == []
    assert run(SpeechDetector(), noise(3.0, dbfs=-40)) == []


def test_room_noise_after_a_digitally_silent_start_is_not_speech_for_long() -> None:
    """A microphone's first frames are often exact zeros: the floor they set is not one the
    room's noise, arriving after, can never creep up from (it would be her voice for the
    whole call, and no pause of hers ever heard)."""
    detector = SpeechDetector()
    edges = run(detector, silence(0.1) + noise(6.0, dbfs=-45))

    assert not detector.speaking
    assert all(e.at < 3.0 for e in edges if isinstance(e, SpeechEnded))


def test_speech_over_room_noise_is_still_found(sentence: bytes) -> None:
    speech = np.frombuffer(sentence, "<i2").astype(np.int32)
    room = np.frombuffer(noise(1.0 + len(speech) / SAMPLE_RATE + 1.0, dbfs=-45), "<i2")
    mixed = room.astype(np.int32)
    mixed[SAMPLE_RATE : SAMPLE_RATE + len(speech)] += speech
    edges = run(SpeechDetector(), mixed.clip(-32768, 32767).astype("<i2").tobytes())
    assert [type(e) for e in edges] == [SpeechStarted, SpeechEnded]
    assert abs(edges[0].at - 1.0) <= 0.06  # type: ignore[attr-defined]


def test_browser_sized_frames_of_40_ms_work_the_same(sentence: bytes) -> None:
    edges = run(SpeechDetector(), silence(0.5) + sentence + silence(1.0), frame=1280)
    assert [type(e) for e in edges] == [SpeechStarted, SpeechEnded]


def test_an_empty_frame_is_ignored() -> None:
    assert SpeechDetector().feed(b"", 0.0) is None
