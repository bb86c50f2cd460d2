"""A silent caller's clock across a resumption of the model's session in the same process (its
goAway, a blip of its socket; call_controls Watchdog, MODEL_AWAY): the wait for the model is
not her silence (nobody could hear her), but it does not start her silence afresh either, so a
session resumed every few minutes, or seconds on a flaky upstream, does not keep a silent
caller on to the maximum length. Anything said meanwhile, and the agent's words after, count as
they always did."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import time
from typing import Any

import pytest

from realtime.call_controls import LINE_AWAY, MODEL_AWAY, Action, Limits, Watchdog
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import BrowserCall, wait_until_ended
from support.models import Customer

LIMITS = Limits(idle_prompt_s=10, idle_prompts=2, max_call_s=1800)
CHECK_IN = "still there"


def greeted(at: float = 2) -> Watchdog:
    """A call whose model is up and whose greeting ended at `at`: the caller silent since."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.hold(MODEL_AWAY, True, 0)
    watchdog.hold(MODEL_AWAY, False, 0.5)
    watchdog.agent_spoke(1)
    watchdog.agent_turn_done(at)
    return watchdog


def resumed(watchdog: Watchdog, away: float, back: float) -> None:
    watchdog.hold(MODEL_AWAY, True, away)
    watchdog.hold(MODEL_AWAY, False, back)


# --- the rules ---------------------------------------------------------------------------------


def test_her_silence_runs_on_through_a_model_resume_without_the_wait() -> None:
    watchdog = greeted(at=2)
    resumed(watchdog, away=8, back=11)  # six seconds silent, then three waiting for the model

    assert watchdog.tick(14.9) is None
    assert watchdog.tick(15) is Action.CHECK_IN  # ten of hers: 2-8, then 11-15


def test_no_check_in_while_the_model_is_away_and_her_silence_then_is_what_a_move_takes() -> None:
    watchdog = greeted(at=2)
    watchdog.hold(MODEL_AWAY, True, 8)

    assert watchdog.tick(30) is None
    assert watchdog.silence(30) == 6


def test_a_silent_caller_whose_model_keeps_resuming_is_checked_on_then_let_go() -> None:
    watchdog = greeted(at=2)
    done: list[tuple[float, Action]] = []
    for step in range(20, 600):  # the model's session away a second in every four
        now = step / 10
        if now % 4 == 0:
            watchdog.hold(MODEL_AWAY, True, now)
        if now % 4 == 1:
            watchdog.hold(MODEL_AWAY, False, now)
        action = watchdog.tick(now)
        if action is not None:
            done.append((now, action))

    assert [action for _, action in done] == [Action.CHECK_IN, Action.CHECK_IN,
                                              Action.SAY_GOODBYE]  # fmt: skip
    assert done[0][0] == pytest.approx(15)  # ten of hers and five of the model's resumes


def test_the_agent_speaking_after_the_resume_starts_her_silence_from_its_words() -> None:
    watchdog = greeted(at=2)
    resumed(watchdog, away=8, back=9)
    watchdog.agent_spoke(9.5, audio=True, audio_s=1.0)  # told of lost audio, it says so
    watchdog.agent_turn_done(10)

    assert watchdog.tick(20.4) is None  # from when its words have played, as ever
    assert watchdog.tick(20.5) is Action.CHECK_IN


def test_the_check_ins_used_before_the_resume_stay_used() -> None:
    watchdog = greeted(at=2)
    assert watchdog.tick(12) is Action.CHECK_IN
    watchdog.agent_spoke(12.5)
    watchdog.agent_turn_done(13)
    resumed(watchdog, away=14, back=15)

    assert watchdog.check_ins == 1
    assert watchdog.tick(23.9) is None
    assert watchdog.tick(24) is Action.CHECK_IN
    assert watchdog.tick(34) is Action.SAY_GOODBYE


def test_a_caller_who_speaks_while_the_model_is_away_is_not_silent_on_its_return() -> None:
    watchdog = greeted(at=2)
    watchdog.hold(MODEL_AWAY, True, 8)
    watchdog.caller_spoke(9)  # typed: it waits for the resumed session
    watchdog.hold(MODEL_AWAY, False, 10)
    watchdog.agent_spoke(11)
    watchdog.agent_turn_done(12)

    assert watchdog.tick(21.9) is None
    assert watchdog.tick(22) is Action.CHECK_IN


def test_the_agent_s_voice_still_playing_as_the_model_went_is_listened_to() -> None:
    watchdog = greeted(at=2)
    watchdog.agent_spoke(3, audio=True, audio_s=12.0)  # plays until 15
    watchdog.agent_turn_done(4)
    resumed(watchdog, away=5, back=6)

    assert watchdog.tick(24.9) is None
    assert watchdog.tick(25) is Action.CHECK_IN


def test_a_colleague_s_hold_meanwhile_still_starts_her_silence_afresh() -> None:
    watchdog = greeted(at=2)
    watchdog.hold(MODEL_AWAY, True, 8)
    watchdog.hold("human", True, 9)
    watchdog.hold("human", False, 20)
    watchdog.hold(MODEL_AWAY, False, 21)

    assert watchdog.tick(30.9) is None
    assert watchdog.tick(31) is Action.CHECK_IN


def test_her_line_dropping_while_the_model_is_away_runs_on_once_the_model_is_back() -> None:
    watchdog = greeted(at=2)
    watchdog.hold(MODEL_AWAY, True, 6)  # four seconds silent
    watchdog.hold(LINE_AWAY, True, 7)
    watchdog.hold(MODEL_AWAY, False, 9)  # her line is still away: her silence runs on
    watchdog.hold(LINE_AWAY, False, 12)

    assert watchdog.tick(14.9) is None
    assert watchdog.tick(15) is Action.CHECK_IN  # four, then 9-15


# --- a whole call ------------------------------------------------------------------------------


def _more_than(session: FakeSession, seen: int) -> bool:
    return len(session.client_contents) > seen


async def answering_then_leaving(session: FakeSession) -> None:
    """A model that answers, in a word, every note that asks for an answer, and whose session
    goes within a second: by goAway, or every other time its socket dropping."""
    await session.send_resumption_update(f"handle-{session.index}")

    async def leave() -> None:
        await asyncio.sleep(0.8)
        if session.index % 2:
            await session.drop()
        else:
            await session.send_go_away(0.5)

    leaving = asyncio.create_task(leave())
    try:
        for seen in itertools.count():
            await session.wait_for(functools.partial(_more_than, session, seen), "a note",
                                   timeout=60)  # fmt: skip
            if session.client_contents[seen].get("turnComplete"):
                await session.send_transcript("agent", "Sure.", finished=True)
                await session.send_turn_complete()
    finally:
        leaving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leaving


@pytest.mark.django_db(transaction=True)
async def test_a_silent_caller_whose_model_session_keeps_resuming_is_ended_as_idle(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_IDLE_PROMPT_S = 1.5
    settings.VOICE_MAX_CALL_S = 20  # what a silent call kept open by the resumes would reach
    live.on_session(answering_then_leaving)
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    began = time.monotonic()

    ended = await wait_until_ended(str(ready["call_id"]), timeout=25)

    assert ended["end_reason"] == "idle"
    assert time.monotonic() - began < 15
    assert len(live.sessions) > 3  # resumed all along
    checked_on = [note for session in live.sessions for note in session.notes if CHECK_IN in note]
    assert len(checked_on) == 2
    await page.leave()
