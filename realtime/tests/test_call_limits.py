"""What one caller can consume: a token opens one call, a customer has at most two calls at
once, typed messages are rate-limited, audio never goes upstream faster than real time, a
Twilio stream token opens one stream, and a call record stays small whatever the call does
(and closes even when the database was down as the call ended)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect

from continuity.calls import close_abandoned, find_call
from realtime import call_record, call_session, tokens
from realtime.call_session import AUDIO_BURST_S
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.phone_harness import AUTH_TOKEN, PUBLIC, Phone, webhook
from realtime.tests.voice_harness import BrowserCall, speech, wait_until_ended
from support import mongo
from support.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_session_token_opens_one_call_only(asha: Customer, live: FakeLiveServer) -> None:
    token = tokens.mint(101)
    first = await BrowserCall.open(f"token={token}")
    await first.next_event("ready")

    again = await BrowserCall.open(f"token={token}")

    assert await again.next_event("ended") == {"type": "ended", "reason": "token_used"}
    assert await again.wait_closed() == 4401
    await first.leave()
    after_the_call = await BrowserCall.open(f"token={token}")
    assert await after_the_call.wait_closed() == 4401


async def test_many_uses_of_one_token_at_once_open_exactly_one_call(
    asha: Customer, live: FakeLiveServer
) -> None:
    token = tokens.mint(101)

    calls = await asyncio.gather(*(BrowserCall.open(f"token={token}") for _ in range(8)))
    firsts = await asyncio.gather(*(call._receive(5) for call in calls))

    assert sorted(str(event and event["type"]) for event in firsts).count("ready") == 1
    for call in calls:
        await call.leave()


async def test_a_customer_has_at_most_two_calls_at_once(
    asha: Customer, live: FakeLiveServer
) -> None:
    calls = [await BrowserCall.open() for _ in range(2)]
    first = [await call.next_event("ready") for call in calls][0]

    third = await BrowserCall.open()
    error = await third.next_event("error")

    assert error["code"] == "too_many_calls"
    assert await third.wait_closed() == 4429
    assert await mongo.async_db().calls.count_documents({"user_id": 101}) == 2  # no record
    await calls[0].leave()
    await wait_until_ended(first["call_id"])
    fourth = await BrowserCall.open()
    await fourth.next_event("ready")
    for call in (calls[1], fourth):
        await call.leave()


def tasks_of(call_id: str) -> list[str]:
    return [t.get_name() for t in asyncio.all_tasks() if call_id in t.get_name() and not t.done()]


async def tasks_of_ended(call_id: str, timeout: float = 5.0) -> list[str]:
    """The tasks of `call_id` still running once they have all ended, or `timeout` passed: a
    call's tasks end a moment after its socket closes, longer on a busy machine; a task left
    behind never does."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while tasks_of(call_id):
                await asyncio.sleep(0.02)
    return tasks_of(call_id)


async def test_a_call_refused_for_too_many_leaves_nothing_running_and_its_link_works_later(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_record, "HEARTBEAT_S", 0.1)  # a left-behind writer would show
    calls = [await BrowserCall.open() for _ in range(2)]
    first = [await call.next_event("ready") for call in calls][0]
    link = tokens.mint(101)
    refused_ids = []
    real_start = call_session.CallSession.start

    async def start(self: call_session.CallSession) -> None:
        refused_ids.append(self.call_id)
        await real_start(self)

    monkeypatch.setattr(call_session.CallSession, "start", start)
    third = await BrowserCall.open(f"token={link}")
    assert (await third.next_event("error"))["code"] == "too_many_calls"
    assert await third.wait_closed() == 4429

    assert await tasks_of_ended(refused_ids[0]) == []
    assert await mongo.async_db().calls.count_documents({"user_id": 101}) == 2
    await calls[0].send({"type": "end"})
    await wait_until_ended(first["call_id"])
    again = await BrowserCall.open(f"token={link}")  # the same link, once she has room
    await again.next_event("ready")
    for call in (calls[1], again):
        await call.leave()


