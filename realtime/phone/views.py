"""`POST /twilio/voice`: Twilio asks what to do with an incoming call; we connect its audio.

Point the Twilio number's "A call comes in" webhook here (HTTP POST). The answer is TwiML
that opens a bidirectional Media Stream to `/ws/twilio`, carrying a signed per-call token; or,
for a call that is over or cannot be taken, what the caller hears before Twilio hangs up.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from dataclasses import replace

import pymongo
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from pymongo.errors import PyMongoError
from twilio.twiml.voice_response import Connect, VoiceResponse

from continuity import calls as stored_calls
from continuity.calls import StoredCall
from postcall.finish import correct_outcome
from realtime.call_record import CLOSE_RETRY_S, closing_later, closing_later_by_sid
from realtime.call_session import (
    SETTLE_WAIT_S,
    TOO_MANY_CALLS_MESSAGE,
    CallSession,
    end_between_streams,
    may_open_call,
)
from realtime.phone import security, twilio_rest
from realtime.transfer import (
    CALLER_HUNG_UP,
    TRANSFER_FAILED,
    TRANSFER_UNCONFIRMED,
    TRANSFERRED,
)
from support import mongo
from support.customers import find_customer
from voiceproject.tasks import in_background

log = logging.getLogger(__name__)

# Call statuses after which nothing more can happen on the call.
FINISHED_STATUSES = {"completed", "canceled", "failed", "busy", "no-answer"}
AGENT_UNAVAILABLE_SAY = (
    "Sorry, our voice assistant is not available right now. Please try again later."
)
DATABASE_UNAVAILABLE_SAY = (
    "Sorry, we can't reach our records right now. Please call again in a few minutes."
)
# A call cut off by a failure of ours, which had no chance to say so itself.
SERVER_ERROR_SAY = (
    "Sorry, something went wrong on our side and the call has ended. Please call us again."
)
CALLBACK_NOT_CONNECTED_SAY = (
    "Sorry, we could not connect you to our support team. Please call us if you still need help."
)
# Twilio waits 15 s for this webhook's answer, then plays the caller an error of its own. The
# lookups that decide a call's answer (where it is, who calls, how many calls they have open),
# each bounded, share this bound too: a database slow but answering cannot add them up past it.
LOOKUPS_S = 10.0
# How often the <Dial action> looks whether a call Twilio moved has been written down.
WRITTEN_DOWN_POLL_S = 0.1
# A caller transferred to TWILIO_ESCALATION_NUMBER whom nobody there answered (busy, no answer).
TRANSFER_NOT_ANSWERED_SAY = (
    "Sorry, none of our colleagues could take your call just now. Your request is with our "
    "support team, who will get back to you."
)


@csrf_exempt  # Twilio cannot send a CSRF token; its signature is checked instead
@require_POST
async def twilio_voice(request: HttpRequest) -> HttpResponse:
    refused = security.webhook_refusal(request, "a webhook")
    if refused is not None:
        return refused
    farewell = await _farewell(request)
    return _twiml(_connect(request) if farewell is None else _hang_up(farewell))


async def _farewell(request: HttpRequest) -> str | None:
    """None when the call is to be connected to the agent; else what the caller hears before
    Twilio hangs up ("" for nothing).

    Twilio asks when a call comes in, and again when its stream ends (<Connect action>):
    after the caller hung up, after we ended the call (they hear why, if we said), or when a
    process handed the call over or died: only then does it go on. A new call from a
    customer who has as many calls open as they may is refused here, not by its stream:
    Twilio would only ask again, and again. It asks once more after a transfer's <Dial>."""
    call_sid = request.POST.get("CallSid", "")
    call_over = request.POST.get("CallStatus", "") in FINISHED_STATUSES
    dialled = request.POST.get("DialCallStatus")
    if dialled is not None:
        return await _after_transfer(call_sid, dialled, call_over=call_over)
    if call_over:
        # The caller hung up: a call waiting for its next stream ends now.
        await end_between_streams(CALLER_HUNG_UP, call_sid=call_sid)
        return ""
    stored = None
    try:
        with pymongo.timeout(LOOKUPS_S):
            # A call ending in this process (its stream has just closed) has ended once its
            # record says so.
            await CallSession.settled(call_sid=call_sid)
            stored = await stored_calls.find_call(call_sid=call_sid)
            if stored is not None:
                stored = _as_closed_here(stored)
            if stored is not None and stored.ended:
                return _last_words(stored.end_reason, stored.farewell)
            if stored is None and _we_placed(request):
                # A callback we dialled whose stream found no callback to join (Twilio asks
                # here when it closes): the customer did not call us, so no agent for an
                # unknown caller.
                return CALLBACK_NOT_CONNECTED_SAY
            if stored is None:
                customer = await find_customer(phone=request.POST.get("From", ""))
                if customer is not None and not await may_open_call(customer.user_id):
                    return TOO_MANY_CALLS_MESSAGE
    except PyMongoError as error:
        closing = closing_later_by_sid(call_sid)
        if closing is not None:
            # Ended here, its record's close waiting for the database: over all the same.
            return _last_words(closing.end_reason, closing.farewell)
        if request.POST.get("CallStatus", "") == "ringing":
            # A new call: its stream could not open either, and Twilio would ask again.
            log.warning("twilio: database unavailable (%s); the caller is told", error)
            return DATABASE_UNAVAILABLE_SAY
        # A call going on whose stream ended: it is carried on once the database is back.
        # Connected whether or not an agent is configured: a callback a colleague holds goes
        # on without one, and the stream refuses a call that cannot (AGENT_NOT_CONFIGURED).
        log.warning("twilio: could not look the call up (%s); connecting it", error)
        return None
    if stored is not None and stored.holder:
        # A colleague holds it (a callback they placed): it goes on without an agent too.
        return None
    return None if settings.GEMINI_API_KEY else AGENT_UNAVAILABLE_SAY


