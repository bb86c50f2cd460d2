"""The escalation queue and its tickets: list, claim, assign, note, resolve."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from callbacks import board as callback_board
from callbacks.slots import Hours
from callbacks.views import VIEW_CALLBACKS
from livestaff.board import with_briefings
from livestaff.protocol import MONITOR, TAKE_OVER
from support import escalations
from support.models import Escalation, EscalationStatus
from support.staff import queries
from support.staff.access import (
    CHANGE_TICKETS,
    VIEW_CALLS,
    VIEW_CUSTOMERS,
    VIEW_ORDERS,
    VIEW_TICKETS,
    staff_view,
)
from support.staff.forms import AssignForm, NoteForm
from support.staff.people import staff_names, with_people
from support.staff.tickets import ticket_page
from support.staff.views.common import may, page_number, render_staff

QUEUE_TITLES = {
    EscalationStatus.OPEN: "Open escalations",
    EscalationStatus.CLAIMED: "Claimed escalations",
    EscalationStatus.RESOLVED: "Resolved escalations",
}


@staff_view(VIEW_TICKETS)
def queue(request: HttpRequest, status: str = EscalationStatus.OPEN) -> HttpResponse:
    """A queue page; with `?rows=1` only its table body (the live page refreshes it)."""
    if status not in QUEUE_TITLES:
        raise Http404("No such queue.")
    # "Mine" is offered on the claimed queue alone: an open ticket has nobody's name on it, and
    # the resolved queue shows no such filter, so ?mine=1 there would narrow it unsaid.
    mine = status == EscalationStatus.CLAIMED and request.GET.get("mine") == "1"
    tickets = queries.queue(status, assignee=request.user.get_username() if mine else None)
    page = queries.page_of(tickets, page_number(request))
    with_people(page.rows)
    names = staff_names()
    for row in page.rows:  # as colleagues know them (the live briefing names them so too)
        row.assignee_name = names.get(row.assignee or "", row.assignee)
    if may(request, MONITOR):
        with_briefings(page.rows)  # warm escalations: "Join call"
    context = {
        "title": QUEUE_TITLES[EscalationStatus(status)],
        "status": status,
        "mine": mine,
        "page": page,
        "live": status != EscalationStatus.RESOLVED,
        # Only a ticket nobody has claimed is waiting: a claimed one is being worked on.
        "overdue_after_s": (
            settings.QUEUE_OVERDUE_MINUTES * 60 if status == EscalationStatus.OPEN else 0
        ),
        "can_change": may(request, CHANGE_TICKETS),
        "may_take_over": may(request, TAKE_OVER),  # "Join call", else "Listen in"
        "names": names,  # queue.js: "claimed by" a colleague's name, as the rows give it
        "here": _page_address(request),  # where a row's action comes back to
    }
    if request.GET.get("rows") == "1":
        return render_staff(request, "staff/_queue_rows.html", context)
    return render_staff(request, "staff/queue.html", context)


def _page_address(request: HttpRequest) -> str:
    """This queue page with its page number and filters, as the address bar has it: the rows
    the live page fetches (`?rows=1`) send their actions back to the page, not to the rows."""
    query = request.GET.copy()
    query.pop("rows", None)
    return f"{request.path}?{query.urlencode()}" if query else request.path


@staff_view(VIEW_TICKETS)
def ticket(request: HttpRequest, ticket_id: str) -> HttpResponse:
    found = get_object_or_404(Escalation, ticket_id=ticket_id)
    context = {
        "title": f"Ticket {found.ticket_id}",
        # The call holds the customer's own words: it needs the calls permission too; their
        # contact details, wallet and orders need the customers' and orders' (as exports do).
        "ctx": ticket_page(found, may_see_calls=may(request, VIEW_CALLS),
                           may_see_customers=may(request, VIEW_CUSTOMERS),
                           may_see_orders=may(request, VIEW_ORDERS)),
        # Booked when nobody could join the call in time: what comes next for the customer.
        "callbacks": (callback_board.of_ticket(found.ticket_id, timezone.now(),
                                               Hours.from_settings())
                      if may(request, VIEW_CALLBACKS) else []),  # fmt: skip
        "can_change": may(request, CHANGE_TICKETS),
        "names": staff_names(),  # who holds it and who wrote its notes, as colleagues know them
        "assign_form": AssignForm(initial={"assignee": found.assignee}),
        "note_form": NoteForm(),
    }
    return render_staff(request, "staff/ticket.html", context)


def _act(
    request: HttpRequest, ticket_id: str, change: Callable[[str], Escalation], done: str
) -> HttpResponseRedirect:
    """Run a ticket change as the signed-in user; report it; go back where the form was."""
    try:
        change(request.user.get_username())
    except escalations.TicketError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        return HttpResponseRedirect(back)
    return redirect("staff:ticket", ticket_id=ticket_id)


@staff_view(CHANGE_TICKETS)
@require_POST
def claim(request: HttpRequest, ticket_id: str) -> HttpResponseRedirect:
    return _act(request, ticket_id, lambda me: escalations.claim(ticket_id, me),
                f"You claimed ticket {ticket_id}.")


@staff_view(CHANGE_TICKETS)
@require_POST
def assign(request: HttpRequest, ticket_id: str) -> HttpResponseRedirect:
    form = AssignForm(request.POST)
    assignee = form.cleaned_data["assignee"] if form.is_valid() else ""
    return _act(request, ticket_id, lambda me: escalations.assign(ticket_id, assignee, by=me),
                f"Ticket {ticket_id} assigned to {staff_names().get(assignee, assignee)}.")


@staff_view(CHANGE_TICKETS)
@require_POST
def add_note(request: HttpRequest, ticket_id: str) -> HttpResponseRedirect:
    text = request.POST.get("text", "")
    key = request.POST.get("request_key", "")[:64]  # the form's: sent twice, added once
    return _act(request, ticket_id, lambda me: escalations.add_note(ticket_id, me, text, key=key),
                "Note added.")


@staff_view(CHANGE_TICKETS)
@require_POST
def resolve(request: HttpRequest, ticket_id: str) -> HttpResponseRedirect:
    note = request.POST.get("note", "")
    return _act(request, ticket_id, lambda me: _resolve_once(ticket_id, me, note),
                f"Ticket {ticket_id} resolved.")


def _resolve_once(ticket_id: str, me: str, note: str) -> Escalation:
    """Resolve; the same resolution sent again (a double click, a page sent again) is done
    once and said as done, not as "already resolved" beside the "resolved" of the first."""
    try:
        return escalations.resolve(ticket_id, me, note)
    except escalations.TicketResolved:
        found = Escalation.objects.filter(ticket_id=ticket_id).first()
        if found is None or not _resolved_as_asked(found, me, note):
            raise
        return found


def _resolved_as_asked(ticket: Escalation, me: str, note: str) -> bool:
    """Whether `me` resolved `ticket` with `note` (if any) already: nothing asked is left out."""
    text = note.strip()[: escalations.MAX_NOTE_LENGTH]
    return ticket.assignee == me and (
        not text or any(n.author == me and n.text == text for n in ticket.notes))
