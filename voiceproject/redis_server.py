"""A throwaway Redis (Debian's `redis-server`) for the workers command and the tests.

Like the embedded database (embedded_db.py), it runs as its own process on a free loopback
port, is reached through the ordinary client exactly as a managed Redis would be, and is
stopped when its owner stops. Nothing in it is meant to survive: it keeps no snapshot and no
append-only file (the channel layer's messages and the cache's counters are all short-lived).
This module imports nothing from Django, so a launcher can use it before settings load.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from voiceproject.embedded_db import (
    PORT_TRIES,
    PortsTaken,
    ProcessExited,
    start_listening,
    stop_process,
    wait_until_ready,
)

INSTALL_HINT = "Install it with: sudo apt-get install redis-server (or set REDIS_URL)."


class LocalRedisError(RuntimeError):
    """The local Redis could not be started; the message says what to do."""


class LocalRedis:
    """`redis-server` on 127.0.0.1 and a free port, its files in `data_dir`, until `stop()`."""

    def __init__(self, data_dir: Path, log_path: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.log_path = log_path or self.data_dir / "redis.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """The URL of database number `db` (the channel layer and the cache use two)."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10.0, *, port: int = 0) -> LocalRedis:
        """Start it on `port`, or by default on a free one (another, while other processes
        take them first: see PORT_TRIES)."""
        server = shutil.which("redis-server")
        if server is None:
            raise LocalRedisError(f"redis-server is not installed. {INSTALL_HINT}")
        self.data_dir.mkdir(parents=True, exist_ok=True)

        def on(chosen: int) -> None:
            self.port = chosen
            self._spawn(server)
            self._wait_until_ready(timeout)

        try:
            start_listening(on, self.log_path, port)
        except ProcessExited as exited:
            raise LocalRedisError(
                f"redis-server exited with code {exited.returncode}; see {self.log_path}"
            ) from None
        except PortsTaken:
            if port:  # the one it was told to use: not ours to change
                raise LocalRedisError(
                    f"redis-server could not listen: another process holds :{port}"
                ) from None
            raise LocalRedisError(
                f"redis-server could not listen: other processes took each of the {PORT_TRIES} "
                f"free ports it was given before it could; see {self.log_path}"
            ) from None
        return self

    def _spawn(self, server: str) -> None:
        self.process = subprocess.Popen(
            [
                server,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.data_dir),
                "--save", "",
                "--appendonly", "no",
                "--logfile", str(self.log_path),
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own process group: Ctrl-C reaches the launcher, which stops Redis last.
            start_new_session=True,
        )  # fmt: skip

    def _wait_until_ready(self, timeout: float) -> None:
        """Until this process answers on self.port; ProcessExited if it exits first."""
        process = self.process
        assert process is not None
        # No retries: redis-py's default would spend about 4 s backing off on each refused
        # ping while the server is still starting. A read timeout too: whatever else took the
        # port may accept and never answer.
        client = redis.Redis(
            port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
        )  # fmt: skip
        try:
            wait_until_ready(process, lambda: _served_by(client, process.pid), timeout, every=0.05)
        except TimeoutError:
            self.stop()
            raise LocalRedisError(
                f"redis-server did not answer within {timeout:.0f} s; see {self.log_path}"
            ) from None
        finally:
            client.close()

    def flush(self) -> None:
        """Empty every database (between tests)."""
        with redis.Redis(port=self.port) as client:
            client.flushall()

    def stop(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        stop_process(process, timeout=timeout)

    def restart(self, down_s: float = 0.0, timeout: float = 10.0) -> LocalRedis:
        """Stop it, wait `down_s`, and start it again on the same port, empty (as a managed
        Redis restarted without persistence): for tests of what its clients do meanwhile."""
        port = self.port
        self.stop()
        time.sleep(down_s)
        return self.start(timeout, port=port)

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _served_by(client: redis.Redis, pid: int) -> bool:
    """Whether the server `client` reaches answers, and is process `pid`: not another Redis
    that took the port first (this one then exits, unable to listen)."""
    try:
        server = client.info("server")
    except redis.RedisError:  # refused, or whatever holds the port does not speak Redis
        return False
    return bool(server.get("process_id") == pid)
