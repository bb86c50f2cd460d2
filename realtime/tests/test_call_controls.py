"""A call checks on a silent caller, ends at its maximum length, wakes a stalled model, and
starts by saying it is an AI: the rules with literal times, then whole calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import pytest

from realtime import live_client
from realtime.call_controls import Action, Limits, RealTimeGate, TokenBucket, Watchdog
from realtime.tests.fake_live import FakeLiveServer, FakeSession, Script
from realtime.tests.voice_harness import (
    BrowserCall,
    HeldTool,
    handed_to_a_person,
    no_session_left_open,
    speech,
    wait_until_ended,
)
from support.models import Customer

LIMITS = Limits(idle_prompt_s=10, idle_prompts=2, max_call_s=1800, max_warning_s=60, stall_s=8)


def ticks(
    watchdog: Watchdog, start: float, end: float, step: float = 0.5
) -> list[tuple[float, Action]]:
    actions = []
    t = start
    while t <= end:
        action = watchdog.tick(t)
        if action is not None:
            actions.append((t, action))
        t += step
    return actions


def acted(
    watchdog: Watchdog, moments: Iterable[float], happens: Callable[[float], None]
) -> list[tuple[float, Action]]:
    """At each moment what `happens`, then a tick; the actions taken. A resumed session is up
    at once, and as silent as the one before."""
    done = []
    for at in moments:
        happens(at)
        action = watchdog.tick(at)
        if action is not None:
            done.append((at, action))
        if action is Action.RESUME_MODEL:
            watchdog.hold("model_away", True, at)
            watchdog.hold("model_away", False, at)
    return done


# --- the rules ---------------------------------------------------------------------------------


def test_a_silent_caller_is_checked_on_twice_then_let_go() -> None:
    watchdog = Watchdog(LIMITS, now=0)

    assert ticks(watchdog, 0, 40) == [
        (10, Action.CHECK_IN), (20, Action.CHECK_IN), (30, Action.SAY_GOODBYE),
    ]  # fmt: skip


def test_the_idle_clock_starts_when_the_agent_stops_talking() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.agent_spoke(4)
    watchdog.agent_turn_done(6)

    assert ticks(watchdog, 0, 16.5) == [(16, Action.CHECK_IN)]


def test_a_caller_who_speaks_resets_the_check_ins() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    assert ticks(watchdog, 0, 10) == [(10, Action.CHECK_IN)]
    watchdog.caller_spoke(12)
    watchdog.agent_spoke(13)
    watchdog.agent_turn_done(14)

    assert ticks(watchdog, 10.5, 45) == [
        (24, Action.CHECK_IN), (34, Action.CHECK_IN), (44, Action.SAY_GOODBYE),
    ]  # fmt: skip


def test_a_model_silent_after_the_caller_spoke_is_nudged_then_resumed() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.agent_spoke(1)
    watchdog.caller_spoke(5)

    assert ticks(watchdog, 5, 21.5) == [(13, Action.NUDGE_MODEL), (21, Action.RESUME_MODEL)]
    assert watchdog.stalls == 1


def test_no_nudge_while_a_tool_runs_or_once_the_agent_answers() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_spoke(1)
    watchdog.tool_started()
    assert ticks(watchdog, 1, 20) == []
    watchdog.tool_finished(20)
    watchdog.agent_spoke(21)

    assert ticks(watchdog, 20.5, 31.5) == [(31, Action.CHECK_IN)]


def test_a_caller_typing_to_a_silent_model_does_not_put_off_its_nudge() -> None:
    """ "hello?" typed every few seconds to a model that owes an answer: it owes it from the
    first message, so it is nudged, resumed and given up on all the same."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.agent_spoke(1)
    watchdog.agent_turn_done(2)

    def types_hello(at: float) -> None:
        if at % 5 == 0:
            watchdog.caller_spoke(at, typed=True)

    done = acted(watchdog, range(5, 60), types_hello)

    assert done == [(13, Action.NUDGE_MODEL), (21, Action.RESUME_MODEL),
                    (29, Action.NUDGE_MODEL), (37, Action.GIVE_UP)]  # fmt: skip


def say_hello(watchdog: Watchdog, at: float) -> None:
    """ "hello?": her voice on the line for half a second, captioned as she says it."""
    watchdog.caller_voice(True, at)
    watchdog.caller_captioned(at + 0.3)
    watchdog.caller_voice(False, at + 0.5)


def test_a_caller_saying_hello_to_a_silent_model_does_not_put_off_its_nudge() -> None:
    """ "hello?" said every few seconds to a model that owes an answer, each time after a
    pause it should have answered in: it owes it from the first, so it is nudged, resumed
    and given up on all the same (as when she types it)."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.agent_spoke(1)
    watchdog.agent_turn_done(2)

    def says_hello(at: float) -> None:
        if at % 5 == 0:
            say_hello(watchdog, at)

    done = acted(watchdog, (tenth / 10 for tenth in range(50, 600, 5)), says_hello)

    assert done == [(13.5, Action.NUDGE_MODEL), (21.5, Action.RESUME_MODEL),
                    (29.5, Action.NUDGE_MODEL), (37.5, Action.GIVE_UP)]  # fmt: skip


def test_short_pauses_in_what_she_says_leave_the_model_its_wait_from_her_last_words() -> None:
    """Thirty seconds of talking, with pauses shorter than an answer takes: the model owes
    its answer from her last words, as when nothing is heard of her pauses."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.agent_spoke(1)
    watchdog.agent_turn_done(2)
    for at in range(3, 33, 2):
        watchdog.caller_voice(True, at)
        watchdog.caller_captioned(at + 1)
        watchdog.caller_voice(False, at + 1.5)

    assert ticks(watchdog, 3, 40) == [(40, Action.NUDGE_MODEL)]


