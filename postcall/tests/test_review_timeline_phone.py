"""A phone call's recording after its line stalled, or after a server slow to open the call
(the bridge end to end: Twilio's Media Stream, the fake Live API, the real database): the
caller's audio is laid where Twilio's timestamps say it was said, not after what was settled
while it was held up."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from postcall import store, summary
from postcall.tests.test_after_the_call import decode, recording_bytes
from realtime.audio import ulaw_encode
from realtime.phone import consumer
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.phone_harness import AUTH_TOKEN, FRAME, PUBLIC, Phone
from support import mongo
from support.models import Customer
from voiceproject.tests.signals import tone

pytestmark = pytest.mark.django_db(transaction=True)

ASHA_PHONE = "+919800000007"
WINDOW_S = 0.01


@pytest.fixture
def twilio(fake_live: FakeLiveServer) -> Iterator[FakeLiveServer]:
    with override_settings(
        TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_BASE_URL=PUBLIC, GEMINI_API_KEY="test-key",
        GEMINI_LIVE_URL=fake_live.url, TWILIO_ACCOUNT_SID="", TWILIO_ESCALATION_NUMBER="",
        RECORD_CALLS=True,
    ):  # fmt: skip
        yield fake_live


@pytest.fixture
async def fake_live() -> Any:
    async with FakeLiveServer() as fake:
        yield fake


async def send_frames(
    phone: Phone, ulaw: bytes, *, stalled: tuple[float, float] = (0.0, 0.0)
) -> None:
    """Twilio's 20 ms media frames of `ulaw`, each sent as it ends (its `timestamp` counting
    from the stream's start), but those ending within `stalled` (seconds): all at its end."""
    started = time.monotonic()
    for n, offset in enumerate(range(0, len(ulaw), FRAME)):
        ended = 0.02 * (n + 1)
        due = stalled[1] if stalled[0] < ended <= stalled[1] else ended
        await asyncio.sleep(max(0.0, started + due - time.monotonic()))
        await phone.send({
            "event": "media", "sequenceNumber": str(n + 2), "streamSid": phone.stream_sid,
            "media": {"track": "inbound", "chunk": str(n + 1), "timestamp": str(20 * n),
                      "payload": base64.b64encode(ulaw[offset : offset + FRAME]).decode()},
        })  # fmt: skip


async def recorded() -> tuple[dict[str, Any], list[int]]:
    """The phone call's record, once the call is over, and its recording's customer side as
    `pitch_per_window` hears it."""
    async with asyncio.timeout(10):
        while not (record := await mongo.async_db().calls.find_one({"channel": "phone"})) or (
            "outcome" not in record
        ):
            await asyncio.sleep(0.02)
    await summary.pending()
    ogg = await sync_to_async(recording_bytes)(record["call_id"])
    return record, pitch_per_window(decode(ogg)[0])


def pitch_per_window(channel: np.ndarray[Any, Any]) -> list[int]:
    """Which of 440 Hz and 880 Hz each 10 ms of a 48 kHz channel holds (0: neither, quiet)."""
    size = int(WINDOW_S * 48_000)
    t = np.arange(size) / 48_000
    probes = {hz: np.exp(-2j * np.pi * hz * t) for hz in (440, 880)}
    pitches = []
    for start in range(0, len(channel) - size + 1, size):
        window = channel[start : start + size]
        power = {hz: abs(np.dot(window, probe)) for hz, probe in probes.items()}
        loud = float(np.sqrt(np.mean(window**2))) > 0.05
        pitches.append(max(power, key=lambda hz: power[hz]) if loud else 0)
    return pitches


async def test_a_phone_line_that_stalls_is_recorded_where_she_said_it_to_its_end(
    twilio: FakeLiveServer, transactional_db: Any
) -> None:
    await Customer.objects.acreate(user_id=7, name="Asha Rao", phone=ASHA_PHONE)
    # Two seconds at 440 Hz, the second of them held up and sent at once (more than the
    # half-second flush settles meanwhile), then a second at 880 Hz, and she hangs up.
    words = np.concatenate((tone(440, 2.0, 8000), tone(880, 1.0, 8000)))
    phone = await Phone.dial(ASHA_PHONE)
    # Once the call is up: her words read late while the server sets the call up are the
    # next test's; this one is about the stall's whole second.
    await twilio.wait_for_session()
    await send_frames(phone, ulaw_encode(words), stalled=(1.0, 2.0))
    await phone.hang_up()
    await phone.wait_closed()
    await phone.leave()

    _, pitches = await recorded()

    first_a, first_b = pitches.index(440), pitches.index(880)
    assert (first_b - first_a) * WINDOW_S == pytest.approx(2.0, abs=0.02)  # where it was said
    # None of it cut off by the stall: the recording ends with the call (on a whole 20 ms
    # step), not the stall's length (1 s) before her last words; a machine's jitter is allowed
    # up to 0.3 s, well short of the stall's whole second it is to catch.
    assert pitches.count(880) * WINDOW_S == pytest.approx(1.0, abs=0.3)


HELD_UP_S = 0.5  # how long the call's setup waits for the database, before its record opens


async def test_a_phone_call_whose_setup_is_held_up_is_recorded_where_she_said_it(
    twilio: FakeLiveServer, transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Her words from the moment her stream starts, while a server busy setting the call up
    (its database slow) reads none of her frames, then all of them at once: her stream's clock
    is set by when its `start` came, and its recording begins there, so her words lie where
    she said them, none cut off at the end. A recording begun with the call's record would
    lay the words said before it late by the setup's time until she paused, and cut as much
    of her last words if she did not."""
    await Customer.objects.acreate(user_id=7, name="Asha Rao", phone=ASHA_PHONE)
    find_customer = consumer.find_customer

    async def slow_database(**query: Any) -> Any:
        await asyncio.sleep(HELD_UP_S)
        return await find_customer(**query)

    monkeypatch.setattr(consumer, "find_customer", slow_database)
    # A second at 440 Hz from the stream's start, a pause of half a second, then a second at
    # 880 Hz, and she hangs up.
    words = np.concatenate((tone(440, 1.0, 8000), np.zeros(4000, np.int16), tone(880, 1.0, 8000)))
    phone = await Phone.dial(ASHA_PHONE)
    started = dt.datetime.now(dt.UTC)  # `start` is sent: the stream's 0 ms
    await send_frames(phone, ulaw_encode(words))
    await phone.hang_up()
    await phone.wait_closed()
    await phone.leave()

    record, pitches = await recorded()

    assert pitches.index(440) * WINDOW_S == pytest.approx(0.0, abs=0.02)
    assert pitches.count(440) * WINDOW_S == pytest.approx(1.0, abs=0.02)
    assert pitches.index(880) * WINDOW_S == pytest.approx(1.5, abs=0.02)  # where she said it
    assert pitches.count(880) * WINDOW_S == pytest.approx(1.0, abs=0.05)  # none cut at the end
    # The call, and its recording, begin with her stream, not once its setup was done: the
    # recording lasts as long as the call's record says.
    [part] = await sync_to_async(store.recording_parts)(record["call_id"])
    assert part.started_at is not None
    # (`started` is the test's stamp as it sent `start`, the server's read a moment after.)
    assert (part.started_at - started).total_seconds() == pytest.approx(0.0, abs=0.1)
    began = record["started_at"].replace(tzinfo=dt.UTC)
    assert (began - started).total_seconds() == pytest.approx(0.0, abs=0.1)
    assert abs((part.started_at - began).total_seconds()) <= 0.005
