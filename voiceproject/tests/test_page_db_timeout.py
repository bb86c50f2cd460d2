"""Each page's database time is bounded (voiceproject/page_timeout.py): with the database
frozen, pages answer a short 503 within PAGE_DB_TIMEOUT_S instead of holding the one thread
every sync page of a process shares, and work again once it is back.

The suite's own embedded database is frozen with SIGSTOP for a few seconds, as
realtime/tests/test_database_freeze.py freezes one of its own, so that the pages run on the
ORM and sessions they use in production.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory, override_settings
from pymongo import _csot  # the operation timeout in effect: what pymongo.timeout() sets
from pymongo.errors import DuplicateKeyError, NetworkTimeout, PyMongoError

from realtime.tests.test_database_freeze import freeze
from support.mongo import sync_db
from voiceproject.checks import check_configuration
from voiceproject.page_timeout import PageDatabaseTimeoutMiddleware, database_unavailable
from voiceproject.streaming import streamed
from voiceproject.tests.asgi_client import served

BOUND_S = 1.0
FREEZE_S = 4.0
RECOVERY_BOUND_S = 5.0


@pytest.fixture
def page_bound(settings: Any) -> float:
    settings.PAGE_DB_TIMEOUT_S = BOUND_S
    return BOUND_S


@pytest.fixture
def kavya(db: Any) -> Client:
    """Kavya, a support lead signed in to the back office."""
    client = Client()
    client.force_login(User.objects.create_superuser("kavya", "kavya@example.com", "pw-kavya"))
    return client


@pytest.fixture
def database_pid() -> int:
    """The suite's embedded database (conftest.py); a real MongoDB is not ours to freeze."""
    embedded = getattr(sys.modules.get("conftest"), "_embedded", None)
    if embedded is None or embedded.process is None:
        pytest.skip("runs against the embedded database only")
    return int(embedded.process.pid)


@pytest.fixture
async def frozen(database_pid: int) -> AsyncIterator[int]:
    """The database frozen now and resumed FREEZE_S later (or at the test's end if sooner)."""
    await freeze(database_pid)
    started = time.monotonic()
    try:
        yield database_pid
    finally:
        await asyncio.sleep(max(0.0, FREEZE_S - (time.monotonic() - started)))
        os.kill(database_pid, signal.SIGCONT)


async def timed_get(client: Client, path: str) -> tuple[float, int, dict[str, str], str]:
    """Seconds GET `path` took through Django's ASGI handler, its status, headers and body."""
    started = time.monotonic()
    sent = await served(client, path)
    headers = {k.decode().lower(): v.decode() for k, v in sent[0].get("headers", [])}
    body = b"".join(part.get("body", b"") for part in sent[1:]).decode()
    return time.monotonic() - started, sent[0]["status"], headers, body


async def answers_normally(client: Client, path: str) -> None:
    await timed_get(client, path)  # the session and pool are warm: what a freeze interrupts
    assert (await timed_get(client, path))[1] == 200


@pytest.mark.django_db
async def test_staff_pages_answer_503_within_the_bound_and_do_not_hold_each_other(
    kavya: Client, page_bound: float, database_pid: int, caplog: pytest.LogCaptureFixture
) -> None:
    await answers_normally(kavya, "/staff/")
    await answers_normally(kavya, "/admin/")
    await freeze(database_pid)
    try:
        # Both sync pages run in the process's one thread for sync code: the second waits for
        # the first, and must not wait out the freeze.
        (dashboard, admin) = await asyncio.gather(
            timed_get(kavya, "/staff/"), timed_get(kavya, "/admin/")
        )
    finally:
        await asyncio.sleep(max(0.0, FREEZE_S - BOUND_S * 2))
        os.kill(database_pid, signal.SIGCONT)

    for elapsed, status, headers, body in (dashboard, admin):
        assert status == 503
        # The second one's bound counts from its arrival: it gives up as soon as it runs. The
        # database stays frozen until both answered, so a page without a bound never would:
        # three times the two bounds is room for a loaded CI machine.
        assert elapsed < BOUND_S * 2 * 3
        assert headers["retry-after"] == "10"
        assert "Our records are not answering right now. Try again in a moment." in body
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert sorted(r.getMessage().split(":")[0] for r in said) == [
        "GET /admin/ answered 503", "GET /staff/ answered 503"
    ]
    assert not any(r.exc_info for r in said)  # a line each, no traceback


