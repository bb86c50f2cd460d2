"""The embedded MongoDB-compatible server (SecantusDB) for development and tests.

SecantusDB runs as its own process, speaking the MongoDB wire protocol on a free loopback
port; everything reaches it through the ordinary drivers, exactly as it would reach MongoDB
or Atlas. This module only starts and stops that process: it imports nothing from Django, so
the launcher can run it before settings are loaded.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient
from pymongo.errors import PyMongoError


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not be started; the message says what to do."""


# free_port() lets go of the port it found, and a server binds it a second or so later, after
# its imports: meanwhile another process (the test suite's other xdist workers start servers
# too) may take it. Such a server exits saying so in its log, and is started again on another
# port; after PORT_TRIES ports, a clear error.
PORT_TRIES = 3
PORT_TAKEN = "Address already in use"
LISTEN_BACKLOG = 50  # Twisted's default, which a daphne given -p would have used


def free_port() -> int:
    """A loopback port nothing listens on now; not held (see PORT_TRIES)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening_socket() -> socket.socket:
    """A socket listening on a free loopback port, for a server that can inherit it (daphne's
    `--fd`, HAProxy's `bind fd@`): held from the moment it is found, so no other process can
    take it first. Close this copy once the server has it: the port then closes with the
    server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def log_end(log_path: Path) -> int:
    """Where a server's next line in `log_path` will start: the logs here are appended to from
    run to run, and only what this run wrote says why it exited."""
    try:
        return log_path.stat().st_size
    except FileNotFoundError:
        return 0


def port_was_taken(log_path: Path, since: int) -> bool:
    """Whether a server's log, from byte `since` on, says another process holds its port."""
    try:
        with log_path.open("rb") as log:
            log.seek(since)
            return PORT_TAKEN.encode() in log.read()
    except FileNotFoundError:
        return False


class PortsTaken(Exception):
    """Other processes took each port a server was given before it could listen there."""


def start_listening(start: Callable[[int], None], log_path: Path, port: int = 0) -> None:
    """`start(port)` (spawn a server on `port`, wait until it answers) on `port`, or by default
    on a free one, and on another while the server exits saying in `log_path` that a process
    took its port first (PORT_TRIES). Raises ProcessExited for any other exit, PortsTaken
    when no port was left to it (`port` itself taken, or PORT_TRIES free ones)."""
    for _ in range(1 if port else PORT_TRIES):
        since = log_end(log_path)
        try:
            start(port or free_port())
            return
        except ProcessExited:
            if not port_was_taken(log_path, since):
                raise
    raise PortsTaken()


def stop_process(
    process: subprocess.Popen[bytes], signum: int = signal.SIGTERM, timeout: float = 10.0
) -> None:
    """Ask `process` to stop with `signum`; kill it if it has not within `timeout` seconds."""
    process.send_signal(signum)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ProcessExited(RuntimeError):
    """A process exited before it was ready (wait_until_ready); `returncode` says how."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"exited with code {returncode}")
        self.returncode = returncode


def wait_until_ready(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float, every: float
) -> None:
    """Ask `ready()` every `every` seconds until it says yes, about a server `process` just
    started. Raises ProcessExited if the process exits first, TimeoutError if `timeout` seconds
    pass first (the process still runs then: stopping it is the caller's)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        if ready():
            return
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(every)
    raise ProcessExited(process.returncode)


def _server_command() -> list[str]:
    exe = Path(sys.executable).with_name("secantusd-py")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("secantusd-py")
    if found:
        return [found]
    raise EmbeddedDatabaseError(
        "SecantusDB is not installed (no `secantusd-py`). Run `make run`, which installs "
        "requirements-dev.txt, or set MONGODB_URI to a MongoDB server."
    )


class EmbeddedMongo:
    """A SecantusDB process with its data in `data_dir`, stopped on `stop()` or context exit.

    The data directory survives a restart; pass a throwaway directory for tests.
    """

    def __init__(self, data_dir: Path, log_path: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.log_path = log_path or self.data_dir.parent / "secantusdb.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 30.0) -> str:
        """Start it on a free port (another, while other processes take them first: see
        PORT_TRIES) and wait until it answers; its URI."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

        def on(port: int) -> None:
            self.port = port
            self._spawn()
            self._wait_until_ready(timeout)

        try:
            start_listening(on, self.log_path)
        except ProcessExited as exited:
            raise EmbeddedDatabaseError(
                f"SecantusDB exited with code {exited.returncode}; see {self.log_path} (a "
                f"SecantusDB still running on {self.data_dir} holds its files: stop it first)"
            ) from None
        except PortsTaken:
            raise EmbeddedDatabaseError(
                f"SecantusDB could not listen: other processes took each of the {PORT_TRIES} "
                f"free ports it was given before it could; see {self.log_path}"
            ) from None
        return self.uri

    def _spawn(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115  (kept open for the child's lifetime)
        self.process = subprocess.Popen(
            [
                *_server_command(),
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--storage-path", str(self.data_dir),
                "--log-level", "WARNING",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: Ctrl-C in the terminal reaches the launcher, which then
            # stops the database last, after the web server has let go of it.
            start_new_session=True,
        )  # fmt: skip
        log.close()

    def _wait_until_ready(self, timeout: float) -> None:
        """Until this process answers on self.port; ProcessExited if it exits first."""
        process = self.process
        assert process is not None
        client: MongoClient[dict[str, object]] = MongoClient(
            self.uri, serverSelectionTimeoutMS=500
        )
        try:
            wait_until_ready(process, lambda: _served_by(client, process.pid), timeout, every=0.1)
        except TimeoutError:
            self.stop()
            raise EmbeddedDatabaseError(
                f"SecantusDB did not answer within {timeout:.0f} s; see {self.log_path}"
            ) from None
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # SIGINT lets SecantusDB checkpoint WiredTiger and close cleanly.
        stop_process(process, signal.SIGINT, timeout)

    def __enter__(self) -> EmbeddedMongo:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _served_by(client: MongoClient[dict[str, object]], pid: int) -> bool:
    """Whether the server `client` reaches answers, and is process `pid`: not another SecantusDB
    that took the port first (this one then exits, unable to listen)."""
    try:
        status = client.admin.command("serverStatus")
    except PyMongoError:
        return False
    return bool(status.get("pid") == pid)


def is_embedded_requested() -> bool:
    return not os.environ.get("MONGODB_URI")
