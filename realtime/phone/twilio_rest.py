"""The one place that calls Twilio's REST API: moving a live call to a human.

Tests fake `update_call` (the only function here that does I/O) and record what it was asked.
"""

from __future__ import annotations

import asyncio

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

TRANSFER_SAY = "Connecting you to a colleague now. Please hold."


class TwilioRestError(Exception):
    """Twilio refused or could not be reached; the message says what happened."""


def transfer_configured() -> bool:
    """Escalated phone calls are transferred only with a number and credentials to do it."""
    return bool(
        settings.TWILIO_ESCALATION_NUMBER
        and settings.TWILIO_ACCOUNT_SID
        and settings.TWILIO_AUTH_TOKEN
    )


def transfer_twiml(number: str) -> str:
    """What the caller gets instead of the agent: a word of warning, then the human's line."""
    response = VoiceResponse()
    response.say(TRANSFER_SAY)
    response.dial(number)
    return str(response)


async def transfer_call(call_sid: str) -> None:
    """Redirect the live call `call_sid` to TWILIO_ESCALATION_NUMBER.

    Twilio then ends our media stream (a `stop` arrives). Raises TwilioRestError.
    """
    await asyncio.to_thread(
        update_call, call_sid, transfer_twiml(settings.TWILIO_ESCALATION_NUMBER)
    )


def update_call(call_sid: str, twiml: str) -> None:
    """Replace the call's TwiML (blocking: run it in a thread)."""
    client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    try:
        client.calls(call_sid).update(twiml=twiml)
    except (TwilioException, requests.RequestException) as error:
        raise TwilioRestError(f"could not transfer call {call_sid}: {error}") from error
