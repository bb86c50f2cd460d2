"""Contract section 8 (staff on live calls), sentence by sentence where no other test proved
it, and what a hostile or confused staff page does to a call: over the real ASGI app, the
real database and the fake Live API, as test_staff_on_a_call.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from livestaff.on_call import HOLDER_NOT_ALLOWED, HOLDER_NOT_ALLOWED_MESSAGE
from livestaff.tests.test_review_nokey_callback import arjun_calls_asha_back, finished, no_key
from livestaff.tests.test_staff_on_a_call import (
    AGENT_GROUP,
    LEAD_GROUP,
    StaffPage,
    _set_groups,
    a_call,
    held_by_arjun,
    quick_rechecks,
)
from realtime.call_session import AUDIO_BURST_S, CallSession
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.phone_harness import said_then_hung_up, webhook
from realtime.tests.voice_harness import wait_until_ended
from support.models import Customer
from voiceproject.tests.signals import tone_pcm

__all__ = ["no_key", "quick_rechecks"]

pytestmark = pytest.mark.django_db(transaction=True)


# --- a holder who loses the take-over permission on a call with no agent --------------------


async def test_without_a_key_a_holder_who_may_no_longer_take_over_ends_the_call_and_is_not_heard(
    asha: Customer, no_key: list[Any], quick_rechecks: None, live: FakeLiveServer
) -> None:
    """Arjun, demoted while he talks to Asha on a callback he placed, may no longer hold the
    call, nor end it; with no agent to hand it back to, it ends, and she is told why."""
    phone, call_id, arjun = await arjun_calls_asha_back(asha)

    await sync_to_async(_set_groups)("arjun", AGENT_GROUP)  # listen and whisper only
    ended = await arjun.next_event("ended", timeout=5)
    before = len(phone.media())
    await arjun.speak(tone_pcm(440, 0.5, 16_000))
    await asyncio.sleep(0.3)

    assert ended["reason"] == HOLDER_NOT_ALLOWED
    assert not [e for e in arjun.events if e["type"] == "error"]  # no refusals, again and again
    assert await phone.wait_closed() == 1000
    assert len(phone.media()) - before <= 2  # his voice no longer reaches her
    record = await finished(call_id)
    assert record["end_reason"] == HOLDER_NOT_ALLOWED
    said = said_then_hung_up(await webhook("+911140001234", phone.call_sid,
                                           Direction="outbound-api", CallStatus="in-progress"))
    assert said == HOLDER_NOT_ALLOWED_MESSAGE
    await arjun.leave()
    await phone.leave()


# --- contract section 8, where no test proved a sentence ---------------------------------------


async def test_the_first_thing_a_staff_page_hears_is_the_calls_state_with_the_contracts_fields(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    divya = await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya")

    first = await divya.next_event("state")

    assert divya.events[0] is first
    assert {k: first[k] for k in ("call_id", "user_id", "channel", "mode", "staff")} == {
        "call_id": call_id, "user_id": 101, "channel": "web", "mode": "agent", "staff": None,
    }  # fmt: skip
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_an_agent_may_neither_hand_back_nor_end_a_call_a_lead_holds(
    asha: Customer, live: FakeLiveServer
) -> None:
    """`support.take_over_call` is needed to take over, hand back and end: Meera (an agent)
    crafting those actions is refused each time, and Arjun keeps the call."""
    call, call_id, _ = await held_by_arjun(live)
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state")

    refused = []
    for action in ({"type": "hand_back", "note": "mine now"},
                   {"type": "end_call", "reason": "bye"}, {"type": "take_over"}):  # fmt: skip
        await meera.send(action)
        refused.append((await meera.next_event("error"))["code"])

    assert refused == ["forbidden"] * 3
    session = CallSession.here(call_id)
    assert session is not None and (session.mode, session.holder_name) == ("human", "Arjun")
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [e["kind"] for e in record["staff_events"]] == ["take_over"]


async def test_a_microphone_frame_from_a_page_that_does_not_hold_the_call_reaches_nobody(
    asha: Customer, live: FakeLiveServer
) -> None:
    """Binary frames count only while taking over: a listener's (Meera, an agent) and a lead's
    who has not taken the call over (Divya) are dropped, not played to the customer."""
    call, call_id = await a_call(live)
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state")
    await meera.send({"type": "listen"})
    await meera.next_event("state", listeners=["meera"])
    divya = await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya")
    await divya.next_event("state")

    await meera.speak(tone_pcm(440, 1.0, 16_000))
    await divya.speak(tone_pcm(440, 1.0, 16_000))
    await asyncio.sleep(0.5)

    assert len(call.agent_audio) == 0 and not meera.audio[b"H"]
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_whisper_or_take_over_after_the_call_ended_is_refused_as_not_live(
    asha: Customer, live: FakeLiveServer
) -> None:
    """The lead was typing a whisper as the customer hung up: told the call is not live, and
    nothing is added to the ended call's record."""
    call, call_id = await a_call(live)
    divya = await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya")
    await divya.next_event("state")
    await call.send({"type": "end"})
    await divya.next_event("ended")
    await wait_until_ended(call_id)

    await divya.send({"type": "whisper", "text": "Offer a refund"})
    whisper = await divya.next_event("error")
    await divya.send({"type": "take_over"})
    take_over = await divya.next_event("error")

    assert (whisper["code"], take_over["code"]) == ("not_live", "not_live")
    assert (await wait_until_ended(call_id)).get("staff_events", []) == []


