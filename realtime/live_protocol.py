"""The Gemini Live API (BidiGenerateContent) wire format, with no I/O.

Outgoing: `build_setup` returns the first frame as a dict; the other builders return the
JSON text to send as a WebSocket *text* frame. Incoming: `parse_server_message` turns one
frame (text or binary; the Developer API sends binary) into typed events, in the order they
appear in the frame.

The shapes follow what google-genai 3.4.0 puts on the wire (`google/genai/_live_converters.py`)
and are proved equal to it in `realtime/tests/test_live_sdk_proof.py`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from realtime import wire

INPUT_SAMPLE_RATE = 16_000
OUTPUT_SAMPLE_RATE = 24_000
INPUT_AUDIO_MIME_TYPE = f"audio/pcm;rate={INPUT_SAMPLE_RATE}"

Scheduling: TypeAlias = Literal["SILENT", "WHEN_IDLE", "INTERRUPT"]
StartSensitivity: TypeAlias = Literal["START_SENSITIVITY_HIGH", "START_SENSITIVITY_LOW"]
EndSensitivity: TypeAlias = Literal["END_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW"]

# A 16 kHz PCM16 call is about 25 tokens/s, and every turn re-bills the whole context. A
# sliding window keeps a long call alive past the 15-minute audio-only limit and caps the
# cost of each later turn; ~20 minutes of speech fits under the trigger.
DEFAULT_COMPRESSION_TRIGGER_TOKENS = 32_000
DEFAULT_COMPRESSION_TARGET_TOKENS = 16_000
# Short enough to feel responsive, long enough not to cut a caller who pauses mid-sentence.
DEFAULT_SILENCE_DURATION_MS = 600
DEFAULT_PREFIX_PADDING_MS = 200
# The largest token count kept from one message (see _bounded_count).
MAX_COUNT = 10**9


class LiveProtocolError(Exception):
    """A frame from the Live API that does not follow the protocol.

    `frame` holds the offending frame (possibly truncated) for logging.
    """

    def __init__(self, message: str, frame: str | bytes | None = None) -> None:
        super().__init__(message)
        self.frame = frame[:500] if frame is not None else None


# --- Outgoing messages ---------------------------------------------------------------------


def build_setup(
    *,
    model: str,
    voice: str,
    system_instruction: str,
    function_declarations: Sequence[Mapping[str, Any]],
    resumption_handle: str | None = None,
    language_code: str | None = None,
    silence_duration_ms: int = DEFAULT_SILENCE_DURATION_MS,
    prefix_padding_ms: int = DEFAULT_PREFIX_PADDING_MS,
    start_sensitivity: StartSensitivity | None = None,
    end_sensitivity: EndSensitivity | None = None,
    compression_trigger_tokens: int | None = DEFAULT_COMPRESSION_TRIGGER_TOKENS,
    compression_target_tokens: int | None = DEFAULT_COMPRESSION_TARGET_TOKENS,
) -> dict[str, Any]:
    """The `{"setup": ...}` message that must be the first frame of a connection.

    `model` may be a bare id (`gemini-3.8-live`) or already prefixed with `models/`.
    `function_declarations` are wire-shaped declarations (`name`, `description`,
    `parameters` with upper-case `type`s, optional `behavior`); with none, no `tools` are
    sent. Pass the last `resumption_handle` seen to resume a session. Nothing that
    `gemini-3.8-live` rejects (thinking, affective dialog, proactivity) is ever included.
    """
    speech_config: dict[str, Any] = {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}}
    if language_code is not None:
        speech_config["languageCode"] = language_code

    vad: dict[str, Any] = {"disabled": False}
    if start_sensitivity is not None:
        vad["startOfSpeechSensitivity"] = start_sensitivity
    if end_sensitivity is not None:
        vad["endOfSpeechSensitivity"] = end_sensitivity
    vad["prefixPaddingMs"] = prefix_padding_ms
    vad["silenceDurationMs"] = silence_duration_ms

    sliding_window: dict[str, Any] = {}
    if compression_target_tokens is not None:
        sliding_window["targetTokens"] = compression_target_tokens
    compression: dict[str, Any] = {"slidingWindow": sliding_window}
    if compression_trigger_tokens is not None:
        compression["triggerTokens"] = compression_trigger_tokens

    setup: dict[str, Any] = {
        "model": model if model.startswith("models/") else f"models/{model}",
        "generationConfig": {"responseModalities": ["AUDIO"], "speechConfig": speech_config},
        # The SDK sends the instruction as a user-role Content; so do we.
        "systemInstruction": {"parts": [{"text": system_instruction}], "role": "user"},
    }
    if function_declarations:
        setup["tools"] = [{"functionDeclarations": [dict(d) for d in function_declarations]}]
    setup["sessionResumption"] = {"handle": resumption_handle} if resumption_handle else {}
    setup["inputAudioTranscription"] = {}
    setup["outputAudioTranscription"] = {}
    setup["realtimeInputConfig"] = {"automaticActivityDetection": vad}
    setup["contextWindowCompression"] = compression
    return {"setup": setup}


def setup_message(setup: Mapping[str, Any]) -> str:
    """`build_setup`'s dict as the JSON text to send."""
    return json.dumps(setup, separators=(",", ":"))


