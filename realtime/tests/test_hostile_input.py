"""No message can kill a call or leak a Live session: hostile frames from a caller, from
Twilio's side of the socket, and from the Live API itself. Every call record closes and the
fake has no session left open once the calls end."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from realtime import browser_protocol, live_client, tokens
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import (
    BrowserCall,
    no_session_left_open,
    speech,
    wait_until_ended,
)
from support import mongo
from support.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

NESTED = "[" * 3000 + "]" * 3000  # 6 KB: under the 8 KiB limit, far over json's depth


# --- from the caller ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "text", "text": ' + NESTED + "}",
        NESTED,
        '{"type": "text", "text": ' + "9" * 5000 + "}",
    ],
)
async def test_a_deeply_nested_or_absurd_frame_is_bad_json_and_the_call_goes_on(
    asha: Customer, live: FakeLiveServer, frame: str
) -> None:
    call = await BrowserCall.open()
    ready = await call.next_event("ready")

    await call.send(frame)
    error = await call.next_event("error")
    await call.send({"type": "text", "text": "Still there?"})

    assert error["code"] == "bad_json"
    assert await live.session.wait_for_text() == "Still there?"
    await call.leave()
    assert (await wait_until_ended(ready["call_id"]))["end_reason"] == "caller_left"
    await no_session_left_open(live)


async def test_a_lone_surrogate_is_replaced_and_never_breaks_the_model_link(
    asha: Customer, live: FakeLiveServer
) -> None:
    call = await BrowserCall.open()
    ready = await call.next_event("ready")

    await call.send('{"type": "text", "text": "refund \\ud800 please"}')
    await call.send({"type": "text", "text": "and then?"})

    assert await live.session.wait_for_text() == "refund \ufffd please"
    assert await live.session.wait_for_text() == "and then?"
    assert len(live.sessions) == 1  # no reconnection, no give-up
    await call.leave()
    record = await wait_until_ended(ready["call_id"])
    assert record["end_reason"] == "caller_left"
    assert await mongo.async_db().escalations.count_documents({}) == 0


async def test_a_failing_handler_still_closes_the_record_and_the_live_session(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await live.wait_for_session()

    def broken(data: bytes) -> Any:
        raise RuntimeError("a bug in the audio path")

    monkeypatch.setattr(browser_protocol, "decode_binary", broken)
    await call.communicator.send_to(bytes_data=b"\x00\x00")

    record = await wait_until_ended(ready["call_id"])
    assert record["end_reason"] == "server_error"
    await no_session_left_open(live)


async def test_a_failing_call_task_ends_the_call_cleanly(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realtime.consumers import VoiceConsumer

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_transcript("agent", "Hello")

    original = VoiceConsumer.deliver

    async def deliver(self: VoiceConsumer, item: Any) -> None:
        if type(item).__name__ == "Transcript":
            raise RuntimeError("the socket went away mid-send")
        await original(self, item)

    monkeypatch.setattr(VoiceConsumer, "deliver", deliver)
    call = await BrowserCall.open()
    ready = await call.next_event("ready")

    record = await wait_until_ended(ready["call_id"])
    assert record["end_reason"] == "server_error"
    await no_session_left_open(live)
    await call.leave()


async def test_a_flood_of_audio_end_reaches_the_model_once_per_pause(
    asha: Customer, live: FakeLiveServer
) -> None:
    call = await BrowserCall.open()
    await call.next_event("ready")
    session = await live.wait_for_session()

    for _ in range(200):
        await call.send({"type": "audio_end"})
    await call.say(speech(0.1, 16_000))
    await call.send({"type": "audio_end"})
    await call.send({"type": "text", "text": "after the pauses"})

    assert await session.wait_for_text() == "after the pauses"
    assert session.audio_stream_ends == 2  # one before the audio, one after
    assert call.events == [call.events[0]]  # nothing to complain about: only `ready`
    await call.leave()


@pytest.mark.parametrize("user_id", [str(2**64), "9" * 5000])
async def test_a_customer_id_beyond_64_bits_is_not_found(
    asha: Customer, live: FakeLiveServer, user_id: str
) -> None:
    call = await BrowserCall.open(f"user_id={user_id}")

    assert await call.next_event("ended") == {"type": "ended", "reason": "customer_not_found"}
    assert await call.wait_closed() == 4404


# --- from the Live API --------------------------------------------------------------------------


async def test_hostile_upstream_frames_never_silence_the_call(
    asha: Customer, live: FakeLiveServer
) -> None:
    reply = speech(0.2, 24_000)

    @live.on_session
    async def hostile(session: FakeSession) -> None:
        await session.send_raw(NESTED)
        await session.send_raw('{"serverContent": {"outputTranscription": {"text": "Hi \\ud800"}}}')
        await session.send_raw('{"usageMetadata": {"promptTokenCount": ' + "9" * 30 + "}}")
        for details in (["x"], "abc", 7, [{"modality": "AUDIO", "tokenCount": 4}, 5]):
            usage = {"promptTokenCount": 1, "promptTokensDetails": details}
            await session.send_raw(json.dumps({"usageMetadata": usage}))
        for offset in ("9" * 400 + "s", 1e308, "-5s", "1e999s", 7):  # past a float, before
            for kind in ("ACTIVITY_START", "ACTIVITY_END"):
                activity = {"voiceActivityType": kind, "audioOffset": offset}
                await session.send_raw(json.dumps({"voiceActivity": activity}))
        await session.send_audio(reply, chunk_ms=20)
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    caption = await call.next_event("transcript")
    assert await call.wait_for_audio(len(reply)) == reply
    await call.next_event("turn_complete")

    assert caption["text"] == "Hi \ufffd"
    await call.leave()
    record = await wait_until_ended(ready["call_id"])
    assert record["transcript"][0]["text"] == "Hi \ufffd"
    assert 0 < record["usage"]["prompt_token_count"] < 2**63
    await no_session_left_open(live)


async def test_a_frame_beyond_the_size_limit_costs_a_resumption_not_the_call(
    asha: Customer, live: FakeLiveServer
) -> None:
    async def huge(session: FakeSession) -> None:
        await session.send_resumption_update("h-1")
        caption = {"serverContent": {"outputTranscription": {"text": "a" * (17 * 2**20)}}}
        await session.send_raw(json.dumps(caption))  # over the bridge's 16 MiB limit

    async def back(session: FakeSession) -> None:
        await session.send_transcript("agent", "Back.", finished=True)

    live.on_session(huge, back)
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("resumed", timeout=10)
    assert (await call.next_event("transcript"))["text"] == "Back."

    await call.send({"type": "end"})
    record = await wait_until_ended(ready["call_id"])
    assert record["end_reason"] == "caller_hung_up"
    assert [line["text"] for line in record["transcript"]] == ["Back."]
    await no_session_left_open(live)


async def test_a_call_to_an_unknown_tool_with_hostile_arguments_is_refused_and_the_call_goes_on(
    asha: Customer, live: FakeLiveServer
) -> None:
    answers: list[dict[str, Any]] = []

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_tool_call([
            {"name": "drop_database", "args": {"user_id": {"$ne": None}}},
            {"name": "get_order_details", "args": {"order_id": {"$gt": ""}, "user_id": 102}},
            # past a float (an infinity once read), and JSON's NaN, which Python reads
            {"name": "get_order_details", "args": {"order_id": 9 * 10**400, "n": float("nan")}},
        ])  # fmt: skip
        answers.extend([await session.wait_for_tool_response() for _ in range(3)])
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete", timeout=10)

    assert [a["response"]["reason"] for a in answers] == ["invalid_argument"] * 3
    await call.send({"type": "text", "text": "Hello?"})
    assert await live.session.wait_for_text() == "Hello?"
    await call.send({"type": "end"})
    record = await wait_until_ended(ready["call_id"])
    assert [(t["name"], t["ok"]) for t in record["tool_calls"]] == [
        ("drop_database", False), ("get_order_details", False), ("get_order_details", False),
    ]  # fmt: skip


async def test_a_malformed_tool_call_is_answered_and_its_neighbours_run(
    asha: Customer, live: FakeLiveServer
) -> None:
    answers: list[dict[str, Any]] = []

    @live.on_session
    async def agent(session: FakeSession) -> None:
        session.pending_tool_calls.update({"bad-1": "", "bad-2": "f", "good": "get_user_profile"})
        await session.send_raw(json.dumps({"toolCall": {"functionCalls": [
            {"id": "bad-1"},
            {"id": "bad-2", "name": "f", "args": [1]},
            {"id": "good", "name": "get_user_profile", "args": {}},
        ]}}))  # fmt: skip
        for _ in range(3):
            answers.append(await session.wait_for_tool_response())
        await session.send_turn_complete()

    call = await BrowserCall.open()
    await call.next_event("ready")
    await call.next_event("turn_complete", timeout=10)

    by_id = {answer["id"]: answer["response"] for answer in answers}
    assert by_id["bad-1"]["reason"] == "invalid_argument"
    assert by_id["bad-2"]["reason"] == "invalid_argument"
    assert by_id["good"]["ok"] is True and by_id["good"]["name"] == "Asha Verma"
    await call.leave()


async def test_a_tool_call_without_an_id_is_not_run_as_no_answer_could_reach_the_model(
    asha: Customer, live: FakeLiveServer
) -> None:
    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_raw(json.dumps({"toolCall": {"functionCalls": [
            {"name": "initiate_refund", "args": {"order_id": "ORD-1001", "reason": "cold"}},
        ]}}))  # fmt: skip
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete", timeout=10)
    await call.send({"type": "text", "text": "Hello?"})
    assert await live.session.wait_for_text() == "Hello?"  # the model link is as it was
    await call.send({"type": "end"})
    record = await wait_until_ended(ready["call_id"])

    [entry] = record["tool_calls"]
    assert (entry["name"], entry["ok"], entry["result"]["reason"]) == (
        "initiate_refund", False, "invalid_argument",
    )  # fmt: skip
    # Asha's order was refundable: run unheard, it would have been refunded.
    assert await mongo.async_db().refunds.count_documents({"order_id": "ORD-1001"}) == 0
    await no_session_left_open(live)


async def test_a_message_the_server_refuses_is_dropped_and_the_session_resumed(
    asha: Customer, live: FakeLiveServer
) -> None:
    @live.on_session
    async def refuse_then_listen(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("h-1")
            await session.wait_for_text()
            await session.close(1007, "Request contains an invalid argument.")

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.send({"type": "text", "text": "this one is refused"})
    await call.next_event("resumed")
    await call.send({"type": "text", "text": "this one arrives"})

    resumed = await live.wait_for_session(1)
    assert resumed.resumed_handle == "h-1"
    assert await resumed.wait_for_text() == "this one arrives"
    assert resumed.texts == ["this one arrives"]  # the refused one was not resent
    await call.leave()
    assert (await wait_until_ended(ready["call_id"]))["end_reason"] == "caller_left"
    assert await mongo.async_db().escalations.count_documents({}) == 0


@pytest.fixture
def quick_to_give_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bridge gives up on a Live API that never answers its setup within about a second."""
    monkeypatch.setattr(live_client, "DEFAULT_RETRY", live_client.RetryPolicy(
        max_attempts=50, base_delay_s=0.05, setup_timeout_s=0.3, first_connect_deadline_s=1.0,
    ))  # fmt: skip


