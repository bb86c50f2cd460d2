"""What contract section 10 adds to Priya's call (conftest.py: `priya`), as the after-the-call
work writes it: an outcome, per-turn latency, a cost and the model's summary; and a short real
recording (Ogg Opus in GridFS) whose speech lines up with the transcript."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from asgiref.sync import async_to_sync

from callbacks.models import Callback
from postcall import store
from postcall.recording import AGENT_RATE, RATE, OggOpusEncoder
from support import mongo
from support.models import Customer
from voiceproject.tests.signals import tone

CALL_ID = "call-priya-1"
SUMMARY = {
    "text": "Priya's masala dosa arrived cold and soggy. The agent opened an urgent ticket "
            "for a colleague to arrange a refund.",
    "sentiment": "negative",
    "resolved": False,
    "follow_up": "Refund ORD-3001 or offer a replacement, and call Priya back today.",
    "source": "model",
    "model": "gemini-3.5-flash-lite",
}


def add_after_call_fields(call_id: str = CALL_ID, *, summary: dict[str, Any] | None = SUMMARY
                          ) -> dict[str, Any]:  # fmt: skip
    """Write outcome, turns, cost (and `summary`, unless None) onto the call; returns them."""
    calls = mongo.sync_db().calls
    call = calls.find_one({"call_id": call_id})
    assert call is not None
    started = call["started_at"]
    fields: dict[str, Any] = {
        "outcome": "escalated",
        "duration_s": 185.0,
        "turns": [
            {"at": started + dt.timedelta(seconds=s), "user_ms": 1800, "first_audio_ms": wait,
             "tools_ms": tools, "source": "live"}
            for s, wait, tools in ((2, 820, 0), (14, 2400, 1350), (40, 950, 0), (70, None, 0),
                                   (95, 1100, 300))
        ],
        "cost": {"currency": "INR", "amount": 245, "usd": 0.027655, "model": "gemini-3.8-live",
                 "by_modality": {"input_audio": 96, "input_text": 18, "output_audio": 131}},
    }  # fmt: skip
    if summary is not None:
        fields["summary"] = summary
    calls.update_one({"call_id": call_id}, {"$set": fields})
    return fields


# --- a recording -------------------------------------------------------------------------------

SPOKEN = ((0.5, 1.5, "customer"), (2.5, 1.5, "agent"), (4.5, 1.5, "customer"))
LENGTH_S = 7.0


def ogg_recording() -> bytes:
    """LENGTH_S seconds of stereo Ogg Opus: a tone on the customer's side (left) or the agent's
    (right) at each of SPOKEN's (start, length, side)."""
    customer = np.zeros(int(LENGTH_S * RATE), np.int16)
    agent = np.zeros(int(LENGTH_S * AGENT_RATE), np.int16)
    for start, length, side in SPOKEN:
        track, rate = (customer, RATE) if side == "customer" else (agent, AGENT_RATE)
        said = tone(440 if side == "customer" else 660, length, rate)
        track[int(start * rate): int(start * rate) + len(said)] = said
    encoder = OggOpusEncoder()
    return encoder.encode(customer, agent) + encoder.finish()


def store_recording(call_id: str, started_at: dt.datetime, data: bytes) -> None:
    """The recording as postcall/store.py writes it, its time zero the call's start."""

    async def write() -> None:
        writer = store.RecordingWriter(call_id, channel="phone", started_at=started_at)
        await writer.open()
        await writer.append(data, final=True)
        await mongo.close_async_client()

    async_to_sync(write)()


RECORDED_CALL_ID = "call-priya-recorded"
SILENT_CALL_ID = "call-priya-unrecorded"


def make_recorded_call(user_id: int) -> dt.datetime:
    """A short ended call whose three lines are said at SPOKEN's times, with its recording;
    returns its start."""
    lines = ["Hello, my order is late.", "Let me check that for you.", "Thank you."]
    return _recorded_call(RECORDED_CALL_ID, user_id, lines, parts_at=(0.0,))


MOVED_CALL_ID = "call-priya-moved"
MOVED_AT_S = 8.0


def make_moved_call(user_id: int) -> dt.datetime:
    """A call that moved to another server MOVED_AT_S seconds in: its recording is in two
    parts, each LENGTH_S long with SPOKEN's lines, the second from MOVED_AT_S (the page shows
    five turns: the customer's lines either side of the move are one). Returns its start."""
    lines = ["Hello, my order is late.", "Let me check that for you.", "It was due at noon.",
             "Are you still there?", "Yes: it left the kitchen at 12:40.", "Thank you."]
    return _recorded_call(MOVED_CALL_ID, user_id, lines, parts_at=(0.0, MOVED_AT_S))