# audio_message runs ~50 times a second per call: one base64 pass and a concatenation, no
# dict building or json.dumps. Standard base64 needs no JSON escaping.
_AUDIO_PREFIX = '{"realtimeInput":{"audio":{"data":"'
_AUDIO_SUFFIX = f'","mimeType":"{INPUT_AUDIO_MIME_TYPE}"}}}}}}'


def audio_message(pcm16: bytes) -> str:
    """A `realtimeInput.audio` message for raw PCM16 LE mono 16 kHz audio.

    Never `mediaChunks`: 3.x models close the socket (1007) on it.
    """
    return _AUDIO_PREFIX + base64.b64encode(pcm16).decode("ascii") + _AUDIO_SUFFIX


def text_message(text: str) -> str:
    """A `realtimeInput.text` message: typed input, answered like speech."""
    return json.dumps({"realtimeInput": {"text": text}}, ensure_ascii=False)


def context_note_message(text: str, *, respond: bool = True) -> str:
    """A `clientContent` user turn: context the model reads but the caller never hears (a
    note from the system, a supervisor's whisper). With `respond` the model answers it at
    once (`turnComplete`); on 3.x that also cuts short whatever it was saying."""
    turn = {"parts": [{"text": text}], "role": "user"}
    return json.dumps(
        {"clientContent": {"turns": [turn], "turnComplete": respond}}, ensure_ascii=False
    )


_AUDIO_STREAM_END = '{"realtimeInput":{"audioStreamEnd":true}}'


def audio_stream_end_message() -> str:
    """Tells the server the microphone paused, so it flushes buffered audio."""
    return _AUDIO_STREAM_END


@dataclass(frozen=True, slots=True)
class FunctionResponse:
    """The answer to one `FunctionCall`; `response` must be a JSON-serialisable object."""

    id: str
    name: str
    response: Mapping[str, Any]


def tool_response_message(
    responses: Sequence[FunctionResponse], *, scheduling: Scheduling | None = None
) -> str:
    """A `toolResponse` message answering one or more function calls.

    `scheduling` applies to every response and is only meaningful for NON_BLOCKING
    functions (the default on 3.8); leave it None for models without async calling (3.1).
    Raises ValueError for a response without an id, which the Developer API requires.
    """
    function_responses = []
    for item in responses:
        if not item.id:
            raise ValueError(f"function response for {item.name!r} has no id")
        entry: dict[str, Any] = {"id": item.id, "name": item.name, "response": dict(item.response)}
        if scheduling is not None:
            entry["scheduling"] = scheduling
        function_responses.append(entry)
    return json.dumps(
        {"toolResponse": {"functionResponses": function_responses}}, ensure_ascii=False
    )


def function_responses_in(message: str) -> list[FunctionResponse]:
    """The responses in a message `tool_response_message` built: for telling the model what
    one that could not be sent said."""
    body = json.loads(message)["toolResponse"]["functionResponses"]
    return [FunctionResponse(item["id"], item["name"], item["response"]) for item in body]


