"""Recordings at rest: downloading is a permission of its own, players can seek, a recording
whose writer died is repaired, and retention deletes old ones."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import itertools
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import av
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import Client
from pymongo import ReplaceOne, monitoring
from pymongo.errors import DuplicateKeyError, PyMongoError

from postcall import store
from postcall.recording import FLUSH_INTERVAL_S, CallRecorder, flush_phase
from support import mongo
from voiceproject.tests.asgi_client import served

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


@dataclass(frozen=True)
class Served:
    status: int
    headers: dict[str, str]
    parts: list[bytes]  # the body as it was sent, piece by piece

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)


def body_of(response: Any) -> bytes:
    """A streaming response's body, read now (it streams from an asynchronous iterator)."""

    async def read() -> bytes:
        return b"".join([part async for part in response.streaming_content])

    return async_to_sync(read)()


def fetch(client: Client, path: str, **headers: str) -> Served:
    """GET `path` through Django's ASGI handler, as daphne serves it to a player."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sent = async_to_sync(served)(client, path, headers=headers)
    # Handed a synchronous iterator, Django under ASGI reads the whole recording into memory
    # before it sends a byte, and says so in this warning.
    assert [str(w.message) for w in caught if "must consume" in str(w.message)] == []
    start, body = sent[0], sent[1:]
    return Served(
        start["status"],
        {name.decode(): value.decode() for name, value in start["headers"]},
        [part["body"] for part in body if part.get("body")],
    )


def test_downloading_needs_its_own_permission(transactional_db: Any) -> None:
    write("CALL-1")
    assert staff(can_download=False).get(URL).status_code == 403


def test_a_colleague_refused_a_recording_is_told_what_they_lack_and_who_can_give_it(
    transactional_db: Any,
) -> None:
    """A lead sends an agent a recording's link: the agent gets a page in words, not a bare
    "403 Forbidden"."""
    write("CALL-1")
    refused = staff(can_download=False).get(URL)

    body = refused.content.decode()
    assert refused.status_code == 403 and refused["Content-Type"].startswith("text/html")
    assert "You cannot open this page" in body
    assert "the permission “Can download and play call recordings”" in body
    assert "A support lead can give it to you" in body
    assert "postcall.download_recording" not in body


def test_the_recording_streams_whole_and_by_byte_range(transactional_db: Any) -> None:
    write("CALL-1")
    client = staff(can_download=True)
    whole = fetch(client, URL)
    assert whole.status == 200 and whole.headers["Content-Type"] == "audio/ogg; codecs=opus"
    assert whole.body == AUDIO and len(whole.parts) == 2  # a chunk at a time, as read
    part = fetch(client, URL, Range="bytes=16380-16390")
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 16380-16390/{len(AUDIO)}"
    assert part.body == AUDIO[16380:16391]
    assert client.get(URL, headers={"Range": "bytes=999999-"}).status_code == 416
    assert client.get("/staff/calls/CALL-2/recording.ogg").status_code == 404


def test_head_on_a_recording_answers_as_get_does_without_the_audio(
    transactional_db: Any,
) -> None:
    """A player or download manager asks HEAD for the length (and whether it can seek)
    before it fetches: the same answer as GET, byte ranges and permissions included."""
    write("CALL-1")
    client = staff(can_download=True)

    whole = client.head(URL)
    part = client.head(URL, headers={"Range": "bytes=16380-16390"})

    assert whole.status_code == 200 and not whole.streaming and whole.content == b""
    assert whole["Content-Length"] == str(len(AUDIO)) and whole["Accept-Ranges"] == "bytes"
    assert whole["Content-Type"] == "audio/ogg; codecs=opus"
    assert whole["Content-Disposition"] == 'inline; filename="CALL-1.ogg"'
    assert part.status_code == 206 and not part.streaming
    assert part["Content-Range"] == f"bytes 16380-16390/{len(AUDIO)}"
    assert part["Content-Length"] == "11"
    assert client.head(URL, headers={"Range": "bytes=999999-"}).status_code == 416
    assert client.head("/staff/calls/CALL-2/recording.ogg").status_code == 404
    assert staff_without_download().head(URL).status_code == 403


def staff_without_download() -> Client:
    user = User.objects.create_user("ravi", "ravi@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_call"))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("asked", "status", "answered"),
    [
        ("bytes=" + "9" * 5000 + "-", 416, f"bytes */{len(AUDIO)}"),  # past the end
        ("bytes=-" + "9" * 5000, 206, f"bytes 0-{len(AUDIO) - 1}/{len(AUDIO)}"),  # the whole
        ("bytes=10-" + "9" * 5000, 206, f"bytes 10-{len(AUDIO) - 1}/{len(AUDIO)}"),
        ("bytes=" + "0" * 5000 + "7-8", 206, f"bytes 7-8/{len(AUDIO)}"),
        ("bytes=\u0663-", 200, None),  # not HTTP's digits: no range, the whole recording
        ("bytes=5-3", 200, None),  # its last byte before its first: no range (RFC 9110 14.1.1)
        ("Bytes=7-8", 206, f"bytes 7-8/{len(AUDIO)}"),  # its unit read regardless of case (14.1)
    ],
)
def test_a_byte_range_of_any_length_is_answered_not_a_server_error(
    transactional_db: Any, asked: str, status: int, answered: str | None
) -> None:
    write("CALL-1")

    response = staff(can_download=True).get(URL, headers={"Range": asked})

    assert (response.status_code, response.get("Content-Range")) == (status, answered)


def test_a_chunk_lost_from_the_database_plays_as_silence_and_the_rest_still_plays(
    transactional_db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Without it, the response ended short of its Content-Length (players stall or give up
    on the whole recording). Ogg readers find their place again after the silence."""
    data = bytes(range(256)) * 200  # 51,200 bytes: chunks 0 to 3
    writer = write("CALL-1", data)
    mongo.sync_db()["recordings.chunks"].delete_one({"files_id": writer.file_id, "n": 1})
    client = staff(can_download=True)

    whole = fetch(client, URL)
    around = fetch(client, URL, Range="bytes=16000-33000")
    tail = fetch(client, URL, Range="bytes=20000-")

    hole = bytes(store.CHUNK_SIZE)
    assert whole.status == 200 and whole.headers["Content-Length"] == str(len(data))
    assert whole.body == data[:16384] + hole + data[32768:]
    assert around.body == data[16000:16384] + hole + data[32768:33001]
    assert tail.body == hole[20000 - 16384:] + data[32768:]
    assert "chunk 1 is missing" in caplog.text


