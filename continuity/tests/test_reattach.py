"""A page whose socket drops comes back to its call (one process; contract section 7).

Across processes (a worker killed, drained, restarted) see test_across_workers.py.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.core import signing
from django.core.cache import cache
from prometheus_client import REGISTRY
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from continuity import calls, process
from continuity import tokens as resume_tokens
from postcall import logs, store
from realtime import call_session, consumers, tokens
from realtime.call_record import now as utcnow
from realtime.call_session import CallSession
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import (
    BrowserCall,
    HeldTool,
    call_record,
    speech,
    wait_until_ended,
)
from support import mongo
from support.models import Customer
from voiceproject import draining
from voiceproject.draining import ProcessCalls

pytestmark = pytest.mark.django_db(transaction=True)

AGENT_CHUNK = speech(0.1, 24_000)
MISSED = "did not hear the end of what you were saying"


@pytest.fixture
def grace(settings: Any) -> float:
    settings.VOICE_RESUME_GRACE_S = 5.0
    return 5.0


async def test_a_page_that_drops_comes_back_to_the_same_call_within_the_grace_period(
    asha: Customer, live: FakeLiveServer, grace: float
) -> None:
    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_text()
        await session.send_transcript("agent", "Before the blip.", finished=True)
        await session.send_turn_complete()
        await session.wait_for_text()
        await session.send_transcript("agent", "After the blip.", finished=True)
        await session.send_audio(AGENT_CHUNK, chunk_ms=20)
        await session.send_turn_complete()

    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    await page.send({"type": "text", "text": "hello"})
    await page.next_event("turn_complete")
    await page.leave()  # the socket drops: no `end`

    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    again = await back.next_event("ready")
    await back.next_event("resumed")
    await back.send({"type": "text", "text": "are you there?"})
    await back.wait_for_audio(len(AGENT_CHUNK))

    assert again["call_id"] == ready["call_id"] and again["resume_token"]
    assert len(live.sessions) == 1  # the model's session never closed
    await back.send({"type": "end"})
    record = await wait_until_ended(ready["call_id"])
    assert record["end_reason"] == "caller_hung_up"
    assert [line["text"] for line in record["transcript"] if line["role"] == "agent"] == [
        "Before the blip.", "After the blip.",
    ]  # fmt: skip
    assert await mongo.async_db().calls.count_documents({}) == 1


async def test_after_the_grace_period_the_call_has_ended_and_its_token_is_refused(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 0.3
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    await page.leave()

    record = await wait_until_ended(ready["call_id"])
    late = await BrowserCall.open(f"resume={ready['resume_token']}")

    assert record["end_reason"] == "caller_left"
    assert await late.next_event("ended") == {"type": "ended", "reason": "call_over"}
    assert await late.wait_closed() == 4410
    await live.session.wait_closed()  # the model's session was closed with the call


async def after_call_fields(call_id: str, timeout: float = 8.0) -> dict[str, Any]:
    """The record once its after-call fields are written (postcall/finish.py)."""
    async with asyncio.timeout(timeout):
        while (record := await call_record(call_id)).get("duration_s") is None:
            await asyncio.sleep(0.05)
    return record


async def test_a_call_nobody_came_back_for_ended_when_her_line_last_went(
    asha: Customer, live: FakeLiveServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grace period waited for her (VOICE_RESUME_GRACE_S) is no part of the call: it
    ended at her last departure (the record's `detached_at`), and its duration and recording
    with it. What a tool she left running finished with is kept."""
    settings.VOICE_RESUME_GRACE_S = 1.0
    settings.RECORD_CALLS = True
    profile = HeldTool(monkeypatch, "get_user_profile", {"name": "Asha Verma"})
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    await page.say(speech(0.5, 16_000))
    await page.leave()  # a blip: she comes back
    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    await back.next_event("resumed")
    await (await live.wait_for_session()).send_tool_call([{"name": "get_user_profile"}])
    await profile.started.wait()
    await asyncio.sleep(0.3)
    went = utcnow()
    went = went.replace(microsecond=went.microsecond // 1000 * 1000)  # as MongoDB keeps it
    await back.leave()  # and goes for good
    await asyncio.sleep(0.3)
    profile.released.set()  # the tool finishes after she left

    record = await after_call_fields(ready["call_id"])

    assert record["end_reason"] == "caller_left"
    assert record["ended_at"] == record["detached_at"]
    assert went - timedelta(milliseconds=1) <= record["ended_at"] < went + timedelta(seconds=0.3)
    lasted = (record["ended_at"] - record["started_at"]).total_seconds()
    assert record["duration_s"] == pytest.approx(lasted, abs=0.1)
    [part] = await asyncio.to_thread(store.recording_parts, ready["call_id"])
    assert await asyncio.to_thread(part.seconds) == pytest.approx(lasted, abs=0.15)
    assert [(c["name"], c["ok"]) for c in record["tool_calls"]] == [("get_user_profile", True)]


async def test_a_call_moved_while_she_was_away_ends_when_her_line_went(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Her page went, then its process drained during the grace period: the call it let go
    still says when her line went (not when it was let go), and, nobody coming back, the
    sweeper ends it then."""
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    page = await BrowserCall.open()
    call_id = (await page.next_event("ready"))["call_id"]
    await page.leave()
    async with asyncio.timeout(5):
        while (went := (await call_record(call_id)).get("detached_at")) is None:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    await draining.this_process.drain(bound_s=5)
    let_go = await call_record(call_id)
    assert let_go["carrier"] is None and let_go["detached_at"] == went

    ended = await calls.end_expired(utcnow() + timedelta(seconds=grace))

    assert ended == [(call_id, "caller_left")]
    assert (await call_record(call_id))["ended_at"] == went


async def test_a_page_coming_back_while_its_call_is_ending_is_told_the_call_is_over(
    asha: Customer, live: FakeLiveServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.VOICE_RESUME_GRACE_S = 0.2
    profile = HeldTool(monkeypatch, "get_user_profile", {"name": "Asha Verma"})
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    await (await live.wait_for_session()).send_tool_call([{"name": "get_user_profile"}])
    await profile.started.wait()
    await page.leave()
    # The grace period runs out: the call ends, finishing the tool it is running first.
    async with asyncio.timeout(5):
        while CallSession.here(ready["call_id"]) is not None:
            await asyncio.sleep(0.02)

    late = await BrowserCall.open(f"resume={ready['resume_token']}")
    profile.released.set()

    assert await late.next_event("ended") == {"type": "ended", "reason": "call_over"}
    assert await late.wait_closed() == 4410
    assert (await wait_until_ended(ready["call_id"]))["end_reason"] == "caller_left"
    assert len(live.sessions) == 1


async def test_a_call_taken_over_resumes_from_what_its_carrier_wrote_as_it_let_go(
    asha: Customer, live: FakeLiveServer, grace: float
) -> None:
    # (The Live API knows the two handles: a session of an earlier call gave them.)
    earlier = await BrowserCall.open()
    await earlier.next_event("ready")
    for handle in ("handle-early", "handle-late"):
        await (await live.wait_for_session()).send_resumption_update(handle)
    await earlier.send({"type": "end"})
    await (await live.wait_for_session()).wait_closed()
    layer = get_channel_layer()
    assert layer is not None
    carrier = await layer.new_channel()  # another process, carrying Asha's call
    await cache.aset(process._alive_key(carrier), "w2:1234", 30)
    calls = mongo.async_db().calls
    await calls.insert_one({
        "call_id": "CALL-elsewhere", "user_id": 101, "channel": "web", "carrier": carrier,
        "resume_handle": "handle-early", "ended_at": None, "started_at": utcnow(),
        "last_seen_at": utcnow(), "transcript": [],
    })  # fmt: skip

    async def lets_go() -> None:  # as a process releasing a call does: pending writes first
        await layer.receive(carrier)
        await calls.update_one({"call_id": "CALL-elsewhere"}, {"$set": {
            "resume_handle": "handle-late", "carrier": None, "detached_at": utcnow(),
        }})  # fmt: skip

    letting_go = asyncio.create_task(lets_go())
    page = await BrowserCall.open(f"resume={resume_tokens.mint('CALL-elsewhere', 101)}")
    await page.next_event("resumed")
    await letting_go

    assert (await live.wait_for_session(1)).resumed_handle == "handle-late"
    await page.send({"type": "end"})
    await wait_until_ended("CALL-elsewhere")


async def test_a_page_whose_call_cannot_start_here_for_a_database_blip_is_told_to_try_again(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    await mongo.async_db().calls.insert_one({
        "call_id": "CALL-left", "user_id": 101, "channel": "web", "carrier": None,
        "detached_at": utcnow(), "ended_at": None, "started_at": utcnow(),
        "last_seen_at": utcnow(), "transcript": [],
    })  # fmt: skip
    lookup = call_session.live_escalation_of

    async def blip(call_id: str) -> Any:
        raise AutoReconnect("the primary stepped down")

    monkeypatch.setattr(call_session, "live_escalation_of", blip)
    token = resume_tokens.mint("CALL-left", 101)
    page = await BrowserCall.open(f"resume={token}")

    assert await page.next_event("reconnect") == {"type": "reconnect"}
    assert await page.wait_closed() == 4502
    assert live.sessions == []
    monkeypatch.setattr(call_session, "live_escalation_of", lookup)
    back = await BrowserCall.open(f"resume={token}")  # the page's next try
    assert (await back.next_event("ready"))["call_id"] == "CALL-left"
    await back.next_event("resumed")
    await back.send({"type": "end"})
    assert (await wait_until_ended("CALL-left"))["end_reason"] == "caller_hung_up"


async def test_a_newer_socket_takes_the_call_and_the_older_is_closed_with_4409(
    asha: Customer, live: FakeLiveServer, grace: float
) -> None:
    first = await BrowserCall.open()
    ready = await first.next_event("ready")

    second = await BrowserCall.open(f"resume={ready['resume_token']}")
    await second.next_event("ready")

    assert await first.wait_closed() == 4409
    await second.send({"type": "text", "text": "from the new tab"})
    assert await live.session.wait_for_text() == "from the new tab"
    await second.send({"type": "end"})
    assert (await wait_until_ended(ready["call_id"]))["end_reason"] == "caller_hung_up"
    await first.leave()


async def test_one_token_on_two_sockets_at_once_opens_the_call_once(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that tries again while its first try is still taking the call up here (or the
    token in two tabs at once): the second is told to try again, never a second session."""
    await mongo.async_db().calls.insert_one({
        "call_id": "CALL-left", "user_id": 101, "channel": "web", "carrier": None,
        "detached_at": utcnow(), "ended_at": None, "started_at": utcnow(),
        "last_seen_at": utcnow(), "transcript": [],
    })  # fmt: skip
    lookup, slow = consumers.find_customer, asyncio.Event()

    async def slow_lookup(**query: Any) -> Any:  # the first try, claimed and starting still
        if not slow.is_set():
            slow.set()
            await asyncio.sleep(0.5)
        return await lookup(**query)

    monkeypatch.setattr(consumers, "find_customer", slow_lookup)
    token = resume_tokens.mint("CALL-left", 101)
    first_try = asyncio.create_task(BrowserCall.open(f"resume={token}"))
    await slow.wait()
    second = await BrowserCall.open(f"resume={token}")

    assert await second.next_event("reconnect") == {"type": "reconnect"}
    assert await second.wait_closed() == 4502
    first = await first_try
    await first.next_event("resumed")
    again = await BrowserCall.open(f"resume={token}")  # the second page's next try
    await again.next_event("resumed")
    assert await first.wait_closed() == 4409
    assert len(live.sessions) == 1
    await again.send({"type": "end"})
    assert (await wait_until_ended("CALL-left"))["end_reason"] == "caller_hung_up"


async def test_a_resume_whose_lookup_failed_after_the_claim_may_be_tried_again_at_once(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails the customer's lookup once this process has claimed the call: the
    page's next try (half a second later) takes the call up here, not told to try again for
    the 15 s a claim counts as starting."""
    await mongo.async_db().calls.insert_one({
        "call_id": "CALL-left", "user_id": 101, "channel": "web", "carrier": None,
        "detached_at": utcnow(), "ended_at": None, "started_at": utcnow(),
        "last_seen_at": utcnow(), "transcript": [],
    })  # fmt: skip
    lookup, failed = consumers.find_customer, asyncio.Event()

    async def failing_once(**query: Any) -> Any:
        if not failed.is_set():
            failed.set()
            raise ServerSelectionTimeoutError("the database is away")
        return await lookup(**query)

    monkeypatch.setattr(consumers, "find_customer", failing_once)
    token = resume_tokens.mint("CALL-left", 101)
    first = await BrowserCall.open(f"resume={token}")
    assert await first.wait_closed() == 4502

    again = await BrowserCall.open(f"resume={token}")

    await again.next_event("resumed")
    assert len(live.sessions) == 1
    await again.send({"type": "end"})
    assert (await wait_until_ended("CALL-left"))["end_reason"] == "caller_hung_up"


async def test_what_the_replaced_socket_still_had_in_flight_does_not_act_on_the_call(
    asha: Customer, live: FakeLiveServer, grace: float
) -> None:
    """On a slow link the old tab's frames, sent before it heard it was replaced, arrive
    after: its audio must not reach the model, nor its hang-up end the new tab's call."""
    first = await BrowserCall.open()
    ready = await first.next_event("ready")
    session = await live.wait_for_session()
    second = await BrowserCall.open(f"resume={ready['resume_token']}")
    await second.next_event("ready")
    assert await first.wait_closed() == 4409
    heard = len(session.audio)

    await first.say(speech(0.2, 16_000))
    await first.send({"type": "end"})
    await second.send({"type": "text", "text": "still here"})

    assert await session.wait_for_text() == "still here"
    assert len(session.audio) == heard
    assert (await call_record(ready["call_id"]))["ended_at"] is None
    await second.send({"type": "end"})
    assert (await wait_until_ended(ready["call_id"]))["end_reason"] == "caller_hung_up"
    await first.leave()


async def test_a_forged_token_or_another_customers_call_cannot_be_resumed(
    asha: Customer, live: FakeLiveServer, grace: float
) -> None:
    await Customer.objects.acreate(user_id=202, name="Ravi Kumar", phone="+919800000202")
    page = await BrowserCall.open()
    ready = await page.next_event("ready")

    forged = await BrowserCall.open(f"resume={ready['resume_token'][:-3]}xyz")
    # A token can only name the customer whose call it was: a real token naming Ravi for
    # Asha's call cannot exist, and one made up is refused like a forgery.
    not_his = await BrowserCall.open(f"resume={resume_tokens.mint(ready['call_id'], 202)}")

    assert await forged.wait_closed() == 4401
    assert await not_his.next_event("ended") == {"type": "ended", "reason": "call_over"}
    assert await not_his.wait_closed() == 4410
    await page.send({"type": "end"})
    await wait_until_ended(ready["call_id"])


async def test_a_resume_token_for_a_call_that_never_was_is_told_the_call_is_over(
    asha: Customer, live: FakeLiveServer
) -> None:
    unknown = await BrowserCall.open(f"resume={resume_tokens.mint('CALL-NEVER-WAS', 101)}")

    assert await unknown.next_event("ended") == {"type": "ended", "reason": "call_over"}
    assert await unknown.wait_closed() == 4410
    assert live.sessions == []


def minted_long_ago(call_id: str, user_id: int, monkeypatch: pytest.MonkeyPatch) -> str:
    """A genuine resume token, signed a day ago: past any age a call's token can have."""
    day_ago = int(time.time()) - 86_400
    with monkeypatch.context() as then:
        then.setattr(signing.TimestampSigner, "timestamp", lambda _: signing.b62_encode(day_ago))
        return resume_tokens.mint(call_id, user_id)


async def test_a_genuine_resume_token_past_its_age_is_told_the_call_is_over(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page left open overnight comes back with its token: its call is over (4410), as
    the contract says of a token for an ended call; a forged old one is still refused."""
    token = minted_long_ago("CALL-YESTERDAY", 101, monkeypatch)
    stale = await BrowserCall.open(f"resume={token}")
    forged = await BrowserCall.open(f"resume={token[:-3]}xyz")

    assert await stale.next_event("ended") == {"type": "ended", "reason": "call_over"}
    assert await stale.wait_closed() == 4410
    assert await forged.next_event("ended") == {"type": "ended", "reason": "unauthorized"}
    assert await forged.wait_closed() == 4401
    assert live.sessions == []


async def test_a_call_taken_up_from_another_process_ends_at_its_maximum_length_all_told(
    asha: Customer, live: FakeLiveServer, settings: Any, grace: float
) -> None:
    """Its maximum length counts from when the call began, not from its last move: a page
    coming back through the balancer to another process gets no new half hour."""
    settings.VOICE_MAX_CALL_S = 30.0
    settings.VOICE_IDLE_PROMPT_S = 100
    await mongo.async_db().calls.insert_one({
        "call_id": "CALL-long", "user_id": 101, "channel": "web", "carrier": None,
        "resume_handle": None, "ended_at": None, "transcript": [],
        "started_at": utcnow() - timedelta(seconds=60),  # began a minute ago, elsewhere
        "last_seen_at": utcnow(), "detached_at": utcnow(),
    })  # fmt: skip

    page = await BrowserCall.open(f"resume={resume_tokens.mint('CALL-long', 101)}")
    await page.next_event("ready")

    # At once, half a minute past its maximum: after the goodbye the silent model never begins
    # (GOODBYE_START_S, 3 s), well before a maximum counted from its move would end it.
    ended = await page.next_event("ended", timeout=20)
    assert ended == {"type": "ended", "reason": "max_duration"}
    assert (await wait_until_ended("CALL-long"))["end_reason"] == "max_duration"


async def test_what_the_model_missed_while_the_line_was_down_is_told_to_it(
    asha: Customer, live: FakeLiveServer, grace: float
) -> None:
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    session = await live.wait_for_session()
    await session.wait_for_note()  # the greeting
    left = time.monotonic()
    await page.leave()
    await asyncio.sleep(1.7)

    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    await back.next_event("resumed")
    down_at_most = time.monotonic() - left

    note = await session.wait_for_note()
    said = re.search(r"dropped for about (\d+) seconds", note)
    assert said is not None and "repeat" in note
    # About 2 s; more when a busy machine was slow to let the page go or to take it back.
    assert 2 <= int(said[1]) <= max(2, round(down_at_most))
    await back.send({"type": "end"})
    await wait_until_ended(ready["call_id"])


async def the_call_has(call_id: str, handle: str) -> None:
    """Until the call got the Live API's resumable `handle` (for its record, which a call
    letting go writes first)."""
    async with asyncio.timeout(5):
        while (carried := CallSession.here(call_id)) is None or carried._live.handle != handle:
            await asyncio.sleep(0.01)


async def test_a_page_leaving_a_draining_process_frees_its_call_at_once_for_the_next(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    first = await live.wait_for_session()
    await first.send_resumption_update("handle-1")
    await the_call_has(ready["call_id"], "handle-1")

    drained = asyncio.create_task(draining.this_process.drain(bound_s=5))
    await page.next_event("reconnect")
    await page.leave()
    outcome = await drained

    # Let go as the page left, not after the grace period nor when another process asked.
    assert outcome.left == ()
    await first.wait_closed()
    record = await call_record(ready["call_id"])
    assert record["carrier"] is None and record["ended_at"] is None
    assert record["detached_at"] is not None and record["resume_handle"] == "handle-1"

    monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    assert (await back.next_event("ready"))["call_id"] == ready["call_id"]
    assert (await live.wait_for_session(1)).resumed_handle == "handle-1"
    await back.send({"type": "end"})
    assert (await wait_until_ended(ready["call_id"]))["end_reason"] == "caller_hung_up"


async def test_what_the_agent_said_to_nobody_before_its_process_drained_is_said_again_by_the_next(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page dropped and the agent went on talking; then the process drained. The process
    that takes the call up tells its model the caller did not hear it, however short the gap,
    so it says it again; told, the record forgets it (no later process tells it again)."""
    page_gone = asyncio.Event()

    @live.on_session
    async def agent(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("handle-0")
            await page_gone.wait()
            await session.send_audio(AGENT_CHUNK)  # nobody hears it

    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    await the_call_has(ready["call_id"], "handle-0")
    session = CallSession.here(ready["call_id"])
    assert session is not None
    await page.leave()
    async with asyncio.timeout(5):
        while session.attached:
            await asyncio.sleep(0.02)
    page_gone.set()
    async with asyncio.timeout(5):
        while session.doing != "speaking":
            await asyncio.sleep(0.02)
    assert (await draining.this_process.drain(bound_s=5)).left == ()

    monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    await back.next_event("resumed")
    resumed = await live.wait_for_session(1)

    assert MISSED in await resumed.wait_for_note()
    await back.send({"type": "end"})
    record = await wait_until_ended(ready["call_id"])
    assert record["agent_unheard"] is False


async def test_a_call_the_process_drains_under_before_ready_is_opened_again_elsewhere(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before `ready` the page has no resume token to come back to its call with: told to
    reconnect, it waits for the close that follows (4502, as for a call refused by a
    draining process), then opens the call again through the balancer with its one-use
    link, which must still work. The call begun here ends; nothing of it waits for a page."""
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    live.setup_delay_s = 2.0  # the model's session is slow to come up: no `ready` yet
    started, ended = calls_counted()
    link = tokens.mint(101)
    page = await BrowserCall.open(f"token={link}")
    async with asyncio.timeout(5):
        while not draining.this_process.live_calls():
            await asyncio.sleep(0.01)
    [opening] = draining.this_process.live_calls()

    drained = asyncio.create_task(draining.this_process.drain(bound_s=5))

    assert await page.next_event("reconnect") == {"type": "reconnect"}
    assert await page.wait_closed() == 4502
    assert [event["type"] for event in page.events] == ["reconnect"]  # no `ended`: try again
    assert (await drained).left == ()
    assert (await wait_until_ended(opening.call_id))["end_reason"] == "moved_before_ready"

    monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
    live.setup_delay_s = 0.0
    again = await BrowserCall.open(f"token={link}")
    ready = await again.next_event("ready")
    assert ready["call_id"] != opening.call_id
    await again.send({"type": "end"})
    await again.wait_closed()
    # The operators' figures count one call, not a second one abandoned at each deploy.
    async with asyncio.timeout(5):
        while calls_counted() != (started + 1, ended + 1):  # as its finishing is done
            await asyncio.sleep(0.02)


def calls_counted() -> tuple[float, float]:
    """The calls started and ended on the web, as /metrics says."""
    started = REGISTRY.get_sample_value("voice_calls_started_total", {"channel": "web"})
    ended = sum(
        sample.value
        for family in REGISTRY.collect() if family.name == "voice_calls_ended"
        for sample in family.samples
        if sample.name == "voice_calls_ended_total" and sample.labels["channel"] == "web"
    )  # fmt: skip
    return started or 0.0, ended


async def test_a_page_sent_elsewhere_before_ready_is_let_go_once_its_call_here_is_over(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above: the close (4502) gives the page its one-use link back, and the page opens its
    call again at once through the balancer. By then the call begun here is over, its record
    ended and its Live API session closed: it must not count as the customer's open call
    (VOICE_MAX_CALLS_PER_CUSTOMER) as the link opens the next one, nor hold a model session."""
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    live.stall_setups()  # the model's session is on its way: no `ready` yet
    page = await BrowserCall.open(f"token={tokens.mint(101)}")
    async with asyncio.timeout(5):
        while not (live.sessions and draining.this_process.live_calls()):
            await asyncio.sleep(0.01)
    [opening] = draining.this_process.live_calls()

    drained = asyncio.create_task(draining.this_process.drain(bound_s=5))
    assert await page.wait_closed() == 4502

    record = await call_record(opening.call_id)
    assert (record["end_reason"], record["ended_at"] is not None) == ("moved_before_ready", True)
    assert live.sessions[0].closed
    assert (await drained).left == ()


async def test_a_link_whose_call_began_stays_spent_as_the_call_moves_and_ends(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-use link is given back only for a call that never began: a page told `ready`
    comes back with its call's resume token, and the link must not open a second call beside
    the one it comes back to, nor after it."""
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    link = tokens.mint(101)
    page = await BrowserCall.open(f"token={link}")
    ready = await page.next_event("ready")
    drained = asyncio.create_task(draining.this_process.drain(bound_s=5))
    await page.next_event("reconnect")
    await page.leave()
    assert (await drained).left == ()

    monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    await back.next_event("resumed")
    reused = await BrowserCall.open(f"token={link}")
    assert await reused.next_event("ended") == {"type": "ended", "reason": "token_used"}

    await back.send({"type": "end"})
    await wait_until_ended(ready["call_id"])
    after = await BrowserCall.open(f"token={link}")
    assert await after.next_event("ended") == {"type": "ended", "reason": "token_used"}
    assert await mongo.async_db().calls.count_documents({"user_id": 101}) == 1


async def test_a_call_that_moves_before_the_model_gave_a_handle_is_carried_on_not_restarted(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def answers_once(session: FakeSession) -> None:
        await session.wait_for_text()
        await session.send_transcript("agent", "Let me look that up.", finished=True)
        await session.send_turn_complete()  # and no resumable handle yet

    async def carries_on(session: FakeSession) -> None:
        pass

    live.on_session(answers_once, carries_on)
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    await page.send({"type": "text", "text": "Where is my order?"})
    await page.next_event("turn_complete")
    drained = asyncio.create_task(draining.this_process.drain(bound_s=5))
    await page.next_event("reconnect")
    await page.leave()
    await drained

    monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    again = [await back.next_event(kind) for kind in ("ready", "resumed")]
    fresh = await live.wait_for_session(1)
    told = await fresh.wait_for_note()

    # A new model session (nothing to resume it from), told the conversation so far rather
    # than greeting Asha as if she had just called; the agent spoke last, so it waits for her.
    assert fresh.resumed_handle is None
    assert again[0]["call_id"] == ready["call_id"]
    assert "Customer: Where is my order?\nYou: Let me look that up." in told
    assert "Greet" not in told and fresh.client_contents[0]["turnComplete"] is False
    await back.send({"type": "end"})
    record = await wait_until_ended(ready["call_id"])
    assert [line["text"] for line in record["transcript"]] == [
        "Where is my order?", "Let me look that up."]  # fmt: skip


async def test_a_call_that_moved_keeps_the_turns_measured_before_the_move(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_resumption_update(f"handle-{session.index}")
        while True:
            await session.wait_for_text(timeout=20)
            await session.send_audio(AGENT_CHUNK)
            await session.send_turn_complete()

    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    await the_call_has(ready["call_id"], "handle-0")
    await page.send({"type": "text", "text": "Where is my order?"})
    await page.next_event("turn_complete")
    drained = asyncio.create_task(draining.this_process.drain(bound_s=5))
    await page.next_event("reconnect")
    await page.leave()
    await drained
    # The drained process may stop now: what it measured is written already.
    assert len((await call_record(ready["call_id"])).get("turns") or []) == 1

    monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    await back.next_event("resumed")
    await back.send({"type": "text", "text": "And my refund?"})
    await back.next_event("turn_complete")
    await back.send({"type": "end"})

    record = await wait_until_ended(ready["call_id"])
    async with asyncio.timeout(5):  # the after-call fields follow the end
        while "outcome" not in record:
            record = await call_record(ready["call_id"])
    assert [turn["source"] for turn in record["turns"]] == ["text", "text"]
    assert all(turn["first_audio_ms"] is not None for turn in record["turns"])


async def leaving_while_a_tool_runs(
    live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], HeldTool, asyncio.Task[Any]]:
    """A call whose process drains while its check_order_status runs: the page has left and
    the call is let go at once. Answers `ready`, the tool (still held: release it) and the
    drain (still waiting for the tool)."""
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    status = HeldTool(monkeypatch, "check_order_status", {"ok": True, "orders": ["ORD-1001"]})
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    first = await live.wait_for_session()
    await first.send_resumption_update("handle-1")
    await first.send_tool_call([{"name": "check_order_status"}])
    await status.started.wait()
    drained = asyncio.create_task(draining.this_process.drain(bound_s=5))
    await page.next_event("reconnect")
    await page.leave()
    await first.wait_closed()
    return ready, status, drained


async def test_a_tool_still_running_when_the_call_moves_is_answered_in_the_next_process(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready, status, drained = await leaving_while_a_tool_runs(live, monkeypatch)
    monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    await back.next_event("resumed")
    resumed = await live.wait_for_session(1)
    status.released.set()  # the tool finishes in the process the call left
    await drained

    # The resumed session (whose handle predates the tool call) hears the result, and the
    # agent says it; the record keeps the tool call.
    told = await resumed.wait_for_note()
    assert "check_order_status" in told and "ORD-1001" in told
    assert resumed.client_contents[-1]["turnComplete"] is True
    await back.send({"type": "end"})
    record = await wait_until_ended(ready["call_id"])
    assert [(c["name"], c["ok"]) for c in record["tool_calls"]] == [("check_order_status", True)]


async def test_a_tool_that_finishes_after_its_call_moved_and_was_never_taken_up_is_recorded(
    asha: Customer, live: FakeLiveServer, grace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready, status, drained = await leaving_while_a_tool_runs(live, monkeypatch)
    status.released.set()
    await drained

    # Nobody came back within the grace period: the call ends with the tool call on record.
    ended = await calls.end_expired(utcnow() + timedelta(seconds=grace + 1))
    assert ended == [(ready["call_id"], "caller_left")]
    record = await call_record(ready["call_id"])
    assert [(c["name"], c["ok"]) for c in record["tool_calls"]] == [("check_order_status", True)]
    assert record["handed_over"] == []


class LogLines(logging.Handler):
    """Each line's message and the call id it carries (postcall.logs)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []
        self.addFilter(logs.CallIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.getMessage(), getattr(record, "call_id", "-")))


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    handler, root = LogLines(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


async def test_a_call_whose_page_came_back_logs_its_id_to_the_end(
    asha: Customer, live: FakeLiveServer, settings: Any, log_lines: LogLines
) -> None:
    """The second socket's task starts the grace timer when it drops for good: what that
    timer logs ("no socket came back; ending it") and what follows carry the call's id."""
    settings.VOICE_RESUME_GRACE_S = 0.3
    page = await BrowserCall.open()
    ready = await page.next_event("ready")
    call_id = ready["call_id"]
    await page.communicator.disconnect()  # a blip
    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    await back.next_event("resumed")
    await back.communicator.disconnect()  # and again, for good
    await wait_until_ended(call_id)

    about_the_call = [line for line in log_lines.lines if call_id in line[0]]
    assert any("no socket came back" in message for message, _ in about_the_call)
    assert [line for line in about_the_call if line[1] != call_id] == []
