"""What waits for a call's caller (realtime/outbox.py): bounded, in order, the agent's voice
dropped before any event."""

from realtime import caller_events as ce
from realtime.outbox import DETACHED_EVENT_LIMIT, OUTBOUND_AUDIO_LIMIT, Outbox


def _taken(outbox: Outbox) -> list[ce.Delivery]:
    items: list[ce.Delivery] = []
    while (item := outbox.take()) is not None:
        items.append(item)
    return items


def test_a_page_away_for_long_gets_the_latest_events_only() -> None:
    outbox = Outbox()
    for n in range(DETACHED_EVENT_LIMIT + 3):
        outbox.put(ce.Escalated(f"T{n}"), away=True)
    taken = _taken(outbox)
    assert len(taken) == DETACHED_EVENT_LIMIT
    assert taken[0] == ce.Escalated("T3")
    assert taken[-1] == ce.Escalated(f"T{DETACHED_EVENT_LIMIT + 2}")


def test_a_socket_coming_back_hears_ready_first_then_what_was_kept_for_it() -> None:
    outbox = Outbox()
    outbox.put(ce.AgentAudio(b"\x01\x00"))
    outbox.put(ce.TurnComplete())
    outbox.waiting.clear()
    outbox.put_first(ce.Ready("CALL-1", "token"), ce.Resumed())
    assert outbox.waiting.is_set()
    assert _taken(outbox) == [
        ce.Ready("CALL-1", "token"), ce.Resumed(), ce.AgentAudio(b"\x01\x00"), ce.TurnComplete(),
    ]  # fmt: skip
    assert outbox.audio == 0


def test_a_slow_caller_loses_the_oldest_audio_and_the_count_says_so() -> None:
    outbox = Outbox()
    for n in range(OUTBOUND_AUDIO_LIMIT + 2):
        outbox.put(ce.AgentAudio(n.to_bytes(2, "little")))
    assert (outbox.audio, outbox.dropped_audio) == (OUTBOUND_AUDIO_LIMIT, 2)
    outbox.drop_audio()
    assert (len(outbox), outbox.audio) == (0, 0)
