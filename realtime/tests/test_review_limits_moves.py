"""A call's limits hold across a move to another process (contract section 7; hardening
issue item 7 and the call controls): what it used of them goes along, so a move gives it no
fresh burst of typed messages or audio, no second one-minute warning and no fresh check-ins of
a silent caller. The rules with literal times, then whole calls moved inside this process
(let go as a draining process does, taken up again from the record with the resume token)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from continuity import tokens as resume_tokens
from realtime.call_controls import Limits, RealTimeGate, TokenBucket, Watchdog
from realtime.call_record import now as utcnow
from realtime.call_session import AUDIO_BURST_S, CallSession
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import BrowserCall, speech
from support import mongo
from support.models import Customer

WARNING = "end in about a minute"
CHECK_IN = "still there"

# --- the rules -----------------------------------------------------------------------------------


def test_a_bucket_carried_on_is_refilled_for_the_time_since_not_full_again() -> None:
    there = TokenBucket(rate=1.0, burst=5, now=0)
    assert all(there.allow(0) for _ in range(5))

    here = TokenBucket(rate=1.0, burst=5, now=100)  # another process's clock
    here.carry_on(there.left(0.5), since_s=0.5, now=100)

    assert here.allow(100) and not here.allow(100)  # one second's worth, not five


def test_an_audio_allowance_carried_on_is_no_fresh_burst() -> None:
    there = RealTimeGate(bytes_per_s=32_000, burst_s=2.0, now=0)
    assert there.allow(64_000, 0)  # the whole two seconds at once

    here = RealTimeGate(bytes_per_s=32_000, burst_s=2.0, now=50)
    here.carry_on(there.left(0.25), since_s=0.25, now=50)

    assert not here.allow(32_000, 50)
    assert here.allow(16_000, 50)  # half a second has passed: half a second goes through


def test_a_watchdog_carried_on_neither_warns_again_nor_checks_in_afresh() -> None:
    limits = Limits(idle_prompt_s=10, idle_prompts=2, max_call_s=100, max_warning_s=60)
    watchdog = Watchdog(limits, now=0)
    watchdog.began_before(70, now=0)
    watchdog.carry_on(warned=True, check_ins=2)

    assert watchdog.warned and watchdog.check_ins == 2
    assert watchdog.tick(1) is None  # no second warning
    assert watchdog.tick(10).value == "say_goodbye"  # type: ignore[union-attr]


# --- whole calls ---------------------------------------------------------------------------------


async def answering(session: FakeSession) -> None:
    """A model that answers every note in a word."""
    while True:
        await session.wait_for_note(timeout=30)
        await session.send_transcript("agent", "Sure.", finished=True)
        await session.send_turn_complete()


async def moved(ready: dict[str, Any]) -> BrowserCall:
    """The call let go (as a draining process does) and taken up again from its record with
    the page's resume token: what another process does."""
    session = CallSession.here(ready["call_id"])
    assert session is not None
    await session.release()
    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    await back.next_event("resumed")
    return back


