"""The staff groups as a test wants them, made by the migrations' own functions.

    groups = staff_groups_by(create_staff_groups, grant_live_call_permissions)

Running those functions costs about 0.75 s a test on the embedded database (hundreds of
permission reads and writes). The same functions from the same starting point (the database
as migrations left it, which every test starts from) always give the same permissions, so
they run once per session for each list of functions; later tests get each group's
permissions put back with one `set`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.contrib.auth.models import Group

Step = Callable[[Any, Any], None]  # a migration's RunPython function: (apps, schema_editor)

_made: dict[tuple[Step, ...], dict[str, list[Any]]] = {}


def staff_groups_by(*steps: Step) -> dict[str, Group]:
    """Every group, by name, with the permissions `steps` (run in order) give it."""
    made = _made.get(steps)
    if made is None:
        for step in steps:
            step(apps, None)
        _made[steps] = {group.name: list(group.permissions.values_list("pk", flat=True))
                        for group in Group.objects.all()}  # fmt: skip
    else:
        for name, permissions in made.items():
            group, _ = Group.objects.get_or_create(name=name)
            group.permissions.set(permissions)
    return {group.name: group for group in Group.objects.all()}
