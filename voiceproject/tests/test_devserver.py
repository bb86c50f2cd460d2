"""`make run` (voiceproject/devserver.py): a second run on the same var/ while the embedded
database of an earlier one still runs says so, and leaves that run's files alone."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from voiceproject import devserver
from voiceproject.devserver import running_database
from voiceproject.embedded_db import free_port


@pytest.fixture
def database_left_running() -> Iterator[subprocess.Popen[bytes]]:
    """A process that looks like SecantusDB (`secantusd` in its command line)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; print(flush=True); time.sleep(60)", "secantusd-py"],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.readline()  # running, its command line set
    yield process
    process.kill()
    process.wait()


def test_a_database_still_running_is_found_by_its_pid(
    tmp_path: Path, database_left_running: subprocess.Popen[bytes]
) -> None:
    pid_file = tmp_path / "secantusdb.pid"
    pid_file.write_text(f"{database_left_running.pid}\n")

    assert running_database(pid_file) == database_left_running.pid


def test_a_database_that_stopped_is_not_running(
    tmp_path: Path, database_left_running: subprocess.Popen[bytes]
) -> None:
    pid_file = tmp_path / "secantusdb.pid"
    pid_file.write_text(f"{database_left_running.pid}\n")
    database_left_running.kill()
    database_left_running.wait()

    assert running_database(pid_file) is None
    assert running_database(tmp_path / "absent.pid") is None


def test_a_pid_given_to_another_program_since_is_not_the_database(tmp_path: Path) -> None:
    pid_file = tmp_path / "secantusdb.pid"
    pid_file.write_text(f"{os.getpid()}\n")  # pytest's

    assert running_database(pid_file) is None


def test_a_second_run_says_the_database_is_running_and_keeps_the_first_runs_files(
    tmp_path: Path,
    database_left_running: subprocess.Popen[bytes],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(devserver, "VAR", tmp_path)
    monkeypatch.setattr(devserver, "URI_FILE", tmp_path / "embedded-mongodb.uri")
    monkeypatch.setattr(devserver, "PID_FILE", tmp_path / "secantusdb.pid")
    monkeypatch.setattr(sys, "argv", ["devserver"])
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.setenv("DEBUG", "True")
    monkeypatch.setattr(devserver, "EmbeddedMongo", None)  # must not get as far as starting one
    devserver.URI_FILE.write_text("mongodb://127.0.0.1:27999/?directConnection=true\n")
    devserver.PID_FILE.write_text(f"{database_left_running.pid}\n")

    assert devserver.main() == 1

    error = capsys.readouterr().err
    assert f"already running on {tmp_path / 'db'} (pid {database_left_running.pid})" in error
    assert f"kill -INT {database_left_running.pid}" in error
    assert devserver.URI_FILE.exists() and devserver.PID_FILE.exists()


def test_a_run_takes_its_database_and_port_from_dot_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unset_environment: Callable[..., None]
) -> None:
    """Contract section 1: every variable is also read from `.env`; with MONGODB_URI set
    there, `make run` uses that database and starts no embedded one."""
    monkeypatch.setattr(devserver, "VAR", tmp_path)
    monkeypatch.setattr(devserver, "PID_FILE", tmp_path / "secantusdb.pid")
    monkeypatch.setattr(devserver, "ENV_FILE", tmp_path / ".env")
    monkeypatch.setattr(sys, "argv", ["devserver"])
    unset_environment("MONGODB_URI", "PORT", "DEBUG")
    monkeypatch.setattr(devserver, "EmbeddedMongo", None)  # must not start one
    managed: list[tuple[str, ...]] = []
    monkeypatch.setattr(devserver, "manage", lambda *args: managed.append(args))
    served: list[tuple[str, str | None]] = []

    def serve(port: str) -> int:
        served.append((port, os.environ.get("MONGODB_URI")))
        return 0

    monkeypatch.setattr(devserver, "serve", serve)
    devserver.ENV_FILE.write_text("MONGODB_URI=mongodb://db.example.com:27017/\nPORT=9123\n")

    assert devserver.main() == 0

    assert served == [("9123", "mongodb://db.example.com:27017/")]
    assert ("migrate", "--noinput", "-v", "0") in managed


def test_a_run_with_port_host_and_debug_set_but_empty_uses_their_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unset_environment: Callable[..., None]
) -> None:
    """Contract section 1: set but empty counts as unset. `PORT=` in .env reached daphne as
    `-p ''` (after the database had started), and `DEBUG=` turned development mode off."""
    monkeypatch.setattr(devserver, "VAR", tmp_path)
    monkeypatch.setattr(devserver, "PID_FILE", tmp_path / "secantusdb.pid")
    monkeypatch.setattr(devserver, "ENV_FILE", tmp_path / ".env")
    monkeypatch.setattr(sys, "argv", ["devserver"])
    unset_environment("MONGODB_URI", "PORT", "HOST", "DEBUG")
    monkeypatch.setattr(devserver, "EmbeddedMongo", None)  # must not start one
    monkeypatch.setattr(devserver, "manage", lambda *args: None)
    started: list[list[str]] = []

    class Daphne:
        def __init__(self, command: list[str], **kwargs: object) -> None:
            started.append(command)

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", Daphne)
    devserver.ENV_FILE.write_text(
        "MONGODB_URI=mongodb://db.example.com:27017/\nPORT=\nHOST=\nDEBUG=\n"
    )

    assert devserver.main() == 0

    assert started[0][started[0].index("-b"):][:4] == ["-b", "127.0.0.1", "-p", "8000"]
    assert os.environ["DEBUG"] == "True"


