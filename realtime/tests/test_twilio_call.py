"""A phone call end to end (contract section 4): Twilio's webhook, then its Media Stream in
Twilio's own message format, paced like a real phone, against the fake Live API.

The caller's speech and the agent's reply are real speech made with espeak-ng and sox at test
time; what reaches each side is checked against an ideal (FFT) resample of what was sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sized
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import numpy.typing as npt
import pytest
from asgiref.sync import sync_to_async
from autobahn.exception import Disconnected
from channels.layers import get_channel_layer
from django.test import override_settings
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from callbacks.tests.conftest import make_callback, today_at
from callbacks.tests.fake_twilio import FakeTwilioApi
from continuity import process
from continuity.sweeper import sweep_once
from realtime import call_session, live_client
from realtime.audio import ulaw_decode
from realtime.call_record import now as utcnow
from realtime.call_session import CallSession
from realtime.phone import consumer, keypad, outbound, security, twilio_rest
from realtime.phone.views import SERVER_ERROR_SAY, TRANSFER_NOT_ANSWERED_SAY
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.phone_harness import (
    AUTH_TOKEN,
    FRAME,
    PUBLIC,
    Phone,
    said_then_hung_up,
    token_of,
    webhook,
)
from realtime.tests.slow_twilio import SlowTwilio
from realtime.tests.test_database_freeze import freeze
from realtime.tests.voice_harness import (
    HeldTool,
    call_record,
    no_session_left_open,
    wait_until_ended,
)
from realtime.transfer import Transfer
from realtime.twilio_protocol import dtmf_prompt
from support import mongo
from support.models import Customer
from support.tests.conftest import make_order
from voiceproject import draining
from voiceproject.draining import ProcessCalls
from voiceproject.tests.test_page_db_timeout import database_pid

__all__ = ["database_pid"]

pytestmark = pytest.mark.django_db(transaction=True)

ASHA_PHONE = "+919800000007"
UNKNOWN_PHONE = "+15550009999"
ESCALATION_NUMBER = "+919800000999"
ULAW_SILENCE = 0xFF

FloatArray = npt.NDArray[np.float64]

# --- Speech, made at test time ---------------------------------------------------------------


def _speech(tmp: Path, name: str, text: str, sox_format: list[str]) -> bytes:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed for the phone tests: apt-get install espeak-ng sox")
    wav, raw = tmp / f"{name}.wav", tmp / f"{name}.raw"
    subprocess.run(["espeak-ng", "-v", "en", "-s", "170", "-w", str(wav), text], check=True)
    subprocess.run(["sox", str(wav), *sox_format, "-t", "raw", str(raw)], check=True)
    return raw.read_bytes()


@pytest.fixture(scope="module")
def caller_speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """About 2 s of a caller's words as Twilio sends them: 8 kHz µ-law."""
    return _speech(
        tmp_path_factory.mktemp("speech"), "caller", "Hello, my order has not arrived yet.",
        ["-r", "8000", "-c", "1", "-e", "u-law"],
    )


@pytest.fixture(scope="module")
def agent_speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """About 1.5 s of the agent's words as Gemini sends them: 24 kHz PCM16."""
    return _speech(
        tmp_path_factory.mktemp("speech"), "agent", "Let me check that for you.",
        ["-r", "24000", "-c", "1", "-e", "signed", "-b", "16", "-L"],
    )


def ideal_resample(samples: FloatArray, up: int, down: int) -> FloatArray:
    """Brick-wall resample by FFT: the reference a streaming resampler is judged against."""
    n = len(samples)
    m = n * up // down
    spectrum = np.fft.rfft(samples)
    resampled = np.zeros(m // 2 + 1, complex)
    keep = min(len(spectrum), len(resampled))
    resampled[:keep] = spectrum[:keep]
    return np.fft.irfft(resampled, m) * (m / n)


def best_correlation(got: FloatArray, reference: FloatArray, max_lag: int) -> tuple[float, float]:
    """Normalised correlation of `got` with `reference` delayed by 0..max_lag samples.

    The lag is refined to an eighth of a sample: a resampler's group delay is rarely a whole
    number of output samples, and half a sample off decorrelates the top of the band.
    """
    n = min(len(got), len(reference))
    got = got[:n]
    size = 1 << (n + max_lag + 1).bit_length()  # zero-padded: delays do not wrap around
    spectrum = np.fft.rfft(reference[:n], size)
    frequencies = np.fft.rfftfreq(size)
    whole = np.fft.irfft(np.fft.rfft(got, size) * np.conj(spectrum), size)[: max_lag + 1]
    best = (-1.0, 0.0)
    for lag in np.arange(max(0, int(np.argmax(whole)) - 1), int(np.argmax(whole)) + 1.01, 0.125):
        delayed = np.fft.irfft(spectrum * np.exp(-2j * np.pi * frequencies * lag), size)[:n]
        score = float(got @ delayed / (np.linalg.norm(got) * np.linalg.norm(delayed)))
        best = max(best, (score, float(lag)))
    return best


# --- Fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def twilio(fake_live: FakeLiveServer) -> Iterator[FakeLiveServer]:
    with override_settings(
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_BASE_URL=PUBLIC,
        GEMINI_API_KEY="test-key",
        GEMINI_LIVE_URL=fake_live.url,
        TWILIO_ACCOUNT_SID="",
        TWILIO_ESCALATION_NUMBER="",
    ):
        yield fake_live


@pytest.fixture
async def asha() -> Customer:
    return await Customer.objects.acreate(user_id=7, name="Asha Rao", phone=ASHA_PHONE)


@pytest.fixture
def transfers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Twilio REST, faked at its one choke point: each transfer request is recorded."""
    requests: list[tuple[str, str]] = []
    monkeypatch.setattr(
        twilio_rest, "update_call", lambda sid, twiml: requests.append((sid, twiml))
    )
    return requests


@pytest.fixture
def stream_comes_back(settings: Any) -> None:
    """A call whose stream dropped waits 5 s for Twilio's next one (pytest.ini's 0.2 s is for
    callers who leave for good): the webhook and the new stream, which the test sends right
    away, can take longer than 0.2 s on a loaded machine, and the call would end meanwhile."""
    settings.VOICE_RESUME_GRACE_S = 5.0


@pytest.fixture
async def calls_left_open() -> AsyncIterator[None]:
    """Calls still open after the test (waiting out a long grace period, or left by a test
    that failed midway) are ended: the next test's caller is neither refused as already on a
    call nor handed the old one."""
    yield
    for call in list(call_session._here.values()):
        await call.close("caller_left")


async def asked(requests: Sized) -> None:
    """Wait until Twilio REST has been asked (its requests are recorded from another thread:
    polled)."""
    async with asyncio.timeout(5):
        while not requests:
            await asyncio.sleep(0.01)


async def stream_again(phone: Phone) -> Phone:
    """Twilio streams `phone`'s call again (after a drop, or as a process let it go): it asks
    /twilio/voice where to, then opens a new stream with the token of the TwiML's answer."""
    return await Phone.stream(phone.call_sid, token_of(await webhook(ASHA_PHONE, phone.call_sid)))


async def live_phone_session() -> CallSession:
    """The latest phone call, as this process carries it."""
    session = CallSession.here((await latest_phone_call())["call_id"])
    assert session is not None
    return session


async def latest_phone_call() -> dict[str, Any]:
    record = await mongo.async_db().calls.find_one({"channel": "phone"}, sort=[("started_at", -1)])
    assert record is not None
    return record


# --- The call ------------------------------------------------------------------------------------


async def test_agent_audio_of_an_odd_byte_count_plays_on_instead_of_ending_the_call(
    twilio: FakeLiveServer, asha: Customer
) -> None:
    """A stray byte in the Live API's audio (a broken server): the phone's resampler takes
    PCM16 in whole samples only, and the call used to end as a server error."""

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_audio(bytes(4801), chunk_ms=100)
        await session.send_audio(bytes(4800), chunk_ms=100)
        await session.send_turn_complete()

    phone = await Phone.dial(ASHA_PHONE)
    mark = await phone.wait_for_event("mark", timeout=10)

    assert mark["mark"]["name"]
    assert len(phone.media()) == 2 * 4800 // 2 // 3 // FRAME  # both chunks, whole samples
    assert (await latest_phone_call())["ended_at"] is None
    await phone.hang_up()
    assert (await wait_until_ended((await latest_phone_call())["call_id"]))["end_reason"] == (
        "caller_hung_up")  # fmt: skip
    await phone.leave()


