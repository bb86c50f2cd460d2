"""A silent caller's clock across a move to another process, and across long drops of her line
(call_controls Watchdog; the follow-ups of the silence clock through a dropped line):

* what the silence had run to goes along with the call (`limits_used`), so the process taking
  it up checks on her when her silence reaches the limit, not a whole allowance after the move;
  a caller who spoke since her line last came back still gets her fresh allowance there;
* the model's answer to a line-dropped note asks whether she is still there: a check-in,
  counted as one, so a line that keeps dropping for longer than GAP_NOTE_S does not keep a
  silent caller on until the maximum length.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from typing import Any

import pytest

from realtime.call_controls import LINE_AWAY, MOVING, Action, Limits, Watchdog
from realtime.call_session import CallSession
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import BrowserCall, keep_dropping, wait_until_ended
from support.models import Customer

LIMITS = Limits(idle_prompt_s=10, idle_prompts=2, max_call_s=1800)
CHECK_IN = "still there"
DROPPED = "line to the customer dropped"

# --- the rules ---------------------------------------------------------------------------------


def moved_in(silent_s: float, *, spoke_since_back: bool = False, at: float = 100) -> Watchdog:
    """The watchdog of a process taking up a call whose caller had been silent `silent_s`."""
    watchdog = Watchdog(LIMITS, now=at)
    watchdog.hold(MOVING, True, at)
    watchdog.carry_on(warned=False, check_ins=0, silent_s=silent_s,
                      spoke_since_back=spoke_since_back, now=at)  # fmt: skip
    return watchdog


def test_the_silence_so_far_is_said_for_the_process_the_call_moves_to() -> None:
    there = Watchdog(LIMITS, now=0)
    there.hold(LINE_AWAY, True, 6)  # her line drops, silent since the call began

    assert there.silence(7) == pytest.approx(7)
    assert there.spoke_since_back is False


def test_a_silent_caller_is_checked_on_as_her_silence_reaches_the_limit_not_a_move_later() -> None:
    here = moved_in(7)
    here.hold(MOVING, False, 101)  # the model is up here

    assert here.tick(102.9) is None
    assert here.tick(103) is Action.CHECK_IN  # ten seconds of silence, three of them here


def test_a_caller_who_spoke_since_her_line_came_back_keeps_her_fresh_allowance_a_move_on() -> None:
    there = Watchdog(LIMITS, now=0)
    there.caller_spoke(8)
    there.hold(LINE_AWAY, True, 9)  # mid-sentence as it dropped; then the call moves
    here = moved_in(there.silence(9), spoke_since_back=there.spoke_since_back)

    here.hold(MOVING, False, 102)

    assert here.tick(111.9) is None
    assert here.tick(112) is Action.CHECK_IN


def test_the_answer_to_a_long_drop_is_a_check_in_and_the_check_ins_run_out() -> None:
    watchdog = Watchdog(LIMITS, now=0)

    assert watchdog.gap_told_asks() and watchdog.check_ins == 1
    assert watchdog.gap_told_asks() and watchdog.check_ins == 2
    assert not watchdog.gap_told_asks()  # told, not asked: no fresh window for its answer
    watchdog.agent_spoke(1)
    assert watchdog.tick(11) is Action.SAY_GOODBYE


def test_a_caller_who_answers_after_a_drop_has_her_check_ins_back() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.gap_told_asks()
    watchdog.gap_told_asks()
    watchdog.caller_spoke(3)

    assert watchdog.check_ins == 0 and watchdog.gap_told_asks()


# --- whole calls -------------------------------------------------------------------------------


def _more_than(session: FakeSession, seen: int) -> bool:
    return len(session.client_contents) > seen


async def answering_what_asks(session: FakeSession) -> None:
    """A model that answers, in a word, every note that asks for an answer (turnComplete),
    as the Live API does; a note that does not ask is taken in silently."""
    for seen in itertools.count():
        await session.wait_for(functools.partial(_more_than, session, seen), "a note",
                               timeout=60)  # fmt: skip
        content = session.client_contents[seen]
        if content.get("turnComplete"):
            await session.send_transcript("agent", "Sure.", finished=True)
            await session.send_turn_complete()


@pytest.mark.django_db(transaction=True)
async def test_a_silent_callers_check_in_comes_on_time_though_the_call_moved_meanwhile(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 30
    settings.VOICE_IDLE_PROMPT_S = 4.0
    live.on_session(answering_what_asks)
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    first = await live.wait_for_session()
    await first.wait_for(lambda: len(first.client_contents) >= 1, "the greeting")
    greeted = time.monotonic()  # answered at once: her silence begins about now
    await asyncio.sleep(3.0)

    session = CallSession.here(ready["call_id"])
    assert session is not None
    await session.release()  # as a draining process does; taken up again from the record
    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    await back.next_event("resumed")
    second = await live.wait_for_session(1)
    await second.wait_for(lambda: any(CHECK_IN in n for n in second.notes), "a check-in",
                          timeout=10)  # fmt: skip

    # Four seconds of silence (and a tick), not four more after the move.
    assert time.monotonic() - greeted < 3.0 + 4.0 - 0.5
    await back.send({"type": "end"})


@pytest.mark.django_db(transaction=True)
async def test_a_silent_caller_whose_line_keeps_dropping_for_seconds_is_let_go_as_idle(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_IDLE_PROMPT_S = 3.0
    settings.VOICE_MAX_CALL_S = 25  # what the drops' answers would keep her on to
    settings.VOICE_RESUME_GRACE_S = 10
    live.on_session(answering_what_asks)
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    call_id = ready["call_id"]
    try:
        # Away longer than the model is told of (GAP_NOTE_S), every couple of seconds.
        page = await keep_dropping(page, ready, away_s=1.8, between_s=0.6)

        ended = await wait_until_ended(call_id)
        assert ended["end_reason"] == "idle"
        notes = (await live.wait_for_session()).notes
        assert sum(DROPPED in n for n in notes) >= 3  # told of each drop...
        assert not any(CHECK_IN in n for n in notes)  # ...whose answers were the check-ins
    finally:
        await page.leave()
