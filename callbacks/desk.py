"""Staff work on callbacks: claim, release, mark done, mark missed, and "Call now".

Each change is ONE conditional update on the callback's document (`find_one_and_update` with
the expected state in the filter), as with tickets (support/escalations.py): two staff acting
at once cannot both win; the second is told why (who has it, or that it is closed).

A callback someone holds is theirs to call and close; an unclaimed one anyone with the
permission may close (claiming it as they do). Anyone with the permission may release a held
one back to nobody (as anyone may reassign a ticket): a lead can then dial what an agent held.
Views catch `CallbackError` and show its message.

Blocking throughout (the sync Mongo client, `sync_db`), as the staff pages' views that call it
are. How a dial ended, which Twilio posts to an async webhook, is written by
callbacks/dial_ended.py.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from pymongo import ReturnDocument, timeout

from callbacks.models import Callback, CallbackStatus
from realtime.phone import outbound, security, twilio_rest
from support.mongo import Document, sync_db
from support.staff.labels import phone_label
from support.staff.people import staff_names
from voiceproject.numbers import digits_up_to

log = logging.getLogger(__name__)

SCHEDULED = CallbackStatus.SCHEDULED.value
# A second "Call now" within this time of the first is refused, and so is closing the
# callback: the phone may still be ringing, or just answered. After it, both are allowed.
REDIAL_AFTER = twilio_rest.DIAL_ANSWER_WINDOW


class CallbackError(Exception):
    """A change that did not happen; `message` says why, for a person to read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AlreadyCalling(CallbackError):
    """The one asking is calling the customer about this callback already: its phone may
    still ring from their dial (a double click, or a click while Twilio had not answered the
    first yet), or they are on the call it dialled. Nothing is dialled again; their calling
    page says where the call stands (and opens the call once it is answered)."""


class DialNotConfirmed(CallbackError):
    """Twilio gave no call SID back (a timeout, a 5xx, an answer that names no call): the dial
    is taken as failed at once, `dial_status` "failed" (the calling page and the board say it
    did not go through), and the callback may be dialled again or closed at once. Should
    Twilio have placed it all the same and the customer answer, their call is still linked
    (booking.dialled_callback)."""


def _collection() -> Any:
    return sync_db()[Callback._meta.db_table]


def _mine_or_nobodys(username: str) -> Document:
    return {"status": SCHEDULED, "assignee": {"$in": [None, username]}}


def claim(callback_id: str, username: str) -> None:
    """Take a scheduled callback nobody holds. Claiming your own again is a no-op."""
    _update(callback_id, username, _mine_or_nobodys(username), {"assignee": username})


def release(callback_id: str, username: str) -> str:
    """Give a scheduled callback back to nobody, whoever holds it; answers who held it.
    Refused while its customer's phone may be ringing or they are on the call it dialled."""
    callback = _collection().find_one({"callback_id": callback_id}) or {}
    answered = callback.get("answered_call_id") or ""
    if callback.get("assignee") and _call_live(answered):
        raise _on_the_phone(callback["assignee"])
    # Not ringing: never dialled, long enough ago, or answered (the call, checked above, over);
    # and answered as read: the customer picking up meanwhile is on the call, not over.
    held = {"status": SCHEDULED, "assignee": {"$ne": None}, **_not_ringing_or_answered(),
            "answered_call_id": answered or {"$in": [None, ""]}}  # fmt: skip
    done = _collection().find_one_and_update(
        {"callback_id": callback_id, **held}, {"$set": {"assignee": None}}
    )  # answers the callback as it was
    if done is not None:
        return str(done["assignee"])
    current = _collection().find_one({"callback_id": callback_id})
    if current is None or current["status"] != SCHEDULED:
        raise _why_not(callback_id, username)
    if not current.get("assignee"):
        raise CallbackError(f"Nobody holds callback {callback_id} now.")
    if _call_live(current.get("answered_call_id")):
        raise _on_the_phone(current["assignee"])
    dialled_at = current.get("dialled_at")
    if dialled_at is None:  # released and claimed again meanwhile
        raise _why_not(callback_id, username)
    raise CallbackError(
        f"{named(current['assignee'])} dialled callback {callback_id} at "
        f"{_local_time(dialled_at)}; it can be released once the phone stops ringing."
    )


