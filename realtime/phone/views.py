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
from pymongo.errors import PyMongoError
from twilio.twiml.voice_response import Connect, VoiceResponse

from continuity import calls as stored_calls
from realtime.phone import security

log = logging.getLogger(__name__)

NOT_CONFIGURED = (
    "Phone calls are not configured on this server: set TWILIO_AUTH_TOKEN to the auth token "
    "of the Twilio account whose number points here."
)
# Call statuses after which nothing more can happen on the call.
FINISHED_STATUSES = {"completed", "canceled", "failed", "busy", "no-answer"}
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
    return _twiml(_answer(request, await _call_is_over(request)))


async def _call_is_over(request: HttpRequest) -> bool:
    """Twilio asks again when a stream ends (<Connect action>): after the caller hung up,
    after we ended the call, or when a process handed the call over or died. Only in the
    last case does the call go on."""
    if request.POST.get("CallStatus", "") in FINISHED_STATUSES:
        return True
    try:
        stored = await stored_calls.find_call(call_sid=request.POST.get("CallSid", ""))
    except PyMongoError as error:
        log.warning("twilio: could not look the call up (%s); connecting it", error)
        return False
    return stored is not None and stored.ended


def _answer(request: HttpRequest, over: bool) -> VoiceResponse:
    response = VoiceResponse()
    if over:
        response.hangup()
        return response
    if not settings.GEMINI_API_KEY:
        response.say(AGENT_UNAVAILABLE_SAY)
        response.hangup()
        return response
    caller = security.StreamCaller(
        call_sid=request.POST.get("CallSid", ""),
        phone=request.POST.get("From", ""),
        verified=request.POST.get("StirVerstat", "") in security.FULL_ATTESTATION,
    )
    # When the stream ends, Twilio asks this webhook again: a call whose process stopped or
    # died is carried on by another (contract section 7), one that is over is hung up.
    connect = Connect(action=security.public_https_url(
        request.path, request.build_absolute_uri(request.path)))  # fmt: skip
    stream = connect.stream(url=security.stream_url(request.get_host()))
    stream.parameter(name="token", value=security.mint_stream_token(caller))
    response.append(connect)
    return response


def _twiml(response: VoiceResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="text/xml")
