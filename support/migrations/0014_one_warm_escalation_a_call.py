"""One warm escalation a call (support/escalations.py): a unique index on `live_call_id`, the
call_id a ticket carries only while it is its call's warm escalation, so escalate_to_human
asked several times at once opens one ticket, whatever the interleaving.

Made here directly, partial on the field being a string, as Django makes its own (see 0004).
Not partial on `live: true`: SecantusDB then answers `live: true` queries from that index,
which misses a ticket updated into it. A call that already has several live tickets keeps its
newest live; the others wait in the queue like any ticket whose call ended.
"""

from typing import Any

from django.db import migrations

LIVE_INDEX = "escalations_one_live_a_call"


def create_live_index(apps: object, schema_editor: Any) -> None:
    escalations = schema_editor.connection.database["escalations"]
    newest: set[str] = set()
    live = escalations.find({"live": True}, {"call_id": 1}).sort("created_at", -1)
    for ticket in live:
        call_id = str(ticket.get("call_id") or "")
        if call_id in newest:
            escalations.update_one({"_id": ticket["_id"]}, {"$set": {"live": False}})
        else:
            newest.add(call_id)
            escalations.update_one({"_id": ticket["_id"]}, {"$set": {"live_call_id": call_id}})
    escalations.create_index(
        "live_call_id", name=LIVE_INDEX, unique=True,
        partialFilterExpression={"live_call_id": {"$type": "string"}},
    )  # fmt: skip


def drop_live_index(apps: object, schema_editor: Any) -> None:
    escalations = schema_editor.connection.database["escalations"]
    escalations.drop_index(LIVE_INDEX)
    escalations.update_many({}, {"$unset": {"live_call_id": ""}})


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0013_refill_name_keys"),
    ]

    operations = [
        migrations.RunPython(create_live_index, drop_live_index),
    ]
