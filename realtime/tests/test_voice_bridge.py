"""The browser bridge end to end: a caller on `/ws/voice`, the fake Live API upstream, the
real tools on the real database in between."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from typing import Any

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from realtime import tool_dispatch
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import (
    BrowserCall,
    HeldTool,
    no_session_left_open,
    speech,
    wait_until_ended,
)
from support import mongo
from support.models import Customer
from support.tests.conftest import make_order
from support.tools import ToolContext, registry

pytestmark = pytest.mark.django_db(transaction=True)


# --- audio, captions, barge-in ------------------------------------------------------------


async def test_audio_is_relayed_byte_exact_both_ways(asha: Customer, live: FakeLiveServer) -> None:
    caller_speech, agent_reply = speech(1.0, 16_000), speech(0.8, 24_000, seed=2)

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_audio(nbytes=len(caller_speech))
        await session.send_audio(agent_reply, chunk_ms=20)

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.say(caller_speech)

    assert await call.wait_for_audio(len(agent_reply)) == agent_reply
    assert live.session.audio == caller_speech
    assert live.session.setup is not None
    assert live.session.headers.get("x-goog-api-key") == "test-key"
    assert "key=" not in live.session.path
    await call.leave()
    record = await wait_until_ended(ready["call_id"])
    assert record["user_id"] == 101 and record["channel"] == "web"
    assert record["end_reason"] == "caller_left"


async def test_an_answer_streamed_faster_than_real_time_reaches_the_page_whole(
    asha: Customer, live: FakeLiveServer
) -> None:
    """The model sends an answer far faster than it plays, and many of its frames arrive in
    one read: a page that takes the audio as it comes loses none of it (only a caller that
    does not keep up loses its oldest)."""
    answer = speech(8.0, 24_000, seed=3)  # 400 frames of 20 ms, sent as fast as they go

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_audio(answer, chunk_ms=20)
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete", timeout=10)

    received = bytes(call.agent_audio)
    assert len(received) == len(answer)
    assert received == answer
    await call.leave()
    await wait_until_ended(ready["call_id"])


async def test_captions_for_both_sides_arrive_and_are_recorded(
    asha: Customer, live: FakeLiveServer
) -> None:
    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_transcript("user", "Where is my ")
        await session.send_transcript("user", "biryani?")
        await session.send_transcript("agent", "Let me check ")
        await session.send_transcript("agent", "that for you.")
        await session.send_turn_complete(
            usage={"promptTokenCount": "120", "responseTokenCount": "30", "totalTokenCount": "150"}
        )

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    first = await call.next_event("transcript")
    # Captions in progress carry the utterance so far, not just the newest fragment.
    assert first == {"type": "transcript", "role": "user", "text": "Where is my ", "final": False}
    second = await call.next_event("transcript")
    assert second == {
        "type": "transcript", "role": "user", "text": "Where is my biryani?", "final": False
    }  # fmt: skip
    await call.next_event("turn_complete")

    finals = [
        (e["role"], e["text"]) for e in call.events if e["type"] == "transcript" and e["final"]
    ]
    assert finals == [("user", "Where is my biryani?"), ("agent", "Let me check that for you.")]
    await call.leave()
    record = await wait_until_ended(ready["call_id"])
    assert [(line["role"], line["text"]) for line in record["transcript"]] == finals
    assert record["usage"]["prompt_token_count"] == 120
    assert record["usage"]["total_token_count"] == 150


def orders_read_out(count: int) -> str:
    """What an agent reading a long order history aloud says: `count` sentences."""
    return " ".join(
        f"Order ORD-{1000 + n} from Biryani House came to {200 + n} rupees and was delivered."
        for n in range(count)
    )


async def test_a_long_agent_turn_costs_the_page_in_proportion_to_its_length(
    asha: Customer, live: FakeLiveServer
) -> None:
    """Each caption in progress carries its line so far: a line as long as the whole turn
    would cost the socket the square of the turn's length."""
    short, long = orders_read_out(25), orders_read_out(50)

    @live.on_session
    async def agent(session: FakeSession) -> None:
        for turn in (short, long):
            for start in range(0, len(turn), 5):  # the transcription comes a few letters at a time
                await session.send_transcript("agent", turn[start : start + 5])
            await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete", timeout=15)
    short_cost = call.event_bytes["transcript"]
    said_first = len(call.events)
    await call.next_event("turn_complete", timeout=15)
    long_cost = call.event_bytes["transcript"] - short_cost

    assert long_cost < 2.5 * short_cost  # twice the words, twice the bytes (not four times)
    captions = [e for e in call.events[said_first:] if e["type"] == "transcript"]
    lines = [caption["text"] for caption in captions if caption["final"]]
    assert " ".join(lines) == long  # every word, in order, each line cut after a sentence
    assert all(line.endswith("delivered.") for line in lines)
    await call.send({"type": "end"})
    record = await wait_until_ended(ready["call_id"])
    assert [line["text"] for line in record["transcript"]][-len(lines) :] == lines


