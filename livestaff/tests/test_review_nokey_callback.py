"""A callback a colleague places without GEMINI_API_KEY (contract sections 1, 8 and 9): the
customer who answers talks to the colleague who dialled, as with the key, but the call has no
model at all (nothing connects to the Live API, nothing gives up on it), so there is nothing to
hand the call back to nor to whisper to. Incoming calls without the key stay refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from django.utils import timezone

from callbacks import desk
from callbacks.models import Callback
from callbacks.tests.conftest import make_callback, today_at
from livestaff.on_call import HOLDER_LEFT, HOLDER_LEFT_MESSAGE, NO_AGENT_HAND_BACK, NO_AGENT_WHISPER
from livestaff.tests.test_staff_on_a_call import LEAD_GROUP, StaffPage, _staff_cookie, _until_linked
from realtime import live_client
from realtime.audio import ulaw_decode, ulaw_encode
from realtime.call_session import CallSession
from realtime.phone import outbound, security
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.phone_harness import (
    AUTH_TOKEN,
    PUBLIC,
    Phone,
    said_then_hung_up,
    token_of,
    webhook,
)
from realtime.tests.voice_harness import wait_until_ended
from support import mongo
from support.models import Customer
from voiceproject.tests.signals import dominant_hz, tone_pcm

pytestmark = pytest.mark.django_db(transaction=True)

CALL_SID = "CA" + "7" * 32


@pytest.fixture
def no_key(live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Twilio configured, GEMINI_API_KEY not: answers every attempt to open the Live API."""
    attempts: list[Any] = []
    real = live_client.connect

    def counted(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(live_client, "connect", counted)
    with override_settings(TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_BASE_URL=PUBLIC,
                           TWILIO_ACCOUNT_SID="", TWILIO_ESCALATION_NUMBER="",
                           GEMINI_API_KEY=""):  # fmt: skip
        yield attempts


async def arjun_calls_asha_back(asha: Customer) -> tuple[Phone, str, StaffPage]:
    """Arjun (a lead) dialled Asha's callback and she answered: her phone, the call id, and his
    live call view (listening)."""
    await sync_to_async(make_callback)(asha, today_at(15, 30, days=1), callback_id="CBK-ASHA01")
    await mongo.async_db().callbacks.update_one(
        {"callback_id": "CBK-ASHA01"}, {"$set": {"call_sid": CALL_SID}}
    )
    await sync_to_async(_staff_cookie)("arjun", LEAD_GROUP, "Arjun")
    token = security.mint_callback_token(
        security.CallbackStream("CBK-ASHA01", "+919800000101", "arjun")
    )
    phone = await Phone.stream(CALL_SID, token, extra_parameters={
        outbound.KIND: outbound.CALLBACK, outbound.CALLBACK_ID: "CBK-ASHA01",
    })  # fmt: skip
    call_id = str((await _until_linked("CBK-ASHA01"))["answered_call_id"])
    arjun = await StaffPage.open(call_id, "arjun", None)
    await arjun.next_event("state")
    await arjun.send({"type": "listen"})
    await arjun.next_event("state", listeners=["arjun"])
    return phone, call_id, arjun


async def finished(call_id: str) -> dict[str, Any]:
    """The call's record once it ended and its outcome is written."""
    await wait_until_ended(call_id)
    async with asyncio.timeout(5):
        while True:
            record = await mongo.async_db().calls.find_one({"call_id": call_id})
            if record is not None and record.get("outcome"):
                return record
            await asyncio.sleep(0.05)


async def test_without_a_key_the_customer_answering_a_callback_talks_to_the_colleague(
    asha: Customer, no_key: list[Any]
) -> None:
    phone, call_id, arjun = await arjun_calls_asha_back(asha)

    await arjun.speak(tone_pcm(440, 1.5, 16_000))
    await phone.speak(ulaw_encode(tone_pcm(300, 1.0, 8_000)))
    await phone.wait_for(lambda: len(phone.media()) >= 60, "Arjun's voice", 10)
    heard_by_arjun = await arjun.wait_for_audio(b"C", 16_000)

    played = ulaw_decode(b"".join(phone.media()[-40:])).astype("<i2").tobytes()
    assert dominant_hz(played, 8_000) == pytest.approx(440, abs=8)
    assert dominant_hz(heard_by_arjun[-16_000:], 16_000) == pytest.approx(300, abs=8)
    state = [e for e in arjun.events if e["type"] == "state"][-1]
    assert (state["mode"], state["staff"], state["agent"]) == ("human", "arjun", False)
    assert no_key == []  # no model session was ever asked for
    await phone.hang_up()
    await arjun.leave()
    await phone.leave()


async def test_without_a_key_hand_back_and_whisper_are_refused_and_the_colleague_ends_it(
    asha: Customer, no_key: list[Any]
) -> None:
    phone, call_id, arjun = await arjun_calls_asha_back(asha)

    await arjun.send({"type": "hand_back", "note": "Over to the agent"})
    refused_hand_back = await arjun.next_event("error")
    await arjun.send({"type": "whisper", "text": "Offer a refund"})
    refused_whisper = await arjun.next_event("error")
    still = CallSession.here(call_id)
    assert still is not None and (still.mode, still.holder_name) == ("human", "Arjun")
    await arjun.send({"type": "end_call"})
    ended = await arjun.next_event("ended")

    assert refused_hand_back == {"type": "error", "code": "forbidden",
                                 "message": NO_AGENT_HAND_BACK}  # fmt: skip
    assert refused_whisper == {"type": "error", "code": "forbidden", "message": NO_AGENT_WHISPER}
    assert ended["reason"] == "ended_by_staff"
    assert await phone.wait_closed() == 1000
    record = await finished(call_id)
    # A person held it from its start to its end: no agent failed, nobody gave up on one.
    assert (record["end_reason"], record["outcome"]) == ("ended_by_staff", "transferred")
    assert [e["kind"] for e in record["staff_events"]] == ["take_over", "listen", "end_call"]
    assert await mongo.async_db().escalations.count_documents({}) == 0
    assert no_key == []
    # The callbacks board reads the answered call as over: mark it done, or call again.
    callback = await sync_to_async(Callback.objects.get)(callback_id="CBK-ASHA01")
    live_now = await sync_to_async(desk.answered_call_live)(callback)
    assert desk.dialling(callback, live_now, timezone.now()) == desk.CALL_OVER
    await arjun.leave()
    await phone.leave()


async def test_without_a_key_a_callback_whose_stream_drops_goes_on_with_the_colleague(
    asha: Customer, no_key: list[Any], settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 10  # the call waits for Twilio's new stream
    phone, call_id, arjun = await arjun_calls_asha_back(asha)

    # The stream ends with Asha still on the line: Twilio asks the voice webhook again.
    await phone.leave()
    twiml = await webhook("+911140001234", CALL_SID, Direction="outbound-api",
                          CallStatus="in-progress")  # fmt: skip
    assert 'name="token"' in twiml  # connected again, not "the assistant is unavailable"
    again = await Phone.stream(CALL_SID, token_of(twiml))
    carried = CallSession.here(call_id)
    assert carried is not None
    async with asyncio.timeout(5):
        while not carried.attached:
            await asyncio.sleep(0.01)
    await arjun.speak(tone_pcm(660, 2.0, 16_000))
    await again.wait_for(lambda: len(again.media()) >= 40, "Arjun's voice again", 10)

    replayed = ulaw_decode(b"".join(again.media()[-30:])).astype("<i2").tobytes()
    assert dominant_hz(replayed, 8_000) == pytest.approx(660, abs=8)
    assert no_key == []
    await again.hang_up()
    record = await finished(call_id)
    assert (record["end_reason"], record["outcome"]) == ("caller_hung_up", "transferred")
    await arjun.leave()
    await again.leave()


async def test_without_a_key_a_callback_whose_colleague_left_ends_instead_of_going_silent(
    asha: Customer, no_key: list[Any], settings: Any
) -> None:
    settings.STAFF_HOLD_GRACE_S = 2.0
    phone, call_id, arjun = await arjun_calls_asha_back(asha)

    await arjun.leave()  # his page closed, and does not come back
    assert await phone.wait_closed(timeout=10) == 1000
    record = await finished(call_id)
    # Twilio asks what next as the stream closes: Asha is told why, then hung up on.
    said = said_then_hung_up(await webhook("+911140001234", CALL_SID, Direction="outbound-api",
                                           CallStatus="in-progress"))  # fmt: skip

    assert (record["end_reason"], record["outcome"]) == (HOLDER_LEFT, "transferred")
    assert said == HOLDER_LEFT_MESSAGE
    # Never handed back: there was no agent to hand it to.
    assert [e["kind"] for e in record["staff_events"]] == ["take_over", "listen"]
    assert no_key == []
    await phone.leave()


async def test_without_a_key_an_incoming_call_stream_is_still_refused(
    asha: Customer, no_key: list[Any]
) -> None:
    token = security.mint_stream_token(security.StreamCaller(CALL_SID, "+919800000101"))

    phone = await Phone.stream(CALL_SID, token)

    assert await phone.wait_closed() == 4503
    assert await mongo.async_db().calls.count_documents({}) == 0
    assert no_key == []
    await phone.leave()
