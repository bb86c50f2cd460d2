"""Finding people and things (the search box), and the customer page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404

from support.models import Customer
from support.staff.access import VIEW_CUSTOMERS, staff_view
from support.staff.customers import customer_page
from support.staff.people import with_people
from support.staff.search import search as find
from support.staff.views.common import render_staff


@staff_view(VIEW_CUSTOMERS)
def search(request: HttpRequest) -> HttpResponse:
    results = find(request.GET.get("q", ""))
    if results.only_url:
        return HttpResponseRedirect(results.only_url)
    with_people([hit.row for hit in results.hits if hit.row is not None])
    context = {"title": "Search", "results": results, "q": results.term}
    return render_staff(request, "staff/search.html", context)


@staff_view(VIEW_CUSTOMERS)
def customer(request: HttpRequest, user_id: int) -> HttpResponse:
    found = get_object_or_404(Customer, user_id=user_id)
    page = customer_page(found)
    with_people([*page.tickets, *page.complaints])
    context = {"title": found.name, "page": page, "customer": found}
    return render_staff(request, "staff/customer.html", context)
