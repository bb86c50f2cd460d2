"""A call as people read it: speaker turns and one readable line per tool call, in the order
they happened, with times from the start of the call. Pure: the call's record in, lines out.

    Customer 0:04  My biryani came cold.
    Agent    0:09  Order ORD-1196 looked up: delivered 34 min ago, inside the refund window
    Agent    0:12  Refunded ₹268.50 (Gold, 75%) for ORD-1196

The raw arguments and result of each tool call stay on the line for a disclosure.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from livestaff.protocol import PLACED_CALLBACK
from support.kept import Lost, stand_in
from support.models import ComplaintCategory, OrderStatus
from support.money import MoneyError, format_inr, to_paise
from support.staff.labels import ago, humanize, in_a_sentence, mmss

REFUSALS = {
    "not_found": "no such order for this customer",
    "not_delivered": "not delivered yet",
    "outside_window": "outside the 2-hour refund window",
    "already_refunded": "already refunded",
    "not_identified": "the caller was not identified",
    "not_verified": "the caller was not verified",
    "invalid_argument": "the request was not valid",
    "unavailable": "the database could not be reached",
}
# The models' labels (the admin says them too), an order's status as said in a sentence:
# "Order ORD-1196 looked up: out for delivery".
ORDER_STATUSES = {str(s.value): in_a_sentence(str(s.label)) for s in OrderStatus}
COMPLAINT_CATEGORIES = {str(c.value): str(c.label) for c in ComplaintCategory}
# A colleague's own actions, on the live call view they read (`conversation`'s `reader`), as
# its script words the lines it adds (static/livestaff/call.js whoToMe): "You took over the
# call.", and the take-over of a callback they placed in their own words.
YOU = "You"
TAKEN_AS_YOURS = {PLACED_CALLBACK: "a callback you placed"}
# Tools that only read: the ticket briefing leaves them out of "what the agent did".
LOOKUPS = {"get_user_profile", "check_order_status", "get_order_details", "list_callback_slots"}
# What a tool that succeeded did, said without its result: for a result the call's record did
# not keep (support/kept.py: a preview of one too long, a marker of one that was not JSON),
# whose absent fields would otherwise read as "none yet" or "wallet ₹0.00".
DONE = {
    "check_order_status": "Orders looked up", "get_order_details": "Order looked up",
    "get_user_profile": "Profile looked up", "initiate_refund": "Refund made",
    "file_complaint": "Complaint filed", "escalate_to_human": "Escalated to a person",
    "verify_caller": "Caller verified", "list_callback_slots": "Callback slots looked up",
    "schedule_callback": "Callback booked", "cancel_callback": "Callback cancelled",
}  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """One line of the conversation: a turn (`speaker` "customer"/"agent"), a tool call, or
    what a member of staff did on the call (`speaker` their name; contract section 8)."""

    kind: str  # "turn", "tool" or "staff"
    speaker: str
    at: str  # m:ss from the start of the call
    text: str
    ok: bool = True
    raw: dict[str, str] = field(default_factory=dict)  # tool calls: arguments and result, JSON
    seconds: float | None = None  # from the start of the call (a recording player seeks to it)
    action: str = ""  # staff lines: listen, whisper, take_over, hand_back, end_call


def staff_line(kind: str, name: str, text: str = "") -> str:
    """A staff action as one line: "Meera whispered to the agent: offer a 50% credit"."""
    match kind:
        case "listen":
            return f"{name} listened in."
        case "unlisten":
            return f"{name} stopped listening."
        case "whisper":
            return f"{name} whispered to the agent: {text}"
        case "take_over":  # with a text when it was not taken from the agent (a callback)
            return f"{name} took over the call" + (f" ({text})." if text else ".")
        case "hand_back":
            return f"{name} handed back to the agent" + (f": {text}" if text else ".")
        case "end_call":
            return f"{name} ended the call" + (f": {text}" if text else ".")
    return f"{name}: {humanize(kind)}" + (f" ({text})" if text else "")


def _rupees(value: Any) -> str:
    try:
        return format_inr(to_paise(value))
    except MoneyError:
        return str(value)


def _refusal(result: Mapping[str, Any]) -> str:
    reason = str(result.get("reason") or "")
    return REFUSALS.get(reason) or str(result.get("message") or humanize(reason) or "failed")


def _order_state(result: Mapping[str, Any]) -> str:
    status = str(result.get("status", ""))
    words = ORDER_STATUSES.get(status, humanize(status))
    hours = result.get("hours_since_delivery")
    if status == "delivered" and isinstance(hours, (int, float)):
        window = ("inside" if result.get("inside_refund_window") else "outside")
        return f"{words} {ago(dt.timedelta(hours=hours))} ago, {window} the refund window"
    return words


def tool_line(name: str, args: Mapping[str, Any], result: Mapping[str, Any], ok: bool) -> str:
    """What a tool call did, in one sentence a support person reads at a glance."""
    order = args.get("order_id") or result.get("order_id")
    if not ok:
        what = {
            "initiate_refund": f"Refund for {order} refused",
            "get_order_details": f"Order {order} not looked up",
            "file_complaint": "Complaint not filed",
            "escalate_to_human": "Escalation failed",
            "verify_caller": "Caller not verified",
            "schedule_callback": "Callback not booked",
            "cancel_callback": "Callback not cancelled",
        }.get(name, f"{humanize(name)} failed")
        return f"{what}: {_refusal(result)}"
    if lost := _not_kept(result):
        about = f" ({order})" if isinstance(order, str) and order else ""
        return f"{DONE.get(name, humanize(name) + ' done')}{about}: {lost}"
    match name:
        case "initiate_refund":
            return (f"Refunded {_rupees(result.get('amount'))} ({result.get('tier')}, "
                    f"{result.get('percent')}%) for {order}")  # fmt: skip
        case "get_order_details":
            return f"Order {order} looked up: {_order_state(result)}"
        case "check_order_status":
            orders = result.get("orders") or []
            if not orders:
                return "Orders looked up: none yet"
            latest = orders[0]
            return (f"Orders looked up: {len(orders)}{'+' if result.get('more_orders') else ''}, "
                    f"the latest {latest.get('order_id')} {_order_state(latest)}")  # fmt: skip
        case "get_user_profile":
            tier = result.get("tier") or "no"
            return (f"Profile looked up: {tier} tier, wallet "
                    f"{_rupees(result.get('wallet_balance', '0'))}")  # fmt: skip
        case "file_complaint" if result.get("already_filed") is True:
            # The same complaint asked again (support/complaints.py): not a second one.
            about = f" about {order}" if order else ""
            return f"Complaint {result.get('complaint_id')} already on file{about}: not filed again"
        case "file_complaint":
            category = COMPLAINT_CATEGORIES.get(str(args.get("category")), "Other")
            about = f" about {order}" if order else ""
            return f"Complaint {result.get('complaint_id')} filed: {category}{about}"
        case "escalate_to_human":
            priority = humanize(str(args.get("priority") or "normal"))
            about = f" about {order}" if order else ""
            return f"Escalated to a person ({priority}){about}: ticket {result.get('ticket_id')}"
        case "verify_caller":
            return "Caller verified"
        case "list_callback_slots":
            free = len(result.get("slots") or [])
            day = result.get("day") or ""
            return f"Callback slots looked up: {free or 'none'} free {day}".strip()
        case "schedule_callback":
            return f"Callback {result.get('callback_id')} booked for {result.get('when')}"
        case "cancel_callback":
            return f"Callback {result.get('callback_id')} cancelled (was {result.get('when')})"
    return f"{humanize(name)}: done"


def _not_kept(result: Mapping[str, Any]) -> str:
    """Why the record holds no more than a stand-in for `result`, in words; "" when it holds it."""
    match stand_in(result):
        case Lost.TOO_LONG:
            return "the result was too long to keep in full (its start is in the details)"
        case Lost.UNREADABLE:
            return "the result could not be kept"
    return ""


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _offset(at: dt.datetime | None, start: dt.datetime) -> str:
    return mmss((at - start).total_seconds()) if at is not None else "—"


def _when(value: Any, default: dt.datetime) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else default


def conversation(started_at: dt.datetime, transcript: Iterable[Mapping[str, Any]],
                 tool_calls: Iterable[Mapping[str, Any]],
                 staff_events: Iterable[Mapping[str, Any]] = (),
                 names: Mapping[str, str] | None = None,
                 reader: str = "") -> list[Entry]:  # fmt: skip
    """Turns, tool calls and staff actions (as the `calls` record holds them, contract sections
    5 and 8) in time order; consecutive lines of one speaker join into one turn. `names` maps
    staff usernames to the names colleagues know them by. `reader`: the username of whoever
    reads the call live (its live view), whose staff lines then read as that page's script
    adds them (`staff_entry`); "" for the call's record, read by anyone, in the third person."""
    # (when, 0 for a line / 1 for a tool call / 2 for staff, position, item): a line said at
    # the very moment a tool started reads before it.
    timed: list[tuple[dt.datetime, int, int, Mapping[str, Any]]] = [
        *((_when(line.get("at"), started_at), 0, n, line) for n, line in enumerate(transcript)),
        *((_when(tool.get("started_at"), started_at), 1, n, tool)
          for n, tool in enumerate(tool_calls)),
        *((_when(event.get("at"), started_at), 2, n, event)
          for n, event in enumerate(staff_events)),
    ]  # fmt: skip
    timed.sort(key=lambda item: item[:3])
    entries: list[Entry] = []
    for at, kind, _, item in timed:
        if kind == 0:
            speaker = "customer" if item.get("role") == "user" else "agent"
            text = str(item.get("text", ""))
            last = entries[-1] if entries else None
            if last is not None and last.kind == "turn" and last.speaker == speaker:
                entries[-1] = replace(last, text=f"{last.text} {text}".strip())
                continue
            entries.append(Entry("turn", speaker, _offset(at, started_at), text,
                                 seconds=round((at - started_at).total_seconds(), 2)))
        elif kind == 1:
            entries.append(tool_entry(item, _offset(at, started_at)))
        else:
            entries.append(staff_entry(item, _offset(at, started_at), names or {}, reader))
    return entries


