"""A silent caller's clock across a line that keeps dropping and coming back (call_controls
Watchdog, LINE_AWAY): the silence runs from her last words through each drop, so she is checked
on and let go at the silence limit, not kept until the maximum length; a caller who was talking
as the line dropped gets a fresh allowance when it is back, once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime.call_controls import LINE_AWAY, Action, Limits, Watchdog
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import BrowserCall, keep_dropping, wait_until_ended
from support.models import Customer

LIMITS = Limits(idle_prompt_s=10, idle_prompts=2, max_call_s=1800)


def actions_of_a_line_dropping_every(period_s: float, until_s: float) -> list[tuple[float, Action]]:
    """A caller who never speaks, her line away half a second every `period_s`."""
    watchdog = Watchdog(LIMITS, now=0)
    done: list[tuple[float, Action]] = []
    for step in range(int(until_s * 10)):
        now = step / 10
        if now % period_s == 0 and now:
            watchdog.hold(LINE_AWAY, True, now)
        if (now - 0.5) % period_s == 0 and now > 0.5:
            watchdog.hold(LINE_AWAY, False, now)
        action = watchdog.tick(now)
        if action is not None:
            done.append((now, action))
    return done


def test_a_silent_caller_whose_line_keeps_dropping_is_checked_on_then_let_go() -> None:
    done = actions_of_a_line_dropping_every(3.0, until_s=60)

    assert [action for _, action in done] == [Action.CHECK_IN, Action.CHECK_IN,
                                              Action.SAY_GOODBYE]  # fmt: skip
    assert done[0][0] == pytest.approx(10, abs=0.6)  # the silence limit, drops or not
    assert done[-1][0] <= 31


def test_a_caller_talking_as_the_line_dropped_is_not_asked_whether_she_is_there_on_return() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_spoke(8)
    watchdog.agent_spoke(8.5)  # its answer...
    watchdog.agent_turn_done(9)
    watchdog.hold(LINE_AWAY, True, 9.5)  # ...and her line drops as she answers back

    watchdog.hold(LINE_AWAY, False, 16)  # back after six seconds

    assert watchdog.tick(16) is None
    assert watchdog.tick(25.9) is None  # a fresh allowance from her return
    assert watchdog.tick(26) is Action.CHECK_IN


def test_the_fresh_allowance_on_return_is_earned_by_speaking_not_by_dropping_again() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.caller_spoke(8)
    watchdog.agent_spoke(8.5)
    watchdog.agent_turn_done(8.8)
    watchdog.hold(LINE_AWAY, True, 9)
    watchdog.hold(LINE_AWAY, False, 12)  # back: her allowance runs from here
    watchdog.hold(LINE_AWAY, True, 15)  # silent since, the line drops again
    watchdog.hold(LINE_AWAY, False, 16)

    assert watchdog.tick(21.9) is None
    assert watchdog.tick(22) is Action.CHECK_IN  # from her first return, not her second


# --- a whole call -------------------------------------------------------------------------------


async def answering(session: FakeSession) -> None:
    """A model that answers every note in a word."""
    while True:
        await session.wait_for_note(timeout=30)
        await session.send_transcript("agent", "Sure.", finished=True)
        await session.send_turn_complete()


@pytest.mark.django_db(transaction=True)
async def test_a_page_that_reattaches_silently_every_moment_is_ended_as_idle_not_at_the_maximum(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_IDLE_PROMPT_S = 1.5
    settings.VOICE_MAX_CALL_S = 25  # what a silent call held open by its drops would reach
    settings.VOICE_RESUME_GRACE_S = 10
    live.on_session(answering)
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    await live.wait_for_session()

    call_id = str(ready["call_id"])
    async with asyncio.timeout(20):
        # A blip shorter than the model is told of (GAP_NOTE_S), every second or so.
        page = await keep_dropping(page, ready, away_s=0.2, between_s=1.0)

    ended = await wait_until_ended(call_id)
    assert ended["end_reason"] == "idle"
    await page.leave()
