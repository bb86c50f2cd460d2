"""The login throttle holds over a real daphne started with `--proxy-headers`, whatever a client
writes in X-Forwarded-For (issue 10, item 3): the account locks, and an address counts only as
far as TRUSTED_PROXY_COUNT proxies vouch for it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User

from voiceproject.tests.live_server import DaphneServer

LOGIN = "/admin/login/?next=/staff/"
PASSWORD = "correct horse battery staple"
LOCKED = "Too many failed login attempts"
WRONG = "Please enter the correct username and password"
ATTEMPTS = 40


@pytest.fixture(scope="module")
def servers(django_db_setup: Any) -> Iterator[dict[int, DaphneServer]]:
    """Two servers as the Dockerfile once ran them (`--proxy-headers`): with no trusted proxy,
    and with one (Cloud Run's front end, or a balancer)."""
    with (
        ThreadPoolExecutor(max_workers=2) as pool,
        DaphneServer(daphne_args=["--proxy-headers"]) as direct,
        DaphneServer(daphne_args=["--proxy-headers"], env={"TRUSTED_PROXY_COUNT": "1"}) as proxied,
    ):
        list(pool.map(DaphneServer.start, [direct, proxied]))
        yield {0: direct, 1: proxied}


@pytest.fixture
def staff(db: Any) -> None:
    for username in ("meera", "arjun"):
        User.objects.create_user(username, password=PASSWORD, is_staff=True)


class LoginPage:
    """The admin login form over HTTP, with the X-Forwarded-For a client chooses to send."""

    def __init__(self, server: DaphneServer) -> None:
        self.server = server
        self.session = requests.Session()
        page = self.session.get(server.url + LOGIN, timeout=10).text
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert match, page
        self.csrf = match.group(1)

    def post(self, username: str, password: str, forwarded_for: str) -> tuple[int, str]:
        response = self.session.post(
            self.server.url + LOGIN,
            data={"username": username, "password": password, "csrfmiddlewaretoken": self.csrf},
            headers={"X-Forwarded-For": forwarded_for},
            allow_redirects=False,
            timeout=10,
        )
        return response.status_code, response.text


def test_rotating_forwarded_for_neither_unlocks_the_account_nor_hides_the_address(
    servers: dict[int, DaphneServer], staff: None
) -> None:
    page = LoginPage(servers[0])

    answers = [page.post("meera", "wrong", f"203.0.113.{n}")[1] for n in range(ATTEMPTS)]

    assert all(WRONG in body for body in answers[:5])
    assert all(LOCKED in body for body in answers[5:])
    assert LOCKED in page.post("meera", PASSWORD, "192.0.2.200")[1]
    # No proxy is trusted: the 40 attempts all came from the socket's address, now locked.
    assert LOCKED in page.post("arjun", PASSWORD, "192.0.2.201")[1]


def test_behind_one_proxy_only_the_address_it_appended_counts(
    servers: dict[int, DaphneServer], staff: None
) -> None:
    page = LoginPage(servers[1])

    answers = [
        page.post("meera", "wrong", f"6.6.6.{n}, 198.51.100.7")[1] for n in range(ATTEMPTS)
    ]

    assert all(LOCKED in body for body in answers[5:])
    assert LOCKED in page.post("meera", PASSWORD, "198.51.100.8")[1]
    assert LOCKED in page.post("arjun", PASSWORD, "1.1.1.1, 198.51.100.7")[1]
    assert page.post("arjun", PASSWORD, "198.51.100.7, 198.51.100.8")[0] == 302
