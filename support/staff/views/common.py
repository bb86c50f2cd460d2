"""What every staff view shares: the admin's frame, page numbers, permission checks."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from voiceproject.numbers import digits_up_to

MAX_PAGE = 100_000


def render_staff(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    return TemplateResponse(request, template, {**admin.site.each_context(request), **context})


def page_number(request: HttpRequest) -> int:
    """`?page=N` (ASCII digits only: `²` and other digits Python's int() refuses are page 1;
    past MAX_PAGE, however long the number, is MAX_PAGE)."""
    value = request.GET.get("page", "1")
    if not (value.isascii() and value.isdigit()):
        return 1
    return max(1, digits_up_to(value, MAX_PAGE))


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 403 page (voiceproject/urls.py: handler403) in the back office's frame, saying what
    the view refused with (support/staff/access.py: require_perm)."""
    context = {"title": "You cannot open this page", "exception": str(exception)}
    response = render_staff(request, "403.html", context)
    response.status_code = 403
    return response


def may(request: HttpRequest, perm: str) -> bool:
    # django-stubs misses auth installed as MongoAuthConfig (see pyproject.toml).
    return bool(request.user.has_perm(perm))  # type: ignore[union-attr]
