"""`make run`: the whole product in one command.

Starts the embedded database when MONGODB_URI is unset, applies migrations, loads (or
refreshes) the demo data, collects static files and serves everything with daphne. Ctrl-C
stops the web server first and the database last; the data stays under var/ for the next run.

`make run-workers` (`--workers [N]`) does the same, but serves through
`voiceproject.workers`: N daphne workers (default: one per core) behind HAProxy, with Redis.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from voiceproject import env_file
from voiceproject.embedded_db import EmbeddedDatabaseError, EmbeddedMongo

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = BASE_DIR / "var"
URI_FILE = VAR / "embedded-mongodb.uri"
# The embedded database's pid while a `make run` has it up: a second one must not start
# another on the same data (WiredTiger allows one), nor take the first one's files away.
PID_FILE = VAR / "secantusdb.pid"
# Read before anything here looks at a variable: a MONGODB_URI or PORT set only there is set.
ENV_FILE = env_file.ENV_FILE
# Where the server listens unless HOST says otherwise: this machine only.
DEFAULT_HOST = "127.0.0.1"
# Hosts that mean "every address of this machine": the page is opened through this one.
ANY_HOST = ("0.0.0.0", "::", "")


def address(port: str) -> str:
    """The address to open the product at, where HOST (or DEFAULT_HOST) has it listening."""
    host = env_file.text("HOST", DEFAULT_HOST).strip("[]")
    host = "127.0.0.1" if host in ANY_HOST else host
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def port_taken(port: str) -> str | None:
    """Why the server could not listen on HOST:`port`, or None: checked before anything
    starts, where daphne would say it only after the database, migrations and demo data, and
    after "Serving on". Bound as the server binds (SO_REUSEADDR: a port a stopped run left in
    TIME_WAIT is free)."""
    host = env_file.text("HOST", DEFAULT_HOST).strip("[]")
    try:
        family, kind, proto, _, where = socket.getaddrinfo(
            host or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(where)
    except OSError as error:  # in use, or not an address of this machine
        shown = f"[{host}]" if ":" in host else host
        return f"cannot listen on {shown}:{port}: {error.strerror or error}"
    return None


def manage(*args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], check=True)


def serve(port: str) -> int:
    daphne = subprocess.Popen(
        [
            sys.executable, "-m", "daphne",
            "-b", env_file.text("HOST", DEFAULT_HOST), "-p", port,
            "voiceproject.asgi:application",
        ],
        cwd=BASE_DIR,
    )
    try:
        return daphne.wait()
    except KeyboardInterrupt:
        daphne.send_signal(signal.SIGINT)
        return daphne.wait()


def stop_on_signals() -> None:
    """Stop like Ctrl-C on SIGTERM and SIGHUP too, and on Ctrl-C even when started with it
    ignored (a script's `make run &`, in a shell without job control): the children, which
    are stopped with SIGINT (daphne, the database), would inherit that and never stop."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGHUP, _stop_on_sigterm)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # `docker stop`, systemd and friends send SIGTERM, a closed terminal SIGHUP: treat them
    # like Ctrl-C so the database (in its own process group) is stopped too, not orphaned.
    raise KeyboardInterrupt


def running_database(pid_file: Path) -> int | None:
    """The pid of the embedded database `pid_file` names if it still runs, or None.

    It does after a `make run` in another terminal, or one killed before it could stop it
    (kill -9): its database, in a process group of its own, outlives it.
    """
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, and not ours to signal
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid  # no /proc to tell by: assume it is the database
    # A pid the system gave to another process since is not the database (an empty command
    # line, a process in the middle of starting, tells nothing).
    return pid if not command or b"secantusd" in command else None


def worker_counts_problem(workers: int | None, staff_workers: int) -> str | None:
    """What is wrong with `make run-workers`' counts (WORKERS, STAFF_WORKERS), or None.

    Said before anything starts: the workers command would find it only after the database,
    migrations and demo data, and then name VOICE_WORKERS, which nobody set (a negative
    STAFF_WORKERS it did not find at all, serving with a VOICE_WORKERS that was too low)."""
    if workers is not None and workers < 0:
        return f"--workers (WORKERS) must be 1 or more, or 0 for one per core, not {workers}."
    if staff_workers < 0:
        return f"--staff-workers (STAFF_WORKERS) must be 0 or more, not {staff_workers}."
    return None


def serve_workers(port: str, workers: int, staff_workers: int) -> int:
    from voiceproject import workers as workers_command

    return workers_command.serve(
        workers_command.Options(
            workers=workers or os.cpu_count() or 1,
            host=env_file.text("HOST", DEFAULT_HOST),
            port=int(port),
            run_dir=VAR / "workers",
            staff_workers=staff_workers,
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workers", type=int, nargs="?", const=0, default=None,
        help="serve through N workers behind HAProxy (no N: one per core)",
    )  # fmt: skip
    parser.add_argument("--staff-workers", type=int, default=0,
                        help="with --workers: K more that serve only the back office")  # fmt: skip
    args = parser.parse_args()
    if problem := worker_counts_problem(args.workers, args.staff_workers):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    stop_on_signals()
    # Local development defaults; a .env or the environment can override them.
    env_file.read(ENV_FILE)
    # Set but empty is unset (a `DEBUG=` line in .env): the settings would read it as off.
    if not env_file.text("DEBUG"):
        os.environ["DEBUG"] = "True"
    try:
        port = str(env_file.port())
    except ValueError as error:  # before anything starts: one line naming the variable
        print(f"error: {error}", file=sys.stderr)
        return 2
    if taken := port_taken(port):
        print(f"error: {taken} (another program listens there: stop it, or choose another "
              "port, e.g. PORT=8001 make run)", file=sys.stderr)  # fmt: skip
        return 2
    VAR.mkdir(exist_ok=True)
    embedded: EmbeddedMongo | None = None
    wrote_files = False
    try:
        if not env_file.text("MONGODB_URI"):
            running = running_database(PID_FILE)
            if running:
                raise EmbeddedDatabaseError(
                    f"the embedded database is already running on {VAR / 'db'} (pid {running}): "
                    "another `make run` is using it, or one that could not stop it (killed). "
                    f"Stop that `make run`, or the database with `kill -INT {running}`, "
                    "then try again."
                )
            embedded = EmbeddedMongo(VAR / "db", log_path=VAR / "secantusdb.log")
            uri = embedded.start()
            os.environ["MONGODB_URI"] = uri
            assert embedded.process is not None
            PID_FILE.write_text(f"{embedded.process.pid}\n")
            URI_FILE.write_text(uri + "\n")
            wrote_files = True
            print(f"Embedded database (SecantusDB) on {uri}, data in {VAR / 'db'}")
        manage("migrate", "--noinput", "-v", "0")
        manage("collectstatic", "--noinput", "-v", "0")
        # Every start is a fresh demo: the recent deliveries move back inside the two-hour
        # refund window (and any refund tried on them last time is undone), so a refund
        # can always be tried live.
        manage("seed_demo", "--refresh-recent")
        if args.workers is not None:
            return serve_workers(port, args.workers, args.staff_workers)
        print(f"Serving on {address(port)}  (staff pages: /admin/, Ctrl-C stops)")
        return serve(port)
    except EmbeddedDatabaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        return error.returncode or 1
    except KeyboardInterrupt:
        return 0
    finally:
        if embedded is not None:
            embedded.stop()
        if wrote_files:  # never another run's
            URI_FILE.unlink(missing_ok=True)
            PID_FILE.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
