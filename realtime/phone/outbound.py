"""Calls we place: the TwiML of a staff member's "Call now" on a callback, and how its Media
Stream says what it is. Pure: strings and mappings in, strings out.

Twilio dials the customer (twilio_rest.dial_out) and, when they answer, runs this TwiML: a
bidirectional Media Stream to the same `/ws/twilio` as incoming calls (signed the same way),
whose `start` frame carries these `customParameters`:

    kind         "callback": this stream is an outbound callback, not an incoming call
    token        signed (security.verify_callback_token): callback_id, the number dialled,
                 the staff member's username, a single-use nonce; valid for
                 CALLBACK_TOKEN_MAX_AGE_S. The only parameter to trust.
    callback_id  the callback (plain text, for logs and Twilio's console)
    staff        the username of the staff member who dialled (plain text, likewise)

The seam for connecting the answering customer to that staff member's browser: a consumer that
sees `is_callback_stream(start.custom_parameters)` verifies the token instead of the incoming
call's, claims its nonce (single_use), checks with `callbacks.booking.dialled_callback` that the
callback was dialled as `start.call_sid` (stored as soon as Twilio answered our request, which
is before the phone can have been picked up), and joins the staff member rather than starting
the agent. Until then such a stream is refused like any stream without a valid
incoming-call token.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.twiml.voice_response import Connect, VoiceResponse

KIND = "kind"
CALLBACK = "callback"
TOKEN = "token"
CALLBACK_ID = "callback_id"
STAFF = "staff"


def callback_twiml(
    *, stream_url: str, voice_url: str, token: str, callback_id: str, staff: str
) -> str:
    """TwiML that streams the answered call to `stream_url` (the `wss://…/ws/twilio` URL) with
    the parameters above. When the stream ends Twilio asks `voice_url` (`/twilio/voice`) what
    next, as for an incoming call: a call whose process stopped or died goes on with another
    (contract section 7), one that is over is hung up."""
    response = VoiceResponse()
    connect = Connect(action=voice_url)
    stream = connect.stream(url=stream_url)
    for name, value in ((KIND, CALLBACK), (TOKEN, token), (CALLBACK_ID, callback_id),
                        (STAFF, staff)):  # fmt: skip
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def is_callback_stream(custom_parameters: Mapping[str, str]) -> bool:
    """True for the stream of a call we placed for a callback (still to be verified)."""
    return custom_parameters.get(KIND) == CALLBACK
