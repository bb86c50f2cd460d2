"""MongoDB removes expired sessions itself: the index on expire_date becomes a TTL index.

Django's `clearsessions` would otherwise have to run on a schedule. MongoDB's TTL monitor
deletes a session about a minute after its expire_date (expireAfterSeconds 0: at that time).
"""

from django.db import migrations

TTL_INDEX = "django_session_expire_date_ttl"


def _sessions(schema_editor):
    return schema_editor.connection.database["django_session"]


def expire_in_the_database(apps, schema_editor):
    sessions = _sessions(schema_editor)
    for name, index in sessions.index_information().items():
        # MongoDB refuses a second index on the same key with other options: drop Django's.
        if index["key"] == [("expire_date", 1)] and name != TTL_INDEX:
            sessions.drop_index(name)
    sessions.create_index("expire_date", name=TTL_INDEX, expireAfterSeconds=0)


def expire_with_clearsessions(apps, schema_editor):
    sessions = _sessions(schema_editor)
    sessions.drop_index(TTL_INDEX)
    sessions.create_index("expire_date")


class Migration(migrations.Migration):
    dependencies = [("sessions", "0001_initial")]

    operations = [migrations.RunPython(expire_in_the_database, expire_with_clearsessions)]