async def test_a_setup_that_never_completes_is_given_up_on_and_explained(
    asha: Customer, live: FakeLiveServer, quick_to_give_up: None
) -> None:
    live.stall_setups()  # accepts, reads the setup, says nothing until the bridge gives up
    call = await BrowserCall.open()

    error = await call.next_event("error", timeout=5)
    ended = await call.next_event("ended")

    assert error["code"] == "agent_unavailable" and "try again" in error["message"]
    assert ended["reason"] == "agent_unavailable"
    assert await mongo.async_db().escalations.count_documents({}) == 0  # nobody to follow up
    opened = await mongo.async_db().calls.find_one({"user_id": 101})
    assert opened is not None  # the page never heard its id: no `ready` came
    assert (await wait_until_ended(opened["call_id"]))["end_reason"] == "agent_unavailable"
    await no_session_left_open(live)


async def test_a_link_spent_on_a_call_whose_agent_never_answered_opens_the_next_call(
    asha: Customer, live: FakeLiveServer, quick_to_give_up: None
) -> None:
    """The page says "please try again shortly": its one-use link must open a call then."""
    link = tokens.mint(101)
    live.stall_setups()
    call = await BrowserCall.open(f"token={link}")
    error = await call.next_event("error", timeout=5)
    assert error["code"] == "agent_unavailable" and "try again" in error["message"]
    await call.next_event("ended")

    live.answer_setups()
    again = await BrowserCall.open(f"token={link}")

    ready = await again.next_event("ready")
    await again.leave()
    assert (await wait_until_ended(ready["call_id"]))["end_reason"] == "caller_left"


