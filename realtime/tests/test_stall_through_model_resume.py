"""A silent model's stall clock across resumptions of its session (call_controls Watchdog,
MODEL_AWAY): the wait for a session to be back is not the model's silence, but a session back
is no fresh allowance either. A model that owes an answer and says nothing, whose sessions each
drop before stall_s, is nudged, resumed, then given up on as any stalled model is (a ticket,
end_reason agent_unavailable), not kept on, silent, to the call's maximum length."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import pytest

from realtime import call_session, live_client
from realtime.call_controls import MODEL_AWAY, Action
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.model_resumes import acts, asked_at, away
from realtime.tests.voice_harness import (
    BrowserCall,
    handed_to_a_person,
    keep_dropping,
    wait_until_ended,
)
from support.models import Customer

# --- the rules ---------------------------------------------------------------------------------


def test_an_owed_answer_s_wait_runs_on_through_a_resume_without_the_reconnect() -> None:
    watchdog = asked_at(3)
    away(watchdog, gone=8, back=11)  # five seconds silent, then three reconnecting

    assert acts(watchdog, 11, 20) == [(14, Action.NUDGE_MODEL)]  # eight of its own: 3-8, 11-14


def test_a_nudge_s_wait_runs_on_through_a_resume_too() -> None:
    watchdog = asked_at(3)
    assert acts(watchdog, 3, 11) == [(11, Action.NUDGE_MODEL)]
    away(watchdog, gone=15, back=17)

    assert acts(watchdog, 17, 28) == [(21, Action.RESUME_MODEL)]  # eight: 11-15, 17-21


def test_a_silent_model_whose_sessions_each_drop_before_stall_s_is_given_up_on() -> None:
    watchdog = asked_at(3)
    done: list[tuple[float, Action]] = []
    for step in range(30, 3000):  # its session up six seconds, then half a second away
        now = step / 10
        if round(now * 10) % 65 == 0:
            watchdog.hold(MODEL_AWAY, True, now)
        if round(now * 10) % 65 == 5:
            watchdog.hold(MODEL_AWAY, False, now)
        action = watchdog.tick(now)
        if action is not None:
            done.append((now, action))
        if action is Action.RESUME_MODEL:  # its session rotated at once
            watchdog.hold(MODEL_AWAY, True, now)
            watchdog.hold(MODEL_AWAY, False, now + 0.1)

    assert [action for _, action in done] == [Action.NUDGE_MODEL, Action.RESUME_MODEL,
                                              Action.NUDGE_MODEL, Action.GIVE_UP]  # fmt: skip
    assert done[-1][0] < 3 + 4 * 8 + 4  # its own silence, and a few reconnects


def test_something_new_to_answer_while_it_is_away_is_owed_from_its_return() -> None:
    watchdog = asked_at(3)
    watchdog.agent_spoke(4)  # answered
    watchdog.hold(MODEL_AWAY, True, 8)
    watchdog.caller_spoke(9, typed=True)  # a new question: waits for the resumed session
    watchdog.hold(MODEL_AWAY, False, 10)

    assert acts(watchdog, 10, 20) == [(18, Action.NUDGE_MODEL)]


def test_a_message_typed_while_it_is_away_owing_an_answer_keeps_its_wait() -> None:
    watchdog = asked_at(3)
    watchdog.hold(MODEL_AWAY, True, 8)
    watchdog.caller_spoke(9, typed=True)  # "hello?": the answer it owes is still the one
    watchdog.hold(MODEL_AWAY, False, 10)

    assert acts(watchdog, 10, 20) == [(13, Action.NUDGE_MODEL)]  # eight of its own: 3-8, 10-13


def test_asked_again_for_what_it_owes_its_wait_runs_on_else_it_starts() -> None:
    watchdog = asked_at(3)
    away(watchdog, gone=8, back=9)
    watchdog.expect_answer(9, again=True)  # told the conversation so far: answer the caller

    assert acts(watchdog, 9, 14) == [(12, Action.NUDGE_MODEL)]
    answered = asked_at(3)
    answered.agent_spoke(4)
    away(answered, gone=8, back=9)
    answered.expect_answer(9, again=True)  # nothing owed: asked afresh
    assert acts(answered, 9, 17) == [(17, Action.NUDGE_MODEL)]


def test_a_caller_waiting_for_a_colleague_does_not_restart_a_silent_model_s_wait() -> None:
    watchdog = asked_at(3)
    watchdog.wait_for_colleague(until=100)  # her silence is waiting: none kept by the resume
    away(watchdog, gone=8, back=9)

    assert acts(watchdog, 9, 19) == [(12, Action.NUDGE_MODEL)]


# --- a whole call ------------------------------------------------------------------------------

UP_S = 0.8  # each session lives this long, longer than healthy_after_s, shorter than stall_s


async def silent_then_dropping(session: FakeSession, *, handles: bool) -> None:
    """A model that accepts the setup, never says anything (not even the greeting), and whose
    socket drops UP_S later; with `handles` its session can be resumed, else each is fresh."""
    if handles:
        await session.send_resumption_update(f"handle-{session.index}")
    await asyncio.sleep(UP_S)
    await session.drop()


@pytest.mark.parametrize("handles", [True, False])
@pytest.mark.django_db(transaction=True)
async def test_a_silent_model_whose_sessions_drop_before_stall_s_hands_the_call_to_a_person(
    asha: Customer,
    live: FakeLiveServer,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    handles: bool,
) -> None:
    settings.VOICE_STALL_S = 1.0
    settings.VOICE_MAX_CALL_S = 14  # where a call nobody gives up on would end
    monkeypatch.setattr(live_client, "DEFAULT_RETRY", live_client.RetryPolicy(
        max_attempts=50, base_delay_s=0.1, max_delay_s=0.1, setup_timeout_s=3,
        healthy_after_s=0.5,
    ))  # fmt: skip
    live.on_session(functools.partial(silent_then_dropping, handles=handles))
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    began = time.monotonic()

    escalated = await page.next_event("escalated", timeout=20)
    await handed_to_a_person(str(ready["call_id"]), escalated["ticket_id"], timeout=10)

    assert time.monotonic() - began < 12
    assert len(live.sessions) > 3  # dropped all along
    await page.leave()


async def silent(session: FakeSession) -> None:
    """A model that accepts the setup, stays connected, and never says anything."""
    await asyncio.sleep(60)


@pytest.mark.django_db(transaction=True)
async def test_a_silent_model_whose_caller_s_line_keeps_dropping_hands_the_call_to_a_person(
    asha: Customer, live: FakeLiveServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each drop long enough to be told of (GAP_NOTE_S) asks the model, on her return, for
    the answer it owed already: its silence runs on (Watchdog.hold, LINE_AWAY), and a line
    dropping more often than stall_s does not keep a silent model on to the maximum."""
    settings.VOICE_STALL_S = 1.0
    settings.VOICE_MAX_CALL_S = 12  # where a call nobody gives up on would end
    settings.VOICE_RESUME_GRACE_S = 10
    monkeypatch.setattr(call_session, "GAP_NOTE_S", 0.1)  # each drop is told of
    live.on_session(silent)
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    await live.wait_for_session()

    async with asyncio.timeout(25):
        page = await keep_dropping(page, ready, away_s=0.3, between_s=0.6)

    ended = await wait_until_ended(str(ready["call_id"]))
    assert ended["end_reason"] == "agent_unavailable"
    await page.leave()
