"""The calls ended without being finished, however long ago (postcall.finish.finish_leftovers,
which every process's sweeper runs every few seconds): an index on (outcome, ended_at), whose
entries without an outcome are the calls in progress and those left unfinished, so the sweep
reads those alone, not every call ended since its look-back.

Made here directly, as 0002 makes its own: the calls are support's model, and this index is
postcall's query, not the ORM's.
"""

from typing import Any

from django.db import migrations

UNFINISHED_INDEX = "calls_unfinished"


def create_unfinished_index(apps: object, schema_editor: Any) -> None:
    calls = schema_editor.connection.database["calls"]
    calls.create_index([("outcome", 1), ("ended_at", 1)], name=UNFINISHED_INDEX)


def drop_unfinished_index(apps: object, schema_editor: Any) -> None:
    schema_editor.connection.database["calls"].drop_index(UNFINISHED_INDEX)


class Migration(migrations.Migration):
    dependencies = [
        ("postcall", "0002_recording_indexes"),
        ("support", "0015_call_outcome"),
    ]

    operations = [
        migrations.RunPython(create_unfinished_index, drop_unfinished_index),
    ]
