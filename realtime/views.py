"""HTTP side of the voice bridge: minting session tokens for `/ws/voice`.

Three authorities may mint (contract section 2): a host application's bearer VOICE_API_KEY,
a staff member holding `realtime.mint_voice_token` (audited: `realtime.models.VoiceTokenMint`),
and demo mode.

Anyone on the internet can reach it, so per client address (voiceproject/rate_limits.py, the
address the trusted proxies vouch for): GUESSES refused attempts (a wrong key, no key) lock the
address out for the rest of the window, the right key included, so a key cannot be guessed;
and MINTS tokens a minute on a staff member's or demo mode's authority. A host application's
server mints for all its customers from one address, so its key is not limited.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from realtime import tokens, wire
from realtime.models import MINT_PERMISSION, VoiceTokenMint
from support.models import Customer
from voiceproject import rate_limits
from voiceproject.bearer import bearer_matches
from voiceproject.page_timeout import bounded_page

MAX_BODY_BYTES = 1_024  # {"user_id": N} and room to spare
GUESSES = rate_limits.Limit("mint-refused", times=20, per_s=15 * 60)
MINTS = rate_limits.Limit("mint", times=30, per_s=60)


def _bearer_key_matches(request: HttpRequest) -> bool:
    return bearer_matches(request.headers.get("Authorization", ""), settings.VOICE_API_KEY)


class MintRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _minting_staff(request: HttpRequest) -> Any | None:
    """The staff member minting on their own authority (to be audited), or None in demo mode.
    Raises MintRefused when nobody may mint (a host application's key is checked before)."""
    user = await request.auser()
    # django-stubs misses auth installed as MongoAuthConfig (see pyproject.toml).
    staff = bool(user.is_active and user.is_staff)  # type: ignore[attr-defined]
    forged = staff and not _csrf_passes(request)
    if staff and not forged and await user.ahas_perm(MINT_PERMISSION):  # type: ignore[union-attr]
        return user
    if settings.VOICE_DEMO_MODE:
        return None
    if forged:
        raise MintRefused(403, "A staff member mints from a page of this site, with its CSRF "
                               "token (or a host application with its bearer key).")  # fmt: skip
    if staff:
        raise MintRefused(403, "Your staff account may not mint voice tokens; ask a support lead.")
    raise MintRefused(401, "A bearer VOICE_API_KEY or a staff login is required.")


async def _audit(request: HttpRequest, staff: Any, user_id: int, customer_name: str) -> None:
    await VoiceTokenMint.objects.acreate(
        staff_username=staff.get_username(),
        staff_name=staff.get_full_name(),
        user_id=user_id,
        customer_name=customer_name,
        address=request.META.get("REMOTE_ADDR") or None,
    )


def _csrf_passes(request: HttpRequest) -> bool:
    """Whether the request carries the CSRF token (and Origin) Django asks of a form's POST.
    The view is exempt for host applications' server-to-server calls, but the session cookie
    goes along with any page's POST of the same site (a sibling subdomain, or any site where
    SameSite is not honoured): without this, such a page mints in a lead's name, audited as
    theirs, and spends their address's MINTS."""
    request.body  # noqa: B018  # read first: a multipart POST parsed below would consume it
    # Checked as for a view that is not exempt: `_not_exempt`, not this module's own view.
    check = CsrfViewMiddleware(_not_exempt)
    return check.process_view(request, _not_exempt, (), {}) is None


def _not_exempt(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _too_many(limit: rate_limits.Limit) -> JsonResponse:
    response = _error(429, "Too many requests from this address; try again later.")
    response["Retry-After"] = str(limit.per_s)  # at most: the window started at its first use
    return response


# CSRF-exempt because host applications call it server to server with a bearer key; a
# staff session is believed only with the CSRF token (_csrf_passes). Never cached: the answer
# is a bearer credential (RFC 6749 5.1 asks the same of token answers).
@bounded_page
@csrf_exempt
@never_cache
@require_POST
async def create_voice_session(request: HttpRequest) -> JsonResponse:
    address = request.META.get("REMOTE_ADDR") or None  # as voiceproject/proxies.py vouches
    if await rate_limits.over(GUESSES, address):
        return _too_many(GUESSES)
    host_application = _bearer_key_matches(request)
    try:
        staff = None if host_application else await _minting_staff(request)
    except MintRefused as refused:
        # Guesses sent all at once all passed the read above: only those counted within
        # GUESSES (atomically) are told they were wrong, and only while fewer were counted
        # does the right key of such a burst mint (below).
        if not await rate_limits.spend(GUESSES, address):
            return _too_many(GUESSES)
        response = _error(refused.status, str(refused))
        if refused.status == 401:
            response["WWW-Authenticate"] = "Bearer"
        return response
    if await rate_limits.over(GUESSES, address):
        return _too_many(GUESSES)
    if not host_application and not await rate_limits.spend(MINTS, address):
        return _too_many(MINTS)
    if len(request.body) > MAX_BODY_BYTES:
        return _error(413, "The body must be JSON: {\"user_id\": N}.")
    try:
        body = wire.loads(request.body or b"{}")
    except wire.BadJson:  # nested too deep too (a RecursionError from json)
        return _error(400, "The body must be JSON: {\"user_id\": N}.")
    user_id = body.get("user_id") if isinstance(body, dict) else None
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 1:
        return _error(400, "user_id must be a positive integer.")
    customer = await Customer.objects.filter(user_id=user_id).values("name").afirst()
    if customer is None:
        return _error(404, f"There is no customer {user_id}.")
    if staff is not None:
        await _audit(request, staff, user_id, customer["name"] or "")
    token = tokens.mint(user_id)
    return JsonResponse(
        {
            "token": token,
            "ws_url": f"/ws/voice?token={token}",
            "expires_in": settings.VOICE_SESSION_TOKEN_TTL,
        }
    )
