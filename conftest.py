"""Test-suite wiring: one throwaway SecantusDB per run, reached over the wire like MongoDB,
and (for the tests that ask for it) one throwaway Redis, Debian's redis-server.

Set TEST_MONGODB_URI to run the suite against a real MongoDB (a replica set, for the
transactions the refund tool uses) instead.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from voiceproject.embedded_db import EmbeddedMongo
from voiceproject.redis_server import LocalRedis

if TYPE_CHECKING:
    from voiceproject.tests.live_server import DaphneServer, WorkersCommand

_embedded: EmbeddedMongo | None = None
_tmpdir: tempfile.TemporaryDirectory[str] | None = None


def _only_hands_out_tests(config: pytest.Config) -> bool:
    """pytest-xdist's controller (`make test` runs `pytest -n <cores + 1>`): its worker
    processes run the tests, each with a database and a Redis of its own."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(
        config, "workerinput"
    )


def pytest_configure(config: pytest.Config) -> None:
    global _embedded, _tmpdir
    from django.conf import settings

    if _only_hands_out_tests(config):
        return
    uri = os.environ.get("TEST_MONGODB_URI")
    if not uri:
        _tmpdir = tempfile.TemporaryDirectory(prefix="voice-support-test-db-")
        _embedded = EmbeddedMongo(Path(_tmpdir.name) / "data")
        uri = _embedded.start()
    # Nothing has connected yet: Django's connection reads this dict when it first connects.
    settings.DATABASES["default"]["HOST"] = uri
    settings.MONGODB_URI = uri
    # A key of this run's own, not one written in the repository: a deployment that copied
    # that would pass for secure. The servers and commands the tests start inherit it.
    settings.SECRET_KEY = os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
    # Tests run with DEBUG off but without collectstatic: serve static files from the app
    # and project directories, unhashed.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.SERVESTATIC_USE_FINDERS = True


def pytest_unconfigure(config: pytest.Config) -> None:
    if _embedded is not None:
        _embedded.stop()
    if _tmpdir is not None:
        _tmpdir.cleanup()


@pytest.fixture(scope="session")
def _redis_process() -> Iterator[LocalRedis]:
    with (
        tempfile.TemporaryDirectory(prefix="voice-support-test-redis-") as tmp,
        LocalRedis(Path(tmp)) as server,
    ):
        yield server


@pytest.fixture
def redis_server(_redis_process: LocalRedis) -> LocalRedis:
    """A real Redis for this run (started on first use), emptied before each test.

    `redis_server.url(0)` for the channel layer, `redis_server.url(1)` for the cache.
    """
    _redis_process.flush()
    return _redis_process


@pytest.fixture
def daphne_workers(
    redis_server: LocalRedis, django_db_setup: None
) -> Iterator[Callable[..., list[DaphneServer]]]:
    """Start real daphne workers sharing the test database and `redis_server` (the channel
    layer and the cache), each on its own port, without a balancer; stopped after the test.

        a, b = daphne_workers(2, gemini_live_url=fake_live.url)

    Arguments after the count as for DaphneServer. The workers have this process's
    SECRET_KEY, so a session cookie or token minted here is good on them (as on any worker of
    one deployment). Starting blocks for a few seconds: from an async test, call it through
    `asyncio.to_thread`. The test needs `django_db(transaction=True)` for the workers to see
    its data.
    """
    from django.conf import settings

    from voiceproject.tests.live_server import DaphneServer

    started: list[DaphneServer] = []

    def start(
        count: int = 2,
        *,
        gemini_live_url: str = "",
        env: Mapping[str, str] | None = None,
        application: str = "voiceproject.asgi:application",
    ) -> list[DaphneServer]:
        shared = {
            "CHANNEL_LAYERS_URL": redis_server.url(0),
            "REDIS_URL": redis_server.url(1),
            "VOICE_WORKERS": str(count),
            "SECRET_KEY": settings.SECRET_KEY,
            **(env or {}),
        }
        servers = [
            DaphneServer(gemini_live_url=gemini_live_url, env=shared, application=application)
            for _ in range(count)
        ]
        started.extend(servers)
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(DaphneServer.start, servers))
        return servers

    yield start
    for server in started:
        server.__exit__(None, None, None)