def test_a_model_that_let_a_pause_go_by_is_nudged_once_she_stops_talking() -> None:
    """She paused long enough for an answer, none came, and she talks on: the model is owed
    from before the pause, and nudged when she stops, not over her."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.agent_spoke(1)
    watchdog.agent_turn_done(2)
    say_hello(watchdog, 3)  # owed from 3.3
    watchdog.caller_voice(True, 7)  # after a pause of 3.2 s, she talks on
    for at in range(8, 14):
        watchdog.caller_captioned(at)
        assert ticks(watchdog, at, at + 0.5) == []
    watchdog.caller_voice(False, 14.5)

    assert ticks(watchdog, 14.5, 20) == [(14.5, Action.NUDGE_MODEL)]


def test_a_resumed_session_is_not_held_to_a_pause_its_predecessor_let_go_by() -> None:
    """The session resumed after a stall owes within its own stall_s, and has let no pause of
    hers go by yet: her telling it everything again, at length, is waited for as words
    captioned while she talks are, not nudged over nor given up on as she talks."""
    watchdog = Watchdog(LIMITS, now=0)
    say_hello(watchdog, 1)
    say_hello(watchdog, 5)  # after a pause it let go by
    assert ticks(watchdog, 6, 17.5) == [(9.5, Action.NUDGE_MODEL), (17.5, Action.RESUME_MODEL)]
    watchdog.hold("model_away", True, 17.5)
    watchdog.hold("model_away", False, 18)  # the resumed session is up
    watchdog.caller_voice(True, 19)
    for at in range(20, 43):
        watchdog.caller_captioned(at)
        assert ticks(watchdog, at, at + 0.5) == []
    watchdog.caller_voice(False, 43)

    assert ticks(watchdog, 43, 51) == [(50, Action.NUDGE_MODEL)]  # from her last words


def test_her_talking_puts_a_nudge_off_by_another_stall_s_at_most() -> None:
    """A voice on the line that never pauses (a noisy line) does not keep a silent model from
    being nudged."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_captioned(1)
    watchdog.caller_voice(True, 2)

    assert ticks(watchdog, 2, 17) == [(17, Action.NUDGE_MODEL)]


def test_a_pause_while_a_tool_runs_or_the_model_is_away_is_not_the_models_to_answer() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    say_hello(watchdog, 1)
    watchdog.tool_started()
    watchdog.caller_voice(True, 6)  # "hello?" while it looks something up
    watchdog.caller_captioned(6.3)
    watchdog.caller_voice(False, 6.5)
    watchdog.tool_finished(7, answered=False)
    watchdog.hold("model_away", True, 7)
    watchdog.hold("model_away", False, 11)
    say_hello(watchdog, 12)  # the model's session back a second before

    assert ticks(watchdog, 12, 21) == [(20.5, Action.NUDGE_MODEL)]


def test_her_line_dropping_every_few_seconds_does_not_put_off_a_silent_models_nudge() -> None:
    """The model, still connected while her line is away, could answer meanwhile (kept for
    her): its silence runs on through the drop. A line that drops more often than stall_s
    must not keep a silent model from being nudged, resumed and given up on."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.agent_spoke(1)
    watchdog.agent_turn_done(2)
    watchdog.caller_captioned(3)

    def her_line(at: float) -> None:
        if round(at * 10) % 60 == 0:
            watchdog.hold("detached", True, at)
        if round(at * 10) % 60 == 10:
            watchdog.hold("detached", False, at)
            watchdog.expect_answer(at, again=watchdog.gap_told_asks())  # told of the gap

    done = acted(watchdog, (tenth / 10 for tenth in range(35, 600, 5)), her_line)

    assert [action for _, action in done] == [
        Action.NUDGE_MODEL, Action.RESUME_MODEL, Action.NUDGE_MODEL, Action.GIVE_UP,
    ]  # fmt: skip
    assert done[-1][0] < 45


def test_her_line_back_after_a_long_drop_asks_the_silent_model_once_not_twice() -> None:
    """Her line comes back after a drop longer than stall_s, the model still owing its
    answer: the note telling it of the drop asks for that answer, and is its nudge (a nudge
    right after it asked the model twice for one answer); the resumption follows stall_s
    later, as after any nudge."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.agent_spoke(1)
    watchdog.agent_turn_done(2)
    watchdog.caller_captioned(3)
    watchdog.hold("detached", True, 4)
    assert ticks(watchdog, 4, 14) == []  # nothing is asked while her line is away

    watchdog.hold("detached", False, 14)
    watchdog.expect_answer(14, again=watchdog.gap_told_asks(), note=True)  # told of the gap

    assert ticks(watchdog, 14, 29) == [(22.0, Action.RESUME_MODEL)]


