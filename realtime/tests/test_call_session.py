"""CallSession's outbound queue on its own: what a barge-in drops and what it keeps."""

from __future__ import annotations

from realtime import caller_events as ce
from realtime import live_protocol as lp
from realtime.call_session import CallSession
from support.customers import CustomerRef


class SilentCaller:
    async def deliver(self, item: ce.Delivery) -> None:
        raise AssertionError("nothing is delivered: the session was never started")

    async def hang_up(self) -> None:
        raise AssertionError("not expected")

    async def let_go(self) -> None:
        raise AssertionError("not expected")


async def test_a_barge_in_drops_the_agent_audio_not_yet_sent_and_keeps_the_events() -> None:
    # Never started, so nothing drains the queue: it holds what a slow caller has not taken.
    session = CallSession(caller=SilentCaller(), customer=CustomerRef(7, "Asha"), channel="web")
    session._on_live_event(lp.AudioChunk(b"\x01\x00" * 480))
    session._on_live_event(lp.Transcript("agent", "Your order is ", finished=False))
    session._on_live_event(lp.AudioChunk(b"\x02\x00" * 480))

    session._on_live_event(lp.Interrupted())

    queued = list(session._outbound)
    assert not any(isinstance(item, ce.AgentAudio) for item in queued)
    assert [item.KIND for item in queued if not isinstance(item, ce.AgentAudio)] == [
        "transcript",  # the caption in progress
        "transcript",  # the same caption closed as final when the agent was cut off
        "interrupted",
    ]
    assert session._outbound_audio == 0


async def test_a_caller_that_cannot_keep_up_loses_the_oldest_agent_audio_only() -> None:
    from realtime.call_session import OUTBOUND_AUDIO_LIMIT

    session = CallSession(caller=SilentCaller(), customer=None, channel="phone")
    session._on_live_event(lp.TurnComplete())
    for n in range(OUTBOUND_AUDIO_LIMIT + 5):
        session._on_live_event(lp.AudioChunk(n.to_bytes(2, "little")))

    audio = [item.pcm24k for item in session._outbound if isinstance(item, ce.AgentAudio)]
    assert len(audio) == OUTBOUND_AUDIO_LIMIT
    assert audio[0] == (5).to_bytes(2, "little")  # the first five were dropped
    assert session.dropped_agent_chunks == 5
    events = [i for i in session._outbound if not isinstance(i, ce.AgentAudio)]
    assert events == [ce.TurnComplete()]
