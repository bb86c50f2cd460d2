"""Read-side queries of the staff pages, shaped for large collections.

No query here joins collections ($lookup is slow on big tables): related documents are fetched
by their ids, and lists are paged by asking for one row more than shown instead of counting.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from django.db.models import Count, Min, QuerySet, Sum
from django.utils import timezone

from support.models import (
    Call,
    Complaint,
    ComplaintCategory,
    Customer,
    Escalation,
    EscalationStatus,
    Order,
    Priority,
    Refund,
)
from support.money import format_inr
from support.mongo import sync_db
from support.staff.charts import BarChart, bar_chart

PAGE_SIZE = 50
PRIORITY_ORDER = [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


class Sliceable(Protocol[T_co]):
    def __getitem__(self, window: slice, /) -> Iterable[T_co]: ...


def page_of(rows: Sliceable[Any], number: int, size: int = PAGE_SIZE) -> Page[Any]:
    """Page `number` (from 1) without counting the whole result."""
    number = max(1, number)
    start = (number - 1) * size
    found = list(rows[start : start + size + 1])
    return Page(rows=found[:size], number=number, has_next=len(found) > size)


class ByPriority:
    """Tickets most urgent first, then oldest first, read one priority at a time.

    One query sorting by a computed rank (a $switch over `priority`) cannot use an index: the
    embedded SecantusDB fetched, ranked and sorted every open ticket for each page (thousands
    at 10,000 tickets). Each priority instead is an equality match on the
    `escalations_queue_priority` index (status, priority, created_at), read in rank order
    until the page is full; earlier priorities are only counted when a later page starts
    past them. The ids come from PyMongo because the ORM sends two conditions as a top-level
    `$and`, which SecantusDB's planner never matches to an index; the rows then come from
    the ORM by `_id`.
    """

    def __init__(self, status: str, assignee: str | None = None) -> None:
        self.match: dict[str, Any] = {"status": status}
        if assignee:
            self.match["assignee"] = assignee
        self.parts: list[dict[str, Any]] = [{**self.match, "priority": p.value}
                                            for p in PRIORITY_ORDER]  # fmt: skip
        # Anything outside the known priorities ranks last, as it did in the single query.
        self.parts.append({**self.match, "priority": {"$nin": [p.value for p in PRIORITY_ORDER]}})

    def __getitem__(self, window: slice) -> list[Escalation]:
        start, stop = window.start or 0, window.stop
        collection = sync_db()[Escalation._meta.db_table]
        ids: list[Any] = []
        skip = start
        for part in self.parts:
            wanted = 0 if stop is None else stop - start - len(ids)
            if stop is not None and wanted <= 0:
                break
            if skip:
                before = collection.count_documents(part)
                if before <= skip:
                    skip -= before
                    continue
            found = collection.find(part, {"_id": 1}, sort=[("created_at", 1)], skip=skip,
                                    limit=wanted)  # fmt: skip
            ids.extend(doc["_id"] for doc in found)
            skip = 0
        by_id = {t.pk: t for t in Escalation.objects.filter(pk__in=ids).defer("notes")}
        return [by_id[i] for i in ids if i in by_id]


def queue(status: str, assignee: str | None = None) -> QuerySet[Escalation] | ByPriority:
    """Tickets in one state; open and claimed ones most urgent first, then oldest first."""
    if status != EscalationStatus.RESOLVED:
        return ByPriority(status, assignee)
    tickets = Escalation.objects.filter(status=status).defer("notes")
    if assignee:
        tickets = tickets.filter(assignee=assignee)
    return tickets.order_by("-resolved_at")


@dataclass(frozen=True)
class TicketContext:
    ticket: Escalation
    customer: Customer | None
    order: Order | None
    call: Call | None
    recent_orders: list[Order]

    @property
    def wallet(self) -> str:
        return format_inr(self.customer.wallet_balance) if self.customer else "—"

    @property
    def order_amount(self) -> str:
        return format_inr(self.order.amount) if self.order else "—"


def ticket_context(ticket: Escalation) -> TicketContext:
    """The ticket with its customer, order and call, each fetched by id."""
    customer = (
        Customer.objects.filter(user_id=ticket.customer_id).first() if ticket.customer_id else None
    )
    order = Order.objects.filter(order_id=ticket.order_id).first() if ticket.order_id else None
    call = Call.objects.filter(call_id=ticket.call_id).first() if ticket.call_id else None
    recent = (
        list(Order.objects.filter(customer_id=customer.user_id).order_by("-placed_at")[:5])
        if customer
        else []
    )
    return TicketContext(ticket, customer, order, call, recent)


def local_midnight(now: dt.datetime) -> dt.datetime:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _days(now: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The last seven local days, oldest first, as [start, end) pairs."""
    today = local_midnight(now)
    starts = [today - dt.timedelta(days=back) for back in range(6, -1, -1)]
    return [(start, start + dt.timedelta(days=1)) for start in starts]


