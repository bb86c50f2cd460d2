"""The commands cron runs (and the importer) against a database that stops answering: each
fails within its bound (exit 1, saying so) instead of hanging until the database comes back,
perhaps never, with the next day's run waiting behind it (support/management).

The suite's own embedded database is frozen with SIGSTOP, as test_page_db_timeout.py does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from types import ModuleType
from typing import Any

import pymongo
import pytest
from django.core.management import CommandError, call_command
from pymongo.errors import PyMongoError

from postcall import store
from postcall.management.commands import delete_old_recordings, summarize_calls
from postcall.tests.test_recordings import write as write_recording
from realtime.tests.test_database_freeze import freeze
from support import management, mongo
from support.management.commands import load_support_data
from support.tests.test_load_support_data import documents, dosa_order, meena, write

BOUND_S = 1.0
# The database comes back by itself after this long: a command still waiting then has no bound.
RESUMED_AFTER_S = 24.0  # far past the bounds below, so they can be generous on a loaded CI


@pytest.fixture
def database_pid(monkeypatch: pytest.MonkeyPatch) -> int:
    """The suite's embedded database (conftest.py); a real MongoDB is not ours to freeze."""
    embedded = getattr(sys.modules.get("conftest"), "_embedded", None)
    if embedded is None or embedded.process is None:
        pytest.skip("runs against the embedded database only")
    monkeypatch.setattr(management, "STEP_TIMEOUT_S", BOUND_S, raising=False)
    return int(embedded.process.pid)


@contextmanager
def resumed_at_the_end(pid: int) -> Iterator[None]:
    """The database resumed when the block ends (and after RESUMED_AFTER_S at the latest)."""
    resume = threading.Timer(RESUMED_AFTER_S, os.kill, (pid, signal.SIGCONT))
    resume.start()
    try:
        yield
    finally:
        resume.cancel()
        os.kill(pid, signal.SIGCONT)
        answering_again()


def answering_again(within_s: float = 30.0) -> None:
    """Wait for the client to find the database again (its monitor may have given it up)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            with pymongo.timeout(2.0):
                mongo.sync_db().command("ping")
            return
        except PyMongoError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def refused(pid: int, monkeypatch: pytest.MonkeyPatch, frozen_before: tuple[ModuleType, str],
            *args: str) -> tuple[str, float]:
    """The command's error with the database frozen half-way, just before the command calls
    `frozen_before` (module, name), and how long the command waited before giving up."""
    module, name = frozen_before
    step = getattr(module, name)
    frozen_at: list[float] = []

    def frozen_then_step(*step_args: Any, **step_kwargs: Any) -> Any:
        asyncio.run(freeze(pid))
        frozen_at.append(time.monotonic())
        return step(*step_args, **step_kwargs)

    monkeypatch.setattr(module, name, frozen_then_step)
    with resumed_at_the_end(pid), pytest.raises(CommandError) as error:
        call_command(*args, stdout=StringIO())
    return str(error.value), time.monotonic() - frozen_at[0]


def test_the_import_stops_when_the_database_stops_answering_and_a_rerun_loads_it(
    transactional_db: Any, tmp_path: Path, database_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, {"customers": [meena()], "orders": [dosa_order()]})

    # Frozen once the file was checked against the database, before anything is written.
    error, waited = refused(database_pid, monkeypatch,
                            (load_support_data, "parse_support_data"),
                            "load_support_data", str(path))  # fmt: skip

    assert error.startswith("The database did not answer in time (")
    assert waited < RESUMED_AFTER_S / 3
    monkeypatch.undo()
    call_command("load_support_data", str(path), stdout=StringIO())
    assert [c["user_id"] for c in documents("customers")] == [301]
    assert [o["order_id"] for o in documents("orders")] == ["ORD-3001"]


def test_the_import_says_at_once_that_a_frozen_database_does_not_answer(
    transactional_db: Any, tmp_path: Path, database_pid: int
) -> None:
    path = write(tmp_path, {"customers": [meena()]})
    asyncio.run(freeze(database_pid))
    started = time.monotonic()

    with resumed_at_the_end(database_pid), pytest.raises(CommandError) as error:
        call_command("load_support_data", str(path), stdout=StringIO())

    # Frozen before the first answer, it looks to the driver like no database at all.
    assert str(error.value).startswith(("The database did not answer in time (",
                                        "The database could not be reached ("))
    assert time.monotonic() - started < RESUMED_AFTER_S * 2 / 3  # the 5 s of server selection


def test_retention_stops_within_its_timeout_and_the_next_run_deletes_the_rest(
    transactional_db: Any, database_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = write_recording("CALL-OLD")
    forty_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    mongo.sync_db()["recordings.files"].update_one({"_id": old.file_id},
                                                   {"$set": {"uploadDate": forty_days_ago}})

    monkeypatch.setattr(delete_old_recordings, "RUN_TIMEOUT_S", 1, raising=False)  # --timeout

    error, waited = refused(database_pid, monkeypatch, (store, "delete_older_than"),
                            "delete_old_recordings")  # fmt: skip

    assert error.startswith("The database did not answer in time (")
    assert waited < RESUMED_AFTER_S / 3
    monkeypatch.undo()
    call_command("delete_old_recordings", stdout=StringIO())
    assert store.find_recordings("CALL-OLD") == []


def test_retention_stops_within_a_step_long_before_its_run_timeout(
    transactional_db: Any, database_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its --timeout (an hour by default) bounds the whole run; each step is bound as every
    command's is, so a database that stops answering is said within STEP_TIMEOUT_S."""
    old = write_recording("CALL-OLD")
    forty_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    mongo.sync_db()["recordings.files"].update_one({"_id": old.file_id},
                                                   {"$set": {"uploadDate": forty_days_ago}})
    finding = mongo.find_in

    def frozen_after_the_first_query(*args: Any, **kwargs: Any) -> Any:
        asyncio.run(freeze(database_pid))
        frozen_at.append(time.monotonic())
        return finding(*args, **kwargs)

    frozen_at: list[float] = []
    monkeypatch.setattr(mongo, "find_in", frozen_after_the_first_query)
    with resumed_at_the_end(database_pid), pytest.raises(CommandError) as error:
        call_command("delete_old_recordings", stdout=StringIO())

    assert str(error.value).startswith("The database did not answer in time (")
    assert time.monotonic() - frozen_at[0] < RESUMED_AFTER_S / 3
    monkeypatch.undo()
    call_command("delete_old_recordings", stdout=StringIO())
    assert store.find_recordings("CALL-OLD") == []


def test_summarising_missing_calls_stops_when_the_database_stops_answering(
    transactional_db: Any, database_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    error, waited = refused(database_pid, monkeypatch, (summarize_calls, "missing"),
                            "summarize_calls", "--missing", "--days", "2")  # fmt: skip

    assert error.startswith("The database did not answer in time (")
    assert waited < RESUMED_AFTER_S / 3


def test_a_retention_timeout_of_no_time_is_refused(transactional_db: Any) -> None:
    with pytest.raises(CommandError, match="--timeout must be a number of seconds above 0"):
        call_command("delete_old_recordings", "--timeout", "0", stdout=StringIO())
