"""What a call tells its caller, typed (contract sections 3, 7 and 8), with no I/O.

The call session builds these once; each consumer translates them into its own wire format:
the browser consumer into JSON events (`browser_protocol.encode`), the phone consumer into
playout actions (a phone has no screen, so most are for the record only).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class AgentAudio:
    """The agent's voice: PCM16 LE mono at 24 kHz."""

    pcm24k: bytes


@dataclass(frozen=True, slots=True)
class Ready:
    KIND: ClassVar[str] = "ready"
    call_id: str
    resume_token: str = ""


@dataclass(frozen=True, slots=True)
class Transcript:
    KIND: ClassVar[str] = "transcript"
    role: str  # "user" or "agent"
    text: str
    final: bool


@dataclass(frozen=True, slots=True)
class ToolActivity:
    KIND: ClassVar[str] = "tool"
    name: str
    status: str  # "started", "done" or "failed"
    result: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Interrupted:
    KIND: ClassVar[str] = "interrupted"


@dataclass(frozen=True, slots=True)
class TurnComplete:
    KIND: ClassVar[str] = "turn_complete"


@dataclass(frozen=True, slots=True)
class Reconnecting:
    KIND: ClassVar[str] = "reconnecting"


@dataclass(frozen=True, slots=True)
class Resumed:
    KIND: ClassVar[str] = "resumed"


@dataclass(frozen=True, slots=True)
class Escalated:
    KIND: ClassVar[str] = "escalated"
    ticket_id: str


@dataclass(frozen=True, slots=True)
class Notice:
    """An `error` event: something the caller must know; the call may go on."""

    KIND: ClassVar[str] = "error"
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Reconnect:
    """This process is draining: re-attach (with the resume token) through the balancer."""

    KIND: ClassVar[str] = "reconnect"


@dataclass(frozen=True, slots=True)
class AgentChanged:
    """Who the caller is talking to: "human" (a staff member, by first name) or "agent"."""

    KIND: ClassVar[str] = "agent_changed"
    mode: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Ended:
    KIND: ClassVar[str] = "ended"
    reason: str


CallerEvent = (
    Ready
    | Transcript
    | ToolActivity
    | Interrupted
    | TurnComplete
    | Reconnecting
    | Resumed
    | Escalated
    | Notice
    | Reconnect
    | AgentChanged
    | Ended
)
Delivery = AgentAudio | CallerEvent


def as_dict(event: CallerEvent) -> dict[str, Any]:
    """The event as its JSON object (`type` first); a None field is left out."""
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    return {"type": event.KIND, **{k: v for k, v in fields.items() if v is not None}}
