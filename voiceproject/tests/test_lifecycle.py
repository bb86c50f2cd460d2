"""What the server process sets up at start and does at its end (voiceproject/lifecycle.py,
run from asgi.py)."""

from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from daphne.access import AccessLogGenerator
from threadpoolctl import threadpool_info

from postcall import summary
from postcall.tests.test_summary import CALL, FakeGemini, gemini, no_backoff
from support import mongo
from voiceproject import lifecycle
from voiceproject.lifecycle import GIL_SWITCH_INTERVAL_S
from voiceproject.settings import BASE_DIR

__all__ = ["gemini", "no_backoff"]  # fixtures: the fake summary model, without its pauses


def test_a_page_being_rendered_gives_the_event_loop_the_gil_within_half_a_millisecond() -> None:
    importlib.import_module("voiceproject.asgi")

    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)
    assert GIL_SWITCH_INTERVAL_S <= 0.0005  # CPython's default, 5 ms, doubled a call's p99 gap


def test_numpys_matrix_products_stay_on_the_event_loops_thread() -> None:
    importlib.import_module("voiceproject.asgi")

    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)


# --- At shutdown ------------------------------------------------------------------------------


async def ended_call(call_id: str) -> None:
    ended = dt.datetime.now(dt.UTC)
    await mongo.async_db().calls.insert_one({
        **CALL, "call_id": call_id, "started_at": ended - dt.timedelta(minutes=2),
        "ended_at": ended,
    })  # fmt: skip


async def summary_of(call_id: str) -> Any:
    return ((await mongo.async_db().calls.find_one({"call_id": call_id})) or {}).get("summary")


@pytest.mark.django_db(transaction=True)
async def test_at_shutdown_a_summary_being_written_is_waited_for(
    gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Waited for, however long the summary takes on this machine (the SDK's first import
    # alone can take seconds on a busy one); the bound is the next test's.
    monkeypatch.setattr(lifecycle, "SUMMARIES_WAIT_S", 60)
    await ended_call("CALL-1")
    gemini.delay_s = 0.3
    summary.schedule("CALL-1")  # the last call of a draining process just ended

    await lifecycle.close_when_written()

    assert (await summary_of("CALL-1"))["source"] == "model"


@pytest.mark.django_db(transaction=True)
async def test_at_shutdown_a_call_whose_summary_is_too_slow_gets_the_account_from_its_tools(
    gemini: FakeGemini, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CALL_SUMMARY_TIMEOUT_S = 10
    monkeypatch.setattr(lifecycle, "SUMMARIES_WAIT_S", 0.3)
    await ended_call("CALL-1")
    gemini.delay_s = 1.5
    summary.schedule("CALL-1")

    await lifecycle.close_when_written()

    written = await summary_of("CALL-1")
    assert written["text"] == "Resolved with a refund: refunded ₹337.50 (100%) on ORD-1001."
    assert written["error"] == "the server stopped before the model answered"
    await summary.pending()  # nothing left running


# --- Log lines ----------------------------------------------------------------------------------


def log_from_a_fresh_process(**environment: str) -> list[str]:
    """stderr lines of a process that sets Django up and logs one warning through it."""
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('django.request').warning('Not Found: /nowhere')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "voiceproject.tests.settings", **environment},
    )  # fmt: skip
    return done.stderr.splitlines()


def test_with_debug_on_a_django_line_is_logged_once() -> None:
    lines = log_from_a_fresh_process(DEBUG="True")

    assert [line for line in lines if "Not Found: /nowhere" in line] == [
        line for line in lines if "WARNING django.request [-]: Not Found: /nowhere" in line
    ]
    assert len([line for line in lines if "Not Found: /nowhere" in line]) == 1


def test_with_json_logs_every_line_is_json() -> None:
    lines = log_from_a_fresh_process(DEBUG="True", LOG_FORMAT="json")

    assert [json.loads(line)["message"] for line in lines] == ["Not Found: /nowhere"]


def test_with_json_logs_daphnes_access_log_is_a_log_record(
    monkeypatch: pytest.MonkeyPatch, settings: Any,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setattr(AccessLogGenerator, "write_entry", AccessLogGenerator.write_entry)
    settings.LOG_FORMAT = "json"
    lifecycle.log_access_through_logging()
    request = {"client": "10.0.0.7:5123", "method": "GET", "path": "/healthz", "status": 200,
               "size": 42}  # fmt: skip

    with caplog.at_level(logging.INFO, logger="daphne.access"):
        AccessLogGenerator(sys.stdout)("http", "complete", request)
    to_file = io.StringIO()
    AccessLogGenerator(to_file)("http", "complete", request)  # --access-log FILE: as it was

    assert capsys.readouterr().out == ""
    assert [r.getMessage() for r in caplog.records if r.name == "daphne.access"] == [
        '10.0.0.7:5123 "GET /healthz" 200 42'
    ]
    assert '"GET /healthz" 200 42' in to_file.getvalue()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_daphnes_access_log_gives_the_path_without_the_session_token(log_format: str) -> None:
    """README supports `/?token=T` links: a token read in the log could be spent first."""
    from voiceproject.tests.live_server import DaphneServer

    with DaphneServer(env={"LOG_LEVEL": "INFO", "LOG_FORMAT": log_format}) as server:
        server.start()
        urllib.request.urlopen(f"{server.url}/?token=SESSION-SECRET&lang=en", timeout=5).read()
        deadline = time.monotonic() + 5
        while "GET /" not in server.output().replace("GET /healthz", "") and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
        output = server.output().replace('\\"', '"')  # a JSON line's quotes

    assert '"GET /" 200' in output, output
    assert "SESSION-SECRET" not in output and "lang=en" not in output, output
