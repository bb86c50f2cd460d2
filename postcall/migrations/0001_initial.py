"""The recording permission, given to the "Support lead" group (support/migrations/0003)."""

import django_mongodb_backend.fields
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

LEAD = "Support lead"


def grant_to_leads(apps, schema_editor):
    app_config = apps.get_app_config("postcall")
    app_config.models_module = True  # create_permissions skips apps without models
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(
        content_type__app_label="postcall", codename="download_recording"
    )
    group, _ = Group.objects.get_or_create(name=LEAD)
    group.permissions.add(permission)


class Migration(migrations.Migration):
    initial = True
    dependencies = [("support", "0003_staff_groups")]

    operations = [
        migrations.CreateModel(
            name="Recording",
            fields=[
                (
                    "id",
                    django_mongodb_backend.fields.ObjectIdAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("filename", models.CharField(max_length=200)),
                ("length", models.BigIntegerField()),
            ],
            options={
                "db_table": "recordings.files",
                "managed": False,
                "default_permissions": (),
                "permissions": [("download_recording", "Can download and play call recordings")],
            },
        ),
        migrations.RunPython(grant_to_leads, migrations.RunPython.noop),
    ]