@pytest.mark.django_db(transaction=True)
async def test_typed_messages_get_no_fresh_burst_when_the_call_moves(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 30
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    first = await live.wait_for_session()
    began = time.monotonic()
    for n in range(5):  # the whole burst
        await page.send({"type": "text", "text": f"before {n}"})
    await first.wait_for(lambda: len(first.texts) == 5, "the burst")

    back = await moved(ready)
    for n in range(5):
        await back.send({"type": "text", "text": f"after {n}"})
    assert (await back.next_event("error"))["code"] == "rate_limited"
    await asyncio.sleep(0.3)

    after = (await live.wait_for_session(1)).texts
    assert len(after) <= int(time.monotonic() - began)  # one a second since the burst
    await back.send({"type": "end"})


@pytest.mark.django_db(transaction=True)
async def test_caller_audio_gets_no_fresh_allowance_when_the_call_moves(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 30
    began = time.monotonic()  # before the call: its real time can only be shorter
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    first = await live.wait_for_session()
    await page.say(speech(4.0, 16_000))  # twice the allowance, as fast as it goes
    await first.wait_for_audio(seconds=AUDIO_BURST_S)

    back = await moved(ready)
    await back.say(speech(4.0, 16_000))
    await asyncio.sleep(0.3)

    second = await live.wait_for_session(1)
    forwarded = first.audio_seconds + second.audio_seconds
    assert forwarded <= AUDIO_BURST_S + (time.monotonic() - began)
    await back.send({"type": "end"})


@pytest.mark.django_db(transaction=True)
async def test_the_one_minute_warning_is_not_said_again_after_a_move(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 30
    settings.VOICE_MAX_CALL_S = 61.0  # warned after a second
    settings.VOICE_IDLE_PROMPT_S = 100
    live.on_session(answering)
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    first = await live.wait_for_session()
    await first.wait_for(lambda: any(WARNING in n for n in first.notes), "the warning")

    back = await moved(ready)
    await asyncio.sleep(1.5)

    assert not any(WARNING in n for n in (await live.wait_for_session(1)).notes)
    await back.send({"type": "end"})


@pytest.mark.django_db(transaction=True)
async def test_a_silent_caller_checked_on_before_a_move_is_not_checked_on_afresh(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 30
    settings.VOICE_IDLE_PROMPT_S = 1.0
    live.on_session(answering)
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    first = await live.wait_for_session()
    await first.wait_for(lambda: sum(CHECK_IN in n for n in first.notes) == 2, "two check-ins")

    back = await moved(ready)
    ended = await back.next_event("ended", timeout=10)

    assert ended == {"type": "ended", "reason": "idle"}
    second = await live.wait_for_session(1)
    assert not any(CHECK_IN in n for n in second.notes)
    assert "goodbye" in second.notes[-1]


@pytest.mark.django_db(transaction=True)
async def test_a_call_whose_process_died_after_the_warning_is_not_warned_again(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    """Its process wrote that much as it warned, and nothing as it died: the call is taken up
    warned, with fresh allowances (nothing says what it used of them)."""
    settings.VOICE_MAX_CALL_S = 61.0
    settings.VOICE_IDLE_PROMPT_S = 100
    live.on_session(answering)
    await mongo.async_db().calls.insert_one({
        "call_id": "CALL-warned", "user_id": 101, "channel": "web", "carrier": None,
        "resume_handle": None, "ended_at": None, "transcript": [],
        "started_at": utcnow() - timedelta(seconds=5), "last_seen_at": utcnow(),
        "detached_at": utcnow(), "limits_used": {"warned": True},
    })  # fmt: skip

    page = await BrowserCall.open(f"resume={resume_tokens.mint('CALL-warned', 101)}")
    await page.next_event("ready")
    await asyncio.sleep(1.5)

    assert not any(WARNING in n for n in (await live.wait_for_session()).notes)
    await page.send({"type": "end"})


@pytest.mark.parametrize("used", [
    {"typed": "lots", "audio": {"bytes": 1}, "check_ins": "two", "at": "now"},
    {"typed": float("inf"), "audio": float("nan"), "check_ins": float("inf"), "at": "now"},
    "all of them",
])  # fmt: skip
@pytest.mark.django_db(transaction=True)
async def test_a_record_whose_limits_cannot_be_read_is_taken_up_with_no_fresh_allowance(
    asha: Customer, live: FakeLiveServer, settings: Any, used: Any
) -> None:
    """What no process of ours writes there (a record edited by hand) must not keep the call
    from being taken up; an allowance it does not say is none left, not a fresh burst."""
    if isinstance(used, dict):
        used = {**used, "at": utcnow()}
    call_id = f"CALL-unread-{uuid.uuid4().hex[:8]}"  # a call of its own for each
    await mongo.async_db().calls.insert_one({
        "call_id": call_id, "user_id": 101, "channel": "web", "carrier": None,
        "resume_handle": None, "ended_at": None, "transcript": [],
        "started_at": utcnow() - timedelta(seconds=5), "last_seen_at": utcnow(),
        "detached_at": utcnow(), "limits_used": used,
    })  # fmt: skip

    page = await BrowserCall.open(f"resume={resume_tokens.mint(call_id, 101)}")
    await page.next_event("ready")
    for n in range(5):
        await page.send({"type": "text", "text": f"after {n}"})

    if isinstance(used, dict):  # it says when: nothing left then, refilled since
        assert (await page.next_event("error"))["code"] == "rate_limited"
    await page.send({"type": "end"})
