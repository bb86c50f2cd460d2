"""Staff on a live call (contract section 8), one process: permissions, listening, a whisper
the customer never hears, taking over and handing back, one holder at a time, the audit on
the call, and the warm escalation. Across two workers: test_across_workers.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import logging.handlers
import os
import re
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pymongo
import pytest
from asgiref.sync import sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.test import Client
from prometheus_client import REGISTRY
from pymongo.errors import ServerSelectionTimeoutError

from continuity import calls as continuity_calls
from continuity import process
from livestaff import consumers as livestaff_consumers
from livestaff import on_call
from livestaff.board import briefings
from livestaff.protocol import CUSTOMER
from livestaff.tests.sockets import staff_socket
from postcall.logs import CallIdFilter
from postcall.observer import CallObserver
from realtime.call_controls import Action
from realtime.call_session import CallSession
from realtime.live_client import LiveClient
from realtime.phone import twilio_rest
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.slow_twilio import SlowTwilio
from realtime.tests.test_database_freeze import freeze
from realtime.tests.voice_harness import (
    BrowserCall,
    HeldTool,
    call_record,
    no_session_left_open,
    speech,
    wait_until_ended,
)
from realtime.transfer import Transfer
from support import mongo
from support.escalations import claim
from support.models import Customer
from support.staff import sockets
from voiceproject import draining
from voiceproject.draining import ProcessCalls
from voiceproject.tests.signals import dominant_hz, tone_pcm

pytestmark = pytest.mark.django_db(transaction=True)

AGENT_GROUP, LEAD_GROUP = "Support agent", "Support lead"


def _staff_cookie(username: str, group: str | None, first_name: str) -> str:
    user = User.objects.filter(username=username).first() or User.objects.create_user(
        username, is_staff=True, first_name=first_name
    )
    if group is not None:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return str(client.cookies["sessionid"].value)


class StaffPage:
    """A staff member's live call view, over the real ASGI app."""

    def __init__(self, communicator: WebsocketCommunicator, username: str = "") -> None:
        self.communicator = communicator
        self.username = username
        self.events: list[dict[str, Any]] = []
        self.audio: dict[bytes, bytearray] = {b"C": bytearray(), b"A": bytearray(),
                                              b"H": bytearray()}  # fmt: skip
        self.close_code: int | None = None

    @classmethod
    async def open(
        cls, call_id: str, username: str, group: str | None, first_name: str = "",
        query: str = "",
    ) -> StaffPage:
        cookie = await sync_to_async(_staff_cookie)(username, group, first_name)
        path = f"/ws/staff/calls/{call_id}" + (f"?{query}" if query else "")
        communicator = staff_socket(path, cookie)
        connected, code = await communicator.connect(timeout=5)
        page = cls(communicator, username)
        if not connected:
            page.close_code = int(code) if code is not None else None
        return page

    async def _receive(self, timeout: float) -> dict[str, Any] | None:
        message = await self.communicator.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", 1000)
            return None
        if message.get("bytes") is not None:
            self.audio[message["bytes"][:1]].extend(message["bytes"][1:])
            return {"type": "_audio"}
        event: dict[str, Any] = json.loads(message["text"])
        self.events.append(event)
        return event

    async def next_event(self, kind: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                event = await self._receive(timeout)
                if event is None:
                    raise AssertionError(f"closed ({self.close_code}) before {kind} {fields}")
                if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                    return event

    async def wait_for_audio(self, source: bytes, nbytes: int, timeout: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout):
            while len(self.audio[source]) < nbytes:
                if await self._receive(timeout) is None:
                    raise AssertionError("closed before the audio arrived")
        return bytes(self.audio[source])

    async def send(self, message: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def speak(self, pcm16k: bytes, frame: int = 640) -> None:
        for start in range(0, len(pcm16k), frame):
            await self.communicator.send_to(bytes_data=pcm16k[start : start + frame])

    async def until(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
                    ) -> None:  # fmt: skip
        """Until `done(events)` holds for the events received so far."""
        async with asyncio.timeout(timeout):
            while not done(self.events):
                if await self._receive(timeout) is None:
                    raise AssertionError(f"closed ({self.close_code})")

    async def take_over(self) -> dict[str, Any]:
        """Take the call over; answers the call's state once this page holds it."""
        await self.send({"type": "take_over"})
        return await self.next_event("state", mode="human", staff=self.username)

    async def leave(self) -> None:
        await self.communicator.disconnect(timeout=5)


async def a_call(live: FakeLiveServer) -> tuple[BrowserCall, str]:
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await live.wait_for_session()
    return call, str(ready["call_id"])


async def held_by_arjun(live: FakeLiveServer) -> tuple[BrowserCall, str, StaffPage]:
    """A call Arjun (a lead) has taken over: the customer's page, the call id, his page."""
    call, call_id = await a_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.take_over()
    return call, call_id, arjun


# --- who may do what -----------------------------------------------------------------------------


async def test_an_agent_may_listen_and_whisper_but_not_take_over(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")

    state = await meera.next_event("state")
    await meera.send({"type": "take_over"})
    refused = await meera.next_event("error")

    assert (state["call_id"], state["user_id"], state["mode"]) == (call_id, 101, "agent")
    assert refused["code"] == "forbidden"
    await meera.leave()
    await call.send({"type": "end"})


async def test_a_permission_taken_away_counts_on_a_page_already_open(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")

    def demote() -> None:
        user = User.objects.get(username="arjun")
        user.groups.clear()
        user.groups.add(Group.objects.get(name=AGENT_GROUP))

    await sync_to_async(demote)()  # no longer a lead: may listen, not take over
    await arjun.send({"type": "take_over"})
    refused = await arjun.next_event("error")

    assert refused["code"] == "forbidden"
    assert [e for e in call.events if e["type"] == "agent_changed"] == []
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


@pytest.fixture
def quick_rechecks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Open staff sockets ask for their user's permissions every 0.1 s (5 s in production)."""
    monkeypatch.setattr(sockets, "RECHECK_S", 0.1)


def _set_groups(username: str, *groups: str, active: bool = True) -> None:
    user = User.objects.get(username=username)
    user.groups.set(Group.objects.filter(name__in=groups))
    user.is_active = active
    user.save()


async def test_a_holder_who_may_no_longer_take_over_hands_back_at_once_and_is_not_heard(
    asha: Customer, live: FakeLiveServer, quick_rechecks: None
) -> None:
    """Without touching the page: the permission goes while Arjun talks to the customer."""
    call, call_id, arjun = await held_by_arjun(live)
    await call.next_event("agent_changed")

    await sync_to_async(_set_groups)("arjun", AGENT_GROUP)  # demoted to agent: listen only
    back = await call.next_event("agent_changed")
    heard = len(call.agent_audio)
    await arjun.speak(tone_pcm(440, 0.5, 16_000))
    await asyncio.sleep(0.3)

    assert back == {"type": "agent_changed", "mode": "agent"}
    assert len(call.agent_audio) == heard  # his voice no longer reaches her
    assert arjun.close_code is None  # he may still watch and listen
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [e["kind"] for e in record["staff_events"]] == ["take_over", "hand_back"]


async def test_a_lead_refused_a_take_over_then_demoted_leaves_a_colleagues_call_alone(
    asha: Customer, live: FakeLiveServer, quick_rechecks: None
) -> None:
    """Divya's take-over was refused (Arjun holds the call); losing the permission later
    hands back nothing: the call is Arjun's, not hers."""
    call, call_id, arjun = await held_by_arjun(live)
    await call.next_event("agent_changed")
    divya = await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya")
    await divya.next_event("state", mode="human", staff="arjun")
    await divya.send({"type": "take_over"})
    assert (await divya.next_event("error"))["code"] == "taken"

    await sync_to_async(_set_groups)("divya", AGENT_GROUP)
    await asyncio.sleep(0.5)  # her page has checked her permissions five times
    await arjun.send({"type": "whisper", "text": "still mine"})
    await arjun.next_event("state", mode="human", staff="arjun")

    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [(e["kind"], e["staff"]) for e in record["staff_events"]] == [
        ("take_over", "arjun"), ("whisper", "arjun")]  # fmt: skip
    assert [e["mode"] for e in call.events if e["type"] == "agent_changed"] == ["human"]


async def test_a_deactivated_account_loses_the_call_view_and_the_live_calls_page(
    asha: Customer, live: FakeLiveServer, quick_rechecks: None
) -> None:
    call, call_id = await a_call(live)
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state")
    await meera.send({"type": "listen"})
    cookie = await sync_to_async(_staff_cookie)("meera", None, "")
    live_page = staff_socket("/ws/staff/live", cookie)
    assert (await live_page.connect(timeout=5))[0]

    await sync_to_async(_set_groups)("meera", AGENT_GROUP, active=False)

    with pytest.raises(AssertionError, match=r"closed \(4403\)"):
        await meera.next_event("never", timeout=5)
    await meera.leave()  # as daphne does once the socket is closed
    async with asyncio.timeout(5):
        while (message := await live_page.receive_output(timeout=5))["type"] != "websocket.close":
            pass
    assert message["code"] == 4403
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert record["listeners"] == []  # not listed as listening for the rest of the call


@pytest.mark.parametrize("kind", [[], {}, None, 7, "whisper "])
async def test_an_action_of_a_strange_type_is_refused_and_the_held_call_stays_held(
    asha: Customer, live: FakeLiveServer, kind: Any
) -> None:
    call, call_id, arjun = await held_by_arjun(live)

    await arjun.send({"type": kind})
    refused = await arjun.next_event("error")
    await arjun.speak(tone_pcm(440, 0.5, 16_000))

    assert refused["code"] == "unknown_type"
    await call.wait_for_audio(int(0.4 * 48_000))  # the page still talks to the customer
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_page_whose_handler_fails_leaves_the_call_as_a_closed_page_would(
    asha: Customer,
    live: FakeLiveServer,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Daphne closes such a socket with 1011 and says nothing more: the call must not stay
    held by a page that is gone. A page that simply leaves logs no failure."""
    settings.STAFF_HOLD_GRACE_S = 0.3
    call, call_id = await a_call(live)
    divya = await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya")
    await divya.next_event("state")
    await divya.leave()
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.take_over()
    await call.next_event("agent_changed")

    def broken(text: str) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(livestaff_consumers.protocol, "decode", broken)
    logged = logging.handlers.BufferingHandler(100)  # as the console's: with the call's id
    logged.addFilter(CallIdFilter())
    logging.getLogger(livestaff_consumers.__name__).addHandler(logged)
    try:
        await arjun.send({"type": "whisper", "text": "hello"})
        with pytest.raises(RuntimeError, match="a bug"):
            await arjun.communicator.receive_output(timeout=5)
    finally:
        logging.getLogger(livestaff_consumers.__name__).removeHandler(logged)

    assert await call.next_event("agent_changed") == {"type": "agent_changed", "mode": "agent"}
    failures = [r for r in caplog.records if "a handler failed" in r.getMessage()]
    assert len(failures) == 1  # Arjun's; Divya left normally
    named = [getattr(r, "call_id", None) for r in logged.buffer if "failed" in r.getMessage()]
    assert named == [call_id]
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_flood_of_actions_is_refused_and_listening_again_is_not_recorded_again(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The burst alone: a page's allowance also grows with time, and a busy machine takes
    # long enough over the flood to let more of it through.
    monkeypatch.setattr(livestaff_consumers, "ACTIONS_PER_S", 0.0)
    call, call_id = await a_call(live)
    session = live.session
    await session.wait_for_note()  # the greeting
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state")

    for _ in range(5):
        await meera.send({"type": "listen"})
    for n in range(20):
        await meera.send({"type": "whisper", "text": f"note {n}"})
    # The burst lets the five listens and the first whispers through; the rest are refused.
    whispered = livestaff_consumers.ACTIONS_BURST - 5
    await meera.until(lambda events: (counted(events, "whisper"), counted(events, "error"))
                      == (whispered, 20 - whispered))  # fmt: skip

    refused = [e for e in meera.events if e["type"] == "error"]
    assert {e["code"] for e in refused} == {"rate_limited"}
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    kinds = [e["kind"] for e in record["staff_events"]]
    assert kinds == ["listen"] + ["whisper"] * whispered  # listening again is not recorded


def counted(events: list[dict[str, Any]], kind: str) -> int:
    return sum(1 for event in events if event["type"] == kind)


async def test_odd_length_microphone_frames_reach_the_customer_as_clean_samples(
    asha: Customer, live: FakeLiveServer
) -> None:
    """Frames travel joined when the page's sender is behind: one odd byte would shift every
    sample after it (full-scale noise to the customer), so each frame is trimmed whole."""
    call, call_id, arjun = await held_by_arjun(live)
    await asyncio.sleep(2.2)  # where the call is gets looked up again: frames queue meanwhile
    voice = tone_pcm(440, 1.0, 16_000)

    for start in range(0, len(voice), 640):
        await arjun.communicator.send_to(bytes_data=voice[start : start + 640] + b"\0")
    heard = await call.wait_for_audio(int(0.8 * 48_000))

    samples = np.frombuffer(heard[-38_400:], "<i2")
    assert np.abs(samples.astype(int)).max() < 9_000  # the tone's 8,000, no full-scale clicks
    assert dominant_hz(heard[-32_000:], 24_000) == pytest.approx(440, abs=5)
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_non_staff_session_is_refused(asha: Customer, live: FakeLiveServer) -> None:
    call, call_id = await a_call(live)

    guest = await StaffPage.open(call_id, "guest", None)

    # Closed once open, so that a page is told why (test_review_live_staff.py).
    assert await guest.communicator.receive_output(timeout=5) == {
        "type": "websocket.close", "code": 4403}  # fmt: skip
    await call.send({"type": "end"})


async def test_a_call_that_is_not_live_says_so(asha: Customer, live: FakeLiveServer) -> None:
    call, call_id = await a_call(live)
    await call.send({"type": "end"})
    await wait_until_ended(call_id)

    late = await StaffPage.open(call_id, "arjun", LEAD_GROUP)
    error = await late.next_event("error")

    assert error["code"] == "not_live"
    assert await late.communicator.receive_output(timeout=1) == {
        "type": "websocket.close", "code": livestaff_consumers.NOT_LIVE}  # the page: "ended"


async def test_a_page_opened_while_the_database_is_away_tries_again_not_told_the_call_ended(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    call, call_id = await a_call(live)
    real_find = livestaff_consumers.find_call
    lookups = 0

    async def away_once(**query: Any) -> Any:
        nonlocal lookups
        lookups += 1
        if lookups == 1:
            raise ServerSelectionTimeoutError("database away for a moment")
        return await real_find(**query)

    monkeypatch.setattr(livestaff_consumers, "find_call", away_once)
    first = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    closed = await first.communicator.receive_output(timeout=5)
    again = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")  # static/livestaff/call.js

    assert closed == {"type": "websocket.close", "code": livestaff_consumers.TRY_AGAIN}
    assert (await again.next_event("state"))["call_id"] == call_id
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_page_opened_a_moment_late_is_sent_what_its_painting_missed(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    session = live.session
    # The live call view is painted from the record as it was written at `last_seen_at`...
    painted = (await call_record(call_id))["last_seen_at"]
    # ... and before its socket is open the agent answers and a colleague whispers.
    await session.send_tool_call([{"name": "check_order_status", "args": {}}])
    await session.wait_for_tool_response()
    await session.send_transcript("agent", "Your biryani left at noon.", finished=True)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.send({"type": "whisper", "text": "Offer a goodwill credit."})
    await session.wait_for_note()  # the greeting
    await session.wait_for_note()  # the whisper

    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera",
                                 query=urlencode({"since": painted.isoformat()}))  # fmt: skip
    await meera.next_event("state")
    backlog = (await meera.next_event("backlog"))["events"]

    assert [(e["type"], e.get("text") or e.get("name")) for e in backlog] == [
        ("tool", "check_order_status"),
        ("transcript", "Your biryani left at noon."),
        ("whisper", "Offer a goodwill credit."),
    ]
    tool = backlog[0]
    assert tool["ok"] and tool["line"]  # worded as the call page words it
    assert (backlog[1]["role"], backlog[1]["final"]) == ("agent", True)  # as it came live
    assert all(e["at"] for e in backlog)
    # A page painted from a later record (or with no `since`) is sent no backlog.
    async with asyncio.timeout(10):  # once the record holds the whisper
        while not (record := await call_record(call_id)).get("staff_events"):
            await asyncio.sleep(0.1)
    later = record["last_seen_at"]
    kavya = await StaffPage.open(call_id, "kavya", AGENT_GROUP, "Kavya",
                                 query=urlencode({"since": later.isoformat()}))  # fmt: skip
    await kavya.next_event("state")
    with pytest.raises(TimeoutError):
        await kavya.next_event("backlog", timeout=0.5)
    for page in (arjun, meera, kavya):
        await page.leave()
    await call.send({"type": "end"})


# --- listening and whispering ----------------------------------------------------------------


async def test_a_listener_hears_both_sides_and_the_customer_hears_nothing_of_them(
    asha: Customer, live: FakeLiveServer
) -> None:
    agent_voice = speech(0.2, 24_000, seed=3)

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_audio(seconds=0.2)
        await session.send_audio(agent_voice, chunk_ms=20)
        await session.send_turn_complete()

    call, call_id = await a_call(live)
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state")
    await meera.send({"type": "listen"})
    await meera.next_event("state", listeners=["meera"])

    customer_voice = speech(0.3, 16_000, seed=4)
    await call.say(customer_voice)

    heard_customer = await meera.wait_for_audio(b"C", len(customer_voice))
    heard_agent = await meera.wait_for_audio(b"A", len(agent_voice))
    assert heard_customer == customer_voice and heard_agent == agent_voice
    assert not [e for e in call.events if e["type"] not in ("ready", "turn_complete")]
    await meera.leave()
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [(e["kind"], e["staff"]) for e in record["staff_events"]] == [("listen", "meera")]


async def test_a_listening_page_that_fell_behind_and_missed_a_change_is_sent_it_again(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that falls behind the call's audio has a full channel, and the channel layer
    skips it, without a word, when the call publishes a change: the next audio it takes
    names a state it never got, and it asks for it again."""
    call, call_id = await a_call(live)
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state")
    await meera.send({"type": "listen"})
    await meera.next_event("state", listeners=["meera"])
    carried = CallSession.here(call_id)
    assert carried is not None
    [page] = carried.staff.link.listeners  # her page's channel

    # Her page takes no audio for a while (a busy server): its channel fills up.
    behind, caught_up = asyncio.Event(), asyncio.Event()
    take_audio = livestaff_consumers.StaffCallConsumer.live_audio

    async def slow_to_take_audio(self: Any, message: dict[str, Any]) -> None:
        behind.set()
        await caught_up.wait()
        await take_audio(self, message)

    monkeypatch.setattr(livestaff_consumers.StaffCallConsumer, "live_audio", slow_to_take_audio)
    layer = get_channel_layer()
    assert layer is not None
    queued = {"type": "live.audio", "frames": [CUSTOMER + b"\0\0"],
              "state_id": carried.staff.link.state_id}  # fmt: skip
    filled = await fill(layer, page, queued)
    await behind.wait()  # the first one taken, and held
    filled += await fill(layer, page, queued)

    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.take_over()  # published while her channel is full: she misses it
    caught_up.set()
    await meera.wait_for_audio(CUSTOMER, 2 * filled)
    assert [e for e in meera.events if e["type"] == "state" and e["mode"] == "human"] == []
    await call.say(speech(0.2, 16_000, seed=8))  # the call's next audio names the new state

    state = await meera.next_event("state", mode="human")
    assert (state["staff"], state["held_from"]) == ("arjun", "another_page")
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def fill(layer: BaseChannelLayer, channel: str, message: dict[str, Any]) -> int:
    """Send `message` to `channel` until it is full; how many went. (The in-memory layer's
    send never waits, so the channel's reader takes none meanwhile.)"""
    sent = 0
    with contextlib.suppress(ChannelFull):
        while True:
            await layer.send(channel, message)
            sent += 1
    return sent


async def test_a_whisper_reaches_the_model_as_context_and_never_the_customer(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    session = live.session
    await session.wait_for_note()  # the greeting
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state")

    await meera.send({"type": "whisper", "text": "Offer a full refund on ORD-1001."})
    note = await session.wait_for_note()
    shown = await meera.next_event("whisper")

    assert "Offer a full refund on ORD-1001." in note and "Meera" in note
    assert "does not hear it" in note
    assert shown == {
        "type": "whisper", "staff": "meera", "text": "Offer a full refund on ORD-1001."
    }  # fmt: skip
    assert not any("refund" in json.dumps(e) for e in call.events)
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert record["staff_events"][0]["text"] == "Offer a full refund on ORD-1001."


# --- taking over and handing back --------------------------------------------------------------


async def test_a_lead_takes_over_talks_to_the_customer_and_hands_back(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    session = live.session
    await session.wait_for_note()  # the greeting
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")

    await arjun.take_over()
    changed = await call.next_event("agent_changed")
    heard_before = len(session.audio)
    await call.say(speech(0.5, 16_000, seed=5))  # the customer speaks: the model must not hear
    await arjun.send({"type": "listen"})
    await arjun.speak(tone_pcm(440, 1.0, 16_000))
    to_customer = await call.wait_for_audio(int(0.8 * 48_000))

    assert changed == {"type": "agent_changed", "mode": "human", "name": "Arjun"}
    assert "Stay silent" in await session.wait_for_note()
    assert len(session.audio) == heard_before  # no customer audio reached the model
    # The staff member's 16 kHz voice reached the customer as 24 kHz at the right pitch.
    assert dominant_hz(to_customer[-32_000:], 24_000) == pytest.approx(440, abs=5)

    await arjun.send({"type": "hand_back", "note": "Refund agreed; confirm and close."})
    back = await call.next_event("agent_changed")
    handed = await session.wait_for_note()
    await call.say(speech(0.2, 16_000, seed=6))
    await session.wait_for_audio(nbytes=heard_before + 6_400)  # the model hears again

    assert back == {"type": "agent_changed", "mode": "agent"}
    assert "Refund agreed; confirm and close." in handed and "Arjun talked" in handed
    await arjun.leave()
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [e["kind"] for e in record["staff_events"]] == ["take_over", "listen", "hand_back"]


async def test_a_colleague_without_a_first_name_is_named_to_the_customer_by_username(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    lead = await StaffPage.open(call_id, "priya.n", LEAD_GROUP)  # no first name
    state = await lead.next_event("state")

    await lead.take_over()

    assert {k: state[k] for k in ("call_id", "user_id", "channel", "mode", "staff")} == {
        "call_id": call_id, "user_id": 101, "channel": "web", "mode": "agent", "staff": None,
    }  # fmt: skip
    assert await call.next_event("agent_changed") == {
        "type": "agent_changed", "mode": "human", "name": "priya.n",
    }  # fmt: skip
    await lead.leave()
    await call.send({"type": "end"})


async def test_the_model_lost_while_a_colleague_holds_the_call_cuts_nobody_off(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id, arjun = await held_by_arjun(live)
    first = live.session

    async def down(session: FakeSession) -> None:
        await session.close(1011, "Internal error encountered.")

    async def back_up(session: FakeSession) -> None:
        pass

    live.on_session(down)  # the Live API fails every session from now on...
    await first.close(1011, "Internal error encountered.")
    last = await live.wait_for_session(3)  # ... until the bridge gives up on the model
    await last.wait_closed()
    await asyncio.sleep(0.3)

    assert (await call_record(call_id))["ended_at"] is None
    assert call.close_code is None and "ended" not in [e["type"] for e in call.events]
    live.on_session(back_up)
    await arjun.send({"type": "hand_back", "note": "Refund agreed; confirm and close."})
    await call.next_event("resumed")
    back = await live.wait_for_session(4)
    told = [await back.wait_for_note() for _ in range(2)]

    # Told the conversation once (not once per session that failed meanwhile), then the note.
    assert "already in progress" in told[0] and "Refund agreed; confirm and close." in told[1]
    await asyncio.sleep(0.2)
    assert len(back.client_contents) == 2
    await arjun.leave()
    await call.send({"type": "end"})
    assert (await wait_until_ended(call_id))["end_reason"] == "caller_hung_up"
    assert await mongo.async_db().escalations.count_documents({}) == 0


async def test_while_a_colleague_holds_the_call_the_model_answers_nothing_and_is_not_heard(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    session = live.session
    await session.wait_for_note()  # the greeting
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.take_over()
    await session.wait_for_note()  # "stay silent"

    await arjun.send({"type": "whisper", "text": "She is a regular; be generous."})
    whisper = await session.wait_for_note()
    # Should the model speak anyway, neither the customer nor the record gets it.
    await session.send_audio(tone_pcm(300, 0.2, 24_000))
    await session.send_transcript("agent", "Nobody should hear this.", finished=True)
    await session.send_turn_complete()
    await arjun.send({"type": "hand_back", "note": ""})
    await call.next_event("agent_changed")
    await call.next_event("agent_changed")  # back with the agent
    audio_while_held = len(call.agent_audio)
    await session.send_transcript("agent", "I'm back with you.", finished=True)
    await session.send_turn_complete()
    while (await call.next_event("transcript"))["text"] != "I'm back with you.":
        pass

    assert "be generous" in whisper and session.client_contents[-2]["turnComplete"] is False
    assert audio_while_held == 0
    assert [e["text"] for e in call.events if e["type"] == "transcript"] == [
        "I'm back with you."]  # fmt: skip
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [line["text"] for line in record["transcript"]] == ["I'm back with you."]


async def test_what_a_colleague_says_while_the_customers_page_is_away_is_not_played_later(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 10  # the page stays away while he speaks a second
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await live.wait_for_session()
    arjun = await StaffPage.open(str(ready["call_id"]), "arjun", LEAD_GROUP, "Arjun")
    divya = await StaffPage.open(str(ready["call_id"]), "divya", LEAD_GROUP, "Divya")
    await arjun.next_event("state")
    await divya.send({"type": "listen"})
    await divya.next_event("state", listeners=["divya"])  # she hears all he says from now on
    await arjun.take_over()
    await call.leave()  # the customer's page drops (the call waits for it)

    voice = tone_pcm(440, 1.0, 16_000)  # a second: as much as his page keeps for a slow line
    await arjun.speak(voice)
    await divya.wait_for_audio(b"H", len(voice))  # the call has had all of it
    back = await BrowserCall.open(f"resume={ready['resume_token']}")
    await back.next_event("resumed")
    await arjun.speak(tone_pcm(1000, 0.2, 16_000))
    heard = await back.wait_for_audio(int(0.15 * 48_000))

    # Only what he said once she was back, at its own pitch: no second of stale speech.
    assert len(heard) < 0.5 * 48_000
    assert dominant_hz(heard, 24_000) == pytest.approx(1000, abs=15)
    await back.send({"type": "end"})
    await wait_until_ended(str(ready["call_id"]))


async def test_a_held_call_that_moves_to_another_process_or_a_reloaded_page_is_still_theirs(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 10
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    first = await live.wait_for_session()
    await first.send_resumption_update("handle-1")
    call_id, token = str(ready["call_id"]), str(ready["resume_token"])
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.take_over()
    await call.next_event("agent_changed")

    # The customer reloads the page: it is told who it is talking to.
    await call.leave()
    reloaded = await BrowserCall.open(f"resume={token}")
    after_reload = [await reloaded.next_event(kind) for kind in ("ready", "resumed",
                                                                  "agent_changed")]  # fmt: skip

    # The process is drained: the call moves, and is still Arjun's on the next one.
    moved = await move_the_call(reloaded, monkeypatch)
    changed = await moved.next_event("agent_changed")
    await arjun.next_event("state", mode="human", staff="arjun", attached=True)
    await arjun.speak(tone_pcm(440, 1.0, 16_000))
    heard = await moved.wait_for_audio(int(0.5 * 48_000))
    resumed = await live.wait_for_session(1)
    await moved.say(speech(0.3, 16_000, seed=7))

    assert after_reload[2] == {"type": "agent_changed", "mode": "human", "name": "Arjun"}
    assert changed == {"type": "agent_changed", "mode": "human", "name": "Arjun"}
    assert resumed.resumed_handle == "handle-1"
    assert dominant_hz(heard[-16_000:], 24_000) == pytest.approx(440, abs=8)
    await arjun.send({"type": "hand_back", "note": "All sorted."})
    assert "All sorted." in await resumed.wait_for_note()
    assert resumed.audio == b""  # the model heard nothing of the customer while held
    await moved.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_lead_hands_back_the_call_of_a_colleague_who_cannot_carry_on(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    divya = await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya")
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await arjun.next_event("state")
    await arjun.take_over()
    await call.next_event("agent_changed")  # Asha talks to Arjun
    await live.session.wait_for_note()  # the greeting
    await live.session.wait_for_note()  # "a colleague is talking"

    await meera.send({"type": "hand_back", "note": "He left his desk."})
    refused = await meera.next_event("error")  # an agent may not
    await divya.send({"type": "hand_back", "note": "Arjun was called away; offer a callback."})
    told = await arjun.next_event("agent_changed", mode="agent")
    note = await live.session.wait_for_note()

    assert refused["code"] == "forbidden"
    assert told == {"type": "agent_changed", "mode": "agent", "by": "divya", "staff": "arjun",
                    "note": "Arjun was called away; offer a callback."}  # fmt: skip
    assert "Arjun talked with the customer" in note and "Divya, a colleague, hands" in note
    assert "Divya's note for you: \"Arjun was called away; offer a callback.\"" in note
    assert await call.next_event("agent_changed") == {"type": "agent_changed", "mode": "agent"}
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [(e["kind"], e["staff"]) for e in record["staff_events"]
            if e["kind"] in ("take_over", "hand_back")] == [
        ("take_over", "arjun"), ("hand_back", "divya")]  # fmt: skip


async def drain_away(call: BrowserCall, monkeypatch: pytest.MonkeyPatch) -> str:
    """Drain this process: the customer's page leaves it, and the call is between processes
    until a page comes back with the resume token answered."""
    token = str(next(e for e in call.events if e["type"] == "ready")["resume_token"])
    drained = asyncio.create_task(draining.this_process.drain(bound_s=5))
    await call.next_event("reconnect")
    await call.leave()
    await drained
    monkeypatch.setattr(draining, "this_process", ProcessCalls())  # the next process
    return token


async def move_the_call(call: BrowserCall, monkeypatch: pytest.MonkeyPatch) -> BrowserCall:
    """Drain this process: the customer's page comes back on the next one."""
    moved = await BrowserCall.open(f"resume={await drain_away(call, monkeypatch)}")
    await moved.next_event("resumed")
    return moved


async def test_a_listener_still_hears_the_call_after_it_moved_to_another_process(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 10
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    call, call_id = await a_call(live)
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state")
    await meera.send({"type": "listen"})
    await meera.next_event("state", listeners=["meera"])

    moved = await move_the_call(call, monkeypatch)
    await meera.next_event("state", listeners=["meera"], attached=True)
    heard_before = len(meera.audio[b"C"])
    await moved.say(speech(0.5, 16_000, seed=9))

    assert len(await meera.wait_for_audio(b"C", heard_before + 12_800)) >= heard_before + 12_800
    await moved.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_after_a_move_the_call_is_held_from_the_same_tab_of_the_holder(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 10
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    call, call_id = await a_call(live)
    await live.session.send_resumption_update("handle-1")
    talking = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await talking.next_event("state")
    await talking.take_over()
    other_tab = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")  # opened later
    await other_tab.next_event("state", mode="human")

    moved = await move_the_call(call, monkeypatch)
    await other_tab.next_event("state", attached=True)  # both tabs said again what they do
    await talking.next_event("state", attached=True)
    await talking.speak(tone_pcm(440, 1.0, 16_000))
    heard = await moved.wait_for_audio(int(0.5 * 48_000))

    assert dominant_hz(heard[-16_000:], 24_000) == pytest.approx(440, abs=8)
    await moved.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_take_over_here_refused_as_the_call_moves_leaves_it_with_the_tab_talking(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Arjun talks from one tab and clicks "Take over here" in another as the call moves: told
    to try again, that tab must not claim the call once it lands (his talking tab unheard)."""
    settings.VOICE_RESUME_GRACE_S = 10
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    call, call_id, talking = await held_by_arjun(live)
    await call.next_event("agent_changed")
    await live.session.send_resumption_update("handle-1")
    other_tab = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await other_tab.next_event("state", held_from="another_page")
    closing, let_go = LiveClient.close, asyncio.Event()

    async def slow_close(self: LiveClient) -> None:  # the call is let go, slowly
        await let_go.wait()
        await closing(self)

    monkeypatch.setattr(LiveClient, "close", slow_close)
    token = str(next(e for e in call.events if e["type"] == "ready")["resume_token"])
    drained = asyncio.create_task(draining.this_process.drain(bound_s=5))
    await call.next_event("reconnect")
    await call.leave()
    await asyncio.sleep(0.3)  # the call is being let go
    await other_tab.send({"type": "take_over"})
    refused = await other_tab.next_event("error")
    let_go.set()
    await drained
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    moved = await BrowserCall.open(f"resume={token}")
    await moved.next_event("resumed")
    await other_tab.next_event("state", attached=True)
    await talking.next_event("state", attached=True, held_from="this_page")
    await asyncio.sleep(0.3)  # every tab's word on the move is in
    await talking.speak(tone_pcm(440, 1.0, 16_000))
    heard = await moved.wait_for_audio(int(0.5 * 48_000))

    assert refused["message"] == "This call is reconnecting; try again in a moment."
    assert dominant_hz(heard[-16_000:], 24_000) == pytest.approx(440, abs=8)
    await moved.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_holder_whose_page_closed_while_the_call_moved_is_not_waited_for_forever(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 10
    settings.STAFF_HOLD_GRACE_S = 1.0
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    call, call_id, arjun = await held_by_arjun(live)
    await call.next_event("agent_changed")

    drained = asyncio.create_task(draining.this_process.drain(bound_s=5))
    await arjun.leave()  # his page goes while the call moves: nobody is told at the time
    token = str(next(e for e in call.events if e["type"] == "ready")["resume_token"])
    await call.next_event("reconnect")
    await call.leave()
    await drained
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    moved = await BrowserCall.open(f"resume={token}")
    held = await moved.next_event("agent_changed")  # still his, for a moment
    back = await moved.next_event("agent_changed")  # nobody came back for it

    assert (held["mode"], back["mode"]) == ("human", "agent")
    resumed = await live.wait_for_session(1)
    while "(The colleague's page closed.)" not in await resumed.wait_for_note():
        pass  # the model is handed the call back with why
    await moved.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [(e["kind"], e.get("text")) for e in record["staff_events"]][-1] == (
        "hand_back", "(The colleague's page closed.)")  # fmt: skip


async def test_an_action_while_the_call_moves_is_told_to_try_again_not_that_it_ended(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 10
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    profile = HeldTool(monkeypatch, "get_user_profile", {"name": "Asha Verma"})
    call, call_id = await a_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await live.session.send_tool_call([{"name": "get_user_profile"}])
    await profile.started.wait()
    drained = asyncio.create_task(draining.this_process.drain(bound_s=5))
    await call.next_event("reconnect")
    await call.leave()  # the call is let go at once (the tool it runs finishes meanwhile)

    await arjun.send({"type": "take_over"})
    refused = await arjun.next_event("error")
    profile.released.set()
    await drained

    assert refused["code"] == "not_live"
    assert refused["message"] == "This call is reconnecting; try again in a moment."


async def test_a_staff_page_opened_while_its_call_moves_watches_it_once_it_lands(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 10
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    call, call_id = await a_call(live)
    await live.session.send_resumption_update("handle-1")
    token = await drain_away(call, monkeypatch)

    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    meanwhile = await arjun.next_event("error")
    moved = await BrowserCall.open(f"resume={token}")
    await moved.next_event("resumed")
    state = await arjun.next_event("state", attached=True)

    assert meanwhile["message"] == "This call is reconnecting; try again in a moment."
    assert arjun.close_code is None and state["call_id"] == call_id
    await moved.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_holders_page_back_while_the_call_moves_keeps_the_call(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Arjun's socket blips while the call is between processes: his page comes back saying
    it held the call (static/livestaff/call.js), and holds it once the call lands."""
    settings.VOICE_RESUME_GRACE_S = 10
    settings.STAFF_HOLD_GRACE_S = 0.5
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    call, call_id, arjun = await held_by_arjun(live)
    await call.next_event("agent_changed")
    await live.session.send_resumption_update("handle-1")
    token = await drain_away(call, monkeypatch)
    await arjun.leave()

    back = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun", query="holding=1")
    moved = await BrowserCall.open(f"resume={token}")
    await moved.next_event("resumed")
    held = await back.next_event("state", mode="human", staff="arjun", held_from="this_page")
    await asyncio.sleep(1.0)  # twice STAFF_HOLD_GRACE_S: still his
    await back.speak(tone_pcm(440, 0.5, 16_000))
    heard = await moved.wait_for_audio(int(0.3 * 48_000))

    assert held["attached"] is True
    assert dominant_hz(heard[-9_600:], 24_000) == pytest.approx(440, abs=8)
    await moved.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [e["kind"] for e in record["staff_events"]] == ["take_over"]


async def test_a_take_over_reaching_a_held_call_as_it_moves_in_is_refused_as_taken(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """The process taking the call up hears staff messages only once it holds the call
    for Arjun again (the recording's opening, with RECORD_CALLS, is awaited in between)."""
    settings.VOICE_RESUME_GRACE_S = 10
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    call, call_id, arjun = await held_by_arjun(live)
    await call.next_event("agent_changed")
    await live.session.send_resumption_update("handle-1")
    divya = await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya")
    await divya.next_event("state", mode="human", staff="arjun")
    token = await drain_away(call, monkeypatch)
    started = CallObserver.started

    async def slow_start(self: CallObserver, **fields: Any) -> None:
        await asyncio.sleep(0.5)
        await started(self, **fields)

    monkeypatch.setattr(CallObserver, "started", slow_start)
    resuming = asyncio.create_task(BrowserCall.open(f"resume={token}"))
    async with asyncio.timeout(5):
        while call_id not in process._channel._handlers:
            await asyncio.sleep(0.01)
    await divya.send({"type": "take_over"})
    refused = await divya.next_event("error")
    moved = await resuming
    await moved.next_event("resumed")

    assert refused["code"] == "taken"
    await moved.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [(e["kind"], e["staff"]) for e in record["staff_events"]] == [("take_over", "arjun")]


async def test_the_model_is_told_how_long_the_colleague_talked_across_a_move(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 10
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    call, call_id, arjun = await held_by_arjun(live)
    await call.next_event("agent_changed")
    await live.session.send_resumption_update("handle-1")
    async with asyncio.timeout(5):
        while (await call_record(call_id)).get("held_since") is None:
            await asyncio.sleep(0.05)
    # As if Arjun had taken the call three minutes ago.
    taken = datetime.now(UTC) - timedelta(minutes=3)
    await mongo.async_db().calls.update_one({"call_id": call_id},
                                            {"$set": {"held_since": taken}})  # fmt: skip

    moved = await move_the_call(call, monkeypatch)
    await arjun.next_event("state", mode="human", staff="arjun", attached=True)
    resumed = await live.wait_for_session(1)
    await arjun.send({"type": "hand_back", "note": "Done."})
    note = await resumed.wait_for_note()

    # Three minutes and the seconds the move and the hand-back took on a loaded machine.
    assert re.search(r"Arjun talked with the customer for 3:0\d minutes\.", note), note
    await moved.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_an_action_reaching_the_process_the_call_just_left_is_answered_not_lost(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    # The record still names this process, which has just let the call go.
    handler = process._channel._handlers[call_id]
    process.unregister(call_id)

    await arjun.send({"type": "take_over"})
    refused = await arjun.next_event("error")

    assert (refused["code"], refused["message"]) == (
        "not_live", "This call is reconnecting; try again in a moment.",
    )  # fmt: skip
    process.register(call_id, handler)
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_holder_who_reloads_the_page_keeps_the_call(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.STAFF_HOLD_GRACE_S = 5
    call, call_id, arjun = await held_by_arjun(live)
    await call.next_event("agent_changed")

    await arjun.leave()
    reloaded = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    state = await reloaded.next_event("state")
    await reloaded.send({"type": "take_over"})  # "Start my microphone"
    await reloaded.speak(tone_pcm(440, 1.0, 16_000))
    heard = await call.wait_for_audio(int(0.5 * 48_000))

    # His reloaded page is the one the call is held from (it offers to start his microphone).
    assert (state["mode"], state["staff"], state["held_from"]) == ("human", "arjun", "this_page")
    assert dominant_hz(heard[-16_000:], 24_000) == pytest.approx(440, abs=8)
    assert [e["mode"] for e in call.events if e["type"] == "agent_changed"] == ["human"]
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_each_tab_of_the_holder_knows_whether_the_call_is_held_from_it(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    first_tab = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await first_tab.next_event("state")
    held = await first_tab.take_over()
    second_tab = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    seen_there = await second_tab.next_event("state", mode="human")
    kavya = await StaffPage.open(call_id, "kavya", LEAD_GROUP, "Kavya")
    seen_by_kavya = await kavya.next_event("state", mode="human")

    # He takes the call over in his second tab: the first is told it no longer holds it.
    await second_tab.send({"type": "take_over"})
    moved_here = await second_tab.next_event("state", held_from="this_page")
    moved_away = await first_tab.next_event("state", held_from="another_page")
    await first_tab.speak(tone_pcm(440, 0.4, 16_000))  # not heard: not the tab holding the call
    await second_tab.speak(tone_pcm(1000, 1.0, 16_000))
    heard = await call.wait_for_audio(int(0.5 * 48_000))

    assert (held["held_from"], seen_there["held_from"]) == ("this_page", "another_page")
    assert seen_by_kavya["held_from"] == "another_page" and "holder_page" not in seen_by_kavya
    assert moved_here["staff"] == moved_away["staff"] == "arjun"
    assert dominant_hz(heard, 24_000) == pytest.approx(1000, abs=8)
    assert [e["mode"] for e in call.events if e["type"] == "agent_changed"] == ["human"]
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_two_staff_racing_to_take_over_leave_one_holder(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    divya = await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya")
    await arjun.next_event("state")
    await divya.next_event("state")

    await asyncio.gather(arjun.send({"type": "take_over"}), divya.send({"type": "take_over"}))
    held = await arjun.next_event("state", mode="human")
    loser = divya if held["staff"] == "arjun" else arjun
    refused = await loser.next_event("error")

    assert refused["code"] == "taken" and refused["staff"] == held["staff"]
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_staff_page_that_closes_while_holding_hands_the_call_back(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.STAFF_HOLD_GRACE_S = 0.3  # time for a reload; nobody is back
    call, call_id = await a_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.send({"type": "take_over"})
    await call.next_event("agent_changed")
    await arjun.next_event("state", mode="human")

    await arjun.leave()

    assert await call.next_event("agent_changed") == {"type": "agent_changed", "mode": "agent"}
    await call.send({"type": "end"})


async def test_a_holding_page_that_closes_while_the_database_is_away_still_hands_back(
    asha: Customer, live: FakeLiveServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page finds where the call is in the database; in a blip it uses where it was."""
    settings.STAFF_HOLD_GRACE_S = 0.3
    call, call_id, arjun = await held_by_arjun(live)
    await call.next_event("agent_changed")

    async def database_away(**_: Any) -> None:
        raise ServerSelectionTimeoutError("the database is away")

    monkeypatch.setattr(livestaff_consumers, "find_call", database_away)
    await arjun.leave()

    assert await call.next_event("agent_changed") == {"type": "agent_changed", "mode": "agent"}
    await call.send({"type": "end"})


async def test_a_lead_takes_over_and_ends_a_call_while_the_database_is_frozen(
    asha: Customer, live: FakeLiveServer, database_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each action asks the database what its user may do now. Frozen (SIGSTOP), it is not
    waited for: the action goes by what it said last, and the call by where it was last seen;
    the record, the staff events with it, is written once the database is back."""
    monkeypatch.setattr(livestaff_consumers, "PERMISSIONS_CHECK_S", 0.3)
    monkeypatch.setattr(continuity_calls, "LOOKUP_TIMEOUT_S", 0.3)
    call, call_id = await a_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")

    await freeze(database_pid)
    try:
        taken = await arjun.take_over()
        await arjun.send({"type": "end_call", "reason": "Abusive caller"})
        told = await call.next_event("ended")
    finally:
        os.kill(database_pid, signal.SIGCONT)
    record = await wait_until_ended(call_id, timeout=15)

    assert taken["held_from"] == "this_page"
    assert told["reason"] == "ended_by_staff"
    assert record["end_reason"] == "ended_by_staff"
    assert [e["kind"] for e in record["staff_events"]] == ["take_over", "end_call"]
    await no_session_left_open(live)


async def test_a_holder_whose_page_stays_open_keeps_the_call_long_after_taking_it(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    """The call takes a holder's page that stops saying it holds the call for gone; an open
    page keeps saying so (here every 0.1 s, taken for gone after 0.3 s)."""
    settings.STAFF_HOLD_GRACE_S = 0.3
    settings.STAFF_HOLDING_EVERY_S = 0.1
    call, call_id, arjun = await held_by_arjun(live)
    await call.next_event("agent_changed")

    await asyncio.sleep(2)  # many times the silence a page is taken for gone after
    await arjun.send({"type": "listen"})
    state = await arjun.next_event("state", listeners=["arjun"])

    assert (state["mode"], state["staff"], state["held_from"]) == ("human", "arjun", "this_page")
    await call.send({"type": "end"})


async def test_a_holder_whose_page_closes_is_no_longer_listed_as_listening(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.STAFF_HOLD_GRACE_S = 0.3
    call, call_id = await a_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    divya = await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya")
    await arjun.next_event("state")
    await arjun.send({"type": "take_over"})
    await arjun.send({"type": "listen"})  # as the live view does once it holds the call
    await divya.next_event("state", mode="human", listeners=["arjun"])

    await arjun.leave()

    await divya.next_event("state", mode="agent", listeners=[])
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_second_tab_of_the_holder_closing_leaves_the_call_with_them(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.STAFF_HOLD_GRACE_S = 0.3
    call, call_id = await a_call(live)
    talking = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    other_tab = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await talking.next_event("state")
    await talking.take_over()
    await talking.send({"type": "listen"})
    await other_tab.send({"type": "listen"})
    await other_tab.next_event("state", mode="human", listeners=["arjun"])

    await other_tab.leave()  # an old tab of his, closed while he talks to Asha
    await talking.speak(tone_pcm(440, 0.4, 16_000))
    await call.say(speech(0.3, 16_000, seed=3))
    heard = await call.wait_for_audio(int(0.3 * 48_000))
    await talking.wait_for_audio(b"C", 9_600)  # his page still hears her

    assert dominant_hz(heard[-9_600:], 24_000) == pytest.approx(440, abs=15)
    assert [e["mode"] for e in call.events if e["type"] == "agent_changed"] == ["human"]
    # The tab he talks from closing is what hands the call back.
    await talking.leave()
    assert await call.next_event("agent_changed") == {"type": "agent_changed", "mode": "agent"}
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [(e["kind"], e.get("text")) for e in record["staff_events"]
            if e["kind"] in ("take_over", "hand_back")] == [
        ("take_over", None), ("hand_back", "(The colleague's page closed.)")]  # fmt: skip


async def test_one_tab_stopping_listening_leaves_the_others_listening(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id = await a_call(live)
    first = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    second = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await first.next_event("state")
    await first.send({"type": "listen"})
    await second.send({"type": "listen"})
    await second.next_event("state", listeners=["meera"])

    await second.send({"type": "unlisten"})
    await second.leave()
    await call.say(speech(0.3, 16_000, seed=5))

    assert len(await first.wait_for_audio(b"C", 9_600)) >= 9_600
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_listener_whose_page_went_unheard_is_no_longer_listed_nor_sent_audio(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Meera's page closes while Redis is away (or its server is killed): its close never
    reaches the call, which stops hearing the page say it listens."""
    settings.STAFF_HOLDING_EVERY_S = 0.1
    call, call_id = await a_call(live)
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state")
    await meera.send({"type": "listen"})
    await meera.next_event("state", listeners=["meera"])
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await asyncio.sleep(0.5)  # her page says it listens, several times
    await arjun.next_event("state", listeners=["meera"])
    real_send = livestaff_consumers.send_to_channel

    async def redis_away_for_her_close(channel: str, message: dict[str, Any], **kw: Any) -> bool:
        if message.get("kind") == "page_closed":
            return False  # what send_to_channel answers when Redis cannot be reached
        return bool(await real_send(channel, message, **kw))

    monkeypatch.setattr(livestaff_consumers, "send_to_channel", redis_away_for_her_close)
    await meera.leave()
    monkeypatch.setattr(livestaff_consumers, "send_to_channel", real_send)

    await arjun.next_event("state", listeners=[])
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert record["listeners"] == []


async def test_an_end_call_then_a_move_still_ends_the_call(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    """Arjun's End call reaches the call just before another process asks it to let go (the
    customer's page came back elsewhere): the call ends; it does not move on."""
    settings.VOICE_RESUME_GRACE_S = 1
    call, call_id = await a_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    session = CallSession.here(call_id)
    assert session is not None
    end_call = {"type": "staff.action", "call_id": call_id, "kind": "end_call", "text": "",
                "staff": {"username": "arjun", "name": "Arjun"}, "reply_to": ""}  # fmt: skip
    release = {"type": "call.release", "call_id": call_id}

    # Both on the process's channel, back to back (continuity/process.py runs each at once).
    await asyncio.gather(session._on_message(end_call), session._on_message(release))

    record = await wait_until_ended(call_id)
    assert record["end_reason"] == "ended_by_staff"
    assert record["carrier"] is not None  # ended here, not let go


async def test_a_lead_who_takes_over_during_the_idle_goodbye_is_not_hung_up_on(
    asha: Customer, live: FakeLiveServer
) -> None:
    """The customer said nothing through two check-ins: the model is saying goodbye. Arjun
    takes the call over meanwhile: it is his to end, not ended as idle under him."""
    call, call_id = await a_call(live)
    session = CallSession.here(call_id)
    assert session is not None
    await live.session.wait_for_note()  # the greeting
    await session._act(Action.SAY_GOODBYE)  # what the watchdog does after two check-ins
    await live.session.wait_for_note()  # "say goodbye"
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.take_over()
    await live.session.send_turn_complete()  # the model's goodbye, which nobody hears, ends

    await arjun.send({"type": "whisper", "text": "still here"})
    await arjun.next_event("state", mode="human")
    record = await call_record(call_id)

    assert record["ended_at"] is None
    await call.send({"type": "end"})
    assert (await wait_until_ended(call_id))["end_reason"] == "caller_hung_up"


async def test_end_call_ends_it_for_the_customer(asha: Customer, live: FakeLiveServer) -> None:
    call, call_id = await a_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")

    await arjun.send({"type": "end_call"})

    notice = await call.next_event("error")
    assert notice["code"] == "ended_by_staff"
    assert await call.next_event("ended") == {"type": "ended", "reason": "ended_by_staff"}
    assert (await wait_until_ended(call_id))["end_reason"] == "ended_by_staff"


async def test_end_call_cuts_the_agent_off_mid_answer(
    asha: Customer, live: FakeLiveServer
) -> None:
    """Ended by a person, the call ends now: the page stops playing the agent's answer (six
    seconds of it, sent at once) and hears nothing more of it."""
    call, call_id = await a_call(live)
    await live.session.send_audio(speech(6.0, 24_000))
    await call.next_event("_audio")
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")

    await arjun.send({"type": "end_call"})
    await call.next_event("interrupted")
    heard = len(call.agent_audio)
    await live.session.send_audio(speech(1.0, 24_000))  # the model, not told yet, talks on

    assert await call.next_event("ended") == {"type": "ended", "reason": "ended_by_staff"}
    assert len(call.agent_audio) == heard
    assert (await wait_until_ended(call_id))["end_reason"] == "ended_by_staff"


# --- warm escalation ------------------------------------------------------------------------------


async def an_escalated_call(live: FakeLiveServer) -> tuple[BrowserCall, str, str]:
    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_tool_call(
            [{"name": "escalate_to_human", "args": {"reason": "Wants a person"}}]
        )
        await session.wait_for_tool_response()

    call, call_id = await a_call(live)
    escalated = await call.next_event("escalated")
    return call, call_id, str(escalated["ticket_id"])


async def test_an_escalation_is_warm_then_offers_a_callback_when_nobody_joins(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.ESCALATION_WAIT_S = 0.5
    call, call_id, ticket_id = await an_escalated_call(live)
    ticket = await mongo.async_db().escalations.find_one({"ticket_id": ticket_id})
    company = await live.session.wait_for_note()
    callback = await live.session.wait_for_note(timeout=5)

    assert ticket is not None and ticket["live"] is True
    assert "keep the customer company" in company
    assert "callback" in callback
    await call.send({"type": "end"})
    await wait_until_ended(call_id)
    ticket = await mongo.async_db().escalations.find_one({"ticket_id": ticket_id})
    assert ticket is not None and ticket["live"] is False


async def test_a_customer_waiting_in_silence_for_a_colleague_is_not_hung_up_on(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.ESCALATION_WAIT_S = 1.5
    settings.VOICE_IDLE_PROMPT_S = 0.2  # three silences of this end a call that waits for nothing

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_tool_call(
            [{"name": "escalate_to_human", "args": {"reason": "Wants a person"}}]
        )
        await session.wait_for_tool_response()
        await session.send_transcript("agent", "A colleague is on the way; I'll stay with you.")
        await session.send_turn_complete()

    call, call_id = await a_call(live)
    await call.next_event("escalated")
    notes = [await live.session.wait_for_note(timeout=5)]  # keep her company
    while "callback" not in notes[-1]:  # nobody joined in time
        notes.append(await live.session.wait_for_note(timeout=5))
    await live.session.send_transcript("agent", "Shall I have a colleague call you back?")
    await live.session.send_turn_complete()
    after_the_wait = await live.session.wait_for_note(timeout=5)

    assert not any("still there" in note for note in notes)  # she was waiting, not gone
    assert "still there" in after_the_wait  # silent after the offer too: the idle rules are back
    await call.send({"type": "end"})
    assert (await wait_until_ended(call_id))["end_reason"] != "idle"


async def test_an_escalated_call_that_moves_still_waits_for_a_colleague_then_offers_a_callback(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 10
    settings.ESCALATION_WAIT_S = 1.5

    async def escalates(session: FakeSession) -> None:
        await session.send_resumption_update("handle-1")
        await session.send_tool_call(
            [{"name": "escalate_to_human", "args": {"reason": "Wants a person"}}]
        )
        await session.wait_for_tool_response()

    async def carries_on(session: FakeSession) -> None:
        pass

    live.on_session(escalates, carries_on)
    monkeypatch.setattr(draining, "this_process", ProcessCalls())
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    ticket_id = str((await call.next_event("escalated"))["ticket_id"])
    first = await live.wait_for_session()
    await first.wait_for_note()  # "a colleague is coming"

    # The process is drained: the call moves while the customer waits for a colleague.
    moved = await move_the_call(call, monkeypatch)
    resumed = await live.wait_for_session(1)
    arjun = await StaffPage.open(str(ready["call_id"]), "arjun", LEAD_GROUP, "Arjun")
    state = await arjun.next_event("state")
    notes = [await resumed.wait_for_note(timeout=5)]
    while "callback" not in notes[-1]:  # nobody joined in time
        notes.append(await resumed.wait_for_note(timeout=5))
    await arjun.take_over()

    assert state["escalation"] == ticket_id  # the queue's "Join call" still leads here
    assert not any("company" in note for note in notes)  # not told twice a colleague comes
    assert (await ticket_once(ticket_id, joined_by="arjun"))["assignee"] == "arjun"
    await moved.send({"type": "end"})
    await wait_until_ended(str(ready["call_id"]))


async def test_a_call_that_ends_takes_down_every_live_ticket_of_its_own_not_only_those_it_saw(
    asha: Customer, live: FakeLiveServer
) -> None:
    """A ticket this process did not see opened (its tool was cut short by a hang-up, or
    another process carried the call then) leaves the live list with the call all the same."""
    call, call_id = await a_call(live)
    await mongo.async_db().escalations.insert_one({
        "ticket_id": "TKT-ELSEWHERE", "user_id": 101, "reason": "Wants a person",
        "priority": "normal", "status": "open", "assignee": None, "notes": [],
        "call_id": call_id, "origin": "agent", "live": True, "resolved_at": None,
    })  # fmt: skip

    await call.send({"type": "end"})
    await wait_until_ended(call_id)

    ticket = await mongo.async_db().escalations.find_one({"ticket_id": "TKT-ELSEWHERE"})
    assert ticket is not None and ticket["live"] is False


async def ticket_once(ticket_id: str, within_s: float = 5, **fields: Any) -> dict[str, Any]:
    """The ticket, once it has `fields` (a colleague's joining is noted beside the call)."""
    async with asyncio.timeout(within_s):
        while True:
            ticket = await mongo.async_db().escalations.find_one({"ticket_id": ticket_id})
            assert ticket is not None
            if all(ticket.get(k) == v for k, v in fields.items()):
                return ticket
            await asyncio.sleep(0.05)


async def test_the_colleague_who_takes_over_an_escalated_call_gets_its_ticket_and_stays_its_joiner(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id, ticket_id = await an_escalated_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    divya = await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya")
    await arjun.next_event("state")

    await arjun.take_over()
    await arjun.send({"type": "hand_back", "note": "Over to you."})
    await arjun.next_event("state", mode="agent")
    await divya.send({"type": "take_over"})  # a second colleague later: Asha met Arjun first
    await divya.next_event("state", mode="human", staff="divya")
    ticket = await ticket_once(ticket_id, joined_by="arjun")
    briefing = (await sync_to_async(briefings)([call_id]))[call_id]

    assert (ticket["status"], ticket["assignee"]) == ("claimed", "arjun")
    assert [(n["author"], n["text"]) for n in ticket["notes"]] == [
        ("arjun", "Joined the call and took over from the agent.")]  # fmt: skip
    assert briefing.joined_by == "Arjun"  # after the hand-back too
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_who_joined_is_noted_on_the_ticket_once_a_frozen_database_is_back(
    asha: Customer, live: FakeLiveServer, database_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arjun joins and ends the call while the database is frozen: the ticket still says he
    joined, once it answers (and the call is over by then). The frozen database takes his
    claim the driver gave up on as it comes back: the try again finds it his, and the
    customer's wait for a person is counted (once), as any claim's."""
    monkeypatch.setattr(livestaff_consumers, "PERMISSIONS_CHECK_S", 0.3)
    monkeypatch.setattr(continuity_calls, "LOOKUP_TIMEOUT_S", 0.3)
    join = on_call.join_live_escalation
    waits = "voice_escalation_wait_seconds_count"
    waited_before = REGISTRY.get_sample_value(waits) or 0

    async def join_within_half_a_second(ticket_id: str, username: str, join_id: str) -> None:
        with pymongo.timeout(0.5):  # the driver gives up well within the freeze
            await join(ticket_id, username, join_id)

    monkeypatch.setattr(on_call, "join_live_escalation", join_within_half_a_second)
    call, call_id, ticket_id = await an_escalated_call(live)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")

    await freeze(database_pid)
    try:
        await arjun.take_over()
        await arjun.send({"type": "end_call", "reason": "Sorted on the phone"})
        await call.next_event("ended")
        await asyncio.sleep(1)  # the first tries to note it fail
    finally:
        os.kill(database_pid, signal.SIGCONT)
    ticket = await ticket_once(ticket_id, joined_by="arjun")

    assert (ticket["status"], ticket["assignee"]) == ("claimed", "arjun")
    assert [(n["author"], n["text"]) for n in ticket["notes"]] == [
        ("arjun", "Joined the call and took over from the agent.")]  # fmt: skip
    assert REGISTRY.get_sample_value(waits) == waited_before + 1
    await wait_until_ended(call_id, timeout=15)


async def test_a_call_that_ended_while_the_database_was_frozen_is_not_offered_to_join(
    asha: Customer, live: FakeLiveServer, database_pid: int, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The call's end cannot take "live" off its ticket in a database that does not answer;
    the record is closed once it is back, and the ticket told. The queue offers no "Join
    call" for it meanwhile."""
    monkeypatch.setattr(mongo, "ASYNC_TIMEOUT_MS", 1000)  # the driver gives up within the freeze
    mongo.forget_clients()
    try:
        call, call_id, ticket_id = await an_escalated_call(live)
        await freeze(database_pid)
        try:
            await call.send({"type": "end"})
            async with asyncio.timeout(10):
                while "could not close its record" not in caplog.text:
                    await asyncio.sleep(0.05)
        finally:
            os.kill(database_pid, signal.SIGCONT)
        await wait_until_ended(call_id, timeout=10)

        assert await sync_to_async(briefings)([call_id]) == {}
        ticket = await ticket_once(ticket_id, within_s=20, live=False)
        assert "live_call_id" not in ticket
    finally:
        mongo.forget_clients()


async def test_a_ticket_claimed_from_the_queue_stays_with_its_holder_when_another_joins(
    asha: Customer, live: FakeLiveServer
) -> None:
    call, call_id, ticket_id = await an_escalated_call(live)
    await sync_to_async(claim)(ticket_id, "kavya")
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")

    await arjun.take_over()
    ticket = await ticket_once(ticket_id, joined_by="arjun")

    assert (ticket["status"], ticket["assignee"]) == ("claimed", "kavya")
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_asking_again_for_a_person_while_one_is_fetched_keeps_the_one_ticket(
    asha: Customer, live: FakeLiveServer
) -> None:
    """The customer asks again while waiting ("is anyone coming?"), and the model escalates
    again: still the one ticket the lead joins, with the new words on it, not a second one."""

    answers: list[dict[str, Any]] = []

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_tool_call(
            [{"name": "escalate_to_human", "args": {"reason": "Wants a person"}}]
        )
        await session.wait_for_tool_response()
        await session.wait_for_note()  # a colleague is coming
        await session.send_tool_call([{"name": "escalate_to_human", "args": {
            "reason": "Still waiting and upset", "priority": "urgent"}}])  # fmt: skip
        answers.append(await session.wait_for_tool_response())

    call, call_id = await a_call(live)
    first = str((await call.next_event("escalated"))["ticket_id"])
    async with asyncio.timeout(5):
        while not answers:
            await asyncio.sleep(0.05)
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.take_over()
    await ticket_once(first, joined_by="arjun")
    tickets = await mongo.async_db().escalations.find({"call_id": call_id}).to_list(None)

    assert first in json.dumps(answers[0])  # the model is told it is the same ticket
    assert [t["ticket_id"] for t in tickets] == [first]
    assert tickets[0]["priority"] == "urgent"  # the more pressing of the two
    assert "Still waiting and upset" in [n["text"] for n in tickets[0]["notes"]][0]
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_new_escalation_after_the_first_ticket_was_resolved_is_the_one_a_lead_joins(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    """Kavya resolved the first ticket while the call went on; Asha asks for a person again: a
    new ticket, waited for and joined as the first was."""
    from support.escalations import resolve

    settings.ESCALATION_WAIT_S = 0.5
    resolved = asyncio.Event()

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting
        await session.send_tool_call([{"name": "escalate_to_human", "args": {"reason": "Refund"}}])
        await session.wait_for_tool_response()
        await session.wait_for_note()  # a colleague is coming
        await resolved.wait()
        await session.send_tool_call(
            [{"name": "escalate_to_human", "args": {"reason": "Now the delivery"}}]
        )
        await session.wait_for_tool_response()

    call, call_id = await a_call(live)
    first = str((await call.next_event("escalated"))["ticket_id"])
    await sync_to_async(resolve)(first, "kavya", "Refunded from the back office.")
    resolved.set()
    second = str((await call.next_event("escalated"))["ticket_id"])
    notes = [await live.session.wait_for_note(timeout=5)]
    while "callback" not in notes[-1]:  # the new wait runs out too
        notes.append(await live.session.wait_for_note(timeout=5))
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    state = await arjun.next_event("state")
    await arjun.take_over()

    assert second != first and state["escalation"] == second
    assert "keep the customer company" in notes[0]
    ticket = await ticket_once(second, joined_by="arjun")
    assert (ticket["status"], ticket["assignee"]) == ("claimed", "arjun")
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


async def test_a_ticket_resolved_while_its_customer_waits_no_longer_offers_its_call_to_join(
    asha: Customer, live: FakeLiveServer
) -> None:
    """Kavya resolves the ticket from the queue while Asha is still on the line: the call's
    pages stop saying a colleague is awaited (the live calls page would otherwise keep its
    "Join call", or fetch its rows again at every word the agent says)."""
    from support.escalations import resolve

    call, call_id, ticket_id = await an_escalated_call(live)
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state", escalation=ticket_id)

    await sync_to_async(resolve)(ticket_id, "kavya", "Sorted by phone.")

    assert (await meera.next_event("state", escalation=None))["call_id"] == call_id
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


# --- a phone caller -------------------------------------------------------------------------------


@pytest.fixture
def twilio(live: FakeLiveServer) -> Any:
    from django.test import override_settings

    from realtime.tests.phone_harness import AUTH_TOKEN, PUBLIC

    with override_settings(TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_BASE_URL=PUBLIC,
                           TWILIO_ACCOUNT_SID="", TWILIO_ESCALATION_NUMBER=""):  # fmt: skip
        yield live


async def a_phone_call_arjun_took_over(
    twilio: FakeLiveServer,
) -> tuple[Any, FakeSession, str, StaffPage]:
    """Asha calls from her phone and Arjun takes the call over: her phone, the model's
    session, the call id and Arjun's page."""
    from realtime.tests.phone_harness import Phone

    phone = await Phone.dial("+919800000101")
    session = await twilio.wait_for_session()
    record = await mongo.async_db().calls.find_one({"channel": "phone"})
    assert record is not None
    arjun = await StaffPage.open(record["call_id"], "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.take_over()
    return phone, session, str(record["call_id"]), arjun


async def test_a_phone_call_taken_over_carries_both_voices_through_ulaw(
    asha: Customer, twilio: FakeLiveServer
) -> None:
    from realtime.audio import ulaw_decode, ulaw_encode

    phone, session, _, arjun = await a_phone_call_arjun_took_over(twilio)
    await arjun.send({"type": "listen"})
    await arjun.next_event("state", listeners=["arjun"])

    await arjun.speak(tone_pcm(440, 1.5, 16_000))
    await phone.speak(ulaw_encode(tone_pcm(300, 1.0, 8_000)))
    await phone.wait_for(lambda: len(phone.media()) >= 85, "the staff voice", 10)  # chime + 1.5 s
    heard_by_staff = await arjun.wait_for_audio(b"C", 16_000)

    played = ulaw_decode(b"".join(phone.media()[-60:])).astype("<i2").tobytes()
    assert dominant_hz(played, 8_000) == pytest.approx(440, abs=8)  # µ-law 8 kHz, right pitch
    assert dominant_hz(heard_by_staff[-16_000:], 16_000) == pytest.approx(300, abs=8)
    assert session.audio_seconds < 0.5  # the model heard none of it
    await phone.hang_up()
    await arjun.leave()
    await phone.leave()


async def test_a_phone_caller_hanging_up_on_a_colleague_ends_the_call_for_them(
    asha: Customer, twilio: FakeLiveServer
) -> None:
    phone, model, call_id, arjun = await a_phone_call_arjun_took_over(twilio)

    await phone.hang_up()

    assert await arjun.next_event("ended") == {"type": "ended", "reason": "caller_hung_up"}
    assert await phone.wait_closed() == 1000
    ended = await wait_until_ended(call_id)
    assert ended["end_reason"] == "caller_hung_up"
    assert [(e["kind"], e["staff"]) for e in ended["staff_events"]] == [("take_over", "arjun")]
    await model.wait_closed()  # the model's session is closed too
    await arjun.leave()
    await phone.leave()


async def escalates_and_says_so(session: FakeSession) -> None:
    """The agent escalates, then says so (a fifth of a second) and ends its turn."""
    await session.send_tool_call(
        [{"name": "escalate_to_human", "args": {"reason": "Wants a person"}}]
    )
    await session.wait_for_tool_response()
    await session.send_audio(bytes(9600))  # "I'm passing you to a colleague..."
    await session.send_turn_complete()


async def test_a_phone_caller_a_lead_joined_is_not_transferred_away_from_them(
    asha: Customer, twilio: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With TWILIO_ESCALATION_NUMBER the escalated caller is transferred once they have heard
    the agent say so; a lead who joined first talks with them instead, and keeps them."""
    from django.test import override_settings

    from realtime.tests.phone_harness import Phone

    transfers: list[str] = []
    monkeypatch.setattr(twilio_rest, "update_call", lambda sid, twiml: transfers.append(sid))

    twilio.on_session(escalates_and_says_so)

    with override_settings(TWILIO_ACCOUNT_SID="AC" + "0" * 32,
                           TWILIO_ESCALATION_NUMBER="+919800000999"):  # fmt: skip
        phone = await Phone.dial("+919800000101")
        await phone.wait_for_event("mark", timeout=10)  # the agent's words, not heard yet
        record = await mongo.async_db().calls.find_one({"channel": "phone"})
        assert record is not None
        arjun = await StaffPage.open(record["call_id"], "arjun", LEAD_GROUP, "Arjun")
        await arjun.next_event("state")
        await arjun.take_over()
        chime = await phone.wait_for_event("mark", count=2, timeout=10)
        await phone.echo_mark(chime["mark"]["name"])  # the caller heard Arjun arrive
        await arjun.speak(tone_pcm(440, 0.5, 16_000))
        await arjun.send({"type": "hand_back", "note": "Sorted."})  # a turn of the agent's
        await arjun.next_event("state", mode="agent")

    assert transfers == []
    await phone.hang_up()
    record = await wait_until_ended(record["call_id"])
    assert record["end_reason"] == "caller_hung_up"
    await arjun.leave()
    await phone.leave()


@pytest.fixture
def slow_twilio(twilio: FakeLiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowTwilio]:
    """Escalated phone calls are transferred (TWILIO_ESCALATION_NUMBER), by a slow Twilio."""
    from django.test import override_settings

    slow = SlowTwilio()
    monkeypatch.setattr(twilio_rest, "update_call", slow.update_call)
    with override_settings(TWILIO_ACCOUNT_SID="AC" + "0" * 32,
                           TWILIO_ESCALATION_NUMBER="+919800000999"):  # fmt: skip
        yield slow
    slow.answer()  # a request the test left in flight


async def a_phone_call_being_transferred(
    twilio: FakeLiveServer, slow: SlowTwilio
) -> tuple[Any, CallSession, StaffPage]:
    """Asha's agent escalates and says so; once she has heard it, Twilio is asked to transfer
    her call and has not answered yet. Arjun (a lead) opens the call meanwhile: her phone,
    the call, and his page (its first `state` read)."""
    from realtime.tests.phone_harness import Phone

    twilio.on_session(escalates_and_says_so)

    phone = await Phone.dial("+919800000101")
    said = await phone.wait_for_event("mark", timeout=10)
    await phone.echo_mark(said["mark"]["name"])
    assert await asyncio.to_thread(slow.asked.wait, 5)
    record = await mongo.async_db().calls.find_one({"channel": "phone"})
    assert record is not None
    call = CallSession.here(record["call_id"])
    assert call is not None
    arjun = await StaffPage.open(record["call_id"], "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    return phone, call, arjun


async def refused_take_over(arjun: StaffPage) -> dict[str, Any]:
    await arjun.send({"type": "take_over"})
    return await arjun.next_event("error")


async def test_a_phone_call_twilio_is_putting_through_cannot_be_taken_over_until_twilio_refuses(
    asha: Customer, twilio: FakeLiveServer, slow_twilio: SlowTwilio
) -> None:
    """Twilio's transfer cannot be called back: a colleague who took over meanwhile would hold
    a call whose caller is about to be gone. They can listen and whisper, and take over once
    Twilio refuses (the caller stays on the line)."""
    phone, call, arjun = await a_phone_call_being_transferred(twilio, slow_twilio)

    refused = await refused_take_over(arjun)
    assert refused["code"] == "not_live"
    assert "put through to our escalation phone line" in refused["message"]
    assert "you can take over or end the call if that does not go through" in refused["message"]
    await arjun.send({"type": "listen"})
    listening = await arjun.next_event("state", listeners=["arjun"])
    assert (listening["mode"], listening["staff"], listening["doing"]) == (
        "agent", None, "transferring")  # fmt: skip
    await arjun.send({"type": "whisper", "text": "Tell her it may take a minute."})
    await arjun.next_event("whisper", staff="arjun")

    slow_twilio.answer(refuse=True)
    await arjun.until(lambda events: events[-1]["type"] == "state"
                      and events[-1]["doing"] != "transferring")  # fmt: skip
    await arjun.take_over()  # the caller is still on the line, and Arjun has her now

    await phone.hang_up()
    ended = await wait_until_ended(call.call_id)
    assert ended["end_reason"] == "caller_hung_up"
    assert [e["kind"] for e in ended["staff_events"]] == ["listen", "whisper", "take_over"]
    await arjun.leave()
    await phone.leave()


async def test_a_phone_call_twilio_is_putting_through_cannot_be_ended_by_staff(
    asha: Customer, twilio: FakeLiveServer, slow_twilio: SlowTwilio
) -> None:
    """Nor ended: Twilio has the transfer and moves the caller whatever the call does, so it
    would end as `ended_by_staff` with the caller at the escalation line after all."""
    phone, call, arjun = await a_phone_call_being_transferred(twilio, slow_twilio)

    await arjun.send({"type": "end_call", "reason": "Abusive caller"})

    refused = await arjun.next_event("error")
    assert refused["code"] == "not_live"
    assert refused["message"] == (
        "The caller is being put through to our escalation phone line; you can take over "
        "or end the call if that does not go through."
    )  # fmt: skip
    slow_twilio.answer()  # yes: Twilio moves the call
    async with asyncio.timeout(5):
        while call.transfer != Transfer.CONFIRMED:
            await asyncio.sleep(0.01)
    await phone.hang_up()  # Twilio ends the stream as it moves the call
    assert (await arjun.next_event("ended"))["reason"] == "transferred_to_human"
    ended = await wait_until_ended(call.call_id)
    assert ended["end_reason"] == "transferred_to_human" and not ended.get("staff_events")
    await arjun.leave()
    await phone.leave()


async def test_a_phone_call_twilio_put_through_ends_as_transferred_with_nobody_holding_it(
    asha: Customer, twilio: FakeLiveServer, slow_twilio: SlowTwilio
) -> None:
    phone, call, arjun = await a_phone_call_being_transferred(twilio, slow_twilio)
    assert (await refused_take_over(arjun))["code"] == "not_live"

    slow_twilio.answer()  # yes: Twilio moves the call
    async with asyncio.timeout(5):
        while call.transfer != Transfer.CONFIRMED:
            await asyncio.sleep(0.01)
    assert (await refused_take_over(arjun))["code"] == "not_live"  # nor before its `stop`
    await phone.hang_up()  # Twilio ends the stream as it moves the call

    assert (await arjun.next_event("ended"))["reason"] == "transferred_to_human"
    ended = await wait_until_ended(call.call_id)
    assert ended["end_reason"] == "transferred_to_human"
    assert ended.get("holder") is None and not ended.get("staff_events")
    await arjun.leave()
    await phone.leave()


async def queue_rows(username: str) -> str:
    """The open queue's rows as the live queue page fetches them again (?rows=1)."""
    client = Client()
    client.cookies["sessionid"] = await sync_to_async(_staff_cookie)(username, None, "")
    response = await sync_to_async(client.get)("/staff/queue/?rows=1")
    assert response.status_code == 200
    return response.content.decode()


async def test_an_open_queue_hears_when_twilio_starts_and_stops_putting_a_caller_through(
    asha: Customer, twilio: FakeLiveServer, slow_twilio: SlowTwilio
) -> None:
    """Meera's open queue is told when the caller of a live escalation starts being put through
    to the escalation phone line, and when that is over (Twilio refused): the rows it then
    fetches already say so, however late the call's record is written otherwise."""
    cookie = await sync_to_async(_staff_cookie)("meera", LEAD_GROUP, "Meera")
    queue = staff_socket("/ws/staff/queue", cookie)
    assert (await queue.connect(timeout=5))[0]

    async def told(transferring: bool) -> dict[str, Any]:
        async with asyncio.timeout(5):
            while True:
                message = await queue.receive_json_from(timeout=5)
                if message["type"] == "changed" and message["ticket"].get(
                    "transferring") is transferring:  # fmt: skip
                    return message

    phone, call, arjun = await a_phone_call_being_transferred(twilio, slow_twilio)
    putting_through = await told(True)
    assert putting_through["ticket"]["ticket_id"] == call.escalation
    assert "On the call now</b>, putting the caller through" in await queue_rows("meera")

    slow_twilio.answer(refuse=True)  # the caller stays with the agent
    await told(False)
    assert "On the call now</b>, waiting for a colleague." in await queue_rows("meera")
    await queue.disconnect()
    await arjun.leave()
    await phone.hang_up()
    await phone.leave()


async def test_an_unknown_caller_nobody_joined_is_not_offered_a_callback_we_cannot_book(
    twilio: FakeLiveServer, settings: Any
) -> None:
    """A number matched to no customer can escalate, but a callback is booked to the number on
    an account: when nobody joins in time, the agent offers to keep waiting instead."""
    from realtime.tests.phone_harness import Phone

    settings.ESCALATION_WAIT_S = 0.3

    @twilio.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_tool_call(
            [{"name": "escalate_to_human", "args": {"reason": "Wants a person"}}]
        )
        await session.wait_for_tool_response()

    phone = await Phone.dial("+15550009999")
    session = await twilio.wait_for_session()
    await session.wait_for_note()  # the greeting
    await session.wait_for_note()  # a colleague is coming
    after_the_wait = await session.wait_for_note(timeout=5)

    assert "No colleague has been able to join yet" in after_the_wait
    assert "schedule_callback" not in after_the_wait
    assert "ticket" in after_the_wait  # what they can quote when they call again
    await phone.hang_up()
    await phone.leave()


async def test_a_customer_answering_a_callback_is_connected_to_the_staff_member_who_dialled(
    asha: Customer, twilio: FakeLiveServer, settings: Any
) -> None:
    settings.VOICE_RESUME_GRACE_S = 10  # the call waits for Twilio's new stream (below)
    from callbacks.tests.conftest import make_callback, today_at
    from realtime.audio import ulaw_decode
    from realtime.phone import outbound, security
    from realtime.tests.phone_harness import Phone, webhook

    await sync_to_async(make_callback)(asha, today_at(15, 30, days=1), callback_id="CBK-ASHA01")
    await mongo.async_db().callbacks.update_one(
        {"callback_id": "CBK-ASHA01"}, {"$set": {"call_sid": "CA" + "7" * 32}}
    )
    await sync_to_async(_staff_cookie)("arjun", LEAD_GROUP, "Arjun")  # the lead who dialled
    token = security.mint_callback_token(
        security.CallbackStream("CBK-ASHA01", "+919800000101", "arjun")
    )

    phone = await Phone.stream("CA" + "7" * 32, token, extra_parameters={
        outbound.KIND: outbound.CALLBACK, outbound.CALLBACK_ID: "CBK-ASHA01",
    })  # fmt: skip
    callback = await _until_linked("CBK-ASHA01")
    staff = await StaffPage.open(callback["answered_call_id"], "arjun", None)
    state = await staff.next_event("state")
    await staff.speak(tone_pcm(440, 1.0, 16_000))
    await phone.wait_for(lambda: len(phone.media()) >= 50, "the staff voice", 10)

    assert (state["mode"], state["staff"]) == ("human", "arjun")
    played = ulaw_decode(b"".join(phone.media()[-40:])).astype("<i2").tobytes()
    assert dominant_hz(played, 8_000) == pytest.approx(440, abs=8)

    # The stream ends with the customer still on the line (its process handed the call over,
    # say): Twilio asks the voice webhook (the callback's <Connect action>) and streams anew.
    await phone.leave()
    twiml = await webhook("+911140001234", "CA" + "7" * 32, Direction="outbound-api")
    token = twiml.split('name="token" value="')[1].split('"')[0]
    again = await Phone.stream("CA" + "7" * 32, token)
    # What he says before the new stream is attached is not kept for it: speak once it is.
    carried = CallSession.here(callback["answered_call_id"])
    assert carried is not None
    async with asyncio.timeout(5):
        while not carried.attached:
            await asyncio.sleep(0.01)
    await staff.speak(tone_pcm(660, 2.0, 16_000))
    await again.wait_for(lambda: len(again.media()) >= 40, "the staff voice again", 10)

    replayed = ulaw_decode(b"".join(again.media()[-30:])).astype("<i2").tobytes()
    assert dominant_hz(replayed, 8_000) == pytest.approx(660, abs=8)  # still Arjun's call
    assert await mongo.async_db().calls.count_documents({}) == 1
    await again.hang_up()
    await staff.leave()
    await again.leave()


async def _until_linked(callback_id: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            found = await mongo.async_db().callbacks.find_one({"callback_id": callback_id})
            if found and str(found.get("answered_call_id", "")).startswith("CALL-"):
                return found
            await asyncio.sleep(0.05)


async def test_a_tool_the_model_calls_while_a_colleague_holds_the_call_is_shown_to_staff_only(
    asha: Customer, live: FakeLiveServer
) -> None:
    """The tool is refused (the model is told to stay quiet): the customer's page must not
    say "Checking your orders…", let alone "Our records are unavailable", over a colleague
    talking to her; the staff on the call see what the model tried."""
    call, call_id, arjun = await held_by_arjun(live)
    session = live.session
    await session.wait_for_note()  # the greeting
    await session.wait_for_note()  # "stay silent"

    await session.send_tool_call([{"name": "check_order_status", "args": {}}])
    answer = await session.wait_for_tool_response()
    started = await arjun.next_event("tool")
    finished = await arjun.next_event("tool")
    await arjun.send({"type": "hand_back", "note": ""})
    await call.next_event("agent_changed")
    await call.next_event("agent_changed")  # back with the agent

    assert answer["response"]["reason"] == "unavailable"  # told to wait, nothing done
    assert (started["status"], finished["status"]) == ("started", "done")
    assert [e for e in call.events if e["type"] == "tool"] == []
    await call.send({"type": "end"})
    await wait_until_ended(call_id)
