"""Servers started on a port found free: another process may take that port before the server
binds it (the suite's xdist workers all start servers at once). The server then starts on
another port, and never takes the other process's server for its own; a port an operator chose
is theirs, and taken it is an error that says so."""

from __future__ import annotations

import itertools
import os
import socket
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from voiceproject import embedded_db, workers
from voiceproject.embedded_db import EmbeddedMongo, free_port
from voiceproject.redis_server import LocalRedis, LocalRedisError
from voiceproject.tests.test_workers_command import ALWAYS_UP, NamedServer
from voiceproject.workers import Supervisor, WorkersError, parse_options


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process listens on (and never answers)."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def taken_first(port: int) -> Callable[[], int]:
    """A free_port() that hands out `port`, as if another process took the port it found
    between the look and the server's bind, then free ports."""
    ports = itertools.chain([port], iter(free_port, None))
    return lambda: next(ports)


# --- The embedded database --------------------------------------------------------------------


def test_the_database_starts_on_another_port_when_its_port_was_taken_meanwhile(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_db, "free_port", taken_first(taken_port))

    with EmbeddedMongo(tmp_path / "data") as database:
        assert database.port != taken_port
        assert database.process is not None and database.process.poll() is None


def test_the_database_never_takes_another_that_took_its_port_for_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EmbeddedMongo(tmp_path / "theirs") as theirs:
        monkeypatch.setattr(embedded_db, "free_port", taken_first(theirs.port))

        with EmbeddedMongo(tmp_path / "ours") as ours:
            assert ours.port != theirs.port
            assert ours.process is not None and ours.process.poll() is None


def test_the_database_says_so_when_every_port_it_was_given_was_taken(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_db, "free_port", lambda: taken_port)

    with pytest.raises(embedded_db.EmbeddedDatabaseError, match="other processes took each"):
        EmbeddedMongo(tmp_path / "data").start()


# --- Redis ------------------------------------------------------------------------------------


def test_redis_starts_on_another_port_when_its_port_was_taken_meanwhile(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_db, "free_port", taken_first(taken_port))

    with LocalRedis(tmp_path) as server:
        assert server.port != taken_port
        assert server.process is not None and server.process.poll() is None


def test_redis_never_takes_another_that_took_its_port_for_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalRedis(tmp_path / "theirs") as theirs:
        monkeypatch.setattr(embedded_db, "free_port", taken_first(theirs.port))

        with LocalRedis(tmp_path / "ours") as ours:
            assert ours.port != theirs.port
            with redis.Redis(port=ours.port) as client:
                assert client.info("server")["process_id"] == ours.process.pid  # type: ignore[union-attr]


def test_redis_told_its_port_says_when_another_process_holds_it(
    tmp_path: Path, taken_port: int
) -> None:
    # restart() comes back on the same port: its clients know no other.
    with pytest.raises(LocalRedisError, match=f"another process holds :{taken_port}"):
        LocalRedis(tmp_path).start(port=taken_port)


# --- The workers command ----------------------------------------------------------------------


async def test_a_worker_serves_its_own_port_though_another_server_took_the_one_found_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger = NamedServer("stranger")  # answers 200 to every GET, /healthz too
    # Whatever port the supervisor would find free, the stranger serves on it first.
    monkeypatch.setattr(embedded_db, "free_port", lambda: stranger.port)
    monkeypatch.setattr(workers, "free_port", lambda: stranger.port, raising=False)
    (tmp_path / "always_up.py").write_text(ALWAYS_UP)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    options = ["--run-dir", str(tmp_path), "--application", "always_up:application"]
    supervisor = Supervisor(parse_options(options), env, "localhost")
    try:
        worker = await supervisor.start_worker("w1")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/", timeout=5) as answer:
                served = answer.read()
            assert worker.port != stranger.port
            assert served == b"{}"  # the worker's application, not the stranger's name
        finally:
            await supervisor.retire(worker)
    finally:
        stranger.shutdown()
        stranger.server_close()


async def test_the_balancers_port_taken_is_an_error_that_says_so(
    tmp_path: Path, taken_port: int
) -> None:
    # The operator's port (--port, PORT): not ours to change. The error says why, and the
    # tests' WorkersCommand, which found that port free, starts again on another one.
    options = ["--run-dir", str(tmp_path), "--port", str(taken_port)]
    supervisor = Supervisor(parse_options(options), dict(os.environ), "localhost")

    with pytest.raises(WorkersError) as error:
        await supervisor.start_balancer()

    assert str(error.value).startswith(
        f"HAProxy could not listen on 127.0.0.1:{taken_port}: Address already in use"
    )


async def test_the_balancer_is_not_taken_as_started_when_another_server_answers_on_its_port(
    tmp_path: Path,
) -> None:
    stranger = NamedServer("stranger")  # answers 200 to every GET, /healthz too
    options = ["--run-dir", str(tmp_path), "--port", str(stranger.port)]
    supervisor = Supervisor(parse_options(options), dict(os.environ), "localhost")
    try:
        with pytest.raises(WorkersError, match="Address already in use"):
            await supervisor.start_balancer()
    finally:
        stranger.shutdown()
        stranger.server_close()


async def test_a_second_balancer_on_the_same_port_is_refused_rather_than_sharing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    first, second = (
        Supervisor(parse_options(["--run-dir", str(tmp_path / run), "--port", str(port)]),
                   dict(os.environ), "localhost")
        for run in ("first", "second")
    )  # fmt: skip
    for supervisor in (first, second):
        supervisor.options.run_dir.mkdir()

    async def no_worker_needed(*args: object, **kwargs: object) -> bool:
        return True  # the first has no worker behind it to answer /healthz

    monkeypatch.setattr(first, "healthy", no_worker_needed)
    try:
        await first.start_balancer()
        with pytest.raises(WorkersError, match="Address already in use"):
            await second.start_balancer()
    finally:
        await first.shutdown()
        await second.shutdown()