def test_a_note_asking_again_while_a_nudge_could_not_go_is_no_nudge() -> None:
    """A note asking again while a tool runs (the model waits for its result) or while her
    line is away (the model's session back before her) is not the nudge: counted as one, the
    model was resumed soon after the tool's result came, or as her line came back, before
    it could answer either. Something new to answer is waited for afresh, nudge included."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_captioned(1)
    watchdog.tool_started()
    watchdog.expect_answer(10, again=True, note=True)  # her line back, the tool still running
    watchdog.tool_finished(11)
    assert ticks(watchdog, 11, 27) == [(19.0, Action.NUDGE_MODEL), (27.0, Action.RESUME_MODEL)]

    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_captioned(1)
    watchdog.hold("detached", True, 2)
    watchdog.expect_answer(10, again=True, note=True)  # the model's session back, not her line
    watchdog.hold("detached", False, 12)
    watchdog.expect_answer(12, again=True, note=True)  # her line back: the note is the nudge
    assert ticks(watchdog, 12, 20) == [(20.0, Action.RESUME_MODEL)]


def test_a_nudged_model_that_calls_a_tool_waits_for_its_result_afresh() -> None:
    """Nudged, the model answers with a tool call: the tool's result is something new to
    answer, and the nudge's wait starts again when it lands, not at the nudge. A model that
    answers every nudge with a tool call and says nothing is resumed, then given up on."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_captioned(1)
    assert ticks(watchdog, 1, 9) == [(9.0, Action.NUDGE_MODEL)]

    def calls_a_tool(at: float) -> None:  # to the nudge, and to the resumed session's
        if at in (10, 30):
            watchdog.tool_started()
        if at in (12, 32):
            watchdog.tool_finished(at)

    done = acted(watchdog, (tenth / 10 for tenth in range(95, 600, 5)), calls_a_tool)

    assert done == [
        (20.0, Action.RESUME_MODEL),  # stall_s after the result, not after the nudge
        (28.0, Action.NUDGE_MODEL), (40.0, Action.GIVE_UP),
    ]  # fmt: skip


def test_a_message_typed_once_the_model_answered_is_owed_an_answer_afresh() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_spoke(1, typed=True)
    watchdog.agent_spoke(2)
    watchdog.agent_turn_done(3)
    watchdog.caller_spoke(20, typed=True)

    assert ticks(watchdog, 3, 28) == [(28, Action.NUDGE_MODEL)]