def test_a_run_with_a_port_that_is_none_says_so_before_starting_anything(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unset_environment: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(devserver, "VAR", tmp_path)
    monkeypatch.setattr(devserver, "ENV_FILE", tmp_path / ".env")
    monkeypatch.setattr(sys, "argv", ["devserver"])
    unset_environment("MONGODB_URI", "PORT", "DEBUG")
    monkeypatch.setattr(devserver, "EmbeddedMongo", None)  # must not get as far as starting one
    devserver.ENV_FILE.write_text("PORT=80OO\n")

    assert devserver.main() == 2

    assert capsys.readouterr().err == (
        "error: PORT='80OO' is not valid: expected a port number from 1 to 65535 "
        "(default 8000).\n"
    )


# Started as a script's background job (`make run &` in a shell without job control), a run
# has SIGINT ignored, and its children would inherit that: the way it stops them.
SERVE_WITH_CTRL_C_IGNORED = """
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
from voiceproject import devserver
devserver.stop_on_signals()
print(flush=True)
sys.exit(devserver.serve(sys.argv[1]))
"""


def test_a_run_started_with_ctrl_c_ignored_still_stops_its_server_when_told_to(
    tmp_path: Path,
) -> None:
    port = free_port()
    shell = {**os.environ, "DEBUG": "True", "MONGODB_URI": ""}
    run = subprocess.Popen(
        [sys.executable, "-c", SERVE_WITH_CTRL_C_IGNORED, str(port)],
        cwd=devserver.BASE_DIR, env=shell, stdout=subprocess.PIPE,
        start_new_session=True,  # its server too is killed at the end, whatever happened
    )  # fmt: skip
    assert run.stdout is not None
    run.stdout.readline()
    try:
        wait_until_serving(port)
        run.send_signal(signal.SIGTERM)  # `docker stop`, systemd, kill
        assert run.wait(timeout=30) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # the server stopped with it


def wait_until_serving(port: int) -> None:
    for _ in range(300):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"nothing served on :{port}")


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        (None, "http://127.0.0.1:8001/"),
        ("192.168.1.20", "http://192.168.1.20:8001/"),
        ("0.0.0.0", "http://127.0.0.1:8001/"),  # every address: this machine's opens it
        ("::1", "http://[::1]:8001/"),
    ],
)
def test_a_run_prints_the_address_it_serves_on(
    host: str | None, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if host is None:
        monkeypatch.delenv("HOST", raising=False)
    else:
        monkeypatch.setenv("HOST", host)

    assert devserver.address("8001") == shown


def test_a_run_on_a_port_another_program_listens_on_says_so_before_starting_anything(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unset_environment: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Daphne would say it only after the database, migrations and demo data, and after
    "Serving on"."""
    monkeypatch.setattr(devserver, "VAR", tmp_path)
    monkeypatch.setattr(devserver, "ENV_FILE", tmp_path / ".env")
    monkeypatch.setattr(sys, "argv", ["devserver"])
    unset_environment("MONGODB_URI", "PORT", "HOST", "DEBUG")
    monkeypatch.setattr(devserver, "EmbeddedMongo", None)  # must not get as far as starting one
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        devserver.ENV_FILE.write_text(f"PORT={port}\n")

        assert devserver.main() == 2

    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "PORT=8001 make run" in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--workers", "-1"],
         "--workers (WORKERS) must be 1 or more, or 0 for one per core, not -1."),
        (["--workers", "2", "--staff-workers", "-1"],
         "--staff-workers (STAFF_WORKERS) must be 0 or more, not -1."),
    ],
)  # fmt: skip
def test_a_run_with_a_negative_number_of_workers_says_so_before_starting_anything(
    argv: list[str],
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unset_environment: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`make run-workers WORKERS=-1`: the workers command would say it only after the
    database, migrations and demo data, naming VOICE_WORKERS, which nobody set."""
    monkeypatch.setattr(devserver, "VAR", tmp_path)
    monkeypatch.setattr(devserver, "ENV_FILE", tmp_path / ".env")
    monkeypatch.setattr(sys, "argv", ["devserver", *argv])
    unset_environment("MONGODB_URI", "PORT", "HOST", "DEBUG")
    monkeypatch.setattr(devserver, "EmbeddedMongo", None)  # must not get as far as starting one

    assert devserver.main() == 2

    assert capsys.readouterr().err == f"error: {said}\n"
