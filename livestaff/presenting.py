"""Live calls as staff read them: what the agent is doing in words, and a call's events with the
readable line the call page gives each tool call. Pure: values in, words out.

The live pages paint their first state from these (livestaff/board.py) and their live updates
use the same words: each `state` of a call arrives worded (`now`, `now_waiting`: with_now), and
each finished tool event with its `line` (livestaff/consumers.py), so nothing is worded twice,
and the live calls page and the live call view say the same of a call.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from livestaff import protocol
from realtime import caller_events as ce
from support.staff.conversation import tool_entry

# The call's `doing` (realtime/call_session.py): "connecting", "listening", "speaking",
# "staff" (a colleague holds the call), "transferring" (Twilio is putting a phone caller
# through to TWILIO_ESCALATION_NUMBER: nobody can take the call over meanwhile), "tool:<name>"
# while a tool runs and "thinking" from its result to the agent's answer.
DOING_WORDS = {
    "connecting": "Connecting",
    "listening": "Listening",
    "speaking": "Speaking",
    "thinking": "Thinking",
    "staff": "A colleague is talking",
    "transferring": "Putting the caller through to our escalation phone line",
    "tool:get_user_profile": "Looking up the account",
    "tool:check_order_status": "Checking orders",
    "tool:get_order_details": "Looking at an order",
    "tool:initiate_refund": "Refunding",
    "tool:file_complaint": "Filing a complaint",
    "tool:escalate_to_human": "Escalating to a person",
    "tool:list_callback_slots": "Finding callback times",
    "tool:schedule_callback": "Booking a callback",
    "tool:cancel_callback": "Cancelling a callback",
    # Not a `doing` of the call's: what an escalated call reads as while nobody has joined it
    # yet, whatever its agent does meanwhile (keeping the customer company).
    "waiting": "Waiting for a colleague",
}
UNKNOWN_TOOL = "Using a tool"


def doing_words(doing: str, *, waiting: bool = False) -> str:
    """What the call is doing, in words. `waiting`: it escalated and no colleague joined it
    yet, so it reads as waiting for one (unless a colleague holds it, or it is being put
    through to the escalation line). Each `state` carries both (with_now): the live pages
    know which applies (static/livestaff/*.js)."""
    if waiting and doing not in ("staff", "transferring"):
        doing = "waiting"
    if doing in DOING_WORDS:
        return DOING_WORDS[doing]
    return UNKNOWN_TOOL if doing.startswith("tool:") else doing.replace("_", " ").capitalize()


def with_now(state: dict[str, Any]) -> dict[str, Any]:
    """A call's `state` with what the live pages say it is doing, under "Now": `now`, and
    `now_waiting` for a page whose briefing shows an escalation nobody joined yet (which the
    call's state alone does not say: static/livestaff/*.js)."""
    doing = str(state.get("doing") or "connecting")
    return {**state, "now": doing_words(doing), "now_waiting": doing_words(doing, waiting=True)}


def for_staff(event: dict[str, Any]) -> dict[str, Any]:
    """A call's event as a staff page shows it: a `state` gains its words (with_now); a
    finished `tool` event gains `line` (what it did, in one sentence), `ok` and `raw` (tool,
    time taken, arguments, result as JSON), as the call page's conversation has them; a
    `backlog`'s events each do. Others pass unchanged."""
    if event.get("type") == "backlog":
        return {**event, "events": [for_staff(each) for each in event.get("events") or []]}
    if event.get("type") == "state":
        return with_now(event)
    if event.get("type") != "tool" or event.get("status") not in ("done", "failed"):
        return event
    result, args = event.get("result"), event.get("args")
    result = result if isinstance(result, dict) else {}
    args = args if isinstance(args, dict) else {}
    ok = event["status"] == "done" and bool(result.get("ok"))
    entry = tool_entry({"name": event.get("name", ""), "args": args, "result": result,
                        "ok": ok, "ms": event.get("ms", "?")}, at="")  # fmt: skip
    return {**event, "line": entry.text, "ok": entry.ok, "raw": entry.raw}


def backlog(
    recent: Iterable[tuple[datetime, str, dict[str, Any]]], since: str
) -> list[dict[str, Any]]:
    """What a live call view painted from the record as of `since` (the record's
    `last_seen_at`, ISO) has not seen: the call's lines, tool calls and whispers added to the
    record after it (`recent`: realtime/call_record.py), as the live events that carried them,
    each with its `at`. Empty when `since` is missing or unreadable."""
    try:
        painted = datetime.fromisoformat(since)
    except (TypeError, ValueError):
        return []
    if painted.tzinfo is None:  # the database keeps UTC
        painted = painted.replace(tzinfo=UTC)
    events = []
    for added, kind, entry in recent:
        if added <= painted:
            continue
        if kind == "transcript":
            said = ce.Transcript(str(entry.get("role")), str(entry.get("text", "")), final=True)
            events.append({**ce.as_dict(said), "at": _iso(entry.get("at"))})
        elif kind == "tool_calls":
            # As the call mirrored it when the tool finished (CallSession._tool_progress).
            status = "done" if entry.get("ok") else "failed"
            done = ce.ToolActivity(str(entry.get("name", "")), status, entry.get("result"))
            events.append({**ce.as_dict(done), "args": entry.get("args"), "ms": entry.get("ms"),
                           "at": _iso(entry.get("started_at"))})  # fmt: skip
        elif kind == "staff_events" and entry.get("kind") == "whisper":
            whisper = protocol.whispered(str(entry.get("staff", "")), str(entry.get("text", "")))
            events.append({**whisper, "at": _iso(entry.get("at"))})
    return events


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None