def _last_words(end_reason: str, farewell: str) -> str:
    """What the caller of a call that ended hears before Twilio hangs up: what we told them
    as it ended, or, for a failure of ours that said nothing, that it was one."""
    if not farewell and end_reason == "server_error":
        return SERVER_ERROR_SAY
    return farewell


def _as_closed_here(stored: StoredCall) -> StoredCall:
    """`stored` as this process ended it, if its record's close still waits for the database
    (call_record.closing_later): the call is over, and the caller hears why."""
    closing = closing_later(stored.call_id)
    if stored.ended or closing is None:
        return stored
    return replace(stored, ended=True, end_reason=closing.end_reason,
                   farewell=stored.farewell or closing.farewell)  # fmt: skip


async def _after_transfer(call_sid: str, dialled: str, *, call_over: bool) -> str:
    """The transfer's <Dial> is over (twilio_rest.transfer_twiml; `dialled` is Twilio's
    DialCallStatus): the call ends. If nobody at TWILIO_ESCALATION_NUMBER took it (busy, no
    answer, the caller gave up), its record says so rather than transferred_to_human, and a
    caller still there is told so rather than hung up on in silence."""
    # The <Dial> ran: Twilio did move the call, also on a request it never answered us.
    was = (TRANSFERRED, TRANSFER_UNCONFIRMED)
    if dialled in twilio_rest.DIAL_ANSWERED:
        await _correct(call_sid, was[1:], TRANSFERRED)
        return ""
    log.warning("twilio: call %s was transferred, and nobody answered (%s)", call_sid, dialled)
    await _correct(call_sid, was, TRANSFER_FAILED)  # escalated, not transferred
    return "" if call_over else TRANSFER_NOT_ANSWERED_SAY


async def _correct(call_sid: str, was: tuple[str, ...], reason: str) -> None:
    """The call of `call_sid`, ended as one of `was`, ended as `reason`: its record and its
    outcome say so (once the database is back, if it does not answer now: Twilio tells us
    once). One still waiting for its stream (recorded `transfer_unconfirmed` if none comes
    back) ends now, as `reason`."""
    await end_between_streams(reason, call_sid=call_sid)
    try:
        await _corrected(call_sid, was, reason)
    except PyMongoError as error:
        log.warning("twilio: call %s: could not record that it %s (%s); recorded once the "
                    "database answers", call_sid, reason, error)  # fmt: skip
        # A context of its own: no deadline of the request's to inherit.
        in_background(_correct_later(call_sid, was, reason), name=f"call {call_sid} {reason}",
                      context=contextvars.Context())  # fmt: skip


async def _corrected(call_sid: str, was: tuple[str, ...], reason: str) -> None:
    """`_correct`'s writes. Made again, they change nothing more: a record corrected already
    (the database applied the correction, though its answer was lost) has its outcome made to
    agree. Raises PyMongoError."""
    await _written_down(call_sid)
    call_id = await stored_calls.correct_end_reason(call_sid, (*was, reason), reason)
    if call_id is not None:
        await correct_outcome(call_id)


async def _correct_later(call_sid: str, was: tuple[str, ...], reason: str) -> None:
    try:
        await mongo.once_answering(lambda: _corrected(call_sid, was, reason), CLOSE_RETRY_S)
    except PyMongoError as error:
        log.error("twilio: call %s: gave up recording that it %s: %s", call_sid, reason, error)
        return
    log.info("twilio: call %s: recorded that it %s once the database was back", call_sid, reason)


async def _written_down(call_sid: str) -> None:
    """Wait, up to SETTLE_WAIT_S, for the call of `call_sid` to be recorded as ended and
    finished (its outcome written): Twilio's `stop` as it moved the call may still be closing
    it, here or in another process, and a correction made meanwhile is lost (a record not yet
    ended is not corrected; a finisher that read it before writes the outcome it read). Raises
    PyMongoError."""
    deadline = asyncio.get_running_loop().time() + SETTLE_WAIT_S
    while asyncio.get_running_loop().time() < deadline:
        with pymongo.timeout(stored_calls.LOOKUP_TIMEOUT_S):
            call = await mongo.async_db().calls.find_one(
                {"call_sid": call_sid}, {"_id": 0, "outcome": 1}, sort=[("started_at", -1)]
            )
        if call is None or "outcome" in call:
            return
        await asyncio.sleep(WRITTEN_DOWN_POLL_S)


def _hang_up(farewell: str) -> VoiceResponse:
    response = VoiceResponse()
    if farewell:
        response.say(farewell)
    response.hangup()
    return response


def _connect(request: HttpRequest) -> VoiceResponse:
    response = VoiceResponse()
    caller = security.StreamCaller(
        call_sid=request.POST.get("CallSid", ""),
        phone=request.POST.get("From", ""),
        verified=request.POST.get("StirVerstat", "") in security.FULL_ATTESTATION,
        outbound=_we_placed(request),
    )
    # When the stream ends, Twilio asks this webhook again: a call whose process stopped or
    # died is carried on by another (contract section 7), one that is over is hung up.
    connect = Connect(action=security.public_https_url(
        request.path, request.build_absolute_uri(request.path)))  # fmt: skip
    stream = connect.stream(url=security.stream_url(request.get_host()))
    stream.parameter(name="token", value=security.mint_stream_token(caller))
    response.append(connect)
    return response


def _we_placed(request: HttpRequest) -> bool:
    """Whether Twilio asks about a call we placed (a callback), not one that came in."""
    return request.POST.get("Direction", "").startswith("outbound")


def _twiml(response: VoiceResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="text/xml")
