"""A real daphne process serving this project, for tests that need a real server: a browser
opening the voice page, or anything that must cross real sockets.

    with DaphneServer(gemini_live_url=fake.url) as server:
        server.start()
        page.goto(server.url)

It serves the test database (whatever `django.db.connection` points at when it starts, so start
it after pytest-django created the test database), with DEBUG on so that static files come
straight from `static/` through servestatic's finders (no collectstatic step). Anything the
server prints is kept in `output()` for a failing test to show.

`WorkersCommand` runs `python -m voiceproject.workers` the same way: several daphne workers
behind the real HAProxy, sharing the test database and a Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from django.db import connection

from voiceproject import balancer
from voiceproject.embedded_db import ProcessExited, free_port, stop_process, wait_until_ready
from voiceproject.redis_server import LocalRedis

BASE_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0  # mostly imports; a busy machine can take a while
# free_port() frees the port it found, and the server binds it seconds later, after its
# imports: meanwhile another process (the suite's other xdist workers start servers too) may
# take it. The server then cannot listen, and starts again on another port.
PORT_TRIES = 3
PORT_TAKEN = "Address already in use"
STOP_TIMEOUT_S = 5.0
DRAIN_WAIT_S = 1.0  # then a second SIGTERM
WORKERS_DRAIN_WAIT_S = 5.0  # then a second Ctrl-C


def server_environment(
    *, gemini_live_url: str = "", extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a server process under test: the test database, DEBUG and demo mode
    on, the Live API at `gemini_live_url` with the fake's key "test-key", then `extra`."""
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceproject.tests.settings",
        "DEBUG": "True",
        "SECRET_KEY": "live-server-test-key-not-for-production-0123456789abcdef",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "MONGODB_URI": str(database["HOST"]),
        "MONGODB_DB": str(database["NAME"]),
        "GEMINI_API_KEY": "test-key",
        "GEMINI_LIVE_URL": gemini_live_url,
        "VOICE_DEMO_MODE": "True",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra or {})
    return env


