"""`python -m voiceproject.workers`: several daphne workers behind Debian's HAProxy, with the
real balancer, real processes and real signals. The workers serve the held-calls app (the
real application plus a route that holds a registered call; see held_calls_app.py)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import http.server
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from redis.backoff import NoBackoff
from redis.retry import Retry
from websockets.asyncio.client import ClientConnection, connect

from voiceproject import workers
from voiceproject.balancer import health_check_host, local_config, runtime_command, server_states
from voiceproject.embedded_db import free_port, listening_socket
from voiceproject.redis_server import LocalRedis
from voiceproject.settings import BASE_DIR
from voiceproject.tests.live_server import WorkersCommand, server_environment
from voiceproject.workers import STAFF_NICE, Supervisor, Worker, parse_options

HELD_CALLS_APP = "voiceproject.tests.held_calls_app:application"
StartWorkers = Callable[..., WorkersCommand]


# --- The balancer's configuration -------------------------------------------------------------


@pytest.mark.parametrize("behind_proxy", [False, True])
def test_the_generated_configuration_is_valid_haproxy(tmp_path: Path, behind_proxy: bool) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        local_config(
            bind="127.0.0.1:8000", workers={"w1": 40001, "w2": 40002},
            health_host="voice.example.com", stats_socket=tmp_path / "haproxy.sock",
            behind_proxy=behind_proxy,
        )
    )  # fmt: skip

    checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = config.read_text()
    directives = [line.strip() for line in text.splitlines() if not line.strip().startswith("#")]
    assert "http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host voice.example.com" in text
    assert "server w2 127.0.0.1:40002" in text
    assert not [d for d in directives if "on-marked-down" in d]  # marked down keeps WebSockets


def test_staff_workers_get_the_back_office_and_nothing_else(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        local_config(
            bind="127.0.0.1:8000", workers={"w1": 40001, "w2": 40002, "s1": 40003},
            health_host="localhost", stats_socket=tmp_path / "haproxy.sock",
        )
    )  # fmt: skip

    checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = config.read_text()
    calls_backend, staff_backend = text.split("\nbackend daphne\n")[1].split("\nbackend staff\n")
    assert "server w1" in calls_backend and "server s1" not in calls_backend
    assert "server s1 127.0.0.1:40003" in staff_backend and "server w1" not in staff_backend
    assert "acl staff_page path_beg /admin/ /staff/ /ws/staff/" in text
    assert "use_backend staff if staff_page { nbsrv(staff) gt 0 }" in text
    without = local_config(bind="127.0.0.1:8000", workers={"w1": 40001}, health_host="localhost",
                           stats_socket=tmp_path / "haproxy.sock")  # fmt: skip
    assert "use_backend" not in without and "backend staff" not in without


def test_staff_niceness_is_ten_by_default_and_bounded() -> None:
    assert parse_options(["--staff-workers", "1"]).staff_nice == STAFF_NICE == 10
    assert parse_options(["--staff-nice", "0"]).staff_nice == 0
    for wrong in ("-1", "20"):
        with pytest.raises(SystemExit):
            parse_options(["--staff-nice", wrong])


def test_the_port_and_redis_set_in_dot_env_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unset_environment: Callable[..., None]
) -> None:
    """Contract section 1: variables are also read from `.env`; a shared Redis set there must
    not be replaced by a throwaway one (each machine would then have its own)."""
    monkeypatch.setattr(workers, "ENV_FILE", tmp_path / ".env")
    unset_environment("PORT", "CHANNEL_LAYERS_URL", "REDIS_URL")
    workers.ENV_FILE.write_text(
        "PORT=9124\nCHANNEL_LAYERS_URL=redis://redis.example.com:6379/0\n"
        "REDIS_URL=redis://redis.example.com:6379/1\n"
    )
    served: list[tuple[int, str | None, str | None]] = []

    def serve(options: workers.Options) -> int:
        served.append((options.port, os.environ.get("CHANNEL_LAYERS_URL"),
                       os.environ.get("REDIS_URL")))  # fmt: skip
        return 0

    monkeypatch.setattr(workers, "serve", serve)

    assert workers.main(["--workers", "2"]) == 0

    assert served == [
        (9124, "redis://redis.example.com:6379/0", "redis://redis.example.com:6379/1")
    ]


def test_a_host_port_and_proxy_count_set_but_empty_keep_their_defaults(
    monkeypatch: pytest.MonkeyPatch, unset_environment: Callable[..., None]
) -> None:
    """Contract section 1: set but empty counts as unset. An empty HOST went to HAProxy as
    `bind :8000`, every interface; an empty PORT stopped the command with a traceback; an
    empty TRUSTED_PROXY_COUNT reached the workers as 0 (HAProxy taken for every client)."""
    unset_environment("HOST", "PORT", "TRUSTED_PROXY_COUNT")
    for name in ("HOST", "PORT", "TRUSTED_PROXY_COUNT"):
        monkeypatch.setenv(name, "")

    options = parse_options([])

    assert (options.host, options.port) == ("127.0.0.1", 8000)
    assert workers.worker_environment(options, None)["TRUSTED_PROXY_COUNT"] == "1"


@pytest.mark.parametrize("port", ["abc", "0", "70000", "-1"])
def test_a_port_that_is_none_stops_with_one_line_naming_the_variable(
    port: str,
    monkeypatch: pytest.MonkeyPatch,
    unset_environment: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    unset_environment("PORT")
    monkeypatch.setenv("PORT", port)

    with pytest.raises(SystemExit):
        parse_options([])

    assert f"error: PORT={port!r} is not valid: expected a port number" in capsys.readouterr().err


class NamedServer(http.server.ThreadingHTTPServer):
    """A stand-in worker on a free loopback port: answers every GET with its name."""

    def __init__(self, name: str) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (http.server's name)
                body = name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def test_the_back_office_falls_back_to_the_call_workers_while_no_staff_worker_is_up(
    tmp_path: Path,
) -> None:
    calls, staff = NamedServer("w1"), NamedServer("s1")
    config, listening = tmp_path / "haproxy.cfg", listening_socket()
    port = listening.getsockname()[1]
    config.write_text(
        local_config(
            bind=f"fd@{listening.fileno()}", workers={"w1": calls.port, "s1": staff.port},
            health_host="localhost", stats_socket=tmp_path / "haproxy.sock",
        )
    )  # fmt: skip
    with listening:  # HAProxy's from here on
        haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   pass_fds=[listening.fileno()])  # fmt: skip

    def served_by(path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return str(response.read().decode())

    def wait_for(name: str, state: str) -> None:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):  # HAProxy not listening yet
                if server_states(tmp_path / "haproxy.sock")[name].startswith(state):
                    return
            assert time.monotonic() < deadline, f"{name} not {state} within 10 s"
            time.sleep(0.1)

    try:
        wait_for("s1", "UP")
        assert (served_by("/admin/login/"), served_by("/ws/voice")) == ("s1", "w1")

        staff.shutdown()
        staff.server_close()
        wait_for("s1", "DOWN")

        assert served_by("/admin/login/") == "w1"  # not a 503 while the staff worker is away
    finally:
        haproxy.terminate()
        haproxy.wait(10)
        calls.shutdown()
        calls.server_close()


def test_the_balancers_access_log_has_the_path_but_not_the_tokens_in_the_query_string(
    tmp_path: Path,
) -> None:
    """`?token=` and `?resume=` are secrets (contract 2, 7): a resume token read in the log
    takes over a call still going on."""
    worker, listening = NamedServer("w1"), listening_socket()
    port = listening.getsockname()[1]
    config, log = tmp_path / "haproxy.cfg", tmp_path / "haproxy.log"
    config.write_text(local_config(bind=f"fd@{listening.fileno()}", workers={"w1": worker.port},
                                   health_host="localhost",
                                   stats_socket=tmp_path / "haproxy.sock"))  # fmt: skip
    with log.open("wb") as out, listening:  # the socket is HAProxy's from here on
        haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=out,
                                   stderr=subprocess.STDOUT,
                                   pass_fds=[listening.fileno()])  # fmt: skip
    url = f"http://127.0.0.1:{port}/ws/voice?resume=RESUME-SECRET&token=TOKEN-SECRET"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:  # HAProxy not listening yet
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.1)
        deadline = time.monotonic() + 5
        while "/ws/voice" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        haproxy.terminate()
        haproxy.wait(10)
        worker.shutdown()
        worker.server_close()

    [line] = [line for line in log.read_text(errors="replace").splitlines() if "/ws/voice" in line]
    assert line.startswith("127.0.0.1:") and " voice daphne/w1 " in line
    assert " 200 " in line and line.endswith('"GET /ws/voice HTTP/1.1"')
    assert "SECRET" not in line


@pytest.mark.parametrize(
    ("allowed_hosts", "expected"),
    [
        (["voice.example.com", "localhost"], "voice.example.com"),
        ([".example.com"], "example.com"),
        (["*"], "localhost"),
        ([], "localhost"),
    ],
)
def test_health_checks_use_a_host_the_workers_accept(
    allowed_hosts: list[str], expected: str
) -> None:
    assert health_check_host(allowed_hosts) == expected


def test_several_workers_without_a_shared_channel_layer_are_refused(
    redis_server: LocalRedis, tmp_path: Path
) -> None:
    env = server_environment(extra={"REDIS_URL": redis_server.url(1)})  # no CHANNEL_LAYERS_URL
    env.pop("CHANNEL_LAYERS_URL", None)

    result = subprocess.run(
        [sys.executable, "-m", "voiceproject.workers", "--workers", "2",
         "--run-dir", str(tmp_path)],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 1
    assert "voiceproject.E010" in result.stderr and "CHANNEL_LAYERS_URL" in result.stderr
    assert not (tmp_path / "workers.json").exists()


@pytest.mark.parametrize(("drain", "expected_drain_s"), [("", 25.0), ("7.5", 7.5)])
def test_the_supervisor_reads_the_workers_settings_as_django_does(
    redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch, drain: str,
    expected_drain_s: float,
) -> None:
    """An empty VOICE_DRAIN_S is the default to Django; the supervisor crashed on it. And the
    checks see the trusted proxy the workers get, so behind HAProxy an https redirect is no
    mistake (voiceproject.W014)."""
    for name, value in server_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VOICE_DRAIN_S", drain)
    monkeypatch.delenv("TRUSTED_PROXY_COUNT", raising=False)
    options = parse_options(["--workers", "2", "--run-dir", "unused"])

    env = workers.worker_environment(options, redis_server)
    read = workers.check_settings(env)

    assert env["TRUSTED_PROXY_COUNT"] == "1"
    assert read.drain_s == expected_drain_s
    assert read.allowed_hosts == ["127.0.0.1", "localhost"]


# --- A worker's metrics when it dies ------------------------------------------------------------

# A worker as far as the metrics go: it carries a call, then hangs on until killed.
CARRYING_A_CALL = """
from postcall import metrics
metrics.CALLS_IN_PROGRESS.labels("web").inc()
print("on a call", flush=True)
input()
"""


def calls_in_progress(shared: Path) -> float | None:
    """`voice_calls_in_progress{channel="web"}` as any worker's /metrics sums it."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(shared))
    return registry.get_sample_value("voice_calls_in_progress", {"channel": "web"})


