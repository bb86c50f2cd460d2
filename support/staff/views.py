"""Staff pages: dashboard, escalation queue and tickets, call history.

Pages render inside the admin's frame (admin/base_site.html with the admin site's context), so
staff move between them and the admin without noticing. Every change is a POST with a CSRF
token, done by a domain function in support/escalations.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from support import escalations
from support.models import Call, Escalation, EscalationStatus
from support.staff import queries
from support.staff.access import CHANGE_TICKETS, VIEW_CALLS, VIEW_TICKETS, staff_view
from support.staff.forms import AssignForm, CallFilterForm, NoteForm

QUEUE_TITLES = {
    EscalationStatus.OPEN: "Open escalations",
    EscalationStatus.CLAIMED: "Claimed escalations",
    EscalationStatus.RESOLVED: "Resolved escalations",
}


def render_staff(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    return TemplateResponse(request, template, {**admin.site.each_context(request), **context})


def _page_number(request: HttpRequest) -> int:
    value = request.GET.get("page", "1")
    return int(value) if value.isdigit() else 1


@staff_view(VIEW_TICKETS)
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {"title": "Dashboard", **queries.dashboard()}
    return render_staff(request, "staff/dashboard.html", context)


@staff_view(VIEW_TICKETS)
def queue(request: HttpRequest, status: str = EscalationStatus.OPEN) -> HttpResponse:
    if status not in QUEUE_TITLES:
        raise Http404("No such queue.")
    mine = request.GET.get("mine") == "1"
    tickets = queries.queue(status, assignee=request.user.get_username() if mine else None)
    context = {
        "title": QUEUE_TITLES[EscalationStatus(status)],
        "status": status,
        "mine": mine,
        "page": queries.page_of(tickets, _page_number(request)),
        "live": status == EscalationStatus.OPEN,
        # django-stubs misses auth installed as MongoAuthConfig (see pyproject.toml).
        "can_change": request.user.has_perm(CHANGE_TICKETS),  # type: ignore[union-attr]
    }
    return render_staff(request, "staff/queue.html", context)


@staff_view(VIEW_TICKETS)
def ticket(request: HttpRequest, ticket_id: str) -> HttpResponse:
    found = get_object_or_404(Escalation, ticket_id=ticket_id)
    ctx = queries.ticket_context(found)
    context = {
        "title": f"Ticket {found.ticket_id}",
        "ctx": ctx,
        "tool_calls": queries.tool_call_rows(ctx.call) if ctx.call else [],
        # django-stubs misses auth installed as MongoAuthConfig (see pyproject.toml).
        "can_change": request.user.has_perm(CHANGE_TICKETS),  # type: ignore[union-attr]
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
                f"Ticket {ticket_id} assigned to {assignee}.")


@staff_view(CHANGE_TICKETS)
@require_POST
def add_note(request: HttpRequest, ticket_id: str) -> HttpResponseRedirect:
    text = request.POST.get("text", "")
    return _act(request, ticket_id, lambda me: escalations.add_note(ticket_id, me, text),
                "Note added.")


@staff_view(CHANGE_TICKETS)
@require_POST
def resolve(request: HttpRequest, ticket_id: str) -> HttpResponseRedirect:
    note = request.POST.get("note", "")
    return _act(request, ticket_id, lambda me: escalations.resolve(ticket_id, me, note),
                f"Ticket {ticket_id} resolved.")


@staff_view(VIEW_CALLS)
def calls(request: HttpRequest) -> HttpResponse:
    form = CallFilterForm(request.GET or None)
    # The list never needs transcripts; leaving them out keeps each page small.
    found = form.filter(Call.objects.defer("transcript").order_by("-started_at"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "title": "Call history",
        "form": form,
        "page": queries.page_of(found, _page_number(request)),
        "query": query.urlencode(),
    }
    return render_staff(request, "staff/calls.html", context)


@staff_view(VIEW_CALLS)
def call(request: HttpRequest, call_id: str) -> HttpResponse:
    found = get_object_or_404(Call, call_id=call_id)
    tickets = Escalation.objects.filter(call_id=call_id).only("ticket_id", "status")
    context = {
        "title": f"Call {found.call_id}",
        "call": found,
        "tool_calls": queries.tool_call_rows(found),
        "usage": sorted((found.usage or {}).items()),
        "tickets": list(tickets),
        "admin_url": reverse("admin:support_call_change", args=[found.pk]),
    }
    return render_staff(request, "staff/call.html", context)