def _on_the_phone(assignee: str) -> CallbackError:
    return CallbackError(
        f"{named(assignee)} is on the phone with this customer now; mark the callback done or "
        "missed after the call instead."
    )


def mark_done(callback_id: str, username: str) -> None:
    _close(callback_id, username, CallbackStatus.DONE)


def mark_missed(callback_id: str, username: str) -> None:
    """The customer could not be reached: the callback is closed, its place given back.
    Refused before its slot has begun: until then nobody has missed it."""
    _close(callback_id, username, CallbackStatus.MISSED, begun=True)


def _close(
    callback_id: str, username: str, status: CallbackStatus, *, begun: bool = False
) -> None:
    """Refused while the phone may ring (closed, the callback would refuse the customer's
    answer): allowed once they answered the latest dial (call_now clears the call answered on
    an earlier one), or the ringing is over. `begun`: only once the slot has begun."""
    now = timezone.now()
    expected = {**_mine_or_nobodys(username), **_not_ringing_or_answered(now)}
    if begun:
        expected["slot_start"] = {"$lte": now}
    update = {"status": status.value, "assignee": username, "closed_at": now}
    _update(callback_id, username, expected, update, begun_by=now if begun else None)


def _update(
    callback_id: str, username: str, expected: Document, changes: Document, *,
    before: bool = False, begun_by: datetime | None = None,
) -> Document:
    """Apply `changes` if the callback is as `expected`; answers it after them (`before`: as
    it was). Raises CallbackError saying why not (`begun_by`: `expected` wants the slot begun
    by then)."""
    done = _collection().find_one_and_update(
        {"callback_id": callback_id, **expected},
        {"$set": changes},
        return_document=ReturnDocument.BEFORE if before else ReturnDocument.AFTER,
    )
    if done is None:
        raise _why_not(callback_id, username, begun_by)
    return dict(done)


def _not_ringing_or_answered(now: datetime | None = None) -> Document:
    """Filter: the phone is not ringing for the callback, or the customer answered its latest
    dial (call_now clears the call answered on an earlier one)."""
    answered = {"answered_call_id": {"$nin": [None, ""]}}
    return {"$or": [*_not_ringing(now or timezone.now())["$or"], answered]}


def _not_ringing(now: datetime) -> Document:
    """Filter: the callback was not dialled, or long enough ago that the phone stopped ringing,
    or Twilio said its latest dial ended unanswered (dial_ended.record; call_now clears that)."""
    return {"$or": [
        {"dialled_at": None}, {"dialled_at": {"$lt": now - REDIAL_AFTER}},
        {"dial_status": {"$nin": [None, ""]}},
    ]}  # fmt: skip


def named(username: str | None) -> str:
    """A colleague as the messages name them: their name, or the username of someone no longer
    on the team (the callback keeps the username)."""
    return staff_names().get(username or "", username or "")


def _why_not(
    callback_id: str, username: str, begun_by: datetime | None = None
) -> CallbackError:
    current = _collection().find_one({"callback_id": callback_id})
    if current is None:
        return CallbackError(f"There is no callback {callback_id}.")
    if current["status"] != SCHEDULED:
        return CallbackError(f"Callback {callback_id} is already {current['status']}.")
    if current.get("assignee") not in (None, username):
        return CallbackError(
            f"{named(current['assignee'])} has already claimed callback {callback_id}."
        )
    if begun_by is not None and current["slot_start"] > begun_by:
        return CallbackError(
            f"Callback {callback_id} is booked for {_local_day_and_time(current['slot_start'])}: "
            "it can be marked missed once its slot has begun."
        )
    dialled_at = current.get("dialled_at")
    if dialled_at is not None:
        # Their own dial (a dial claims the callback): call_now takes them to its page.
        refusal = AlreadyCalling if current.get("assignee") == username else CallbackError
        return refusal(
            f"Callback {callback_id} was dialled at {_local_time(dialled_at)} and the phone may "
            "still be ringing; wait a minute before calling again or closing it."
        )
    return CallbackError(f"Callback {callback_id} changed meanwhile; reload and try again.")


# --- Call now ---------------------------------------------------------------------------------


def dialling_configured() -> bool:
    """"Call now" needs the Twilio account and a number to call from."""
    return bool(
        settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM_NUMBER
    )