async def test_a_call_over_at_once_still_has_a_recording_a_player_can_open(
    transactional_db: Any,
) -> None:
    """A call hung up within its first 20 ms had a recording of no bytes at all: no Ogg
    headers, which players report as an error rather than as an empty recording."""
    clock = [100.0]
    recorder = CallRecorder("CALL-1", t0=clock[0], clock=lambda: clock[0], channel="web")
    await recorder.open()
    await recorder.close(clock[0])
    await mongo.close_async_client()

    grid = await asyncio.to_thread(store.open_recording, "CALL-1")
    assert grid is not None
    with av.open(io.BytesIO(grid.read()), "r") as container:
        samples = sum(int(frame.samples) for frame in container.decode(audio=0))
    assert samples <= 0.02 * 48_000  # at most one 20 ms frame, of silence
    [part] = await asyncio.to_thread(store.recording_parts, "CALL-1")
    assert await asyncio.to_thread(part.seconds) <= 0.02  # the call page: nothing recorded


async def test_a_recording_says_how_much_audio_it_holds(transactional_db: Any) -> None:
    clock = [100.0]
    recorder = CallRecorder("CALL-1", t0=clock[0], clock=lambda: clock[0], channel="web")
    await recorder.open()
    recorder.customer(b"\x10\x00" * 16_000 * 3, at=clock[0] + 3.0)  # three seconds of her
    clock[0] += 3.0
    await recorder.close(clock[0])
    await mongo.close_async_client()

    [part] = await asyncio.to_thread(store.recording_parts, "CALL-1")

    assert await asyncio.to_thread(part.seconds) == pytest.approx(3.0, abs=0.03)
    assert part.complete and not part.cut_short


async def test_a_recording_read_while_its_writer_was_held_up_is_not_said_to_end_early(
    transactional_db: Any,
) -> None:
    """The database away for longer than STALE_AFTER mid-call: a member of staff opening the
    call meanwhile finds the recording unwritten for that long, taken for one whose writer
    died, and repaired as cut short. The writer goes on once the database is back: the
    recording it finishes is whole, and says so."""
    writer = store.RecordingWriter("CALL-1", channel="web")
    await writer.open()
    await writer.append(AUDIO[:10_000])
    held_up = dt.datetime.now(dt.UTC) - store.STALE_AFTER * 2
    await mongo.async_db()["recordings.files"].update_one(
        {"_id": writer.file_id}, {"$set": {"metadata.updated_at": held_up}})  # fmt: skip
    [read_meanwhile] = await asyncio.to_thread(store.recording_parts, "CALL-1")

    await writer.append(AUDIO[10_000:], final=True)
    await mongo.close_async_client()
    [part] = await asyncio.to_thread(store.recording_parts, "CALL-1")

    assert read_meanwhile.cut_short  # as far as anyone could tell then
    assert part.complete and not part.cut_short
    assert part.length == len(AUDIO)


