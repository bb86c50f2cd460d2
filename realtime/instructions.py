"""What the model is told: the persona (an editable template with the customer's first name in
it) and the short notes the bridge slips into the conversation.

Support leads can change the persona by editing templates/realtime/agent_instructions.txt;
the next call picks the change up (Django caches templates only when DEBUG is off and the
cached loader is on, in which case a restart applies it).

Notes reach the model as a user turn it is told is not the customer's (contract section 8's
whisper works the same way); the customer never hears them, only the model's answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

TEMPLATE = "realtime/agent_instructions.txt"


def _chime() -> bytes:
    """Two soft notes (660 then 880 Hz, 0.15 s each) at 24 kHz: someone new is on the line."""
    rate, each = 24_000, 0.15
    t = np.arange(int(rate * each)) / rate
    fade = np.minimum(1.0, np.minimum(t, each - t) / 0.02)
    notes = [np.sin(2 * np.pi * f * t) * fade for f in (660.0, 880.0)]
    return (np.concatenate(notes) * 6_000).astype("<i2").tobytes()


# What a phone caller hears when a staff member takes the call over.
JOINED_CHIME = _chime()


def system_instruction(first_name: str | None) -> str:
    return render_to_string(
        TEMPLATE, {"first_name": first_name or "", "disclosure": disclosure()}
    ).strip()


def disclosure() -> str:
    """What the agent's first words must say: that it is an AI (EU AI Act art. 50), and that
    the call may be recorded when recording is on."""
    text = settings.VOICE_AI_DISCLOSURE
    if getattr(settings, "RECORD_CALLS", False):
        text += " " + settings.VOICE_RECORDING_NOTICE
    return text


def note(text: str) -> str:
    return f"[Note from the support system, not said by the customer: {text}]"


def now_said(now: datetime | None = None) -> str:
    """Today's date and the time, on the customers' clock (SUPPORT_TIME_ZONE, contract section
    9): the model knows no date of its own, and customers say "yesterday", "on Sunday"."""
    moment = timezone.localtime(now)
    day = f"{moment:%A} {moment.day} {moment:%B %Y}"
    return f"It is now {day}, {moment:%H:%M} ({moment.tzinfo} time)."


def greeting(now: datetime | None = None) -> str:
    return note(
        f"The call has just connected. {now_said(now)} Greet the customer now, briefly. Your "
        f'first words must say, in your own voice: "{disclosure()}"'
    )


def check_in() -> str:
    return note("The customer has been silent for a while. Ask briefly if they are still there.")


def goodbye_idle() -> str:
    return note(
        "The customer has not answered for some time. Say a short, polite goodbye: the call "
        "will end now."
    )


def time_almost_up() -> str:
    return note(
        "This call will end in about a minute (calls have a maximum length). Tell the "
        "customer briefly and help them wrap up."
    )


def goodbye_max_duration() -> str:
    return note(
        "This call has reached its maximum length and will end now. Say a short, polite "
        "goodbye; if anything is left open, tell the customer they can call us again."
    )


def nudge() -> str:
    return note("The customer is waiting for your answer. Please answer them now.")


def line_dropped(seconds: float, *, unheard: bool = False) -> str:
    """`unheard`: the end of what the model was saying was lost with the line."""
    how_long = f"for about {round(seconds)} seconds" if round(seconds) >= 2 else "for a moment"
    text = f"The line to the customer dropped {how_long} and is back. "
    if unheard:
        text += "The customer did not hear the end of what you were saying: say it again, briefly. "
    return note(
        text + "Anything they said meanwhile did not reach you: if you were waiting for an "
        "answer, briefly ask them to repeat it."
    )


def whisper(staff_name: str, text: str) -> str:
    return note(
        f"{staff_name}, a supervisor listening to this call, gives you this guidance (the "
        f"customer does not hear it; act on it without mentioning it): {text}"
    )


def taken_over(staff_name: str) -> str:
    return note(
        f"{staff_name}, a human colleague, is now talking with the customer directly. Stay "
        "silent until you are told the call is handed back to you."
    )


def handed_back(
    staff_name: str, seconds: float, staff_note: str, *, by_name: str | None = None
) -> str:
    """`by_name`: a colleague handing the call back for `staff_name`, with their own note."""
    account = f"{staff_name} talked with the customer for {_m_ss(seconds)}."
    if by_name:
        account += f" {by_name}, a colleague, hands the call back to you for them."
    noted = f"{by_name}'s note" if by_name else "Their note"
    told = f' {noted} for you: "{staff_note}"' if staff_note else ""
    # The model heard none of it, and the caller has been talking with a person: without
    # this it greets again, or guesses at what was agreed.
    return note(
        f"{account}{told} The call is yours again. You did not hear what they said to each "
        "other: do not guess at it or repeat it. Do not greet the customer again or repeat "
        "your introduction; just let them know, in a few words, that they are back with you, "
        "the AI assistant, and carry on from the note, or ask what else you can help with."
    )


def colleague_coming() -> str:
    return note(
        "A colleague has been asked to join this call. Until they do, keep the customer "
        "company: reassure them, and help with anything you can meanwhile."
    )


def offer_callback(*, identified: bool = True) -> str:
    """After ESCALATION_WAIT_S with nobody joining. A callback goes to the number on the
    customer's account: a caller matched to none cannot be offered one."""
    if not identified:
        return note(
            "No colleague has been able to join yet. Apologise for the wait. We cannot book a "
            "callback for a caller we could not match to an account, so offer to keep waiting, "
            "or to call again later quoting their ticket number (say it slowly)."
        )
    return note(
        "No colleague has been able to join yet. Apologise for the wait and offer the customer "
        "a callback at a time that suits them (list_callback_slots, then schedule_callback), "
        "or to keep waiting."
    )