async def test_a_database_failure_as_the_call_opens_leaves_no_open_record_behind(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def blip(*args: Any, **kwargs: Any) -> bool:
        raise AutoReconnect("the primary stepped down")

    monkeypatch.setattr(call_session, "may_open_call", blip)
    call = await BrowserCall.open()

    assert await call.next_event("ended") == {"type": "ended", "reason": "unavailable"}
    assert await call.wait_closed() == 4500
    assert await tasks_of_ended("CALL-") == []
    assert await mongo.async_db().calls.count_documents({"ended_at": None}) == 0
    assert live.sessions == []


async def test_a_record_written_though_the_database_failed_to_answer_is_not_left_open(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call's record is written, but the database's answer is lost (a connection reset,
    a failover): the page is told we are unavailable, and its link works again. What was
    written goes too: left open, it would count as one of Asha's calls (with her other one,
    VOICE_MAX_CALLS_PER_CUSTOMER) as the link opens the call again, until the sweeper ended
    it as a lost call minutes later."""
    insert_one = AsyncCollection.insert_one

    async def answer_lost(self: AsyncCollection[Any], document: Any, *args: Any,
                          **kwargs: Any) -> Any:  # fmt: skip
        written = await insert_one(self, document, *args, **kwargs)
        if self.name == "calls":
            raise AutoReconnect("connection reset by peer")
        return written

    other = await BrowserCall.open()
    await other.next_event("ready")
    link = tokens.mint(101)
    with monkeypatch.context() as patched:
        patched.setattr(AsyncCollection, "insert_one", answer_lost)
        call = await BrowserCall.open(f"token={link}")
        assert await call.next_event("ended") == {"type": "ended", "reason": "unavailable"}
        assert await call.wait_closed() == 4500

    again = await BrowserCall.open(f"token={link}")
    await again.next_event("ready")  # not refused as a third call of hers
    assert await mongo.async_db().calls.count_documents({"ended_at": None}) == 2
    for page in (other, again):
        await page.leave()


async def test_typed_messages_beyond_the_rate_are_refused_and_never_reach_the_model(
    asha: Customer, live: FakeLiveServer
) -> None:
    call = await BrowserCall.open()
    await call.next_event("ready")

    for n in range(12):
        await call.send({"type": "text", "text": f"message {n}"})
    refused = [await call.next_event("error") for _ in range(6)]

    assert {e["code"] for e in refused} == {"rate_limited"}
    await asyncio.sleep(0.3)
    assert len(live.session.texts) <= 6
    await call.leave()


async def test_caller_audio_faster_than_real_time_is_not_forwarded_faster(
    asha: Customer, live: FakeLiveServer
) -> None:
    began = time.monotonic()  # before the call: its real time can only be shorter
    call = await BrowserCall.open()
    await call.next_event("ready")
    session = await live.wait_for_session()

    await call.say(speech(10.0, 16_000))  # ten seconds of audio, sent as fast as possible
    await asyncio.sleep(0.5)

    # The two-second allowance and the time that passed: under 3 s of the 10 on an idle machine.
    assert session.audio_seconds <= AUDIO_BURST_S + (time.monotonic() - began)
    await call.leave()


async def test_a_huge_tool_call_and_long_captions_keep_the_record_small(
    asha: Customer, live: FakeLiveServer
) -> None:
    @live.on_session
    async def verbose(session: FakeSession) -> None:
        await session.send_tool_call(
            [{"name": "get_order_details", "args": {"order_id": "ORD-1001", "x": "y" * 200_000}}]
        )
        await session.wait_for_tool_response()
        for _ in range(3):
            await session.send_transcript("agent", "blah " * 10_000, finished=True)
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete", timeout=10)
    await call.leave()

    record = await wait_until_ended(ready["call_id"])
    size = len(json.dumps(record, default=str))
    assert size < 30_000
    assert record["tool_calls"][0]["args"]["truncated"] is True
    assert all(len(line["text"]) <= call_record.MAX_TEXT_CHARS for line in record["transcript"])


async def test_a_record_whose_lists_are_full_counts_what_it_dropped(db: Any) -> None:
    record = call_record.CallRecord(call_id="CALL-full", user_id=None, channel="web")
    await record.open()
    for n in range(call_record.MAX_LINES + 3):
        record.add_transcript("user", f"line {n}")
    await record.close("caller_left")

    stored = await mongo.async_db().calls.find_one({"call_id": "CALL-full"})
    assert stored is not None
    assert len(stored["transcript"]) == call_record.MAX_LINES
    assert stored["dropped"] == {"transcript": 3}


async def test_a_flood_of_routine_staff_events_leaves_room_for_a_take_over(db: Any) -> None:
    record = call_record.CallRecord(call_id="CALL-staff", user_id=None, channel="web")
    await record.open()
    for n in range(call_record.MAX_EVENTS):
        record.add_event("staff_events", {"kind": "whisper", "text": f"w{n}"}, routine=True)
    record.add_event("staff_events", {"kind": "take_over", "staff": "arjun"})
    await record.close("caller_left")

    stored = await mongo.async_db().calls.find_one({"call_id": "CALL-staff"})
    assert stored is not None
    kinds = [event["kind"] for event in stored["staff_events"]]
    assert kinds[-1] == "take_over"
    assert kinds.count("whisper") == call_record.MAX_EVENTS - call_record.RESERVED_EVENTS


async def test_a_call_carried_on_by_another_process_is_capped_with_what_it_held(db: Any) -> None:
    first = call_record.CallRecord(call_id="CALL-moved", user_id=None, channel="web")
    await first.open()
    for n in range(call_record.MAX_LINES - 2):
        first.add_transcript("user", f"line {n}")
    await first.let_go(call_record.now())  # the call moves: the next process resumes it

    moved = await find_call(call_id="CALL-moved", with_sizes=True)
    assert moved is not None and moved.sizes["transcript"] == call_record.MAX_LINES - 2
    where = await find_call(call_id="CALL-moved")  # where it is: nothing counted
    assert where is not None and where.sizes == {} and where.call_id == "CALL-moved"
    second = call_record.CallRecord(call_id="CALL-moved", user_id=None, channel="web",
                                    counts=moved.sizes)  # fmt: skip
    second.start_writing()
    for n in range(5):
        second.add_transcript("agent", f"after the move {n}")
    await second.close("caller_left")

    stored = await mongo.async_db().calls.find_one({"call_id": "CALL-moved"})
    assert stored is not None
    assert len(stored["transcript"]) == call_record.MAX_LINES
    assert stored["dropped"] == {"transcript": 3}
    assert moved.sizes["tool_calls"] == 0 and moved.sizes["staff_events"] == 0


async def test_a_record_the_database_could_not_close_is_closed_when_it_returns(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = call_record.CallRecord(call_id="CALL-outage", user_id=None, channel="web")
    await record.open()
    record.add_transcript("user", "hello")
    real_db = mongo.async_db

    class Down:
        def __getattr__(self, name: str) -> Any:
            from pymongo.errors import ServerSelectionTimeoutError

            raise ServerSelectionTimeoutError("the database is frozen")

    monkeypatch.setattr(mongo, "async_db", lambda: Down())
    await record.close("caller_left")  # returns: the close goes on in the background
    monkeypatch.setattr(mongo, "async_db", real_db)

    async with asyncio.timeout(5):
        while not (await real_db().calls.find_one({"call_id": "CALL-outage"}) or {}).get(
            "ended_at"
        ):
            await asyncio.sleep(0.1)
    stored = await real_db().calls.find_one({"call_id": "CALL-outage"})
    assert stored is not None and stored["end_reason"] == "caller_left"
    assert [line["text"] for line in stored["transcript"]] == ["hello"]


async def test_records_nobody_stamps_any_more_are_ended_as_lost(db: Any) -> None:
    calls = mongo.async_db().calls
    now = call_record.now()
    await calls.insert_many([
        {"call_id": "CALL-gone", "ended_at": None, "last_seen_at": now - timedelta(minutes=5)},
        {"call_id": "CALL-live", "ended_at": None, "last_seen_at": now},
    ])  # fmt: skip

    assert len(await close_abandoned(now)) == 1

    gone = await calls.find_one({"call_id": "CALL-gone"})
    live = await calls.find_one({"call_id": "CALL-live"})
    assert gone is not None and gone["end_reason"] == "lost"
    assert live is not None and live["ended_at"] is None


# --- phone ------------------------------------------------------------------------------------


@pytest.fixture
def twilio(fake_live: FakeLiveServer) -> Any:
    with override_settings(
        TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_BASE_URL=PUBLIC, GEMINI_API_KEY="test-key",
        GEMINI_LIVE_URL=fake_live.url, TWILIO_ACCOUNT_SID="", TWILIO_ESCALATION_NUMBER="",
    ):  # fmt: skip
        yield fake_live


async def test_a_stream_token_opens_one_stream_only(twilio: FakeLiveServer) -> None:
    call_sid = "CA" + "5" * 32
    twiml = await webhook("+919800000555", call_sid)
    token = twiml.split('name="token" value="')[1].split('"')[0]

    first = await Phone.stream(call_sid, token)
    await twilio.wait_for_session()
    replay = await Phone.stream(call_sid, token)

    assert await replay.wait_closed() == 4401
    assert len(twilio.sessions) == 1
    await first.hang_up()
    assert await first.wait_closed() == 1000
    await first.leave()
    await replay.leave()