def test_a_caller_talking_for_longer_than_stall_s_does_not_get_the_model_nudged() -> None:
    """Her words are captioned while she talks, and the model answers once she has finished:
    its wait starts with her last words, even when it owed an answer before she began (a
    message she typed first)."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.agent_spoke(1)
    watchdog.agent_turn_done(2)
    watchdog.caller_spoke(3, typed=True)  # "One moment, I'll explain."
    watchdog.caller_began()
    for at in range(4, 31):  # thirty seconds of talking, captioned as she goes
        watchdog.caller_captioned(at)

    assert ticks(watchdog, 3, 38) == [(38, Action.NUDGE_MODEL)]


def test_a_model_that_stops_mid_answer_is_nudged_then_resumed() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_spoke(1)
    watchdog.agent_spoke(2, audio=True)  # its answer starts, and never ends

    assert ticks(watchdog, 2, 18.5) == [(10, Action.NUDGE_MODEL), (18, Action.RESUME_MODEL)]


def test_a_tool_result_is_owed_an_answer_even_when_the_model_spoke_before_asking() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_spoke(1)
    watchdog.agent_spoke(2)  # "Let me check."
    watchdog.agent_turn_done(2)
    watchdog.tool_started()
    watchdog.tool_finished(4, answered=True)

    assert ticks(watchdog, 4, 12.5) == [(12, Action.NUDGE_MODEL)]


def test_a_tool_result_the_model_never_heard_starts_the_idle_clock_when_it_lands() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.agent_spoke(1)
    watchdog.agent_turn_done(1)
    watchdog.tool_started()
    watchdog.tool_finished(15, answered=False)  # cancelled: the customer spoke over it

    assert ticks(watchdog, 15, 25) == [(25, Action.CHECK_IN)]


def test_a_caller_waiting_for_a_colleague_is_not_checked_on_until_the_wait_is_over() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.wait_for_colleague(until=90)  # "a colleague is on the way"

    assert ticks(watchdog, 0, 125) == [
        (100, Action.CHECK_IN), (110, Action.CHECK_IN), (120, Action.SAY_GOODBYE),
    ]  # fmt: skip


def test_a_model_silent_while_the_caller_waits_for_a_colleague_is_still_nudged() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.wait_for_colleague(until=90)
    watchdog.caller_spoke(30)  # "Is anyone coming?"

    assert ticks(watchdog, 30, 40) == [(38, Action.NUDGE_MODEL)]


def test_a_colleague_who_joins_ends_the_wait() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.wait_for_colleague(until=90)
    watchdog.wait_for_colleague(until=0)  # joined, and handed back at once

    assert ticks(watchdog, 0, 10) == [(10, Action.CHECK_IN)]


def test_nothing_is_asked_of_a_model_that_is_not_connected() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_spoke(1)
    watchdog.hold("model_away", True, 2)

    assert ticks(watchdog, 2, 60) == []
    watchdog.hold("model_away", False, 60)  # back: still owed, its second before it went run on
    assert ticks(watchdog, 60, 68) == [(67, Action.NUDGE_MODEL)]


def test_a_model_silent_through_its_resumption_is_given_up_on() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_spoke(0)
    assert ticks(watchdog, 0, 16) == [(8, Action.NUDGE_MODEL), (16, Action.RESUME_MODEL)]
    watchdog.hold("model_away", True, 16.2)  # the session is resumed...
    watchdog.hold("model_away", False, 17)  # ... and says nothing

    assert ticks(watchdog, 16.5, 60) == [(25, Action.NUDGE_MODEL), (33, Action.GIVE_UP)]
    assert watchdog.stalls == 2


def test_a_resumed_model_that_answers_gets_its_resumption_back() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_spoke(0)
    assert ticks(watchdog, 0, 16)[-1] == (16, Action.RESUME_MODEL)
    watchdog.agent_spoke(18)
    watchdog.agent_turn_done(19)
    watchdog.caller_spoke(20)  # and it stalls again, later in the call

    assert ticks(watchdog, 20, 36) == [(28, Action.NUDGE_MODEL), (36, Action.RESUME_MODEL)]


def test_a_call_is_warned_a_minute_before_its_maximum_then_ended() -> None:
    watchdog = Watchdog(Limits(max_call_s=120, max_warning_s=60, idle_prompt_s=1000), now=0)
    watchdog.hold("human", True, 0)  # no idle or stall rules in the way

    assert ticks(watchdog, 0, 130, step=1) == [
        (60, Action.WARN_MAX_DURATION), (120, Action.END_MAX_DURATION),
    ]  # fmt: skip


def test_at_its_maximum_a_call_lets_a_running_tool_and_its_answer_finish_within_a_bound() -> None:
    limits = Limits(max_call_s=120, max_warning_s=60, idle_prompt_s=1000, max_overrun_s=20)
    watchdog = Watchdog(limits, now=0)
    watchdog.tool_started()  # a refund, started just before the end
    assert ticks(watchdog, 100, 125, step=1) == [(100, Action.WARN_MAX_DURATION)]
    watchdog.tool_finished(125)  # made: the model owes the customer the news
    watchdog.agent_spoke(126, audio=True)
    assert ticks(watchdog, 126, 129, step=1) == []  # it says so
    watchdog.agent_turn_done(129)

    assert ticks(watchdog, 129, 131, step=1) == [(129, Action.END_MAX_DURATION)]

    endless = Watchdog(limits, now=0)
    endless.tool_started()  # a tool that never finishes does not keep the call open
    assert (140, Action.END_MAX_DURATION) in ticks(endless, 0, 141, step=1)


def test_a_goodbye_that_did_not_end_the_call_leaves_the_call_its_limits() -> None:
    watchdog = Watchdog(Limits(max_call_s=120, max_warning_s=60, idle_prompt_s=10), now=0)
    assert [a for _, a in ticks(watchdog, 0, 40, step=1)] == [
        Action.CHECK_IN, Action.CHECK_IN, Action.SAY_GOODBYE]  # fmt: skip

    watchdog.goodbye_abandoned(40)  # a colleague took the call over as it was said
    watchdog.hold("human", True, 40)

    assert ticks(watchdog, 40, 121, step=1) == [(60, Action.WARN_MAX_DURATION),
                                                (120, Action.END_MAX_DURATION)]  # fmt: skip


def test_no_check_in_while_a_long_answer_sent_at_once_is_still_playing() -> None:
    """The model's audio comes faster than it plays: a 30 s answer, sent within a second,
    has the caller listening for 30 s, not silent from its turnComplete on."""
    watchdog = Watchdog(LIMITS, now=0)
    for at in range(30):  # thirty 1 s chunks in the first second
        watchdog.agent_spoke(at / 30, audio=True, audio_s=1.0)
    watchdog.agent_turn_done(1)

    assert ticks(watchdog, 1, 45, step=1) == [(40, Action.CHECK_IN)]  # 10 s after it played


def test_an_answer_cut_short_by_the_caller_plays_no_more() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.agent_spoke(0, audio=True, audio_s=30.0)
    watchdog.agent_turn_done(2, cut=True)  # she talked over it: the rest is dropped

    assert ticks(watchdog, 2, 13, step=1) == [(12, Action.CHECK_IN)]


def test_the_one_minute_warning_waits_for_the_agent_to_finish_its_answer() -> None:
    watchdog = Watchdog(Limits(max_call_s=120, max_warning_s=60, idle_prompt_s=1000), now=0)
    watchdog.agent_spoke(58, audio=True)  # answering as the last minute begins
    assert ticks(watchdog, 58, 64, step=1) == []
    watchdog.agent_turn_done(64)

    assert ticks(watchdog, 64, 65, step=1) == [(64, Action.WARN_MAX_DURATION)]

    talking = Watchdog(Limits(max_call_s=120, max_warning_s=60, idle_prompt_s=1000), now=0)
    warned = []
    for at in range(58, 96):  # the agent talks on and on: warned halfway through all the same
        talking.agent_spoke(at, audio=True)
        warned += [at for action in [talking.tick(at)] if action is Action.WARN_MAX_DURATION]
    assert warned == [90]


def test_a_late_caption_of_words_the_model_answered_is_not_new_speech() -> None:
    """The Live API's captions of the caller's words may come after the model began
    answering them, even after its answer ended: the model owes no second answer, and the
    caller is checked on as after any answer."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_captioned(1)  # "Where is my"
    watchdog.agent_spoke(2, audio=True, audio_s=1.0)
    watchdog.caller_captioned(2.5)  # " order?", late
    watchdog.agent_turn_done(3)
    watchdog.caller_captioned(3.5)  # later still

    assert ticks(watchdog, 3, 14) == [(13, Action.CHECK_IN)]


