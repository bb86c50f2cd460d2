"""Indexes for calls that move between processes (continuity/calls.py): a phone call found by
Twilio's CallSid when its stream comes back, and calls waiting for a page past their grace."""

from typing import Any

from django.db import migrations


def create_indexes(apps: object, schema_editor: Any) -> None:
    calls = schema_editor.connection.database["calls"]
    calls.create_index([("call_sid", 1), ("started_at", -1)], name="calls_call_sid")
    calls.create_index([("ended_at", 1), ("detached_at", 1)], name="calls_open_detached")


def drop_indexes(apps: object, schema_editor: Any) -> None:
    calls = schema_editor.connection.database["calls"]
    for name in ("calls_call_sid", "calls_open_detached"):
        calls.drop_index(name)


class Migration(migrations.Migration):
    dependencies = [("support", "0010_call_records_and_used_tokens")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
