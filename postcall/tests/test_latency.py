"""Per-turn latency from literal timelines (seconds on one clock)."""

from __future__ import annotations

from typing import Any

import pytest

from postcall import finish, metrics
from postcall.latency import AudioClock, Turn, TurnTracker
from postcall.observer import CallObserver
from realtime import live_protocol as lp


def test_a_turn_measures_from_the_end_of_speech_to_the_first_agent_audio() -> None:
    tracker = TurnTracker()
    tracker.user_speech(1.0, 2.5, "detector")
    tracker.agent_audio(3.2)
    tracker.agent_audio(3.3)
    assert tracker.turn_over(5.0) == Turn(
        at=2.5, user_ms=1500, first_audio_ms=700, tools_ms=0, source="detector"
    )


def test_tool_time_inside_the_turn_counts_overlaps_once() -> None:
    tracker = TurnTracker()
    tracker.tool(0.0, 0.5)  # an earlier turn's tool, finished before this speech ended
    tracker.user_speech(1.0, 2.0, "detector")
    tracker.tool(2.1, 2.4)
    tracker.tool(2.3, 2.6)  # runs alongside the first
    tracker.agent_audio(2.9)
    turn = tracker.turn_over(4.0)
    assert turn is not None and turn.tools_ms == 500 and turn.first_audio_ms == 900


def test_the_live_apis_signal_wins_over_the_detector_for_the_rest_of_the_call() -> None:
    tracker = TurnTracker()
    tracker.user_speech(1.0, 2.0, "detector")
    tracker.user_speech(1.05, 2.05, "live")  # arrives later, replaces it
    tracker.agent_audio(2.5)
    first = tracker.turn_over(3.0)
    assert first is not None and (first.source, first.first_audio_ms) == ("live", 450)
    tracker.user_speech(4.0, 5.0, "detector")  # ignored from now on
    tracker.agent_audio(5.5)
    assert tracker.turn_over(6.0) is None


def test_a_customer_who_goes_on_talking_moves_the_end() -> None:
    tracker = TurnTracker()
    tracker.user_speech(1.0, 2.0, "detector")
    tracker.user_speech(2.4, 3.0, "detector")
    tracker.agent_audio(3.6)
    turn = tracker.turn_over(4.0)
    assert turn is not None and (turn.at, turn.user_ms, turn.first_audio_ms) == (3.0, 2000, 600)


def test_speech_after_the_agent_answered_does_not_change_that_turn() -> None:
    tracker = TurnTracker()
    tracker.user_speech(1.0, 2.0, "detector")
    tracker.agent_audio(2.5)
    tracker.user_speech(2.8, 3.0, "detector")  # a barge-in: the next turn's
    turn = tracker.turn_over(3.1)
    assert turn is not None and turn.first_audio_ms == 500


def test_speech_while_the_agent_answers_is_the_next_turn() -> None:
    tracker = TurnTracker()
    tracker.user_speech(1.0, 2.0, "detector")
    tracker.agent_audio(2.5)
    tracker.user_speech(2.8, 3.0, "detector")  # "no, wait": a barge-in
    tracker.tool(3.05, 3.2)  # run for the barge-in
    tracker.turn_over(3.1)  # interrupted
    tracker.agent_audio(3.6)  # the agent answers the barge-in
    second = tracker.turn_over(4.5)
    assert second == Turn(at=3.0, user_ms=200, first_audio_ms=600, tools_ms=150,
                          source="detector")  # fmt: skip


def test_a_message_typed_while_the_agent_answers_is_its_own_turn(settings: Any) -> None:
    settings.RECORD_CALLS = False
    observer = CallObserver(call_id="CALL-TYPED", channel="web", clock=lambda: 0.0)
    observer.on_live_event(lp.VoiceActivity(start=True), at=1.0)
    observer.on_live_event(lp.VoiceActivity(start=False), at=2.0)
    observer.on_live_event(lp.AudioChunk(b"\x00\x00" * 480), at=2.5)
    observer.caller_text(at=3.0)  # typed while the agent speaks
    observer.on_live_event(lp.Interrupted(), at=3.1)  # the model stops to answer it
    observer.on_live_event(lp.AudioChunk(b"\x00\x00" * 480), at=3.8)
    observer.on_live_event(lp.TurnComplete(), at=5.0)

    assert [(turn.source, turn.first_audio_ms) for turn in observer.turns.turns] == [
        ("live", 500),
        ("text", 800),
    ]