def test_the_caller_heard_again_after_an_answer_is_owed_one() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_captioned(1)
    watchdog.agent_spoke(2)
    watchdog.agent_turn_done(3)
    watchdog.caller_began()  # she speaks again (heard on the line)
    watchdog.caller_captioned(6)

    assert ticks(watchdog, 3, 14) == [(14, Action.NUDGE_MODEL)]


def test_captions_after_a_barge_in_are_new_speech() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_captioned(1)
    watchdog.agent_spoke(2, audio=True)
    watchdog.agent_turn_done(3, cut=True)  # she talked over the answer
    watchdog.caller_captioned(4)

    assert ticks(watchdog, 3, 12) == [(12, Action.NUDGE_MODEL)]


def test_an_answer_generated_at_once_is_no_stall_while_it_plays() -> None:
    """The Live API may end a turn (turnComplete) only once its audio has played, when it
    assumes real-time playback; generationComplete says all of it is generated. The model
    owes nothing meanwhile: silence upstream while a long answer plays is no stall."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_captioned(0)
    for at in range(20):  # a 20 s answer, generated within its first second
        watchdog.agent_spoke(1 + at / 20, audio=True, audio_s=1.0)
    watchdog.agent_generation_done()

    assert ticks(watchdog, 2, 21) == []  # it plays until 21
    watchdog.agent_turn_done(21)
    assert ticks(watchdog, 21, 31) == [(31, Action.CHECK_IN)]


def test_an_answer_generated_whose_turn_never_ends_leaves_the_caller_checked_on() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_captioned(0)
    watchdog.agent_spoke(1, audio=True, audio_s=2.0)
    watchdog.agent_generation_done()  # and no turnComplete ever

    assert ticks(watchdog, 1.5, 13) == [(13, Action.CHECK_IN)]


def test_typed_messages_come_in_bursts_of_five_then_one_a_second() -> None:
    bucket = TokenBucket(rate=1.0, burst=5, now=0)

    assert [bucket.allow(0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert bucket.allow(1.0) and not bucket.allow(1.1)


def test_audio_faster_than_real_time_is_dropped_beyond_a_two_second_allowance() -> None:
    gate = RealTimeGate(bytes_per_s=32_000, burst_s=2.0, now=0)
    frame = 1_280  # 40 ms

    sent_at_once = sum(gate.allow(frame, 0) for _ in range(100))  # 4 s pushed in no time
    later = sum(gate.allow(frame, 1.0) for _ in range(100))  # one second later

    assert sent_at_once == 50  # 2 s
    assert later == 25  # what one second of real time allows
    assert gate.dropped_bytes == (100 - 50 + 100 - 25) * frame


# --- whole calls ---------------------------------------------------------------------------------

pytestmark_db = pytest.mark.django_db(transaction=True)


async def a_call(live: FakeLiveServer, *agent: Script) -> tuple[BrowserCall, str]:
    """Asha's call from the voice page, once it is ready: the page, and the call's id. The
    model's sessions play `agent` in turn, the last one for every later session too (none: each
    accepts the setup, then says nothing at all)."""
    if agent:
        live.on_session(*agent)
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    return call, ready["call_id"]


async def given_up_on_while(
    caller: Callable[[], Coroutine[Any, Any, None]], call: BrowserCall, call_id: str,
    live: FakeLiveServer, *, timeout: float,
) -> None:
    """`caller` (typing or saying "hello?" again and again) goes on until the model is given
    up on: the call is handed to a person (ended agent_unavailable, its ticket saying why),
    with no session of the model's left open."""
    asking = asyncio.create_task(caller())
    try:
        escalated = await call.next_event("escalated", timeout=timeout)
    finally:
        asking.cancel()
    ended = await call.next_event("ended")

    assert ended["reason"] == "agent_unavailable"
    await handed_to_a_person(call_id, escalated["ticket_id"])
    await no_session_left_open(live)


def says(words: str) -> Script:
    """A session that says `words` at once, and its turn is complete: a resumed model that
    answers."""

    async def answer(session: FakeSession) -> None:
        await session.send_transcript("agent", words)
        await session.send_turn_complete()

    return answer


@pytest.fixture
def quick_limits(settings: Any) -> None:
    settings.VOICE_IDLE_PROMPT_S = 0.3
    settings.VOICE_STALL_S = 0.3