async def test_a_worker_killed_mid_call_no_longer_counts_its_calls(tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    supervisor = Supervisor(parse_options(["--run-dir", str(tmp_path)]), env, "localhost")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CARRYING_A_CALL, cwd=BASE_DIR, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and await process.stdout.readline() == b"on a call\n"
    supervisor.adopt(Worker("w1", free_port(), process))
    assert calls_in_progress(shared) == 1

    process.kill()  # nothing of its own runs on the way out
    await until(lambda: calls_in_progress(shared) is None, 10, "its gauge forgotten")
    supervisor.stop()  # rather than start a daphne in its place
    await asyncio.gather(*supervisor.watchers)


async def test_ctrl_c_while_the_workers_start_stops_at_once_and_serves_nothing(
    tmp_path: Path,
) -> None:
    # A worker whose imports take long (a busy machine, a slow disk): Ctrl-C during them.
    pid_file = tmp_path / "worker.pid"
    (tmp_path / "slow_to_import.py").write_text(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(120)\napplication = None\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    options = ["--run-dir", str(tmp_path), "--workers", "1",
               "--application", "slow_to_import:application"]  # fmt: skip
    supervisor = Supervisor(parse_options(options), env, "localhost")
    running = asyncio.create_task(supervisor.run())
    await until(lambda: bool(pid_file.exists() and pid_file.read_text()), 20, "the worker")

    supervisor.stop()

    async with asyncio.timeout(5):  # not the minute a worker may take to start
        assert await running == 0
    assert supervisor.balancer is None and not supervisor.slots
    await until(lambda: not alive(int(pid_file.read_text())), 5, "the worker stopped")


# A worker that takes a while to start, answers its first health check, and dies soon after.
DIES_SOON_AFTER_STARTING = """
import os, threading, time
time.sleep(1.5)

async def application(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})
    threading.Timer(0.3, os._exit, (3,)).start()
"""


async def test_a_worker_that_dies_soon_after_a_slow_start_is_started_again_after_a_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Young is counted from when it was up: its start (imports, on a busy machine) can take
    # longer than a young death, and a crash loop would go on with no pause at all.
    monkeypatch.setattr(workers, "YOUNG_DEATH_S", 1.0)
    (tmp_path / "dies_soon.py").write_text(DIES_SOON_AFTER_STARTING)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    options = ["--run-dir", str(tmp_path), "--application", "dies_soon:application"]
    supervisor = Supervisor(parse_options(options), env, "localhost")
    supervisor.adopt(await supervisor.start_worker("w1"))

    await until(lambda: "exited with code 3" in caplog.text, 10, "the worker's death")
    supervisor.stop()
    await asyncio.gather(*supervisor.watchers)

    assert "exited with code 3; starting it again in 2 s" in caplog.text


ALWAYS_UP = """
async def application(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})
"""


async def test_a_worker_that_died_as_a_rolling_restart_began_leaves_one_process_in_its_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(workers.balancer, "point_server", lambda *args: None)  # no HAProxy here
    (tmp_path / "always_up.py").write_text(ALWAYS_UP)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    options = ["--run-dir", str(tmp_path), "--workers", "1",
               "--application", "always_up:application"]  # fmt: skip
    supervisor = Supervisor(parse_options(options), env, "localhost")
    first = await supervisor.start_worker("w1")
    supervisor.adopt(first)
    first.process.kill()  # it dies young: started again after a pause ...
    await until(lambda: "starting it again in 2 s" in caplog.text, 10, "its death noticed")

    supervisor.rolling_restart()  # ... during which SIGHUP restarts the slot
    assert supervisor.restarting is not None
    await supervisor.restarting
    await asyncio.sleep(4)  # the pause is over
    running = [pid for pid in started_pids(caplog.text) if alive(pid)]
    serving = supervisor.slots["w1"].pid
    await supervisor.shutdown()
    for stray in set(running) - {serving}:
        os.kill(stray, signal.SIGKILL)

    assert running == [serving]


def started_pids(log: str) -> list[int]:
    """The pids the supervisor says it started in a slot ("... restarted: pid N on :P", or
    "... is back: pid N on :P"), in order."""
    return [
        int(line.split(": pid ")[1].split()[0])
        for line in log.splitlines()
        if " restarted: pid " in line or " is back: pid " in line
    ]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- The running command ----------------------------------------------------------------------

live = pytest.mark.django_db(transaction=True)  # the workers read the test database


async def hold_call(
    fleet: WorkersCommand, **headers: str
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(f"ws://127.0.0.1:{fleet.port}/test/held-call", additional_headers=headers)
    return ws, json.loads(await ws.recv())


def health_status(fleet: WorkersCommand) -> int:
    try:
        with urllib.request.urlopen(f"{fleet.url}/healthz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        print(f"/healthz answered {error.code}: {error.read()[:300]!r}")  # shown if the test fails
        return error.code


async def statuses_while(fleet: WorkersCommand, done: asyncio.Event) -> list[int]:
    """/healthz through the balancer every 50 ms until `done`: what a new visitor would get."""
    seen = []
    while not done.is_set():
        seen.append(await asyncio.to_thread(health_status, fleet))
        await asyncio.sleep(0.05)
    return seen


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.1)


async def start(workers_command: StartWorkers, **options: Any) -> WorkersCommand:
    options.setdefault("application", HELD_CALLS_APP)
    return await asyncio.to_thread(workers_command, **options)


@live
async def test_one_port_spreads_calls_over_the_workers_from_the_real_client_address(
    workers_command: StartWorkers,
) -> None:
    fleet = await start(workers_command)

    first, hello_1 = await hold_call(fleet, **{"X-Forwarded-For": "203.0.113.66"})
    second, hello_2 = await hold_call(fleet)

    assert {hello_1["pid"], hello_2["pid"]} == set(fleet.worker_pids().values())
    assert hello_1["client"] == "127.0.0.1"  # not the address the client claimed
    assert all(state.startswith("UP") for state in fleet.server_states().values())
    await first.close()
    await second.close()


def sessions_served(fleet: WorkersCommand) -> dict[str, int]:
    """Each worker slot's sessions so far, as HAProxy counts them (health checks are not)."""
    answer = runtime_command(fleet.run_dir / "haproxy.sock", "show stat").lstrip("# ")
    return {
        row["svname"]: int(row["stot"])
        for row in csv.DictReader(io.StringIO(answer))
        if row["svname"] not in ("FRONTEND", "BACKEND")
    }


def checking(fleet: WorkersCommand, slot: str) -> bool:
    """Whether HAProxy has a health check of `slot` in flight (bit 0x1 of its check state).
    `disable health` starts no new check, but one already sent still counts when it returns."""
    answer = runtime_command(fleet.run_dir / "haproxy.sock", "show servers state daphne")
    header, *rows = (line.lstrip("# ").split() for line in answer.splitlines()[1:] if line)
    state = next(dict(zip(header, row, strict=True)) for row in rows if row[3] == slot)
    return bool(int(state["srv_check_state"]) & 0x1)


@live
async def test_staff_workers_serve_the_back_office_and_never_a_call(
    workers_command: StartWorkers,
) -> None:
    fleet = await start(workers_command, workers=1, staff_workers=1)
    pids = fleet.worker_pids()

    call, on_call_worker = await hold_call(fleet)
    staff = await connect(f"ws://127.0.0.1:{fleet.port}/ws/staff/test/held-call")
    on_staff_worker = json.loads(await staff.recv())
    before = sessions_served(fleet)
    with urllib.request.urlopen(f"{fleet.url}/admin/login/", timeout=10) as page:
        assert page.status == 200
    after = sessions_served(fleet)

    assert on_call_worker["pid"] == pids["w1"]
    assert on_staff_worker["pid"] == pids["s1"]
    assert after["s1"] == before["s1"] + 1 and after["w1"] == before["w1"]
    assert {w["name"]: w["serves"] for w in fleet.state()["workers"]} == {
        "w1": "calls", "s1": "staff"
    }  # fmt: skip
    assert niceness(pids["s1"]) == min(19, niceness(pids["w1"]) + STAFF_NICE)  # calls win a core
    await call.close()
    await staff.close()

    # A rolling restart moves the staff slot too, and the back office follows it.
    fleet.send_signal(signal.SIGHUP)
    await until(lambda: all(fleet.worker_pids()[n] != pids[n] for n in pids), 60, "restarted")
    await until(lambda: all(s.startswith("UP") for s in fleet.server_states().values()), 5, "UP")
    async with connect(f"ws://127.0.0.1:{fleet.port}/ws/staff/test/held-call") as again:
        assert json.loads(await again.recv())["pid"] == fleet.worker_pids()["s1"]
    restarted = fleet.worker_pids()
    assert niceness(restarted["s1"]) == min(19, niceness(restarted["w1"]) + STAFF_NICE)


def niceness(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


@live
async def test_a_worker_that_dies_is_started_again_and_no_request_fails_meanwhile(
    workers_command: StartWorkers,
) -> None:
    fleet = await start(workers_command)
    before = fleet.worker_pids()
    survivor_call, hello = await hold_call(fleet)
    victim = next(name for name, pid in before.items() if pid != hello["pid"])

    done = asyncio.Event()
    probing = asyncio.create_task(statuses_while(fleet, done))
    os.kill(before[victim], signal.SIGKILL)
    await until(lambda: fleet.worker_pids()[victim] != before[victim], 30, "a new worker")
    done.set()

    assert set(await probing) == {200}
    await until(lambda: fleet.server_states()[victim].startswith("UP"), 5, "back in rotation")
    await survivor_call.send("still here")
    assert await survivor_call.recv() == "still here"
    assert "exited with code -9; starting it again" in fleet.output()
    await survivor_call.close()


@live
async def test_a_draining_worker_gets_no_new_calls_and_keeps_its_own_until_they_leave(
    workers_command: StartWorkers,
) -> None:
    fleet = await start(workers_command, env={"VOICE_DRAIN_S": "20"})
    calls = [await hold_call(fleet) for _ in range(2)]
    pids = fleet.worker_pids()
    (draining_call, hello), (_, other) = calls
    draining_slot = next(name for name, pid in pids.items() if pid == hello["pid"])

    os.kill(hello["pid"], signal.SIGTERM)
    await until(lambda: fleet.server_states()[draining_slot] == "DOWN", 5, "marked down")
    newcomers = [await hold_call(fleet) for _ in range(3)]

    assert {h["pid"] for _, h in newcomers} == {other["pid"]}
    assert json.loads(await draining_call.recv()) == {"type": "reconnect"}
    await draining_call.send("still flowing")
    assert await draining_call.recv() == "still flowing"

    await draining_call.close()  # its last call left: it exits, and the slot gets a new one
    await until(lambda: fleet.worker_pids()[draining_slot] != pids[draining_slot], 20, "replaced")
    await until(lambda: fleet.server_states()[draining_slot].startswith("UP"), 5, "in rotation")
    for ws, _ in [calls[1], *newcomers]:
        await ws.close()


@live
async def test_a_draining_answer_sent_before_the_balancer_noticed_is_asked_again_elsewhere(
    workers_command: StartWorkers,
) -> None:
    fleet = await start(workers_command, env={"VOICE_DRAIN_S": "20"})
    calls = [await hold_call(fleet) for _ in range(3)]
    pids = [hello["pid"] for _, hello in calls]
    # The worker with one call is the one a visitor goes to (least connections); it drains,
    # and its call keeps it draining, not gone.
    held, hello = next(call for call in calls if pids.count(call[1]["pid"]) == 1)
    slot = next(name for name, pid in fleet.worker_pids().items() if pid == hello["pid"])
    # The moment before HAProxy's health checks see the drain, held open: the slot stays in
    # rotation whatever /healthz answers. A check already sent when they are disabled still
    # counts: answered by the draining worker, it would take the slot out after all.
    runtime_command(fleet.run_dir / "haproxy.sock", f"disable health daphne/{slot}")
    await until(lambda: not checking(fleet, slot), 10, "the last health check answered")

    os.kill(hello["pid"], signal.SIGTERM)
    assert json.loads(await held.recv()) == {"type": "reconnect"}  # it is draining now
    statuses = [await asyncio.to_thread(health_status, fleet) for _ in range(6)]

    assert fleet.server_states()[slot] == "no check"  # still in rotation
    assert statuses == [200] * 6  # the draining worker's 503s were retried on the other one
    assert sessions_served(fleet)[slot] > 1  # and it was asked: the call, then visitors
    for ws, _ in calls:
        await ws.close()


@live
async def test_sighup_restarts_the_workers_one_at_a_time_and_calls_move_to_live_ones(
    workers_command: StartWorkers,
) -> None:
    # The swap takes the old worker out of HAProxy's rotation before it drains: no notice for
    # the balancer's health checks (2 s a worker) is needed, and none hides a swap that failed.
    fleet = await start(workers_command, env={"VOICE_DRAIN_NOTICE_S": "0"})
    before = fleet.worker_pids()
    pages = [await hold_call(fleet) for _ in range(2)]
    moves: list[tuple[int, int]] = []  # (the pid that told the page to move, where it landed)
    open_sockets = [ws for ws, _ in pages]

    async def page(ws: ClientConnection, hello: dict[str, Any]) -> None:
        # Like the voice page: told to reconnect, it opens a new socket through the balancer.
        while json.loads(await ws.recv()) == {"type": "reconnect"}:
            await ws.close()
            ws, landed = await hold_call(fleet)
            open_sockets.append(ws)
            moves.append((hello["pid"], landed["pid"]))
            hello = landed

    running = [asyncio.create_task(page(ws, hello)) for ws, hello in pages]
    done = asyncio.Event()
    probing = asyncio.create_task(statuses_while(fleet, done))
    fleet.send_signal(signal.SIGHUP)
    await until(lambda: "rolling restart done" in fleet.output(), 60, "the restart")
    done.set()
    # A page's last move can still be landing: its old worker exits once the page left it.
    await until(lambda: len(moves) >= 2, 10, "both pages moved")

    after = fleet.worker_pids()
    assert not set(after.values()) & set(before.values())
    assert set(await probing) == {200}  # a healthy worker was in rotation throughout
    assert all(landed != told for told, landed in moves)  # never back onto the draining one
    for task in running:
        task.cancel()
    for ws in open_sockets:
        await ws.close()


@live
async def test_ctrl_c_stops_the_workers_the_balancer_and_the_redis_it_started(
    workers_command: StartWorkers,
) -> None:
    fleet = await start(workers_command, redis=None, workers=1)
    state = fleet.state()
    pids = [state["balancer"]["pid"], *fleet.worker_pids().values()]
    own_redis = state["channel_layer"]
    assert own_redis.startswith("redis://127.0.0.1:")

    fleet.send_signal(signal.SIGINT)

    assert await asyncio.to_thread(fleet.wait_exited, 30) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # Refused at once, not after redis-py's 4 s of backoff.
    gone = redis.Redis.from_url(own_redis, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.ConnectionError), gone:
        gone.ping()
    assert not (fleet.run_dir / "workers.json").exists()