def tool_finished_late(tool: str, result: Mapping[str, Any]) -> str:
    """The real result of a tool the model was told took too long."""
    return note(
        f"The {tool} call that was taking too long has finished. Its real result: "
        f"{_compact(result)}. Tell the customer what actually happened, correcting anything "
        "said meanwhile" + ("; it is done, so do not call it again." if result.get("ok") else ".")
    )


def tool_finished_meanwhile(tool: str, result: Mapping[str, Any]) -> str:
    """The result of a tool the model asked for before its session was resumed (on a new
    connection, or in another process the call moved to): it may not remember asking, and
    the call id it asked with is gone, so the result comes as a note."""
    return note(
        f"While your session was being resumed, your {tool} call finished. "
        f"Its result: {_compact(result)}. Tell the customer what it means now"
        + ("; it is done, so do not call it again." if result.get("ok") else ".")
    )


def tool_done_though_cancelled(tool: str, result: Mapping[str, Any]) -> str:
    """A tool call the model cancelled (the customer interrupted) that was carried out."""
    return note(
        f"The {tool} call that was cancelled when the customer interrupted had already been "
        f"carried out: {_compact(result)}. Do not call it again; tell the customer what was "
        "done when it fits."
    )


def _compact(result: Mapping[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, default=str, separators=(", ", ": "))


def carry_on(said: list[tuple[str, str]]) -> str:
    """For a model session that starts afresh in a call already going on (the earlier one
    could not be resumed): the conversation so far, `said` as (role, text), oldest first."""
    who = {"user": "Customer", "agent": "You"}
    conversation = "\n".join(f"{who.get(role, role)}: {text}" for role, text in said)
    so_far = f"The conversation so far:\n{conversation}\n" if said else ""
    so_far = f"{now_said()} {so_far}"
    if not any(role == "agent" for role, _ in said):
        # The earlier session was lost before it said anything: the greeting, and the AI
        # disclosure in it, were never heard, and are owed still.
        return note(
            "This call was already in progress, but your earlier session could not be "
            f"resumed before you said anything. {so_far}Your first words must say, in your "
            f'own voice: "{disclosure()}" Then, if the customer is waiting for an answer, '
            "give it."
        )
    return note(
        "This call was already in progress, but your earlier session could not be resumed. "
        + so_far
        + "Do not greet the customer again or repeat the introduction: carry on from where "
        "the conversation stands, and if the customer is waiting for an answer, give it."
    )


def _m_ss(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d} minutes" if minutes else f"{rest} seconds"
