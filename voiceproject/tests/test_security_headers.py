"""Every page is served under a Content-Security-Policy (voiceproject/csp.py), and https
responses carry HSTS for a year by default in production."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from voiceproject.tests.live_server import BASE_DIR

pytestmark = pytest.mark.django_db


def directives(response: object) -> dict[str, str]:
    header = response["Content-Security-Policy"]  # type: ignore[index]
    pairs = (part.strip().split(" ", 1) for part in header.split(";"))
    return {name: value for name, value in pairs}


def test_the_voice_page_allows_its_own_scripts_and_websockets_to_this_host() -> None:
    response = Client().get("/", HTTP_HOST="localhost")

    policy = directives(response)
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self' ws://localhost wss://localhost"
    assert policy["media-src"] == "'self' blob:"
    assert policy["frame-ancestors"] == "'none'"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Permissions-Policy"] == "microphone=(self), camera=(), geolocation=()"


@pytest.mark.parametrize("path", ["/admin/login/", "/staff/", "/healthz", "/no-such-page"])
def test_every_other_response_gets_the_site_policy(path: str) -> None:
    response = Client().get(path)

    policy = directives(response)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "Permissions-Policy" not in response
    assert response["Referrer-Policy"] == "same-origin"


def test_the_back_office_is_served_under_the_site_policy_once_signed_in() -> None:
    staff = User.objects.create_user("meera", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)

    policy = directives(client.get("/admin/"))

    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self' ws://testserver wss://testserver"


@override_settings(DEBUG=True)
def test_django_s_debug_error_pages_keep_their_inline_styles() -> None:
    response = Client().get("/no-such-page")

    assert response.status_code == 404 and "Content-Security-Policy" not in response


def test_https_responses_ask_for_https_for_a_year_subdomains_included() -> None:
    response = Client().get("/healthz", secure=True)

    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def production_setting(name: str, **env: str) -> str:
    """A setting as the production settings read it from this environment."""
    script = f"from voiceproject import settings; print(settings.{name})"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR, env={**os.environ, "DEBUG": "False", **env},
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return result.stdout.strip()


def test_hsts_is_configurable() -> None:
    assert production_setting("SECURE_HSTS_SECONDS", SECURE_HSTS_SECONDS="600") == "600"
    assert (
        production_setting("SECURE_HSTS_INCLUDE_SUBDOMAINS", SECURE_HSTS_INCLUDE_SUBDOMAINS="no")
        == "False"
    )
