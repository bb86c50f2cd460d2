"""A real daphne process serving this project, for tests that need a real server: a browser
opening the voice page, or anything that must cross real sockets.

    with DaphneServer(gemini_live_url=fake.url) as server:
        server.start()
        page.goto(server.url)

It serves the test database (whatever `django.db.connection` points at when it starts, so start
it after pytest-django created the test database), with DEBUG on so that static files come
straight from `static/` through servestatic's finders (no collectstatic step). Anything the
server prints is kept in `output()` for a failing test to show.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from django.db import connection

from voiceproject.embedded_db import free_port, stop_process

BASE_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0  # mostly imports; a busy machine can take a while
STOP_TIMEOUT_S = 5.0


class DaphneServer:
    """`python -m daphne` on 127.0.0.1 and a free port, until `stop()` (or the `with` ends).

    `env` adds or overrides environment variables (e.g. `GEMINI_API_KEY=""` for a server
    without an agent). The defaults: the test database, demo mode on, the Live API at
    `gemini_live_url` with the fake's key "test-key".
    """

    def __init__(
        self,
        *,
        gemini_live_url: str = "",
        env: Mapping[str, str] | None = None,
        application: str = "voiceproject.asgi:application",
    ) -> None:
        self.port = free_port()
        self.application = application
        self.url = f"http://127.0.0.1:{self.port}"
        self._extra_env = dict(env or {})
        self._gemini_live_url = gemini_live_url
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (the server's log; stop() closes it)

    def environment(self) -> dict[str, str]:
        database = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "voiceproject.settings",
            "DEBUG": "True",
            "SECRET_KEY": "live-server-test-key-not-for-production-0123456789abcdef",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "MONGODB_URI": str(database["HOST"]),
            "MONGODB_DB": str(database["NAME"]),
            "GEMINI_API_KEY": "test-key",
            "GEMINI_LIVE_URL": self._gemini_live_url,
            "VOICE_DEMO_MODE": "True",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self._extra_env)
        return env

    def start(self) -> DaphneServer:
        self._process = subprocess.Popen(
            [
                sys.executable, "-m", "daphne",
                "-b", "127.0.0.1", "-p", str(self.port),
                self.application,
            ],
            cwd=BASE_DIR,
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                code = self._process.returncode
                raise RuntimeError(f"daphne exited with {code}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"daphne was not healthy within {START_TIMEOUT_S}s:\n{self.output()}")

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
        # SIGINT stops at once; SIGTERM would drain first (voiceproject/draining.py).
        stop_process(process, signal.SIGINT, timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> DaphneServer:
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
