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
import subprocess
import sys
from pathlib import Path

from voiceproject.embedded_db import EmbeddedDatabaseError, EmbeddedMongo

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = BASE_DIR / "var"
URI_FILE = VAR / "embedded-mongodb.uri"


def manage(*args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], check=True)


def serve(port: str) -> int:
    daphne = subprocess.Popen(
        [
            sys.executable, "-m", "daphne",
            "-b", os.environ.get("HOST", "127.0.0.1"), "-p", port,
            "voiceproject.asgi:application",
        ],
        cwd=BASE_DIR,
    )
    try:
        return daphne.wait()
    except KeyboardInterrupt:
        daphne.send_signal(signal.SIGINT)
        return daphne.wait()


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # `docker stop`, systemd and friends send SIGTERM: treat it like Ctrl-C so the database
    # (in its own process group) is stopped too rather than orphaned.
    raise KeyboardInterrupt


def serve_workers(port: str, workers: int, staff_workers: int) -> int:
    from voiceproject import workers as workers_command

    return workers_command.serve(
        workers_command.Options(
            workers=workers or os.cpu_count() or 1,
            host=os.environ.get("HOST", "127.0.0.1"),
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
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Local development defaults; a .env or the environment can override them.
    os.environ.setdefault("DEBUG", "True")
    port = os.environ.get("PORT", "8000")
    VAR.mkdir(exist_ok=True)
    embedded: EmbeddedMongo | None = None
    try:
        if not os.environ.get("MONGODB_URI"):
            embedded = EmbeddedMongo(VAR / "db", log_path=VAR / "secantusdb.log")
            uri = embedded.start()
            os.environ["MONGODB_URI"] = uri
            URI_FILE.write_text(uri + "\n")
            print(f"Embedded database (SecantusDB) on {uri}, data in {VAR / 'db'}")
        manage("migrate", "--noinput", "-v", "0")
        manage("collectstatic", "--noinput", "-v", "0")
        # Every start is a fresh demo: the recent deliveries move back inside the two-hour
        # refund window (and any refund tried on them last time is undone), so a refund
        # can always be tried live.
        manage("seed_demo", "--refresh-recent")
        if args.workers is not None:
            return serve_workers(port, args.workers, args.staff_workers)
        print(f"Serving on http://127.0.0.1:{port}/  (staff pages: /admin/, Ctrl-C stops)")
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
            URI_FILE.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
