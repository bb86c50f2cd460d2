"""Django's ModelBackend, reading permission names without projecting a joined field.

ModelBackend names permissions with `values_list("content_type__app_label", "codename")`,
which django-mongodb-backend sends as a nested `$project` (`{"django_content_type":
{"app_label": 1}}`). The embedded SecantusDB (0.7.0b3) answers that with the number 1 instead
of the app label, so every group permission came out as "1.view_call" and staff saw 403s. Here
the content types are looked up by id from ContentType's cache instead: same result on MongoDB,
right result on SecantusDB, and no $lookup to project.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType


class PermissionNamesBackend(ModelBackend):
    def _get_permissions(self, user_obj: Any, obj: Any, from_name: str) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        cache_name = f"_{from_name}_perm_cache"
        if not hasattr(user_obj, cache_name):
            if user_obj.is_superuser:
                perms = Permission.objects.all()
            else:
                perms = getattr(self, f"_get_{from_name}_permissions")(user_obj)
            rows = perms.values_list("content_type_id", "codename").order_by()
            names = {
                f"{ContentType.objects.get_for_id(type_id).app_label}.{codename}"
                for type_id, codename in rows
            }
            setattr(user_obj, cache_name, names)
        return getattr(user_obj, cache_name)  # type: ignore[no-any-return]
