"""Read-side queries of the staff pages, shaped for large collections.

No query here joins collections ($lookup is slow on big tables): related documents are fetched
by their ids, and lists are paged by asking for one row more than shown instead of counting.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import Case, Count, IntegerField, Min, QuerySet, Sum, Value, When
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
from support.staff.charts import BarChart, bar_chart

PAGE_SIZE = 50
PRIORITY_ORDER = [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def page_of(queryset: QuerySet[Any], number: int, size: int = PAGE_SIZE) -> Page[Any]:
    """Page `number` (from 1) without counting the whole result."""
    number = max(1, number)
    start = (number - 1) * size
    rows = list(queryset[start : start + size + 1])
    return Page(rows=rows[:size], number=number, has_next=len(rows) > size)


def queue(status: str, assignee: str | None = None) -> QuerySet[Escalation]:
    """Tickets in one state; open and claimed ones most urgent first, then oldest first."""
    tickets = Escalation.objects.filter(status=status).defer("notes")
    if assignee:
        tickets = tickets.filter(assignee=assignee)
    if status == EscalationStatus.RESOLVED:
        return tickets.order_by("-resolved_at")
    rank = Case(
        *[When(priority=p, then=Value(i)) for i, p in enumerate(PRIORITY_ORDER)],
        default=Value(len(PRIORITY_ORDER)),
        output_field=IntegerField(),
    )
    return tickets.annotate(rank=rank).order_by("rank", "created_at")


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
            "Calls per day", [(lab, n, str(n)) for lab, n in zip(labels, calls_per_day)]
        ),
        "refunds_chart": bar_chart(
            "Refunds per day (₹)",
            [
                (lab, r["total"] or 0, f"{format_inr(r['total'] or 0)} ({r['n']})")
                for lab, r in zip(labels, refunds_per_day)
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
