"""Who a row is about: the customer's name and phone for every `user_id` a list shows, in one
query per page (no join, no query per row)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from django.urls import reverse

from support.models import Customer

ROW = TypeVar("ROW")
PERSON_FIELDS = ("user_id", "name", "phone")


def people(user_ids: Iterable[int | None]) -> dict[int, Customer]:
    """The customers with these user ids (name and phone only), by user id: one query. Each
    has its page's address as `url` (one reverse() for all of them: a list of 50 rows
    otherwise spent a sixth of its time resolving URLs)."""
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    found = Customer.objects.filter(user_id__in=wanted).only(*PERSON_FIELDS).order_by()
    page = reverse("staff:customer", args=[0]).removesuffix("0/")
    for customer in found:
        customer.url = f"{page}{customer.user_id}/"  # type: ignore[attr-defined]
    return {customer.user_id: customer for customer in found}


def with_people(rows: Sequence[ROW]) -> Sequence[ROW]:
    """Give each row (a model with a `customer` foreign key) a `person`: its Customer or None."""
    found = people(getattr(row, "customer_id", None) for row in rows)
    for row in rows:
        user_id = getattr(row, "customer_id", None)
        row.person = found.get(user_id) if user_id is not None else None  # type: ignore[attr-defined]
    return rows


def staff_names() -> dict[str, str]:
    """Every active staff member's username -> the name colleagues know them by (first name
    and last name, or the username). Small: a support team, not the customers."""
    return _names(User.objects.filter(is_staff=True, is_active=True))


def names_of_those_who_may(perm: str) -> dict[str, str]:
    """`staff_names()` of those holding `perm` ("support.change_escalation"): superusers, and
    whoever has it directly or through a group. Read without joins, as support/staff/auth.py
    reads permissions: the permission, who holds it, then the users."""
    app_label, codename = perm.split(".", 1)
    types = ContentType.objects.filter(app_label=app_label).values_list("pk", flat=True)
    permission = (Permission.objects.filter(content_type_id__in=list(types), codename=codename)
                  .values_list("pk", flat=True).first())  # fmt: skip
    # The auto-created many-to-many tables (django-stubs gives them no `objects` manager).
    group_perms: Any = Group.permissions.through
    user_groups: Any = User.groups.through
    user_perms: Any = User.user_permissions.through
    holders: set[Any] = set()
    if permission is not None:
        groups = list(group_perms.objects.filter(permission_id=permission)
                      .values_list("group_id", flat=True))  # fmt: skip
        holders.update(user_groups.objects.filter(group_id__in=groups)
                       .values_list("user_id", flat=True))  # fmt: skip
        holders.update(user_perms.objects.filter(permission_id=permission)
                       .values_list("user_id", flat=True))  # fmt: skip
    staff = User.objects.filter(is_staff=True, is_active=True)
    return _names(staff.filter(Q(is_superuser=True) | Q(pk__in=holders)))


def _names(users: QuerySet[User]) -> dict[str, str]:
    found = users.values_list("username", "first_name", "last_name")
    return {u: f"{first} {last}".strip() or u for u, first, last in found}
