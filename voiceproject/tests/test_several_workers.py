"""Two real daphne workers sharing the test database and a real Redis: what one process does,
the other sees (the escalation queue, the login throttle, the guesses at the minting key)."""

from __future__ import annotations

import asyncio
import http.cookiejar
import importlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.test import Client
from websockets.asyncio.client import ClientConnection, connect

from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.views import GUESSES
from support.models import Customer, Escalation
from support.staff import throttle
from voiceproject.tests.live_server import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)  # the workers read the test database

StartWorkers = Callable[..., list[DaphneServer]]
PASSWORD = "correct horse battery staple"
_groups_migration = importlib.import_module("support.migrations.0003_staff_groups")


def support_agent(username: str) -> User:
    _groups_migration.create_staff_groups(apps, None)
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=_groups_migration.AGENT))
    return user


async def open_staff_queue(worker: DaphneServer, user: User) -> ClientConnection:
    # Signed-cookie sessions minted here are good on the workers: they share SECRET_KEY.
    cookie = await asyncio.to_thread(_session_cookie, user)
    return await connect(
        f"ws://127.0.0.1:{worker.port}/ws/staff/queue",
        additional_headers={"Origin": worker.url, "Cookie": f"sessionid={cookie}"},
    )


def _session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def test_a_staff_queue_on_one_worker_hears_an_escalation_raised_by_a_call_on_the_other(
    daphne_workers: StartWorkers,
) -> None:
    await Customer.objects.acreate(user_id=101, name="Asha Verma", phone="+919800000101")
    meera = await asyncio.to_thread(support_agent, "meera")
    async with FakeLiveServer() as live:

        @live.on_session
        async def asks_for_a_person(session: FakeSession) -> None:
            await session.wait_for_text(timeout=10)
            await session.send_tool_call(
                [{"name": "escalate_to_human",
                  "args": {"reason": "Wants a person", "priority": "high"}}]
            )  # fmt: skip
            await session.wait_for_tool_response()

        worker_a, worker_b = await asyncio.to_thread(daphne_workers, 2, gemini_live_url=live.url)
        queue = await open_staff_queue(worker_b, meera)
        call = await connect(
            f"ws://127.0.0.1:{worker_a.port}/ws/voice?user_id=101",
            additional_headers={"Origin": worker_a.url},
        )
        ready = await next_event(call, "ready")
        await call.send(json.dumps({"type": "text", "text": "I want to talk to a person"}))

        announced = json.loads(await asyncio.wait_for(queue.recv(), 10))
        await call.close()
        await queue.close()

    ticket = await Escalation.objects.aget(ticket_id=announced["ticket"]["ticket_id"])
    assert announced["type"] == "escalation"
    assert announced["ticket"]["priority"] == "high" and announced["ticket"]["user_id"] == 101
    assert announced["ticket"]["call_id"] == ready["call_id"] == ticket.call_id


async def next_event(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            message = await ws.recv()
            if isinstance(message, str) and (event := json.loads(message))["type"] == kind:
                return dict(event)


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 302 is the answer we want to see, not to follow


class LoginPage:
    """The staff login form on one worker, posted as a browser would (CSRF cookie and field)."""

    def __init__(self, worker: DaphneServer, cookies: http.cookiejar.CookieJar) -> None:
        self.url = f"{worker.url}/admin/login/?next=/staff/"
        self.browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(cookies), _KeepRedirects()
        )

    def sign_in(self, username: str, password: str) -> tuple[int, str]:
        with self.browser.open(self.url, timeout=10) as form:
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.read().decode())
        assert token is not None
        fields = {"username": username, "password": password, "csrfmiddlewaretoken": token[1]}
        try:
            with self.browser.open(self.url, urllib.parse.urlencode(fields).encode(), 10) as page:
                return page.status, page.read().decode()
        except urllib.error.HTTPError as answer:  # the 302 of a successful login
            return answer.code, ""


def test_failed_logins_count_across_workers(daphne_workers: StartWorkers) -> None:
    support_agent("meera")
    worker_a, worker_b = daphne_workers(2)
    cookies = http.cookiejar.CookieJar()
    pages = [LoginPage(worker_a, cookies), LoginPage(worker_b, cookies)]

    # Alternately on each worker, as a balancer would spread them: with per-process counting
    # neither would have seen enough failures to lock the account.
    for attempt in range(throttle.ACCOUNT_FAILURE_LIMIT):
        status, body = pages[attempt % 2].sign_in("meera", "wrong password")
        assert status == 200 and throttle.LOCKED_MESSAGE not in body

    for page in pages:
        status, body = page.sign_in("meera", PASSWORD)
        assert status == 200 and throttle.LOCKED_MESSAGE in body


def test_guesses_at_the_minting_key_count_across_workers(daphne_workers: StartWorkers) -> None:
    Customer.objects.create(user_id=7, name="Asha Rao", phone="+919800000007")
    key = "host-application-key-0123456789abcdef"
    workers = daphne_workers(2, env={"VOICE_API_KEY": key, "VOICE_DEMO_MODE": "False"})

    def mint(worker: DaphneServer, bearer: str) -> int:
        request = urllib.request.Request(
            f"{worker.url}/api/voice/sessions", data=b'{"user_id": 7}', method="POST",
            headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return refused.code

    # Spread over both, as a balancer would: each worker alone sees half the guesses.
    guesses = [mint(workers[n % 2], f"guess-{n}") for n in range(GUESSES.times)]

    assert guesses == [401] * GUESSES.times
    assert [mint(worker, key) for worker in workers] == [429, 429]
