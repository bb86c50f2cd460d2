"""`POST /twilio/voice`: Twilio asks what to do with an incoming call; we connect its audio.

Point the Twilio number's "A call comes in" webhook here (HTTP POST). The answer is TwiML
that opens a bidirectional Media Stream to `/ws/twilio`, carrying a signed per-call token.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.voice_response import Connect, VoiceResponse

from realtime.phone import security

log = logging.getLogger(__name__)

NOT_CONFIGURED = (
    "Phone calls are not configured on this server: set TWILIO_AUTH_TOKEN to the auth token "
    "of the Twilio account whose number points here."
)
AGENT_UNAVAILABLE_SAY = (
    "Sorry, our voice assistant is not available right now. Please try again later."
)


@csrf_exempt  # Twilio cannot send a CSRF token; its signature is checked instead
@require_POST
async def twilio_voice(request: HttpRequest) -> HttpResponse:
    if not settings.TWILIO_AUTH_TOKEN:
        return HttpResponse(NOT_CONFIGURED, status=503, content_type="text/plain")
    url = security.public_https_url(request.get_full_path(), request.build_absolute_uri())
    signature = request.headers.get("X-Twilio-Signature", "")
    if not security.signature_is_valid(url, request.POST, signature):
        log.warning("twilio: refused a webhook with a bad or missing signature for %s", url)
        return HttpResponse("Invalid Twilio signature.", status=403, content_type="text/plain")
    return _twiml(_answer(request))


def _answer(request: HttpRequest) -> VoiceResponse:
    response = VoiceResponse()
    if not settings.GEMINI_API_KEY:
        response.say(AGENT_UNAVAILABLE_SAY)
        response.hangup()
        return response
    caller = security.StreamCaller(
        call_sid=request.POST.get("CallSid", ""),
        phone=request.POST.get("From", ""),
        verified=request.POST.get("StirVerstat", "") in security.FULL_ATTESTATION,
    )
    connect = Connect()
    stream = connect.stream(url=security.stream_url(request.get_host()))
    stream.parameter(name="token", value=security.mint_stream_token(caller))
    response.append(connect)
    return response


def _twiml(response: VoiceResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="text/xml")