async def test_hanging_up_while_the_models_setup_hangs_closes_the_record_and_the_socket(
    asha: Customer, live: FakeLiveServer
) -> None:
    live.stall_setups()
    call = await BrowserCall.open()
    # Not wait_for_session(): a session whose setup is never answered counts only once closed,
    # by the bridge's setup timeout (3 s here), which a busy machine can stretch past its wait.
    async with asyncio.timeout(10):  # the setup has reached the model, which never answers it
        while not (live.sessions and live.sessions[0].frames):
            await asyncio.sleep(0.01)

    await call.send({"type": "end"})

    assert await call.next_event("ended") == {"type": "ended", "reason": "caller_hung_up"}
    assert await call.wait_closed() == 1000
    opened = await mongo.async_db().calls.find_one({"user_id": 101})
    assert opened is not None
    assert (await wait_until_ended(opened["call_id"]))["end_reason"] == "caller_hung_up"
    await no_session_left_open(live)


async def test_repeated_agent_failures_for_one_customer_open_one_ticket(
    asha: Customer, live: FakeLiveServer
) -> None:
    async def fail_after_setup(session: FakeSession) -> None:
        await session.close(1011, "Internal error encountered.")

    live.on_session(fail_after_setup)
    tickets = set()
    for _ in range(3):
        call = await BrowserCall.open()
        await call.next_event("ready")
        tickets.add((await call.next_event("escalated", timeout=10))["ticket_id"])
        await call.wait_closed()

    assert len(tickets) == 1
    assert await mongo.async_db().escalations.count_documents({}) == 1
