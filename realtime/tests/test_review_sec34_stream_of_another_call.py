"""A Media Stream that names another call than the one its token was minted for (contract
sections 4 and 7): the stream is closed, and the call it named goes on as if nothing came.

The stream's token binds Twilio's CallSid, so a token minted for one call (the attacker's own
call to the number, say) cannot carry on a call whose stream dropped and is waiting for
Twilio's next one: only Twilio's ask for that very call can.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from django.test import override_settings

from realtime import call_session
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.phone_harness import AUTH_TOKEN, PUBLIC, Phone, token_of, webhook
from support import mongo
from support.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

ASHA_PHONE = "+919800000007"
MALLORY_PHONE = "+15550001234"
ASHAS_CALL = "CA" + "a" * 32
MALLORYS_CALL = "CA" + "b" * 32


@pytest.fixture
def twilio(fake_live: FakeLiveServer, settings: Any) -> Iterator[FakeLiveServer]:
    settings.VOICE_RESUME_GRACE_S = 5.0  # Asha's stream comes back within it
    with override_settings(
        TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_BASE_URL=PUBLIC, GEMINI_API_KEY="test-key",
        GEMINI_LIVE_URL=fake_live.url, TWILIO_ACCOUNT_SID="", TWILIO_ESCALATION_NUMBER="",
    ):  # fmt: skip
        yield fake_live


@pytest.fixture
async def calls_left_open() -> AsyncIterator[None]:
    yield
    for call in list(call_session._here.values()):
        await call.close("caller_left")


async def asha_record() -> dict[str, Any]:
    record = await mongo.async_db().calls.find_one({"call_sid": ASHAS_CALL})
    assert record is not None
    return record


async def test_a_stream_token_of_another_call_cannot_carry_on_a_call_waiting_for_its_stream(
    twilio: FakeLiveServer, calls_left_open: None
) -> None:
    await Customer.objects.acreate(user_id=7, name="Asha Rao", phone=ASHA_PHONE)
    first = await Phone.dial(ASHA_PHONE, ASHAS_CALL)
    model = await twilio.wait_for_session(0)
    await model.send_resumption_update("handle-asha")
    call_id = (await asha_record())["call_id"]
    await first.leave()  # the stream drops without `stop`: the call waits for Twilio's next
    async with asyncio.timeout(5):
        while (await asha_record()).get("detached_at") is None:
            await asyncio.sleep(0.02)
    before = await asha_record()

    # Mallory's own call to the number gives Mallory a genuine token, for Mallory's call.
    mallorys_token = token_of(await webhook(MALLORY_PHONE, MALLORYS_CALL))
    intruder = await Phone.stream(ASHAS_CALL, mallorys_token)

    assert await intruder.wait_closed() == 4401
    assert intruder.events("media") == []
    await intruder.leave()
    after = await asha_record()
    assert after.get("ended_at") is None
    assert (after["carrier"], after.get("claim")) == (before["carrier"], before.get("claim"))
    assert len(twilio.sessions) == 1 and model.audio == b"" and model.texts == []
    assert await mongo.async_db().calls.count_documents({}) == 1  # nothing opened for Mallory

    # Twilio's own ask for Asha's call carries it on: the same call, the model still there.
    again = await Phone.dial(ASHA_PHONE, ASHAS_CALL)
    async with asyncio.timeout(5):
        while (await asha_record()).get("detached_at") is not None:
            await asyncio.sleep(0.02)
    await again.hang_up()
    assert await again.wait_closed() == 1000
    await again.leave()
    async with asyncio.timeout(5):
        while (record := await asha_record()).get("ended_at") is None:
            await asyncio.sleep(0.02)
    assert record["call_id"] == call_id
    assert record["end_reason"] == "caller_hung_up"
    assert await mongo.async_db().calls.count_documents({}) == 1