def call_now(
    callback_id: str, username: str, stream_url: str, voice_url: str, status_url: str
) -> str:
    """Dial the customer of a scheduled callback through Twilio, on the number their account
    has now, for `username` (who claims it if nobody has). When they answer, Twilio streams
    the call to `stream_url` (`/ws/twilio`) as an outbound callback
    (realtime/phone/outbound.py), and asks `voice_url` (`/twilio/voice`) what next if the
    stream ends; once the call is over, it tells `status_url` (`/twilio/dial-status`, which
    calls dial_ended.record), naming the dial (dial_status_url), how. Answers the call SID,
    which the callback keeps; blocking.

    Raises CallbackError: not configured, someone else's, closed, dialled moments ago, the
    customer on the call already or without a number, their number the demo's made-up one
    (seed_demo), or Twilio refused (then the callback is
    as it was, and may be dialled again at once); AlreadyCalling when that dial or call is
    `username`'s own; DialNotConfirmed when Twilio gave no SID.
    """
    if not dialling_configured():
        raise CallbackError(
            "Calling out is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
            "TWILIO_FROM_NUMBER."
        )
    current = _collection().find_one({"callback_id": callback_id})
    if current is None or current["status"] != SCHEDULED:
        raise _why_not(callback_id, username)
    answered = current.get("answered_call_id") or ""
    if _call_live(answered):
        mine = current.get("assignee") == username
        raise (AlreadyCalling if mine else CallbackError)(
            f"{named(current.get('assignee')) or 'A colleague'} is on the phone with this customer "
            "now, on the call this callback dialled."
        )
    phone, name, made_up = _account(current["user_id"])
    if not phone:
        raise CallbackError("The customer's account has no phone number to call.")
    if made_up:
        raise CallbackError(
            f"{name or 'This customer'}'s number ({phone_label(phone)}) was made up for the "
            "demo and may be a stranger's: it is not dialled. To try “Call now”, put your own "
            "number on the customer in the admin (Customers), then call."
        )
    now = timezone.now()
    # Reserving the dial is the conditional update: a double click or a colleague's click
    # moments later finds `dialled_at` recent and is refused, so the customer's phone rings once;
    # a dial they answered rings no more, so once that call is over (checked above) they may be
    # called again at once (the line dropped). No SID until Twilio gives one: the customer's
    # answer claims the dial (booking.py). Nor an answered call: one answered on an earlier
    # dial must not let the callback be closed while this one rings (_close), so it counts as
    # answered once they pick up this one. Nor how the earlier dial ended (dial_ended.record).
    # And answered as read: the customer picking up the ringing dial meanwhile is on that call,
    # not to be rung again (the refusal takes the dialler to it).
    callback = _update(
        callback_id,
        username,
        {**_mine_or_nobodys(username), **_not_ringing_or_answered(now),
         "answered_call_id": answered or {"$in": [None, ""]}},
        {"assignee": username, "dialled_at": now, "call_sid": "", "answered_call_id": "",
         "dial_status": "", "phone": phone},
        before=True,
    )  # fmt: skip
    token = security.mint_callback_token(security.CallbackStream(callback_id, phone, username))
    twiml = outbound.callback_twiml(stream_url=stream_url, voice_url=voice_url, token=token,
                                    callback_id=callback_id, staff=username)  # fmt: skip
    reserved = {"callback_id": callback_id, "dialled_at": now}
    this_dial = dial_status_url(status_url, Dial(callback_id, now))
    try:
        call_sid = twilio_rest.dial_out(phone, twiml, status_callback=this_dial)
    except twilio_rest.TwilioOutcomeUnknown as error:
        log.warning("callback %s: %s", callback_id, error)  # Twilio's words, for whoever looks
        _after_twilio(lambda: _not_confirmed(reserved))
        raise DialNotConfirmed(
            f"Our phone service did not confirm the call to {name or 'the customer'} "
            f"({phone_label(phone)}): it did not go through."
        ) from error
    except twilio_rest.TwilioRestError as error:
        # As it was: unclaimed if it was, so a colleague may still take it. Unless it was
        # closed meanwhile: then it stays as whoever closed it left it.
        _after_twilio(lambda: _undo(reserved, callback))
        raise CallbackError(f"Our phone service could not place the call: {error}") from error
    _after_twilio(lambda: _collection().update_one(reserved, {"$set": {"call_sid": call_sid}}))
    return call_sid