@pytest.fixture
def workers_command(
    redis_server: LocalRedis, django_db_setup: None, tmp_path: Path
) -> Iterator[Callable[..., WorkersCommand]]:
    """Start `python -m voiceproject.workers` (the real HAProxy in front of daphne workers)
    sharing the test database and `redis_server`; stopped after the test.

        fleet = workers_command(workers=2, gemini_live_url=fake_live.url)
        fleet.url, fleet.worker_pids(), fleet.server_states(), fleet.send_signal(SIGHUP)

    Keyword arguments as for WorkersCommand (`redis=None` lets the command start its own).
    Same notes as `daphne_workers`: this process's SECRET_KEY, blocking start.
    """
    from django.conf import settings

    from voiceproject.tests.live_server import WorkersCommand

    started: list[WorkersCommand] = []

    def start(**options: Any) -> WorkersCommand:
        options.setdefault("redis", redis_server)
        options["env"] = {"SECRET_KEY": settings.SECRET_KEY, **options.get("env", {})}
        command = WorkersCommand(tmp_path / f"workers-{len(started)}", **options)
        started.append(command)
        return command.start()

    yield start
    for command in started:
        command.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # The cache is each test's own, as the database is: a dashboard's past days cached by one
    # test would otherwise stand in the next test's on other data, and login throttles count
    # in it.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _outside_any_call() -> Iterator[None]:
    # The call id of the log lines (postcall/logs.py) is a context variable: one that a test
    # set outside a task (a CallObserver made in a sync test) would name a call on the lines
    # of the tests after it in this process.
    from postcall import logs

    outside = logs.call_id.set(None)
    yield
    logs.call_id.reset(outside)


# How long a browser test's `expect` waits, unless its file says (EXPECT_TIMEOUT_MS): pages
# served by a separate server on a busy 2-core machine; a real failure still fails, only later.
EXPECT_TIMEOUT_MS = 15_000


@pytest.fixture(autouse=True)
def _browser_expect_timeout(request: pytest.FixtureRequest) -> None:
    # Playwright's `expect.set_options` is one setting for the whole process: set as a test
    # file was imported, it was the value of whichever file a run imported last (a full run
    # gave a take-over test 10 s where its file said 15). So it is set before each test.
    if request.node.get_closest_marker("browser") is None:
        return
    from playwright.async_api import expect

    expect.set_options(timeout=getattr(request.module, "EXPECT_TIMEOUT_MS", EXPECT_TIMEOUT_MS))


@pytest.fixture(autouse=True)
async def _close_async_mongo_client() -> AsyncIterator[None]:
    # Each test has its own event loop; its AsyncMongoClient must close on that loop, once
    # the calls still ending have written their records (else each waits out the driver's
    # 10 s server selection on the closed client).
    yield
    from realtime.call_session import ending_calls_finished
    from support import mongo

    await ending_calls_finished(timeout_s=5)
    await mongo.close_async_client()


# --- Fast per-test database reset -------------------------------------------------------------
# MongoDB cannot roll a test back, so Django falls back to `flush` after every test: it
# empties every collection and then re-runs post_migrate (content types, permissions), about
# 0.6 s a test on the embedded server. Instead, the state right after migrations (content
# types, permissions, staff groups, default refund tiers) is captured once and each test's
# database is put back to exactly that: collections that were empty are emptied, the others
# restored from the snapshot.

Snapshot = dict[str, list[dict[str, object]]]


def _take_snapshot(database: object) -> Snapshot:
    return {
        name: list(database[name].find())  # type: ignore[index]
        for name in database.list_collection_names()  # type: ignore[attr-defined]
    }


def _restore(database: object, snapshot: Snapshot) -> None:
    for name in database.list_collection_names():  # type: ignore[attr-defined]
        documents = snapshot.get(name, [])
        collection = database[name]  # type: ignore[index]
        if not documents:
            collection.delete_many({})
            continue
        if (
            collection.estimated_document_count() == len(documents)
            and list(collection.find()) == documents
        ):
            continue
        collection.delete_many({})
        collection.insert_many(documents)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: object) -> None:
    from django.db import connection
    from django.test.testcases import TransactionTestCase

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        snapshot = _take_snapshot(connection.database)

    def restore_snapshot(self: TransactionTestCase) -> None:
        _restore(connection.database, snapshot)

    TransactionTestCase._fixture_teardown = restore_snapshot  # type: ignore[method-assign]


@pytest.fixture
def unreachable_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point every MongoDB client at a port that refuses connections, for the test.

    A real driver, really failing to connect (loopback port 1), and failing fast.
    """
    from django.db import connection

    from support import mongo
    from support.tools import registry

    monkeypatch.setitem(
        connection.settings_dict, "HOST", "mongodb://127.0.0.1:1/?directConnection=true"
    )
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", {"serverSelectionTimeoutMS": 300})
    # A tool's own bound (pymongo.timeout) replaces the driver's server selection timeout,
    # so it is what a tool waits for an unreachable database.
    monkeypatch.setattr(registry, "TOOL_TIMEOUT_S", 0.5)
    mongo.forget_clients()
    yield
    mongo.forget_clients()


@pytest.fixture
def database_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The database out of reach for the management commands (nothing listens where the
    client looks; it gives up selecting a server after 0.2 s)."""
    from pymongo import MongoClient

    from support import mongo
    from voiceproject.embedded_db import free_port

    down: MongoClient[dict[str, Any]] = MongoClient(
        f"mongodb://127.0.0.1:{free_port()}/", serverSelectionTimeoutMS=200
    )
    monkeypatch.setattr(mongo, "sync_db", lambda: down["voice_support"])
    yield
    down.close()
