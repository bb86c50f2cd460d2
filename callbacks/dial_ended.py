"""How a "Call now" dial ended, as Twilio says it, written on the callback.

Twilio posts a dial's final CallStatus once, to its StatusCallback (`POST /twilio/dial-status`,
callbacks/views.py `dial_status`, at the URL callbacks/desk.py `dial_status_url` gave the dial).
`record` writes it; when the database does not answer, `record_later` keeps it and writes it
once the database is back.

Async, unlike the rest of callbacks/ (callbacks/desk.py is blocking, for the staff pages' sync
views): the webhook's view is async so that the write tried again later runs on this process's
event loop, with the async Mongo client, after the request has been answered.
"""

from __future__ import annotations

import contextvars
import logging

from pymongo import timeout
from pymongo.errors import PyMongoError

from callbacks.desk import DIAL_ENDED, Dial
from callbacks.models import Callback
from support import mongo
from support.mongo import Document
from voiceproject.tasks import in_background

log = logging.getLogger(__name__)

# Recording how a dial ended is bounded well within the 15 s Twilio waits for an answer; while
# the database does not answer, it is tried again as long as a call's record's close would be
# (realtime/call_record.py CLOSE_RETRY_S).
TIMEOUT_S = 3.0
RETRY_S = 300.0


async def record(call_sid: str, status: str, dial: Dial | None = None) -> None:
    """Twilio says its call `call_sid` is over, as `status` (its final CallStatus). It is
    recorded (`dial_status`) on the callback whose latest dial it is, `dial` where the status
    URL names it (even before the SID is written), else the one with that SID; unless a call
    of ours answered that dial (then that call says how it went): the phone rings no more, so
    the callback may be dialled again or closed at once, and the calling page says why (nobody
    answered: desk.DIAL_NOT_ANSWERED; or they did, but were never put through:
    desk.PICKED_UP). A late word on an earlier dial (call_now gave the callback a new dial)
    changes nothing. Raises PyMongoError (then `record_later`)."""
    if status not in DIAL_ENDED or not call_sid:
        return
    latest: Document = {"call_sid": call_sid} if dial is None else {
        "callback_id": dial.callback_id, "dialled_at": dial.dialled_at,
        "call_sid": {"$in": [call_sid, "", None]},  # Twilio's answer to the dial not written yet
    }  # fmt: skip
    # One conditional update: it cannot land on a later dial, nor undo the customer's answer;
    # the same status set again (a write sent again after its answer was lost) changes nothing.
    with timeout(TIMEOUT_S):
        await mongo.async_db()[Callback._meta.db_table].update_one(
            {**latest, "answered_call_id": {"$in": [None, ""]}}, {"$set": {"dial_status": status}}
        )


def record_later(call_sid: str, status: str, dial: Dial | None = None) -> None:
    """`record`, which the database did not answer, made once it does (tried again for up to
    RETRY_S, in the background): Twilio posts how a dial ended once, whatever it is
    answered."""
    # A context of its own: no deadline of the request's to inherit.
    in_background(_record_later(call_sid, status, dial), name=f"dial {call_sid} ended",
                  context=contextvars.Context())  # fmt: skip


async def _record_later(call_sid: str, status: str, dial: Dial | None) -> None:
    try:
        await mongo.once_answering(lambda: record(call_sid, status, dial), RETRY_S)
    except PyMongoError as error:
        log.error("callbacks: call %s ended %s; gave up recording it: %s", call_sid, status,
                  error)  # fmt: skip
        return
    log.info("callbacks: call %s ended %s; recorded once the database was back", call_sid,
             status)  # fmt: skip
