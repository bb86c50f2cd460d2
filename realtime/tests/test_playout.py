"""The phone playout on its own: what waits to be paced out to Twilio is bounded."""

from __future__ import annotations

from realtime.phone import playout
from realtime.phone.playout import Playout

SECOND_AT_24K = b"\x10\x00" * 24_000


async def test_a_flood_of_agent_audio_keeps_only_the_newest_thirty_seconds() -> None:
    sent: list[str] = []

    async def send(message: str) -> None:
        sent.append(message)

    out = Playout(send, "MZ1", lead_s=0.0)
    out.audio(SECOND_AT_24K)
    out.end_turn()  # a mark after the first second
    for _ in range(40):
        out.audio(SECOND_AT_24K)

    frames = [item for item in out._queue if isinstance(item, bytes)]
    marks = [item for item in out._queue if isinstance(item, str)]
    assert len(frames) <= playout.MAX_QUEUED_FRAMES
    assert out.dropped_frames >= 41 * 50 - playout.MAX_QUEUED_FRAMES - 50
    assert marks == ["turn-1"]  # kept, in order, so its echo still means "heard"
    await out.close()
