"""HTTP side of the voice bridge: minting session tokens for `/ws/voice`.

Three authorities may mint (contract section 2): a host application's bearer VOICE_API_KEY,
a staff member holding `realtime.mint_voice_token` (audited: `realtime.models.VoiceTokenMint`),
and demo mode.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from realtime import tokens, wire
from realtime.models import MINT_PERMISSION, VoiceTokenMint
from support.models import Customer
from voiceproject.bearer import bearer_matches

MAX_BODY_BYTES = 1_024  # {"user_id": N} and room to spare


def _bearer_key_matches(request: HttpRequest) -> bool:
    return bearer_matches(request.headers.get("Authorization", ""), settings.VOICE_API_KEY)


class MintRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _minting_staff(request: HttpRequest) -> Any | None:
    """The staff member minting on their own authority (to be audited), or None for a host
    application or demo mode. Raises MintRefused when nobody may mint."""
    if _bearer_key_matches(request):
        return None
    user = await request.auser()
    # django-stubs misses auth installed as MongoAuthConfig (see pyproject.toml).
    staff = bool(user.is_active and user.is_staff)  # type: ignore[attr-defined]
    if staff and await user.ahas_perm(MINT_PERMISSION):  # type: ignore[union-attr]
        return user
    if settings.VOICE_DEMO_MODE:
        return None
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


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


# CSRF-exempt because host applications call it server to server with a bearer key; a
# cross-site page could still make a logged-in lead's browser call it (the mint is audited
# under their name), but it cannot read the token in the response (no CORS), so nothing leaks.
@csrf_exempt
@require_POST
async def create_voice_session(request: HttpRequest) -> JsonResponse:
    try:
        staff = await _minting_staff(request)
    except MintRefused as refused:
        response = _error(refused.status, str(refused))
        if refused.status == 401:
            response["WWW-Authenticate"] = "Bearer"
        return response
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