def staff_entry(event: Mapping[str, Any], at: str, names: Mapping[str, str],
                reader: str = "") -> Entry:  # fmt: skip
    """A staff event's line. For a live `reader` as the live view's script words the lines it
    adds (static/livestaff/call.js), so that a line reads the same painted with the page as
    arrived on it: "You" for the reader's own, and a whisper as "who: what" under "Whisper"."""
    username, action = str(event.get("staff", "")), str(event.get("kind", ""))
    text = str(event.get("text", ""))
    if reader and username == reader:
        name = YOU
        text = TAKEN_AS_YOURS.get(text, text) if action == "take_over" else text
    else:
        name = names.get(username, username) or "A colleague"
    line = f"{name}: {text}" if reader and action == "whisper" else staff_line(action, name, text)
    return Entry("staff", name, at, line, action=action)


def tool_entry(record: Mapping[str, Any], at: str) -> Entry:
    name = str(record.get("name", ""))
    args, result, ok = record.get("args") or {}, record.get("result") or {}, bool(record.get("ok"))
    return Entry(
        "tool", "agent", at, tool_line(name, args, result, ok), ok=ok,
        raw={"tool": name, "took": f"{record.get('ms', '?')} ms", "arguments": _json(args),
             "result": _json(result)},
    )  # fmt: skip


def actions_taken(tool_calls: Sequence[Mapping[str, Any]]) -> list[str]:
    """What the agent did or was refused (successful lookups left out): the top of a ticket."""
    return [
        tool_line(str(t.get("name", "")), t.get("args") or {}, t.get("result") or {},
                  bool(t.get("ok")))
        for t in tool_calls
        if t.get("name") not in LOOKUPS or not t.get("ok")
    ]  # fmt: skip
