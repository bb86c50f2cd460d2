"""A bound on each page's database time: with the database frozen, a page answers 503 within
PAGE_DB_TIMEOUT_S of its request, not when the database comes back.

Django's MongoClient has no timeout of its own, on purpose: management commands, migrations
and imports must run as long as they need; a page, though, would wait on a frozen database as
long as it stays frozen, holding its request's thread (Django runs each request's synchronous
code in a thread of its own, asgiref's per-request ThreadSensitiveContext) and the colleague
in front of it. So the bound is PyMongo's client-side operation timeout, `pymongo.timeout()`,
set around each request. It lives in a contextvar, which asgiref copies into the thread the
view runs in, and its deadline counts from the request's arrival. The driver ends the
operation itself; nothing cancels it from outside (which wedged PyMongo's pool: realtime's
freeze tests).

Async views (/healthz, the voice path's APIs) are left alone: they hold no shared thread and
bound their own operations. WebSockets never pass through Django's middleware. A streamed
response (CSV exports, recordings) reads after the view returned, each read bounded by
voiceproject/streaming.py.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import pymongo
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import Resolver404, resolve
from pymongo.errors import ConnectionFailure, PyMongoError

from support.mongo import failure_line

log = logging.getLogger(__name__)

# A freeze that outlasts the bound usually ends within seconds (a failover, a stalled disk).
RETRY_AFTER_S = 10
UNAVAILABLE_STYLESHEET = "pages/unavailable.css"

GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]
AsyncView = TypeVar("AsyncView", bound=Callable[..., Coroutine[Any, Any, HttpResponseBase]])


def page_bound() -> AbstractContextManager[None]:
    """PyMongo's operation timeout for one page; every operation inside shares its deadline."""
    return pymongo.timeout(settings.PAGE_DB_TIMEOUT_S)


def bounded_page(view: AsyncView) -> AsyncView:
    """An async view whose database work is bounded as a sync page's is: its own operations,
    and its hops into sync code (the signed-in user, permissions). Outermost, so that the
    checks of the decorators below count too. Not for a view that waits on something else
    first (the deadline counts from the call)."""

    @functools.wraps(view)
    async def within_bound(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        with page_bound():
            return await view(request, *args, **kwargs)

    return within_bound  # type: ignore[return-value]  # functools.wraps keeps its signature


def _view_is_async(path_info: str) -> bool:
    try:
        return iscoroutinefunction(resolve(path_info).func)
    except Resolver404:  # Django's 404 page, served in the shared thread like any sync view
        return False


def _bound_for(request: HttpRequest) -> AbstractContextManager[None]:
    return contextlib.nullcontext() if _view_is_async(request.path_info) else page_bound()


def database_unavailable(error: BaseException) -> PyMongoError | None:
    """The PyMongoError behind `error` when it means the database did not answer (no
    connection, a timeout), else None. The ORM raises Django's DatabaseError from it; any other
    refusal (a duplicate key, a bad query) is a bug, left to be a 500 with its traceback."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, PyMongoError):
            return cause if isinstance(cause, ConnectionFailure) or cause.timeout else None
        cause = cause.__cause__
    return None


def unavailable_page() -> HttpResponse:
    """The 503 page: plain, with nothing on it that needs the database (no request context),
    and a stylesheet that needs nothing else."""
    response = HttpResponse(render_to_string("503.html", {"stylesheet": _stylesheet()}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    # Logged once, by the middleware with the reason; not again by Django as "Service
    # Unavailable" (django.utils.log.log_response skips a response marked so).
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _stylesheet() -> str | None:
    """The 503 page's stylesheet's address, or None when the static files cannot name it (a
    manifest without it, after a deploy that skipped collectstatic): the page is then plain,
    never an error of its own."""
    try:
        return static(UNAVAILABLE_STYLESHEET)
    except ValueError:
        log.warning(
            "the 503 page goes unstyled: %s is not in the static files", UNAVAILABLE_STYLESHEET
        )
        return None


class PageDatabaseTimeoutMiddleware:
    """Runs each request to a sync view inside `page_bound()`, and answers a view's database
    failing to answer with `unavailable_page()`. Sits above the session middleware, so that the
    session's read and write count in the bound."""

    sync_capable = True
    # Async-capable: a sync-only middleware would put every request, /healthz's included,
    # through the shared thread.
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        with _bound_for(request):
            return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        with _bound_for(request):
            return await self.get_response(request)  # type: ignore[misc]

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        error = database_unavailable(exception)
        if error is None:
            return None
        log.warning("%s %s answered 503: %s", request.method, request.path, failure_line(error))
        return unavailable_page()
