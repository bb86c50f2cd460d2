"""GridFS's own indexes on the recordings bucket (postcall/store.py writes its layout itself,
so no driver ever created them): a recording's chunks by (files_id, n), which every write of
a chunk and every read looks up, and which kept each write scanning every chunk of every
recording; a call's recording by call id, newest first; and the upload date retention
deletes by."""

from typing import Any

from django.db import migrations


def create_indexes(apps: object, schema_editor: Any) -> None:
    database = schema_editor.connection.database
    database["recordings.chunks"].create_index(
        [("files_id", 1), ("n", 1)], unique=True, name="recordings_chunks_files_id_n"
    )
    files = database["recordings.files"]
    files.create_index([("filename", 1), ("uploadDate", 1)], name="recordings_files_filename")
    files.create_index(
        [("metadata.call_id", 1), ("uploadDate", -1)], name="recordings_files_call_id"
    )
    files.create_index([("uploadDate", 1)], name="recordings_files_upload_date")


def drop_indexes(apps: object, schema_editor: Any) -> None:
    database = schema_editor.connection.database
    database["recordings.chunks"].drop_index("recordings_chunks_files_id_n")
    for name in ("recordings_files_filename", "recordings_files_call_id",
                 "recordings_files_upload_date"):  # fmt: skip
        database["recordings.files"].drop_index(name)


class Migration(migrations.Migration):
    dependencies = [("postcall", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
