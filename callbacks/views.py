"""`/staff/callbacks/`: the callbacks from today on, and the staff actions on one.

Rendered in the admin's frame like the other staff pages. Every change is a POST with a CSRF
token, done by callbacks/desk.py, which refuses what someone else got to first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from pymongo.errors import PyMongoError

from callbacks import desk, dial_ended
from callbacks.board import board as board_page
from callbacks.models import Callback, CallbackStatus
from callbacks.slots import Hours
from livestaff.protocol import TAKE_OVER
from realtime.phone import security
from support.models import Customer
from support.staff.access import require_perm, staff_view
from support.staff.labels import phone_label
from support.staff.views.common import may, page_number, render_staff

log = logging.getLogger(__name__)

VIEW_CALLBACKS = "callbacks.view_callback"
CHANGE_CALLBACKS = "callbacks.change_callback"
CALLING_REFRESH_S = 2  # how often the page of a ringing callback looks again


@staff_view(VIEW_CALLBACKS)
def board(request: HttpRequest) -> HttpResponse:
    hours = Hours.from_settings()
    listed = board_page(timezone.now(), request.user.get_username(), hours, page_number(request))
    context = {
        "title": "Callbacks",
        "days": listed.days,
        "page": listed.page,
        "time_zone": hours.zone.key,
        "can_change": may(request, CHANGE_CALLBACKS),
        "here": request.get_full_path(),  # where a row's action comes back to: this page
        "demo_numbers": listed.demo_numbers,  # rows with a made-up number: said why, no "Call now"
        **_dialling_rights(request),
    }
    return render_staff(request, "callbacks/board.html", context)


def _dialling_rights(request: HttpRequest) -> dict[str, bool]:
    """Whether "Call now" / "Call again" can work for this user: Twilio set up for calling
    out, and the right to hold the answered call (as in a take-over)."""
    return {"can_dial": desk.dialling_configured(), "may_dial": may(request, TAKE_OVER)}


def _act(
    request: HttpRequest, callback_id: str, change: Callable[[str], object], done: str
) -> HttpResponseRedirect:
    """Run a change as the signed-in user and say how it went; `done` may name {customer}."""
    try:
        change(request.user.get_username())
    except desk.CallbackError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done.format(customer=_customer(callback_id)))
    return _back(request)


def _back(request: HttpRequest) -> HttpResponseRedirect:
    """Back to the board's page the action was taken on (the form's `next`), or its first."""
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        return HttpResponseRedirect(back)
    return redirect("callbacks:board")


@staff_view(CHANGE_CALLBACKS)
@require_POST
def claim(request: HttpRequest, callback_id: str) -> HttpResponseRedirect:
    return _act(request, callback_id, lambda me: desk.claim(callback_id, me),
                "You claimed the callback to {customer}.")  # fmt: skip


@staff_view(CHANGE_CALLBACKS)
@require_POST
def release(request: HttpRequest, callback_id: str) -> HttpResponseRedirect:
    """Give a held callback back to nobody: its holder's own, or a colleague's (a lead who
    must dial what an agent claimed, someone away from their desk)."""
    me = request.user.get_username()
    try:
        held_by = desk.release(callback_id, me)
    except desk.CallbackError as error:
        messages.error(request, error.message)
    else:
        whose = "your" if held_by == me else f"{desk.named(held_by)}'s"
        messages.success(request, f"You released {whose} callback to {_customer(callback_id)}; "
                                  "anyone may claim it now.")  # fmt: skip
    return _back(request)


@staff_view(CHANGE_CALLBACKS)
@require_POST
def mark_done(request: HttpRequest, callback_id: str) -> HttpResponseRedirect:
    return _act(request, callback_id, lambda me: desk.mark_done(callback_id, me),
                "The callback to {customer} is done.")  # fmt: skip


@staff_view(CHANGE_CALLBACKS)
@require_POST
def mark_missed(request: HttpRequest, callback_id: str) -> HttpResponseRedirect:
    return _act(request, callback_id, lambda me: desk.mark_missed(callback_id, me),
                "The callback to {customer} is marked missed.")  # fmt: skip


@staff_view(CHANGE_CALLBACKS)
@require_POST
def call_now(request: HttpRequest, callback_id: str) -> HttpResponseRedirect:
    require_perm(request, TAKE_OVER)
    stream_url = security.stream_url(request.get_host())
    voice_url = _webhook_url(request, "twilio-voice")
    status_url = _webhook_url(request, "twilio-dial-status")
    try:
        desk.call_now(callback_id, request.user.get_username(), stream_url, voice_url, status_url)
    except desk.DialNotConfirmed:
        pass  # the calling page says the call did not go through, and what next
    except desk.AlreadyCalling:
        # A double click, or "Call now" on their own ringing or answered call: its page, where
        # the answered call opens (on the board they would miss the customer picking up).
        pass
    except desk.CallbackError as error:
        messages.error(request, error.message)
        return _back(request)
    return redirect("callbacks:calling", callback_id=callback_id)


def _webhook_url(request: HttpRequest, name: str) -> str:
    """The public URL of the Twilio webhook `name`, as Twilio is to ask it and sign it."""
    path = reverse(name)
    return security.public_https_url(path, request.build_absolute_uri(path))


@csrf_exempt  # Twilio cannot send a CSRF token; its signature is checked instead
@require_POST
async def dial_status(request: HttpRequest) -> HttpResponse:
    """`POST /twilio/dial-status`: the StatusCallback of a call_now dial, which Twilio posts
    once the call is over with its final CallStatus. A busy line, a failed call or no answer
    is known at once, not only when the phone may no longer ring. Answers 204: Twilio reads
    nothing back. Async: what the database cannot take now is written once it can, from this
    process's event loop."""
    refused = security.webhook_refusal(request, "a dial status")
    if refused is not None:
        return refused
    call_sid, status = request.POST.get("CallSid", ""), request.POST.get("CallStatus", "")
    dial = desk.dial_named(request.GET)
    try:
        await dial_ended.record(call_sid, status, dial)
    except PyMongoError as error:
        # Twilio does not post it again: kept until the database is back.
        log.warning("callbacks: call %s ended %s; recorded once the database answers: %s",
                    call_sid, status, error)  # fmt: skip
        dial_ended.record_later(call_sid, status, dial)
    return HttpResponse(status=204)