# --- Incoming events -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetupComplete:
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Agent speech: PCM16 LE mono, normally at 24 kHz (see `mime_type`)."""

    data: bytes
    mime_type: str = f"audio/pcm;rate={OUTPUT_SAMPLE_RATE}"


@dataclass(frozen=True, slots=True)
class ModelText:
    """A text part of the model turn; `thought` marks a thinking summary, not speech."""

    text: str
    thought: bool = False


@dataclass(frozen=True, slots=True)
class Transcript:
    """A caption fragment; `finished` is unreliable (never set on 2.5 models)."""

    role: Literal["user", "agent"]
    text: str
    finished: bool = False


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The caller barged in: drop agent audio not yet played."""


@dataclass(frozen=True, slots=True)
class GenerationComplete:
    pass


@dataclass(frozen=True, slots=True)
class TurnComplete:
    reason: str | None = None
    waiting_for_input: bool | None = None
    interaction_status: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionCall:
    id: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MalformedCall:
    """A function call that cannot run as sent; answered with an error when it has an id."""

    id: str
    name: str
    problem: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    calls: list[FunctionCall]
    malformed: list[MalformedCall] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ToolCallCancellation:
    """The model abandoned these calls (usually a barge-in): do not answer them."""

    ids: list[str]


@dataclass(frozen=True, slots=True)
class GoAway:
    """The server will close this connection in `time_left_s` seconds: resume now."""

    time_left_s: float | None


@dataclass(frozen=True, slots=True)
class ResumptionUpdate:
    """`handle` is None when the session cannot be resumed at this point."""

    handle: str | None
    resumable: bool


@dataclass(frozen=True, slots=True)
class Usage:
    """One `usageMetadata` snapshot. Snapshots are per turn and must be summed.

    `details` keeps the whole message (camelCase keys, every count as int), including the
    per-modality `promptTokensDetails` / `responseTokensDetails` lists.
    """

    prompt_token_count: int = 0
    response_token_count: int = 0
    total_token_count: int = 0
    thoughts_token_count: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VoiceActivity:
    """The Live API's own speech detection: the caller started (`start`) or stopped talking;
    `offset_s` is where in the connection's audio stream, when the server says."""

    start: bool
    offset_s: float | None = None


@dataclass(frozen=True, slots=True)
class Malformed:
    """Part of a frame could not be read (the rest of it was): for the log."""

    detail: str


ServerEvent: TypeAlias = (
    SetupComplete
    | AudioChunk
    | ModelText
    | Transcript
    | Interrupted
    | GenerationComplete
    | TurnComplete
    | ToolCall
    | ToolCallCancellation
    | GoAway
    | ResumptionUpdate
    | Usage
    | VoiceActivity
    | Malformed
)


def parse_server_message(frame: str | bytes) -> list[ServerEvent]:
    """Every event in one server frame, in the order it appears.

    Accepts text and binary frames, camelCase and snake_case keys, standard and URL-safe
    base64. Unknown keys are ignored (the API grows); malformed frames raise
    LiveProtocolError.
    """
    try:
        message = wire.loads(frame)
    except wire.BadJson as exc:
        raise LiveProtocolError(f"server frame is not JSON: {exc}", frame) from None
    events = _parse_audio_only(message)
    if events is not None:
        return events
    try:
        return _parse_message(_object(message, "message"))
    except LiveProtocolError as exc:
        raise LiveProtocolError(str(exc), frame) from None


