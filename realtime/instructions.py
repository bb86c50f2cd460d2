"""What the model is told: the persona (an editable template with the customer's first name in
it) and the short notes the bridge slips into the conversation.

Support leads can change the persona by editing templates/realtime/agent_instructions.txt;
the next call picks the change up (Django caches templates only when DEBUG is off and the
cached loader is on, in which case a restart applies it).

Notes reach the model as a user turn it is told is not the customer's (contract section 8's
whisper works the same way); the customer never hears them, only the model's answer.
"""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

TEMPLATE = "realtime/agent_instructions.txt"


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


def greeting() -> str:
    return note(
        "The call has just connected. Greet the customer now, briefly. Your first words must "
        f'say, in your own voice: "{disclosure()}"'
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


def nudge() -> str:
    return note("The customer is waiting for your answer. Please answer them now.")


def line_dropped(seconds: float) -> str:
    return note(
        f"The line to the customer dropped for about {round(seconds)} seconds and is back. "
        "Anything they said meanwhile did not reach you: if you were waiting for an answer, "
        "briefly ask them to repeat it."
    )