@staff_view(CHANGE_CALLBACKS)
def calling(request: HttpRequest, callback_id: str) -> HttpResponse:
    """After "Call now": ringing (the page looks again every few seconds), then the call's
    live view once the customer answers, and "call over" once they hang up; or "line busy",
    "did not go through" or "no answer" (at once when Twilio says so). Each with what to do
    next."""
    callback = Callback.objects.filter(callback_id=callback_id).first()
    if callback is None:
        raise Http404("No such callback.")
    state = desk.dialling(callback, desk.answered_call_live(callback), timezone.now())
    if state == desk.ANSWERED:
        return redirect("livestaff:call", call_id=callback.answered_call_id)
    if callback.status != CallbackStatus.SCHEDULED:  # closed meanwhile: nothing to call
        messages.info(request, f"Callback {callback_id} is {callback.status}.")
        return redirect("callbacks:board")
    if state == desk.NOT_DIALLED:  # its URL typed or kept: nothing rang, nothing to say of it
        messages.info(request, f"Callback {callback_id} has not been called yet.")
        return redirect("callbacks:board")
    who = _customer(callback_id)
    me = request.user.get_username()
    context = {
        # True in every state, before the call and after it: the status line below says what
        # is happening ("Calling", "Ringing", "Call over", "No answer").
        "title": f"Callback to {who}",
        "who": who,
        "callback": callback,
        "state": state,
        # No SID from Twilio: still waiting for it (ringing), or it never came (not connected).
        "unconfirmed": not callback.call_sid,
        "refresh_s": CALLING_REFRESH_S,
        # The next steps are the holder's (desk refuses them to anyone else).
        "mine": callback.assignee in (None, "", me),
        "holder": desk.named(callback.assignee),
        "slot_begun": callback.slot_start <= timezone.now(),
        **_dialling_rights(request),
    }
    return render_staff(request, "callbacks/calling.html", context)


def _customer(callback_id: str) -> str:
    """'Asha Verma (+91 98000 00101)' for the callback's customer, for a message."""
    callback = Callback.objects.filter(callback_id=callback_id).only("customer", "phone").first()
    if callback is None:
        return callback_id
    name = Customer.objects.filter(user_id=callback.customer_id).values_list("name", flat=True)
    return f"{name.first() or 'the customer'} ({phone_label(callback.phone)})"
