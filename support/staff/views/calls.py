"""Call history: the list with its filters, and one call read as a conversation."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from postcall.access import DOWNLOAD_RECORDINGS
from postcall.summary import configured as summaries_configured
from support.models import Escalation
from support.staff import queries
from support.staff.access import VIEW_CALLS, VIEW_CUSTOMERS, staff_view
from support.staff.aftercall import after_call, audible, recording_of
from support.staff.calls import CallList, call_detail
from support.staff.forms import CallFilterForm
from support.staff.views.common import may, page_number, render_staff


@staff_view(VIEW_CALLS)
def calls(request: HttpRequest) -> HttpResponse:
    form = CallFilterForm(request.GET or None, may_see_contacts=may(request, VIEW_CUSTOMERS))
    # A filter that is not valid lists nothing (its error shows by the field): never more
    # calls than asked for.
    page = None
    if not form.is_bound or form.is_valid():
        page = queries.page_of(CallList(form.match()), page_number(request))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"title": "Call history", "form": form, "page": page, "query": query.urlencode()}
    return render_staff(request, "staff/calls.html", context)


@staff_view(VIEW_CALLS)
def call(request: HttpRequest, call_id: str) -> HttpResponse:
    detail = call_detail(call_id)
    if detail is None:
        raise Http404("No such call.")
    tickets = list(Escalation.objects.filter(call_id=call_id).only(
        "ticket_id", "status", "priority", "resolved_at"))  # fmt: skip
    when = timezone.localtime(detail.row.started_at)
    title = f"Call with {detail.row.who}, {when.day} {when:%b %Y, %H:%M}"  # as the body: "7 Nov"
    after = after_call(detail.record, detail.row.started_at, tickets)
    recordings = recording_of(call_id, detail.row.started_at)
    context = {
        "title": title, "detail": detail, "call": detail.row, "tickets": tickets,
        "after": after, "recordings": recordings, "audible": audible(recordings),
        "may_play": may(request, DOWNLOAD_RECORDINGS),
        # Summarising again helps when a model is configured, or when nothing is written yet.
        "may_summarise": bool(detail.row.ended_at) and (
            summaries_configured() or not detail.record.get("summary")),
    }  # fmt: skip
    return render_staff(request, "staff/call.html", context)
