"""Several daphne workers behind one port on one machine, with HAProxy in front and Redis
between them:

    python -m voiceproject.workers [--workers N] [--staff-workers K] [--staff-nice 10]
                                   [--port 8000] [--host 127.0.0.1]

                    :8000  HAProxy (health checks on /healthz, leastconn)
                   /      |      \\            \\
        daphne w1    daphne w2    ... wN        s1 ... sK   (with --staff-workers K)
                   \\      |      /            /
           Redis (channel layer + cache)      MongoDB (MONGODB_URI)

- Calls go to the N workers. With --staff-workers K, the back office (/admin/, /staff/ and
  /ws/staff/) goes to K more processes that carry no calls, so that no page is rendered beside
  a call's audio (README, "A live call while staff browse"); without, every worker serves all.
  Staff workers run at a lower CPU priority (--staff-nice, 10 by default): when the machine is
  busy, a page waits a few milliseconds longer and a call's audio does not.
- Redis: REDIS_URL and CHANNEL_LAYERS_URL when set; otherwise a throwaway redis-server is
  started under the run directory (database 0 for the channel layer, 1 for the cache).
- Each worker gets VOICE_WORKERS=N+K, so the system checks refuse to run without Redis; they
  run (`manage.py check`) before anything starts.
- A worker that dies is started again (on a new port, which HAProxy is pointed at), after a
  pause that grows while it keeps dying young.
- SIGHUP restarts the workers one at a time: a new process per slot, and only once it is
  healthy is HAProxy pointed at it and, a second later (requests already sent to the old one
  are answered as usual), the old one told to drain (SIGUSR2: its calls are told to move at
  once, with no VOICE_DRAIN_NOTICE_S, as HAProxy already sends it nothing new); the next slot
  waits until the old process has exited.
- Ctrl-C or SIGTERM stops everything: the workers drain (at most VOICE_DRAIN_S), then HAProxy
  and the throwaway Redis stop. A second Ctrl-C stops at once.

The run directory (var/workers by default) holds haproxy.cfg, HAProxy's log and runtime
socket, and workers.json: the balancer and each worker's pid and port, kept current.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

from voiceproject import balancer, env_file
from voiceproject.draining import DRAIN_AT_ONCE_SIGNAL
from voiceproject.embedded_db import PORT_TAKEN, listening_socket, log_end
from voiceproject.redis_server import LocalRedis, LocalRedisError

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_RUN_DIR = BASE_DIR / "var" / "workers"
APPLICATION = "voiceproject.asgi:application"
ENV_FILE = env_file.ENV_FILE
START_TIMEOUT_S = 60.0  # a worker's imports on a busy machine
HEALTH_POLL_S = 0.2
# A starting worker's health check: its answer, once daphne is up, takes milliseconds; until
# then the request waits unanswered, and a stop or the worker's exit is seen between checks.
STARTING_HEALTH_TIMEOUT_S = 1.0
YOUNG_DEATH_S = 10.0  # a worker that dies sooner than this after it was up is crash-looping
MAX_RESTART_PAUSE_S = 30.0
STOP_MARGIN_S = 10.0  # beyond VOICE_DRAIN_S, before a worker that will not stop is killed
# Between pointing HAProxy at a slot's new process and telling the old one to drain: requests
# HAProxy had already sent to the old process are answered as before (not with a draining 503;
# one that still gets it is retried on another worker, see balancer.py's retry-on).
SWAP_SETTLE_S = 1.0
# Added to the staff workers' niceness. At 10 the kernel's scheduler gives a call worker about
# nine times a staff worker's share of a busy core (CFS weights 1024 and 110): staff pages
# still load, and a call's worker waiting for a core is served first
# (bench.bench_staff_bystander --staff-nice).
STAFF_NICE = 10

log = logging.getLogger("voiceproject.workers")


class WorkersError(RuntimeError):
    """The workers could not be started; the message says what to do."""


@dataclass
class Worker:
    name: str
    port: int
    process: asyncio.subprocess.Process
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Options:
    workers: int
    host: str
    port: int
    run_dir: Path
    application: str = APPLICATION
    behind_proxy: bool = False
    staff_workers: int = 0
    staff_nice: int = STAFF_NICE

    @property
    def slots(self) -> list[str]:
        """The worker slots: "w1".."wN" carry calls, "s1".."sK" serve the back office."""
        calls = [f"w{n}" for n in range(1, self.workers + 1)]
        staff = [f"{balancer.STAFF_SLOT_PREFIX}{n}" for n in range(1, self.staff_workers + 1)]
        return calls + staff

    @property
    def processes(self) -> int:
        return self.workers + self.staff_workers


def _child_setup(nice: int = 0) -> Any:
    """A preexec_fn for a child: on Linux, ask the kernel to SIGTERM it when this process
    dies, so that a killed supervisor leaves no orphaned workers or balancer behind; and
    lower its CPU priority by `nice`. None when there is nothing to do."""
    linux = sys.platform.startswith("linux")
    if not linux and not nice:
        return None
    libc = ctypes.CDLL(None, use_errno=True) if linux else None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        if libc is not None:
            libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
        if nice:
            os.nice(nice)

    return preexec


def catches(pid: int, signum: int) -> bool:
    """Whether process `pid` handles `signum` (its SigCgt mask in Linux's /proc); False if
    that cannot be read, or for a process that would take the signal's default (to die)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


class Supervisor:
    """Runs the balancer and the workers until stopped; see the module docstring."""

    def __init__(
        self, options: Options, env: Mapping[str, str], health_host: str, drain_s: float = 25.0
    ) -> None:
        self.options = options
        self.env = dict(env)
        self.health_host = health_host
        self.slots: dict[str, Worker] = {}
        self.balancer: asyncio.subprocess.Process | None = None
        self.stats_socket = options.run_dir / "haproxy.sock"
        self.state_file = options.run_dir / "workers.json"
        self.stopping = asyncio.Event()
        self.restarting: asyncio.Task[None] | None = None
        self.watchers: set[asyncio.Task[None]] = set()
        self.retiring: set[int] = set()  # pids we stopped on purpose
        self.deaths: dict[str, int] = {}  # slot -> young deaths in a row
        self.preexec = _child_setup()
        self.staff_preexec = _child_setup(options.staff_nice)
        self.drain_s = drain_s  # the workers' VOICE_DRAIN_S, as their settings read it

    # --- running ----------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self.rolling_restart)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        try:
            started = await asyncio.gather(
                *(self.start_worker(name) for name in self.options.slots), return_exceptions=True
            )
            failures = [result for result in started if isinstance(result, BaseException)]
            for result in started:
                if isinstance(result, Worker):
                    self.adopt(result)
            if self.stopping.is_set():  # Ctrl-C or SIGTERM while starting: stop what started
                return 0
            if failures:
                raise WorkersError(f"a worker did not start: {failures[0]}")
            await self.start_balancer()
            self.write_state()
            self.announce()
            balancer_exit = asyncio.ensure_future(self._balancer().wait())
            stop = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait([balancer_exit, stop], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if balancer_exit.done():
                log.error("HAProxy exited (code %s); see %s", balancer_exit.result(),
                          self.options.run_dir / "haproxy.log")  # fmt: skip
                return 1
            return 0
        finally:
            loop.add_signal_handler(signal.SIGINT, self.kill_now)
            await self.shutdown()
            for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    def announce(self) -> None:
        workers = ", ".join(f"{w.name} pid {w.pid} on :{w.port}" for w in self.slots.values())
        staff_slots = [n for n in self.slots if _serves_staff(n)]
        staff = (
            f"; /admin/, /staff/ and /ws/staff/ go to {', '.join(staff_slots)} only"
            f" (nice +{self.options.staff_nice})"
        )
        count = f"{len(self.slots)} worker{'' if len(self.slots) == 1 else 's'}"
        print(
            f"Serving on http://{self.options.host}:{self.options.port}/ through HAProxy: "
            f"{count} ({workers}){staff if staff_slots else ''}.\n"
            f"Ctrl-C stops; `kill -HUP {os.getpid()}` restarts the workers one at a time.",
            flush=True,
        )

    def _balancer(self) -> asyncio.subprocess.Process:
        assert self.balancer is not None
        return self.balancer

    # --- workers ----------------------------------------------------------------------------

    async def start_worker(self, name: str) -> Worker:
        """A new daphne for slot `name` on a free port, returned once /healthz answers 200."""
        # The worker inherits the socket already listening, rather than binding a port found
        # free after its imports: another process could take that port meanwhile, and its
        # /healthz would pass for this worker's. Connections wait in the socket's queue until
        # daphne is up; ours is closed once it has its copy, so the port closes with it.
        with listening_socket() as sock:
            port = int(sock.getsockname()[1])
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "daphne",
                "--fd", str(sock.fileno()),
                # HAProxy's log (haproxy.log in the run directory) is the access log: one for
                # all workers, and without the health checks' two requests a second.
                "--access-log", os.devnull,
                self.options.application,
                cwd=BASE_DIR,
                env=self.env,
                pass_fds=(sock.fileno(),),
                start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops them
                preexec_fn=self.staff_preexec if _serves_staff(name) else self.preexec,
            )  # fmt: skip
        worker = Worker(name, port, process)
        try:
            await self.wait_healthy(worker)
        except BaseException:  # did not start, or we are stopping: leave nothing behind
            self.retiring.add(process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise
        # Its age counts from here: a start can take longer than YOUNG_DEATH_S on a busy
        # machine, and a worker dying soon after it was up would be restarted with no pause.
        worker.started = time.monotonic()
        return worker

    async def wait_healthy(self, worker: Worker) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.stopping.is_set():  # told to stop: not another minute of imports first
                raise WorkersError(f"worker {worker.name} was stopped while starting")
            if worker.process.returncode is not None:
                raise WorkersError(
                    f"worker {worker.name} exited with code {worker.process.returncode} "
                    "while starting (its output is above)"
                )
            # Short: until daphne is up, the request waits unanswered in the socket's queue.
            if await self.healthy(worker.port, timeout=STARTING_HEALTH_TIMEOUT_S):
                return
            await asyncio.sleep(HEALTH_POLL_S)
        raise WorkersError(f"worker {worker.name} was not healthy within {START_TIMEOUT_S:.0f} s")

    @property
    def local_address(self) -> str:
        """Where this machine reaches the balancer."""
        return "127.0.0.1" if self.options.host in ("", "0.0.0.0", "::") else self.options.host

    async def healthy(self, port: int, host: str = "127.0.0.1", timeout: float = 3.0) -> bool:
        # A bare HTTP/1.0 request on asyncio's own sockets: no thread, no client library.
        request = f"GET /healthz HTTP/1.0\r\nHost: {self.health_host}\r\n\r\n".encode()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
                try:
                    writer.write(request)
                    status_line = await reader.readline()
                finally:
                    writer.close()
        except (OSError, TimeoutError):
            return False
        parts = status_line.split()
        return len(parts) > 1 and parts[1] == b"200"

    def adopt(self, worker: Worker) -> None:
        """Make `worker` the process of its slot, and watch it."""
        self.slots[worker.name] = worker
        watcher = asyncio.ensure_future(self.watch(worker))
        self.watchers.add(watcher)
        watcher.add_done_callback(self.watchers.discard)

    async def watch(self, worker: Worker) -> None:
        code = await worker.process.wait()
        self.forget_metrics(worker)
        if worker.pid in self.retiring or self.stopping.is_set():
            return
        if self.slots.get(worker.name) is not worker:
            return
        young = time.monotonic() - worker.started < YOUNG_DEATH_S
        self.deaths[worker.name] = self.deaths.get(worker.name, 0) + 1 if young else 0
        pause = min(MAX_RESTART_PAUSE_S, 2.0 ** self.deaths[worker.name]) if young else 0.0
        log.warning("worker %s (pid %d) exited with code %s; starting it again in %.0f s",
                    worker.name, worker.pid, code, pause)  # fmt: skip
        await self.replace(worker.name, pause)

    def forget_metrics(self, worker: Worker) -> None:
        """An exited worker's live gauges (calls in progress) stop counting in the metrics the
        workers share; its own exit does that only when it ends normally."""
        shared = self.env.get("PROMETHEUS_MULTIPROC_DIR")
        if shared:
            multiprocess.mark_process_dead(worker.pid, shared)

    async def replace(self, name: str, pause: float = 0.0) -> None:
        """Start a new process for slot `name` and point HAProxy at it; retry until it
        starts, the supervisor stops, or a rolling restart gives the slot a process meanwhile."""
        gone = self.slots.get(name)
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), pause)
                return
            if self.slots.get(name) is not gone:
                return
            try:
                worker = await self.start_worker(name)
            except WorkersError as error:
                if self.stopping.is_set():
                    return
                log.error("%s", error)
                pause = min(MAX_RESTART_PAUSE_S, max(1.0, pause * 2))
                continue
            if self.stopping.is_set() or self.slots.get(name) is not gone:
                # Not a second process in the slot, running unseen (a rolling restart's).
                await self.retire(worker)
                return
            try:
                await self.swap_in(worker)
            except WorkersError as error:
                log.error("%s", error)
                continue
            log.warning("worker %s is back: pid %d on :%d", name, worker.pid, worker.port)
            return

    async def swap_in(self, worker: Worker) -> None:
        """Point HAProxy's slot at `worker` and make it the slot's process."""
        try:
            balancer.point_server(self.stats_socket, worker.name, worker.port)
        except (OSError, RuntimeError) as error:
            await self.retire(worker, signal.SIGKILL)
            raise WorkersError(f"HAProxy could not be pointed at {worker.name}: {error}") from error
        self.adopt(worker)
        self.write_state()

    def rolling_restart(self) -> None:
        if self.restarting is not None and not self.restarting.done():
            log.warning("SIGHUP: a rolling restart is already under way")
            return
        self.restarting = asyncio.ensure_future(self._rolling_restart())

    async def _rolling_restart(self) -> None:
        log.warning("SIGHUP: restarting %d workers one at a time", len(self.slots))
        for name in list(self.slots):
            if self.stopping.is_set():
                return
            try:
                new = await self.start_worker(name)
                # Read now: a process that died meanwhile may have been replaced already.
                old = self.slots[name]
                # New connections go to the new process at once; the old one drains its
                # calls (they re-attach through HAProxy, never to it) and exits.
                await self.swap_in(new)
            except WorkersError as error:
                log.error("rolling restart stopped: %s; %s keeps running", error, name)
                return
            await asyncio.sleep(SWAP_SETTLE_S)
            # Out of rotation since the swap (HAProxy reuses no connection to it, see
            # balancer.py): its calls can move at once, with no notice for health checks. A
            # worker of older code (a rollback) has no handler for that signal, which would
            # kill it: it is sent SIGTERM, and drains with the notice.
            drain_at_once = catches(old.pid, DRAIN_AT_ONCE_SIGNAL)
            await self.retire(old, DRAIN_AT_ONCE_SIGNAL if drain_at_once else signal.SIGTERM)
            log.warning("worker %s restarted: pid %d on :%d", name, new.pid, new.port)
        log.warning("rolling restart done")

    async def retire(self, worker: Worker, signum: int = signal.SIGTERM) -> None:
        """Stop `worker` with `signum` (SIGTERM drains it, DRAIN_AT_ONCE_SIGNAL without the
        notice) and wait; kill it if it will not."""
        self.retiring.add(worker.pid)
        if worker.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signum)
            try:
                await asyncio.wait_for(worker.process.wait(), self.drain_s + STOP_MARGIN_S)
            except TimeoutError:
                log.error("worker %s (pid %d) did not stop; killing it", worker.name, worker.pid)
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                await worker.process.wait()
        self.forget_metrics(worker)  # its watcher may be cancelled first, at shutdown

    # --- the balancer -----------------------------------------------------------------------

    async def start_balancer(self) -> None:
        config = self.options.run_dir / "haproxy.cfg"
        config.write_text(
            balancer.local_config(
                bind=f"{self.options.host}:{self.options.port}",
                workers={name: worker.port for name, worker in self.slots.items()},
                health_host=self.health_host,
                stats_socket=self.stats_socket,
                behind_proxy=self.options.behind_proxy,
            )
        )
        self.stats_socket.unlink(missing_ok=True)
        log_path = self.options.run_dir / "haproxy.log"
        since = log_end(log_path)
        log_file = open(log_path, "ab")  # noqa: SIM115  (the child's)
        try:
            self.balancer = await asyncio.create_subprocess_exec(
                _haproxy(), "-db", "-f", str(config),
                stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=self.preexec,
            )  # fmt: skip
        finally:
            log_file.close()
        deadline = time.monotonic() + 10
        while not self._balancer_up() or not await self.healthy(
            self.options.port, self.local_address
        ):
            if self.balancer.returncode is not None or time.monotonic() > deadline:
                raise WorkersError(
                    balancer_failure(self.options.host, self.options.port, log_path, since)
                )
            await asyncio.sleep(HEALTH_POLL_S)

    def _balancer_up(self) -> bool:
        """Whether our HAProxy answers on its runtime socket, which it does once it holds all
        its listeners. One that could not listen exits, leaving the socket's file behind, while
        whatever holds the port answers /healthz in its place."""
        try:
            info = balancer.runtime_command(self.stats_socket, "show info")
        except OSError:
            return False
        return f"\nPid: {self._balancer().pid}\n" in f"\n{info}"

    # --- stopping ---------------------------------------------------------------------------

    def stop(self) -> None:
        if not self.stopping.is_set():
            print(
                "Stopping: the workers drain their calls first "
                f"(at most {self.drain_s:.0f} s; Ctrl-C again stops at once) ...",
                flush=True,
            )
        self.stopping.set()

    def kill_now(self) -> None:
        for worker in self.slots.values():
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()

    async def shutdown(self) -> None:
        self.stopping.set()
        if self.restarting is not None:
            self.restarting.cancel()
        await asyncio.gather(*(self.retire(worker) for worker in self.slots.values()))
        for watcher in list(self.watchers):
            watcher.cancel()
        if self.balancer is not None and self.balancer.returncode is None:
            self.balancer.terminate()
            await self.balancer.wait()
        self.state_file.unlink(missing_ok=True)

    def write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "url": f"http://{self.options.host}:{self.options.port}",
            "balancer": {
                "pid": self.balancer.pid if self.balancer else None,
                "config": str(self.options.run_dir / "haproxy.cfg"),
                "socket": str(self.stats_socket),
            },
            "channel_layer": self.env.get("CHANNEL_LAYERS_URL"),
            "cache": self.env.get("REDIS_URL"),
            "workers": [
                {"name": w.name, "pid": w.pid, "port": w.port,
                 "serves": "staff" if _serves_staff(w.name) else "calls"}
                for w in self.slots.values()
            ],  # fmt: skip
        }
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2) + "\n")
        temporary.replace(self.state_file)


