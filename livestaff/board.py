"""What the live staff pages show: the calls in progress as rows (/staff/live/), one live call
with the conversation so far (/staff/live/<call_id>/), and the briefing of a warm escalation
(why the customer asked for a person, the order, what the agent did) wherever "Join call" is
offered. Reads only; the live updates come over the sockets (livestaff/consumers.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from django.urls import reverse
from django.utils import timezone

from livestaff.presenting import DOING_WORDS, doing_words
from livestaff.queries import LiveCall, live_calls
from support.escalations import reason_in_words
from support.models import Call, Customer, Escalation
from support.mongo import sync_db
from support.staff.calls import CallDetail, call_detail
from support.staff.conversation import actions_taken
from support.staff.labels import channel_label, mmss, phone_label
from support.staff.people import staff_names

UNIDENTIFIED = {"phone": "Caller not identified"}  # a number we could not match


@dataclass(frozen=True)
class Briefing:
    """A warm escalation: what to know before joining its call, and who joined it."""

    ticket_id: str
    call_id: str
    reason: str
    priority: str
    order_id: str | None
    actions: list[str]  # what the agent did or was refused, one line each
    joined_by: str = ""  # the colleague who took the call over, by name ("" while none has)
    joined_by_username: str = ""  # and by username (the live call view says "You" to them)
    # Twilio is putting the caller through to the escalation phone line (the call's `doing`
    # is "transferring"): nobody is waited for, though a colleague may still listen in.
    transferring: bool = False

    @property
    def join_url(self) -> str:
        return live_call_url(self.call_id)

    @property
    def putting_through(self) -> str:
        """What the briefing says instead of waiting while `transferring` (the live pages
        mark it too as the call's `state` says so, static/livestaff/*.js)."""
        return DOING_WORDS["transferring"]


@dataclass(frozen=True)
class LiveRow:
    call: LiveCall
    customer: str  # "Asha Verma", or what stands in for a caller not identified
    phone: str
    channel: str
    duration: str  # m:ss when the page was made; the page ticks it on
    doing: str
    holder: str  # the colleague holding the call, by name ("" when the agent has it)
    listeners: list[str]
    briefing: Briefing | None
    url: str = field(default="")


def live_call_url(call_id: str) -> str:
    return reverse("livestaff:call", args=["-"]).removesuffix("-/") + quote(call_id, safe="") + "/"


def briefings(call_ids: Iterable[str], names: dict[str, str] | None = None) -> dict[str, Briefing]:
    """The live escalation tickets of these calls, by call id (their calls are in progress).
    `names`: staff_names(), for who joined (read here when not given and someone has)."""
    wanted = sorted(set(call_ids))
    if not wanted:
        return {}
    db = sync_db()
    tickets = list(db.escalations.find(
        {"call_id": {"$in": wanted}, "live": True},
        {"_id": 0, "ticket_id": 1, "call_id": 1, "reason": 1, "priority": 1, "order_id": 1,
         "joined_by": 1},
    ))  # fmt: skip
    if names is None and any(t.get("joined_by") for t in tickets):
        names = staff_names()
    calls = {
        doc["call_id"]: doc
        for doc in db[Call._meta.db_table].find(
            {"call_id": {"$in": [t["call_id"] for t in tickets]}},
            {"_id": 0, "call_id": 1, "tool_calls": 1, "doing": 1, "ended_at": 1},
        )
    }
    # A ticket still marked live whose call has ended (the call could not say so: the
    # database did not answer as it closed) has no call to join.
    tickets = [t for t in tickets if calls.get(t["call_id"], {}).get("ended_at") is None]
    return {
        t["call_id"]: Briefing(
            ticket_id=str(t["ticket_id"]),
            call_id=str(t["call_id"]),
            reason=reason_in_words(str(t["reason"])),
            priority=str(t.get("priority") or "normal"),
            order_id=t.get("order_id"),
            actions=actions_taken(calls.get(t["call_id"], {}).get("tool_calls") or []),
            joined_by=(names or {}).get(t.get("joined_by") or "", t.get("joined_by") or ""),
            joined_by_username=t.get("joined_by") or "",
            transferring=calls.get(t["call_id"], {}).get("doing") == "transferring",
        )  # fmt: skip
        for t in tickets
    }


def live_rows(
    names: dict[str, str], now: dt.datetime | None = None, *, phones: bool = False
) -> list[LiveRow]:
    """Every call in progress on every process, oldest first, as the live calls page lists it
    (`names`: staff_names(), for who holds or listens). `phones`: with the customers' phone
    numbers, for staff who may view customers (as everywhere in the back office, the others
    get the name alone: support/templatetags/staff.py customer_as_allowed)."""
    now = now or timezone.now()
    calls = live_calls()
    found = briefings((c.call_id for c in calls if c.escalation), names)
    unjoined = {call_id for call_id, briefing in found.items() if not briefing.joined_by}
    return [
        LiveRow(
            call=c,
            customer=c.customer or UNIDENTIFIED.get(c.channel, "Customer not identified"),
            phone=phone_label(c.phone) if c.phone and phones else "",
            channel=channel_label(c.channel),
            duration=mmss((now - c.started_at).total_seconds()),
            doing=doing_words(c.doing, waiting=c.call_id in unjoined),
            holder=names.get(c.holder, c.holder) if c.holder else "",
            listeners=[names.get(u, u) for u in c.listeners],
            briefing=found.get(c.call_id),
            url=live_call_url(c.call_id),
        )
        for c in calls
    ]


@dataclass(frozen=True)
class LiveCallPage:
    detail: CallDetail
    customer: Customer | None
    tier: str
    briefing: Briefing | None

    @property
    def live(self) -> bool:
        return self.detail.row.ended_at is None

    @property
    def since(self) -> str:
        """When the record painted was last written (ISO): the page's socket asks the call
        for what came after (livestaff/presenting.py `backlog`)."""
        seen = self.detail.record.get("last_seen_at")
        return seen.isoformat() if isinstance(seen, dt.datetime) else ""


def live_call_page(
    call_id: str, reader: str = "", names: Mapping[str, str] | None = None
) -> LiveCallPage | None:
    """One call with its conversation so far (None when there is no such call), what staff
    did on it worded for `reader` (their username: "You" for their own, as the page's script
    words the lines it adds). `names`: staff_names(), read here when not given and needed."""
    detail = call_detail(call_id, reader, names)
    if detail is None:
        return None
    live = live_calls(call_id)
    customer = (Customer.objects.filter(user_id=detail.row.user_id).first()
                if detail.row.user_id is not None else None)  # fmt: skip
    tier = live[0].tier if live else ""
    return LiveCallPage(detail, customer, tier, briefings([call_id]).get(call_id))


def with_briefings(tickets: Sequence[Escalation]) -> None:
    """Give each ticket a `live_briefing`: its Briefing while its call is up and a colleague
    can join it (a warm escalation), else None. One query for the page."""
    found = briefings(t.call_id for t in tickets if t.call_id)
    for ticket in tickets:
        briefing = found.get(ticket.call_id)
        live = briefing is not None and briefing.ticket_id == ticket.ticket_id
        ticket.live_briefing = briefing if live else None  # type: ignore[attr-defined]
