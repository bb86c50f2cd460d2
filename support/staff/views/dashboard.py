"""The dashboard over a range of days, and the CSV exports of that range."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from support import goodwill
from support.staff.access import VIEW_CUSTOMERS, VIEW_TICKETS, require_perm, staff_view
from support.staff.dashboard import MAX_DAYS, DayRange, day_range
from support.staff.dashboard import dashboard as figures
from support.staff.export import BATCH, EXPORTS, csv_lines
from support.staff.forms import DayRangeForm
from support.staff.views.common import may, render_staff
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
    if days is not None and (days.last - days.first).days >= MAX_DAYS:
        form.add_error("since", f"The dashboard shows at most {MAX_DAYS} days: choose a later "
                                "start or an earlier end.")  # fmt: skip
        days = None
    if days is not None:  # the boxes say which days the figures are for (a form in error stays)
        form = DayRangeForm(initial={"since": days.first, "until": days.last})
    context = {"title": "Dashboard", "form": form, "board": figures(days) if days else None,
               "exports": _exports(request, days) if days else [],
               "goodwill_waiting": goodwill.pending_count()}  # fmt: skip
    return render_staff(request, "staff/dashboard.html", context)


def _exports(request: HttpRequest, days: DayRange) -> list[tuple[str, str]]:
    """(kind, address) of the range's exports this person may download (as `export` checks)."""
    if not may(request, VIEW_CUSTOMERS):
        return []
    query = urlencode({"since": days.first.isoformat(), "until": days.last.isoformat()})
    return [(kind, f"{reverse('staff:export', args=[kind])}?{query}")
            for kind, export in EXPORTS.items() if may(request, export.permission)]  # fmt: skip


@staff_view(VIEW_CUSTOMERS)  # every export names its customers
def export(request: HttpRequest, kind: str) -> HttpResponse | StreamingHttpResponse:
    if kind not in EXPORTS:
        raise Http404("No such export.")
    require_perm(request, EXPORTS[kind].permission)
    form = DayRangeForm(request.GET or None)
    days = _days(form)
    if days is None:
        said = " ".join(f"{form[name].label}: {' '.join(map(str, errors))}"
                        for name, errors in form.errors.items())  # fmt: skip
        return HttpResponse(f"The dates are not valid ({said}); use YYYY-MM-DD.", status=400,
                            content_type="text/plain; charset=utf-8")  # fmt: skip
    name = f"{kind}-{days.first.isoformat()}-to-{days.last.isoformat()}.csv"
    response = StreamingHttpResponse(streamed(csv_lines(kind, days), per_read=BATCH),
                                     content_type="text/csv; charset=utf-8")  # fmt: skip
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
