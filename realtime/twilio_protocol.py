"""Twilio Media Streams messages: parse what Twilio sends, build what we send back. No I/O.

Twilio sends JSON text frames with an ``event`` of ``connected``, ``start``, ``media``, ``mark``,
``dtmf`` or ``stop`` (numeric fields arrive as strings); ``parse_message`` turns each into a typed
event or raises ``TwilioProtocolError``. A bidirectional stream accepts ``media`` (base64 8 kHz
µ-law, no file headers), ``mark`` and ``clear`` back; the ``*_message`` builders return that JSON
text. Reference: https://www.twilio.com/docs/voice/media-streams/websocket-messages
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from realtime import wire

DTMF_DIGITS = frozenset("0123456789*#")
_DTMF_NAMES = {"*": "the star key (*)", "#": "the pound key (#)"}


class TwilioProtocolError(ValueError):
    """A message from Twilio that is not valid Media Streams JSON; ``event`` if one was read."""

    def __init__(self, message: str, event: str | None = None) -> None:
        super().__init__(message)
        self.event = event


@dataclass(frozen=True, slots=True)
class MediaFormat:
    encoding: str  # "audio/x-mulaw"
    sample_rate: int  # 8000
    channels: int  # 1


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class Start:
    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...]
    media_format: MediaFormat
    custom_parameters: Mapping[str, str]  # the <Parameter>s from the TwiML <Stream>


@dataclass(frozen=True, slots=True)
class Media:
    sequence_number: int
    stream_sid: str
    track: str  # "inbound" (or "outbound" on a both-tracks stream)
    chunk: int  # counts from 1
    timestamp: int  # ms since the stream started
    payload: bytes  # raw µ-law, normally 160 bytes (20 ms)


@dataclass(frozen=True, slots=True)
class Mark:
    """Twilio finished playing (or a ``clear`` discarded) the audio sent before this mark."""

    sequence_number: int
    stream_sid: str
    name: str


@dataclass(frozen=True, slots=True)
class Dtmf:
    sequence_number: int
    stream_sid: str
    track: str
    digit: str  # one of DTMF_DIGITS


@dataclass(frozen=True, slots=True)
class Stop:
    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str


TwilioEvent: TypeAlias = Connected | Start | Media | Mark | Dtmf | Stop


def parse_message(text: str | bytes) -> TwilioEvent:
    """Parse one WebSocket text frame from Twilio. Raises TwilioProtocolError if malformed."""
    try:
        message = wire.loads(text)
    except wire.BadJson as exc:
        raise TwilioProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise TwilioProtocolError(f"expected a JSON object, got {type(message).__name__}")
    event = message.get("event")
    if event == "media":
        media = _well_formed_media(message)
        if media is not None:
            return media
    parser = _PARSERS.get(event) if isinstance(event, str) else None
    if parser is None:
        name = event if isinstance(event, str) else None
        raise TwilioProtocolError(f"unknown event {event!r}", name)
    try:
        return parser(message)
    except TwilioProtocolError as exc:
        raise TwilioProtocolError(f"{event}: {exc}", event) from None


# --- Field readers: each names the missing or bad field in its error -----------------------


def _object(message: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = message.get(key)
    if not isinstance(value, dict):
        raise TwilioProtocolError(f"missing or non-object field {key!r}")
    return value


def _string(message: Mapping[str, Any], key: str) -> str:
    value = message.get(key)
    if not isinstance(value, str) or not value:
        raise TwilioProtocolError(f"missing or non-string field {key!r}")
    return wire.clean_text(value)


def _integer(message: Mapping[str, Any], key: str) -> int:
    # Twilio sends numbers as strings ("sequenceNumber": "3") except inside mediaFormat.
    value = message.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TwilioProtocolError(f"missing or non-numeric field {key!r}")
    try:
        return int(value)
    except ValueError:
        raise TwilioProtocolError(f"field {key!r} is not an integer: {value!r}") from None


def _stream_sid(message: Mapping[str, Any], inner: Mapping[str, Any] | None = None) -> str:
    # `start` carries streamSid both at the top and inside; the others only at the top.
    if inner is not None and "streamSid" in inner:
        return _string(inner, "streamSid")
    return _string(message, "streamSid")


def _payload(media: Mapping[str, Any]) -> bytes:
    payload = media.get("payload")
    if not isinstance(payload, str):
        raise TwilioProtocolError("missing or non-string field 'payload'")
    try:
        return base64.b64decode(payload, validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise TwilioProtocolError(f"payload is not valid base64: {exc}") from None


# --- One parser per event ---------------------------------------------------------------------


def _connected(message: Mapping[str, Any]) -> Connected:
    return Connected(protocol=_string(message, "protocol"), version=_string(message, "version"))


def _start(message: Mapping[str, Any]) -> Start:
    start = _object(message, "start")
    media_format = _object(start, "mediaFormat")
    tracks = start.get("tracks", [])
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise TwilioProtocolError("field 'tracks' must be a list of strings")
    parameters = start.get("customParameters", {})
    if not isinstance(parameters, dict) or not all(
        isinstance(v, str) for v in parameters.values()
    ):
        raise TwilioProtocolError("field 'customParameters' must map names to strings")
    return Start(
        sequence_number=_integer(message, "sequenceNumber"),
        stream_sid=_stream_sid(message, start),
        account_sid=_string(start, "accountSid"),
        call_sid=_string(start, "callSid"),
        tracks=tuple(tracks),
        media_format=MediaFormat(
            encoding=_string(media_format, "encoding"),
            sample_rate=_integer(media_format, "sampleRate"),
            channels=_integer(media_format, "channels"),
        ),
        custom_parameters={
            wire.clean_text(str(name)): wire.clean_text(value) for name, value in parameters.items()
        },
    )


def _media(message: Mapping[str, Any]) -> Media:
    media = _object(message, "media")
    return Media(
        sequence_number=_integer(message, "sequenceNumber"),
        stream_sid=_stream_sid(message),
        track=_string(media, "track"),
        chunk=_integer(media, "chunk"),
        timestamp=_integer(media, "timestamp"),
        payload=_payload(media),
    )


def _well_formed_media(message: Mapping[str, Any]) -> Media | None:
    # `media` is ~50 frames a second per call, so read the fields Twilio sends (all strings)
    # directly; anything else is left to `_media`, whose field readers name what is wrong.
    media = message.get("media")
    if not isinstance(media, dict):
        return None
    sequence_number = message.get("sequenceNumber")
    stream_sid = message.get("streamSid")
    track = media.get("track")
    chunk = media.get("chunk")
    timestamp = media.get("timestamp")
    payload = media.get("payload")
    if not (
        isinstance(sequence_number, str)
        and isinstance(stream_sid, str)
        and isinstance(track, str)
        and isinstance(chunk, str)
        and isinstance(timestamp, str)
        and isinstance(payload, str)
        and stream_sid
        and track
    ):
        return None
    try:
        # Strict mode accepts a subset of what validate=True does (same bytes), and faster.
        audio = binascii.a2b_base64(payload, strict_mode=True)
        # Positional (in field order): keywords cost a frozen dataclass a fifth more.
        return Media(int(sequence_number), stream_sid, track, int(chunk), int(timestamp), audio)
    except ValueError:  # a non-integer number or bad base64 (binascii.Error)
        return None


def _mark(message: Mapping[str, Any]) -> Mark:
    return Mark(
        sequence_number=_integer(message, "sequenceNumber"),
        stream_sid=_stream_sid(message),
        name=_string(_object(message, "mark"), "name"),
    )


def _dtmf(message: Mapping[str, Any]) -> Dtmf:
    dtmf = _object(message, "dtmf")
    digit = _string(dtmf, "digit")
    if digit not in DTMF_DIGITS:
        raise TwilioProtocolError(f"unknown DTMF digit {digit!r}")
    return Dtmf(
        sequence_number=_integer(message, "sequenceNumber"),
        stream_sid=_stream_sid(message),
        track=_string(dtmf, "track"),
        digit=digit,
    )


def _stop(message: Mapping[str, Any]) -> Stop:
    stop = _object(message, "stop")
    return Stop(
        sequence_number=_integer(message, "sequenceNumber"),
        stream_sid=_stream_sid(message),
        account_sid=_string(stop, "accountSid"),
        call_sid=_string(stop, "callSid"),
    )


_PARSERS: dict[str, Callable[[Mapping[str, Any]], TwilioEvent]] = {
    "connected": _connected,
    "start": _start,
    "media": _media,
    "mark": _mark,
    "dtmf": _dtmf,
    "stop": _stop,
}


# --- Outbound messages ---------------------------------------------------------------------------


def _dumps(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def media_message(stream_sid: str, ulaw: bytes) -> str:
    """Play raw 8 kHz µ-law (no headers); send whole 160-byte frames for fine clear/mark."""
    # ~50 times a second per call: concatenate rather than build a dict for json.dumps.
    # Base64 never needs escaping; a stream SID (MZ + hex) neither, but anything else is
    # quoted by json.dumps so the message stays valid JSON.
    if stream_sid.isascii() and stream_sid.isalnum():
        quoted_sid = '"' + stream_sid + '"'
    else:
        quoted_sid = json.dumps(stream_sid)
    payload = base64.b64encode(ulaw).decode("ascii")
    return '{"event":"media","streamSid":' + quoted_sid + ',"media":{"payload":"' + payload + '"}}'


def mark_message(stream_sid: str, name: str) -> str:
    """Ask Twilio to echo a ``mark`` named ``name`` once the audio sent so far has played."""
    if not name:
        raise ValueError("a mark needs a non-empty name")  # Twilio rejects a nameless mark
    return _dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """Discard the audio Twilio has buffered but not yet played (barge-in)."""
    return _dumps({"event": "clear", "streamSid": stream_sid})


def dtmf_prompt(keys: str) -> str:
    """A sentence telling the model which key, or keys in a row, the caller pressed."""
    if len(keys) > 1:
        return f"The caller typed {keys} on their keypad."
    return f"The caller pressed {_DTMF_NAMES.get(keys, keys)} on their keypad."