def _recorded_call(call_id: str, user_id: int, lines: list[str],
                   parts_at: tuple[float, ...]) -> dt.datetime:  # fmt: skip
    """An ended call recorded in a part from each of `parts_at` (seconds into the call), each
    part ogg_recording() with `lines` said at SPOKEN's times in it, in order."""
    started = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    said = [(part + start, side) for part in parts_at for start, _, side in SPOKEN]
    mongo.sync_db().calls.insert_one({
        "call_id": call_id, "user_id": user_id, "channel": "web",
        "started_at": started, "ended_at": started + dt.timedelta(seconds=parts_at[-1] + LENGTH_S),
        "end_reason": "caller_hung_up", "outcome": "resolved_info",
        "transcript": [{"role": "user" if side == "customer" else "agent", "text": text,
                        "at": started + dt.timedelta(seconds=at)}
                       for (at, side), text in zip(said, lines, strict=True)],
        "tool_calls": [], "usage": {},
    })  # fmt: skip
    for part in parts_at:
        store_recording(call_id, started + dt.timedelta(seconds=part), ogg_recording())
    return started


def make_unrecorded_call(user_id: int, *, audio: bytes | None = None) -> dt.datetime:
    """An ended call whose recording holds no audio. `audio` None: its worker died before
    its first write (a `files` document, no chunks, not written to since); else these
    bytes, completed (the Ogg headers alone, say). Returns its start."""
    started = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    mongo.sync_db().calls.insert_one({
        "call_id": SILENT_CALL_ID, "user_id": user_id, "channel": "phone",
        "started_at": started, "ended_at": started + dt.timedelta(minutes=1),
        "end_reason": "lost", "outcome": "agent_unavailable",
        "transcript": [{"role": "user", "text": "Hello?", "at": started}],
        "tool_calls": [], "usage": {},
    })  # fmt: skip
    if audio is not None:
        store_recording(SILENT_CALL_ID, started, audio)
        return started

    async def died_before_writing() -> None:
        writer = store.RecordingWriter(SILENT_CALL_ID, channel="phone", started_at=started)
        await writer.open()
        await mongo.close_async_client()

    async_to_sync(died_before_writing)()
    mongo.sync_db()[f"{store.BUCKET}.files"].update_one(
        {"metadata.call_id": SILENT_CALL_ID},
        {"$set": {"metadata.updated_at": started + dt.timedelta(seconds=1)}},
    )
    return started


def ogg_headers() -> bytes:
    """The Ogg Opus headers (OpusHead, OpusTags) with no audio after them."""
    data = ogg_recording()
    third_page = data.index(b"OggS", data.index(b"OggS", 1) + 1)
    return data[:third_page]


# --- a callback booked on the call ---------------------------------------------------------------

SLOT = dt.datetime(2026, 12, 8, 5, 0, tzinfo=dt.UTC)  # 10:30 in Kolkata
MADE = dt.datetime(2026, 12, 8, 5, 12, tzinfo=dt.UTC)  # 10:42


def book_a_callback(customer: Customer, *, status: str = "scheduled",
                    closed_at: dt.datetime | None = None) -> None:  # fmt: skip
    """Priya's call booked callback CBK-PRIYA1 (no ticket); its stand-in summary says to call
    her back."""
    calls = mongo.sync_db().calls
    call = calls.find_one({"call_id": CALL_ID})
    assert call is not None
    calls.update_one({"call_id": CALL_ID}, {"$set": {
        "outcome": "callback_scheduled", "end_reason": "caller_hung_up",
        "tool_calls": [{"name": "schedule_callback", "args": {"reason": "cold food"},
                        "result": {"ok": True, "callback_id": "CBK-PRIYA1",
                                   "when": "Tuesday 8 December at 10:30 am"},
                        "ok": True, "started_at": call["started_at"], "ms": 40}],
        "summary": {"text": "Callback scheduled: booked callback CBK-PRIYA1.", "sentiment": None,
                    "resolved": False, "follow_up": "Call the customer back (CBK-PRIYA1).",
                    "source": "tool_results"},
    }})  # fmt: skip
    Callback.objects.create(callback_id="CBK-PRIYA1", customer=customer, phone=customer.phone,
                            slot_start=SLOT, local_date="2026-12-08", seat=1,
                            reason="cold food", call_id=CALL_ID, status=status,
                            assignee="meera" if closed_at else None,
                            closed_at=closed_at)  # fmt: skip