@pytest.mark.django_db
async def test_pages_work_again_once_the_database_is_back(
    kavya: Client, page_bound: float, database_pid: int
) -> None:
    await answers_normally(kavya, "/staff/")
    await freeze(database_pid)
    try:
        _, status, _, _ = await timed_get(kavya, "/staff/")
    finally:
        os.kill(database_pid, signal.SIGCONT)
    assert status == 503

    started = time.monotonic()
    while (await timed_get(kavya, "/staff/"))[1] != 200:
        assert time.monotonic() - started < RECOVERY_BOUND_S, "pages not back after the freeze"
        await asyncio.sleep(0.1)


@pytest.mark.django_db
async def test_a_download_under_way_stops_within_the_bound(
    page_bound: float, frozen: int
) -> None:
    """A streamed export reads after its view returned, outside the view's bound."""

    def rows() -> Iterator[str]:
        yield "first line\n"
        yield str(sync_db().calls.find_one({}))

    started = time.monotonic()
    with pytest.raises(PyMongoError):
        async for _ in streamed(rows()):
            pass
    assert time.monotonic() - started < BOUND_S * 3 < FREEZE_S  # room for a loaded machine


def _timeout_in_view_thread() -> tuple[float | None, str]:
    return _csot.get_timeout(), threading.current_thread().name


async def bound_seen_by_view(path: str) -> float | None:
    """The operation timeout a sync view of `path` sees in the thread Django runs it in."""
    seen: list[float | None] = []

    def view(request: HttpRequest) -> HttpResponse:
        timeout, thread = _timeout_in_view_thread()
        assert thread != threading.main_thread().name
        seen.append(timeout)
        return HttpResponse()

    async def get_response(request: HttpRequest) -> HttpResponse:
        # What Django's ASGI handler does with a sync view.
        return await sync_to_async(view, thread_sensitive=True)(request)

    await PageDatabaseTimeoutMiddleware(get_response)(RequestFactory().get(path))  # type: ignore[misc]
    return seen[0]


async def test_the_bound_reaches_the_thread_sync_views_run_in(page_bound: float) -> None:
    assert await bound_seen_by_view("/staff/") == BOUND_S


async def test_async_views_such_as_healthz_are_not_bounded(page_bound: float) -> None:
    assert await bound_seen_by_view("/healthz") is None


async def test_no_bound_outside_requests(page_bound: float) -> None:
    """Management commands, migrations and imports run as long as they need: the bound is
    set for a request only, and gone from both threads once it is answered."""
    await bound_seen_by_view("/staff/")

    assert _csot.get_timeout() is None
    assert (await sync_to_async(_timeout_in_view_thread, thread_sensitive=True)())[0] is None


def test_only_a_database_that_does_not_answer_is_a_503() -> None:
    timeout = NetworkTimeout("timed out")
    try:
        raise DatabaseError from timeout  # as django-mongodb-backend raises it
    except DatabaseError as orm_error:
        assert database_unavailable(orm_error) is timeout
    assert database_unavailable(DuplicateKeyError("E11000")) is None  # a bug: a 500
    assert database_unavailable(ValueError()) is None


@pytest.mark.parametrize("value", [0, -1, 1e11])
def test_a_page_bound_of_no_time_or_for_ever_is_an_error(value: float) -> None:
    with override_settings(PAGE_DB_TIMEOUT_S=value):
        (error,) = [m for m in check_configuration() if m.id == "voiceproject.E016"]
    assert error.msg.startswith(f"PAGE_DB_TIMEOUT_S is {value}:")


async def test_async_views_that_reach_the_shared_thread_are_bounded_too(
    page_bound: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Summarise again checks the staff member's permission in the shared thread: stuck on a
    frozen database, it would hold every sync page of the process."""
    from postcall import views as postcall_views

    seen: list[float | None] = []

    def require_perm(request: HttpRequest, permission: str) -> None:
        seen.append(_timeout_in_view_thread()[0])
        raise PermissionError  # enough: the check ran where the view runs it

    monkeypatch.setattr(postcall_views, "require_perm", require_perm)
    request = RequestFactory().post("/staff/calls/CALL-1/summary")
    lead = User(username="lead", is_staff=True, is_active=True)

    async def signed_in() -> User:
        return lead

    request.user, request.auser = lead, signed_in
    with pytest.raises(PermissionError):
        await postcall_views.rerun_summary(request, "CALL-1")

    assert seen and seen[0] is not None and 0 < seen[0] <= BOUND_S