def _after_twilio(write: Callable[[], object]) -> None:
    """Run `write`, which records how Twilio answered a dial, under a database bound of its
    own. The page's bound (voiceproject/page_timeout.py) counts from the request, and Twilio
    may take as long to answer (REST_TIMEOUT_S, 10 s each): written under it, a dial Twilio
    was slow to answer or refuse would not be written down, the dialler would get the 503
    page for it, and the callback would stay reserved as ringing, neither dialled again nor
    closed, for a minute. A fresh context holds no deadline; the bound is set again in it."""
    contextvars.Context().run(_bounded, write)


def _bounded(write: Callable[[], object]) -> None:
    with timeout(settings.PAGE_DB_TIMEOUT_S):
        write()


def _undo(reserved: Document, before: Document) -> None:
    """Put the `reserved` dial's callback back as it was `before` it, if still scheduled: its
    earlier dial too (the board and the calling page say how that one went, not that nobody
    was called), which let it be dialled, so it may be dialled again at once."""
    _collection().update_one({**reserved, "status": SCHEDULED}, {"$set": {
        "dialled_at": before.get("dialled_at"), "call_sid": before.get("call_sid") or "",
        "assignee": before.get("assignee"),
        "answered_call_id": before.get("answered_call_id") or "",
        "dial_status": before.get("dial_status") or "",
    }})  # fmt: skip


def _not_confirmed(reserved: Document) -> None:
    """Record the `reserved` dial, which Twilio gave no SID for, as failed: it rings no more
    as far as anyone here can tell. Unless the customer's answer brought its SID meanwhile
    (booking.dialled_callback): then it went through after all; or Twilio's StatusCallback
    said how it ended (dial_ended.record): its word, not our guess."""
    _collection().update_one(
        {**reserved, "call_sid": {"$in": [None, ""]}, "answered_call_id": {"$in": [None, ""]},
         "dial_status": {"$in": [None, ""]}},
        {"$set": {"dial_status": NOT_CONFIRMED}},
    )  # fmt: skip


def _account(user_id: object) -> tuple[str, str, bool]:
    """The number on the customer's account now (we only ever call that one), or "", their
    name, or "", and whether that number is one seed_demo made up (`demo_phone`)."""
    customer = sync_db().customers.find_one(
        {"user_id": user_id}, {"phone": 1, "name": 1, "demo_phone": 1}) or {}
    phone = str(customer.get("phone") or "")
    return phone, str(customer.get("name") or ""), _made_up(customer)


def _made_up(customer: Document) -> bool:
    """Whether the number on `customer`'s account is the one seed_demo made up for them: a
    number a lead put on the customer since is theirs to dial."""
    phone = customer.get("phone")
    return bool(phone) and customer.get("demo_phone") == phone


def made_up_numbers(user_ids: Iterable[int]) -> set[int]:
    """Which of the customers `user_ids` have the demo's made-up number on their account:
    call_now refuses to dial them, so the board does not offer it."""
    found = sync_db().customers.find(
        {"user_id": {"$in": list(set(user_ids))}, "demo_phone": {"$nin": [None, ""]}},
        {"_id": 0, "user_id": 1, "phone": 1, "demo_phone": 1},
    )
    return {doc["user_id"] for doc in found if _made_up(doc)}


def _local_time(moment: datetime) -> str:
    return f"{moment.astimezone(ZoneInfo(settings.SUPPORT_TIME_ZONE)):%H:%M}"


def _local_day_and_time(moment: datetime) -> str:
    """"Tue 8 Dec, 15:30", as support's clock reads it."""
    local = moment.astimezone(ZoneInfo(settings.SUPPORT_TIME_ZONE))
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


# --- After "Call now" --------------------------------------------------------------------------

