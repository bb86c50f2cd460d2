"""Finding people and things (the search box), and the customer page with its goodwill."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from support import goodwill
from support.models import Customer, Order, OrderStatus
from support.money import format_inr
from support.staff.access import (
    APPROVE_GOODWILL,
    PROPOSE_GOODWILL,
    VIEW_CALLS,
    VIEW_CUSTOMERS,
    require_perm,
    staff_view,
)
from support.staff.customers import customer_page
from support.staff.forms import GoodwillForm, new_request_key
from support.staff.people import staff_names, with_people
from support.staff.search import READ_PERMISSIONS
from support.staff.search import search as find
from support.staff.views.common import may, render_staff

REFUNDABLE_ORDERS = 20
MAX_ORDERS_SCANNED = 500


@staff_view(VIEW_CUSTOMERS)
def search(request: HttpRequest) -> HttpResponse:
    readable = [kind for kind, perm in READ_PERMISSIONS.items() if may(request, perm)]
    results = find(request.GET.get("q", ""), readable)
    if results.only_url:
        return HttpResponseRedirect(results.only_url)
    with_people([hit.row for hit in results.hits if hit.row is not None])
    context = {"title": "Search", "results": results, "q": results.term}
    return render_staff(request, "staff/search.html", context)


def _refundable(customer: Customer) -> list[Order]:
    """The customer's delivered, unrefunded orders, newest first, for a manual refund."""
    # One condition only: the ORM sends several as a top-level $and, which the embedded
    # SecantusDB answers by reading every order (seconds at 200,000).
    orders = (Order.objects.filter(customer_id=customer.user_id).order_by("-placed_at")
              .only("order_id", "restaurant", "amount", "status", "refund"))  # not the items
    return [order for order in orders[:MAX_ORDERS_SCANNED]
            if order.status == OrderStatus.DELIVERED and order.refund is None
            ][:REFUNDABLE_ORDERS]  # fmt: skip


def _render_customer(request: HttpRequest, customer: Customer,
                     form: GoodwillForm | None = None) -> HttpResponse:  # fmt: skip
    page = customer_page(customer)
    with_people([*page.tickets, *page.complaints])
    context: dict[str, Any] = {
        "title": customer.name, "page": page, "customer": customer,
        "goodwill_form": form or GoodwillForm(_refundable(customer)),
        "goodwill_history": goodwill.history(customer.user_id),
        "names": staff_names(),  # who asked and who decided
        "goodwill_cap": goodwill.daily_cap(),
        "goodwill_today": goodwill.credited_today(customer.user_id),
        "may_propose": may(request, PROPOSE_GOODWILL),
        "may_approve": may(request, APPROVE_GOODWILL),
        # A call's summary holds what the customer said, as its page: with view_call only.
        "may_read_calls": may(request, VIEW_CALLS),
    }  # fmt: skip
    return render_staff(request, "staff/customer.html", context)


@staff_view(VIEW_CUSTOMERS)
def customer(request: HttpRequest, user_id: int) -> HttpResponse:
    return _render_customer(request, get_object_or_404(Customer, user_id=user_id))


@staff_view(PROPOSE_GOODWILL)
@require_POST
def request_goodwill(request: HttpRequest, user_id: int) -> HttpResponse:
    """An agent proposes; a lead gives (proposes and approves at once)."""
    # A form with errors answers with the customer's page: it needs what that page needs.
    require_perm(request, VIEW_CUSTOMERS)
    found = get_object_or_404(Customer, user_id=user_id)
    form = GoodwillForm(_refundable(found), request.POST)
    if not form.is_valid():
        return _render_customer(request, found, form)  # the errors beside the fields
    data = form.cleaned_data
    wanted = goodwill.Request(data["kind"], user_id, data["amount"], data["reason"],
                              data["order_id"] or None, data["request_key"])  # fmt: skip
    me = request.user.get_username()
    try:
        if may(request, APPROVE_GOODWILL):
            done, now = goodwill.give(wanted, me)
            messages.success(request, _done(done) if now else "That was already done: "
                             f"{done.goodwill_id} ({format_inr(done.amount)}).")  # fmt: skip
        else:
            proposed = goodwill.propose(wanted, me)
            messages.success(request, f"Sent to a lead for approval: {proposed}.")
    except goodwill.GoodwillError as error:
        # That request is settled (refused, and kept so) or was never recorded: the form sent
        # again, corrected, is a new request, with a key of its own.
        data = request.POST.copy()
        data["request_key"] = new_request_key()
        form = GoodwillForm(_refundable(found), data)
        form.add_error(None, error.message)
        return _render_customer(request, found, form)
    return redirect(reverse("staff:customer", args=[user_id]) + "#goodwill")


def _done(done: Any) -> str:
    if done.kind == goodwill.REFUND:
        return f"Refunded {format_inr(done.amount)} for {done.order_id} to the wallet."
    return f"Credited {format_inr(done.amount)} to the wallet."


def _decide(request: HttpRequest, goodwill_id: str, approve: bool) -> HttpResponseRedirect:
    me = request.user.get_username()
    try:
        done = (goodwill.approve(goodwill_id, me) if approve
                else goodwill.reject(goodwill_id, me, request.POST.get("note", "")))  # fmt: skip
    except goodwill.GoodwillError as error:
        found = goodwill.Goodwill.objects.filter(goodwill_id=goodwill_id).first()
        if found is None:
            messages.error(request, error.message)
            return redirect("staff:dashboard")
        decided = goodwill.APPROVED if approve else goodwill.REJECTED
        if (found.status, found.decided_by) == (decided, me):
            # The same decision by the same person again (a double click, a page sent again):
            # done once, and said as done, not as "already approved by" themselves.
            messages.success(request, _done(found) if approve else f"Rejected {found}.")
        else:
            messages.error(request, error.message)
        return redirect(reverse("staff:customer", args=[found.customer_id]) + "#goodwill")
    messages.success(request, _done(done) if approve else f"Rejected {done}.")
    return redirect(reverse("staff:customer", args=[done.customer_id]) + "#goodwill")


@staff_view(APPROVE_GOODWILL)
@require_POST
def approve_goodwill(request: HttpRequest, goodwill_id: str) -> HttpResponseRedirect:
    return _decide(request, goodwill_id, approve=True)


@staff_view(APPROVE_GOODWILL)
@require_POST
def reject_goodwill(request: HttpRequest, goodwill_id: str) -> HttpResponseRedirect:
    return _decide(request, goodwill_id, approve=False)
