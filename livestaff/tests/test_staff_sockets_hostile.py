"""What a hostile page with a staff login (or without one) may send on the staff sockets:
`/ws/staff/calls/<call_id>`, `/ws/staff/live` and `/ws/staff/queue`.

A frame the live call view cannot use gets an `error` with its code (the sockets that only
listen ignore everything); the socket, its call and a bystander call go on; nothing reaches the
customer or the model, and nothing is added to the call's record. Over the real ASGI app and
database with the fake Live API, as test_staff_on_a_call.py; the same pages racing at random:
test_staff_fuzz.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.template.loader import get_template

from livestaff import consumers as livestaff_consumers
from livestaff import link
from livestaff.link import LIVE_CALLS_GROUP
from livestaff.protocol import MAX_REASON, MAX_TEXT, MAX_TEXT_FRAME, PERMISSION
from livestaff.tests.sockets import staff_socket
from livestaff.tests.test_staff_on_a_call import (
    AGENT_GROUP,
    LEAD_GROUP,
    StaffPage,
    _staff_cookie,
    a_call,
    counted,
    held_by_arjun,
)
from realtime.call_session import CallSession
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import BrowserCall, call_record, speech, wait_until_ended
from support.events import ESCALATIONS_GROUP
from support.models import Customer
from voiceproject.asgi import application
from voiceproject.messaging import send_to_group
from voiceproject.tests.signals import tone_pcm

pytestmark = pytest.mark.django_db(transaction=True)

# (whose page sends it: Arjun, a lead holding the call, or Meera, an agent watching it; the
# frame; the error code it gets)
BAD_FRAMES = [
    ("arjun", "not json", "bad_json"),
    ("arjun", "\ud800", "bad_json"),  # a lone surrogate, raw
    ("arjun", "[" * 5_000 + "]" * 5_000, "bad_json"),  # nested deeper than Python's stack
    ("arjun", "9" * 5_000, "bad_json"),  # an integer longer than Python reads
    ("arjun", json.dumps([{"type": "whisper", "text": "hi"}]), "unknown_type"),
    ("arjun", json.dumps({"type": "dance"}), "unknown_type"),
    ("arjun", json.dumps({"type": 7}), "unknown_type"),
    # What the page's consumer says to the call for it, never the page itself.
    ("arjun", json.dumps({"type": "watch", "holding": True}), "unknown_type"),
    ("arjun", json.dumps({"type": "page_closed"}), "unknown_type"),
    ("arjun", json.dumps({"type": "whisper"}), "bad_json"),
    ("arjun", json.dumps({"type": "whisper", "text": {"$ne": None}}), "bad_json"),
    ("arjun", json.dumps({"type": "whisper", "text": " \n\t "}), "bad_json"),
    ("arjun", json.dumps({"type": "hand_back", "note": 7}), "bad_json"),
    ("arjun", json.dumps({"type": "end_call", "reason": ["bye"]}), "bad_json"),
    # Longer than the page's fields allow, yet well under the frame's 16 KiB: refused, not cut.
    ("arjun", json.dumps({"type": "whisper", "text": "w" * (MAX_TEXT + 1)}), "too_long"),
    ("arjun", json.dumps({"type": "hand_back", "note": "n" * (MAX_TEXT + 1)}), "too_long"),
    ("arjun", json.dumps({"type": "end_call", "reason": "r" * (MAX_REASON + 1)}), "too_long"),
    ("meera", json.dumps({"type": "take_over"}), "forbidden"),
    ("meera", json.dumps({"type": "hand_back", "note": "mine now"}), "forbidden"),
    ("meera", json.dumps({"type": "end_call", "reason": "bye"}), "forbidden"),
]


async def quiet(page: StaffPage | BrowserCall, for_s: float = 0.2) -> None:
    """Read what `page` was sent until nothing more comes for `for_s`."""
    while not await page.communicator.receive_nothing(for_s):
        if await page._receive(5) is None:
            return


async def test_bad_frames_get_their_error_and_the_call_and_a_bystander_go_on(
    asha: Customer, live: FakeLiveServer
) -> None:
    @live.on_session
    async def talking(session: FakeSession) -> None:  # every agent talks the whole time
        while not session.closed:
            await session.send_audio(speech(0.02, 24_000), chunk_ms=20)
            await asyncio.sleep(0.02)

    bystander, bystander_id = await a_call(live)
    call, call_id, arjun = await held_by_arjun(live)
    session = live.sessions[-1]
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state")
    notes = len(session.notes)
    pages = {"arjun": arjun, "meera": meera}

    for who, frame, code in BAD_FRAMES:
        await pages[who].communicator.send_to(text_data=frame)
        refused = await pages[who].next_event("error")
        assert (refused["code"], bool(refused["message"])) == (code, True), frame[:40]
        if code == "unknown_type":  # naming every action a page may send
            assert all(kind in refused["message"] for kind in PERMISSION), refused["message"]
    too_long = [e["message"] for e in arjun.events if e.get("code") == "too_long"]
    assert too_long == [
        "A whisper is at most 2,000 characters; this one has 2,001.",
        "A hand-back note is at most 2,000 characters; this one has 2,001.",
        "An end-call reason is at most 200 characters; this one has 201.",
    ]
    # A whisper with a lone surrogate and a control character, naming the bystander's call:
    # it goes to the call the page is on, cleaned.
    await arjun.send({"type": "whisper", "text": "Ask\ud800 about\x00 it", "call_id": bystander_id})
    whispered = await meera.next_event("whisper")
    await arjun.speak(tone_pcm(440, 0.5, 16_000))
    await session.wait_for(lambda: len(session.notes) > notes, "the whisper")

    assert whispered["text"] == "Ask\ufffd about\x00 it"
    assert len(session.notes) == notes + 1 and "Ask\ufffd about" in session.notes[-1]
    await call.wait_for_audio(int(0.4 * 48_000))  # Arjun still talks to the customer
    heard = len(bystander.agent_audio)
    await bystander.wait_for_audio(heard + 48_000)  # and the bystander's agent to theirs
    await quiet(call)
    said = {"ready", "agent_changed", "interrupted", "transcript", "turn_complete"}
    assert {e["type"] for e in call.events} <= said and "Ask" not in json.dumps(call.events)
    assert (arjun.close_code, meera.close_code) == (None, None)
    assert "staff_events" not in await call_record(bystander_id)
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [(e["kind"], e.get("text")) for e in record["staff_events"]] == [
        ("take_over", None), ("whisper", "Ask\ufffd about\x00 it")]  # fmt: skip
    await bystander.send({"type": "end"})
    await wait_until_ended(bystander_id)


async def test_a_frame_larger_than_any_action_is_refused_unread(
    asha: Customer, live: FakeLiveServer
) -> None:
    """A whisper of a megabyte is refused as too large, unread, rather than read and cut to
    its first 2,000 characters for the model; the longest whisper and end-call reason a page
    sends go through."""
    call, call_id, arjun = await held_by_arjun(live)
    session = live.session
    notes = len(session.notes)

    await arjun.send({"type": "whisper", "text": "\x1b" * (1024 * 1024 // 6)})  # 6 bytes each
    await arjun.until(lambda events: counted(events, "error") + counted(events, "whisper") > 0)
    answer = next(e for e in arjun.events if e["type"] in ("error", "whisper"))
    await arjun.send({"type": "whisper", "text": "\x1b" * 2_000})  # the most a page sends
    whispered = await arjun.next_event("whisper")
    await session.wait_for(lambda: len(session.notes) > notes, "the whisper")

    assert (answer["type"], answer.get("code")) == ("error", "frame_too_large")
    assert str(MAX_TEXT_FRAME) in answer["message"]
    assert len(whispered["text"]) == 2_000 and len(session.notes) == notes + 1
    await arjun.send({"type": "end_call", "reason": " " + "é" * MAX_REASON + "\n"})
    record = await wait_until_ended(call_id)
    assert [(e["kind"], e.get("text")) for e in record["staff_events"]] == [
        ("take_over", None),
        ("whisper", "\x1b" * 2_000),
        ("end_call", "é" * MAX_REASON),
    ]


def test_the_live_call_views_fields_allow_what_the_server_takes() -> None:
    """The page's `maxlength`s (templates/livestaff/call.html) are the server's limits: what
    a person can type is never refused as too long, and nothing longer is taken."""
    page = get_template("livestaff/call.html").template.source  # type: ignore[attr-defined]

    def maxlength(field_id: str) -> int:
        found = re.search(rf'<(?:textarea|input) id="{field_id}"[^>]* maxlength="(\d+)"', page)
        assert found is not None, field_id
        return int(found[1])

    assert (maxlength("whisper-text"), maxlength("hand-back-note"), maxlength("end-reason")) == (
        MAX_TEXT, MAX_TEXT, MAX_REASON)  # fmt: skip


async def test_more_pages_of_one_staff_member_get_no_more_actions_through(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script opening socket after socket on one call shares one allowance of actions: it
    floods neither the model with whispers nor the call's record. A colleague has their own."""
    monkeypatch.setattr(livestaff_consumers, "ACTIONS_PER_S", 0.0)  # the burst alone
    burst = livestaff_consumers.ACTIONS_BURST
    call, call_id = await a_call(live)
    session = live.session
    await session.wait_for_note()  # the greeting
    pages = [await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera") for _ in range(3)]
    divya = await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya")
    for page in [*pages, divya]:
        await page.next_event("state")

    def told() -> int:  # the whispers the model was told
        return sum("guidance" in note for note in session.notes)

    for n, page in enumerate(pages * burst):
        await page.send({"type": "whisper", "text": f"note {n}"})
    await divya.send({"type": "whisper", "text": "from Divya"})
    await divya.next_event("whisper", staff="divya")
    for page in [*pages, divya]:
        await quiet(page)

    await session.wait_for(lambda: told() >= burst + 1, "the whispers")
    refused = sum(counted(page.events, "error") for page in pages)
    assert (refused, counted(divya.events, "whisper")) == (2 * burst, burst + 1)
    assert told() == burst + 1
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert len(record["staff_events"]) == burst + 1


async def test_a_call_sends_its_audio_to_so_many_listening_pages_and_no_more(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    """Pages opened one after another on a call, each listening: the call's process would
    send both sides' audio to every one. A staff member's pages listen up to
    MAX_LISTENERS_EACH, the call's up to MAX_LISTENERS; one more is told why and sent no
    audio, also while its page goes on beating, until a page stops listening or goes."""
    settings.STAFF_HOLDING_EVERY_S = 0.1  # listening pages say so every 0.1 s
    each, most = link.MAX_LISTENERS_EACH, link.MAX_LISTENERS
    call, call_id = await a_call(live)
    carried = CallSession.here(call_id)
    assert carried is not None
    listeners = carried.staff.link.listeners
    people = [f"agent{n}" for n in range(most // each)]
    pages = [
        await StaffPage.open(call_id, name, AGENT_GROUP) for name in people for _ in range(each)
    ]
    extra = await StaffPage.open(call_id, people[0], AGENT_GROUP)  # one tab more of hers
    divya = await StaffPage.open(call_id, "divya", AGENT_GROUP, "Divya")
    for page in [*pages, extra, divya]:
        await page.next_event("state")

    async def until_listening(count: int) -> None:
        async with asyncio.timeout(5):
            while len(listeners) != count:
                await asyncio.sleep(0.02)

    for page in pages:
        await page.send({"type": "listen"})
    await until_listening(most)
    await extra.send({"type": "listen"})
    await divya.send({"type": "listen"})
    hers, full = await extra.next_event("error"), await divya.next_event("error")
    await asyncio.sleep(0.5)  # their pages would say they listen five times over
    await call.say(speech(0.3, 16_000, seed=5))
    await pages[-1].wait_for_audio(b"C", 9_600)
    await quiet(extra)
    await quiet(divya)

    assert (hers["code"], full["code"]) == ("too_many_listeners", "too_many_listeners")
    assert hers["message"] == (
        "You are listening to this call in 2 tabs already: stop listening in one of them first."
    )
    assert full["message"] == ("8 pages are listening to this call already, the most it takes: "
                               "try again once one of them stops listening.")  # fmt: skip
    assert (len(listeners), len(extra.audio[b"C"]), len(divya.audio[b"C"])) == (most, 0, 0)
    assert "divya" not in carried.staff.in_state()["listeners"]

    # A page that stops listening frees its place, for a page that asks for it (not for one
    # refused that merely goes on beating); one that goes frees its staff member's place too.
    await pages[-1].send({"type": "unlisten"})
    await until_listening(most - 1)
    await asyncio.sleep(0.5)
    assert len(listeners) == most - 1
    await divya.send({"type": "listen"})
    await divya.next_event("state", listeners=sorted([*people, "divya"]))
    await pages[0].leave()
    await until_listening(most - 1)
    await extra.send({"type": "listen"})
    await until_listening(most)
    await call.say(speech(0.3, 16_000, seed=6))
    await divya.wait_for_audio(b"C", 9_600)
    await extra.wait_for_audio(b"C", 9_600)

    assert counted(extra.events + divya.events, "error") == 2  # the two refusals alone
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [e["kind"] for e in record["staff_events"]] == ["listen"] * (most + 2)


async def test_the_page_a_call_is_held_from_hears_it_however_many_listen(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arjun's page asks to listen as he takes over (static/livestaff/call.js), with the call's
    places taken: refused. Once the call is held from his page it listens (the page asks
    again): he talks to the customer and must hear her."""
    monkeypatch.setattr(link, "MAX_LISTENERS", 1)
    call, call_id = await a_call(live)
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await meera.next_event("state")
    await meera.send({"type": "listen"})
    await meera.next_event("state", listeners=["meera"])
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")

    await arjun.send({"type": "listen"})
    refused = await arjun.next_event("error")
    await arjun.take_over()
    await arjun.send({"type": "listen"})
    await arjun.next_event("state", listeners=["arjun", "meera"])
    await call.say(speech(0.3, 16_000, seed=7))

    assert refused["code"] == "too_many_listeners"
    assert len(await arjun.wait_for_audio(b"C", 9_600)) >= 9_600
    await call.send({"type": "end"})
    record = await wait_until_ended(call_id)
    assert [e["kind"] for e in record["staff_events"]] == ["listen", "take_over", "listen"]


async def test_microphone_frames_of_any_size_reach_the_customer_only_from_the_holder(
    asha: Customer, live: FakeLiveServer
) -> None:
    """Frames of one byte, of odd lengths and too large, sent before a take-over, from a page
    that may not take over, and after handing back: dropped without a word (those held ones
    that fit, cut to whole samples), and the pages stay open."""
    call, call_id = await a_call(live)
    divya = await StaffPage.open(call_id, "divya", LEAD_GROUP, "Divya")
    meera = await StaffPage.open(call_id, "meera", AGENT_GROUP, "Meera")
    await divya.next_event("state")
    await meera.next_event("state")
    sizes = (1, 3, 641, 64 * 1024 + 1, 1024 * 1024)

    for size in sizes:  # before taking over, and from an agent
        await divya.communicator.send_to(bytes_data=b"\x7f" * size)
        await meera.communicator.send_to(bytes_data=b"\x7f" * size)
    await divya.take_over()
    for size in sizes:  # holding it: frames of up to 64 KiB, as whole samples
        await divya.communicator.send_to(bytes_data=b"\x7f" * size)
    await divya.send({"type": "hand_back"})
    await divya.next_event("state", mode="agent")
    await quiet(call, 0.3)
    heard = len(call.agent_audio)
    for size in sizes:
        await divya.communicator.send_to(bytes_data=b"\x7f" * size)
    await quiet(divya)
    await quiet(meera)
    await quiet(call, 0.3)

    # Only what she said holding the call: 2 + 640 bytes at 16 kHz, half as much again at 24.
    assert 0 < heard <= (2 + 640) * 3 // 2
    assert len(call.agent_audio) == heard  # nothing after the hand-back
    assert counted(divya.events + meera.events, "error") == 0
    assert (divya.close_code, meera.close_code) == (None, None)
    await call.send({"type": "end"})
    await wait_until_ended(call_id)


@pytest.mark.parametrize(("path", "group", "message"), [
    ("/ws/staff/live", LIVE_CALLS_GROUP,
     {"type": "live.call", "call": {"call_id": "CALL-0", "ended": True}}),
    ("/ws/staff/queue", ESCALATIONS_GROUP,
     {"type": "escalation.opened", "ticket": {"ticket_id": "T-0"}}),
])  # fmt: skip
async def test_the_sockets_that_only_listen_ignore_whatever_they_are_sent(
    path: str, group: str, message: dict[str, Any]
) -> None:
    cookie = await sync_to_async(_staff_cookie)("arjun", LEAD_GROUP, "Arjun")
    page = staff_socket(path, cookie)
    assert (await page.connect(timeout=5))[0]

    for frame in ("not json", "[" * 100_000, json.dumps({"type": "take_over"}), "\ud800"):
        await page.send_to(text_data=frame)
    await page.send_to(bytes_data=b"\x00" * (1024 * 1024 + 1))
    silent = await page.receive_nothing(0.3)
    assert await send_to_group(group, message)
    told = json.loads((await page.receive_output(timeout=5))["text"])

    assert silent and told["type"] in ("call", "escalation")
    await page.disconnect()


@pytest.mark.parametrize("call_id", ["CALL-0000000000000000", "a\nb%00" + "é" * 300])
async def test_a_page_on_a_call_that_does_not_exist_is_told_it_is_not_live(call_id: str) -> None:
    page = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")

    refused = await page.next_event("error")

    assert refused == {"type": "error", "code": "not_live", "message": "This call is not live."}
    assert await page.communicator.receive_output(timeout=1) == {
        "type": "websocket.close", "code": livestaff_consumers.NOT_LIVE}  # fmt: skip


async def test_a_page_without_a_sign_in_is_closed_before_anything_is_read() -> None:
    page = WebsocketCommunicator(application, "/ws/staff/calls/CALL-0000000000000000", headers=[
        (b"host", b"testserver"), (b"origin", b"http://testserver"),
    ])  # fmt: skip

    connected, _ = await page.connect(timeout=5)
    closed = await page.receive_output(timeout=5)

    assert connected and closed == {"type": "websocket.close", "code": 4403}