RINGING, ANSWERED, CALL_OVER, NO_ANSWER = "ringing", "answered", "call_over", "no_answer"
LINE_BUSY, NOT_CONNECTED = "line_busy", "not_connected"
NOT_PUT_THROUGH, NOT_DIALLED = "not_put_through", "not_dialled"
# Twilio's final CallStatus of a call nobody answered (its StatusCallback, `/twilio/dial-status`,
# recorded by callbacks/dial_ended.py), and what the dialler is told. `canceled` is a call
# withdrawn before it was answered (not by us: we never cancel one): it did not go through.
# `completed`, answered, is not here.
DIAL_NOT_ANSWERED = {
    "busy": LINE_BUSY, "failed": NOT_CONNECTED, "canceled": NOT_CONNECTED,
    "no-answer": NO_ANSWER,
}  # fmt: skip
# Twilio's `completed` for a dial no call of ours answered: the customer picked up, but their
# stream never reached the dialler (refused, say, for want of the agent's configuration): they
# heard that we could not connect them (realtime/phone/views.py), and hung up on. Not "no
# answer": they did answer, and may well pick up again at once.
PICKED_UP = "completed"
DIAL_ENDED = {**DIAL_NOT_ANSWERED, PICKED_UP: NOT_PUT_THROUGH}
# A dial Twilio gave no SID for (call_now) is recorded as Twilio's own word for a call that
# did not go through: every reader of `dial_status` then takes it as over at once.
NOT_CONFIRMED = "failed"


@dataclass(frozen=True)
class Dial:
    """One "Call now" of a callback: a callback is dialled at most once at a time (call_now
    reserves `dialled_at`), so the two name the dial, its SID or none yet."""

    callback_id: str
    dialled_at: datetime


# How a dial's StatusCallback URL names it (dial_status_url); `dialled` in milliseconds since
# the epoch, as the database keeps the time.
DIAL_CALLBACK, DIAL_DIALLED = "callback", "dialled"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_MAX_MILLISECONDS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MILLISECOND


def dial_status_url(status_url: str, dial: Dial) -> str:
    """`status_url` (`/twilio/dial-status`) naming `dial`, for Twilio to post its end to. The
    call SID is written only once Twilio has answered our request, and a busy line or a failed
    call may be reported before that: the dial is found by what the URL names. Twilio signs
    the URL it posts to, query included (realtime/phone/security.py), so that is Twilio's word,
    as the SID is. Pure."""
    dialled = (dial.dialled_at - _EPOCH) // _MILLISECOND  # as BSON keeps it: whole ms, down
    return f"{status_url}?{urlencode({DIAL_CALLBACK: dial.callback_id, DIAL_DIALLED: dialled})}"


def dial_named(query: Mapping[str, str]) -> Dial | None:
    """The dial a StatusCallback URL's `query` names (dial_status_url), or None: a URL that
    names none (a dial placed before they were named), or not as we write them. Pure."""
    callback_id, dialled = query.get(DIAL_CALLBACK, ""), query.get(DIAL_DIALLED, "")
    if not callback_id or not dialled.isascii() or not dialled.isdigit():
        return None
    # Past any date a datetime holds is no dial of ours: the latest such date matches none.
    return Dial(callback_id, _EPOCH + digits_up_to(dialled, _MAX_MILLISECONDS) * _MILLISECOND)


def dialling(callback: Callback, answered_call_live: bool, now: datetime) -> str:
    """Where a dialled callback stands for the person who dialled it: ANSWERED (the customer
    picked up and the call is on: open it), CALL_OVER (they picked up and the call has ended:
    mark it done, or call again), RINGING (Twilio may still be ringing them), LINE_BUSY or
    NOT_CONNECTED (Twilio said so, or gave the dial no SID), NOT_PUT_THROUGH (they picked up,
    and their call never reached the dialler), NO_ANSWER (Twilio said nobody picked up, or
    they did not in time), or NOT_DIALLED (nobody has called them). Pure. An answered call
    and how a dial ended are always the latest dial's (call_now clears both on each dial), so
    once either is known nothing rings, however recent the dial."""
    if callback.answered_call_id:
        return ANSWERED if answered_call_live else CALL_OVER
    if callback.dial_status:
        return DIAL_ENDED.get(callback.dial_status, NO_ANSWER)
    if callback.dialled_at is None:
        return NOT_DIALLED  # a dial Twilio refused leaves none (call_now)
    if now - callback.dialled_at < REDIAL_AFTER:
        return RINGING
    if not callback.call_sid:
        return NOT_CONNECTED  # Twilio never gave it a SID, nor did the customer answer it
    return NO_ANSWER


def answered_call_live(callback: Callback) -> bool:
    """Whether the call the customer answered is still going on."""
    return _call_live(callback.answered_call_id)


def _call_live(call_id: str | None) -> bool:
    if not call_id:
        return False
    return sync_db().calls.find_one({"call_id": call_id, "ended_at": None}, {"_id": 1}) is not None