def test_a_call_recorded_in_parts_serves_each_part_oldest_first(transactional_db: Any) -> None:
    # The call moved to another process: each process recorded its own part.
    write("CALL-1", AUDIO)
    write("CALL-1", AUDIO[:5000])
    client = staff(can_download=True)

    first, second = fetch(client, URL), fetch(client, "/staff/calls/CALL-1/recording-2.ogg")

    assert first.body == AUDIO
    assert second.body == AUDIO[:5000]
    assert second.headers["Content-Disposition"] == 'inline; filename="CALL-1-part2.ogg"'
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


def test_a_recording_plays_while_its_call_goes_on(transactional_db: Any) -> None:
    writer = store.RecordingWriter("CALL-1", channel="web")

    async def written(data: bytes, *, first: bool = False) -> None:
        if first:
            await writer.open()
        await writer.append(data)  # every half second: the last chunk is rewritten longer
        await mongo.close_async_client()

    async_to_sync(written)(AUDIO[:10_000], first=True)
    client = staff(can_download=True)

    playing = client.get(URL)
    async_to_sync(written)(AUDIO[10_000:15_000])  # while the player is still downloading

    assert playing.status_code == 200 and playing["Content-Length"] == "10000"
    assert body_of(playing) == AUDIO[:10_000]
    seeking = client.get(URL, headers={"Range": "bytes=9000-"})
    async_to_sync(written)(AUDIO[15_000:20_000])
    assert seeking.status_code == 206 and seeking["Content-Range"] == "bytes 9000-14999/15000"
    assert body_of(seeking) == AUDIO[9000:15_000]


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


def test_retention_deletes_a_call_recorded_in_parts_all_together_by_the_calls_start(
    transactional_db: Any, settings: Any
) -> None:
    """The call moved to another process 10 minutes in: its second part began after the
    cutoff, its first before. Deleting the first alone would leave the second served as the
    whole recording (part 1), the turns of the first part pointing into the wrong audio."""
    settings.RECORDING_RETENTION_DAYS = 30
    first, second = write("CALL-MOVED"), write("CALL-MOVED", AUDIO[:5000])
    kept = write("CALL-RECENT")
    started = dt.datetime.now(dt.UTC) - dt.timedelta(days=30, minutes=5)
    files = mongo.sync_db()["recordings.files"]
    for part, begun in ((first, started), (second, started + dt.timedelta(minutes=10))):
        files.update_one({"_id": part.file_id},
                         {"$set": {"uploadDate": begun, "metadata.started_at": begun}})
    mongo.sync_db().calls.insert_one({"call_id": "CALL-MOVED", "started_at": started,
                                      "ended_at": started + dt.timedelta(minutes=15)})

    out = io.StringIO()
    call_command("delete_old_recordings", stdout=out)

    assert store.find_recordings("CALL-MOVED") == []
    assert mongo.sync_db()["recordings.chunks"].count_documents(
        {"files_id": {"$in": [first.file_id, second.file_id]}}) == 0
    assert out.getvalue().startswith("Deleted 2 recording(s)")
    assert [f["_id"] for f in store.find_recordings("CALL-RECENT")] == [kept.file_id]


def test_retention_keeps_the_recording_of_a_call_still_in_progress(
    transactional_db: Any,
) -> None:
    write("CALL-ENDED")
    writing = write("CALL-ON", final=False)
    mongo.sync_db().calls.insert_many([
        {"call_id": "CALL-ENDED", "ended_at": dt.datetime.now(dt.UTC)},
        {"call_id": "CALL-ON", "ended_at": None},
    ])  # fmt: skip

    call_command("delete_old_recordings", days=0)  # everything up to now

    assert store.find_recordings("CALL-ENDED") == []
    assert [f["_id"] for f in store.find_recordings("CALL-ON")] == [writing.file_id]