def _parse_audio_only(message: Any) -> list[ServerEvent] | None:
    # Most frames are agent speech and nothing else, ~50 a second per call:
    # {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/...",
    # "data": "<standard base64>"}}, ...]}}}. Read that shape directly. Anything else (another
    # event, snake_case, URL-safe base64, a non-audio part, a bad value) returns None, for the
    # general parser to read or refuse; keys that parser ignores are ignored here too.
    if not (isinstance(message, dict) and len(message) == 1):
        return None
    content = message.get("serverContent")
    if not (isinstance(content, dict) and len(content) == 1):
        return None
    turn = content.get("modelTurn")
    parts = turn.get("parts") if isinstance(turn, dict) else None
    if not isinstance(parts, list):
        return None
    chunks: list[ServerEvent] = []
    for part in parts:
        blob = part.get("inlineData") if isinstance(part, dict) else None
        if not isinstance(blob, dict):
            return None
        mime_type = blob.get("mimeType")
        data = blob.get("data")
        if not (isinstance(mime_type, str) and mime_type.startswith("audio/")):
            return None
        if not isinstance(data, str):
            return None
        try:
            audio = binascii.a2b_base64(data, strict_mode=True)
        except ValueError:
            return None
        chunks.append(AudioChunk(_whole_samples(audio), mime_type))
    return chunks


def _parse_message(message: dict[str, Any]) -> list[ServerEvent]:
    # Each top-level key is read on its own: a bad `usageMetadata` must not cost the caller
    # the audio or the tool call that came in the same frame.
    events: list[ServerEvent] = []
    problems: list[str] = []
    for key, value in message.items():
        parse = _TOP_LEVEL.get(_camel(key))
        if parse is None or value is None:
            continue
        try:
            events.extend(parse(value))
        except LiveProtocolError as exc:
            problems.append(str(exc))
    if problems and not events:
        raise LiveProtocolError("; ".join(problems))
    if problems:
        events.append(Malformed("; ".join(problems)))
    return events


def _parse_setup_complete(value: Any) -> list[ServerEvent]:
    body = _object(value, "setupComplete")
    return [SetupComplete(session_id=_optional_str(body, "sessionId", "setupComplete"))]


def _parse_server_content(value: Any) -> list[ServerEvent]:
    content = _object(value, "serverContent")
    events: list[ServerEvent] = []
    for key, item in content.items():
        key = _camel(key)
        if item is None:
            continue
        if key == "modelTurn":
            events.extend(_parse_model_turn(item))
        elif key in ("inputTranscription", "outputTranscription"):
            events.append(_parse_transcription(item, key))
        elif key == "interrupted" and _bool(item, key):
            events.append(Interrupted())
        elif key == "generationComplete" and _bool(item, key):
            events.append(GenerationComplete())
        elif key == "turnComplete" and _bool(item, key):
            events.append(
                TurnComplete(
                    reason=_optional_str(content, "turnCompleteReason", "serverContent"),
                    waiting_for_input=_optional_bool(content, "waitingForInput"),
                    interaction_status=_optional_str(content, "interactionStatus", "serverContent"),
                )
            )
    return events


def _parse_model_turn(value: Any) -> list[ServerEvent]:
    turn = _object(value, "modelTurn")
    events: list[ServerEvent] = []
    for part in _optional_list(turn, "parts", "modelTurn"):
        part = _object(part, "modelTurn.parts[]")
        inline = _get(part, "inlineData")
        text = _get(part, "text")
        if inline is not None:
            blob = _object(inline, "inlineData")
            mime_type = _optional_str(blob, "mimeType", "inlineData") or ""
            if mime_type.startswith("audio/"):
                audio = _whole_samples(_b64decode(_get(blob, "data") or ""))
                events.append(AudioChunk(audio, mime_type))
        elif text is not None:
            thought = _optional_bool(part, "thought") or False
            events.append(ModelText(wire.clean_text(_str(text, "part.text")), thought=thought))
    return events


def _parse_transcription(value: Any, key: str) -> Transcript:
    body = _object(value, key)
    return Transcript(
        role="user" if key == "inputTranscription" else "agent",
        text=wire.clean_text(_optional_str(body, "text", key) or ""),
        finished=_optional_bool(body, "finished") or False,
    )