def test_a_turn_without_agent_audio_is_kept_with_no_latency() -> None:
    tracker = TurnTracker()
    tracker.user_speech(1.0, 2.0, "text")
    turn = tracker.turn_over(2.2)
    assert turn is not None and turn.first_audio_ms is None and turn.user_ms == 1000


def test_the_agent_speaking_first_is_not_a_turn() -> None:
    tracker = TurnTracker()
    tracker.agent_audio(0.5)  # the greeting
    assert tracker.turn_over(2.0) is None
    assert tracker.turns == []


def test_the_audio_clock_maps_stream_offsets_to_arrival_times() -> None:
    clock = AudioClock()
    for n in range(50):  # 40 ms chunks arriving from t=10.04
        clock.add(640, 10.0 + 0.04 * (n + 1))
    assert clock.arrival(1.0) == 11.0
    arrival = clock.arrival(0.5)
    assert arrival is not None and abs(arrival - 10.5) < 1e-9
    assert clock.arrival(3.0) is None  # not received yet
    for absurd in (1e308, float("inf"), float("nan"), -1.0):  # from a broken Live API
        assert clock.arrival(absurd) is None and clock.arrival(absurd, start=True) is None
    clock.restart()
    assert clock.arrival(0.5) is None


def test_a_resumed_connections_offsets_count_the_caller_audio_queued_before_it() -> None:
    clock = AudioClock()
    for n in range(50):  # 40 ms chunks arriving from t=10.04
        clock.add(640, 10.0 + 0.04 * (n + 1))
    # The connection dropped after the first 1.5 s: the last 0.5 s waited, and is sent
    # first on the next one.
    clock.restart(queued_samples=8_000)
    for n in range(50, 75):
        clock.add(640, 10.0 + 0.04 * (n + 1))
    arrival = clock.arrival(0.2)  # 1.7 s into the caller's audio
    assert arrival is not None and abs(arrival - 11.7) < 1e-9
    assert clock.arrival(1.5) == 13.0  # the end of what arrived
    assert clock.arrival(1.6) is None


def test_a_turn_after_a_colleague_held_the_call_is_measured_from_the_customers_speech(
    settings: Any,
) -> None:
    """While a person holds the call the model hears nothing, so its speech offsets count
    only the audio it heard: the minute of the hold must not stretch the next turn."""
    settings.RECORD_CALLS = False
    now = [0.0]
    observer = CallObserver(call_id="CALL-HOLD", channel="web", clock=lambda: now[0])
    heard = 0.0  # seconds of audio the model received

    def customer_audio(seconds: float, *, to_model: bool) -> None:
        nonlocal heard
        for _ in range(round(seconds / 0.02)):
            now[0] += 0.02
            observer.caller_audio(b"\x00\x00" * 320, at=now[0], to_model=to_model)
            heard += 0.02 if to_model else 0.0

    customer_audio(5, to_model=True)  # talking with the agent
    customer_audio(60, to_model=False)  # a colleague holds the call, then hands it back
    observer.on_live_event(lp.VoiceActivity(start=True, offset_s=heard), at=now[0])
    customer_audio(2, to_model=True)
    observer.on_live_event(lp.VoiceActivity(start=False, offset_s=heard), at=now[0] + 0.3)
    observer.on_live_event(lp.AudioChunk(b"\x00\x00" * 480), at=now[0] + 0.8)
    observer.on_live_event(lp.TurnComplete(), at=now[0] + 2)

    [turn] = observer.turns.turns
    assert (turn.first_audio_ms, turn.user_ms) == (800, 2000)


