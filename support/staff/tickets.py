"""The ticket page: at the top, why the customer escalated, the order it is about and what the
agent already did, so whoever takes it over need not read the whole call first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from support.models import Customer, Escalation, Order
from support.staff.aftercall import Booked, SummaryShown, as_of_now, callbacks_of, summary_of
from support.staff.calls import CallDetail, call_detail
from support.staff.conversation import actions_taken
from support.staff.labels import ago
from support.staff.people import PERSON_FIELDS

RECENT_ORDERS = 5


@dataclass(frozen=True)
class TicketPage:
    ticket: Escalation
    customer: Customer | None
    order: Order | None
    call: CallDetail | None  # None without a call, or for staff who may not see calls
    call_hidden: bool  # there is a call, but this person may not see it
    recent_orders: list[Order]
    call_tickets: list[Escalation]  # the tickets its call opened (this one among them)
    call_callbacks: list[Booked]  # the callbacks its call booked (aftercall.callbacks_of)
    # The customer's name is shown to whoever works the ticket; their contact details and
    # wallet only to staff who may view customers, orders to staff who may view orders.
    customer_hidden: bool = False
    orders_hidden: bool = False

    @property
    def call_missing(self) -> bool:
        """The ticket names a call that is no longer on record (deleted)."""
        return bool(self.ticket.call_id) and self.call is None and not self.call_hidden

    @property
    def summary(self) -> SummaryShown | None:
        if self.call is None:
            return None
        return as_of_now(summary_of(self.call.record), self.call_tickets, self.call_callbacks)

    @property
    def actions(self) -> list[str]:
        return actions_taken(self.call.record.get("tool_calls") or []) if self.call else []

    @property
    def delivered_ago(self) -> str:
        if self.order is None or self.order.delivered_at is None:
            return ""
        return ago(timezone.now() - self.order.delivered_at)

    @property
    def waiting(self) -> dt.timedelta:
        return (self.ticket.resolved_at or timezone.now()) - self.ticket.created_at


def ticket_page(ticket: Escalation, *, may_see_calls: bool, may_see_customers: bool,
                may_see_orders: bool) -> TicketPage:  # fmt: skip
    """The ticket with its customer, order and call, each fetched by its id, as far as the
    person reading it may see them (the `may_see_…` permissions)."""
    customers = Customer.objects.all()
    if not may_see_customers:
        customers = customers.only(*PERSON_FIELDS)  # who they are: the page shows the name
    customer = (customers.filter(user_id=ticket.customer_id).first()
                if ticket.customer_id is not None else None)  # fmt: skip
    order = None
    if ticket.order_id and may_see_orders:
        # By its id alone (one indexed condition; see customers.py), then checked: the
        # ticket's own customer's order, as the order id alone could name another's.
        order = Order.objects.filter(order_id=ticket.order_id).first()
        if order is not None and order.customer_id != ticket.customer_id:
            order = None
    call = call_detail(ticket.call_id) if ticket.call_id and may_see_calls else None
    recent = (list(Order.objects.filter(customer_id=customer.user_id).order_by("-placed_at")
                   [:RECENT_ORDERS]) if customer and may_see_customers and may_see_orders
              else [])  # fmt: skip
    call_tickets = (list(Escalation.objects.filter(call_id=ticket.call_id).only(
        "ticket_id", "status", "resolved_at")) if call else [])  # fmt: skip
    return TicketPage(ticket, customer, order, call, bool(ticket.call_id) and not may_see_calls,
                      recent, call_tickets, callbacks_of(call.record) if call else [],
                      customer_hidden=not may_see_customers,
                      orders_hidden=not may_see_orders)  # fmt: skip
