"""Contract section 1: PUBLIC_BASE_URL is the https origin the world reaches this server at.
Anything more than an origin is said at start-up, naming the variable and what is wrong, rather
than at the first phone call's 403 (voiceproject/checks.py, E020); the "/" people end it with
is taken off (voiceproject/settings.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import override_settings

from voiceproject.checks import check_configuration
from voiceproject.settings import BASE_DIR


def not_an_origin(url: str, debug: bool = True) -> list[str]:
    with override_settings(PUBLIC_BASE_URL=url, DEBUG=debug):
        return [m.msg for m in check_configuration() if m.id == "voiceproject.E020"]


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("https://support.example.com/app", "'/app' after the host"),
        ("https://support.example.com/app/", "'/app/' after the host"),
        ("https://voice.example.com/x", "'/x' after the host"),
        ("https://voice.example.com//", "'//' after the host"),
        ("https://voice.example.com?tenant=1", "'?tenant=1' after the host"),
        ("https://voice.example.com/?", "'/?' after the host"),
        ("https://voice.example.com#top", "'#top' after the host"),
        ("http://voice.example.com:8000/twilio", "'/twilio' after the host"),
    ],
)
@pytest.mark.parametrize("debug", [True, False])
def test_a_public_base_url_with_more_than_an_origin_is_an_error_that_says_what(
    url: str, what: str, debug: bool
) -> None:
    [error] = not_an_origin(url, debug)

    assert error.startswith(f"PUBLIC_BASE_URL {url!r} is not an origin: it has {what}")


def test_a_password_in_the_public_base_url_is_not_repeated() -> None:
    [error] = not_an_origin("https://twilio:hunter2-secret@voice.example.com")

    assert "hunter2-secret" not in error and "'https://***@voice.example.com'" in error
    assert "user name or password" in error


@pytest.mark.parametrize(
    "url",
    ["https://voice.example.com", "https://voice.example.com/", "https://voice.example.com:8443",
     "http://abcd-1234.ngrok-free.app"],
)  # fmt: skip
def test_an_origin_is_fine(url: str) -> None:
    assert not_an_origin(url) == []


@pytest.mark.parametrize("url", ["voice.example.com/app", "https:///app"])
def test_a_url_that_is_no_url_at_all_is_said_once(url: str) -> None:
    """voiceproject.E019 says it (no scheme, no host); this check adds nothing."""
    assert not_an_origin(url) == []


def manage(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DEBUG": "True", "MONGODB_URI": "mongodb://db.invalid", **environment},
    )  # fmt: skip


def test_a_public_base_url_with_a_path_stops_the_start_with_one_line_naming_it() -> None:
    checked = manage("check", PUBLIC_BASE_URL="https://support.example.com/app")

    assert checked.returncode == 1
    [line] = [line for line in checked.stderr.splitlines() if "PUBLIC_BASE_URL" in line]
    assert "(voiceproject.E020) PUBLIC_BASE_URL 'https://support.example.com/app' is not an " \
           "origin: it has '/app' after the host" in line


def test_a_public_base_url_ending_in_a_slash_is_the_origin() -> None:
    shown = manage(
        "shell", "-c", "from django.conf import settings; print(settings.PUBLIC_BASE_URL)",
        PUBLIC_BASE_URL="https://voice.example.com/",
    )

    assert shown.stdout.splitlines()[-1] == "https://voice.example.com", shown.stderr
