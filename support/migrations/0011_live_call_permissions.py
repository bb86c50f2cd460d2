"""Staff on live calls (contract section 8): `support.monitor_call` (watch, listen, whisper)
for both support groups, `support.take_over_call` (take over, hand back, end) for leads."""

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Support agent": ["monitor_call"],
    "Support lead": ["monitor_call", "take_over_call"],
}  # support/migrations/0003_staff_groups.py names the groups


def grant_live_call_permissions(apps: Any, schema_editor: Any) -> None:
    support = apps.get_app_config("support")
    support.models_module = True  # create_permissions skips apps without models
    create_permissions(support, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*Permission.objects.filter(
                content_type__app_label="support", codename__in=codenames))  # fmt: skip


def revoke_live_call_permissions(apps: Any, schema_editor: Any) -> None:
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(
        content_type__app_label="support", codename__in=["monitor_call", "take_over_call"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0010_call_records_and_used_tokens"),
        ("auth", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="call",
            options={
                "ordering": ["-started_at"],
                "permissions": [
                    ("monitor_call", "Can watch, listen to and whisper on a live call"),
                    ("take_over_call", "Can take over, hand back and end a live call"),
                ],
            },
        ),
        migrations.RunPython(grant_live_call_permissions, revoke_live_call_permissions),
    ]
