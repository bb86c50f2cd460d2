"""The staff groups: "Support agent" (queue, calls, read the data) and "Support lead" (also tiers).

Permissions are normally created by post_migrate, after every migration has run; this one
creates them itself (`create_permissions`) so the groups can be given them on a fresh database.
Tests call `create_staff_groups(django.apps.apps, None)` again after each flush.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

AGENT = "Support agent"
LEAD = "Support lead"

SUPPORT_MODELS = ["customer", "order", "refund", "complaint", "escalation", "call", "refundtier"]
AGENT_CODENAMES = [f"view_{model}" for model in SUPPORT_MODELS] + [
    # Claim, assign, note and resolve tickets; resolve complaints.
    "change_escalation",
    "change_complaint",
]
LEAD_CODENAMES = AGENT_CODENAMES + [
    "add_refundtier",
    "change_refundtier",
    "delete_refundtier",
    "view_logentry",  # the admin history of tier changes
]


def create_staff_groups(apps, schema_editor):
    for app_label in ("support", "admin"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True  # create_permissions skips apps without models
        create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ((AGENT, AGENT_CODENAMES), (LEAD, LEAD_CODENAMES)):
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(
            content_type__app_label__in=["support", "admin"], codename__in=codenames
        )
        group.permissions.set(list(perms))


def remove_staff_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[AGENT, LEAD]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0002_default_refund_tiers"),
        ("auth", "0001_initial"),
        ("contenttypes", "0001_initial"),
        ("admin", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_staff_groups, remove_staff_groups)]
