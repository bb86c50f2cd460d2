"""HTTP side of the voice bridge: minting session tokens for `/ws/voice`."""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from realtime import tokens
from support.models import Customer


def _bearer_key_matches(request: HttpRequest) -> bool:
    key = settings.VOICE_API_KEY
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    return bool(key) and scheme.lower() == "bearer" and hmac.compare_digest(presented, key)


async def _may_mint(request: HttpRequest) -> bool:
    if _bearer_key_matches(request):
        return True
    user = await request.auser()
    # django-stubs misses auth installed as MongoAuthConfig (see pyproject.toml).
    return bool(user.is_active and user.is_staff) or settings.VOICE_DEMO_MODE  # type: ignore[attr-defined]


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


# CSRF-exempt because host applications call it server to server with a bearer key; a
# cross-site page could still make a logged-in staff browser call it, but it cannot read the
# token in the response (no CORS), so nothing leaks.
@csrf_exempt
@require_POST
async def create_voice_session(request: HttpRequest) -> JsonResponse:
    if not await _may_mint(request):
        response = _error(401, "A bearer VOICE_API_KEY or a staff login is required.")
        response["WWW-Authenticate"] = "Bearer"
        return response
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _error(400, "The body must be JSON: {\"user_id\": N}.")
    user_id = body.get("user_id") if isinstance(body, dict) else None
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 1:
        return _error(400, "user_id must be a positive integer.")
    if not await Customer.objects.filter(user_id=user_id).aexists():
        return _error(404, f"There is no customer {user_id}.")
    token = tokens.mint(user_id)
    return JsonResponse(
        {
            "token": token,
            "ws_url": f"/ws/voice?token={token}",
            "expires_in": settings.VOICE_SESSION_TOKEN_TTL,
        }
    )
