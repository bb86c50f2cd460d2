"""Calls that outlive their process (realtime/call_record.py): `last_seen_at`, and indexes for
a customer's open calls and stale ones (a call's own writes use 0008's call_id index); and
the `used_tokens` collection of single-use tokens (realtime/single_use.py), whose entries expire by TTL."""

from typing import Any

from django.db import migrations, models


def create_used_tokens(apps: object, schema_editor: Any) -> None:
    used = schema_editor.connection.database["used_tokens"]
    used.create_index("expires_at", expireAfterSeconds=0, name="used_tokens_expiry")


def drop_used_tokens(apps: object, schema_editor: Any) -> None:
    schema_editor.connection.database.drop_collection("used_tokens")


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0009_customer_name_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="call",
            name="last_seen_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="call",
            index=models.Index(fields=["customer", "ended_at"], name="calls_customer_open"),
        ),
        migrations.AddIndex(
            model_name="call",
            index=models.Index(fields=["ended_at", "last_seen_at"], name="calls_open_seen"),
        ),
        migrations.RunPython(create_used_tokens, drop_used_tokens),
    ]