def test_retention_keeps_a_recording_still_being_written_whatever_its_call_record_says(
    transactional_db: Any,
) -> None:
    """A call's record is closed before its recording's last write (postcall/observer.py),
    and a part may have no record to go by: deleted then, the writer's last chunks were left
    with no file naming them, which no later run finds."""
    ending = write("CALL-ENDING", final=False)
    unrecorded = write("CALL-NO-RECORD", final=False)
    ended = dt.datetime.now(dt.UTC)
    mongo.sync_db().calls.insert_one({"call_id": "CALL-ENDING", "ended_at": ended})

    call_command("delete_old_recordings", days=0, stdout=io.StringIO())
    kept = [f["_id"] for call_id in ("CALL-ENDING", "CALL-NO-RECORD")
            for f in store.find_recordings(call_id)]  # fmt: skip

    async def finished() -> None:
        for writer in (ending, unrecorded):
            await writer.append(b"the last words", final=True)
        await mongo.close_async_client()

    async_to_sync(finished)()
    call_command("delete_old_recordings", days=0, stdout=io.StringIO())

    assert kept == [ending.file_id, unrecorded.file_id]
    assert mongo.sync_db()["recordings.files"].count_documents({}) == 0
    assert mongo.sync_db()["recordings.chunks"].count_documents({}) == 0


@pytest.mark.parametrize("days, setting, error", [
    (-1, 30, "--days must be from 0 to 36500, not -1."),
    (10**11, 30, "--days must be from 0 to 36500, not 100000000000."),
    (None, -5, "RECORDING_RETENTION_DAYS must be from 0 to 36500, not -5."),
])  # fmt: skip
def test_retention_out_of_range_is_refused_naming_where_it_came_from(
    days: int | None, setting: int, error: str, transactional_db: Any, settings: Any
) -> None:
    settings.RECORDING_RETENTION_DAYS = setting
    kept = write("CALL-OLD")

    with pytest.raises(CommandError) as refused:
        call_command("delete_old_recordings", days=days)

    assert str(refused.value) == error
    assert [f["_id"] for f in store.find_recordings("CALL-OLD")] == [kept.file_id]


@pytest.mark.parametrize("seconds", ["2147484", "10000000000"])
def test_a_retention_timeout_past_what_the_database_takes_is_refused_in_one_line(
    seconds: str, transactional_db: Any
) -> None:
    """The bound goes to the database as maxTimeMS, which takes 24.8 days at most: a longer
    one was "The database refused the operation", and one past the clock's range a traceback
    (OverflowError)."""
    kept = write("CALL-OLD")

    with pytest.raises(CommandError) as refused:
        call_command("delete_old_recordings", "--days", "0", "--timeout", seconds)

    assert str(refused.value) == (
        f"--timeout must be a number of seconds above 0 and at most 604800 (a week), not {seconds}."
    )
    assert [f["_id"] for f in store.find_recordings("CALL-OLD")] == [kept.file_id]


def test_retention_run_twice_at_once_deletes_each_recording_once_without_an_error(
    transactional_db: Any,
) -> None:
    """Two housekeeping runs overlap (a second container's cron, or one by hand): the
    second found recordings the first had deleted meanwhile and failed, saying "The database
    refused the operation"."""
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    db = mongo.sync_db()
    db["recordings.files"].insert_many([
        {"_id": n, "filename": f"CALL-{n}.ogg", "length": 10, "chunkSize": store.CHUNK_SIZE,
         "uploadDate": old, "metadata": {"call_id": f"CALL-{n}", "complete": True}}
        for n in range(300)
    ])  # fmt: skip
    db["recordings.chunks"].insert_many([{"files_id": n, "n": 0, "data": b"0123456789"}
                                         for n in range(300)])  # fmt: skip
    failures: list[str] = []
    said: list[str] = []

    def run() -> None:
        out = io.StringIO()
        try:
            call_command("delete_old_recordings", stdout=out)
        except CommandError as error:
            failures.append(str(error))
        said.append(out.getvalue())

    runs = [threading.Thread(target=run) for _ in range(2)]
    for each in runs:
        each.start()
    for each in runs:
        each.join()

    assert failures == []
    assert sum(int(line.split()[1]) for line in said) == 300  # "Deleted N recording(s) ..."
    assert db["recordings.files"].count_documents({}) == 0
    assert db["recordings.chunks"].count_documents({}) == 0


def test_a_recording_whose_deletion_was_cut_short_is_deleted_by_the_next_run(
    transactional_db: Any,
) -> None:
    """Its chunks go first, then its file: a run killed between the two leaves the file,
    which the next run finds (never chunks no file names, which no run would find)."""
    cut_short = write("CALL-OLD")
    files, chunks = mongo.sync_db()["recordings.files"], mongo.sync_db()["recordings.chunks"]
    files.update_one({"_id": cut_short.file_id}, {"$set": {"uploadDate": dt.datetime(2020, 1, 1,
                                                                                      tzinfo=dt.UTC)}})
    chunks.delete_many({"files_id": cut_short.file_id})

    out = io.StringIO()
    call_command("delete_old_recordings", stdout=out)

    assert out.getvalue().startswith("Deleted 1 recording(s)")
    assert store.find_recordings("CALL-OLD") == []


