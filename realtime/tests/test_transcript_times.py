"""When each line of the conversation is dated on the call's record: when its words began
(its first caption), so the call page shows a long answer where it started; and the record
still reads in time order when the caption of the caller's words comes late."""

from __future__ import annotations

import asyncio

import pytest

from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import BrowserCall, speech, wait_until_ended
from support.models import Customer
from support.staff.conversation import conversation

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER_S = 1.5  # how long the agent's answer takes to say


async def test_a_long_answer_is_dated_when_the_agent_began_it(
    asha: Customer, live: FakeLiveServer
) -> None:
    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_transcript("agent", "Hello Asha, ")
        await asyncio.sleep(ANSWER_S)  # the rest of a long answer
        await session.send_transcript("agent", "how can I help today?")
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete")
    await call.send({"type": "text", "text": "Where is my order?"})  # kept as it is sent
    await live.session.wait_for_text()
    await call.send({"type": "end"})

    answer, question = (await wait_until_ended(ready["call_id"]))["transcript"]
    assert answer["text"] == "Hello Asha, how can I help today?"
    assert (question["at"] - answer["at"]).total_seconds() >= ANSWER_S - 0.2


async def test_a_late_caption_of_the_callers_words_keeps_the_record_in_time_order(
    asha: Customer, live: FakeLiveServer
) -> None:
    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_transcript("user", "Where is")
        await session.send_transcript("agent", "It is on its way, ")
        await asyncio.sleep(0.3)
        await session.send_transcript("user", " my order?")  # late, while the answer streams
        await session.send_audio(speech(0.2, 24_000))
        await session.send_transcript("agent", "arriving by noon.")
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete")
    await call.send({"type": "end"})

    record = await wait_until_ended(ready["call_id"])
    times = [line["at"] for line in record["transcript"]]
    assert times == sorted(times)
    read = conversation(record["started_at"], record["transcript"], record["tool_calls"])
    assert [(e.speaker, e.text) for e in read] == [
        ("customer", "Where is my order?"), ("agent", "It is on its way, arriving by noon."),
    ]  # fmt: skip