async def test_every_listen_whisper_take_over_hand_back_and_end_is_on_the_call_as_said(
    asha: Customer, live: FakeLiveServer
) -> None:
    """`calls.staff_events` `[{kind, staff, at, text?}]`: the text where the action had one
    (the whisper, the hand-back's note, the end's reason)."""
    call, call_id, arjun = await held_by_arjun(live)
    await arjun.send({"type": "listen"})
    await arjun.next_event("state", listeners=["arjun"])
    await arjun.send({"type": "whisper", "text": "Ask about the order"})
    await arjun.next_event("whisper")
    await arjun.send({"type": "hand_back", "note": "All yours"})
    await arjun.next_event("state", mode="agent")
    await arjun.send({"type": "end_call", "reason": "Sorted"})
    await arjun.next_event("ended")

    events = (await wait_until_ended(call_id))["staff_events"]

    assert [(e["kind"], e["staff"], e.get("text")) for e in events] == [
        ("take_over", "arjun", None), ("listen", "arjun", None),
        ("whisper", "arjun", "Ask about the order"), ("hand_back", "arjun", "All yours"),
        ("end_call", "arjun", "Sorted"),
    ]  # fmt: skip
    assert all(isinstance(e["at"], datetime) for e in events)


async def test_a_holders_microphone_reaches_the_customer_no_faster_than_real_time(
    asha: Customer, live: FakeLiveServer
) -> None:
    """A script on the holder's socket pushing ten seconds of audio in two and a half: the
    customer (and the listeners, and the recording) get it at real time, plus a short burst,
    as a caller's own audio reaches the model."""
    call, call_id, arjun = await held_by_arjun(live)
    await call.next_event("agent_changed")
    reader = asyncio.create_task(call.wait_for_audio(10**9, timeout=30))
    began = time.monotonic()
    pcm = tone_pcm(440, 10.0, 16_000)

    for start in range(0, len(pcm), 640):  # 20 ms frames, a fifth of a second at a time
        await arjun.communicator.send_to(bytes_data=pcm[start : start + 640])
        if start % 6400 == 0:
            await asyncio.sleep(0.04)
    await asyncio.sleep(0.5)

    heard_s = len(call.agent_audio) / 48_000
    assert heard_s <= AUDIO_BURST_S + (time.monotonic() - began)
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError, AssertionError):
        await reader
    await call.send({"type": "end"})
    await wait_until_ended(call_id)
