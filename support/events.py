"""Events the back office listens to over the channel layer.

The voice bridge calls `announce_escalation` after its escalate_to_human tool has stored a
ticket, and `announce_call_put_through` when Twilio starts or stops putting the caller of one
through to the escalation phone line; support/escalations.py calls `announce_ticket_change`
after every claim, assignment and resolution (and when a colleague joins a warm escalation's
call). Every open staff queue page (support/staff/consumers.py) refreshes at once. With the
in-memory layer this reaches pages served by the same process only; set CHANNEL_LAYERS_URL to
Redis for several processes.
A Redis that cannot be reached loses the announcement (logged), never the call or the change
that raised it (voiceproject/messaging.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from asgiref.sync import async_to_sync

from voiceproject.messaging import send_to_channel, send_to_group

ESCALATIONS_GROUP = "escalations"

# Only these fields travel: the page needs nothing more, and the message must stay small and
# serialisable by every layer (Redis uses msgpack, which knows no datetime or ObjectId).
TICKET_FIELDS = ("ticket_id", "user_id", "order_id", "reason", "priority", "status", "call_id",
                 "created_at")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _payload(ticket: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {field: _plain(ticket.get(field)) for field in (*TICKET_FIELDS, *fields)}


async def _announce_changed(ticket: dict[str, Any], **news: Any) -> None:
    payload = {**_payload(ticket, "assignee"), **news}
    await send_to_group(ESCALATIONS_GROUP, {"type": "escalation.changed", "ticket": payload})


async def announce_escalation(ticket: dict[str, Any]) -> None:
    """Tell staff queue pages that `ticket` (an escalations document) was just opened."""
    payload = _payload(ticket)
    await send_to_group(ESCALATIONS_GROUP, {"type": "escalation.opened", "ticket": payload})


async def announce_ticket_changed(ticket: dict[str, Any]) -> None:
    """Tell staff queue pages that `ticket` (an escalations document) was claimed, assigned or
    resolved. The change itself is already stored, and pages catch up on their next refresh
    if the announcement is lost."""
    await _announce_changed(ticket)


def announce_ticket_change(ticket: dict[str, Any]) -> None:
    """`announce_ticket_changed` for sync code (views, admin actions)."""
    async_to_sync(announce_ticket_changed)(ticket)


async def announce_live_call_ended(ticket: dict[str, Any]) -> None:
    """Tell staff queue pages that the call of `ticket` (a warm escalation) is over: nobody can
    join it any more."""
    await _announce_changed(ticket, live=False)


async def announce_call_put_through(ticket: dict[str, Any], *, putting_through: bool) -> None:
    """Tell staff queue pages that the call of `ticket` (a warm escalation's phone call) started
    being put through to the escalation phone line (TWILIO_ESCALATION_NUMBER), or stopped
    (Twilio refused, or did not answer): its row says so, or waits for a colleague again."""
    await _announce_changed(ticket, transferring=putting_through)


def tell_call_ticket_resolved(carrier: str, call_id: str, ticket_id: str) -> None:
    """Tell the call `call_id`, on the process reading `carrier` (`calls.carrier`), that its
    warm escalation's ticket was resolved: nobody is to be fetched for it any more."""
    async_to_sync(send_to_channel)(carrier, {
        "type": "call.ticket_resolved", "call_id": call_id, "ticket_id": ticket_id,
    })  # fmt: skip
