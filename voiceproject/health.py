"""`GET /healthz` for load balancers: 200 when every check passes, else 503 naming it, or 503
"draining" once the process was told to stop (voiceproject/draining.py): a balancer then
sends it no new connection, while the ones it has carry on."""

from __future__ import annotations

import logging
from typing import Any

import pymongo
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from pymongo.errors import PyMongoError

from support import mongo
from voiceproject import draining

log = logging.getLogger(__name__)

SERVICE = "voice-agent-server"
DATABASE_TIMEOUT_S = 2.0


async def check_database() -> str:
    # The driver's own timeout, never a cancellation from outside: cancelling PyMongo
    # mid-operation during a database freeze can wedge its connection pool for good.
    try:
        with pymongo.timeout(DATABASE_TIMEOUT_S):
            await mongo.async_db().command("ping")
    except PyMongoError as error:
        log.warning("health check: database unreachable: %s", error)
        return "unreachable"
    return "ok"


@never_cache
@require_safe  # GET, and HEAD: balancers probe with either (the same answer, no body)
async def healthz(request: HttpRequest) -> JsonResponse:
    if draining.is_draining():
        response = JsonResponse(
            {"status": "draining", "service": SERVICE, "calls": len(draining.this_process)},
            status=503,
        )
        # Expected during every deploy, and said once already (voiceproject/lifecycle.py): not
        # an error for django.request to log at each of the balancer's checks.
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response
    checks = {"database": await check_database()}
    failing = [name for name, state in checks.items() if state != "ok"]
    body: dict[str, Any] = {
        "status": "ok" if not failing else "error",
        "service": SERVICE,
        "checks": checks,
    }
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)
