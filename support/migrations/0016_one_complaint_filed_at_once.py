"""The same complaint filed at once from two processes is filed once (support/complaints.py): a
unique index on `dedupe_keys`, the keys of a complaint's customer, order and words for the
minute it was filed and the next.

Made here directly, partial on the field holding strings, as 0014 makes its own: complaints
filed before carry no keys and are not in the index. Nothing to fill in: a key only stops a
filing less than two minutes after another.
"""

from typing import Any

from django.db import migrations

DEDUPE_INDEX = "complaints_one_filed_at_once"


def create_dedupe_index(apps: object, schema_editor: Any) -> None:
    complaints = schema_editor.connection.database["complaints"]
    complaints.create_index(
        "dedupe_keys", name=DEDUPE_INDEX, unique=True,
        partialFilterExpression={"dedupe_keys": {"$type": "string"}},
    )  # fmt: skip


def drop_dedupe_index(apps: object, schema_editor: Any) -> None:
    complaints = schema_editor.connection.database["complaints"]
    complaints.drop_index(DEDUPE_INDEX)
    complaints.update_many({}, {"$unset": {"dedupe_keys": ""}})


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0015_call_outcome"),
    ]

    operations = [
        migrations.RunPython(create_dedupe_index, drop_dedupe_index),
    ]
