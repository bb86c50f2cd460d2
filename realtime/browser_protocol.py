"""The `/ws/voice` message format (contract section 3), with no I/O.

Client frames are decoded into typed messages or a `BadFrame` carrying the contract's error
code; server events are built as JSON text. The consumer only moves bytes between the socket
and these functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from realtime import wire
from realtime.caller_events import CallerEvent, Ended, Notice, as_dict

MAX_BINARY_FRAME = 64 * 1024  # 2 s of 16 kHz PCM16
MAX_TEXT_FRAME = 8 * 1024


class FrameCode:
    """The `error` codes of contract section 3 (plus the server's own)."""

    FRAME_TOO_LARGE = "frame_too_large"
    BAD_JSON = "bad_json"
    UNKNOWN_TYPE = "unknown_type"
    ODD_LENGTH = "odd_length"


@dataclass(frozen=True, slots=True)
class CallerAudio:
    pcm16: bytes  # 16 kHz mono PCM16 LE, a whole number of samples


@dataclass(frozen=True, slots=True)
class CallerText:
    text: str


@dataclass(frozen=True, slots=True)
class AudioEnd:
    pass


@dataclass(frozen=True, slots=True)
class HangUp:
    pass


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame the call survives: answered with an `error` event, then ignored."""

    code: str
    message: str


CallerMessage = CallerAudio | CallerText | AudioEnd | HangUp


def decode_binary(data: bytes) -> tuple[CallerAudio | None, BadFrame | None]:
    """Audio from the microphone. An odd trailing byte is dropped and reported."""
    if len(data) > MAX_BINARY_FRAME:
        return None, BadFrame(
            FrameCode.FRAME_TOO_LARGE,
            f"Audio frames are at most {MAX_BINARY_FRAME} bytes; this one was {len(data)}.",
        )
    if len(data) % 2:
        problem = BadFrame(
            FrameCode.ODD_LENGTH,
            "Audio must be whole 16-bit samples; the trailing byte was dropped.",
        )
        return (CallerAudio(data[:-1]) if len(data) > 1 else None), problem
    return (CallerAudio(data) if data else None), None


def decode_text(text: str) -> CallerMessage | BadFrame:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_FRAME:
        return BadFrame(
            FrameCode.FRAME_TOO_LARGE,
            f"Text frames are at most {MAX_TEXT_FRAME} bytes; this one was {size}.",
        )
    try:
        message = wire.loads(text)
    except wire.BadJson:
        return BadFrame(FrameCode.BAD_JSON, "Text frames must be JSON objects.")
    if not isinstance(message, dict):
        return BadFrame(FrameCode.BAD_JSON, "Text frames must be JSON objects.")
    kind = message.get("type")
    if kind == "text":
        typed = message.get("text")
        if not isinstance(typed, str) or not typed.strip():
            return BadFrame(FrameCode.BAD_JSON, '"text" must be a non-empty string.')
        # Bounded by the frame's 8 KiB alone (contract section 3), like any other frame.
        # A lone surrogate would break the upstream socket when sent on: replace it here.
        return CallerText(wire.clean_text(typed.strip()))
    if kind == "audio_end":
        return AudioEnd()
    if kind == "end":
        return HangUp()
    return BadFrame(
        FrameCode.UNKNOWN_TYPE,
        f"Unknown message type {str(kind)[:40]!r}; expected text, audio_end or end.",
    )


# --- Server -> client events -------------------------------------------------------------


def encode(event: CallerEvent) -> str:
    """The JSON text frame for one of the call's events; a `None` field is left out."""
    return json.dumps(as_dict(event), ensure_ascii=False, separators=(",", ":"))


def event_json(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields}, ensure_ascii=False, separators=(",", ":"))


def error(code: str, message: str) -> str:
    return encode(Notice(code, message))


def ended(reason: str) -> str:
    return encode(Ended(reason))
