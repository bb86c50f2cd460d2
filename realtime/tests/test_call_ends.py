"""How a call ends from our side: at its maximum length the agent says goodbye first, on the
page and on the phone, and a model that says nothing does not keep the call going."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from django.test import override_settings

from realtime import call_session
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.phone_harness import AUTH_TOKEN, PUBLIC, Phone
from realtime.tests.test_live_client import LiveApiInAThread, live_api_in_a_thread  # noqa: F401
from realtime.tests.voice_harness import (
    BrowserCall,
    no_session_left_open,
    speech,
    wait_until_ended,
)
from support import mongo
from support.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

ASHA_PHONE = "+919800000101"  # the conftest's Asha
GOODBYE = speech(0.5, 24_000)
ENDS_NOW = "reached its maximum length and will end now"


@pytest.fixture
def short_calls(settings: Any) -> float:
    settings.VOICE_MAX_CALL_S = 1.5
    settings.VOICE_IDLE_PROMPT_S = 100
    return 1.5


async def says_goodbye_when_asked(session: FakeSession) -> None:
    """The model answers nothing until it is told the call ends now, then says goodbye."""
    while ENDS_NOW not in await session.wait_for_note(timeout=10):
        pass
    await session.send_transcript("agent", "We're out of time, thank you for calling. Bye!")
    await session.send_audio(GOODBYE, chunk_ms=20)
    await session.send_turn_complete()


async def test_a_call_at_its_maximum_length_ends_with_the_agents_goodbye(
    asha: Customer, live: FakeLiveServer, short_calls: float
) -> None:
    live.on_session(says_goodbye_when_asked)
    call = await BrowserCall.open()
    ready = await call.next_event("ready")

    ended = await call.next_event("ended", timeout=10)

    assert ended == {"type": "ended", "reason": "max_duration"}
    said = [e["text"] for e in call.events if e["type"] == "transcript" and e["final"]]
    assert said == ["We're out of time, thank you for calling. Bye!"]  # before `ended`
    assert len(call.agent_audio) == len(GOODBYE)
    assert (await wait_until_ended(ready["call_id"]))["end_reason"] == "max_duration"


async def test_a_model_that_says_no_goodbye_at_the_maximum_length_holds_up_no_end(
    asha: Customer, live: FakeLiveServer, short_calls: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_session, "GOODBYE_WAIT_S", 30.0)  # the first words' bound acts
    began = time.monotonic()
    call = await BrowserCall.open()
    ready = await call.next_event("ready")

    ended = await call.next_event("ended", timeout=20)

    assert ended["reason"] == "max_duration"
    assert any(ENDS_NOW in note for note in live.session.notes)  # it was asked all the same
    # Ended by the first words' bound, not the 30 s one: three times it, for a loaded CI.
    bound = (short_calls + call_session.GOODBYE_START_S) * 3
    assert time.monotonic() - began < bound < call_session.GOODBYE_WAIT_S
    await wait_until_ended(ready["call_id"])


async def test_a_phone_call_at_its_maximum_length_hears_the_goodbye_before_the_hang_up(
    asha: Customer, fake_live: FakeLiveServer, short_calls: float
) -> None:
    with override_settings(
        TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_BASE_URL=PUBLIC, GEMINI_API_KEY="test-key",
        GEMINI_LIVE_URL=fake_live.url, TWILIO_ACCOUNT_SID="", TWILIO_ESCALATION_NUMBER="",
    ):  # fmt: skip
        fake_live.on_session(says_goodbye_when_asked)
        phone = await Phone.dial(ASHA_PHONE)
        mark = await phone.wait_for_event("mark", timeout=10)  # the goodbye, all sent
        await phone.echo_mark(mark["mark"]["name"])  # and, says Twilio, played

        assert await phone.wait_closed(timeout=10) == 1000
        assert phone.media()  # the goodbye went down the line
        call = await mongo.async_db().calls.find_one({"channel": "phone"})
        assert call is not None
        assert (await wait_until_ended(call["call_id"]))["end_reason"] == "max_duration"
        await phone.leave()


async def test_a_call_whose_live_api_stops_answering_ends_on_time_and_cleanly(
    asha: Customer,
    live_api_in_a_thread: LiveApiInAThread,  # noqa: F811
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The customer hangs up as Google stops answering: the call ends within its bounds, and
    nothing of it is left running (logged at ERROR when it is)."""
    settings.GEMINI_API_KEY, settings.GEMINI_LIVE_URL = "test-key", live_api_in_a_thread.url
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await live_api_in_a_thread.freeze(3.0)

    began = time.monotonic()
    await call.send({"type": "end"})
    await call.next_event("ended")
    record = await wait_until_ended(ready["call_id"])

    assert record["end_reason"] == "caller_hung_up"
    assert time.monotonic() - began < 3 * call_session.TEARDOWN_TIMEOUT_S
    assert await call_session.ending_calls_finished(5.0)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_page_gone_before_ready_ends_its_call_at_once(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    """End call pressed while the page's socket still connects: the page can only close it,
    and holds no resume token to come back with. The call does not wait out the grace period
    for it (VOICE_RESUME_GRACE_S) with the model's session open."""
    settings.VOICE_RESUME_GRACE_S = 30.0  # as deployed (the tests' is short)
    live.setup_delay_s = 2.0  # the model is not listening yet
    call = await BrowserCall.open()
    async with asyncio.timeout(5):
        while not live.sessions:  # the call has begun, and is opening the model's session
            await asyncio.sleep(0.01)
    [record] = await mongo.async_db().calls.find({}).to_list()
    await call.leave()

    record = await wait_until_ended(record["call_id"], timeout=3)

    assert record["end_reason"] == "caller_left"
    await no_session_left_open(live)
    assert not any(event["type"] == "ready" for event in call.events)
