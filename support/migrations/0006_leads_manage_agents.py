"""Support leads manage the team: they may view, add and change users.

What they may change is narrowed by support/staff/team.py (names, active, one of the two support
groups; never superuser, staff-admin or raw permissions), not by these permissions alone.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

LEAD = "Support lead"
TEAM_CODENAMES = ["view_user", "add_user", "change_user"]


def grant_team_management(apps, schema_editor):
    auth = apps.get_app_config("auth")
    auth.models_module = True  # create_permissions skips apps without models
    create_permissions(auth, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    lead = Group.objects.filter(name=LEAD).first()
    if lead is None:
        return
    content_type = apps.get_model("contenttypes", "ContentType").objects.get(
        app_label="auth", model="user"
    )
    perms = Permission.objects.filter(content_type=content_type, codename__in=TEAM_CODENAMES)
    lead.permissions.add(*perms)


def revoke_team_management(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    lead = Group.objects.filter(name=LEAD).first()
    if lead is not None:
        lead.permissions.remove(
            *Permission.objects.filter(content_type__app_label="auth", codename__in=TEAM_CODENAMES)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0005_staff_list_indexes"),
        ("auth", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant_team_management, revoke_team_management)]
