"""The call's link to the staff listening in (livestaff/link.py), on the channel layer the
settings configure: audio that queued while the layer was slow travels together, in order,
a staff member holding the call is not sent their own voice back, and their microphone
goes to the call as fast as the layer allows, never further behind than a second."""

from __future__ import annotations

import asyncio

from channels.layers import BaseChannelLayer, get_channel_layer

from livestaff.link import BATCH_FRAMES, StaffLink, StaffVoice
from livestaff.protocol import CUSTOMER, HUMAN


def the_layer() -> BaseChannelLayer:
    layer = get_channel_layer()
    assert layer is not None
    return layer


async def received(channel: str) -> list[bytes]:
    message = await asyncio.wait_for(the_layer().receive(channel), timeout=5)
    assert message["type"] == "live.audio"
    return list(message["frames"])


async def test_frames_waiting_for_one_listener_travel_as_one_message_in_order() -> None:
    layer = the_layer()
    meera = await layer.new_channel()
    link = StaffLink("CALL-link-1")
    link.listeners[meera] = "meera"
    frames = [bytes([n]) * 640 for n in range(BATCH_FRAMES + 3)]
    for frame in frames:  # queued before the sender runs, as when a round trip lags
        link.audio(CUSTOMER, frame)

    link.start()
    try:
        first, second = await received(meera), await received(meera)
    finally:
        await link.close()

    assert first == [CUSTOMER + f for f in frames[:BATCH_FRAMES]]
    assert second == [CUSTOMER + f for f in frames[BATCH_FRAMES:]]
    assert link.dropped == 0


async def test_the_holder_hears_the_customer_but_not_their_own_voice() -> None:
    layer = the_layer()
    arjun, meera = await layer.new_channel(), await layer.new_channel()
    link = StaffLink("CALL-link-2")
    link.listeners.update({arjun: "arjun", meera: "meera"})
    link.start()
    try:
        link.audio(HUMAN, b"\x01\x00" * 320, speaker="arjun")
        link.audio(CUSTOMER, b"\x02\x00" * 320)

        assert await received(meera) == [HUMAN + b"\x01\x00" * 320, CUSTOMER + b"\x02\x00" * 320]
        assert await received(arjun) == [CUSTOMER + b"\x02\x00" * 320]
    finally:
        await link.close()


async def test_a_staff_microphone_reaches_the_call_in_one_message_per_round_trip() -> None:
    call = await the_layer().new_channel()

    async def carrier() -> str:
        return call

    voice = StaffVoice("CALL-link-3", "arjun", "page-1", carrier)
    frames = [bytes([n, 0]) * 320 for n in range(1, 4)]
    try:
        for frame in frames:  # arrived while the last message was still on its way
            voice.put(frame)
        message = await asyncio.wait_for(the_layer().receive(call), timeout=5)
    finally:
        await voice.close()

    assert message == {"type": "staff.audio", "call_id": "CALL-link-3", "pcm": b"".join(frames),
                       "staff": "arjun", "page": "page-1"}  # fmt: skip


async def test_a_staff_microphone_keeps_at_most_a_second_waiting() -> None:
    call = await the_layer().new_channel()

    async def carrier() -> str:
        return call

    voice = StaffVoice("CALL-link-4", "arjun", "page-1", carrier)
    try:
        for n in range(100):  # two seconds of 20 ms frames, before the sender ran at all
            voice.put(bytes([n % 256, 0]) * 320)
        message = await asyncio.wait_for(the_layer().receive(call), timeout=5)
    finally:
        await voice.close()

    assert len(message["pcm"]) == 32_000 and voice.dropped_bytes == 32_000
    assert message["pcm"][-640:] == bytes([99, 0]) * 320  # the newest is what is kept


async def test_a_page_saying_it_still_listens_is_listed_again_only_if_taken_for_gone() -> None:
    """A page's "still listening" beat can cross its own `listen` on the way (the `listen`,
    then changing nothing, would not be on the call's record) or follow its `unlisten` (it
    would hear the call again): neither lists it. Only a page the call took for gone, not
    heard from, is back by its beat."""
    link = StaffLink("CALL-link-5")
    assert not link.still_listening("page-1", "meera")  # before its `listen`
    link.listen("page-1", "meera")
    link.unlisten("page-1")
    assert not link.still_listening("page-1", "meera")  # after its `unlisten`
    assert link.listening() == []

    link.listen("page-1", "meera")
    assert link.drop_unheard_listeners(silent_s=-1.0) == ["meera"]
    assert link.listening() == []
    assert link.still_listening("page-1", "meera")  # back
    assert link.listening() == ["meera"]
    assert not link.still_listening("page-1", "meera")  # listed already: nothing new
