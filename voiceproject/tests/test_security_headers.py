"""Every page is served under a Content-Security-Policy (voiceproject/csp.py), and https
responses carry HSTS for a year by default in production."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

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
    script = f"from voiceproject import settings; print(getattr(settings, {name!r}, None))"
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


# --- behind the TLS proxy, cookies, caching, framing, errors ------------------------------------

OVER_TLS = {"X-Forwarded-Proto": "https"}  # what the proxy in front says (SECURE_PROXY_SSL_HEADER)
# What the production settings are with TRUSTED_PROXY_COUNT=1 (one proxy in front).
BEHIND_A_PROXY = {"TRUSTED_PROXY_COUNT": 1,
                  "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")}  # fmt: skip


@override_settings(**BEHIND_A_PROXY)
def test_behind_the_tls_proxy_https_gets_hsts_and_plain_http_is_sent_to_https(
    settings: Any,
) -> None:
    settings.SECURE_SSL_REDIRECT = True  # production's default; pytest.ini turns it off

    over_tls = Client().get("/staff/", headers=OVER_TLS)
    plain = Client().get("/staff/?page=2")
    forged = Client().get("/staff/", headers={"X-Forwarded-Proto": "http"})

    assert over_tls["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert over_tls.status_code == 302  # on to the login page, over https
    assert (plain.status_code, plain["Location"]) == (301, "https://testserver/staff/?page=2")
    assert "Strict-Transport-Security" not in plain  # browsers ignore it over http anyway
    assert forged.status_code == 301


def test_with_no_proxy_in_front_a_client_cannot_say_it_came_over_https() -> None:
    """With TRUSTED_PROXY_COUNT=0 nothing stands in front of daphne to set X-Forwarded-Proto:
    a client over plain http writing "https" would get past the redirect to https, and its
    pages would take it for https (Twilio's signed URL, the staff sockets' origin)."""
    https = "('HTTP_X_FORWARDED_PROTO', 'https')"

    assert production_setting("SECURE_PROXY_SSL_HEADER", TRUSTED_PROXY_COUNT="0") == "None"
    assert production_setting("SECURE_PROXY_SSL_HEADER", TRUSTED_PROXY_COUNT="1") == https
    assert production_setting("SECURE_PROXY_SSL_HEADER", TRUSTED_PROXY_COUNT="2") == https


def test_the_session_and_csrf_cookies_are_secure_and_same_site() -> None:
    User.objects.create_user("meera", password="a long enough password 42", is_staff=True)
    browser = Client()

    browser.get("/admin/login/", headers=OVER_TLS)
    browser.post("/admin/login/", {"username": "meera", "password": "a long enough password 42"},
                 headers=OVER_TLS)  # fmt: skip

    session, csrf = browser.cookies["sessionid"], browser.cookies["csrftoken"]
    assert (session["secure"], session["httponly"], session["samesite"]) == (True, True, "Lax")
    assert (csrf["secure"], csrf["samesite"]) == (True, "Lax")


@pytest.mark.parametrize("path", [
    "/staff/", "/staff/queue/", "/staff/calls/", "/staff/export/calls.csv", "/staff/live/",
    "/staff/callbacks/", "/admin/", "/admin/support/customer/", "/admin/login/",
])  # fmt: skip
def test_back_office_pages_are_never_cached_nor_framed(path: str) -> None:
    root = User.objects.create_superuser("root", "root@example.com", "not-used")
    browser = Client()
    if path != "/admin/login/":  # which sends whoever is signed in on
        browser.force_login(root)

    response = browser.get(path)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert response["X-Frame-Options"] == "DENY"
    assert directives(response)["frame-ancestors"] == "'none'"


def test_a_failure_in_a_page_shows_no_stack_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    from support.staff.views import dashboard

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals: mongodb://admin:hunter2@db")

    monkeypatch.setattr(dashboard, "figures", broken)
    root = User.objects.create_superuser("root", "root@example.com", "not-used")
    browser = Client(raise_request_exception=False)
    browser.force_login(root)

    response = browser.get("/staff/")

    body = response.content.decode()
    assert response.status_code == 500
    assert "hunter2" not in body and "Traceback" not in body and "RuntimeError" not in body