async def test_interrupted_is_forwarded_to_the_page_before_the_turn_ends(
    asha: Customer, live: FakeLiveServer
) -> None:
    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_audio(speech(0.2, 24_000), chunk_ms=20)
        await session.send_interrupted()
        await session.send_turn_complete()

    call = await BrowserCall.open()
    await call.next_event("ready")
    await call.next_event("interrupted")
    await call.next_event("turn_complete")
    kinds = [e["type"] for e in call.events]
    assert kinds.index("interrupted") < kinds.index("turn_complete")


async def test_a_barge_in_keeps_the_transcript_in_the_order_it_was_said(
    asha: Customer, live: FakeLiveServer
) -> None:
    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_transcript("agent", "Your refund of one hundred")
        await session.send_transcript("user", "No, wait")  # she talks over the agent
        await session.send_interrupted()
        await session.send_transcript("user", ", it was the other order.")
        await session.send_turn_complete()
        await session.send_transcript("agent", "Sorry, which one?")
        await session.send_turn_complete()
        await session.send_transcript("agent", "I can refund ORD-1001 for")
        await session.wait_for_text()  # she types over the agent this time
        await session.send_interrupted()
        await session.send_transcript("agent", "Understood.")
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete")
    await call.next_event("turn_complete")
    await call.send({"type": "text", "text": "Yes, that one!"})
    await call.next_event("turn_complete")
    await call.send({"type": "end"})

    record = await wait_until_ended(ready["call_id"])
    assert [(line["role"], line["text"]) for line in record["transcript"]] == [
        ("agent", "Your refund of one hundred"),
        ("user", "No, wait, it was the other order."),
        ("agent", "Sorry, which one?"),
        ("agent", "I can refund ORD-1001 for"),
        ("user", "Yes, that one!"),
        ("agent", "Understood."),
    ]
    await call.leave()


async def test_what_the_page_sends_before_ready_reaches_the_model_in_order_once_it_listens(
    asha: Customer, live: FakeLiveServer
) -> None:
    live.setup_delay_s = 0.5
    early = speech(0.5, 16_000)
    call = await BrowserCall.open()

    await call.say(early)  # she starts at once, then pauses, then types
    await call.send({"type": "audio_end"})
    await call.send({"type": "text", "text": "Hello? Anyone there?"})
    await call.next_event("ready")
    session = await live.wait_for_session()

    assert await session.wait_for_audio(nbytes=len(early)) == early
    await session.wait_for_audio_stream_end()
    assert await session.wait_for_text() == "Hello? Anyone there?"
    audio_and_end = [m["realtimeInput"] for m in session.messages
                     if "audio" in m.get("realtimeInput", {})
                     or "audioStreamEnd" in m.get("realtimeInput", {})]  # fmt: skip
    assert "audioStreamEnd" in audio_and_end[-1]  # after the audio it ends
    assert [e["type"] for e in call.events] == ["ready"]  # nothing of it was an error
    await call.leave()


async def test_a_typed_message_and_audio_end_reach_the_model(
    asha: Customer, live: FakeLiveServer
) -> None:
    call = await BrowserCall.open()
    await call.next_event("ready")
    await call.send({"type": "text", "text": "I want a refund for ORD-1001"})
    await call.send({"type": "audio_end"})

    session = await live.wait_for_session()
    assert await session.wait_for_text() == "I want a refund for ORD-1001"
    await session.wait_for_audio_stream_end()
    await call.leave()