class _ServerProcess:
    """A server process under test on 127.0.0.1 and a free port: what it printed, its signals,
    and its stop, which sends `stop_signal`, waits `drain_wait_s` for it to drain, then sends
    it again and kills it if it has not stopped within `kill_timeout_s`."""

    name: str  # what a failure to start calls it
    stop_signal: int
    drain_wait_s: float
    kill_timeout_s: float

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (the server's log; __exit__ closes it)

    def _start(
        self,
        command: Callable[[], list[str]],
        env: Mapping[str, str],
        ready: Callable[[], bool],
        every: float,
    ) -> None:
        """Run `command()` (which serves `self.port`) here, its output in the log, until
        `ready()` says yes; again on another port while another process took the port first."""
        for attempt in range(1, PORT_TRIES + 1):
            self._process = subprocess.Popen(
                command(), cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT
            )
            try:
                wait_until_ready(self._process, ready, START_TIMEOUT_S, every)
                return
            except ProcessExited as exited:
                if attempt == PORT_TRIES or PORT_TAKEN not in self.output():
                    raise RuntimeError(
                        f"{self.name} exited with {exited.returncode}:\n{self.output()}"
                    ) from None
            except TimeoutError:
                self.stop()
                raise RuntimeError(
                    f"{self.name} did not start within {START_TIMEOUT_S:.0f} s:\n{self.output()}"
                ) from None
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    def send_signal(self, signum: int) -> None:
        assert self._process is not None, "not started"
        self._process.send_signal(signum)

    def wait_exited(self, timeout: float) -> int:
        """Wait for the process to exit by itself; its exit code (TimeoutExpired if not)."""
        assert self._process is not None, "not started"
        return self._process.wait(timeout)

    def output(self) -> str:
        """Everything the server printed so far."""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(self.stop_signal)
        try:
            process.wait(self.drain_wait_s)
        except subprocess.TimeoutExpired:
            stop_process(process, self.stop_signal, timeout=self.kill_timeout_s)

    def __enter__(self) -> Self:
        # Not started here: starting blocks for a second or two, which an async test does in
        # a thread (`await asyncio.to_thread(server.start)`).
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._log.close()


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket listening on TCP `port` (from Linux's /proc;
    True where there is none to ask)."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        return True
    listening = set()
    for table in tables:
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()  # sl, local address, remote address, state, ... inode
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    listening.add(f"socket:[{fields[9]}]")
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # it exited
        return False
    for fd in fds:
        with contextlib.suppress(OSError):  # closed meanwhile
            if os.readlink(fd) in listening:
                return True
    return False


class DaphneServer(_ServerProcess):
    """`python -m daphne` on 127.0.0.1 and a free port, until `stop()` (or the `with` ends).

    `env` adds or overrides environment variables (e.g. `GEMINI_API_KEY=""` for a server
    without an agent). The defaults: the test database, demo mode on, the Live API at
    `gemini_live_url` with the fake's key "test-key". `daphne_args` are more command-line
    flags for daphne (e.g. `["--proxy-headers"]`).
    """

    # SIGTERM drains (voiceproject/draining.py): at once when no call is up; a second one
    # stops it at once. (Not SIGINT: a process started with SIGINT ignored, as a
    # non-interactive shell's background jobs are, never gets Twisted's handler for it.)
    name = "daphne"
    stop_signal = signal.SIGTERM
    drain_wait_s = DRAIN_WAIT_S
    kill_timeout_s = STOP_TIMEOUT_S

    def __init__(
        self,
        *,
        gemini_live_url: str = "",
        env: Mapping[str, str] | None = None,
        daphne_args: Sequence[str] = (),
        application: str = "voiceproject.asgi:application",
    ) -> None:
        super().__init__()
        self._daphne_args = list(daphne_args)
        self.application = application
        self._extra_env = dict(env or {})
        self._gemini_live_url = gemini_live_url

    def environment(self) -> dict[str, str]:
        return server_environment(gemini_live_url=self._gemini_live_url, extra=self._extra_env)

    def start(self) -> DaphneServer:
        self._start(
            lambda: [
                sys.executable, "-m", "daphne",
                "-b", "127.0.0.1", "-p", str(self.port),
                *self._daphne_args,
                self.application,
            ],
            self.environment(),
            self._serving,
            every=0.1,
        )  # fmt: skip
        return self

    def _serving(self) -> bool:
        # Healthy, and this daphne's: a server another process started on the port first
        # answers too, until this one fails to bind the port and exits (PORT_TRIES).
        return listens_on(self.pid, self.port) and self._healthy()


class WorkersCommand(_ServerProcess):
    """`python -m voiceproject.workers` on a free port, until `stop()` (or the `with` ends).

    The workers share the test database and, given `redis`, that Redis (database 0 the channel
    layer, 1 the cache); without it the command starts its own. `env` as for DaphneServer;
    `application` lets a test serve voiceproject/tests/held_calls_app.py instead.
    """

    # Ctrl-C: the workers drain (at once when no call is up), then everything stops; a
    # second Ctrl-C, as a person would press it, when calls keep a worker draining.
    name = "the workers command"
    stop_signal = signal.SIGINT
    drain_wait_s = WORKERS_DRAIN_WAIT_S
    kill_timeout_s = STOP_TIMEOUT_S * 2

    def __init__(
        self,
        run_dir: Path,
        *,
        workers: int = 2,
        staff_workers: int = 0,
        redis: LocalRedis | None = None,
        gemini_live_url: str = "",
        env: Mapping[str, str] | None = None,
        application: str = "voiceproject.asgi:application",
    ) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.workers = workers
        self.staff_workers = staff_workers
        self.application = application
        shared = {"CHANNEL_LAYERS_URL": redis.url(0), "REDIS_URL": redis.url(1)} if redis else {}
        self._env = server_environment(
            gemini_live_url=gemini_live_url, extra={**shared, **(env or {})}
        )

    def start(self) -> WorkersCommand:
        self._start(
            lambda: [
                sys.executable, "-m", "voiceproject.workers",
                "--workers", str(self.workers), "--staff-workers", str(self.staff_workers),
                "--port", str(self.port),
                "--run-dir", str(self.run_dir), "--application", self.application,
            ],
            self._env,
            self._started,
            every=0.2,
        )  # fmt: skip
        return self

    def _started(self) -> bool:
        return (self.run_dir / "workers.json").exists() and self._healthy()

    def state(self) -> dict[str, Any]:
        """workers.json: the balancer's and each worker's pid and port, as the command wrote it."""
        return dict(json.loads((self.run_dir / "workers.json").read_text()))

    def worker_pids(self) -> dict[str, int]:
        return {worker["name"]: worker["pid"] for worker in self.state()["workers"]}

    def server_states(self) -> dict[str, str]:
        """Each worker slot as HAProxy sees it ("UP", "DOWN")."""
        return balancer.server_states(self.run_dir / "haproxy.sock")
