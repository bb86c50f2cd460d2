"""The dashboard over a range of days, and the CSV exports of that range."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone

from support import goodwill
from support.staff.access import VIEW_CUSTOMERS, VIEW_TICKETS, require_perm, staff_view
from support.staff.dashboard import DayRange, day_range
from support.staff.dashboard import dashboard as figures
from support.staff.export import BATCH, EXPORTS, csv_lines
from support.staff.forms import DayRangeForm
from support.staff.views.common import render_staff
from voiceproject.streaming import streamed


def _days(form: DayRangeForm) -> DayRange | None:
    """The chosen range, or the default one; None when the form has errors (shown to fix)."""
    if form.is_bound and not form.is_valid():
        return None
    data = form.cleaned_data if form.is_bound else {}
    return day_range(data.get("since"), data.get("until"), timezone.localdate())


@staff_view(VIEW_TICKETS)
def dashboard(request: HttpRequest) -> HttpResponse:
    form = DayRangeForm(request.GET or None)
    days = _days(form)
    if days is not None:  # the boxes say which days the figures are for (a form in error stays)
        form = DayRangeForm(initial={"since": days.first, "until": days.last})
    context = {"title": "Dashboard", "form": form, "board": figures(days) if days else None,
               "goodwill_waiting": goodwill.pending_count()}  # fmt: skip
    return render_staff(request, "staff/dashboard.html", context)


@staff_view(VIEW_CUSTOMERS)  # every export names its customers
def export(request: HttpRequest, kind: str) -> HttpResponse | StreamingHttpResponse:
    if kind not in EXPORTS:
        raise Http404("No such export.")
    require_perm(request, EXPORTS[kind].permission)
    days = _days(DayRangeForm(request.GET or None))
    if days is None:
        return HttpResponse("The dates are not valid: use YYYY-MM-DD.", status=400,
                            content_type="text/plain; charset=utf-8")  # fmt: skip
    name = f"{kind}-{days.first.isoformat()}-to-{days.last.isoformat()}.csv"
    response = StreamingHttpResponse(streamed(csv_lines(kind, days), per_read=BATCH),
                                     content_type="text/csv; charset=utf-8")  # fmt: skip
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