def balancer_failure(host: str, port: int, log_path: Path, since: int) -> str:
    """Why HAProxy did not start, from its alerts in `log_path` from byte `since` on: the
    operator's port taken says so, and what to do (it is theirs to choose, not ours to change)."""
    with log_path.open("rb") as log:
        log.seek(since)
        lines = log.read().decode("utf-8", "replace").splitlines()
    alerts = [line.split(" : ", 1)[-1] for line in lines if line.startswith("[ALERT]")]
    if any(PORT_TAKEN in alert for alert in alerts):
        return (
            f"HAProxy could not listen on {host}:{port}: {PORT_TAKEN} (another process "
            f"listens there: stop it, or choose another port with --port or PORT); see {log_path}"
        )
    why = f": {alerts[0]}" if alerts else ""
    return f"HAProxy did not start on {host}:{port}{why}; see {log_path}"


def _serves_staff(slot: str) -> bool:
    return balancer.backend_of(slot) == balancer.STAFF_BACKEND


def _haproxy() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if found is None:
        raise WorkersError(
            "HAProxy is not installed. Install it with: sudo apt-get install haproxy "
            "(or run `make run-workers`, which does)."
        )
    return found


def worker_environment(options: Options, redis: LocalRedis | None) -> dict[str, str]:
    env = {**os.environ, "VOICE_WORKERS": str(options.processes), "PYTHONUNBUFFERED": "1"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
    # HAProxy leaves one X-Forwarded-For entry, the address that reached it. Set here, so the
    # system checks see what the workers will (voiceproject.W014 on SECURE_SSL_REDIRECT).
    # Set but empty counts as unset (settings.py), which the workers would read as 0.
    if not env.get("TRUSTED_PROXY_COUNT", "").strip():
        env["TRUSTED_PROXY_COUNT"] = "1"
    if redis is not None:
        env["CHANNEL_LAYERS_URL"] = redis.url(0)
        env["REDIS_URL"] = redis.url(1)
    return env


# Run in a fresh interpreter with the workers' environment: their settings, not ours.
_CHECK_SCRIPT = """
import io, json, sys
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
try:
    call_command("check", fail_level="ERROR", stdout=io.StringIO())
except SystemCheckError as error:
    sys.exit(str(error))
print(json.dumps({"hosts": settings.ALLOWED_HOSTS, "drain_s": settings.VOICE_DRAIN_S}))
"""


@dataclass(frozen=True)
class WorkerSettings:
    """What the supervisor needs of the workers' settings, read as Django reads them (an empty
    VOICE_DRAIN_S is the default, not a crash)."""

    allowed_hosts: list[str]
    drain_s: float


def check_settings(env: Mapping[str, str]) -> WorkerSettings:
    """Django's system checks as the workers will see their settings (VOICE_WORKERS included,
    so several workers without Redis are refused); returns what the supervisor needs of them."""
    result = subprocess.run(
        [sys.executable, "-c", _CHECK_SCRIPT],
        env=dict(env), cwd=BASE_DIR, capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise WorkersError(f"the system checks failed:\n{result.stderr.strip()}")
    read = json.loads(result.stdout.strip().splitlines()[-1])
    return WorkerSettings(list(read["hosts"]), float(read["drain_s"]))


def serve(options: Options) -> int:
    """Run the workers until stopped; the exit code for the command."""
    logging.basicConfig(level=logging.INFO, format="workers: %(message)s")
    options.run_dir.mkdir(parents=True, exist_ok=True)
    redis: LocalRedis | None = None
    try:
        _haproxy()
        if not env_file.text("REDIS_URL") and not env_file.text("CHANNEL_LAYERS_URL"):
            redis = LocalRedis(options.run_dir / "redis").start()
            print(f"Redis (throwaway) on {redis.url()}, files in {redis.data_dir}", flush=True)
        env = worker_environment(options, redis)
        read = check_settings(env)
        health_host = balancer.health_check_host(read.allowed_hosts)
        return asyncio.run(Supervisor(options, env, health_host, read.drain_s).run())
    except (WorkersError, LocalRedisError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if redis is not None:
            redis.stop()


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m voiceproject.workers",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="daphne processes (default: one per core)")  # fmt: skip
    parser.add_argument("--staff-workers", type=int, default=0,
                        help="more processes that serve only /admin/, /staff/ and /ws/staff/ "
                             "(default 0: every worker serves everything)")  # fmt: skip
    parser.add_argument("--staff-nice", type=int, default=STAFF_NICE,
                        help="how much lower the staff workers' CPU priority is (0-19, "
                             f"default {STAFF_NICE}): calls win a busy core")  # fmt: skip
    parser.add_argument("--port", type=int, default=None,
                        help="port HAProxy listens on (default: PORT, else 8000)")  # fmt: skip
    parser.add_argument("--host", default=env_file.text("HOST", "127.0.0.1"),
                        help="address HAProxy listens on (0.0.0.0: every interface)")  # fmt: skip
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    parser.add_argument("--application", default=APPLICATION, help=argparse.SUPPRESS)
    parser.add_argument("--behind-proxy", action="store_true",
                        help="a proxy in front appends the client's address to "
                             "X-Forwarded-For (by default HAProxy is the edge)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.port is None:
        try:
            args.port = env_file.port()
        except ValueError as error:
            parser.error(str(error))
    if args.workers < 1:
        parser.error("--workers must be 1 or more")
    if args.staff_workers < 0:
        parser.error("--staff-workers must be 0 or more")
    if not 0 <= args.staff_nice <= 19:
        parser.error("--staff-nice must be from 0 to 19")
    return Options(
        workers=args.workers, host=args.host, port=args.port, run_dir=args.run_dir,
        application=args.application, behind_proxy=args.behind_proxy,
        staff_workers=args.staff_workers, staff_nice=args.staff_nice,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    env_file.read(ENV_FILE)  # before the defaults and the Redis choice read the environment
    return serve(parse_options(argv))


if __name__ == "__main__":
    sys.exit(main())
