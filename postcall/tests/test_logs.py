"""The operators' logs: which levels reach them (LOG_LEVEL), and what is logged as an error."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.test import Client, override_settings

from postcall import logs

BASE_DIR = Path(__file__).resolve().parents[2]

LOGGING_SOME_OF_EACH = """
import django, logging
django.setup()
logging.getLogger("django.request").warning("Not Found: /nowhere")
logging.getLogger("pymongo.topology").warning("a server was slow to answer")
logging.getLogger("django.security.DisallowedHost").error("Invalid HTTP_HOST header: 'x'")
logging.getLogger("realtime.call_session").warning("call C-1: the model stalled")
logging.getLogger("realtime.call_session").error("call C-1: task live failed")
"""


def logged_by_a_fresh_process(**environment: str) -> list[str]:
    """stderr lines of a process that sets Django up and logs LOGGING_SOME_OF_EACH."""
    done = subprocess.run(
        [sys.executable, "-c", LOGGING_SOME_OF_EACH], cwd=BASE_DIR, capture_output=True,
        text=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "voiceproject.tests.settings", **environment},
    )  # fmt: skip
    return done.stderr.splitlines()


def test_log_level_error_logs_errors_alone_whichever_library_logs() -> None:
    """Django's loggers were at INFO and the drivers' at WARNING whatever LOG_LEVEL said:
    an operator who asked for errors alone got every 404 and every slow Mongo server."""
    lines = logged_by_a_fresh_process(LOG_LEVEL="ERROR")

    assert [line.split(" ", 2)[2] for line in lines] == [
        "ERROR realtime.call_session [-]: call C-1: task live failed"
    ]


def test_log_level_info_still_logs_every_warning() -> None:
    lines = logged_by_a_fresh_process(LOG_LEVEL="INFO")

    assert len(lines) == 5


@contextmanager
def console_output() -> Iterator[io.StringIO]:
    """What the server's log handler (settings.LOGGING's "console") writes meanwhile."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    assert isinstance(handler, logging.StreamHandler)
    written = io.StringIO()
    previous = handler.setStream(written)
    # Outside any call, whatever call an earlier test in this process left in the context.
    outside = logs.call_id.set(None)
    try:
        yield written
    finally:
        logs.call_id.reset(outside)
        handler.setStream(previous)


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["voice.example.com"])
def test_a_request_for_a_host_not_served_is_a_warning_without_a_traceback() -> None:
    """Scanners ask any address for any host, all day: each was an ERROR (which pages) with
    Django's traceback over a dozen lines, for a 400 that is the client's doing."""
    with console_output() as written:
        response = Client(HTTP_HOST="scanner.example").get("/metrics")

    assert response.status_code == 400
    assert [line.split(" ", 2)[2] for line in written.getvalue().splitlines()] == [
        "WARNING django.security.DisallowedHost [-]: Invalid HTTP_HOST header: "
        "'scanner.example'. You may need to add 'scanner.example' to ALLOWED_HOSTS."
    ]