# --- tools ----------------------------------------------------------------------------------


async def run_tools(
    live: FakeLiveServer, calls: list[dict[str, Any]], answers: int | None = None
) -> tuple[BrowserCall, list[dict[str, Any]]]:
    """Have the model call tools; return the caller and the tool responses the model got."""
    responses: list[dict[str, Any]] = []

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_tool_call(calls)
        for _ in range(answers if answers is not None else len(calls)):
            responses.append(await session.wait_for_tool_response(timeout=10))
        await session.send_turn_complete()

    call = await BrowserCall.open()
    await call.next_event("ready")
    await call.next_event("turn_complete", timeout=15)
    return call, responses


async def test_each_read_tool_answers_the_model_with_its_call_id(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, responses = await run_tools(
        live,
        [
            {"name": "get_user_profile", "args": {}},
            {"name": "check_order_status", "args": {}},
            {"name": "get_order_details", "args": {"order_id": "ORD-1001"}},
        ],
    )
    by_name = {r["name"]: r for r in responses}
    assert set(by_name) == {"get_user_profile", "check_order_status", "get_order_details"}
    assert all(r["id"] for r in responses)
    assert by_name["get_user_profile"]["response"]["ok"] is True
    assert by_name["get_order_details"]["response"]["ok"] is True
    tool_events = [e for e in call.events if e["type"] == "tool"]
    assert [e["status"] for e in tool_events].count("started") == 3
    assert [e["status"] for e in tool_events].count("done") == 3
    await call.leave()


async def test_a_refusal_is_done_and_a_tool_that_errors_is_failed_on_the_page(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Contract section 3: `done` when the tool ran, whatever its answer; `failed` when it
    errored."""

    async def broken(ctx: ToolContext, **args: str) -> dict[str, Any]:
        raise KeyError("wallet_balance")  # a bug in the tool

    real = registry.TOOLS["get_user_profile"]
    monkeypatch.setitem(registry.TOOLS, "get_user_profile", replace(real, run=broken))

    call, responses = await run_tools(
        live,
        [
            {"name": "get_user_profile", "args": {}},
            {"name": "get_order_details", "args": {"order_id": "ORD-NONE"}},
        ],
    )

    tool_events = [e for e in call.events if e["type"] == "tool"]
    finished = {e["name"]: e for e in tool_events if e["status"] != "started"}
    assert finished["get_order_details"]["status"] == "done"
    assert finished["get_order_details"]["result"]["reason"] == "not_found"
    assert finished["get_user_profile"]["status"] == "failed"
    assert finished["get_user_profile"]["result"]["ok"] is False
    assert {r["name"]: r["response"]["ok"] for r in responses} == {
        "get_user_profile": False, "get_order_details": False,
    }  # fmt: skip
    await call.leave()


async def test_a_refund_through_the_bridge_credits_the_wallet_once(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, responses = await run_tools(
        live, [{"name": "initiate_refund", "args": {"order_id": "ORD-1001", "reason": "cold food"}}]
    )
    answer = responses[0]["response"]
    assert answer["ok"] is True
    db = mongo.async_db()
    assert await db.refunds.count_documents({"order_id": "ORD-1001"}) == 1
    customer = await db.customers.find_one({"user_id": 101})
    assert customer is not None and customer["wallet_balance"] == 16_875  # 50% of ₹337.50
    done = [e for e in call.events if e["type"] == "tool" and e["status"] == "done"]
    assert done[0]["name"] == "initiate_refund" and done[0]["result"]["ok"] is True
    await call.leave()


async def test_twenty_parallel_refunds_in_one_tool_call_give_one_refund(
    asha: Customer, live: FakeLiveServer
) -> None:
    calls = [
        {"name": "initiate_refund", "args": {"order_id": "ORD-1001", "reason": f"attempt {n}"}}
        for n in range(20)
    ]
    call, responses = await run_tools(live, calls)

    assert len(responses) == 20 and len({r["id"] for r in responses}) == 20
    outcomes = sorted(r["response"].get("reason", "refunded") for r in responses)
    assert outcomes == ["already_refunded"] * 19 + ["refunded"]
    db = mongo.async_db()
    assert await db.refunds.count_documents({"order_id": "ORD-1001"}) == 1
    customer = await db.customers.find_one({"user_id": 101})
    assert customer is not None and customer["wallet_balance"] == 16_875
    await call.leave()


async def test_identical_repeated_calls_are_run_once_and_answered_for_each_id(
    asha: Customer, live: FakeLiveServer
) -> None:
    same = {"name": "get_order_details", "args": {"order_id": "ORD-1001"}}
    call, responses = await run_tools(live, [same, same])

    assert len({r["id"] for r in responses}) == 2
    assert responses[0]["response"] == responses[1]["response"]
    started = [e for e in call.events if e["type"] == "tool" and e["status"] == "started"]
    assert len(started) == 1
    ready = next(e for e in call.events if e["type"] == "ready")
    await call.leave()
    record = await wait_until_ended(ready["call_id"])
    assert len(record["tool_calls"]) == 1
    assert len(record["tool_calls"][0]["call_ids"]) == 2


async def test_complaint_and_escalation_through_the_bridge(
    asha: Customer, live: FakeLiveServer
) -> None:
    from channels.layers import get_channel_layer

    from support.events import ESCALATIONS_GROUP

    staff_queue = get_channel_layer()
    assert staff_queue is not None
    listener = await staff_queue.new_channel()
    await staff_queue.group_add(ESCALATIONS_GROUP, listener)

    call, responses = await run_tools(
        live,
        [
            {"name": "file_complaint", "args": {"order_id": "ORD-1001", "category": "food_quality",
                                                "description": "The biryani was cold"}},
            {"name": "escalate_to_human", "args": {"reason": "Customer asked for a person",
                                                   "priority": "high"}},
        ],
    )
    by_name = {r["name"]: r["response"] for r in responses}
    db = mongo.async_db()
    complaint = await db.complaints.find_one({"user_id": 101})
    assert complaint is not None and complaint["category"] == "food_quality"
    ticket = await db.escalations.find_one({"ticket_id": by_name["escalate_to_human"]["ticket_id"]})
    assert ticket is not None and ticket["status"] == "open" and ticket["priority"] == "high"
    escalated = [e for e in call.events if e["type"] == "escalated"]
    assert escalated == [{"type": "escalated", "ticket_id": ticket["ticket_id"]}]
    assert ticket["call_id"] == next(e for e in call.events if e["type"] == "ready")["call_id"]
    announced = await asyncio.wait_for(staff_queue.receive(listener), 5)
    assert announced["ticket"]["ticket_id"] == ticket["ticket_id"]
    assert announced["ticket"]["priority"] == "high"
    await call.leave()


async def test_the_model_cannot_act_for_another_customer(
    asha: Customer, live: FakeLiveServer
) -> None:
    ravi = await Customer.objects.acreate(user_id=202, name="Ravi Kumar", phone="+919800000202")
    await asyncio.to_thread(lambda: make_order(
        ravi, "ORD-2001", status="delivered", amount=48_000,
        placed_hours_ago=1, delivered_hours_ago=0.3,
    ))  # fmt: skip
    call, responses = await run_tools(
        live,
        [{"name": "initiate_refund",
          "args": {"order_id": "ORD-2001", "reason": "x", "user_id": 202}}],
    )
    assert responses[0]["response"]["ok"] is False
    assert await mongo.async_db().refunds.count_documents({}) == 0
    await call.leave()


async def test_a_cancelled_tool_call_is_not_answered_but_is_recorded(
    asha: Customer, live: FakeLiveServer
) -> None:
    @live.on_session
    async def agent(session: FakeSession) -> None:
        # The call and its cancellation in one frame: the bridge sees both before the tool runs.
        await session.send_raw(json.dumps({
            "toolCall": {"functionCalls": [{"id": "fc-1", "name": "get_user_profile", "args": {}}]},
            "toolCallCancellation": {"ids": ["fc-1"]},
        }))
        await asyncio.sleep(0.5)
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete")
    assert live.session.tool_responses == []
    await call.leave()
    record = await wait_until_ended(ready["call_id"])
    assert record["tool_calls"][0]["name"] == "get_user_profile"
    assert record["tool_calls"][0]["cancelled"] == ["fc-1"]


async def test_a_tool_still_running_when_the_caller_leaves_completes_and_is_recorded(
    asha: Customer, live: FakeLiveServer
) -> None:
    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_tool_call(
            [{"name": "initiate_refund", "args": {"order_id": "ORD-1001", "reason": "late"}}]
        )

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("tool")  # started
    await call.leave()

    record = await wait_until_ended(ready["call_id"])
    assert record["end_reason"] == "caller_left"
    assert [t["name"] for t in record["tool_calls"]] == ["initiate_refund"]
    assert record["tool_calls"][0]["ok"] is True
    assert await mongo.async_db().refunds.count_documents({"order_id": "ORD-1001"}) == 1


async def test_a_tool_still_running_when_the_model_reconnects_is_told_to_the_resumed_session(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldTool(monkeypatch, "check_order_status", {"orders": [{"order_id": "ORD-1001"}]})

    @live.on_session
    async def drops_while_the_tool_runs(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("h-1")
            await session.send_tool_call([{"name": "check_order_status"}])
            await held.started.wait()
            await session.drop()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("resumed")
    held.released.set()
    resumed = await live.wait_for_session(1)

    # The resumed session never made that call: it hears the result as a note, not as an
    # answer to a call id it does not know (which the Live API refuses, closing with 1007).
    told = await resumed.wait_for_note()
    assert "check_order_status" in told and "ORD-1001" in told
    assert resumed.client_contents[-1]["turnComplete"] is True
    assert resumed.tool_responses == [] and not resumed.closed
    await call.send({"type": "end"})
    record = await wait_until_ended(ready["call_id"])
    assert [(c["name"], c["ok"]) for c in record["tool_calls"]] == [("check_order_status", True)]
    assert len(live.sessions) == 2


async def test_a_lookup_after_a_refund_in_the_same_turn_sees_the_refund(
    asha: Customer, live: FakeLiveServer
) -> None:
    look = {"name": "get_order_details", "args": {"order_id": "ORD-1001"}}
    answers: list[dict[str, Any]] = []

    @live.on_session
    async def agent(session: FakeSession) -> None:
        for calls in ([look], [{"name": "initiate_refund",
                                "args": {"order_id": "ORD-1001", "reason": "cold"}}], [look]):
            await session.send_tool_call(calls)
            answers.append((await session.wait_for_tool_response())["response"])
        await session.send_turn_complete()

    call = await BrowserCall.open()
    await call.next_event("turn_complete")

    before, refund, after = answers
    assert before["status"] == "delivered" and refund["ok"] is True
    assert after["status"] == "refunded"
    assert after["refund"]["refund_id"] == refund["refund_id"]
    await call.leave()


async def test_asking_again_after_unavailable_in_the_same_turn_runs_the_tool_again(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = registry.TOOLS["get_user_profile"]
    runs: list[int] = []

    async def down_once(ctx: ToolContext, **args: str) -> dict[str, Any]:
        runs.append(1)
        if len(runs) == 1:
            raise ServerSelectionTimeoutError("no servers")
        return await real.run(ctx, **args)

    monkeypatch.setitem(registry.TOOLS, "get_user_profile", replace(real, run=down_once))
    answers: list[dict[str, Any]] = []

    @live.on_session
    async def agent(session: FakeSession) -> None:
        for _ in range(2):
            await session.send_tool_call([{"name": "get_user_profile", "args": {}}])
            answers.append((await session.wait_for_tool_response())["response"])
        await session.send_turn_complete()

    call = await BrowserCall.open()
    await call.next_event("turn_complete")

    assert [a.get("reason", "ok") for a in answers] == ["unavailable", "ok"]
    assert answers[1]["name"] == "Asha Verma"
    # The page is told the first timed out (contract section 3: `failed`), and why.
    shown = [(e["status"], e["result"].get("reason", "ok")) for e in call.events
             if e["type"] == "tool" and e["status"] != "started"]  # fmt: skip
    assert shown == [("failed", "unavailable"), ("done", "ok")]
    await call.leave()


def slow_down(monkeypatch: pytest.MonkeyPatch, name: str, seconds: float) -> None:
    """The real tool `name`, starting `seconds` late."""
    real = registry.TOOLS[name]

    async def run(ctx: ToolContext, **args: str) -> dict[str, Any]:
        await asyncio.sleep(seconds)
        return await real.run(ctx, **args)

    monkeypatch.setitem(registry.TOOLS, name, replace(real, run=run))


async def test_a_refund_past_the_answer_deadline_is_told_to_the_model_when_it_lands(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tool_dispatch, "ANSWER_DEADLINE_S", 0.2)
    slow_down(monkeypatch, "initiate_refund", 0.5)
    heard: list[Any] = []

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_tool_call(
            [{"name": "initiate_refund", "args": {"order_id": "ORD-1001", "reason": "cold"}}]
        )
        heard.append((await session.wait_for_tool_response())["response"])
        heard.append(await session.wait_for_note())
        heard.append(session.client_contents[-1]["turnComplete"])
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete")

    first, note, answered = heard
    refund = await mongo.async_db().refunds.find_one({"order_id": "ORD-1001"})
    assert refund is not None
    assert first["reason"] == "unavailable"
    assert refund["refund_id"] in note and "168.75" in note and answered is True
    done = [e for e in call.events if e["type"] == "tool" and e["status"] != "started"]
    assert [(e["status"], e["result"]["ok"]) for e in done] == [("done", True)]
    await call.leave()
    entry = (await wait_until_ended(ready["call_id"]))["tool_calls"][0]
    assert (entry["ok"], entry["late"], entry["result"]["refund_id"]) == (
        True, True, refund["refund_id"],
    )  # fmt: skip


async def test_a_cancelled_refund_that_was_made_anyway_is_told_to_the_model(
    asha: Customer, live: FakeLiveServer
) -> None:
    notes: list[str] = []

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        # The caller barged in: the call is cancelled before the bridge even starts it.
        await session.send_raw(json.dumps({
            "toolCall": {"functionCalls": [{"id": "fc-1", "name": "initiate_refund",
                                            "args": {"order_id": "ORD-1001", "reason": "x"}}]},
            "toolCallCancellation": {"ids": ["fc-1"]},
        }))  # fmt: skip
        notes.append(await session.wait_for_note())
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete")

    refund = await mongo.async_db().refunds.find_one({"order_id": "ORD-1001"})
    assert refund is not None and refund["refund_id"] in notes[0]
    assert live.session.tool_responses == []
    assert live.session.client_contents[-1]["turnComplete"] is False  # said when it fits
    await call.leave()
    entry = (await wait_until_ended(ready["call_id"]))["tool_calls"][0]
    assert (entry["ok"], entry["cancelled"]) == (True, ["fc-1"])


# --- resumption -----------------------------------------------------------------------------


async def test_go_away_resumes_with_the_latest_handle_and_the_call_goes_on(
    asha: Customer, live: FakeLiveServer
) -> None:
    async def first(session: FakeSession) -> None:
        await session.send_resumption_update("handle-1")
        await session.send_resumption_update("handle-2")
        await session.send_go_away(time_left="10s")

    async def second(session: FakeSession) -> None:
        await session.wait_for_audio(seconds=0.2)
        await session.send_audio(speech(0.1, 24_000), chunk_ms=20)

    live.on_session(first, second)
    call = await BrowserCall.open()
    await call.next_event("ready")
    await call.next_event("reconnecting")
    await call.next_event("resumed")
    await call.say(speech(0.2, 16_000))
    await call.wait_for_audio(4800)

    resumed = await live.wait_for_session(1)
    assert resumed.resumed_handle == "handle-2"
    assert live.sessions[0].closed
    assert call.close_code is None
    await call.leave()


async def test_what_she_types_while_the_session_resumes_reaches_the_model_after_her_speech(
    asha: Customer, live: FakeLiveServer
) -> None:
    async def first(session: FakeSession) -> None:
        await session.send_resumption_update("handle-1")
        await session.drop()

    async def second(session: FakeSession) -> None:
        pass

    live.on_session(first, second)
    live.setup_delay_s = 0.5  # the session takes a moment to come back: she goes on meanwhile
    call = await BrowserCall.open()
    await call.next_event("ready")
    await call.next_event("reconnecting")
    spoken = speech(0.5, 16_000)
    await call.say(spoken)
    await call.send({"type": "text", "text": "It's ORD-1001"})
    await call.next_event("resumed")

    resumed = await live.wait_for_session(1)
    assert await resumed.wait_for_text() == "It's ORD-1001"
    assert resumed.audio == spoken
    heard = ["text" if "text" in m["realtimeInput"] else "audio"
             for m in resumed.messages if "realtimeInput" in m]  # fmt: skip
    assert heard == ["audio"] * (len(heard) - 1) + ["text"]
    await call.leave()


async def test_an_abrupt_drop_is_resumed_without_ending_the_call(
    asha: Customer, live: FakeLiveServer
) -> None:
    async def first(session: FakeSession) -> None:
        await session.send_resumption_update("handle-9")
        await session.drop()

    async def second(session: FakeSession) -> None:
        await session.send_transcript("agent", "Sorry, I'm back.", finished=True)

    live.on_session(first, second)
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("reconnecting")
    await call.next_event("resumed")
    caption = await call.next_event("transcript")
    assert caption["text"] == "Sorry, I'm back."
    assert (await live.wait_for_session(1)).resumed_handle == "handle-9"
    await call.leave()
    record = await wait_until_ended(ready["call_id"])
    assert record["end_reason"] == "caller_left"


@pytest.mark.parametrize("code", [1000, 1001, 1008, 1011, 1013, 4000])
async def test_whatever_code_the_live_api_closes_with_mid_call_the_call_is_resumed(
    asha: Customer, live: FakeLiveServer, code: int
) -> None:
    async def closes(session: FakeSession) -> None:
        await session.send_resumption_update("handle-1")
        await session.close(code, "Requested entity was not found.")

    async def back(session: FakeSession) -> None:
        await session.send_transcript("agent", "Sorry, I'm back.", finished=True)

    live.on_session(closes, back)
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("reconnecting")
    await call.next_event("resumed")
    assert (await call.next_event("transcript"))["text"] == "Sorry, I'm back."

    assert (await live.wait_for_session(1)).resumed_handle == "handle-1"
    await call.send({"type": "end"})
    assert (await wait_until_ended(ready["call_id"]))["end_reason"] == "caller_hung_up"
    await no_session_left_open(live)


async def test_a_drop_before_any_handle_starts_the_model_afresh_told_the_conversation(
    asha: Customer, live: FakeLiveServer
) -> None:
    async def first(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_transcript("agent", "Hello, I'm the support assistant.", finished=True)
        await session.send_turn_complete()
        await session.wait_for_text()
        await session.drop()  # before it ever gave a resumable handle

    async def second(session: FakeSession) -> None:
        pass

    live.on_session(first, second)
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete")
    await call.send({"type": "text", "text": "My parcel never came."})
    await call.next_event("resumed")
    fresh = await live.wait_for_session(1)
    told = await fresh.wait_for_note()

    # The customer spoke last: the fresh session answers her, without a second greeting.
    assert fresh.resumed_handle is None
    assert told.endswith("give it.]") and "Greet" not in told
    assert "You: Hello, I'm the support assistant.\nCustomer: My parcel never came." in told
    assert fresh.client_contents[0]["turnComplete"] is True
    await call.send({"type": "end"})
    await wait_until_ended(ready["call_id"])


async def test_a_fresh_model_after_sessions_that_failed_in_a_row_is_told_the_conversation_once(
    asha: Customer, live: FakeLiveServer
) -> None:
    async def first(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_transcript("user", "My parcel never came.", finished=True)
        await session.drop()  # before it ever gave a resumable handle

    async def flaky(session: FakeSession) -> None:
        await session.close(1011, "Internal error encountered.")  # right after its setup

    async def steady(session: FakeSession) -> None:
        pass

    live.on_session(first, flaky, flaky, steady)
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    fresh = await live.wait_for_session(3)
    told = await fresh.wait_for_note()
    await asyncio.sleep(0.3)

    assert "Customer: My parcel never came." in told
    assert fresh.notes == [told]
    await call.send({"type": "end"})
    await wait_until_ended(ready["call_id"])


async def test_after_the_retry_cap_the_caller_is_told_a_ticket_opened_and_the_call_ended(
    asha: Customer, live: FakeLiveServer
) -> None:
    async def broken(session: FakeSession) -> None:
        await session.close(1011, "Internal error encountered.")

    live.on_session(broken)
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    escalated = await call.next_event("escalated", timeout=10)
    error = await call.next_event("error")
    ended = await call.next_event("ended")

    assert error["code"] == "agent_unavailable" and escalated["ticket_id"] in error["message"]
    assert ended == {"type": "ended", "reason": "agent_unavailable"}
    assert await call.wait_closed() == 1000
    ticket = await mongo.async_db().escalations.find_one({"ticket_id": escalated["ticket_id"]})
    assert ticket is not None and ticket["user_id"] == 101
    # The queue shows the reason to staff: in words, not the bridge's code for the failure.
    assert ticket["reason"] == ("The voice agent became unavailable during the call (the AI "
                                "service stopped answering).")  # fmt: skip
    record = await wait_until_ended(ready["call_id"])
    assert record["end_reason"] == "agent_unavailable"
    # What is left to do after the call names it (postcall/summary.py), though no tool did.
    assert record["agent_unavailable_ticket"] == escalated["ticket_id"]


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\x01\x02\x03", "odd_length"),
        (b"\x00" * (64 * 1024 + 2), "frame_too_large"),
        ("this is not json", "bad_json"),
        ('{"type": "dance"}', "unknown_type"),
        (json.dumps({"type": "text", "text": "x" * 9000}), "frame_too_large"),
    ],
    ids=["odd length", "binary too large", "bad json", "unknown type", "text too large"],
)
async def test_a_bad_frame_gets_an_error_and_the_call_goes_on(
    asha: Customer, live: FakeLiveServer, frame: bytes | str, code: str
) -> None:
    call = await BrowserCall.open()
    await call.next_event("ready")
    if isinstance(frame, bytes):
        await call.communicator.send_to(bytes_data=frame)
    else:
        await call.send(frame)
    error = await call.next_event("error")
    assert error["code"] == code and error["message"]

    good = speech(0.1, 16_000)
    await call.say(good)
    session = await live.wait_for_session()
    received = await session.wait_for_audio(nbytes=len(good))
    assert received.endswith(good)
    await call.leave()


async def test_hanging_up_ends_the_call_and_tears_everything_down(
    asha: Customer, live: FakeLiveServer
) -> None:
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.send({"type": "end"})
    ended = await call.next_event("ended")
    assert ended["reason"] == "caller_hung_up"
    assert await call.wait_closed() == 1000
    await live.session.wait_closed(timeout=5)
    record = await wait_until_ended(ready["call_id"], timeout=5)
    assert record["end_reason"] == "caller_hung_up"
    # Its after-call work (the summary, written once the record is) ends too: nothing is left.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            while tasks_of(ready["call_id"]):
                await asyncio.sleep(0.02)
    assert tasks_of(ready["call_id"]) == []


def tasks_of(call_id: str) -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if call_id in task.get_name()]


# --- what the bridge puts on the wire equals what Google's SDK would ------------------------


async def test_the_bridge_setup_equals_the_sdk_setup_for_the_same_config(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    from realtime.instructions import system_instruction
    from realtime.tests.test_live_sdk_proof import sdk_client, sdk_config
    from support.tools import function_declarations

    call = await BrowserCall.open()
    await call.next_event("ready")
    bridge_setup = live.sessions[0].setup
    await call.leave()

    config = sdk_config(
        declarations=function_declarations(),
        instructions=system_instruction("Asha"),
        voice=settings.GEMINI_VOICE,
    )
    async with sdk_client(live).aio.live.connect(model=settings.GEMINI_LIVE_MODEL, config=config):
        pass

    sdk_setup = live.sessions[-1].setup
    assert bridge_setup == sdk_setup