async def test_a_barge_in_as_twilios_socket_closes_leaves_the_call_waiting_for_its_stream(
    twilio: FakeLiveServer, asha: Customer, stream_comes_back: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Daphne refuses a send on a socket that is closing (autobahn's Disconnected): the
    `clear` of a barge-in in that moment is the stream gone, not a failure of the call."""
    barge_in = asyncio.Event()

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await barge_in.wait()
        await session.send_interrupted()

    phone = await Phone.dial(ASHA_PHONE)
    session = await twilio.wait_for_session()
    call_id = (await latest_phone_call())["call_id"]

    async def closing(self: consumer.TwilioConsumer, *args: Any, **kwargs: Any) -> None:
        raise Disconnected("Attempt to send on a closed protocol")

    monkeypatch.setattr(consumer.TwilioConsumer, "send", closing)
    barge_in.set()
    async with asyncio.timeout(5):
        while (await call_record(call_id)).get("detached_at") is None:
            await asyncio.sleep(0.02)
    monkeypatch.undo()

    assert (await call_record(call_id))["ended_at"] is None  # waiting for Twilio's next stream
    assert not session.closed
    await phone.leave()
    waiting = CallSession.here(call_id)
    assert waiting is not None
    await waiting.close("caller_left")  # nobody comes back: the next test's caller is free


async def test_a_phone_call_carries_speech_both_ways_and_is_recorded(
    twilio: FakeLiveServer, asha: Customer, caller_speech: bytes, agent_speech: bytes
) -> None:
    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_audio(nbytes=len(caller_speech) * 4, timeout=10)
        await session.send_audio(agent_speech, chunk_ms=40)
        await session.send_turn_complete()

    phone = await Phone.dial(ASHA_PHONE)
    await phone.speak(caller_speech)
    mark = await phone.wait_for_event("mark", timeout=10)

    # The model heard 16 kHz PCM of exactly the call's length: the caller's words, not noise.
    session = twilio.session
    assert session.setup is not None
    assert "Asha" in json.dumps(session.setup["systemInstruction"])
    heard = np.frombuffer(session.audio, "<i2").astype(float)
    assert len(heard) == 2 * len(caller_speech)
    reference = ideal_resample(ulaw_decode(caller_speech).astype(float), 2, 1)
    score, lag = best_correlation(heard, reference, max_lag=64)
    assert score > 0.99
    assert lag <= 48  # under 3 ms at 16 kHz

    # The caller heard the reply as whole 20 ms µ-law frames, then a mark for the turn.
    frames = phone.media()
    assert {len(f) for f in frames} == {FRAME}
    assert len(frames) == math.ceil(len(agent_speech) // 2 / 3 / FRAME)
    assert phone.received[-1] == mark and mark["mark"]["name"]
    assert all(m["streamSid"] == phone.stream_sid for m in phone.received)
    played = ulaw_decode(b"".join(frames)).astype(float)
    reference = ideal_resample(np.frombuffer(agent_speech, "<i2").astype(float), 1, 3)
    score, lag = best_correlation(played, reference, max_lag=32)
    assert score > 0.99
    assert lag <= 24  # under 3 ms at 8 kHz

    # Twilio echoes the mark once played; a mark we never sent is ignored. Then the caller
    # hangs up, which ends the call and closes the stream.
    await phone.echo_mark(mark["mark"]["name"])
    await phone.echo_mark("not-ours")
    await phone.hang_up()
    assert await phone.wait_closed() == 1000
    record = await latest_phone_call()
    assert record["user_id"] == 7
    assert record["end_reason"] == "caller_hung_up"
    assert record["ended_at"] is not None
    await session.wait_closed()
    await phone.leave()


async def test_a_barge_in_clears_twilios_buffer_and_the_next_answer_starts_clean(
    twilio: FakeLiveServer, asha: Customer, agent_speech: bytes
) -> None:
    barged_in = asyncio.Event()
    long_answer = agent_speech * 3  # ~4 s, sent in one burst as the model does
    answered_at: list[float] = []

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        answered_at.append(time.monotonic())
        await session.send_audio(long_answer)
        await barged_in.wait()
        await session.send_interrupted()
        await session.send_audio(bytes(2400 * 2))  # 100 ms of silence
        await session.send_turn_complete()

    phone = await Phone.dial(ASHA_PHONE)
    # A second ahead of playback comes at once (50 frames): 40 of them waited for, not slept
    # for, so that a loaded machine cannot make the lower bound below fail.
    await phone.wait_for_event("media", count=40, timeout=10)
    await asyncio.sleep(0.5)
    # Paced: about a second ahead of playback, not the whole burst at once. Playback began
    # after the model answered: however long this took on a busy machine, no more than a
    # second more than that has been sent (a frame is 20 ms).
    sent_so_far = len(phone.events("media"))
    playing_for = time.monotonic() - answered_at[0]
    assert 40 <= sent_so_far <= (1.0 + playing_for + 0.1) / 0.02
    barged_in.set()

    clear = await phone.wait_for_event("clear")
    assert clear == {"event": "clear", "streamSid": phone.stream_sid}
    await phone.wait_for_event("mark")
    after_clear = phone.received[phone.received.index(clear) + 1 :]
    # Only the new answer follows: no tail of the old one in the chunker or the resampler.
    assert phone.media(after_clear) == [bytes([ULAW_SILENCE]) * FRAME] * 5
    assert len(phone.events("media")) < len(long_answer) // 2 // 3 // FRAME
    await phone.hang_up_and_go()


async def test_a_key_press_is_told_to_the_model(
    twilio: FakeLiveServer, asha: Customer
) -> None:
    told = asyncio.get_running_loop().create_future()

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        told.set_result(await session.wait_for_text())

    phone = await Phone.dial(ASHA_PHONE)
    await twilio.wait_for_session(0)
    await phone.press("5")
    assert await asyncio.wait_for(told, 5) == dtmf_prompt("5")
    await phone.hang_up()
    await phone.wait_closed()
    record = await latest_phone_call()
    assert {"role": "user", "text": dtmf_prompt("5")} in [
        {"role": line["role"], "text": line["text"]} for line in record["transcript"]
    ]
    await phone.leave()


async def test_keys_typed_in_a_row_reach_the_model_whole_in_one_message(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keypad, "PAUSE_S", 0.3)
    phone = await Phone.dial(ASHA_PHONE)
    model = await twilio.wait_for_session(0)
    for key in "98000001":  # quicker than the typed-message rate limit lets messages through
        await phone.press(key)
        await asyncio.sleep(0.05)
    assert await model.wait_for_text() == dtmf_prompt("98000001")  # the pause ended the entry
    for key in "42#":  # the pound key ends it at once
        await phone.press(key)

    assert await model.wait_for_text() == dtmf_prompt("42#")
    await asyncio.sleep(0.4)
    assert len(model.texts) == 2
    await phone.hang_up_and_go()


async def test_an_unknown_number_gets_the_agent_but_not_a_customers_data(
    twilio: FakeLiveServer, asha: Customer
) -> None:
    answers = asyncio.get_running_loop().create_future()

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_tool_call([{"name": "get_user_profile"}])
        profile = await session.wait_for_tool_response()
        await session.send_tool_call(
            [{"name": "escalate_to_human", "args": {"reason": "Caller wants a person"}}]
        )
        escalation = await session.wait_for_tool_response()
        answers.set_result((profile["response"], escalation["response"]))

    phone = await Phone.dial(UNKNOWN_PHONE)
    profile, escalation = await asyncio.wait_for(answers, 5)
    assert profile["ok"] is False and profile["reason"] == "not_identified"
    assert escalation["ok"] is True  # an unknown caller can still reach a human
    assert twilio.session.setup is not None
    assert "could not find" in json.dumps(twilio.session.setup["systemInstruction"])
    await phone.hang_up()
    await phone.wait_closed()
    record = await latest_phone_call()
    assert record["user_id"] is None
    assert record["end_reason"] == "caller_hung_up"
    await phone.leave()


async def test_malformed_frames_are_ignored_and_the_call_goes_on(
    twilio: FakeLiveServer, asha: Customer, caller_speech: bytes
) -> None:
    phone = await Phone.dial(ASHA_PHONE)
    session = await twilio.wait_for_session(0)
    for frame in [
        "not json",
        "[]",
        '{"event": "media", "streamSid": "MZ1"}',
        '{"event": "media", "sequenceNumber": "2", "streamSid": "MZ1", "media": {"track": '
        '"inbound", "chunk": "1", "timestamp": "0", "payload": "%%% not base64"}}',
        '{"event": "dtmf", "sequenceNumber": "2", "streamSid": "MZ1", "dtmf": {"digit": "x"}}',
        '{"event": "surprise"}',
    ]:
        await phone.communicator.send_to(text_data=frame)
    await phone.communicator.send_to(bytes_data=b"\x00\x01binary")
    half_second = caller_speech[: 25 * FRAME]
    await phone.speak(half_second)
    await session.wait_for_audio(nbytes=len(half_second) * 4)
    assert phone.close_code is None
    assert session.texts == []  # the bad key press was not passed on
    await phone.hang_up()
    assert await phone.wait_closed() == 1000
    await phone.leave()


async def test_frames_naming_another_stream_are_ignored_and_the_call_goes_on(
    twilio: FakeLiveServer, asha: Customer, caller_speech: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keypad, "PAUSE_S", 0.05)
    phone = await Phone.dial(ASHA_PHONE)
    model = await twilio.wait_for_session(0)
    other = "MZ" + "9" * 32
    for frame in [
        {"event": "media", "sequenceNumber": "2", "streamSid": other,
         "media": {"track": "inbound", "chunk": "1", "timestamp": "0",
                   "payload": base64.b64encode(caller_speech[:FRAME]).decode()}},
        {"event": "dtmf", "sequenceNumber": "3", "streamSid": other,
         "dtmf": {"track": "inbound_track", "digit": "5"}},
        {"event": "stop", "sequenceNumber": "4", "streamSid": other,
         "stop": {"accountSid": "AC" + "0" * 32, "callSid": phone.call_sid}},
    ]:  # fmt: skip
        await phone.send(frame)
    await asyncio.sleep(0.3)

    assert phone.close_code is None  # another stream's `stop` does not end this call
    assert model.audio == b"" and model.texts == []
    half_second = caller_speech[: 25 * FRAME]
    await phone.speak(half_second)
    await model.wait_for_audio(nbytes=len(half_second) * 4)
    await phone.hang_up()
    assert await phone.wait_closed() == 1000
    assert (await latest_phone_call())["end_reason"] == "caller_hung_up"
    await phone.leave()


# --- A stream that drops and comes back --------------------------------------------------------

MISSED = "did not hear the end of what you were saying"
LINE_DROPPED = "The line to the customer dropped"


async def test_the_agents_words_lost_with_a_dropped_stream_are_told_to_the_model_when_it_is_back(
    twilio: FakeLiveServer, asha: Customer, stream_comes_back: None,
    calls_left_open: None,
) -> None:
    """What was still to play when Twilio's stream dropped went with it: the model is told,
    however short the gap, so it says it again (not replayed: stale after a long gap)."""

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_audio(bytes(24_000 * 2 * 4), chunk_ms=200)  # 4 s, in one burst
        await session.send_turn_complete()

    phone = await Phone.dial(ASHA_PHONE)
    model = await twilio.wait_for_session(0)
    await phone.wait_for_event("media", timeout=10)
    await phone.leave()  # as the answer begins to play; Twilio streams the call again at once
    again = await stream_again(phone)

    assert MISSED in await model.wait_for_note()
    await again.hang_up_and_go()


async def test_what_the_agent_says_while_the_stream_is_away_is_told_to_the_model_when_it_is_back(
    twilio: FakeLiveServer, asha: Customer, stream_comes_back: None,
    calls_left_open: None,
) -> None:
    stream_gone = asyncio.Event()

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await stream_gone.wait()
        await session.send_audio(bytes(24_000 * 2), chunk_ms=200)  # nobody hears it

    phone = await Phone.dial(ASHA_PHONE)
    model = await twilio.wait_for_session(0)
    session = await live_phone_session()
    await phone.leave()
    async with asyncio.timeout(5):
        while session.attached:
            await asyncio.sleep(0.02)
    stream_gone.set()
    async with asyncio.timeout(5):
        while session.doing != "speaking":
            await asyncio.sleep(0.02)
    again = await stream_again(phone)

    assert MISSED in await model.wait_for_note()
    await again.hang_up_and_go()


async def test_the_agents_words_a_replaced_stream_had_still_to_play_are_told_to_the_model(
    twilio: FakeLiveServer, asha: Customer, stream_comes_back: None,
    calls_left_open: None,
) -> None:
    """A new stream takes the call before the old one's end was heard of: what the old one
    had still to play goes as it is let go, and the model is told so."""

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_audio(bytes(24_000 * 2 * 4), chunk_ms=200)  # 4 s, in one burst
        await session.send_turn_complete()

    phone = await Phone.dial(ASHA_PHONE)
    model = await twilio.wait_for_session(0)
    await phone.wait_for_event("media", timeout=10)
    again = await stream_again(phone)

    assert MISSED in await model.wait_for_note()
    await phone.wait_closed()  # let go
    await again.hang_up_and_go()
    await phone.leave()


async def test_a_stream_that_drops_after_the_agents_words_were_heard_tells_the_model_nothing_missed(
    twilio: FakeLiveServer, asha: Customer, stream_comes_back: None,
    calls_left_open: None,
) -> None:
    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_audio(bytes(4800))  # a tenth of a second
        await session.send_turn_complete()

    phone = await heard_the_agent()
    model = await twilio.wait_for_session(0)
    await phone.leave()
    again = await stream_again(phone)
    await again.press("#")  # after anything the stream coming back told the model
    assert await model.wait_for_text() == dtmf_prompt("#")

    assert not [note for note in model.notes if MISSED in note]
    await again.hang_up_and_go()


def transferring() -> Any:
    """Settings with which an escalated phone call is transferred to ESCALATION_NUMBER."""
    return override_settings(TWILIO_ACCOUNT_SID="AC" + "0" * 32,
                             TWILIO_ESCALATION_NUMBER=ESCALATION_NUMBER)  # fmt: skip


async def heard_the_agent_escalate() -> Phone:
    """Asha calls; her phone plays the agent saying it is passing her on (see
    escalates_and_says_so), and tells Twilio's mark back."""
    return await heard_the_agent()


async def heard_the_agent() -> Phone:
    """Asha calls; her phone plays the agent's first turn, and tells Twilio's mark back."""
    phone = await Phone.dial(ASHA_PHONE)
    mark = await phone.wait_for_event("mark", timeout=10)
    await phone.echo_mark(mark["mark"]["name"])
    return phone


async def escalates_and_says_so(session: FakeSession) -> None:
    """The agent escalates, then says so (a tenth of a second) and ends its turn."""
    await session.send_tool_call([{"name": "escalate_to_human", "args": {"reason": "Person"}}])
    await session.wait_for_tool_response()
    await session.send_audio(bytes(4800))
    await session.send_turn_complete()


async def test_an_escalated_call_is_transferred_once_the_agent_has_said_so(
    twilio: FakeLiveServer, asha: Customer, agent_speech: bytes, transfers: list[tuple[str, str]]
) -> None:
    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_tool_call([
            {"name": "escalate_to_human", "args": {"reason": "Wants a person", "priority": "high"}}
        ])  # fmt: skip
        await session.wait_for_tool_response()
        await session.send_audio(agent_speech)  # "I'm passing you to a colleague..."
        await session.send_turn_complete()

    with transferring():
        phone = await Phone.dial(ASHA_PHONE)
        mark = await phone.wait_for_event("mark", timeout=10)
        await asyncio.sleep(0.1)
        assert transfers == []  # not before the caller has heard the agent say it
        await phone.echo_mark(mark["mark"]["name"])
        await asked(transfers)
    [(call_sid, twiml)] = transfers
    assert call_sid == phone.call_sid
    assert f">{ESCALATION_NUMBER}</Dial>" in twiml
    await phone.hang_up()  # Twilio ends the stream when the call moves on
    await phone.wait_closed()
    record = await latest_phone_call()
    assert record["end_reason"] == "transferred_to_human"
    ticket = await mongo.async_db().escalations.find_one({"call_id": record["call_id"]})
    assert ticket is not None and ticket["user_id"] == 7
    await phone.leave()


async def test_twilios_stop_before_its_answer_to_the_transfer_still_counts_as_transferred(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowTwilio()  # Twilio has the request, and answers when the test says
    monkeypatch.setattr(twilio_rest, "update_call", slow.update_call)

    twilio.on_session(escalates_and_says_so)

    with transferring():
        phone = await heard_the_agent_escalate()
        assert await asyncio.to_thread(slow.asked.wait, 2)
        await phone.hang_up()  # the stream's `stop` comes first
        await phone.wait_closed()
    slow.answer()

    record = await wait_until_ended((await latest_phone_call())["call_id"])
    assert record["end_reason"] == "transferred_to_human"
    await phone.leave()


async def test_a_stream_stopped_before_twilio_answers_the_transfer_is_let_go_at_once(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio's `stop` as it moves the call ends it as transferred; the closed stream then
    waited the whole REST timeout (10 s) for an answer to a request whose task was gone."""
    slow = SlowTwilio()  # Twilio has the request, and answers when the test says
    monkeypatch.setattr(twilio_rest, "update_call", slow.update_call)
    twilio.on_session(escalates_and_says_so)

    with transferring():
        phone = await heard_the_agent_escalate()
        assert await asyncio.to_thread(slow.asked.wait, 2)
        await phone.hang_up()  # the stream's `stop` comes first
        await phone.wait_closed()
        record = await wait_until_ended((await latest_phone_call())["call_id"])
        phone._reader.cancel()
        await phone.communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        stream = phone.communicator.future
        await asyncio.wait({stream}, timeout=3)
    slow.answer()

    assert stream.done()
    assert record["end_reason"] == "transferred_to_human"
    await phone.leave()


async def test_without_an_escalation_number_an_escalated_call_stays_with_the_agent(
    twilio: FakeLiveServer, asha: Customer, transfers: list[tuple[str, str]]
) -> None:
    twilio.on_session(escalates_and_says_so)

    phone = await heard_the_agent_escalate()
    await asyncio.sleep(0.2)
    assert transfers == []
    assert phone.close_code is None
    await phone.hang_up()
    await phone.wait_closed()
    assert (await latest_phone_call())["end_reason"] == "caller_hung_up"
    await phone.leave()


async def test_a_transferred_call_whose_stream_drops_without_stop_is_recorded_as_transferred(
    twilio: FakeLiveServer, asha: Customer, transfers: list[tuple[str, str]]
) -> None:
    twilio.on_session(escalates_and_says_so)

    with transferring():
        phone = await heard_the_agent_escalate()
        await asked(transfers)
        await asyncio.sleep(0.05)
    await phone.leave()  # the socket goes without Twilio's `stop`

    record = await wait_until_ended((await latest_phone_call())["call_id"])
    assert record["end_reason"] == "transferred_to_human"

async def test_a_phone_call_whose_stream_never_came_back_ended_when_it_dropped(
    twilio: FakeLiveServer, asha: Customer
) -> None:
    """Twilio's stream went without `stop` and none came back within the grace period: the
    call ended when the stream went, not when the grace period ran out."""
    phone = await Phone.dial(ASHA_PHONE)
    await twilio.wait_for_session()
    await phone.leave()

    record = await wait_until_ended((await latest_phone_call())["call_id"])

    assert record["end_reason"] == "caller_left"
    assert record["detached_at"] is not None and record["ended_at"] == record["detached_at"]


async def test_a_stream_that_drops_while_the_agent_says_it_is_passing_the_call_on_is_transferred(
    twilio: FakeLiveServer, asha: Customer, transfers: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch, stream_comes_back: None,
) -> None:
    monkeypatch.setattr(consumer, "TRANSFER_WAIT_S", 0.2)  # the dropped stream stops waiting
    twilio.on_session(escalates_and_says_so)

    with transferring():
        phone = await Phone.dial(ASHA_PHONE)
        await phone.wait_for_event("mark", timeout=10)  # the agent's words, still playing
        await phone.leave()  # the stream drops: Twilio asks where the call goes next
        again = await stream_again(phone)
        await asked(transfers)
        await again.hang_up()  # Twilio ends the stream carrying the call as it moves it
        await again.wait_closed()

    assert [call_sid for call_sid, _ in transfers] == [phone.call_sid]
    record = await wait_until_ended((await latest_phone_call())["call_id"])
    assert record["end_reason"] == "transferred_to_human"  # not the caller hanging up
    await again.leave()


async def test_words_lost_as_the_agent_passes_the_call_on_are_not_said_again_over_the_transfer(
    twilio: FakeLiveServer, asha: Customer, transfers: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch, stream_comes_back: None, calls_left_open: None,
) -> None:
    """The stream drops as the agent escalates, and the agent says it is passing the caller on
    with no stream to hear it. The next stream makes the transfer at once, Twilio saying so
    itself: the model is not told to say again what was lost, over Twilio's words."""
    escalation = HeldTool(monkeypatch, "escalate_to_human", {"ticket_id": "ESC-1"})

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_tool_call([{"name": "escalate_to_human", "args": {"reason": "Person"}}])
        await session.wait_for_tool_response()
        await session.send_audio(bytes(24_000 * 2))  # "I'm passing you on", to no stream

    with transferring():
        phone = await Phone.dial(ASHA_PHONE)
        model = await twilio.wait_for_session(0)
        await escalation.started.wait()
        session = await live_phone_session()
        await phone.leave()
        async with asyncio.timeout(5):
            while session.attached:
                await asyncio.sleep(0.02)
        escalation.released.set()
        async with asyncio.timeout(5):
            while session.doing != "speaking":
                await asyncio.sleep(0.02)
        assert session.transfer == Transfer.ASKED
        again = await stream_again(phone)
        await asked(transfers)
        await again.press("#")  # after anything the stream coming back told the model
        assert await model.wait_for_text() == dtmf_prompt("#")

        assert not [note for note in model.notes if MISSED in note]
        await again.hang_up()  # Twilio ends the stream carrying the call as it moves it
        await again.wait_closed()

    assert [call_sid for call_sid, _ in transfers] == [phone.call_sid]
    record = await wait_until_ended(session.call_id)
    assert record["end_reason"] == "transferred_to_human"
    await again.leave()


async def test_words_lost_as_the_agent_passes_the_call_on_are_said_again_when_twilio_refuses(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch,
    stream_comes_back: None, calls_left_open: None,
) -> None:
    """As above, but Twilio refuses the transfer: the caller stays with the agent, and never
    heard it say it was passing them on. The model is told then, once, so it says it again."""
    escalation = HeldTool(monkeypatch, "escalate_to_human", {"ticket_id": "ESC-1"})

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_tool_call([{"name": "escalate_to_human", "args": {"reason": "Person"}}])
        await session.wait_for_tool_response()
        await session.send_audio(bytes(24_000 * 2))  # "I'm passing you on", to no stream

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.answer_after_s = 0.3  # Twilio has the request, and answers...
        api.refuse_with = (400, 21220, "Call is not in-progress. Cannot redirect.")  # ...no
        phone = await Phone.dial(ASHA_PHONE)
        model = await twilio.wait_for_session(0)
        await escalation.started.wait()
        session = await live_phone_session()
        await phone.leave()
        async with asyncio.timeout(5):
            while session.attached:
                await asyncio.sleep(0.02)
        escalation.released.set()
        async with asyncio.timeout(5):
            while session.doing != "speaking":
                await asyncio.sleep(0.02)
        again = await stream_again(phone)
        await asked(api.requests)
        assert not [note for note in model.notes if MISSED in note]  # not over Twilio's words
        async with asyncio.timeout(5):
            while session.transfer != Transfer.REFUSED:
                await asyncio.sleep(0.02)

        await model.wait_for(lambda: any(MISSED in note for note in model.notes),
                             "the model told what the caller missed")  # fmt: skip
        await again.press("#")  # after anything the refusal told the model
        assert await model.wait_for_text() == dtmf_prompt("#")
        assert len([note for note in model.notes if MISSED in note]) == 1
        await again.hang_up()
        await again.wait_closed()

    record = await wait_until_ended(session.call_id)
    assert (record["end_reason"], record["agent_unheard"]) == ("caller_hung_up", False)
    await again.leave()


async def test_the_callers_words_lost_to_the_model_as_twilio_moves_the_call_are_not_asked_for(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model's session drops as Twilio is moving the call, and comes back only after
    losing more of the caller's audio than the model is told of: it is not asked to have her
    repeat it over the transfer. Twilio refusing the transfer, it is told then."""
    slow = SlowTwilio()  # Twilio has the request, and answers when the test says
    monkeypatch.setattr(twilio_rest, "update_call", slow.update_call)
    monkeypatch.setattr(call_session, "GAP_NOTE_S", 0.2)
    # Its session back after 2.6 s: more than the 2 s of her audio kept for it meanwhile.
    monkeypatch.setattr(live_client, "DEFAULT_RETRY", live_client.RetryPolicy(
        base_delay_s=2.6, max_delay_s=2.6, setup_timeout_s=3, healthy_after_s=0.1,
    ))  # fmt: skip

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("handle-0")
            await escalates_and_says_so(session)

    with transferring():
        phone = await heard_the_agent_escalate()
        assert await asyncio.to_thread(slow.asked.wait, 2)
        await twilio.sessions[0].drop()
        await phone.speak(bytes([ULAW_SILENCE]) * 8000 * 3)  # the line, as Twilio streams it
        resumed = await twilio.wait_for_session(1)
        await phone.press("#")  # after anything its coming back told the model
        assert await resumed.wait_for_text() == dtmf_prompt("#")
        assert not [note for note in resumed.notes if LINE_DROPPED in note]

        slow.answer(refuse=True)  # the caller stays with the agent

        await resumed.wait_for(lambda: any(LINE_DROPPED in note for note in resumed.notes),
                               "the model told of the caller's words it missed")  # fmt: skip
        await phone.hang_up_and_go()


async def test_a_call_ended_while_its_transfer_waits_for_the_agents_words_is_not_transferred(
    twilio: FakeLiveServer, asha: Customer, transfers: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer, "TRANSFER_WAIT_S", 0.3)

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_tool_call([{"name": "escalate_to_human", "args": {"reason": "Person"}}])
        await session.wait_for_tool_response()  # and says nothing yet: the transfer waits

    with transferring():
        phone = await Phone.dial(ASHA_PHONE)
        await twilio.wait_for_session()
        session = await live_phone_session()
        async with asyncio.timeout(5):
            while session.transfer != Transfer.ASKED:
                await asyncio.sleep(0.02)
        await session._on_message({
            "type": "staff.action", "kind": "end_call", "text": "", "reply_to": "",
            "staff": {"username": "priya", "name": "Priya"},
        })  # a colleague's End call
        record = await wait_until_ended(session.call_id)
        await asyncio.sleep(0.6)  # twice the transfer's wait

    assert record["end_reason"] == "ended_by_staff"
    assert transfers == []  # Twilio was not asked to move a call we had ended
    await phone.leave()


async def transferred(phone: Phone, transfers: list[tuple[str, str]]) -> str:
    """Twilio takes the transfer (`transfers`, faked) and moves the call: our stream stops.
    Answers the TwiML the call was given."""
    await asked(transfers)
    await phone.hang_up()
    await phone.wait_closed()
    [(_, twiml)] = transfers
    return twiml


async def test_a_transfer_nobody_answers_is_told_to_the_caller_and_not_recorded_as_transferred(
    twilio: FakeLiveServer, asha: Customer, transfers: list[tuple[str, str]]
) -> None:
    twilio.on_session(escalates_and_says_so)
    with transferring():
        phone = await heard_the_agent_escalate()
        twiml = await transferred(phone, transfers)
    dial = ElementTree.fromstring(twiml).find("Dial")
    assert dial is not None and dial.text == ESCALATION_NUMBER
    assert dial.get("action") == f"{PUBLIC}/twilio/voice"  # Twilio asks here once it is over
    call_id = (await latest_phone_call())["call_id"]
    assert (await wait_until_ended(call_id))["end_reason"] == "transferred_to_human"

    # Nobody picks up at the escalation number: Twilio asks the <Dial action> what next.
    twiml = await webhook(ASHA_PHONE, phone.call_sid, CallStatus="in-progress",
                          DialCallStatus="no-answer")  # fmt: skip

    assert said_then_hung_up(twiml) == TRANSFER_NOT_ANSWERED_SAY  # not silence, then nothing
    async with asyncio.timeout(5):
        while (record := await call_record(call_id)).get("outcome") != "escalated":
            await asyncio.sleep(0.05)
    assert record["end_reason"] == "transfer_failed"
    await phone.leave()


async def test_a_transfer_nobody_answers_told_while_the_database_is_frozen_is_recorded_after(
    twilio: FakeLiveServer, asha: Customer, transfers: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch, database_pid: int,
) -> None:
    """Twilio's <Dial action> comes once: its word that nobody answered, heard while the
    database is frozen, is recorded once it is back (the caller is told at once)."""
    from continuity import calls as stored_calls

    monkeypatch.setattr(stored_calls, "LOOKUP_TIMEOUT_S", 0.5)
    monkeypatch.setattr(mongo, "FIRST_RETRY_S", 0.1)
    twilio.on_session(escalates_and_says_so)
    with transferring():
        phone = await heard_the_agent_escalate()
        await transferred(phone, transfers)
    call_id = (await latest_phone_call())["call_id"]
    async with asyncio.timeout(5):
        while (await call_record(call_id)).get("outcome") != "transferred":
            await asyncio.sleep(0.05)

    await freeze(database_pid)
    try:
        twiml = await webhook(ASHA_PHONE, phone.call_sid, CallStatus="in-progress",
                              DialCallStatus="no-answer")  # fmt: skip
    finally:
        os.kill(database_pid, signal.SIGCONT)

    assert said_then_hung_up(twiml) == TRANSFER_NOT_ANSWERED_SAY
    async with asyncio.timeout(5):
        while (record := await call_record(call_id)).get("outcome") != "escalated":
            await asyncio.sleep(0.05)
    assert record["end_reason"] == "transfer_failed"
    await phone.leave()


async def test_a_transfer_a_colleague_answered_ends_quietly_when_they_are_done(
    twilio: FakeLiveServer, asha: Customer, transfers: list[tuple[str, str]]
) -> None:
    twilio.on_session(escalates_and_says_so)
    with transferring():
        phone = await heard_the_agent_escalate()
        await transferred(phone, transfers)
    call_id = (await latest_phone_call())["call_id"]
    await wait_until_ended(call_id)

    twiml = await webhook(ASHA_PHONE, phone.call_sid, CallStatus="in-progress",
                          DialCallStatus="completed")  # fmt: skip

    assert said_then_hung_up(twiml) == ""
    assert (await call_record(call_id))["end_reason"] == "transferred_to_human"
    await phone.leave()


async def test_a_transfer_twilio_does_not_answer_in_time_is_recorded_as_unconfirmed(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twilio_rest, "REST_TIMEOUT_S", 0.3)
    twilio.on_session(escalates_and_says_so)

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.answer_after_s = 1.0  # Twilio has the request, and answers too late
        phone = await heard_the_agent_escalate()
        await asked(api.requests)
        await asyncio.sleep(0.5)  # past our wait for its answer
        assert phone.close_code is None  # the caller is not cut off meanwhile
        # Then the stream stops: Twilio moved the call after all, or the caller gave up on
        # the colleague they were promised. Nothing here can tell which.
        await phone.hang_up()
        await phone.wait_closed()

    [request] = api.requests
    assert request.path.endswith(f"/Calls/{phone.call_sid}.json")
    record = await wait_until_ended((await latest_phone_call())["call_id"])
    assert record["end_reason"] == "transfer_unconfirmed"
    await phone.leave()


async def test_a_transfer_answered_with_a_page_that_is_not_twilios_is_recorded_as_unconfirmed(
    twilio: FakeLiveServer, asha: Customer
) -> None:
    """A 2xx that is not Twilio's (a proxy's page): the request may have been acted on. The
    caller stays with the agent, and the call is not cut off as a fault on our server."""
    twilio.on_session(escalates_and_says_so)

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.garbled = b"<html><body>Bad gateway, try later</body></html>"
        phone = await heard_the_agent_escalate()
        session = await live_phone_session()
        async with asyncio.timeout(5):
            while session.transfer != Transfer.UNCONFIRMED:
                await asyncio.sleep(0.02)
        assert phone.close_code is None  # still on the line
        await phone.hang_up()
        await phone.wait_closed()

    record = await wait_until_ended(session.call_id)
    assert record["end_reason"] == "transfer_unconfirmed"
    await phone.leave()


async def test_a_transfer_left_unconfirmed_that_twilio_dialled_is_recorded_as_it_turned_out(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twilio_rest, "REST_TIMEOUT_S", 0.3)
    twilio.on_session(escalates_and_says_so)

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.answer_after_s = 1.0  # Twilio has the request, and answers too late
        phone = await heard_the_agent_escalate()
        session = await live_phone_session()
        async with asyncio.timeout(5):
            while session.transfer != Transfer.UNCONFIRMED:
                await asyncio.sleep(0.02)
        await phone.hang_up()  # Twilio moves the call late: its stream stops
        await phone.wait_closed()
    call_id = session.call_id
    assert (await wait_until_ended(call_id))["end_reason"] == "transfer_unconfirmed"

    # Its <Dial> ran, so the call was moved: a colleague answered.
    twiml = await webhook(ASHA_PHONE, phone.call_sid, CallStatus="in-progress",
                          DialCallStatus="completed")  # fmt: skip

    assert said_then_hung_up(twiml) == ""
    async with asyncio.timeout(5):
        while (record := await call_record(call_id)).get("outcome") != "transferred":
            await asyncio.sleep(0.05)
    assert record["end_reason"] == "transferred_to_human"
    await phone.leave()


async def test_a_call_whose_stream_drops_after_an_unanswered_transfer_ends_as_unconfirmed(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twilio_rest, "REST_TIMEOUT_S", 0.3)
    twilio.on_session(escalates_and_says_so)

    with (
        FakeTwilioApi() as api, transferring(),
        override_settings(TWILIO_API_BASE_URL=api.url, VOICE_RESUME_GRACE_S=0.2),
    ):
        api.answer_after_s = 1.0  # Twilio has the request, and answers too late
        phone = await heard_the_agent_escalate()
        await asked(api.requests)
        session = await live_phone_session()
        async with asyncio.timeout(5):
            while session.transfer != Transfer.UNCONFIRMED:
                await asyncio.sleep(0.02)
        # Twilio moved the call after all, and its stream went without a `stop`: nothing
        # comes back for the call.
        await phone.leave()

        record = await wait_until_ended(session.call_id)

    assert record["end_reason"] == "transfer_unconfirmed"  # not as if the caller left


async def test_a_transfer_nobody_answers_settles_a_call_still_waiting_for_its_stream(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch,
    calls_left_open: None,
) -> None:
    """Twilio moved the call late, its stream gone without `stop`: the call waits out its grace
    period, recorded unconfirmed, when the <Dial action> says nobody answered. It ends then as
    a transfer that failed, and its ticket goes back to the queue."""
    monkeypatch.setattr(twilio_rest, "REST_TIMEOUT_S", 0.3)
    twilio.on_session(escalates_and_says_so)

    with (
        FakeTwilioApi() as api, transferring(),
        override_settings(TWILIO_API_BASE_URL=api.url, VOICE_RESUME_GRACE_S=30),
    ):
        api.answer_after_s = 1.0  # Twilio has the request, and answers too late
        phone = await heard_the_agent_escalate()
        session = await live_phone_session()
        async with asyncio.timeout(5):
            while session.transfer != Transfer.UNCONFIRMED:
                await asyncio.sleep(0.02)
        await phone.leave()  # Twilio moves the call: the stream goes without `stop`
        async with asyncio.timeout(5):
            while (await call_record(session.call_id)).get("end_reason_if_left") is None:
                await asyncio.sleep(0.02)
        ticket = await mongo.async_db().escalations.find_one({"call_id": session.call_id})
        assert ticket is not None and ticket["live"]  # "Join call" on the queue meanwhile

        twiml = await webhook(ASHA_PHONE, phone.call_sid, CallStatus="in-progress",
                              DialCallStatus="no-answer")  # fmt: skip

        assert said_then_hung_up(twiml) == TRANSFER_NOT_ANSWERED_SAY
        async with asyncio.timeout(5):  # now, not at the end of the grace period
            while (record := await call_record(session.call_id)).get("outcome") != "escalated":
                await asyncio.sleep(0.05)
    assert record["end_reason"] == "transfer_failed"
    ticket = await mongo.async_db().escalations.find_one({"call_id": session.call_id})
    assert ticket is not None and not ticket["live"] and ticket["status"] == "open"


async def test_a_transfer_nobody_answers_while_its_call_is_still_closing_is_recorded_as_failed(
    twilio: FakeLiveServer, asha: Customer, transfers: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twilio's `stop` as it moves the call starts closing it, which waits for a tool still
    running; the <Dial action> saying nobody answered comes meanwhile. It used to find no
    ended record to correct, and the call stayed transferred_to_human."""
    profile = HeldTool(monkeypatch, "get_user_profile", {"ok": True, "name": "Asha Rao"})

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_tool_call([{"name": "get_user_profile"}])
        await profile.started.wait()
        await escalates_and_says_so(session)

    with transferring():
        phone = await heard_the_agent_escalate()
        await asked(transfers)
        call_id = (await latest_phone_call())["call_id"]
        await phone.hang_up()  # Twilio stops the stream as it moves the call
        async with asyncio.timeout(5):
            while CallSession.here(call_id) is not None:  # closing, waiting for the tool
                await asyncio.sleep(0.02)
        nobody_answered = {"CallStatus": "in-progress", "DialCallStatus": "busy"}
        dial_action = asyncio.create_task(webhook(ASHA_PHONE, phone.call_sid, **nobody_answered))
        await asyncio.sleep(1.0)
        profile.released.set()
        twiml = await dial_action

    assert said_then_hung_up(twiml) == TRANSFER_NOT_ANSWERED_SAY
    record = await call_record(call_id)  # as the <Dial action> is answered
    assert (record["end_reason"], record["outcome"]) == ("transfer_failed", "escalated")
    await phone.leave()


async def test_a_stream_that_takes_up_a_call_left_unconfirmed_and_is_stopped_ends_as_unconfirmed(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch, stream_comes_back: None
) -> None:
    monkeypatch.setattr(twilio_rest, "REST_TIMEOUT_S", 0.3)
    twilio.on_session(escalates_and_says_so)

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.answer_after_s = 1.0  # Twilio has the request, and answers too late
        phone = await heard_the_agent_escalate()
        session = await live_phone_session()
        async with asyncio.timeout(5):
            while session.transfer != Transfer.UNCONFIRMED:
                await asyncio.sleep(0.02)
        await phone.leave()  # the stream drops; Twilio streams the call here again
        again = await stream_again(phone)
        async with asyncio.timeout(5):
            while not session.attached:  # the call taken up
                await asyncio.sleep(0.02)
        # Then Twilio acts on the request late, moving the call: or the caller hangs up.
        await again.hang_up()
        await again.wait_closed()

    assert (await wait_until_ended(session.call_id))["end_reason"] == "transfer_unconfirmed"
    assert len(api.requests) == 1  # the stream taking the call up does not ask again
    await again.leave()


async def test_a_stream_lost_whose_server_gives_up_on_it_before_twilio_confirms_is_transferred(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowTwilio()  # Twilio has the request, and answers when the test says
    monkeypatch.setattr(twilio_rest, "update_call", slow.update_call)
    twilio.on_session(escalates_and_says_so)

    with transferring():
        phone = await heard_the_agent_escalate()
        assert await asyncio.to_thread(slow.asked.wait, 2)
        session = await live_phone_session()
        # The stream goes as the call moves, without `stop`; the server stops waiting for its
        # consumer to finish (as daphne does after its application_close_timeout; the test
        # communicator after a second) before Twilio answers.
        await phone.leave()
        slow.answer()

        record = await wait_until_ended(session.call_id)

    assert record["end_reason"] == "transferred_to_human"

async def test_a_stream_lost_while_another_streams_transfer_goes_unanswered_ends_as_unconfirmed(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Our wait for an answer, short of the test communicator's 1 s for a socket's consumer.
    monkeypatch.setattr(twilio_rest, "REST_TIMEOUT_S", 0.8)
    slow = SlowTwilio()  # Twilio has the request, and answers when the test says
    monkeypatch.setattr(twilio_rest, "update_call", slow.update_call)

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        if len(twilio.sessions) == 1:
            await escalates_and_says_so(session)

    with transferring(), override_settings(VOICE_RESUME_GRACE_S=0.2):
        phone = await heard_the_agent_escalate()
        assert await asyncio.to_thread(slow.asked.wait, 2)
        session = await live_phone_session()
        # The stream that asked is lost (its consumer waits for the answer meanwhile);
        # Twilio streams the call again.
        lost = asyncio.create_task(phone.leave())
        again = await stream_again(phone)
        await again.press("#")  # heard by the agent: the new stream carries the call
        assert await twilio.sessions[0].wait_for_text() == dtmf_prompt("#")
        assert session.transfer == Transfer.SENT
        # That stream goes too, without `stop`, and no answer comes: Twilio moved the call
        # after all, or the line was lost again. Nothing comes back for it.
        await again.leave()
        record = await wait_until_ended(session.call_id)
    slow.answer()
    await lost

    assert record["end_reason"] == "transfer_unconfirmed"  # not as if the caller left


async def test_a_stream_taking_up_a_call_whose_process_died_awaiting_twilio_ends_as_unconfirmed(
    twilio: FakeLiveServer, asha: Customer
) -> None:
    call_sid = "CA" + "5" * 32
    # As a process killed while Twilio had not answered its transfer request leaves the call.
    await mongo.async_db().calls.insert_one({
        "call_id": "CALL-asking", "call_sid": call_sid, "user_id": 7, "channel": "phone",
        "carrier": None, "detached_at": utcnow(), "ended_at": None, "started_at": utcnow(),
        "last_seen_at": utcnow(), "transcript": [],
        "transfer": {"state": Transfer.SENT, "at": utcnow()},
    })  # fmt: skip

    with transferring():
        # Twilio had not moved the call by then: it streams it here again.
        phone = await Phone.stream(call_sid, token_of(await webhook(ASHA_PHONE, call_sid)))
        await twilio.wait_for_session(0)
        # Then it acts on the request nobody will hear the answer to, moving the call: or
        # the caller hangs up. Nothing here can tell which.
        await phone.hang_up()
        await phone.wait_closed()

    assert (await wait_until_ended("CALL-asking"))["end_reason"] == "transfer_unconfirmed"
    await phone.leave()


async def test_a_stream_whose_lookup_failed_after_the_claim_lets_the_next_stream_take_the_call(
    twilio: FakeLiveServer, asha: Customer, stream_comes_back: None,
    monkeypatch: pytest.MonkeyPatch, calls_left_open: None,
) -> None:
    """The database fails the lookup once this process has claimed a call another process
    let go: Twilio's next stream takes it up here, not refused for the 15 s a claim counts as
    starting (continuity.process)."""
    call_sid = "CA" + "6" * 32
    await mongo.async_db().calls.insert_one({
        "call_id": "CALL-let-go", "call_sid": call_sid, "user_id": 7, "channel": "phone",
        "carrier": None, "detached_at": utcnow(), "ended_at": None, "started_at": utcnow(),
        "last_seen_at": utcnow(), "transcript": [],
    })  # fmt: skip
    lookup, failed = consumer.find_customer, asyncio.Event()

    async def failing_once(**query: Any) -> Any:
        if not failed.is_set():
            failed.set()
            raise ServerSelectionTimeoutError("the database is away")
        return await lookup(**query)

    monkeypatch.setattr(consumer, "find_customer", failing_once)
    first = await Phone.stream(call_sid, token_of(await webhook(ASHA_PHONE, call_sid)))
    await first.wait_closed()
    await first.leave()

    again = await Phone.stream(call_sid, token_of(await webhook(ASHA_PHONE, call_sid)))

    await twilio.wait_for_session(0)
    assert CallSession.here("CALL-let-go") is not None
    await again.hang_up()
    assert (await wait_until_ended("CALL-let-go"))["end_reason"] == "caller_hung_up"
    await again.leave()


async def test_a_transfer_twilio_refuses_leaves_the_caller_with_the_agent(
    twilio: FakeLiveServer, asha: Customer
) -> None:
    twilio.on_session(escalates_and_says_so)

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.refuse_with = (400, 21220, "Call is not in-progress. Cannot redirect.")
        phone = await heard_the_agent_escalate()
        await asked(api.requests)
        await asyncio.sleep(0.2)
        assert phone.close_code is None
        await phone.hang_up()  # Twilio did not move the call: this is the caller
        await phone.wait_closed()

    record = await wait_until_ended((await latest_phone_call())["call_id"])
    assert record["end_reason"] == "caller_hung_up"
    await phone.leave()

async def test_a_stream_lost_before_twilio_refuses_the_transfer_is_taken_up_by_the_next_stream(
    twilio: FakeLiveServer, asha: Customer, stream_comes_back: None
) -> None:
    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        if len(twilio.sessions) == 1:
            await escalates_and_says_so(session)

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.answer_after_s = 0.5  # Twilio has the request, and answers...
        api.refuse_with = (400, 21220, "Call is not in-progress. Cannot redirect.")  # ...no
        phone = await heard_the_agent_escalate()
        await asked(api.requests)
        session = await live_phone_session()
        # The socket is lost, without Twilio's `stop`: not Twilio moving the call, as it turns
        # out. The caller is still on the line, and Twilio asks where the call goes next.
        await phone.leave()
        again = await stream_again(phone)
        async with asyncio.timeout(5):
            while session.transfer != Transfer.REFUSED:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert again.close_code is None  # the caller is with the agent, not cut off
        assert session.attached
        await again.hang_up()
        await again.wait_closed()

    assert len(api.requests) == 1
    assert (await wait_until_ended(session.call_id))["end_reason"] == "caller_hung_up"
    await again.leave()


async def test_a_stream_lost_before_twilio_confirms_the_transfer_ends_as_transferred(
    twilio: FakeLiveServer, asha: Customer
) -> None:
    twilio.on_session(escalates_and_says_so)

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.answer_after_s = 0.5  # Twilio moves the call, and then says so
        phone = await heard_the_agent_escalate()
        await asked(api.requests)
        session = await live_phone_session()
        await phone.leave()  # the stream goes as the call moves, without `stop`

        record = await wait_until_ended(session.call_id)

    assert record["end_reason"] == "transferred_to_human"


# --- A transfer under way when the process drains -------------------------------------------


@pytest.fixture
def this_process(monkeypatch: pytest.MonkeyPatch) -> ProcessCalls:
    """The calls of this process, which the test tells to drain."""
    calls = ProcessCalls()
    monkeypatch.setattr(draining, "this_process", calls)
    return calls


async def test_a_transfer_twilio_is_answering_when_the_process_drains_is_waited_for(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked, answer = threading.Event(), threading.Event()
    transfers: list[str] = []

    def update_call(call_sid: str, twiml: str) -> None:
        asked.set()
        answer.wait(5)
        transfers.append(call_sid)

    monkeypatch.setattr(twilio_rest, "update_call", update_call)
    twilio.on_session(escalates_and_says_so)

    with transferring():
        phone = await heard_the_agent_escalate()
        assert await asyncio.to_thread(asked.wait, 2)
        drained = asyncio.create_task(this_process.drain(bound_s=5))
        await asyncio.sleep(0.3)
        assert not drained.done()  # the process does not stop under Twilio's answer
        assert phone.close_code is None  # nor does the call move meanwhile
        answer.set()
        outcome = await drained

    assert outcome.left == ()
    assert transfers == [phone.call_sid]
    record = await wait_until_ended((await latest_phone_call())["call_id"])
    assert record["end_reason"] == "transferred_to_human"
    await phone.wait_closed()
    await phone.leave()


async def test_a_transfer_waiting_for_the_agents_words_when_the_process_drains_is_made_at_once(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls,
    transfers: list[tuple[str, str]],
) -> None:
    twilio.on_session(escalates_and_says_so)

    with transferring():
        phone = await Phone.dial(ASHA_PHONE)
        await phone.wait_for_event("mark", timeout=10)  # the agent's words, not yet heard
        outcome = await this_process.drain(bound_s=5)

    # Not lost with the process, nor left to wait for the words (Twilio's say it too).
    assert outcome.left == ()
    [(call_sid, twiml)] = transfers
    assert call_sid == phone.call_sid and twilio_rest.TRANSFER_SAY in twiml
    record = await wait_until_ended((await latest_phone_call())["call_id"])
    assert record["end_reason"] == "transferred_to_human"
    await phone.wait_closed()
    await phone.leave()


async def test_a_transfer_twilio_refuses_as_the_process_drains_moves_the_call_as_usual(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def update_call(call_sid: str, twiml: str) -> None:
        raise twilio_rest.TwilioRestError("Twilio said no")

    monkeypatch.setattr(twilio_rest, "update_call", update_call)
    twilio.on_session(escalates_and_says_so)

    with transferring():
        phone = await Phone.dial(ASHA_PHONE)
        await phone.wait_for_event("mark", timeout=10)
        outcome = await this_process.drain(bound_s=5)

    # The caller stays with the agent, carried on by the next process Twilio streams to.
    assert outcome.left == ()
    await phone.wait_closed()
    record = await latest_phone_call()
    assert record["ended_at"] is None and record["carrier"] is None
    await phone.leave()


async def test_a_transfer_twilio_has_not_answered_when_the_drain_runs_out_moves_the_call_on(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls
) -> None:
    twilio.on_session(escalates_and_says_so)

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.answer_after_s = 6.0  # after the drain's end (REST_TIMEOUT_S is 10 s)
        phone = await heard_the_agent_escalate()
        await asked(api.requests)
        outcome = await this_process.drain(bound_s=4)

    # Not cut with the process under Twilio's answer: let go in time, written down as moving
    # on (carried on by Twilio's next stream if it did not move the call; ended by the
    # sweeper if it did and nobody comes back).
    assert outcome.left == ()
    await phone.wait_closed()
    record = await latest_phone_call()
    assert record["ended_at"] is None and record["carrier"] is None
    await phone.leave()


async def test_a_transfer_asked_by_a_lost_stream_is_waited_for_when_the_process_drains(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls, stream_comes_back: None
) -> None:
    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        if len(twilio.sessions) == 1:
            await escalates_and_says_so(session)

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.answer_after_s = 2.0  # Twilio has the request, and answers...
        api.refuse_with = (400, 21220, "Call is not in-progress. Cannot redirect.")  # ...no
        phone = await heard_the_agent_escalate()
        await asked(api.requests)
        session = await live_phone_session()
        await phone.leave()  # the stream that asked is lost; Twilio streams the call again
        again = await stream_again(phone)
        await again.press("#")  # heard by the agent: the new stream carries the call
        assert await twilio.sessions[0].wait_for_text() == dtmf_prompt("#")
        assert session.transfer == Transfer.SENT  # Twilio has not answered yet
        outcome = await this_process.drain(bound_s=6)

    # Twilio did not move the call: it is let go, for the stream Twilio opens next.
    assert outcome.left == ()
    assert session.transfer == Transfer.REFUSED
    await again.wait_closed()
    record = await latest_phone_call()
    assert record["ended_at"] is None and record["carrier"] is None
    await again.leave()


async def test_the_agents_words_still_to_play_as_the_process_drains_are_said_again_by_the_next(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls,
    monkeypatch: pytest.MonkeyPatch, stream_comes_back: None, calls_left_open: None,
) -> None:
    """What the caller had not heard yet went with the stream the drain closed: the process
    that takes the call up tells its model, which says it again; told, the record forgets it."""

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("handle-0")
            await session.wait_for_note()  # the greeting
            await session.send_audio(bytes(24_000 * 2 * 4), chunk_ms=200)  # 4 s, in one burst
            await session.send_turn_complete()

    phone = await Phone.dial(ASHA_PHONE)
    await phone.wait_for_event("media", timeout=10)  # the answer begins to play
    call_id = (await latest_phone_call())["call_id"]
    assert (await this_process.drain(bound_s=5)).left == ()
    await phone.wait_closed()

    monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
    again = await stream_again(phone)
    resumed = await twilio.wait_for_session(1)

    assert MISSED in await resumed.wait_for_note()
    assert resumed.resumed_handle == "handle-0"
    await again.hang_up()
    await again.wait_closed()
    record = await wait_until_ended(call_id)
    assert record["end_reason"] == "caller_hung_up"
    assert record["agent_unheard"] is False
    await again.leave()
    await phone.leave()


async def test_words_lost_as_the_agent_passes_the_call_on_are_said_again_by_the_next_process(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls,
    monkeypatch: pytest.MonkeyPatch, stream_comes_back: None, calls_left_open: None,
) -> None:
    """The caller missed the agent saying it was passing them on (their stream dropped), and
    Twilio refuses the transfer as the process drains: the call moves on with what she missed
    still to tell, and the process that takes it up tells its model."""
    escalation = HeldTool(monkeypatch, "escalate_to_human", {"ticket_id": "ESC-1"})

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("handle-0")
            await session.send_tool_call([{"name": "escalate_to_human",
                                           "args": {"reason": "Person"}}])  # fmt: skip
            await session.wait_for_tool_response()
            await session.send_audio(bytes(24_000 * 2))  # "I'm passing you on", to no stream

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.answer_after_s = 0.5  # Twilio has the request as the process drains, and answers...
        api.refuse_with = (400, 21220, "Call is not in-progress. Cannot redirect.")  # ...no
        phone = await Phone.dial(ASHA_PHONE)
        await escalation.started.wait()
        session = await live_phone_session()
        await phone.leave()
        async with asyncio.timeout(5):
            while session.attached:
                await asyncio.sleep(0.02)
        escalation.released.set()
        async with asyncio.timeout(5):
            while session.doing != "speaking":
                await asyncio.sleep(0.02)
        again = await stream_again(phone)
        await asked(api.requests)
        assert (await this_process.drain(bound_s=5)).left == ()
    assert session.transfer == Transfer.REFUSED
    await again.wait_closed()

    monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
    last = await stream_again(phone)
    resumed = await twilio.wait_for_session(1)

    assert MISSED in await resumed.wait_for_note()
    await last.hang_up()
    await last.wait_closed()
    record = await wait_until_ended(session.call_id)
    assert (record["end_reason"], record["agent_unheard"]) == ("caller_hung_up", False)
    for stream in (phone, again, last):
        await stream.leave()


async def test_words_lost_as_the_call_moves_under_an_unanswered_transfer_wait_for_twilio(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls,
    monkeypatch: pytest.MonkeyPatch, stream_comes_back: None, calls_left_open: None,
) -> None:
    """The process drains as the agent says it is passing the caller on, and its transfer is
    made at once; Twilio has not answered by the time the call must move (its transfer
    unconfirmed), and what the caller had still to hear went with the stream. The process
    taking the call up does not have the model say it again while Twilio, which had the
    request only a moment, may still move the call: only once the time Twilio is given to
    answer is over, the caller still with the agent."""
    monkeypatch.setattr(twilio_rest, "REST_TIMEOUT_S", 4.0)  # the time Twilio is given
    slow = SlowTwilio()  # Twilio has the request, and answers when the test says
    monkeypatch.setattr(twilio_rest, "update_call", slow.update_call)

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("handle-0")
            await session.send_tool_call([{"name": "escalate_to_human",
                                           "args": {"reason": "Person"}}])  # fmt: skip
            await session.wait_for_tool_response()
            await session.send_audio(bytes(24_000 * 2 * 4), chunk_ms=200)  # 4 s, in one burst
            await session.send_turn_complete()

    with transferring():
        phone = await Phone.dial(ASHA_PHONE)
        await phone.wait_for_event("media", timeout=10)  # "I'm passing you on", playing
        session = await live_phone_session()
        # A second of the drain for Twilio's answer (it keeps 2 s to write the call down).
        assert (await this_process.drain(bound_s=twilio_rest.DRAIN_RESERVE_S + 1)).left == ()
        assert slow.asked.is_set() and session.transfer == Transfer.UNCONFIRMED
        await phone.wait_closed()

        monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
        again = await stream_again(phone)
        resumed = await twilio.wait_for_session(1)
        await again.press("#")  # after anything the call moving in told the model
        assert await resumed.wait_for_text() == dtmf_prompt("#")
        assert not [note for note in resumed.notes if MISSED in note]

        await resumed.wait_for(lambda: any(MISSED in note for note in resumed.notes),
                               "the model told what the caller missed")  # fmt: skip
        assert len([note for note in resumed.notes if MISSED in note]) == 1
        await again.hang_up()
        await again.wait_closed()
    slow.answer(refuse=True)

    record = await wait_until_ended(session.call_id)
    assert (record["end_reason"], record["agent_unheard"]) == ("transfer_unconfirmed", False)
    await again.leave()
    await phone.leave()


async def drained_under_a_slow_transfer(this_process: ProcessCalls) -> tuple[Phone, str]:
    """Asha's call is being transferred when its process drains, and Twilio answers only
    after the drain's end: the call is let go, its transfer unconfirmed. Answers her phone
    (its stream closed) and the call's id."""
    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.answer_after_s = 6.0
        phone = await heard_the_agent_escalate()
        await asked(api.requests)
        assert (await this_process.drain(bound_s=4)).left == ()
    await phone.wait_closed()
    return phone, (await latest_phone_call())["call_id"]


async def swept_until_ended(call_id: str) -> dict[str, Any]:
    """The record of `call_id` once a sweeper ended it (after the grace period)."""
    async with asyncio.timeout(5):
        while (record := await call_record(call_id)).get("ended_at") is None:
            await sweep_once()
            await asyncio.sleep(0.05)
    return record


async def test_a_call_let_go_unconfirmed_that_no_stream_takes_up_ends_as_unconfirmed(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls
) -> None:
    twilio.on_session(escalates_and_says_so)
    phone, call_id = await drained_under_a_slow_transfer(this_process)

    # Twilio moved the call after all: no stream comes back for it.
    record = await swept_until_ended(call_id)

    assert record["end_reason"] == "transfer_unconfirmed"  # not as if the caller left
    await phone.leave()


async def test_a_call_let_go_unconfirmed_whose_transfer_nobody_answers_ends_as_failed_at_once(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls
) -> None:
    twilio.on_session(escalates_and_says_so)
    with override_settings(VOICE_RESUME_GRACE_S=30):
        phone, call_id = await drained_under_a_slow_transfer(this_process)

        # Twilio did move the call, and the line it dialled was busy: the <Dial action>.
        twiml = await webhook(ASHA_PHONE, phone.call_sid, CallStatus="in-progress",
                              DialCallStatus="busy")  # fmt: skip

        assert said_then_hung_up(twiml) == TRANSFER_NOT_ANSWERED_SAY
        async with asyncio.timeout(5):  # not left for the sweeper after the grace period
            while (record := await call_record(call_id)).get("outcome") != "escalated":
                await asyncio.sleep(0.05)
    assert record["end_reason"] == "transfer_failed"
    ticket = await mongo.async_db().escalations.find_one({"call_id": call_id})
    assert ticket is not None and not ticket["live"]
    await phone.leave()


async def test_a_call_let_go_unconfirmed_that_the_next_stream_carries_on_ends_as_usual(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        if len(twilio.sessions) == 1:
            await escalates_and_says_so(session)

    phone, call_id = await drained_under_a_slow_transfer(this_process)

    # Twilio did not move the call: it asks the webhook again, and another process (a fresh
    # set of calls, not draining) carries the call on, until that stream drops for good.
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    again = await stream_again(phone)
    await twilio.wait_for_session(1)
    await again.leave()
    record = await swept_until_ended(call_id)

    assert record["end_reason"] == "caller_left"
    await phone.leave()


async def test_a_call_let_go_unconfirmed_whose_next_stream_twilio_stops_ends_as_unconfirmed(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        if len(twilio.sessions) == 1:
            await escalates_and_says_so(session)

    phone, call_id = await drained_under_a_slow_transfer(this_process)
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    again = await stream_again(phone)
    await twilio.wait_for_session(1)

    # Twilio acts on the request it never answered: it moves the call, stopping the stream.
    # Or the caller hangs up: nothing here can tell which.
    await again.hang_up()
    await again.wait_closed()

    assert (await wait_until_ended(call_id))["end_reason"] == "transfer_unconfirmed"
    await again.leave()
    await phone.leave()


async def test_an_escalation_the_stream_had_not_heard_of_when_the_process_drains_is_transferred(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls,
    transfers: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    escalation = HeldTool(monkeypatch, "escalate_to_human", {"ticket_id": "ESC-1"})
    answered = asyncio.Event()

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        if len(twilio.sessions) == 1:
            await escalates_and_says_so(session)
            answered.set()

    with transferring():
        phone = await Phone.dial(ASHA_PHONE)
        await escalation.started.wait()
        # The stream drops as the agent escalates: the call is to be transferred, but no
        # stream has heard so when the process drains.
        await phone.leave()
        session = await live_phone_session()
        async with asyncio.timeout(5):
            while session.attached:
                await asyncio.sleep(0.02)
        escalation.released.set()
        await answered.wait()
        assert (await this_process.drain(bound_s=5)).left == ()
        assert transfers == []

        # The next process carries the call on, and transfers it.
        monkeypatch.setattr(draining, "this_process", ProcessCalls())
        again = await stream_again(phone)
        await asked(transfers)
        await again.hang_up()
        await again.wait_closed()

    assert [call_sid for call_sid, _ in transfers] == [phone.call_sid]
    record = await wait_until_ended((await latest_phone_call())["call_id"])
    assert record["end_reason"] == "transferred_to_human"
    await again.leave()


async def test_a_transfer_the_draining_process_has_no_time_to_make_is_made_by_the_next(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        if len(twilio.sessions) == 1:
            await escalates_and_says_so(session)

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        phone = await Phone.dial(ASHA_PHONE)
        await phone.wait_for_event("mark", timeout=10)  # the agent's words, not yet heard
        # Too little time left for Twilio's answer: the request is not made here.
        await this_process.drain(bound_s=twilio_rest.DRAIN_RESERVE_S)
        await phone.wait_closed()
        assert api.requests == []

        monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
        again = await stream_again(phone)
        await asked(api.requests)
        await again.hang_up()
        await again.wait_closed()

    [request] = api.requests
    assert request.path.endswith(f"/Calls/{phone.call_sid}.json")
    record = await wait_until_ended((await latest_phone_call())["call_id"])
    assert record["end_reason"] == "transferred_to_human"
    await again.leave()
    await phone.leave()


async def test_a_request_to_twilio_while_draining_waits_no_longer_than_the_drain_has_left(
    this_process: ProcessCalls,
) -> None:
    # No call here: the drain's clock runs on regardless, leaving a request 2 s.
    await this_process.drain(bound_s=twilio_rest.DRAIN_RESERVE_S + 2)

    with FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url):
        api.answer_after_s = 6.0  # later than that (REST_TIMEOUT_S is 10 s)
        with pytest.raises(twilio_rest.TwilioOutcomeUnknown):
            await asyncio.to_thread(twilio_rest.update_call, "CA" + "1" * 32, "<Response/>")
    assert len(api.requests) == 1


async def test_no_request_is_made_to_twilio_when_the_drain_has_no_time_left_for_its_answer(
    this_process: ProcessCalls,
) -> None:
    await this_process.drain(bound_s=twilio_rest.DRAIN_RESERVE_S)

    with (
        FakeTwilioApi() as api, transferring(), override_settings(TWILIO_API_BASE_URL=api.url),
        pytest.raises(twilio_rest.TwilioRestError) as refused,
    ):
        await asyncio.to_thread(twilio_rest.update_call, "CA" + "1" * 32, "<Response/>")
    assert not isinstance(refused.value, twilio_rest.TwilioOutcomeUnknown)  # certainly not made
    assert api.requests == []


# --- How a call we end ends on the phone ---------------------------------------------------------


async def test_a_call_ended_while_the_agent_is_still_talking_hangs_up_and_says_why(
    twilio: FakeLiveServer, asha: Customer
) -> None:
    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_audio(bytes(24_000 * 2 * 6))  # six seconds, in one burst
        await session.send_turn_complete()

    phone = await Phone.dial(ASHA_PHONE)
    await phone.wait_for_event("media", timeout=10)
    session = await live_phone_session()
    await session._on_message({"type": "staff.action", "kind": "end_call", "reply_to": "",
                               "staff": {"username": "priya", "name": "Priya"}})  # fmt: skip

    # A person ended it: the agent is cut off (Twilio clears what it buffered), and the line
    # hung up at once, not after the six seconds of the answer.
    await phone.wait_for_event("clear", timeout=5)
    assert await phone.wait_closed(timeout=3) == 1000
    assert len(phone.media()) < 6 * 50  # not the whole answer
    # Twilio asks what next as the stream closes: the caller hears why, and is hung up.
    twiml = await webhook(ASHA_PHONE, phone.call_sid)
    assert said_then_hung_up(twiml) == "A member of our support team ended the call."
    assert (await latest_phone_call())["end_reason"] == "ended_by_staff"
    await phone.leave()


async def test_a_call_ended_while_the_database_is_away_is_not_carried_on_when_it_is_back(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Priya ends Asha's call while the database does not answer: its record's close waits
    for it. Twilio's ask of what next, which cannot look the call up, has Asha told why and
    hung up all the same: this process ended the call. A stream that another process's
    answer opened meanwhile (it could not tell) does not carry the ended call on with a model
    of its own once the database is back before the close is written, and Twilio's next ask
    has Asha told why and hung up."""
    from continuity import calls as stored_calls
    from realtime.call_record import CallRecord

    monkeypatch.setattr(mongo, "FIRST_RETRY_S", 0.2)  # the close's retries
    phone = await Phone.dial(ASHA_PHONE)
    await twilio.wait_for_session()
    session = await live_phone_session()
    write, find_call = CallRecord._write, stored_calls.find_call
    writes_away = reads_away = True

    async def record_write(self: CallRecord, *args: Any) -> None:
        if writes_away:
            raise AutoReconnect("connection reset by peer")
        await write(self, *args)

    async def lookup(**query: Any) -> Any:
        if reads_away:
            raise AutoReconnect("connection reset by peer")
        return await find_call(**query)

    monkeypatch.setattr(CallRecord, "_write", record_write)
    monkeypatch.setattr(stored_calls, "find_call", lookup)
    await session._on_message({"type": "staff.action", "kind": "end_call", "reply_to": "",
                               "staff": {"username": "priya", "name": "Priya"}})  # fmt: skip
    assert await phone.wait_closed() == 1000
    told = await webhook(ASHA_PHONE, phone.call_sid)
    assert said_then_hung_up(told) == "A member of our support team ended the call."
    reads_away = False

    elsewhere = security.StreamCaller(call_sid=phone.call_sid, phone=ASHA_PHONE, verified=False)
    again = await Phone.stream(phone.call_sid, security.mint_stream_token(elsewhere))

    assert await again.wait_closed() == 1000  # Twilio asks what next
    twiml = await webhook(ASHA_PHONE, phone.call_sid)
    assert said_then_hung_up(twiml) == "A member of our support team ended the call."
    assert len(twilio.sessions) == 1
    writes_away = False
    record = await wait_until_ended(session.call_id)
    assert record["end_reason"] == "ended_by_staff"
    await no_session_left_open(twilio)
    await phone.leave()
    await again.leave()


async def test_a_long_goodbye_sent_in_one_burst_is_heard_to_its_end_before_the_hang_up(
    twilio: FakeLiveServer, asha: Customer, settings: Any
) -> None:
    settings.VOICE_IDLE_PROMPT_S = 0.3  # a silent caller: two check-ins, then the goodbye
    goodbye = bytes(24_000 * 2 * 4)  # four seconds

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        for _ in range(3):  # the greeting, two check-ins
            await session.wait_for_note()
            await session.send_transcript("agent", "…")
            await session.send_turn_complete()
        assert "goodbye" in await session.wait_for_note()
        await session.send_audio(goodbye, chunk_ms=200)  # as the model does: all at once
        await session.send_turn_complete()

    phone = await Phone.dial(ASHA_PHONE)
    mark = await phone.wait_for_event("mark", timeout=15)  # the goodbye, all sent
    await phone.echo_mark(mark["mark"]["name"])  # and, says Twilio, played

    assert await phone.wait_closed(timeout=10) == 1000
    assert len(phone.media()) == len(goodbye) // 2 // 3 // FRAME  # every word of it
    record = await wait_until_ended((await latest_phone_call())["call_id"])
    assert record["end_reason"] == "idle"
    await phone.leave()


async def test_a_hang_up_waits_for_the_agents_words_no_longer_than_its_cap(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer, "HANG_UP_DRAIN_MAX_S", 0.5)  # 10 s, as far as a test can tell
    answer = bytes(24_000 * 2 * 6)  # six seconds

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_audio(answer, chunk_ms=200)
        await session.send_turn_complete()

    phone = await Phone.dial(ASHA_PHONE)
    await phone.wait_for_event("media", timeout=10)
    session = await live_phone_session()
    await session._on_message({"type": "staff.action", "kind": "end_call", "reply_to": "",
                               "staff": {"username": "priya", "name": "Priya"}})  # fmt: skip

    assert await phone.wait_closed(timeout=5) == 1000
    assert len(phone.media()) < len(answer) // 2 // 3 // FRAME  # cut at the cap
    await phone.leave()


async def test_a_caller_whose_agent_is_lost_hears_so_from_twilio(
    twilio: FakeLiveServer, asha: Customer
) -> None:
    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.close(1008, "Permission denied.")

    phone = await Phone.dial(ASHA_PHONE)
    await phone.wait_closed(timeout=10)
    said = said_then_hung_up(await webhook(ASHA_PHONE, phone.call_sid))

    record = await latest_phone_call()
    assert record["end_reason"] == "agent_unavailable"
    ticket = await mongo.async_db().escalations.find_one({"call_id": record["call_id"]})
    assert ticket is not None
    assert said.startswith("Sorry, our voice assistant is unavailable right now.")
    assert ticket["ticket_id"] in said
    await phone.leave()


async def test_a_caller_with_as_many_calls_open_as_allowed_is_told_so_not_connected_again(
    twilio: FakeLiveServer, asha: Customer, settings: Any
) -> None:
    settings.VOICE_MAX_CALLS_PER_CUSTOMER = 2
    call_sid = "CA" + "4" * 32
    twiml = await webhook(ASHA_PHONE, call_sid)
    # Asha opens two calls on the web meanwhile: the stream Twilio opens is refused...
    await mongo.async_db().calls.insert_many([
        {"call_id": f"CALL-web{n}", "user_id": 7, "channel": "web", "ended_at": None}
        for n in range(2)
    ])  # fmt: skip
    phone = await Phone.stream(call_sid, token_of(twiml))
    assert await phone.wait_closed() == 4429

    # ... and when Twilio asks again, it is told to say why and hang up, not to stream again.
    said = said_then_hung_up(await webhook(ASHA_PHONE, call_sid))
    assert said == "You already have a call open with us; please use that one, or end it first."
    assert said_then_hung_up(await webhook(ASHA_PHONE, "CA" + "5" * 32)) == said  # a new call
    assert twilio.sessions == []
    await phone.leave()


# A callback Arjun dialled to Asha, and her answer: Twilio streams her call as one we placed
# (realtime/phone/outbound.py), and asks what next of a call from our own number.
ARJUNS_CALLBACK = "CBK-ASHA07"
OUR_NUMBER = "+911140001234"


async def arjun_dialled_asha(asha: Customer, call_sid: str) -> None:
    """Arjun's callback to Asha, dialled: Twilio gave the call `call_sid`."""
    await sync_to_async(make_callback)(asha, today_at(15, 30, days=1),
                                       callback_id=ARJUNS_CALLBACK, call_sid=call_sid)  # fmt: skip


async def asha_answers_arjuns_callback(call_sid: str) -> Phone:
    """Asha picks up Arjun's callback: Twilio opens the Media Stream of her call `call_sid`,
    with the stream token and parameters of a callback we placed."""
    token = security.mint_callback_token(
        security.CallbackStream(ARJUNS_CALLBACK, ASHA_PHONE, "arjun")
    )
    return await Phone.stream(call_sid, token, extra_parameters={
        outbound.KIND: outbound.CALLBACK, outbound.CALLBACK_ID: ARJUNS_CALLBACK,
    })  # fmt: skip


async def twilio_asks_what_next_of_the_callback(call_sid: str) -> str:
    """Twilio asks the callback's <Connect action> what next (its stream ended), for our own
    number's call; answers the TwiML."""
    return await webhook(OUR_NUMBER, call_sid, Direction="outbound-api")


async def test_a_callback_answered_with_no_callback_to_join_is_hung_up_not_given_the_agent(
    twilio: FakeLiveServer, asha: Customer
) -> None:
    await arjun_dialled_asha(asha, "CA" + "8" * 32)  # dialled as another call
    phone = await asha_answers_arjuns_callback("CA" + "6" * 32)
    await phone.wait_closed()

    twiml = await twilio_asks_what_next_of_the_callback("CA" + "6" * 32)
    assert said_then_hung_up(twiml).startswith("Sorry, we could not connect you")
    assert twilio.sessions == []
    await phone.leave()


async def test_a_callback_whose_answer_cannot_be_noted_ends_the_call_begun_for_it(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The customer answers, the call begins, and the database fails as the callback is told
    which call answered it: the stream is refused as the database is away, and the call begun
    for it ends with it (its record, its Live API session), rather than going on with no
    stream to carry it. Twilio, asking what next, has the caller told."""
    call_sid = "CA" + "6" * 32
    await arjun_dialled_asha(asha, call_sid)
    update_one = AsyncCollection.update_one

    async def callbacks_away(self: AsyncCollection[Any], *args: Any, **kwargs: Any) -> Any:
        if self.name == "callbacks":
            raise AutoReconnect("connection reset by peer")
        return await update_one(self, *args, **kwargs)

    monkeypatch.setattr(AsyncCollection, "update_one", callbacks_away)
    phone = await asha_answers_arjuns_callback(call_sid)
    assert await phone.wait_closed() == consumer.SERVER_UNAVAILABLE

    assert CallSession.here_for_call_sid(call_sid) is None
    record = await wait_until_ended((await latest_phone_call())["call_id"])
    assert record["end_reason"] == "server_error"
    await no_session_left_open(twilio)
    twiml = await twilio_asks_what_next_of_the_callback(call_sid)
    assert said_then_hung_up(twiml) == SERVER_ERROR_SAY
    await phone.leave()


async def test_a_callback_answered_while_the_database_is_away_is_not_given_the_agent_after(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asha answers Arjun's callback while the database does not answer: her stream is
    refused, and Twilio's ask of what next cannot look the call up, so it is connected again
    (a callback going on is carried on so). The database back, that stream finds no call to
    carry on: she is told we could not connect her, not put through to the agent as a
    stranger calling from our own number."""
    from continuity import calls as stored_calls

    call_sid = "CA" + "6" * 32
    await arjun_dialled_asha(asha, call_sid)
    find_call, away = stored_calls.find_call, True

    async def lookup(**query: Any) -> Any:
        if away:
            raise AutoReconnect("connection reset by peer")
        return await find_call(**query)

    async def no_callback_lookup(*args: Any) -> Any:
        raise AutoReconnect("connection reset by peer")

    monkeypatch.setattr(stored_calls, "find_call", lookup)
    monkeypatch.setattr(consumer, "dialled_callback", no_callback_lookup)
    first = await asha_answers_arjuns_callback(call_sid)
    assert await first.wait_closed() == consumer.SERVER_UNAVAILABLE
    connect = await twilio_asks_what_next_of_the_callback(call_sid)
    away = False

    again = await Phone.stream(call_sid, token_of(connect))

    assert await again.wait_closed() == 1000  # Twilio asks what next
    twiml = await twilio_asks_what_next_of_the_callback(call_sid)
    assert said_then_hung_up(twiml).startswith("Sorry, we could not connect you")
    assert twilio.sessions == []
    assert await mongo.async_db().calls.count_documents({}) == 0
    await first.leave()
    await again.leave()


async def test_a_callback_answered_as_its_process_drains_is_carried_on_by_the_next(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch,
    stream_comes_back: None,
) -> None:
    """An incoming call's stream starting on a draining process is closed at once, and
    Twilio's next ask finds another process. A callback we dialled has no call on record
    for that ask yet: it starts here (held by who dialled it) and moves like any call."""
    call_sid = "CA" + "6" * 32
    await arjun_dialled_asha(asha, call_sid)
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    draining.this_process.register_call("CALL-another")  # keeps the process draining
    drained = asyncio.create_task(draining.this_process.drain(bound_s=5, notice_s=0))
    await asyncio.sleep(0.05)
    phone = await asha_answers_arjuns_callback(call_sid)
    assert await phone.wait_closed() == 1000  # moved: Twilio asks where to next
    draining.this_process.unregister_call("CALL-another")
    await drained
    monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process

    twiml = await twilio_asks_what_next_of_the_callback(call_sid)
    again = await Phone.stream(call_sid, token_of(twiml))
    record = await latest_phone_call()
    async with asyncio.timeout(5):
        while CallSession.here(record["call_id"]) is None:
            await asyncio.sleep(0.02)

    assert again.close_code is None
    assert record["call_sid"] == call_sid and record["ended_at"] is None
    session = CallSession.here(record["call_id"])
    assert session is not None and session.holder is not None
    assert session.holder["username"] == "arjun"  # who dialled it holds it still
    await again.hang_up()
    await wait_until_ended(record["call_id"])
    await again.leave()
    await phone.leave()


async def test_a_stream_coming_back_while_its_call_is_ending_is_not_given_the_call(
    twilio: FakeLiveServer, asha: Customer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.VOICE_RESUME_GRACE_S = 0.2
    # The webhook and the stream wait this long for the ending call, whose tool is held.
    monkeypatch.setattr(call_session, "SETTLE_WAIT_S", 0.5)
    profile = HeldTool(monkeypatch, "get_user_profile", {"name": "Asha Rao"})
    phone = await Phone.dial(ASHA_PHONE)
    await (await twilio.wait_for_session()).send_tool_call([{"name": "get_user_profile"}])
    await profile.started.wait()
    await phone.leave()  # the stream drops without `stop`
    call_id = (await latest_phone_call())["call_id"]
    # Nobody comes back in time: the call ends, finishing the tool it is running first.
    async with asyncio.timeout(5):
        while CallSession.here(call_id) is not None:
            await asyncio.sleep(0.02)

    twiml = await webhook(ASHA_PHONE, phone.call_sid)  # Twilio asks again meanwhile
    late = await Phone.stream(phone.call_sid, token_of(twiml))
    profile.released.set()

    await late.wait_closed()
    assert (await latest_phone_call())["end_reason"] == "caller_left"
    assert len(twilio.sessions) == 1
    assert "<Hangup" in await webhook(ASHA_PHONE, phone.call_sid)  # and then it is over
    await late.leave()


# --- A caller who hangs up between two streams -------------------------------------------------


@pytest.mark.parametrize("its_process", ["let it go", "died"])
async def test_a_caller_hanging_up_before_the_next_stream_of_a_call_let_go_ends_it_at_once(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls, settings: Any,
    its_process: str,
) -> None:
    """Her call's process let it go (it drained), or died (its record names it still: nobody
    is there to be told), and she hangs up before Twilio's next stream starts: Twilio's
    <Connect action> says the call is completed. It ends then, as her hanging up, not 30 s
    later as a caller who left (one of her open calls meanwhile)."""
    settings.VOICE_RESUME_GRACE_S = 30
    phone = await Phone.dial(ASHA_PHONE)
    await twilio.wait_for_session()
    call_id = (await latest_phone_call())["call_id"]
    assert (await this_process.drain(bound_s=3)).left == ()
    await phone.wait_closed()
    assert (await call_record(call_id)).get("carrier") is None  # let go, waiting
    if its_process == "died":
        dead = "specific.dead-process!0"  # a process's channel, not said alive by any process
        await mongo.async_db().calls.update_one({"call_id": call_id}, {"$set": {"carrier": dead}})

    twiml = await webhook(ASHA_PHONE, phone.call_sid, CallStatus="completed")

    assert said_then_hung_up(twiml) == ""
    record = await wait_until_ended(call_id, timeout=3)
    assert record["end_reason"] == "caller_hung_up"
    async with asyncio.timeout(5):  # finished, as a call ended with no process of its own
        while "outcome" not in (record := await call_record(call_id)):
            await asyncio.sleep(0.05)
    await phone.leave()


async def webhook_of_another_process(call_sid: str, **extra: str) -> str:
    """/twilio/voice answered by another process than the one carrying the call: it does not
    find the call among its own (carried, or leaving: nothing to wait for), and what it tells
    the call's carrier (the record's `carrier`, this process's channel) comes on that channel
    as from elsewhere."""

    async def nothing_leaving(cls: type[CallSession], **call: str) -> bool:
        return True

    with pytest.MonkeyPatch.context() as elsewhere:
        elsewhere.setattr(CallSession, "here", classmethod(lambda cls, call_id: None))
        elsewhere.setattr(CallSession, "settled", classmethod(nothing_leaving))
        return await webhook(ASHA_PHONE, call_sid, **extra)


@pytest.mark.parametrize("heard_by", ["its process", "another process"])
async def test_a_caller_hanging_up_before_the_next_stream_of_a_dropped_stream_ends_it_at_once(
    twilio: FakeLiveServer, asha: Customer, settings: Any, calls_left_open: None, heard_by: str
) -> None:
    """Her stream dropped, and its process waits for Twilio's next one; she hangs up meanwhile,
    and Twilio's <Connect action> reaches that process, or another one (which tells the call's
    process on its channel). The call ends then, as her hanging up, not 30 s later as a caller
    who left (one of her open calls meanwhile)."""
    settings.VOICE_RESUME_GRACE_S = 30
    phone = await Phone.dial(ASHA_PHONE)
    await twilio.wait_for_session()
    call_id = (await latest_phone_call())["call_id"]
    await phone.leave()  # the stream drops without `stop`: the call waits for the next one
    async with asyncio.timeout(5):
        while (record := await call_record(call_id)).get("detached_at") is None:
            await asyncio.sleep(0.02)
    assert record["carrier"] == await process.process_channel()

    if heard_by == "another process":
        twiml = await webhook_of_another_process(phone.call_sid, CallStatus="completed")
    else:
        twiml = await webhook(ASHA_PHONE, phone.call_sid, CallStatus="completed")

    assert said_then_hung_up(twiml) == ""
    assert (await wait_until_ended(call_id, timeout=3))["end_reason"] == "caller_hung_up"
    assert CallSession.here(call_id) is None


# What Twilio tells /twilio/voice of a call waiting for its next stream, by how the call ends
# by it: she hung up (<Connect action>); or Twilio acted on a transfer request it never
# answered us, and she gave up while the line it dialled rang (<Dial action>).
TWILIO_SAYS_OVER = {
    "caller_hung_up": {"CallStatus": "completed"},
    "transfer_failed": {"CallStatus": "completed", "DialCallStatus": "no-answer"},
}


async def waiting_to_end_as(session: CallSession, ends_as: str) -> None:
    """The call waits for its next stream as one `ends_as` (TWILIO_SAYS_OVER) ends: for a
    transfer's end, Twilio had its transfer request and gave no answer before the stream went
    (as the stream leaves such a call: it ends as transfer_unconfirmed if none comes back),
    written down."""
    if ends_as != "caller_hung_up":
        session.transfer_is(Transfer.UNCONFIRMED)
        session.ends_as_if_left("transfer_unconfirmed")
        await session._record.flush()


def telling_the_carrier(
    monkeypatch: pytest.MonkeyPatch, first: Callable[[], Awaitable[None]] | None = None
) -> asyncio.Event:
    """Set once /twilio/voice has told the process carrying a call (on the channel layer) that
    Twilio says it is over; `first()` is awaited before it is told."""
    layer = get_channel_layer()
    assert layer is not None
    told, send = asyncio.Event(), layer.send

    async def noted(channel: str, message: dict[str, Any]) -> None:
        if message.get("type") not in ("call.caller_hung_up", "call.moved_on"):
            return await send(channel, message)
        if first is not None:
            await first()
        await send(channel, message)
        told.set()

    monkeypatch.setattr(layer, "send", noted)
    return told


@pytest.mark.parametrize("ends_as", list(TWILIO_SAYS_OVER))
@pytest.mark.parametrize("told", ["as it lets the call go", "once it let the call go"])
async def test_twilio_saying_the_call_is_over_to_the_process_letting_it_go_ends_it_at_once(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls, settings: Any,
    monkeypatch: pytest.MonkeyPatch, told: str, ends_as: str,
) -> None:
    """Her stream dropped, and Twilio says the call is over (she hung up, or the transfer it
    moved the call on went unanswered) as the call's process lets it go (it drains): another
    process's /twilio/voice read this one as the carrier, and tells it so while it is writing
    the call down as let go, or once it has (it no longer has the call). The call ends then,
    as Twilio said, not 30 s later as a caller who left (or transfer_unconfirmed)."""
    settings.VOICE_RESUME_GRACE_S = 30
    phone = await Phone.dial(ASHA_PHONE)
    await twilio.wait_for_session()
    session = await live_phone_session()
    await phone.leave()  # the stream drops without `stop`: the call waits for the next one
    async with asyncio.timeout(5):
        while session.attached:
            await asyncio.sleep(0.02)
    await waiting_to_end_as(session, ends_as)
    letting_go, let_go = asyncio.Event(), session._record.let_go

    async def writing_it_down(*args: Any, **kwargs: Any) -> None:
        await letting_go.wait()
        await let_go(*args, **kwargs)

    monkeypatch.setattr(session._record, "let_go", writing_it_down)
    drained = asyncio.create_task(this_process.drain(bound_s=5))
    async with asyncio.timeout(5):
        while not session.released:
            await asyncio.sleep(0.02)

    async def once_let_go() -> None:
        letting_go.set()
        await drained

    first = once_let_go if told == "once it let the call go" else None
    told_it = telling_the_carrier(monkeypatch, first)
    asking = asyncio.create_task(
        webhook_of_another_process(phone.call_sid, **TWILIO_SAYS_OVER[ends_as])
    )
    await asyncio.wait_for(told_it.wait(), 5)
    letting_go.set()

    assert said_then_hung_up(await asking) == ""
    assert (await drained).left == ()
    record = await wait_until_ended(session.call_id, timeout=3)
    assert record["end_reason"] == ends_as


@pytest.mark.parametrize("ends_as", list(TWILIO_SAYS_OVER))
async def test_twilio_saying_the_call_is_over_to_a_process_whose_start_of_it_fails_ends_it(
    twilio: FakeLiveServer, asha: Customer, this_process: ProcessCalls, settings: Any,
    monkeypatch: pytest.MonkeyPatch, ends_as: str,
) -> None:
    """Her call was let go, and this process claims it for Twilio's next stream; Twilio says
    the call is over (she hung up, or the transfer it moved the call on went unanswered)
    while it is starting the call there (another process's /twilio/voice tells it so, before
    the call is registered), and the start then fails (the database away). Nothing carries
    the call, though its record names this process: it ends then, as Twilio said."""
    settings.VOICE_RESUME_GRACE_S = 30
    phone = await Phone.dial(ASHA_PHONE)
    await twilio.wait_for_session()
    session = await live_phone_session()
    await waiting_to_end_as(session, ends_as)
    assert (await this_process.drain(bound_s=3)).left == ()
    await phone.wait_closed()
    monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
    looking, fails = asyncio.Event(), asyncio.Event()

    async def lookup_failing(**query: Any) -> Any:
        looking.set()
        await fails.wait()
        raise ServerSelectionTimeoutError("the database is away")

    monkeypatch.setattr(consumer, "find_customer", lookup_failing)
    twiml = await webhook(ASHA_PHONE, phone.call_sid)
    again = asyncio.create_task(Phone.stream(phone.call_sid, token_of(twiml)))
    await looking.wait()
    assert process.starting(session.call_id)

    told_it = telling_the_carrier(monkeypatch)
    asking = asyncio.create_task(
        webhook_of_another_process(phone.call_sid, **TWILIO_SAYS_OVER[ends_as])
    )
    await asyncio.wait_for(told_it.wait(), 5)
    fails.set()

    stream = await again
    assert await stream.wait_closed() == consumer.SERVER_UNAVAILABLE
    record = await wait_until_ended(session.call_id, timeout=3)
    assert record["end_reason"] == ends_as
    assert said_then_hung_up(await asking) == ""
    await stream.leave()
    await phone.leave()


async def test_a_hang_up_heard_elsewhere_leaves_a_call_its_next_stream_carries_to_its_stop(
    twilio: FakeLiveServer, asha: Customer, stream_comes_back: None,
    monkeypatch: pytest.MonkeyPatch, calls_left_open: None,
) -> None:
    """Twilio's next stream took the call up again in its process by the time another process
    tells it the call is over: the stream carries it, and its end is the call's, as usual."""
    phone = await Phone.dial(ASHA_PHONE)
    await twilio.wait_for_session()
    session = await live_phone_session()
    await phone.leave()
    async with asyncio.timeout(5):
        while (await call_record(session.call_id)).get("detached_at") is None:
            await asyncio.sleep(0.02)
    back = await stream_again(phone)
    async with asyncio.timeout(5):
        while not session.attached:
            await asyncio.sleep(0.02)
    told = asyncio.Event()
    ended = session.twilio_ended

    async def hears_it(reason: str) -> None:
        await ended(reason)
        told.set()

    monkeypatch.setattr(session, "twilio_ended", hears_it)

    await webhook_of_another_process(phone.call_sid, CallStatus="completed")

    async with asyncio.timeout(3):
        await told.wait()
    assert CallSession.here(session.call_id) is session
    assert (await call_record(session.call_id))["ended_at"] is None
    await back.hang_up_and_go()
    assert (await wait_until_ended(session.call_id))["end_reason"] == "caller_hung_up"


async def test_twilio_saying_the_call_is_over_leaves_a_call_its_stream_carries_to_its_stop(
    twilio: FakeLiveServer, asha: Customer
) -> None:
    """Twilio's <Connect action> after a hang-up may come before the stream's `stop`: the
    stream's end is the call's, as usual."""
    phone = await Phone.dial(ASHA_PHONE)
    await twilio.wait_for_session()
    call_id = (await latest_phone_call())["call_id"]

    await webhook(ASHA_PHONE, phone.call_sid, CallStatus="completed")

    assert (await call_record(call_id))["ended_at"] is None
    await phone.hang_up_and_go()
    assert (await wait_until_ended(call_id))["end_reason"] == "caller_hung_up"


# --- A caller's verification (contract section 6) ---------------------------------------------


@pytest.fixture
async def ashas_order(asha: Customer) -> None:
    await sync_to_async(make_order)(asha, "ORD-7001", status="delivered", amount=33_750,
                                    placed_hours_ago=2, delivered_hours_ago=1)  # fmt: skip


async def test_a_caller_verified_on_the_call_stays_verified_when_the_call_moves(
    twilio: FakeLiveServer, asha: Customer, ashas_order: None
) -> None:
    phone = await Phone.dial(ASHA_PHONE)
    first = await twilio.wait_for_session()
    await first.send_tool_call([{"name": "verify_caller", "args": {"amount": "337.50"}}])
    assert (await first.wait_for_tool_response())["response"]["ok"] is True
    call_id = (await latest_phone_call())["call_id"]

    # A draining process lets the call go; Twilio asks the webhook again and streams anew.
    carrying = CallSession.here(call_id)
    assert carrying is not None
    await carrying.release()
    twiml = await webhook(ASHA_PHONE, phone.call_sid)
    again = await Phone.stream(phone.call_sid, token_of(twiml))
    second = await twilio.wait_for_session(1)
    await second.send_tool_call([{"name": "get_user_profile"}])
    profile = (await second.wait_for_tool_response())["response"]

    assert profile["ok"] is True and profile["verified"] is True  # not asked again
    await again.hang_up_and_go()
    await phone.leave()


async def test_while_a_colleague_holds_the_call_the_models_tools_do_nothing(
    twilio: FakeLiveServer, asha: Customer, ashas_order: None
) -> None:
    twiml = await webhook(ASHA_PHONE, "CA" + "3" * 32, StirVerstat="TN-Validation-Passed-A")
    phone = await Phone.stream("CA" + "3" * 32, token_of(twiml))
    model = await twilio.wait_for_session()
    session = CallSession.here((await latest_phone_call())["call_id"])
    assert session is not None
    session.staff.take_over("priya", "Priya")

    await model.send_tool_call([{"name": "initiate_refund",
                                 "args": {"order_id": "ORD-7001", "reason": "cold"}}])  # fmt: skip
    refused = (await model.wait_for_tool_response())["response"]

    assert (refused["ok"], refused["reason"]) == (False, "unavailable")
    assert "A colleague is talking with the customer" in refused["message"]
    assert await mongo.async_db().refunds.count_documents({}) == 0
    await phone.hang_up_and_go()


async def test_a_call_cut_off_by_a_failure_of_ours_tells_the_caller_so(
    twilio: FakeLiveServer, asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realtime.phone.consumer import TwilioConsumer

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_transcript("agent", "Hello")

    original = TwilioConsumer.deliver

    async def deliver(self: TwilioConsumer, item: Any) -> None:
        if type(item).__name__ == "Transcript":
            raise RuntimeError("a bug on the way to the caller")
        await original(self, item)

    monkeypatch.setattr(TwilioConsumer, "deliver", deliver)
    phone = await Phone.dial(ASHA_PHONE)

    await phone.wait_closed(timeout=5)
    record = await wait_until_ended((await latest_phone_call())["call_id"])
    assert record["end_reason"] == "server_error"
    # Twilio asks what next as the stream closes: not a silent hang-up.
    twiml = await webhook(ASHA_PHONE, phone.call_sid)
    assert said_then_hung_up(twiml) == SERVER_ERROR_SAY
    await phone.leave()


async def test_a_caller_verifying_as_the_call_moves_is_verified_in_the_next_process(
    twilio: FakeLiveServer, asha: Customer, ashas_order: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    verify = HeldTool(monkeypatch, "verify_caller", {"ok": True, "verified": True})
    phone = await Phone.dial(ASHA_PHONE)
    first = await twilio.wait_for_session()
    await first.send_tool_call([{"name": "verify_caller", "args": {"amount": "337.50"}}])
    await verify.started.wait()
    carrying = CallSession.here((await latest_phone_call())["call_id"])
    assert carrying is not None

    # The process lets the call go while the check runs: the stream closes at once, and
    # Twilio streams anew to the next process; the check finishes in the one it left.
    releasing = asyncio.create_task(carrying.release())
    await phone.wait_closed(timeout=2)
    again = await stream_again(phone)
    second = await twilio.wait_for_session(1)
    verify.released.set()
    await releasing

    told = await second.wait_for_note()
    while "verify_caller" not in told:  # after what the next model is told on joining
        told = await second.wait_for_note()
    await second.send_tool_call([{"name": "get_user_profile"}])
    profile = (await second.wait_for_tool_response())["response"]

    assert '"verified": true' in told
    assert profile["ok"] is True and profile["verified"] is True  # not asked again
    await again.hang_up_and_go()
    await phone.leave()
