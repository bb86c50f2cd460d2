"""The `/ws/staff/calls/<call_id>` message format (contract section 8), with no I/O.

Staff -> server: JSON actions (`listen`, `unlisten`, `whisper`, `take_over`, `hand_back`,
`end_call`) and, while taking over, binary frames of the staff member's microphone (PCM16 mono
16 kHz).
Server -> staff: JSON events (`state`, the call's `transcript` and `tool` events, `error`) and,
after `listen`, binary frames whose first byte names the source. Besides the contract's fields,
`state` says which page the call is held from, as `held_from`: "this_page", "another_page" (a
colleague's, or another tab of the holder's), or "" (no page: the holder's tab closed or is
coming back, or nobody holds the call).

`?since=<ISO time>` on the socket's URL: when the record the page was painted from was written
(its `last_seen_at`). Right after `state` the call then sends `{"type": "backlog", "events":
[...]}`: its transcript lines, tool calls and whispers added after that time, as the events
that carried them, each with its `at`, so a page loses nothing said while it opened.
`&holding=1`: the page held the call from here and is back after losing its socket; if the
call is still its staff member's (and they may take over), it is held from this socket now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from realtime import wire

# The longest whisper or hand-back note, and end-call reason, in characters: what the live call
# view's fields allow (templates/livestaff/call.html, `maxlength`). Longer is refused
# (`too_long`) rather than cut: the model, or the call's record, would get part of what was
# meant as if it were all.
MAX_TEXT = 2_000
MAX_REASON = 200
# A page's largest action is a whisper or note of MAX_TEXT characters: at most 12 KB as JSON,
# were every one a control character, which JSON writes as `\u001b`. A larger frame is refused
# unread: parsing a 1 MiB frame of escapes takes tens of milliseconds of the event loop that
# carries calls, and the page's rate limit counts only the actions read.
MAX_TEXT_FRAME = 16 * 1024
MAX_AUDIO_FRAME = 64 * 1024

# The first byte of an audio frame to a listener: who is speaking (contract section 8).
CUSTOMER, AGENT, HUMAN = b"C", b"A", b"H"

# A page holding the call, or listening to it, says so every STAFF_HOLDING_EVERY_S
# (livestaff/consumers.py); a call that has not heard it for HOLDER_SILENT_BEATS of those takes
# the page for gone (its server died, or its close was lost while Redis was away): a listener
# is no longer listed nor sent audio; a call held goes back to the agent after
# STAFF_HOLD_GRACE_S.
HOLDER_SILENT_BEATS = 3

# An action while the call moves (no process carries it just now, or the one asked has just
# let go of it): said alike whichever side answers (livestaff/consumers.py, the call).
# The `text` of the `take_over` staff event (calls.staff_events) that a callback a colleague
# placed begins with: theirs from its start (livestaff/on_call.py writes it; the after-call
# account, postcall/summary.py, reads it).
PLACED_CALLBACK = "a callback they placed"
RECONNECTING_MESSAGE = "This call is reconnecting; try again in a moment."
# A take-over or an end while Twilio puts a phone caller through to TWILIO_ESCALATION_NUMBER
# (the call's `doing` is "transferring"), which cannot be called back (realtime/transfer.py).
TRANSFERRING_MESSAGE = (
    "The caller is being put through to our escalation phone line; "
    "you can take over or end the call if that does not go through."
)

# What each action needs: the contract's two permissions.
MONITOR = "support.monitor_call"
TAKE_OVER = "support.take_over_call"


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # listen, unlisten, whisper, take_over, hand_back, end_call
    text: str = ""


@dataclass(frozen=True, slots=True)
class Refused:
    code: str
    message: str


PERMISSION = {
    "listen": MONITOR, "unlisten": MONITOR, "whisper": MONITOR,
    "take_over": TAKE_OVER, "hand_back": TAKE_OVER, "end_call": TAKE_OVER,
}  # fmt: skip

# The actions that carry text: its field, its longest, what the person typed it as.
TEXTS = {
    "whisper": ("text", MAX_TEXT, "A whisper"),
    "hand_back": ("note", MAX_TEXT, "A hand-back note"),
    "end_call": ("reason", MAX_REASON, "An end-call reason"),
}


def decode(text: str) -> Action | Refused:
    """One JSON action from the staff page, or why it cannot be read."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_FRAME:
        return Refused(
            "frame_too_large", f"Messages are at most {MAX_TEXT_FRAME} bytes; this one was {size}."
        )
    try:
        message = wire.loads(text)
    except wire.BadJson:
        return Refused("bad_json", "Messages must be JSON objects.")
    kind = message.get("type") if isinstance(message, dict) else None
    if not isinstance(message, dict) or not isinstance(kind, str) or kind not in PERMISSION:
        return Refused(
            "unknown_type", "Expected listen, unlisten, whisper, take_over, hand_back or end_call."
        )
    if kind not in TEXTS:
        return Action(kind)
    text_field, limit, what = TEXTS[kind]
    value = message.get(text_field, "")
    if not isinstance(value, str) or (kind == "whisper" and not value.strip()):
        return Refused("bad_json", f'"{text_field}" must be text.')
    value = wire.clean_text(value.strip())
    if len(value) > limit:
        return Refused(
            "too_long", f"{what} is at most {limit:,} characters; this one has {len(value):,}."
        )
    return Action(kind, value)


def held_from(holder_page: str | None, page: str) -> str:
    """`state`'s `held_from` for the page whose channel is `page`."""
    if not holder_page:
        return ""
    return "this_page" if holder_page == page else "another_page"


def whispered(staff: str, text: str) -> dict[str, Any]:
    """The `whisper` event every watcher of the call gets (live, and in a backlog)."""
    return {"type": "whisper", "staff": staff, "text": text}


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def event(kind: str, **fields: Any) -> str:
    return encode({"type": kind, **fields})


def error(code: str, message: str, **fields: Any) -> str:
    return event("error", code=code, message=message, **fields)
