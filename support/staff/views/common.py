"""What every staff view shares: the admin's frame, page numbers, permission checks."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

MAX_PAGE = 100_000


def render_staff(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    return TemplateResponse(request, template, {**admin.site.each_context(request), **context})


def page_number(request: HttpRequest) -> int:
    """`?page=N` (ASCII digits only: `²` and other digits Python's int() refuses are page 1)."""
    value = request.GET.get("page", "1")
    if not (value.isascii() and value.isdigit()):
        return 1
    return min(max(1, int(value)), MAX_PAGE)


def may(request: HttpRequest, perm: str) -> bool:
    # django-stubs misses auth installed as MongoAuthConfig (see pyproject.toml).
    return bool(request.user.has_perm(perm))  # type: ignore[union-attr]