@pytestmark_db
async def test_the_agent_greets_first_saying_it_is_an_ai(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_AI_DISCLOSURE = "I'm an AI assistant, here to help."
    call, _ = await a_call(live)

    note = await (await live.wait_for_session()).wait_for_note()

    assert "I'm an AI assistant, here to help." in note
    assert "not said by the customer" in note
    instruction = live.session.setup["systemInstruction"]["parts"][0]["text"]  # type: ignore[index]
    assert "I'm an AI assistant, here to help." in instruction
    await call.leave()


@pytestmark_db
async def test_a_silent_caller_is_checked_on_twice_then_the_call_ends_politely(
    asha: Customer, live: FakeLiveServer, quick_limits: None
) -> None:
    async def agent(session: FakeSession) -> None:
        for _ in range(4):  # the greeting, two check-ins, the goodbye
            await session.wait_for_note(timeout=5)
            await session.send_transcript("agent", "…")
            await session.send_turn_complete()

    call, call_id = await a_call(live, agent)

    ended = await call.next_event("ended", timeout=10)

    assert ended == {"type": "ended", "reason": "idle"}
    notes = live.session.notes
    assert ["still there" in n for n in notes] == [False, True, True, False]
    assert "goodbye" in notes[3]
    assert (await wait_until_ended(call_id))["end_reason"] == "idle"


@pytestmark_db
async def test_a_call_ends_at_its_maximum_length_after_a_warning(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_MAX_CALL_S = 1.5
    settings.VOICE_IDLE_PROMPT_S = 100

    call, call_id = await a_call(live)
    ended = await call.next_event("ended", timeout=10)

    assert ended["reason"] == "max_duration"
    notes = live.session.notes
    assert any("end in about a minute" in n for n in notes)
    assert (await wait_until_ended(call_id))["end_reason"] == "max_duration"


@pytestmark_db
async def test_a_refund_under_way_at_the_maximum_length_is_made_and_told_before_the_end(
    asha: Customer, live: FakeLiveServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.VOICE_MAX_CALL_S = 2.0
    settings.VOICE_IDLE_PROMPT_S = 100
    refund = HeldTool(monkeypatch, "initiate_refund", {"ok": True, "refund_id": "RFD-1"})

    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_tool_call(
            [{"name": "initiate_refund", "args": {"order_id": "ORD-1001", "reason": "cold"}}]
        )
        # The test holds the refund 2.5 s past the start, more on a busy machine.
        await session.wait_for_tool_response(timeout=15)
        await session.send_audio(speech(0.5, 24_000), chunk_ms=20)  # "Your refund is made"
        await session.send_turn_complete()

    call, call_id = await a_call(live, agent)
    await refund.started.wait()
    await asyncio.sleep(2.5)  # past the maximum
    refund.released.set()
    ended = await call.next_event("ended", timeout=10)

    tools = [(e["name"], e["status"]) for e in call.events if e["type"] == "tool"]
    assert ended["reason"] == "max_duration"
    assert ("initiate_refund", "done") in tools  # the page showed it made
    assert len(call.agent_audio) >= 24_000  # and the customer heard the agent say so
    record = await wait_until_ended(call_id)
    assert record["tool_calls"][0]["result"]["ok"] is True


@pytestmark_db
async def test_a_malformed_tool_call_does_not_let_a_running_lookup_be_taken_for_silence(
    asha: Customer, live: FakeLiveServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed call is answered at once, never started: it must not count as the
    running lookup finishing, or the customer waiting for it is asked if they are there."""
    settings.VOICE_IDLE_PROMPT_S = 0.5
    settings.VOICE_STALL_S = 30
    lookup = HeldTool(monkeypatch, "check_order_status", {"ok": True, "orders": []})
    notes_while_running: list[str] = []

    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_tool_call([{"name": "check_order_status"}])
        await lookup.started.wait()
        session.pending_tool_calls["bad-1"] = "get_order_details"
        await session.send_raw('{"toolCall":{"functionCalls":[{"id":"bad-1",'
                               '"name":"get_order_details","args":"ORD-1001"}]}}')  # fmt: skip
        await session.wait_for_tool_response()
        await session.send_transcript("agent", "One moment, still checking.")
        await session.send_turn_complete()
        seen = len(session.notes)
        await asyncio.sleep(2.0)  # four idle periods; the lookup still runs
        notes_while_running.extend(session.notes[seen:])
        lookup.released.set()

    call, call_id = await a_call(live, agent)
    async with asyncio.timeout(10):
        await lookup.released.wait()
    await call.send({"type": "end"})
    await wait_until_ended(call_id)

    assert not any("still there" in note for note in notes_while_running), notes_while_running


@pytestmark_db
async def test_a_late_caption_of_what_the_caller_said_does_not_make_the_model_answer_again(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    """The caption of her question comes in part after the model answered it: she is not
    taken to have asked again (the model would be nudged for an answer it gave), and is
    checked on as after any answer."""
    settings.VOICE_IDLE_PROMPT_S = 0.6
    settings.VOICE_STALL_S = 0.3

    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_transcript("agent", "Hello!")
        await session.send_turn_complete()
        await session.send_transcript("user", "Where is")
        await session.send_transcript("agent", "It is on its way.")
        await session.send_audio(speech(0.2, 24_000))
        await session.send_transcript("user", " my")  # late, while the answer streams
        await session.send_turn_complete()
        await session.send_transcript("user", " order?")  # later still: the answer is over

    call, call_id = await a_call(live, agent)
    session = await live.wait_for_session()
    await session.wait_for_note()  # the greeting
    asked = await session.wait_for_note(timeout=10)

    assert "still there" in asked, asked
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert record["stalls_total"] == 0


@pytestmark_db
async def test_a_model_whose_answer_is_generated_is_not_nudged_while_its_turn_complete_is_late(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    """The Live API ends a turn once the answer has played, when it assumes real-time
    playback: an answer sent at once says generationComplete, then nothing until then."""
    settings.VOICE_IDLE_PROMPT_S = 100
    settings.VOICE_STALL_S = 0.3
    answer = speech(3.0, 24_000)
    played = asyncio.Event()

    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_audio(answer, chunk_ms=100)  # sent at once, plays for 3 s
        await session.send_generation_complete()
        await played.wait()
        await session.send_turn_complete()

    call, call_id = await a_call(live, agent)
    await call.wait_for_audio(len(answer))
    await asyncio.sleep(2.0)  # as it plays: several stalls' worth of silence upstream

    assert live.sessions[0].notes[1:] == []  # no nudge
    assert len(live.sessions) == 1  # nor a resumption
    played.set()
    await call.next_event("turn_complete")
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert record["stalls_total"] == 0


@pytestmark_db
async def test_a_stalled_model_is_nudged_then_resumed_and_the_stall_recorded(
    asha: Customer, live: FakeLiveServer, quick_limits: None
) -> None:
    async def stalls(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_resumption_update("h-stall")
        await session.send_transcript("agent", "Hello!")
        await session.send_turn_complete()
        await session.send_transcript("user", "Where is my order?")
        await session.wait_for_note()  # the nudge, unanswered
        await session.wait_closed(timeout=5)

    call, call_id = await a_call(live, stalls, says("Sorry, checking now."))
    await call.next_event("resumed", timeout=10)
    caption = await call.next_event("transcript")
    while caption["role"] != "agent":
        caption = await call.next_event("transcript")

    assert caption["text"].startswith("Sorry")
    assert (await live.wait_for_session(1)).resumed_handle == "h-stall"
    nudge = live.sessions[0].notes[1]
    assert "waiting for your answer" in nudge
    await call.leave()
    record = await wait_until_ended(call_id)
    assert [s["action"] for s in record["stalls"]] == ["resumed"]
    assert record["stalls_total"] == 1


@pytestmark_db
async def test_a_model_that_stops_mid_sentence_is_resumed_and_its_caption_closed(
    asha: Customer, live: FakeLiveServer, quick_limits: None
) -> None:
    async def stops_mid_sentence(session: FakeSession) -> None:
        await session.send_resumption_update("h-mid")
        await session.send_transcript("user", "Where is my order?")
        await session.send_transcript("agent", "Your order is")
        await session.send_audio(speech(0.1, 24_000))
        await session.wait_closed(timeout=5)  # no more words, no turnComplete

    call, call_id = await a_call(live, stops_mid_sentence, says("Sorry, it is on its way."))
    await call.next_event("resumed", timeout=5)
    await call.next_event("turn_complete")
    await call.send({"type": "end"})

    assert (await live.wait_for_session(1)).resumed_handle == "h-mid"
    assert "waiting for your answer" in live.sessions[0].notes[-1]
    record = await wait_until_ended(call_id)
    assert [(line["role"], line["text"]) for line in record["transcript"]] == [
        ("user", "Where is my order?"), ("agent", "Your order is"),
        ("agent", "Sorry, it is on its way."),
    ]  # fmt: skip
    assert [s["action"] for s in record["stalls"]] == ["resumed"]
    await no_session_left_open(live)


@pytestmark_db
async def test_a_model_silent_after_the_tool_it_asked_for_is_resumed(
    asha: Customer, live: FakeLiveServer, quick_limits: None
) -> None:
    async def silent_after_the_tool(session: FakeSession) -> None:
        await session.send_resumption_update("h-tool")
        await session.send_transcript("user", "Where is my order?")
        await session.send_transcript("agent", "Let me check.")
        await session.send_turn_complete()
        await session.send_tool_call([{"name": "check_order_status"}])
        await session.wait_for_tool_response()
        await session.wait_closed(timeout=5)

    call, call_id = await a_call(live, silent_after_the_tool, says("It was delivered."))
    await call.next_event("resumed", timeout=5)
    await call.next_event("turn_complete")
    await call.send({"type": "end"})

    assert not any("still there" in note for note in live.sessions[0].notes)
    record = await wait_until_ended(call_id)
    assert [s["action"] for s in record["stalls"]] == ["resumed"]
    assert record["end_reason"] == "caller_hung_up"
    await no_session_left_open(live)


@pytestmark_db
async def test_a_model_that_never_speaks_even_resumed_hands_the_call_to_a_person(
    asha: Customer, live: FakeLiveServer, quick_limits: None
) -> None:
    # No script: every session accepts the setup, then says nothing at all (not even the
    # greeting it is asked for).
    call, call_id = await a_call(live)

    escalated = await call.next_event("escalated", timeout=10)
    error = await call.next_event("error")
    ended = await call.next_event("ended")

    assert [e["type"] for e in call.events][:3] == ["ready", "reconnecting", "resumed"]
    assert error["code"] == "agent_unavailable" and escalated["ticket_id"] in error["message"]
    assert ended["reason"] == "agent_unavailable"
    await handed_to_a_person(call_id, escalated["ticket_id"])
    assert not any("still there" in note for s in live.sessions for note in s.notes)
    await no_session_left_open(live)


@pytestmark_db
async def test_a_caller_typing_to_a_model_that_never_answers_has_the_call_handed_to_a_person(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    """She types "hello?" more often than stall_s to a model that never says anything (as a
    customer does when nothing answers): it is nudged, resumed, then given up on, not kept
    on, silent, for as long as she keeps typing."""
    settings.VOICE_IDLE_PROMPT_S = 100
    settings.VOICE_STALL_S = 1.2
    call, call_id = await a_call(live)

    async def keep_typing() -> None:
        while True:
            await asyncio.sleep(0.8)  # within the typed messages' rate
            await call.send({"type": "text", "text": "hello?"})

    await given_up_on_while(keep_typing, call, call_id, live, timeout=10)

    assert not any(e["type"] == "error" and e.get("code") == "rate_limited" for e in call.events)
    assert live.sessions[0].texts[:3] == ["hello?"] * 3  # she typed all along


@pytestmark_db
async def test_a_caller_saying_hello_to_a_model_that_never_answers_has_the_call_handed_to_a_person(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    """She says "hello?" more often than stall_s to a model gone silent after its greeting,
    each time after a pause it should have answered in (heard on her line): it is nudged,
    resumed, then given up on, not kept on, silent, for as long as she keeps asking."""
    settings.VOICE_IDLE_PROMPT_S = 100
    settings.VOICE_STALL_S = 1.5  # "hello?" every 1.4 s, each after a pause of 0.8 s: over a third

    async def greets_then_goes_silent(session: FakeSession) -> None:
        await session.send_transcript("agent", "Hello! How can I help?")
        await session.send_turn_complete()

    async def silent(session: FakeSession) -> None:
        pass

    call, call_id = await a_call(live, greets_then_goes_silent, silent)
    await call.next_event("turn_complete")
    hello = speech(0.1, 16_000)
    quiet = bytes(len(hello))  # her line between words

    async def keep_asking() -> None:
        await call.say(quiet)  # the line's own level first
        while True:
            for _ in range(3):  # "hello?"
                await call.say(hello)
                await asyncio.sleep(0.1)
            await live.sessions[-1].send_transcript("user", "hello?")
            for _ in range(11):  # a pause of 0.8 s once the detector's hangover is over
                await call.say(quiet)
                await asyncio.sleep(0.1)

    await given_up_on_while(keep_asking, call, call_id, live, timeout=15)

    assert len(live.sessions) >= 2  # resumed once before it was given up on


@pytestmark_db
async def test_a_caller_talking_for_longer_than_stall_s_is_not_cut_off_by_a_nudge(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    """She types a line, then talks on for several stall_s (her words captioned as she goes,
    the Live API waiting for her to finish): the model answers once she has, unnudged."""
    settings.VOICE_IDLE_PROMPT_S = 100
    settings.VOICE_STALL_S = 0.5

    async def listens_then_answers(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_transcript("agent", "Hello!")
        await session.send_turn_complete()
        await session.wait_for_text()  # "One moment, I'll explain."
        for word in range(12):  # three seconds of her talking
            await session.send_transcript("user", f" word{word}")
            await asyncio.sleep(0.25)
        await session.send_transcript("agent", "I see, let me check.")
        await session.send_turn_complete()

    call, call_id = await a_call(live, listens_then_answers)
    await call.next_event("turn_complete")  # the greeting
    await call.send({"type": "text", "text": "One moment, I'll explain."})
    await call.next_event("turn_complete", timeout=10)
    await call.send({"type": "end"})

    assert live.sessions[0].notes[1:] == []  # no nudge
    assert len(live.sessions) == 1  # nor a resumption
    record = await wait_until_ended(call_id)
    assert record["stalls_total"] == 0


@pytestmark_db
async def test_a_session_that_cannot_be_resumed_in_time_ends_the_call_without_blaming_the_caller(
    asha: Customer, live: FakeLiveServer, quick_limits: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_client, "DEFAULT_RETRY", live_client.RetryPolicy(
        max_attempts=50, base_delay_s=0.05, max_delay_s=0.2, setup_timeout_s=0.3,
        reconnect_deadline_s=1.5,
    ))  # fmt: skip
    live.stall_setups(from_session=1)

    async def greets_then_drops(session: FakeSession) -> None:
        await session.wait_for_note()
        await session.send_resumption_update("h-1")
        await session.send_transcript("agent", "Hello!")
        await session.send_turn_complete()
        await session.drop()

    call, call_id = await a_call(live, greets_then_drops)
    await call.next_event("reconnecting")
    started = asyncio.get_running_loop().time()
    ended = await call.next_event("ended", timeout=10)

    assert ended["reason"] == "agent_unavailable"
    assert asyncio.get_running_loop().time() - started < 5
    assert [e["type"] for e in call.events][-3:] == ["escalated", "error", "ended"]
    assert live.sessions[0].notes == live.sessions[0].notes[:1]  # the greeting only
    record = await wait_until_ended(call_id)
    assert record["end_reason"] == "agent_unavailable"
    await no_session_left_open(live)
