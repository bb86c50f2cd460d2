"""What the live calls page reads: every call in progress, on every process (their records)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from support.mongo import sync_db
from support.policy import lifetime_spend_pipeline, tier_for, tier_from_document

_FIELDS = {
    "_id": 0, "call_id": 1, "user_id": 1, "channel": 1, "started_at": 1, "mode": 1,
    "holder": 1, "listeners": 1, "carrier": 1, "detached_at": 1, "worker": 1, "doing": 1,
}  # fmt: skip


@dataclass(frozen=True)
class LiveCall:
    call_id: str
    user_id: int | None
    customer: str  # the name, or "" for a caller not identified
    phone: str
    tier: str
    channel: str
    started_at: datetime
    mode: str  # "agent" or "human"
    holder: str | None  # who holds the call (username)
    doing: str  # what the agent is doing: "listening", "speaking", "tool:<name>", "staff"...
    listeners: list[str]
    escalation: str | None  # the ticket of a warm escalation, when one waits for a colleague
    moving: bool  # no process carries it right now (between sockets, or between processes)
    worker: str


def live_calls(call_id: str | None = None) -> list[LiveCall]:
    """The calls in progress, oldest first, with who the customers are (only `call_id`'s,
    when given: [] once it has ended)."""
    db = sync_db()
    match = {"ended_at": None, **({"call_id": call_id} if call_id is not None else {})}
    calls = list(db.calls.find(match, _FIELDS).sort("started_at", 1))
    ids = sorted({c["user_id"] for c in calls if c.get("user_id") is not None})
    customers = {
        doc["user_id"]: doc
        for doc in db.customers.find({"user_id": {"$in": ids}},
                                     {"_id": 0, "user_id": 1, "name": 1, "phone": 1})  # fmt: skip
    }
    spend = {row["_id"]: int(row["spend"])
             for row in db.orders.aggregate(lifetime_spend_pipeline(ids))}  # fmt: skip
    tiers = [tier_from_document(doc) for doc in db.refund_tiers.find({}, {"_id": 0})]
    live_tickets = {
        doc["call_id"]: doc["ticket_id"]
        for doc in db.escalations.find(
            {"live": True, "call_id": {"$in": [c["call_id"] for c in calls]}},
            {"_id": 0, "call_id": 1, "ticket_id": 1},
        )
    }
    return [_row(call, customers, spend, tiers, live_tickets) for call in calls]


def _row(
    call: dict[str, Any],
    customers: dict[int, dict[str, Any]],
    spend: dict[int, int],
    tiers: list[Any],
    live_tickets: dict[str, str],
) -> LiveCall:
    user_id = call.get("user_id")
    customer = customers.get(user_id, {}) if user_id is not None else {}
    tier = tier_for(spend.get(user_id, 0), tiers) if user_id is not None else None
    return LiveCall(
        call_id=call["call_id"],
        user_id=user_id,
        customer=str(customer.get("name") or ""),
        phone=str(customer.get("phone") or ""),
        tier=tier.name if tier else "",
        channel=str(call.get("channel") or "web"),
        started_at=call["started_at"],
        mode=str(call.get("mode") or "agent"),
        holder=call.get("holder"),
        doing=str(call.get("doing") or "connecting"),
        listeners=list(call.get("listeners") or []),
        escalation=live_tickets.get(call["call_id"]),
        moving=call.get("carrier") is None,
        worker=str(call.get("worker") or ""),
    )