def test_a_colleague_holding_the_call_is_no_agent_turn_and_the_agents_next_answer_is_one(
    settings: Any, sentence: bytes
) -> None:
    """Timed by the server's detector (no speech signals from the Live API): the customer
    talks with the colleague, who answers her, then with the agent again."""
    settings.RECORD_CALLS = False
    now = [0.0]
    observer = CallObserver(call_id="CALL-HELD", channel="phone", clock=lambda: now[0])

    def customer(pcm: bytes, *, to_model: bool) -> None:
        for start in range(0, len(pcm), 640):  # 20 ms frames
            now[0] += 0.02
            observer.caller_audio(pcm[start : start + 640], at=now[0], to_model=to_model)

    quiet = b"\x00" * (640 * 50)  # 1 s
    customer(quiet + sentence + quiet, to_model=True)
    observer.on_live_event(lp.AudioChunk(b"\x00\x00" * 480), at=now[0] + 0.1)
    observer.on_live_event(lp.TurnComplete(), at=now[0] + 2)
    now[0] += 2

    customer(quiet + sentence + quiet, to_model=False)  # a colleague holds the call
    observer.staff_audio(b"\x00\x00" * 480, at=now[0] + 0.1)
    now[0] += 30  # and hands it back to the agent
    customer(quiet + sentence, to_model=True)
    words_end = now[0]
    customer(quiet, to_model=True)
    observer.on_live_event(lp.AudioChunk(b"\x00\x00" * 480), at=words_end + 0.9)
    observer.on_live_event(lp.TurnComplete(), at=words_end + 3)

    first, last = observer.turns.turns  # the colleague's answer is none
    assert first.first_audio_ms is not None and abs(first.first_audio_ms - 1100) < 100
    assert abs(last.at - words_end) < 0.1
    assert last.first_audio_ms is not None and abs(last.first_audio_ms - 900) < 100


async def test_audio_dropped_before_a_call_moved_to_another_process_is_counted_here(
    settings: Any,
) -> None:
    """The process the call moves to counts only what it drops: what was dropped here would
    otherwise never reach the operators' figures."""
    settings.RECORD_CALLS = False
    observer = CallObserver(call_id="CALL-MOVED", channel="web", clock=lambda: 0.0)
    dropped = metrics.FRAMES_DROPPED
    before = (dropped.labels("to_caller")._value.get(), dropped.labels("to_model")._value.get())
    await observer.started()

    await observer.moved_out(dropped_agent_chunks=3, dropped_caller_bytes=640 * 5)

    after = (dropped.labels("to_caller")._value.get(), dropped.labels("to_model")._value.get())
    assert (after[0] - before[0], after[1] - before[1]) == (3, 5)


@pytest.mark.parametrize("how", ["ended", "moved_out"])
async def test_a_call_over_while_the_agent_answers_keeps_that_turn_on_its_record(
    how: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """She hangs up during the agent's goodbye (or the call moves on before the model's turn
    is over): the turn it had begun to answer is written with the call, its latency known."""
    settings.RECORD_CALLS = False
    written: list[list[dict[str, Any]]] = []

    async def kept(call_id: str, turns: list[dict[str, Any]]) -> None:
        written.append(turns)

    monkeypatch.setattr(finish, "finish_call", kept)
    monkeypatch.setattr(finish, "keep_turns", kept)
    observer = CallObserver(call_id="CALL-BYE", channel="web", clock=lambda: 3.5)
    await observer.started()
    observer.on_live_event(lp.VoiceActivity(start=True, offset_s=None), at=1.0)
    observer.on_live_event(lp.VoiceActivity(start=False, offset_s=None), at=2.0)
    observer.on_live_event(lp.AudioChunk(b"\x00\x00" * 480), at=2.7)  # "Goodbye, Asha..."

    if how == "ended":
        await observer.ended("caller_hung_up")
    else:
        await observer.moved_out()

    [turns] = written
    assert [turn["first_audio_ms"] for turn in turns] == [700]


async def test_a_message_typed_to_a_colleague_holding_the_call_is_no_agent_turn(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written to the colleague (the model reads nothing while they hold the call): the
    model's first words after the hand-back, seconds later, do not answer it."""
    settings.RECORD_CALLS = False
    written: list[list[dict[str, Any]]] = []

    async def kept(call_id: str, turns: list[dict[str, Any]]) -> None:
        written.append(turns)

    monkeypatch.setattr(finish, "finish_call", kept)
    observer = CallObserver(call_id="CALL-TYPED-HELD", channel="web", clock=lambda: 9.0)
    await observer.started()
    observer.caller_text(at=1.0, to_model=False)  # "Is it sorted?", to Arjun
    observer.on_live_event(lp.AudioChunk(b"\x00\x00" * 480), at=4.0)  # handed back
    observer.on_live_event(lp.TurnComplete(), at=5.0)
    await observer.ended("caller_hung_up")

    assert written == [[]]
