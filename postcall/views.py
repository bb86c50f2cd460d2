"""Thin views: /metrics for operators, a call's recording for staff, re-running a summary."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.cache import cache
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST, require_safe

from postcall import metrics, store, summary
from postcall.access import DOWNLOAD_RECORDINGS, metrics_allowed
from support import mongo
from support.staff.access import VIEW_CALLS, require_perm
from voiceproject.messaging import REDIS_AWAY
from voiceproject.numbers import digits_up_to
from voiceproject.page_timeout import bounded_page
from voiceproject.proxies import direct_peer
from voiceproject.streaming import streamed

log = logging.getLogger(__name__)

# ASCII digits, as HTTP writes them; its unit in any case (RFC 9110 14.1).
RANGE = re.compile(r"^[Bb][Yy][Tt][Ee][Ss]=([0-9]*)-([0-9]*)$")
PAST_ANY_END = 10**18  # a byte position past the end of any recording, however long its digits


@csrf_exempt  # read-only: anything but GET is 405, not a CSRF refusal
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    # The client as the proxies vouch for it; or, asked straight (a scraper reaching each
    # worker itself, over plain http), the address that connected. Never the peer of a
    # request through a proxy: that is the proxy, inside the network, whoever sent it.
    client = request.META.get("REMOTE_ADDR") or direct_peer(request) or ""
    allowed = metrics_allowed(
        request.headers.get("Authorization", ""),
        client,
        token=settings.METRICS_TOKEN,
        networks=settings.METRICS_ALLOWED_NETWORKS,
    )
    if allowed is None:
        raise Http404("Metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS.")
    if not allowed:
        refused = HttpResponse("A valid bearer token is needed.\n", status=401)
        refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)


@never_cache
@staff_member_required
@require_safe
def recording(request: HttpRequest, call_id: str, part: int = 1) -> HttpResponseBase:
    """Part `part` of the call's recording (Ogg Opus; most calls have one part), with byte
    ranges so a player can seek. HEAD is answered as GET is, without the bytes (a player or
    a download manager asks it for the length first)."""
    require_perm(request, VIEW_CALLS)  # the call itself, then its recording
    require_perm(request, DOWNLOAD_RECORDINGS)
    found = store.recording_part(call_id, part)
    if found is None:
        raise Http404("This call has no recording.")
    size = found.length  # of a call in progress: as far as it goes now
    match = RANGE.match(request.headers.get("Range", ""))
    groups = match.groups() if match else ("", "")
    start, end = (digits_up_to(group, PAST_ANY_END) for group in groups)
    # A range not as HTTP writes one (no digits, letters, its last byte before its first) is
    # no range: the whole recording (RFC 9110, 14.1.1 and 14.2).
    if match is None or (not match[1] and not match[2]) or (match[1] and match[2] and start > end):
        response = _audio(request, found.read, 200)
        response["Content-Length"] = str(size)
    else:
        first = start if match[1] else max(0, size - end)  # bytes=-N: the last N bytes
        last = min(size - 1, end) if match[1] and match[2] else size - 1
        if first > last:
            refused = HttpResponse(status=416)
            refused["Content-Range"] = f"bytes */{size}"
            return refused
        response = _audio(request, lambda: found.read(first, last + 1), 206)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    name = call_id if part == 1 else f"{call_id}-part{part}"
    response["Content-Disposition"] = f'inline; filename="{name}.ogg"'
    return response


def _audio(
    request: HttpRequest, read: Callable[[], Iterator[bytes]], status: int
) -> HttpResponseBase:
    """The recording's bytes that `read` gives, streamed; none for HEAD (nor read at all:
    the headers the caller sets say what GET would send)."""
    if request.method == "HEAD":
        return HttpResponse(status=status, content_type=store.CONTENT_TYPE)
    return StreamingHttpResponse(streamed(read()), status=status, content_type=store.CONTENT_TYPE)


RERUN_EVERY_S = 60


@bounded_page
@never_cache
@staff_member_required
@require_POST
async def rerun_summary(request: HttpRequest, call_id: str) -> HttpResponseRedirect:
    """Summarize the call again in the background, on the server's event loop (never in this
    request), and go back to the call page, which says so."""
    await sync_to_async(require_perm)(request, VIEW_CALLS)
    call = await mongo.async_db().calls.find_one(
        {"call_id": call_id, "ended_at": {"$ne": None}}, {"_id": 0, "summary": 1}
    )
    if call is None:
        raise Http404("No such ended call.")
    # As the call page offers it: with a model, or to write a missing summary's stand-in.
    if not summary.configured():
        if call.get("summary"):
            messages.error(request, "No summary model is configured: the summary stays.")
            return redirect("staff:call", call_id)
    # Each run is a paid model request: one a minute per call, however often it is asked.
    elif not await _first_this_minute(call_id):
        messages.warning(request, "This call was summarised again moments ago; try later.")
        return redirect("staff:call", call_id)
    summary.schedule(call_id)
    if summary.configured():
        messages.info(request, "A new summary is being written: it shows here within a minute "
                               "(reload the page).")  # fmt: skip
    else:  # nothing new: the one-line account already on the page is stored as the summary
        # A warning, not info: the admin's look draws info as a success (green, a tick), and
        # nothing was summarised.
        messages.warning(request, "No summary model is configured: the account of what the "
                                  "agent's tools did is kept as this call's summary.")  # fmt: skip
    return redirect("staff:call", call_id)


async def _first_this_minute(call_id: str) -> bool:
    """Whether this is the first run asked for the call within RERUN_EVERY_S. True while the
    cache (Redis) is away: nothing is counted then, as for the other limits, and runs asked at
    once still ask the model once (the summary's claim on the call, postcall/summary.py)."""
    try:
        return await cache.aadd(f"summary-rerun:{call_id}", True, RERUN_EVERY_S)
    except REDIS_AWAY as error:
        log.warning("call %s: summarised again uncounted, the cache is unavailable: %r",
                    call_id, error)  # fmt: skip
        return True
