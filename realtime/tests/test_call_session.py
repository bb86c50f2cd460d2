"""CallSession's outbound queue: what a barge-in drops and what it keeps, and a socket that
closes under it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from autobahn.exception import Disconnected

from postcall import finish
from realtime import caller_events as ce
from realtime import live_protocol as lp
from realtime.call_session import CallSession, ending_calls_finished
from realtime.consumers import VoiceConsumer
from realtime.live_client import Reconnecting
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.voice_harness import call_record, wait_until_ended
from support.customers import CustomerRef
from support.models import Customer


class SilentCaller:
    async def deliver(self, item: ce.Delivery) -> None:
        raise AssertionError("nothing is delivered: the session was never started")

    async def hang_up(self) -> None:
        raise AssertionError("not expected")

    async def let_go(self) -> None:
        raise AssertionError("not expected")

    async def finish_before_moving(self) -> bool:
        raise AssertionError("not expected")

    def unheard(self) -> bool:
        raise AssertionError("not expected")


async def test_a_barge_in_drops_the_agent_audio_not_yet_sent_and_keeps_the_events() -> None:
    # Never started, so nothing drains the queue: it holds what a slow caller has not taken.
    session = CallSession(caller=SilentCaller(), customer=CustomerRef(7, "Asha"), channel="web")
    session._on_live_event(lp.AudioChunk(b"\x01\x00" * 480))
    session._on_live_event(lp.Transcript("agent", "Your order is ", finished=False))
    session._on_live_event(lp.AudioChunk(b"\x02\x00" * 480))

    session._on_live_event(lp.Interrupted())

    queued = list(session._outbox)
    assert not any(isinstance(item, ce.AgentAudio) for item in queued)
    assert [item.KIND for item in queued if not isinstance(item, ce.AgentAudio)] == [
        "transcript",  # the caption in progress
        "transcript",  # the same caption closed as final when the agent was cut off
        "interrupted",
    ]
    assert session._outbox.audio == 0


async def test_a_caller_that_cannot_keep_up_loses_the_oldest_agent_audio_only() -> None:
    from realtime.outbox import OUTBOUND_AUDIO_LIMIT

    session = CallSession(caller=SilentCaller(), customer=None, channel="phone")
    session._on_live_event(lp.TurnComplete())
    for n in range(OUTBOUND_AUDIO_LIMIT + 5):
        session._on_live_event(lp.AudioChunk(n.to_bytes(2, "little")))

    audio = [item.pcm24k for item in session._outbox if isinstance(item, ce.AgentAudio)]
    assert len(audio) == OUTBOUND_AUDIO_LIMIT
    assert audio[0] == (5).to_bytes(2, "little")  # the first five were dropped
    assert session.dropped_agent_chunks == 5
    events = [i for i in session._outbox if not isinstance(i, ce.AgentAudio)]
    assert events == [ce.TurnComplete()]


class NotesTaken:
    """Stands for the session's LiveClient: keeps the notes the session gives the model."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, bool]] = []

    def send_note(self, text: str, *, respond: bool = True) -> None:
        self.notes.append((text, respond))


async def test_tool_results_the_lost_connection_never_sent_are_told_as_a_note(
    settings: Any,
) -> None:
    """The resumed session never made the call, so the result cannot go as its answer: the
    model hears it as a note, once for the ids of one joined call."""
    settings.GEMINI_API_KEY = "test-key"  # a call with an agent to tell
    session = CallSession(caller=SilentCaller(), customer=CustomerRef(7, "Asha"), channel="web")
    live = NotesTaken()
    session._live = live  # type: ignore[assignment]
    refund = {"ok": True, "refund_id": "RF-123", "amount": 168.75}

    session._on_live_event(Reconnecting("closed 1011 Internal error encountered.", (
        lp.FunctionResponse("fc-1", "initiate_refund", refund),
        lp.FunctionResponse("fc-2", "initiate_refund", refund),  # asked twice, run once
    )))  # fmt: skip

    [(note, respond)] = live.notes
    assert "initiate_refund" in note and "RF-123" in note and respond


class ClosedSocket:
    """A caller whose socket closed under the session, before its disconnect arrived."""

    async def deliver(self, item: ce.Delivery) -> None:
        raise ConnectionResetError("the socket is closed")

    async def hang_up(self) -> None:
        pass

    async def let_go(self) -> None:
        pass

    async def finish_before_moving(self) -> bool:
        return False

    def unheard(self) -> bool:
        return False


@pytest.mark.django_db(transaction=True)
async def test_a_socket_closed_under_the_session_leaves_the_call_waiting_for_the_caller(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 30
    session = CallSession(caller=ClosedSocket(), customer=CustomerRef(asha.user_id, asha.name),
                          channel="web")  # fmt: skip
    await session.start()
    await live.wait_for_session()  # `ready` goes out, and fails

    async with asyncio.timeout(5):
        while session.attached:
            await asyncio.sleep(0.02)
        while (record := await call_record(session.call_id)).get("detached_at") is None:
            await asyncio.sleep(0.05)

    assert record["ended_at"] is None  # not ended as a server error: the page may come back
    await session.close("caller_left")
    assert (await call_record(session.call_id))["end_reason"] == "caller_left"


async def test_the_pages_consumer_reports_a_socket_closed_under_it_as_a_connection_error() -> None:
    # What daphne's autobahn raises when a frame goes to a socket that has just closed.
    async def closed(message: dict[str, Any]) -> None:
        raise Disconnected("Attempt to send on a closed protocol")

    consumer = VoiceConsumer()
    consumer.base_send = closed  # type: ignore[assignment]  # any ASGI send will do

    with pytest.raises(ConnectionError):
        await consumer.deliver(ce.AgentAudio(b"\x00\x00" * 480))
    with pytest.raises(ConnectionError):
        await consumer.deliver(ce.TurnComplete())


@pytest.mark.django_db(transaction=True)
async def test_a_call_still_ending_is_waited_for_before_the_database_client_closes(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At shutdown (voiceproject/lifecycle.py) the client closes after this wait: a call ending
    # then still writes its outcome, which comes last.
    written_by_finish = finish.finish_call

    async def slow_finish(*args: Any, **kwargs: Any) -> str | None:
        await asyncio.sleep(1.0)
        return await written_by_finish(*args, **kwargs)

    monkeypatch.setattr(finish, "finish_call", slow_finish)
    session = CallSession(caller=ClosedSocket(), customer=CustomerRef(asha.user_id, asha.name),
                          channel="web")  # fmt: skip
    await session.start()
    await live.wait_for_session()
    ending = asyncio.create_task(session.close("caller_left"))
    record = await wait_until_ended(session.call_id)

    assert await ending_calls_finished(timeout_s=5)
    assert "outcome" not in record
    assert (await call_record(session.call_id))["outcome"] == "abandoned"
    assert ending.done()
