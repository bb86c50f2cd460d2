"""The one place that calls Twilio's REST API: moving a live call to a human, and placing a
call (a staff member's "Call now" on a callback). Where a transfer stands, and how the call
ends by it, is realtime/transfer.py's.

Tests fake `update_call` and record what it was asked, or point TWILIO_API_BASE_URL at a
local server standing in for api.twilio.com (callbacks/tests/test_call_now.py).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse
from urllib3.exceptions import NewConnectionError

from voiceproject import draining

TRANSFER_SAY = "Connecting you to a colleague now. Please hold."
# What the transfer's <Dial> says it came to (Twilio's DialCallStatus): a person answered.
DIAL_ANSWERED = frozenset({"completed", "answered"})
# How long a call we place rings before Twilio gives up (its default is 60 s).
DIAL_RING_TIMEOUT_S = 30
# How long we wait for Twilio's API to answer (the client's default is to wait forever, and a
# staff member's page or a caller's transfer would hang with it).
REST_TIMEOUT_S = 10.0
# In a draining process, kept back from what is left of the drain for writing the call down
# once Twilio has answered (or not): closing the model's session (up to 1 s) and the record.
# A request waits at most the rest, or is not made (voiceproject/draining.py time_left).
DRAIN_RESERVE_S = 2.0
# How long after we ask Twilio to place a call its customer may still answer it: our request
# (up to REST_TIMEOUT_S), then the ringing, with room to spare.
DIAL_ANSWER_WINDOW = timedelta(seconds=REST_TIMEOUT_S + DIAL_RING_TIMEOUT_S + 20)


class TwilioRestError(Exception):
    """Twilio refused or could not be reached; the message says what happened."""


class TwilioOutcomeUnknown(TwilioRestError):
    """The request may have reached Twilio, but no answer came back (a timeout, a connection
    lost while waiting, a 5xx): Twilio may have acted on it."""


def transfer_twiml(number: str, voice_url: str) -> str:
    """What the caller gets instead of the agent: a word of warning, then the human's line.
    When that is over (answered and done, or busy, or not answered), Twilio asks `voice_url`
    (`/twilio/voice`) what next, with DialCallStatus."""
    response = VoiceResponse()
    response.say(TRANSFER_SAY)
    response.dial(number, action=voice_url)
    return str(response)


async def transfer_call(call_sid: str, voice_url: str) -> None:
    """Redirect the live call `call_sid` to TWILIO_ESCALATION_NUMBER (see transfer_twiml).

    Twilio then ends our media stream (a `stop` arrives). Raises TwilioRestError, or
    TwilioOutcomeUnknown when Twilio may have moved the call all the same.
    """
    twiml = transfer_twiml(settings.TWILIO_ESCALATION_NUMBER, voice_url)
    await asyncio.to_thread(update_call, call_sid, twiml)


def update_call(call_sid: str, twiml: str) -> None:
    """Replace the call's TwiML (blocking: run it in a thread). Raises TwilioRestError, or
    TwilioOutcomeUnknown when Twilio may have replaced it all the same."""
    try:
        _client(f"transfer call {call_sid}").calls(call_sid).update(twiml=twiml)
    except (TwilioException, requests.RequestException) as error:
        if _not_acted_on(error):
            raise TwilioRestError(f"could not transfer call {call_sid}: {error}") from error
        unclear = f"Twilio gave no clear answer to transferring call {call_sid}: {error}"
        raise TwilioOutcomeUnknown(unclear) from error
    except json.JSONDecodeError as error:  # a 2xx that is not Twilio's (a proxy's page, say)
        unclear = f"Twilio's answer to transferring call {call_sid} could not be read: {error}"
        raise TwilioOutcomeUnknown(unclear) from error


def dial_out(to: str, twiml: str, status_callback: str | None = None) -> str:
    """Call `to` from TWILIO_FROM_NUMBER; when answered, Twilio runs `twiml`. Answers the new
    call's CallSid (blocking: call it from sync code or a thread). Raises TwilioRestError, or
    TwilioOutcomeUnknown when Twilio may be placing the call all the same.

    With `status_callback` (an https URL), Twilio POSTs there once the call is over, its final
    CallStatus saying how (completed, busy, failed, no-answer, canceled): without it, a call
    nobody answered is only known to be over when it may no longer ring.

    The errors' messages give the number's last four digits only (Twilio's own words too):
    they end up in logs, which are no place for a customer's phone number.
    """
    shown = masked(to)
    status_params = {} if status_callback is None else {
        "status_callback": status_callback, "status_callback_method": "POST"}  # fmt: skip
    try:
        call = _client(f"call {shown}").calls.create(
            to=to,
            from_=settings.TWILIO_FROM_NUMBER,
            twiml=twiml,
            timeout=DIAL_RING_TIMEOUT_S,
            **status_params,
        )
    except (TwilioException, requests.RequestException) as error:
        said = _masking(to, str(error))
        if _not_acted_on(error):
            raise TwilioRestError(f"could not call {shown}: {said}") from error
        unclear = f"Twilio gave no clear answer to calling {shown}: {said}"
        raise TwilioOutcomeUnknown(unclear) from error
    except json.JSONDecodeError as error:  # a 2xx that is not Twilio's (a proxy's page, say)
        unclear = f"Twilio's answer to calling {shown} could not be read: {error}"
        raise TwilioOutcomeUnknown(unclear) from error
    if not call.sid:  # an empty 2xx: no call to follow, as if no answer had come
        raise TwilioOutcomeUnknown(f"Twilio's answer to calling {shown} named no call")
    return str(call.sid)


def masked(number: str) -> str:
    """A phone number as a log may give it: "…0101", its last four digits."""
    return f"…{number[-4:]}"


def _masking(number: str, text: str) -> str:
    """`text` with `number` in it (with or without its "+") masked."""
    for written in (number, number.lstrip("+")):
        if len(written) > 4:
            text = text.replace(written, masked(number))
    return text


def _not_acted_on(error: TwilioException | requests.RequestException) -> bool:
    """Whether Twilio certainly did not act on a request that failed with `error`: it said no
    (a 4xx), or the request never left (the client refused it, or no connection was made)."""
    if isinstance(error, TwilioRestException):
        return error.status < 500
    if isinstance(error, TwilioException | requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def rest_timeout_s() -> float:
    """How long a request made now may wait for Twilio's answer: REST_TIMEOUT_S, or in a
    draining process what the drain has left less DRAIN_RESERVE_S (0: no time for one).
    Twilio's answer must come before the process stops, or the call it was about could not
    be written down as it turned out."""
    return max(0.0, min(REST_TIMEOUT_S, draining.time_left() - DRAIN_RESERVE_S))


def _client(what: str) -> Client:
    """Raises TwilioRestError, asking nothing, when the process stops too soon for an answer
    (`what` names the request)."""
    timeout_s = rest_timeout_s()
    if timeout_s <= 0:
        raise TwilioRestError(f"could not {what}: this server is restarting; try again")
    client = Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=TwilioHttpClient(timeout=timeout_s),
    )
    client.api.base_url = settings.TWILIO_API_BASE_URL
    return client