def test_retention_with_the_database_down_says_so_in_one_line(database_down: None) -> None:
    with pytest.raises(CommandError, match=r"^The database could not be reached \(127\.0\.0\.1:"):
        call_command("delete_old_recordings")


class ChunkWritesSeen(monitoring.CommandListener):
    """The commands that write recording chunks, as the driver sends them."""

    def __init__(self) -> None:
        self.writes: list[int] = []  # per command, how many chunk writes it carried

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "update" and event.command["update"] == "recordings.chunks":
            self.writes.append(len(event.command["updates"]))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def chunk_writes_seen(transactional_db: Any) -> Iterator[ChunkWritesSeen]:
    seen = ChunkWritesSeen()
    options = connections["default"].settings_dict.setdefault("OPTIONS", {})
    options["event_listeners"] = [seen]
    mongo.forget_clients()  # the next async client is made with the listener
    yield seen
    del options["event_listeners"]
    mongo.forget_clients()


async def test_recordings_written_at_the_same_moment_go_to_the_database_together(
    chunk_writes_seen: ChunkWritesSeen,
) -> None:
    writers = [store.RecordingWriter(f"CALL-{n}", channel="web") for n in range(5)]
    for writer in writers:
        await writer.open()

    await asyncio.gather(*(writer.append(AUDIO, final=True) for writer in writers))
    await mongo.close_async_client()

    assert chunk_writes_seen.writes == [10]  # five recordings, two chunks each, one command
    for n in range(5):
        grid = await asyncio.to_thread(store.open_recording, f"CALL-{n}")
        assert grid is not None and grid.read() == AUDIO


async def test_a_recording_whose_write_fails_fails_alone(transactional_db: Any) -> None:
    good = store.RecordingWriter("CALL-GOOD", channel="web")
    await good.open()
    chunks = mongo.async_db()["recordings.chunks"]
    await chunks.insert_one({"files_id": "OTHER", "n": 0, "data": b"taken"})
    # Another recording's write that the database refuses: chunk 0 of OTHER exists already.
    clash = ReplaceOne({"files_id": "OTHER", "n": 1},
                       {"files_id": "OTHER", "n": 0, "data": b"again"}, upsert=True)  # fmt: skip

    written, refused = await asyncio.gather(
        good.append(AUDIO, final=True), store.chunk_writes().write([clash]),
        return_exceptions=True,
    )  # fmt: skip
    await mongo.close_async_client()

    assert written is None
    assert isinstance(refused, PyMongoError)
    grid = await asyncio.to_thread(store.open_recording, "CALL-GOOD")
    assert grid is not None and grid.read() == AUDIO


async def test_a_recording_flushes_at_its_phase_however_long_its_writes_take(
    transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writes of a process's recordings end together: a recording counting its next flush
    from its write's end would fall in step with the others again (postcall.recording)."""
    loop = asyncio.get_running_loop()
    flushed_at: list[float] = []
    write_takes = iter([0.25, 0.2, 0.25])  # as long as a busy database keeps them
    append = store.RecordingWriter.append

    async def slow_append(self: store.RecordingWriter, data: bytes, *, final: bool = False) -> None:
        flushed_at.append(loop.time())
        await asyncio.sleep(next(write_takes, 0.0))
        await append(self, data, final=final)

    monkeypatch.setattr(store.RecordingWriter, "append", slow_append)
    recorder = CallRecorder("CALL-1", t0=loop.time(), clock=loop.time, channel="web")
    await recorder.open()
    while len(flushed_at) < 4:
        await asyncio.sleep(0.05)
    await recorder.close(loop.time())
    await mongo.close_async_client()

    phase = flush_phase("CALL-1")
    for moment in flushed_at[:4]:
        off = (moment - phase) % FLUSH_INTERVAL_S
        assert min(off, FLUSH_INTERVAL_S - off) < 0.15  # at its phase, give or take a busy loop
    gaps = [b - a for a, b in itertools.pairwise(flushed_at[:4])]
    assert gaps == [pytest.approx(FLUSH_INTERVAL_S, abs=0.15)] * 3  # not 0.5 s plus the write
