"""A silent caller's clock across a resumption of the model's session in the same process (its
goAway, a blip of its socket; call_controls Watchdog, MODEL_AWAY): the wait for the model is
not her silence (nobody could hear her), but it does not start her silence afresh either, so a
session resumed every few minutes, or seconds on a flaky upstream, does not keep a silent
caller on to the maximum length. Anything said meanwhile, and the agent's words after, count as
they always did. A gap that lost more of her audio than GAP_NOTE_S is told to the model, and its
answer to a silent caller is a check-in, counted as one (as the answer to her line coming back
is): a flaky upstream with long reconnects does not keep a silent call open either. To a caller
heard since the agent last spoke, or owed an answer anyway, that answer is no check-in, after
the model's gap as after her line's (gap_told_asks): she keeps her whole allowance."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from realtime import live_client
from realtime.call_controls import LINE_AWAY, MODEL_AWAY, Action
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.model_resumes import away, greeted
from realtime.tests.voice_harness import BrowserCall, speech, wait_until_ended
from support.models import Customer

CHECK_IN = "still there"
DROPPED = "line to the customer dropped"


# --- the rules ---------------------------------------------------------------------------------


def test_her_silence_runs_on_through_a_model_resume_without_the_wait() -> None:
    watchdog = greeted(at=2)
    away(watchdog, gone=8, back=11)  # six seconds silent, then three waiting for the model

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
    away(watchdog, gone=8, back=9)
    watchdog.agent_spoke(9.5, audio=True, audio_s=1.0)  # told of lost audio, it says so
    watchdog.agent_turn_done(10)

    assert watchdog.tick(20.4) is None  # from when its words have played, as ever
    assert watchdog.tick(20.5) is Action.CHECK_IN


def test_the_check_ins_used_before_the_resume_stay_used() -> None:
    watchdog = greeted(at=2)
    assert watchdog.tick(12) is Action.CHECK_IN
    watchdog.agent_spoke(12.5)
    watchdog.agent_turn_done(13)
    away(watchdog, gone=14, back=15)

    assert watchdog.check_ins == 1
    assert watchdog.tick(23.9) is None
    assert watchdog.tick(24) is Action.CHECK_IN
    assert watchdog.tick(34) is Action.SAY_GOODBYE


def test_a_caller_who_speaks_while_the_model_is_away_is_not_silent_on_its_return() -> None:
    watchdog = greeted(at=2)
    watchdog.hold(MODEL_AWAY, True, 8)
    watchdog.caller_spoke(9, typed=True)  # it waits for the resumed session
    watchdog.hold(MODEL_AWAY, False, 10)
    watchdog.agent_spoke(11)
    watchdog.agent_turn_done(12)

    assert watchdog.tick(21.9) is None
    assert watchdog.tick(22) is Action.CHECK_IN


def test_the_agent_s_voice_still_playing_as_the_model_went_is_listened_to() -> None:
    watchdog = greeted(at=2)
    watchdog.agent_spoke(3, audio=True, audio_s=12.0)  # plays until 15
    watchdog.agent_turn_done(4)
    away(watchdog, gone=5, back=6)

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


def test_the_answer_to_a_long_gap_in_her_audio_is_a_check_in_and_the_check_ins_run_out() -> None:
    watchdog = greeted(at=2)
    away(watchdog, gone=8, back=12)  # more of her audio lost than the model is told of

    assert watchdog.gap_told_asks() and watchdog.check_ins == 1
    watchdog.agent_spoke(12.5)  # "are you still there?"
    watchdog.agent_turn_done(13)
    away(watchdog, gone=14, back=18)
    assert watchdog.gap_told_asks() and watchdog.check_ins == 2
    watchdog.agent_spoke(18.5)
    watchdog.agent_turn_done(19)
    away(watchdog, gone=20, back=24)
    assert not watchdog.gap_told_asks()  # told, not asked: no fresh window for its answer

    assert watchdog.tick(32.9) is None
    assert watchdog.tick(33) is Action.SAY_GOODBYE  # ten of hers: 19-20, then 24-33


# Her words lost with a gap the model is told of: the model's session away, or her line.
GAPS = pytest.mark.parametrize("gap", [MODEL_AWAY, LINE_AWAY])


@GAPS
def test_a_caller_mid_sentence_as_a_gap_came_is_asked_again_not_checked_on(gap: str) -> None:
    watchdog = greeted(at=2)
    watchdog.caller_began()  # heard on the line; her words went with the gap
    watchdog.hold(gap, True, 8)
    watchdog.hold(gap, False, 12)

    assert watchdog.gap_told_asks() and watchdog.check_ins == 0
    watchdog.agent_spoke(12.5)  # "sorry, could you say that again?"
    watchdog.agent_turn_done(13)
    assert watchdog.tick(22.9) is None
    assert watchdog.tick(23) is Action.CHECK_IN  # her whole allowance, not one used up
    assert watchdog.tick(33) is Action.CHECK_IN
    assert watchdog.tick(43) is Action.SAY_GOODBYE


def test_a_caller_who_talks_while_the_model_is_away_is_asked_again_not_checked_on() -> None:
    watchdog = greeted(at=2)
    watchdog.hold(MODEL_AWAY, True, 8)
    watchdog.caller_began()  # her words are lost with the gap
    watchdog.hold(MODEL_AWAY, False, 12)

    assert watchdog.gap_told_asks() and watchdog.check_ins == 0


@GAPS
def test_an_answer_owed_as_a_gap_ends_is_no_check_in(gap: str) -> None:
    watchdog = greeted(at=2)
    watchdog.tool_started()
    watchdog.tool_finished(7)  # its result, the model has yet to say
    watchdog.hold(gap, True, 8)
    watchdog.hold(gap, False, 12)

    assert watchdog.gap_told_asks() and watchdog.check_ins == 0


def test_a_silent_caller_s_check_ins_used_before_a_long_gap_stay_used() -> None:
    watchdog = greeted(at=2)
    assert watchdog.tick(12) is Action.CHECK_IN
    watchdog.agent_spoke(12.5)
    watchdog.agent_turn_done(13)
    assert watchdog.tick(23) is Action.CHECK_IN
    watchdog.agent_spoke(23.5)
    watchdog.agent_turn_done(24)
    away(watchdog, gone=25, back=29)

    assert not watchdog.gap_told_asks()
    assert watchdog.tick(37.9) is None
    assert watchdog.tick(38) is Action.SAY_GOODBYE  # ten of hers: 24-25, then 29-38


# --- a whole call ------------------------------------------------------------------------------


def _more_than(session: FakeSession, seen: int) -> bool:
    return len(session.client_contents) > seen


@contextlib.asynccontextmanager
async def beside(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """`work` runs beside the block, and is cancelled once the block is over."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def answering(session: FakeSession, leave: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """A model that answers, in a word, every note that asks for an answer, while `leave`
    (how its session goes) runs beside it."""
    await session.send_resumption_update(f"handle-{session.index}")
    async with beside(leave()):
        for seen in itertools.count():
            await session.wait_for(functools.partial(_more_than, session, seen), "a note",
                                   timeout=60)  # fmt: skip
            if session.client_contents[seen].get("turnComplete"):
                await session.send_transcript("agent", "Sure.", finished=True)
                await session.send_turn_complete()


async def answering_then_leaving(session: FakeSession) -> None:
    """`answering`, its session going within a second: by goAway, or every other time its
    socket dropping."""

    async def leave() -> None:
        await asyncio.sleep(0.8)
        if session.index % 2:
            await session.drop()
        else:
            await session.send_go_away(0.5)

    await answering(session, leave)


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


UP_S, AWAY_S = 0.8, 3.8  # a session up for UP_S, then its reconnection takes AWAY_S
SPOKEN_S = 1.0


def long_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dropped session is resumed AWAY_S later: 2 s of the caller's audio is kept for it
    (LiveClient's buffer), the rest lost, more than GAP_NOTE_S."""
    monkeypatch.setattr(live_client, "DEFAULT_RETRY", live_client.RetryPolicy(
        max_attempts=50, base_delay_s=AWAY_S, max_delay_s=AWAY_S, setup_timeout_s=3,
        healthy_after_s=0.1,
    ))  # fmt: skip


