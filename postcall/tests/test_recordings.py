"""Recordings at rest: downloading is a permission of its own, players can seek, a recording
whose writer died is repaired, and retention deletes old ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client
from pymongo.errors import DuplicateKeyError

from postcall import store
from support import mongo

pytestmark = pytest.mark.django_db(transaction=True)

AUDIO = bytes(range(256)) * 100  # 25,600 bytes: one full chunk and a partial one


async def _write(call_id: str, data: bytes, final: bool) -> store.RecordingWriter:
    writer = store.RecordingWriter(call_id, channel="web")
    await writer.open()
    await writer.append(data[:10_000])
    await writer.append(data[10_000:], final=final)
    await mongo.close_async_client()
    return writer


def write(call_id: str, data: bytes = AUDIO, *, final: bool = True) -> store.RecordingWriter:
    return async_to_sync(_write)(call_id, data, final)


def staff(*, can_download: bool) -> Client:
    user = User.objects.create_user("meera", "meera@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_call"))
    if can_download:
        user.user_permissions.add(Permission.objects.get(codename="download_recording"))
    client = Client()
    client.force_login(user)
    return client


URL = "/staff/calls/CALL-1/recording.ogg"


def test_downloading_needs_its_own_permission(transactional_db: Any) -> None:
    write("CALL-1")
    assert staff(can_download=False).get(URL).status_code == 403


def test_the_recording_streams_whole_and_by_byte_range(transactional_db: Any) -> None:
    write("CALL-1")
    client = staff(can_download=True)
    whole = client.get(URL)
    assert whole.status_code == 200 and whole["Content-Type"] == "audio/ogg; codecs=opus"
    assert b"".join(whole.streaming_content) == AUDIO  # type: ignore[attr-defined]
    part = client.get(URL, headers={"Range": "bytes=16380-16390"})
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 16380-16390/{len(AUDIO)}"
    assert b"".join(part.streaming_content) == AUDIO[16380:16391]  # type: ignore[attr-defined]
    assert client.get(URL, headers={"Range": "bytes=999999-"}).status_code == 416
    assert client.get("/staff/calls/CALL-2/recording.ogg").status_code == 404


def test_a_call_recorded_in_parts_serves_each_part_oldest_first(transactional_db: Any) -> None:
    # The call moved to another process: each process recorded its own part.
    write("CALL-1", AUDIO)
    write("CALL-1", AUDIO[:5000])
    client = staff(can_download=True)

    first, second = client.get(URL), client.get("/staff/calls/CALL-1/recording-2.ogg")

    assert b"".join(first.streaming_content) == AUDIO  # type: ignore[attr-defined]
    assert b"".join(second.streaming_content) == AUDIO[:5000]  # type: ignore[attr-defined]
    assert second["Content-Disposition"] == 'inline; filename="CALL-1-part2.ogg"'
    assert client.get("/staff/calls/CALL-1/recording-3.ogg").status_code == 404
    assert client.get("/staff/calls/CALL-1/recording-0.ogg").status_code == 404


def test_a_recording_still_being_written_reads_as_far_as_its_chunks_go(
    transactional_db: Any,
) -> None:
    # The writer brings the files document up to date only every FILES_EVERY_S.
    writer = write("CALL-1", final=False)
    files = mongo.sync_db()["recordings.files"]
    assert files.find_one({"_id": writer.file_id})["length"] == 0  # type: ignore[index]

    grid = store.open_recording("CALL-1")

    assert grid is not None and grid.read() == AUDIO
    assert files.find_one({"_id": writer.file_id})["metadata"]["complete"] is False  # type: ignore[index]


def test_a_recording_whose_writer_died_is_repaired_when_read(transactional_db: Any) -> None:
    writer = write("CALL-1", final=False)
    files = mongo.sync_db()["recordings.files"]
    # The writer died between writing a chunk and the length: the chunk is ahead.
    files.update_one(
        {"_id": writer.file_id},
        {"$set": {"length": 10_000,
                  "metadata.updated_at": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)}},
    )  # fmt: skip
    grid = store.open_recording("CALL-1")
    assert grid is not None and grid.read() == AUDIO
    assert files.find_one({"_id": writer.file_id})["metadata"]["complete"] is True  # type: ignore[index]


def test_a_chunk_is_found_by_its_index_and_cannot_be_written_twice(
    transactional_db: Any,
) -> None:
    chunks = mongo.sync_db()["recordings.chunks"]
    chunks.insert_one({"files_id": 1, "n": 0, "data": b"first"})
    with pytest.raises(DuplicateKeyError):
        chunks.insert_one({"files_id": 1, "n": 0, "data": b"again"})

    plan = chunks.find({"files_id": 1, "n": 0}).explain()

    assert "recordings_chunks_files_id_n" in str(plan["queryPlanner"]["winningPlan"])


def test_retention_deletes_recordings_older_than_the_setting(
    transactional_db: Any, settings: Any
) -> None:
    settings.RECORDING_RETENTION_DAYS = 30
    old = write("CALL-OLD")
    write("CALL-NEW")
    mongo.sync_db()["recordings.files"].update_one(
        {"_id": old.file_id},
        {"$set": {"uploadDate": dt.datetime.now(dt.UTC) - dt.timedelta(days=31)}},
    )
    call_command("delete_old_recordings")
    assert store.find_recordings("CALL-OLD") == []
    assert mongo.sync_db()["recordings.chunks"].count_documents({"files_id": old.file_id}) == 0
    assert len(store.find_recordings("CALL-NEW")) == 1
