"""`/staff/live/`: the calls in progress, and one live call to listen to, whisper on, take over.

Both pages paint what the database says now and then follow the calls over their sockets
(static/livestaff/*.js, livestaff/consumers.py): the views only read.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from livestaff import protocol
from livestaff.board import live_call_page, live_rows
from support.staff.access import VIEW_CUSTOMERS, staff_view
from support.staff.people import staff_names
from support.staff.views.common import may, render_staff


@staff_view(protocol.MONITOR)
def live(request: HttpRequest) -> HttpResponse:
    """The live calls page; with `?rows=1` only its table body (the page fetches it again
    when a call starts or ends)."""
    names = staff_names()
    rows = live_rows(names=names, phones=may(request, VIEW_CUSTOMERS))
    context = {"title": "Live calls", "rows": rows, "names": names,
               # Joining a warm escalation is taking the call over; without that right a
               # colleague can listen in (and whisper) while a lead is fetched.
               "may_take_over": may(request, protocol.TAKE_OVER)}  # fmt: skip
    if request.GET.get("rows") == "1":
        return render_staff(request, "livestaff/_live_rows.html", context)
    return render_staff(request, "livestaff/live.html", context)


@staff_view(protocol.MONITOR)
def call(request: HttpRequest, call_id: str) -> HttpResponse:
    names = staff_names()
    # The conversation painted says "You" to its reader for what they did, as the page's
    # script says it of what they do once it is open (static/livestaff/call.js).
    page = live_call_page(call_id, reader=request.user.get_username(), names=names)
    if page is None:
        raise Http404("No such call.")
    if not page.live:
        messages.info(request, "That call has ended: this is its record.")
        return redirect("staff:call", call_id=call_id)
    who = page.customer.name if page.customer else "a caller not identified"
    context = {
        "title": f"Live call with {who}",
        "ended_title": f"Call with {who} (ended)",
        "page": page,
        "call": page.detail.row,
        "names": names,
        "may_take_over": may(request, protocol.TAKE_OVER),
        "transferring_message": protocol.TRANSFERRING_MESSAGE,
    }
    return render_staff(request, "livestaff/call.html", context)