def _parse_tool_call(value: Any) -> list[ServerEvent]:
    body = _object(value, "toolCall")
    calls: list[FunctionCall] = []
    malformed: list[MalformedCall] = []
    for raw in _optional_list(body, "functionCalls", "toolCall"):
        # One bad call is answered as such; the others in the frame still run.
        call = raw if isinstance(raw, dict) else {}
        call_id = _clean_id(_get(call, "id"))
        name = _clean_id(_get(call, "name"))
        args = _get(call, "args")
        if not isinstance(raw, dict):
            malformed.append(MalformedCall(call_id, name, "a function call must be an object"))
        elif not name:
            malformed.append(MalformedCall(call_id, name, "the function call has no name"))
        elif not call_id:  # no answer could reach the model: a refund must not run unheard
            malformed.append(MalformedCall(call_id, name, "the function call has no id"))
        elif args is not None and not isinstance(args, dict):
            malformed.append(MalformedCall(call_id, name, "the arguments must be an object"))
        else:
            calls.append(FunctionCall(id=call_id, name=name, args=_clean_json(args or {})))
    return [ToolCall(calls, malformed)]


def _clean_id(value: Any) -> str:
    return wire.clean_text(value)[:200] if isinstance(value, str) else ""


def _clean_json(value: Any) -> Any:
    """Tool arguments with every string (keys too) safe to store and send back."""
    if isinstance(value, str):
        return wire.clean_text(value)
    if isinstance(value, dict):
        return {wire.clean_text(str(k)): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_json(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_COUNT:
        return _float(value)  # beyond what MongoDB stores as an integer
    return value


def _float(value: int) -> float:
    """An integer as a float; past what a float holds (over 308 digits), an infinity."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _parse_tool_call_cancellation(value: Any) -> list[ServerEvent]:
    body = _object(value, "toolCallCancellation")
    ids = _optional_list(body, "ids", "toolCallCancellation")
    return [ToolCallCancellation([_clean_id(_str(i, "toolCallCancellation.ids[]")) for i in ids])]


def _parse_go_away(value: Any) -> list[ServerEvent]:
    body = _object(value, "goAway")
    time_left = _get(body, "timeLeft")
    return [GoAway(None if time_left is None else parse_duration(time_left))]


def _parse_resumption_update(value: Any) -> list[ServerEvent]:
    body = _object(value, "sessionResumptionUpdate")
    handle = _optional_str(body, "newHandle", "sessionResumptionUpdate")
    handle = wire.clean_text(handle) if handle else handle
    resumable = _optional_bool(body, "resumable") or False
    return [ResumptionUpdate(handle=handle or None, resumable=resumable)]


def _parse_usage(value: Any) -> list[ServerEvent]:
    details = _int64_counts(_camel_keys(_object(value, "usageMetadata")))
    for key, entries in details.items():  # per-modality lists: [{"modality": …, "tokenCount": …}]
        if key.endswith("TokensDetails") and not (
            isinstance(entries, list) and all(isinstance(entry, dict) for entry in entries)
        ):
            raise LiveProtocolError(f"usageMetadata.{key:.40} is not a list of objects")

    def count(key: str) -> int:
        return int(details.get(key, 0))

    return [
        Usage(
            prompt_token_count=count("promptTokenCount"),
            response_token_count=count("responseTokenCount"),
            total_token_count=count("totalTokenCount"),
            thoughts_token_count=count("thoughtsTokenCount"),
            details=details,
        )
    ]


_ACTIVITY_TYPES = {
    "ACTIVITY_START": True, "ACTIVITY_END": False,
    "VAD_SIGNAL_TYPE_SOS": True, "VAD_SIGNAL_TYPE_EOS": False,
}  # fmt: skip


def _parse_voice_activity(value: Any) -> list[ServerEvent]:
    body = _object(value, "voiceActivity")
    kind = _optional_str(body, "voiceActivityType", "voiceActivity") or _optional_str(
        body, "vadSignalType", "voiceActivityDetectionSignal"
    )
    if kind not in _ACTIVITY_TYPES:
        return []  # unspecified, or a type newer than this code
    offset = _get(body, "audioOffset")
    offset_s = None if offset is None else parse_duration(offset)
    if offset_s is not None and offset_s < 0:  # before the stream began
        raise LiveProtocolError(f"voiceActivity.audioOffset is negative: {offset!r:.60}")
    return [VoiceActivity(_ACTIVITY_TYPES[kind], offset_s)]


_TOP_LEVEL: dict[str, Callable[[Any], list[ServerEvent]]] = {
    "setupComplete": _parse_setup_complete,
    "serverContent": _parse_server_content,
    "toolCall": _parse_tool_call,
    "toolCallCancellation": _parse_tool_call_cancellation,
    "goAway": _parse_go_away,
    "sessionResumptionUpdate": _parse_resumption_update,
    "usageMetadata": _parse_usage,
    "voiceActivity": _parse_voice_activity,
    "voiceActivityDetectionSignal": _parse_voice_activity,
}

_DURATION = re.compile(r"^(-?\d+(?:\.\d*)?|-?\.\d+)s$")


def parse_duration(value: Any) -> float:
    """Seconds in a protobuf Duration (`"50s"`, `"1.5s"`); a bare number is taken as seconds.
    Finite only: JSON lets a peer send NaN and Infinity, and 400 digits read as an infinity."""
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = _float(value) if isinstance(value, int) else value
    elif isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match:
            seconds = float(match.group(1))
    if seconds is None or not math.isfinite(seconds):
        raise LiveProtocolError(f"not a duration: {value!r:.60}")
    return seconds


# --- Helpers -------------------------------------------------------------------------------


@functools.cache
def _camel(key: str) -> str:
    # The server accepts and may send protobuf-JSON field names in either style.
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


@functools.cache
def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _get(obj: dict[str, Any], camel_key: str) -> Any:
    value = obj.get(camel_key)
    return obj.get(_snake(camel_key)) if value is None else value


def _camel_keys(value: Any) -> Any:
    # Only for usageMetadata, whose nested keys are all field names (no user data).
    if isinstance(value, dict):
        return {_camel(k): _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


def _int64_counts(value: Any) -> Any:
    # Protobuf JSON may send integer counts as strings ("522"); every *Count is an integer.
    if isinstance(value, dict):
        return {
            k: _as_int(v, k) if k.endswith("Count") else _int64_counts(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_int64_counts(v) for v in value]
    return value


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise LiveProtocolError(f"{where} is not an integer: {value!r}")
    if isinstance(value, int):
        return _bounded_count(value)
    if isinstance(value, str) and len(value) <= 20:
        try:
            return _bounded_count(int(value))
        except ValueError:
            pass
    raise LiveProtocolError(f"{where} is not an integer: {value!r:.40}")


def _bounded_count(value: int) -> int:
    # Counts are summed into the call record, whose integers are 64-bit: a count beyond any
    # real one (a billion tokens in one message) is capped rather than allowed to break it.
    return min(max(value, 0), MAX_COUNT)


def _whole_samples(pcm: bytes) -> bytes:
    """The agent's PCM16 in whole samples: a stray last byte (a broken server's) is dropped.
    Kept, it would end a phone call (the resampler refuses it) and break the page's player."""
    return pcm[: len(pcm) & ~1]


def _b64decode(value: Any) -> bytes:
    text = _str(value, "inlineData.data")
    try:
        # The usual case, standard and padded. Strict mode accepts a subset of what the
        # general decode below does (giving the same bytes) without its copies.
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError:
        pass
    # The URL-safe alphabet maps onto the standard one; padding may be omitted.
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise LiveProtocolError(f"inlineData.data is not base64: {exc}") from exc


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LiveProtocolError(f"{where} must be an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise LiveProtocolError(f"{where} must be a list, got {type(value).__name__}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise LiveProtocolError(f"{where} must be a string, got {type(value).__name__}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise LiveProtocolError(f"{where} must be a boolean, got {type(value).__name__}")
    return value


def _optional_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = _get(obj, key)
    return None if value is None else _str(value, f"{where}.{key}")


def _optional_list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = _get(obj, key)
    return [] if value is None else _list(value, f"{where}.{key}")


def _optional_bool(obj: dict[str, Any], key: str) -> bool | None:
    value = _get(obj, key)
    return None if value is None else _bool(value, key)
