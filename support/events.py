"""Events the back office listens to over the channel layer.

The voice bridge calls `announce_escalation` after its escalate_to_human tool has stored a
ticket, and support/escalations.py calls `announce_ticket_change` after every claim, assignment
and resolution; every open staff queue page (support/staff/consumers.py) refreshes at once.
With the in-memory layer this reaches pages served by the same process only; set
CHANNEL_LAYERS_URL to Redis for several processes.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

ESCALATIONS_GROUP = "escalations"

# Only these fields travel: the page needs nothing more, and the message must stay small and
# serialisable by every layer (Redis uses msgpack, which knows no datetime or ObjectId).
TICKET_FIELDS = ("ticket_id", "user_id", "order_id", "reason", "priority", "status", "call_id",
                 "created_at")

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


async def announce_escalation(ticket: dict[str, Any]) -> None:
    """Tell staff queue pages that `ticket` (an escalations document) was just opened."""
    layer = get_channel_layer()
    if layer is None:  # no CHANNEL_LAYERS configured: nobody can be listening
        log.warning("no channel layer; ticket %s not announced", ticket.get("ticket_id"))
        return
    payload = {field: _plain(ticket.get(field)) for field in TICKET_FIELDS}
    await layer.group_send(ESCALATIONS_GROUP, {"type": "escalation.opened", "ticket": payload})


async def _announce_change(ticket: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    payload = {field: _plain(ticket.get(field)) for field in (*TICKET_FIELDS, "assignee")}
    await layer.group_send(ESCALATIONS_GROUP, {"type": "escalation.changed", "ticket": payload})


def announce_ticket_change(ticket: dict[str, Any]) -> None:
    """Tell staff queue pages that `ticket` (an escalations document) was claimed, assigned or
    resolved. For sync code (views, admin actions); a failure to announce is logged, never
    raised: the change itself is already stored, and pages catch up on their next refresh."""
    try:
        async_to_sync(_announce_change)(ticket)
    except Exception:  # any layer failure (Redis down, a full channel): logged below
        log.warning("ticket %s: change not announced to queue pages", ticket.get("ticket_id"),
                    exc_info=True)  # fmt: skip
