"""Support leads (only) may mint voice tokens as staff and read the audit of those mints.

As in support's 0003_staff_groups, the permissions are created here (post_migrate would make
them only after every migration). Tests call `grant_to_leads(django.apps.apps, None)` again
after the staff groups are made afresh.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

LEAD = "Support lead"  # support/migrations/0003_staff_groups.py
LEAD_CODENAMES = ["mint_voice_token", "view_voicetokenmint"]


def grant_to_leads(apps, schema_editor):
    app_config = apps.get_app_config("realtime")
    app_config.models_module = True  # create_permissions skips apps without models
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    lead, _ = Group.objects.get_or_create(name=LEAD)
    perms = Permission.objects.filter(
        content_type__app_label="realtime", codename__in=LEAD_CODENAMES
    )
    lead.permissions.add(*perms)


def revoke_from_leads(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(
        content_type__app_label="realtime", codename__in=LEAD_CODENAMES
    )
    for group in Group.objects.filter(name=LEAD):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("realtime", "0001_voice_token_mints"),
        ("support", "0003_staff_groups"),
    ]

    operations = [migrations.RunPython(grant_to_leads, revoke_from_leads)]
