"""Where a phone call's transfer to a person stands, and how the call ends by it and by
Twilio's word that it is over: shared by the call (realtime/call_session.py, which carries
browser and phone calls alike) and the phone package, which makes the transfer
(realtime/phone/consumer.py, by way of twilio_rest.py, the one place that talks to Twilio) and
hears Twilio say a call is over (realtime/phone/views.py). Pure: no I/O.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.conf import settings

# How a call given to a person by transfer ends on its record (`end_reason`): transferred; or,
# when Twilio gave no answer to the request, maybe transferred, maybe not; or transferred but
# answered by nobody at TWILIO_ESCALATION_NUMBER (its <Dial> tells /twilio/voice).
TRANSFERRED = "transferred_to_human"
TRANSFER_UNCONFIRMED = "transfer_unconfirmed"
TRANSFER_FAILED = "transfer_failed"
CALLER_HUNG_UP = "caller_hung_up"  # how a call ends when its caller hangs up

# The messages in which the process carrying a phone call hears Twilio's word that it is over
# (twilio_says_over): the caller hung up (<Connect action>), or the transfer's <Dial action>.
HUNG_UP_MESSAGE = "call.caller_hung_up"
MOVED_ON_MESSAGE = "call.moved_on"
TWILIO_SAYS_OVER = (HUNG_UP_MESSAGE, MOVED_ON_MESSAGE)


class Transfer(StrEnum):
    """Where a phone call's transfer stands (CallSession.transfer, and `transfer.state` on its
    record, so that whichever stream or process carries the call knows)."""

    ASKED = "asked"  # the agent escalated: the call is to be transferred
    SENT = "sent"  # Twilio was asked, and may be moving the call
    CONFIRMED = "confirmed"  # Twilio said yes
    UNCONFIRMED = "unconfirmed"  # Twilio gave no clear answer: moved, or not
    REFUSED = "refused"  # Twilio said no: the caller stays with the agent


# Twilio has the request, or has said yes: the caller is on their way to
# TWILIO_ESCALATION_NUMBER, and nothing can call the request back. Nobody may take the call
# over meanwhile (they would hold a call whose caller is gone), nor end it (the caller would
# reach the escalation line all the same). (A transfer only ASKED is not made once a colleague
# has taken over: the caller has the person they asked for.)
PUTTING_THROUGH = frozenset({Transfer.SENT, Transfer.CONFIRMED})

# The caller is being passed on: the transfer is to be made (asked: the stream carrying the call
# makes it at once, or once the agent has said so) or is being made, Twilio saying TRANSFER_SAY
# as it moves the call. Not UNCONFIRMED (a stream carrying the call means Twilio has not moved
# it: the caller stays with the agent) nor REFUSED.
PASSING_ON = PUTTING_THROUGH | {Transfer.ASKED}

# How the call ends when its stream does, by where its transfer stands (Twilio ends the stream
# as it moves the call, which may be before its answer to us reaches us); otherwise as the
# caller hanging up, or leaving.
STREAM_ENDS_AS: dict[str, str] = {
    **dict.fromkeys(PUTTING_THROUGH, TRANSFERRED),
    Transfer.UNCONFIRMED: TRANSFER_UNCONFIRMED,
}


def transfer_configured() -> bool:
    """Escalated phone calls are transferred only with a number and credentials to do it."""
    return bool(
        settings.TWILIO_ESCALATION_NUMBER
        and settings.TWILIO_ACCOUNT_SID
        and settings.TWILIO_AUTH_TOKEN
    )


def twilio_ends(reason: str, transfer: str) -> bool:
    """Whether Twilio's word that a phone call waiting for a stream is over, as `reason`, ends
    the call, its transfer standing at `transfer`: a hang-up, one whose transfer Twilio cannot
    have made (the end of one it may have made is the transfer's: STREAM_ENDS_AS); the end of
    the transfer's <Dial>, only one whose transfer it may have made."""
    if reason == CALLER_HUNG_UP:
        return transfer not in STREAM_ENDS_AS
    return bool(reason) and transfer in STREAM_ENDS_AS


def twilio_says_over(call_id: str, reason: str) -> dict[str, Any]:
    """Twilio's word that the phone call `call_id` is over, as `reason`, for the process
    carrying it: `call.caller_hung_up` (<Connect action>) or `call.moved_on` (the transfer's
    <Dial action>, `end_reason` saying how it went)."""
    kind = HUNG_UP_MESSAGE if reason == CALLER_HUNG_UP else MOVED_ON_MESSAGE
    return {"type": kind, "call_id": call_id, "end_reason": reason}


def twilio_ends_as(message: dict[str, Any]) -> str:
    """How a call ends by Twilio's word told in `message` (twilio_says_over): a hang-up as the
    caller hanging up, a transfer's end as its `end_reason` says."""
    if message.get("type") == HUNG_UP_MESSAGE:
        return CALLER_HUNG_UP
    return str(message.get("end_reason") or "")
