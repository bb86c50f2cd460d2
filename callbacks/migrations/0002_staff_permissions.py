"""Both staff groups may see and work callbacks (claim, mark done or missed, call now).

Added to the groups support's migration 0003 made, never set: the groups keep what other apps
gave them. Tests call `grant_callback_permissions(django.apps.apps, None)` again after
support's `create_staff_groups`, which sets the groups' permissions afresh.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = ["Support agent", "Support lead"]  # support/migrations/0003_staff_groups.py
CODENAMES = ["view_callback", "change_callback"]


def grant_callback_permissions(apps, schema_editor):
    app_config = apps.get_app_config("callbacks")
    app_config.models_module = True  # create_permissions skips apps without models
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = list(
        Permission.objects.filter(content_type__app_label="callbacks", codename__in=CODENAMES)
    )
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.add(*perms)


def revoke_callback_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = list(
        Permission.objects.filter(content_type__app_label="callbacks", codename__in=CODENAMES)
    )
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("callbacks", "0001_initial"),
        ("support", "0003_staff_groups"),
    ]

    operations = [
        migrations.RunPython(grant_callback_permissions, revoke_callback_permissions)
    ]
