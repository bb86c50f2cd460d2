"""Who may see and do what under /staff/: active staff (else the admin login) with a permission
(else 403). The permissions come from the "Support agent" / "Support lead" groups."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.cache import never_cache

View = TypeVar("View", bound=Callable[..., HttpResponseBase])

VIEW_TICKETS = "support.view_escalation"
CHANGE_TICKETS = "support.change_escalation"
VIEW_CALLS = "support.view_call"
VIEW_CUSTOMERS = "support.view_customer"
VIEW_ORDERS = "support.view_order"
PROPOSE_GOODWILL = "support.add_goodwill"
APPROVE_GOODWILL = "support.approve_goodwill"


def require_perm(request: HttpRequest, perm: str) -> None:
    """Raise PermissionDenied without `perm`, saying (on the 403 page, templates/403.html)
    which permission it takes, as the admin names it, and who can give it."""
    # django-stubs misses auth installed as MongoAuthConfig (see pyproject.toml).
    if not request.user.has_perm(perm):  # type: ignore[union-attr]
        raise PermissionDenied(refusal(perm))


def refusal(perm: str) -> str:
    app_label, codename = perm.split(".", 1)
    name = (
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        .values_list("name", flat=True)
        .first()
    )
    return (f"It needs the permission “{name or perm}”, which your account does not have. "
            "A support lead can give it to you.")  # fmt: skip


def staff_view(perm: str) -> Callable[[View], View]:
    """Staff login (redirect to the admin login) plus `perm` (403 without it); never cached."""

    def decorator(view: View) -> View:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            require_perm(request, perm)
            return view(request, *args, **kwargs)

        return never_cache(staff_member_required(guarded))  # type: ignore[return-value]

    return decorator