def dashboard(now: dt.datetime | None = None) -> dict[str, Any]:
    """Figures and charts for today and the last seven days (one small query per day)."""
    now = now or timezone.now()
    days = _days(now)
    week_start, today_start = days[0][0], days[-1][0]
    calls_per_day = [
        Call.objects.filter(started_at__gte=a, started_at__lt=b).count() for a, b in days
    ]
    refunds_per_day = [
        Refund.objects.filter(created_at__gte=a, created_at__lt=b).aggregate(
            n=Count("id"), total=Sum("amount")
        )
        for a, b in days
    ]
    labels = [start.strftime("%a %d %b") for start, _ in days]
    return {
        "calls_today": calls_per_day[-1],
        "calls_week": sum(calls_per_day),
        "refunds_today": refunds_per_day[-1]["n"],
        "refunds_today_inr": format_inr(refunds_per_day[-1]["total"] or 0),
        "refunds_week": sum(r["n"] for r in refunds_per_day),
        "refunds_week_inr": format_inr(sum(r["total"] or 0 for r in refunds_per_day)),
        "calls_chart": bar_chart(
            "Calls per day",
            [(lab, n, str(n)) for lab, n in zip(labels, calls_per_day, strict=True)],
        ),
        "refunds_chart": bar_chart(
            "Refunds per day (₹)",
            [
                (lab, r["total"] or 0, f"{format_inr(r['total'] or 0)} ({r['n']})")
                for lab, r in zip(labels, refunds_per_day, strict=True)
            ],
        ),
        "complaints_chart": complaints_chart(week_start),
        "week_start": week_start,
        "today_start": today_start,
        **open_escalations(now),
    }


def complaints_chart(since: dt.datetime) -> BarChart:
    counts = dict(
        Complaint.objects.filter(created_at__gte=since)
        .values_list("category")
        .annotate(n=Count("id"))
        .order_by()
    )
    rows = [(label, counts.get(value, 0), str(counts.get(value, 0)))
            for value, label in ComplaintCategory.choices]
    return bar_chart("Complaints by category, last 7 days", rows)


def open_escalations(now: dt.datetime) -> dict[str, Any]:
    """Unresolved tickets per priority, with the age of the oldest."""
    groups = {
        row["priority"]: row
        for row in Escalation.objects.filter(status=EscalationStatus.OPEN)
        .values("priority")
        .annotate(n=Count("id"), oldest=Min("created_at"))
        .order_by()
    }
    rows = []
    for priority in PRIORITY_ORDER:
        row = groups.get(priority.value, {"n": 0, "oldest": None})
        rows.append({"priority": priority.label, "count": row["n"], "oldest": row["oldest"]})
    return {
        "open_tickets": rows,
        "open_total": sum(row["count"] for row in rows),
        "claimed_total": Escalation.objects.filter(status=EscalationStatus.CLAIMED).count(),
        "open_chart": bar_chart(
            "Open escalations by priority",
            [(r["priority"], r["count"], str(r["count"])) for r in rows],
        ),
    }


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def tool_call_rows(call: Call) -> list[dict[str, Any]]:
    """Each tool call with its offset from the start of the call, for the timing column."""
    rows = []
    for record in call.tool_calls or []:
        offset = (
            (record.started_at - call.started_at).total_seconds() if record.started_at else None
        )
        rows.append(
            {
                "name": record.name,
                "ok": record.ok,
                "started_at": record.started_at,
                "offset_s": None if offset is None else round(offset, 1),
                "ms": record.ms,
                "args": pretty_json(record.args),
                "result": pretty_json(record.result),
            }
        )
    return rows