async def answering_then_dropping(session: FakeSession, *, until: int = 1_000) -> None:
    """`answering`, its socket dropping UP_S after it is set up, that of sessions from number
    `until` on excepted."""

    async def leave() -> None:
        if session.index < until:
            await asyncio.sleep(UP_S)
            await session.drop()

    await answering(session, leave)


async def microphone(page: BrowserCall, speaks: asyncio.Event) -> None:
    """The page's microphone, in real time (100 ms frames): silence, but SPOKEN_S of speech
    once `speaks` is set."""
    began = time.monotonic()
    sent, words = 0, speech(SPOKEN_S, 16_000)
    while True:
        while sent < (time.monotonic() - began) * 10:
            frame = bytes(3200)
            if speaks.is_set() and words:
                frame, words = words[:3200], words[3200:]
            await page.communicator.send_to(bytes_data=frame)
            sent += 1
        await asyncio.sleep(0.05)


@pytest.mark.django_db(transaction=True)
async def test_a_silent_caller_whose_model_keeps_reconnecting_slowly_is_ended_as_idle(
    asha: Customer, live: FakeLiveServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.VOICE_IDLE_PROMPT_S = 1.0
    settings.VOICE_MAX_CALL_S = 24  # what a silent call kept open by the answers would reach
    long_reconnects(monkeypatch)
    live.on_session(answering_then_dropping)
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    began = time.monotonic()
    async with beside(microphone(page, asyncio.Event())):
        ended = await wait_until_ended(str(ready["call_id"]), timeout=30)

    assert ended["end_reason"] == "idle"
    assert time.monotonic() - began < 20
    notes = [note for session in live.sessions for note in session.notes]
    assert sum(DROPPED in note for note in notes) >= 3  # told of each gap...
    assert not any(CHECK_IN in note for note in notes)  # ...whose answers were the check-ins
    await page.leave()


@pytest.mark.django_db(transaction=True)
async def test_a_caller_who_talks_while_the_model_reconnects_keeps_her_check_ins(
    asha: Customer, live: FakeLiveServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.VOICE_IDLE_PROMPT_S = 1.0
    long_reconnects(monkeypatch)
    live.on_session(functools.partial(answering_then_dropping, until=1))
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    speaks = asyncio.Event()
    async with beside(microphone(page, speaks)):
        await page.next_event("reconnecting")
        speaks.set()  # her words are lost with the gap: the model asks for them again
        ended = await wait_until_ended(str(ready["call_id"]), timeout=15)

    assert ended["end_reason"] == "idle"
    back = live.sessions[1]
    assert [content.get("turnComplete") for content in back.client_contents
            if DROPPED in str(content)] == [True]  # fmt: skip
    assert sum(CHECK_IN in note for note in back.notes) == 2  # none used up by its answer
    await page.leave()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("while_away", ["she was mid-sentence", "the agent spoke"])
async def test_a_caller_whose_line_drops_mid_sentence_keeps_her_check_ins(
    asha: Customer, live: FakeLiveServer, settings: Any, while_away: str
) -> None:
    """Her line drops mid-sentence, or while the model speaks to her: as it comes back the
    model is told, and asks her again or says again what she did not hear. Neither answer is
    a check-in: a silent caller still gets both before the idle goodbye."""
    settings.VOICE_IDLE_PROMPT_S = 1.0
    settings.VOICE_RESUME_GRACE_S = 30
    live.on_session(functools.partial(answering_then_dropping, until=0))  # never drops
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    await page.next_event("turn_complete")  # the greeting
    if while_away == "she was mid-sentence":
        speaks = asyncio.Event()
        async with beside(microphone(page, speaks)):
            await asyncio.sleep(0.3)  # a quiet line first: her words are heard above it
            speaks.set()
            await asyncio.sleep(SPOKEN_S / 2)
    await page.leave()
    session = live.session
    if while_away == "the agent spoke":
        await session.send_audio(bytes(4_800))  # the model speaks while her line is away
        await session.send_transcript("agent", "Your order ships today.", finished=True)
        await session.send_turn_complete()
    await asyncio.sleep(2.0)  # longer than GAP_NOTE_S: the model is told of the gap
    page = await BrowserCall.open(f"resume={ready['resume_token']}")
    ended = await wait_until_ended(str(ready["call_id"]), timeout=15)

    assert ended["end_reason"] == "idle"
    told = [content for content in session.client_contents if DROPPED in str(content)]
    assert [content.get("turnComplete") for content in told] == [True]
    if while_away == "the agent spoke":
        assert "did not hear" in str(told[0])
    assert sum(CHECK_IN in note for note in session.notes) == 2  # none used up by its answer
    await page.leave()
