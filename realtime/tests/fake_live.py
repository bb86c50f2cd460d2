"""A recording, scriptable fake of the Gemini Live API (BidiGenerateContent) for tests and
benchmarks.

It behaves like the real Developer API where that is known (docs, the google-genai SDK, and
issue threads; see /work/shared/reference/gemini-live.md section 11): the same routes and
key handling, snake_case and camelCase input, both base64 alphabets, `setupComplete` first
as a binary frame, errors as close codes with Google's reason texts, and only camelCase,
SDK-known top-level keys on the way out.

    async with FakeLiveServer() as fake:

        @fake.on_session
        async def script(session: FakeSession) -> None:
            await session.wait_for_audio(seconds=0.5)
            await session.send_transcript("user", "where is my order")
            [call_id] = await session.send_tool_call([{"name": "check_order_status"}])
            answer = await session.wait_for_tool_response()
            await session.send_audio(pcm24k, chunk_ms=20)
            await session.send_turn_complete(usage={"promptTokenCount": 10, ...})

        ... point the code under test at fake.url (API key "test-key") ...
        assert fake.sessions[0].setup["model"] == "models/gemini-3.8-live"

A script runs once per connection, after `setupComplete`; the connection then stays open
and keeps recording until the client (or the script) closes it. An exception raised by a
script is re-raised when the `async with` block ends, so a broken expectation fails the test.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

API_VERSIONS = ("v1", "v1beta", "v1alpha")
ALL_VERSIONS = frozenset(API_VERSIONS)
PREVIEW_VERSIONS = frozenset({"v1beta", "v1alpha"})

# Model id -> API versions serving it. Preview models are not on v1 (google-genai 3.0
# release notes); which exact ids are on which version is our best reading, not documented.
DEFAULT_MODELS: Mapping[str, frozenset[str]] = {
    "gemini-3.8-live": ALL_VERSIONS,
    "gemini-3.8-live-extended-thinking": ALL_VERSIONS,
    "gemini-3.1-flash-live-preview": PREVIEW_VERSIONS,
    "gemini-2.5-flash-native-audio-preview-12-2025": PREVIEW_VERSIONS,
    "gemini-2.5-flash-native-audio-preview-09-2025": PREVIEW_VERSIONS,
    "gemini-2.5-flash-native-audio-latest": PREVIEW_VERSIONS,
}

# noqa SIM905 below: thirty names read better as one string than as a list literal.
VOICES = frozenset(
    "Zephyr Puck Charon Kore Fenrir Leda Orus Aoede Callirrhoe Autonoe Enceladus Iapetus "  # noqa: SIM905
    "Umbriel Algieba Despina Erinome Algenib Rasalgethi Laomedeia Achernar Alnilam Schedar "
    "Gacrux Pulcherrima Achird Zubenelgenubi Vindemiatrix Sadachbia Sadaltager Sulafat".split()
)

# Close reasons as Google words them.
INVALID_ARGUMENT = "Request contains an invalid argument."
MEDIA_CHUNKS_DEPRECATED = (
    "realtime_input.media_chunks is deprecated. Use audio, video, or text instead."
)
INTERNAL_ERROR = "Internal error encountered."
DEADLINE_EXPIRED = "Deadline expired before operation could complete."
QUOTA_EXCEEDED = "You exceeded your current quota, please check your plan and billing details."
# Auth failures as seen in community reports; not in Google's docs.
UNREGISTERED_CALLER = (
    "Method doesn't allow unregistered callers (callers without established identity)."
    " Please use API Key or other form of API consumer identity to call this API."
)
INVALID_API_KEY = "API key not valid. Please pass a valid API key."

# The only top-level keys google-genai 3.4.0 maps; anything else makes it raise TypeError.
SERVER_MESSAGE_KEYS = frozenset(
    {
        "setupComplete",
        "serverContent",
        "toolCall",
        "toolCallCancellation",
        "usageMetadata",
        "goAway",
        "sessionResumptionUpdate",
        "voiceActivityDetectionSignal",
        "voiceActivity",
    }
)

_PATH = re.compile(
    r"^/+ws/google\.ai\.generativelanguage\.(?P<version>v1|v1beta|v1alpha)"
    r"\.GenerativeService\.(?P<method>BidiGenerateContent|BidiGenerateContentConstrained)$"
)

Script = Callable[["FakeSession"], Awaitable[None]]


class _Reject(Exception):
    """Internal: close the connection with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        # A close frame carries at most 123 bytes of reason; Google's long texts arrive cut.
        self.reason = reason.encode()[:123].decode(errors="ignore")


def _invalid(what: str) -> _Reject:
    # The real server gives no detail; `what` only helps whoever reads a failing test.
    exc = _Reject(1007, INVALID_ARGUMENT)
    exc.add_note(what)
    return exc


# --- Wire normalisation --------------------------------------------------------------------

# Fields whose value is user data (google.protobuf.Struct/Value): copied untouched.
_OPAQUE_FIELDS = frozenset(
    {"args", "response", "parametersJsonSchema", "responseJsonSchema", "default", "example"}
)
# map<string, Message> fields: the keys are user data, the values are messages.
_MAP_FIELDS = frozenset({"properties", "labels", "defs"})


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def normalise_keys(value: Any) -> Any:
    """Protobuf-JSON field names to lowerCamelCase, at every level, as Google's parser does.

    Keys inside Struct fields (tool args and responses) and map keys (schema property
    names) are data, not field names, and are kept as sent.
    """
    if isinstance(value, list):
        return [normalise_keys(v) for v in value]
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        key = _camel(key)
        if key in _OPAQUE_FIELDS:
            result[key] = item
        elif key in _MAP_FIELDS and isinstance(item, dict):
            result[key] = {k: normalise_keys(v) for k, v in item.items()}
        else:
            result[key] = normalise_keys(item)
    return result


def decode_base64(text: Any) -> bytes:
    """Standard or URL-safe base64 (the SDK sends URL-safe), padding optional."""
    if not isinstance(text, str):
        raise _invalid("bytes field is not a string")
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise _invalid(f"bad base64: {exc}") from None


# --- Setup validation ----------------------------------------------------------------------

_SETUP_FIELDS = frozenset(
    {
        "model",
        "generationConfig",
        "systemInstruction",
        "tools",
        "realtimeInputConfig",
        "sessionResumption",
        "contextWindowCompression",
        "inputAudioTranscription",
        "outputAudioTranscription",
        "proactivity",
        "historyConfig",
        "safetySettings",
        "labels",
        "avatarConfig",
    }
)
_GENERATION_FIELDS = frozenset(
    {
        "responseModalities",
        "temperature",
        "topP",
        "topK",
        "maxOutputTokens",
        "seed",
        "mediaResolution",
        "speechConfig",
        "thinkingConfig",
        "enableAffectiveDialog",
        "translationConfig",
        "candidateCount",
        "presencePenalty",
        "frequencyPenalty",
    }
)
_SPEECH_FIELDS = frozenset({"voiceConfig", "languageCode"})
_REALTIME_INPUT_CONFIG_FIELDS = frozenset(
    {
        "automaticActivityDetection",
        "activityHandling",
        "turnCoverage",
        "interimTranscriptTimestampEnabled",
    }
)
_VAD_ENUMS: Mapping[str, frozenset[str]] = {
    "startOfSpeechSensitivity": frozenset(
        {"START_SENSITIVITY_UNSPECIFIED", "START_SENSITIVITY_HIGH", "START_SENSITIVITY_LOW"}
    ),
    "endOfSpeechSensitivity": frozenset(
        {"END_SENSITIVITY_UNSPECIFIED", "END_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW"}
    ),
}
_VAD_FIELDS = frozenset({"disabled", "prefixPaddingMs", "silenceDurationMs", *_VAD_ENUMS})
_FUNCTION_FIELDS = frozenset(
    {
        "name",
        "description",
        "parameters",
        "parametersJsonSchema",
        "response",
        "responseJsonSchema",
        "behavior",
    }
)
_BEHAVIORS = frozenset({"UNSPECIFIED", "BLOCKING", "NON_BLOCKING"})
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
_SCHEMA_FIELDS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_SCHEMA_TYPES = frozenset(
    {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
)
_SCHEDULING = frozenset({"SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE", "INTERRUPT"})


def _model_generation(model_id: str) -> tuple[int, int]:
    match = re.match(r"gemini-(\d+)\.(\d+)", model_id)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"{where} must be an object")
    return value


def _only(obj: dict[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = set(obj) - set(allowed)
    if unknown:
        raise _invalid(f"unknown field(s) in {where}: {sorted(unknown)}")


@dataclass(frozen=True)
class ModelRules:
    """What one model accepts, derived from its id (see the reference, section 7)."""

    model_id: str

    @property
    def generation(self) -> tuple[int, int]:
        return _model_generation(self.model_id)

    @property
    def rejects_media_chunks(self) -> bool:
        return self.generation >= (3, 0)

    @property
    def audio_only(self) -> bool:
        return self.generation >= (3, 8)

    def unsupported_setup_fields(self, setup: dict[str, Any]) -> list[str]:
        generation_config = setup.get("generationConfig") or {}
        found = []
        if self.generation >= (3, 0):
            if "proactivity" in setup:
                found.append("proactivity")
            if "enableAffectiveDialog" in generation_config:
                found.append("generationConfig.enableAffectiveDialog")
        if (
            self.generation >= (3, 8)
            and not self.model_id.endswith("extended-thinking")
            and "thinkingConfig" in generation_config
        ):
            found.append("generationConfig.thinkingConfig")
        return found


def _check_setup(setup: Any, rules: ModelRules) -> None:
    setup = _object(setup, "setup")
    _only(setup, _SETUP_FIELDS, "setup")
    generation_config = _object(setup.get("generationConfig", {}), "generationConfig")
    _only(generation_config, _GENERATION_FIELDS, "generationConfig")
    modalities = generation_config.get("responseModalities", ["AUDIO"])
    if not isinstance(modalities, list) or len(modalities) != 1:
        raise _invalid("responseModalities must name exactly one modality")
    if modalities[0] not in ("AUDIO", "TEXT") or (rules.audio_only and modalities[0] != "AUDIO"):
        raise _invalid(f"response modality {modalities[0]!r} not supported by {rules.model_id}")
    _check_speech(_object(generation_config.get("speechConfig", {}), "speechConfig"))
    instruction = setup.get("systemInstruction")
    if instruction is not None:
        parts = _object(instruction, "systemInstruction").get("parts")
        if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
            raise _invalid("systemInstruction.parts must be a list of parts")
    for tool in setup.get("tools", []) or []:
        _check_tool(_object(tool, "tools[]"))
    _check_realtime_input_config(
        _object(setup.get("realtimeInputConfig", {}), "realtimeInputConfig")
    )
    resumption = _object(setup.get("sessionResumption", {}), "sessionResumption")
    # `transparent` is Vertex-only; the Developer API rejects it.
    _only(resumption, {"handle"}, "sessionResumption")
    compression = _object(setup.get("contextWindowCompression", {}), "contextWindowCompression")
    _only(compression, {"triggerTokens", "slidingWindow"}, "contextWindowCompression")
    window = _object(compression.get("slidingWindow", {}), "slidingWindow")
    _only(window, {"targetTokens"}, "slidingWindow")
    for key in ("inputAudioTranscription", "outputAudioTranscription"):
        _object(setup.get(key, {}), key)


def _check_speech(speech: dict[str, Any]) -> None:
    _only(speech, _SPEECH_FIELDS, "speechConfig")
    voice_config = _object(speech.get("voiceConfig", {}), "voiceConfig")
    _only(voice_config, {"prebuiltVoiceConfig"}, "voiceConfig")
    prebuilt = _object(voice_config.get("prebuiltVoiceConfig", {}), "prebuiltVoiceConfig")
    _only(prebuilt, {"voiceName"}, "prebuiltVoiceConfig")
    voice = prebuilt.get("voiceName")
    if voice is not None and voice not in VOICES:
        raise _invalid(f"unknown voice {voice!r}")


def _check_tool(tool: dict[str, Any]) -> None:
    # Code execution, URL context and Maps are not available on the Live models.
    _only(tool, {"functionDeclarations", "googleSearch"}, "tools[]")
    declarations = tool.get("functionDeclarations", [])
    if not isinstance(declarations, list):
        raise _invalid("functionDeclarations must be a list")
    for declaration in declarations:
        declaration = _object(declaration, "functionDeclarations[]")
        _only(declaration, _FUNCTION_FIELDS, "functionDeclarations[]")
        name = declaration.get("name")
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise _invalid(f"bad function name {name!r}")
        if declaration.get("behavior", "UNSPECIFIED") not in _BEHAVIORS:
            raise _invalid(f"bad behavior {declaration.get('behavior')!r}")
        if "parameters" in declaration:
            _check_schema(declaration["parameters"], f"{name}.parameters")


def _check_schema(schema: Any, where: str) -> None:
    schema = _object(schema, where)
    _only(schema, _SCHEMA_FIELDS, where)
    kind = schema.get("type")
    # Google's parser takes enum names case-insensitively here ("object" and "OBJECT").
    if kind is not None and (not isinstance(kind, str) or kind.upper() not in _SCHEMA_TYPES):
        raise _invalid(f"{where}.type {kind!r}")
    for name, sub in _object(schema.get("properties", {}), f"{where}.properties").items():
        _check_schema(sub, f"{where}.{name}")
    if "items" in schema:
        _check_schema(schema["items"], f"{where}.items")
    for sub in schema.get("anyOf", []) or []:
        _check_schema(sub, f"{where}.anyOf")


def _check_realtime_input_config(config: dict[str, Any]) -> None:
    _only(config, _REALTIME_INPUT_CONFIG_FIELDS, "realtimeInputConfig")
    vad = _object(config.get("automaticActivityDetection", {}), "automaticActivityDetection")
    _only(vad, _VAD_FIELDS, "automaticActivityDetection")
    for key, allowed in _VAD_ENUMS.items():
        if key in vad and vad[key] not in allowed:
            raise _invalid(f"{key} {vad[key]!r}")
    for key in ("prefixPaddingMs", "silenceDurationMs"):
        if key in vad and (not isinstance(vad[key], int) or isinstance(vad[key], bool)):
            raise _invalid(f"{key} must be an integer")


# --- Sessions ------------------------------------------------------------------------------


@dataclass(eq=False, repr=False)
class FakeSession:
    """One connection to the fake: what the client sent, and the script's remote control.

    Everything recorded is normalised to camelCase; `frames` keeps the raw frames.
    """

    server: FakeLiveServer
    connection: ServerConnection
    index: int
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    api_version: str
    method: str
    setup: dict[str, Any] | None = None
    resumed_handle: str | None = None
    resumed_from: FakeSession | None = None
    frames: list[str | bytes] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    audio_chunks: list[bytes] = field(default_factory=list)
    audio_mime_types: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    tool_responses: list[dict[str, Any]] = field(default_factory=list)
    late_tool_responses: list[dict[str, Any]] = field(default_factory=list)
    audio_stream_ends: int = 0
    activity: list[str] = field(default_factory=list)
    client_contents: list[dict[str, Any]] = field(default_factory=list)
    context_updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    handles_issued: list[str] = field(default_factory=list)
    pending_tool_calls: dict[str, str] = field(default_factory=dict)
    cancelled_tool_calls: set[str] = field(default_factory=set)
    close_code: int | None = None
    close_reason: str | None = None
    closed_by_fake: bool = False
    _audio: bytearray = field(default_factory=bytearray)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _closed: bool = False
    _cursors: dict[str, int] = field(default_factory=dict)
    _call_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<FakeSession #{self.index} {self.model} {state} {self.close_code or ''}>"

    # -- what was received --

    @property
    def audio(self) -> bytes:
        """Every audio byte received, concatenated (decoded from base64)."""
        return bytes(self._audio)

    @property
    def audio_seconds(self) -> float:
        return len(self._audio) / 32_000  # PCM16 mono at 16 kHz

    @property
    def model(self) -> str | None:
        return self.setup.get("model") if self.setup else None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def open(self) -> bool:
        return self.setup is not None and not self._closed

    # -- waiting --

    async def wait_for(
        self, predicate: Callable[[], bool], what: str, *, timeout: float = 5.0
    ) -> None:
        """Until `predicate()` holds; AssertionError if it times out or the socket closes."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                while not predicate():
                    if self._closed:
                        raise AssertionError(
                            f"session {self.index} closed ({self.close_code} {self.close_reason!r})"
                            f" before {what}"
                        )
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"session {self.index}: no {what} within {timeout}s") from None

    async def wait_for_audio(
        self, *, seconds: float | None = None, nbytes: int | None = None, timeout: float = 5.0
    ) -> bytes:
        """Until at least this much audio arrived in total (16 kHz PCM16); returns all of it."""
        needed = nbytes if nbytes is not None else round((seconds or 0.0) * 32_000) or 1
        await self.wait_for(
            lambda: len(self._audio) >= needed, f"{needed} audio bytes", timeout=timeout
        )
        return self.audio

    async def wait_for_text(self, *, timeout: float = 5.0) -> str:
        """The next `realtimeInput.text` not yet returned by this method."""
        text: str = await self._next("texts", self.texts, "text input", timeout)
        return text

    async def wait_for_tool_response(self, *, timeout: float = 5.0) -> dict[str, Any]:
        """The next function response (`{id, name, response, ...}`) not yet returned."""
        response: dict[str, Any] = await self._next(
            "tool_responses", self.tool_responses, "tool response", timeout
        )
        return response

    async def wait_for_note(self, *, timeout: float = 5.0) -> str:
        """The text of the next `clientContent` turn not yet returned (the bridge's notes)."""
        content: dict[str, Any] = await self._next(
            "client_contents", self.client_contents, "client content", timeout
        )
        return _note_text(content)

    @property
    def notes(self) -> list[str]:
        """The text of every `clientContent` turn so far (the bridge's notes), in order."""
        return [_note_text(content) for content in self.client_contents]

    async def wait_for_audio_stream_end(self, *, timeout: float = 5.0) -> None:
        """The next `audioStreamEnd` not yet waited for."""
        seen = self._cursors.get("audio_stream_ends", 0)
        await self.wait_for(
            lambda: self.audio_stream_ends > seen, "audioStreamEnd", timeout=timeout
        )
        self._cursors["audio_stream_ends"] = seen + 1

    async def wait_closed(self, *, timeout: float = 5.0) -> tuple[int | None, str | None]:
        """Until the connection is over; returns its close code and reason."""
        with contextlib.suppress(AssertionError):
            await self.wait_for(lambda: False, "the end", timeout=timeout)
        if not self._closed:
            raise AssertionError(f"session {self.index} still open after {timeout}s")
        return self.close_code, self.close_reason

    async def _next(self, name: str, items: list[Any], what: str, timeout: float) -> Any:
        seen = self._cursors.get(name, 0)
        await self.wait_for(lambda: len(items) > seen, what, timeout=timeout)
        self._cursors[name] = seen + 1
        return items[seen]

    # -- sending --

    async def send(self, message: Mapping[str, Any]) -> None:
        """One server message, as given; only top-level keys the SDK knows are allowed."""
        unknown = set(message) - SERVER_MESSAGE_KEYS
        if unknown:
            # The real server never sends these, and the SDK crashes on them: a test bug.
            raise ValueError(f"not a Live API server message key: {sorted(unknown)}")
        self.sent.append(dict(message))
        await self.send_raw(json.dumps(message, separators=(",", ":")))

    async def send_raw(self, frame: str | bytes) -> None:
        """A frame exactly as given, in the fake's frame mode when `frame` is a str."""
        if isinstance(frame, str) and not self.server.text_frames:
            frame = frame.encode()
        await self.connection.send(frame)

    async def send_audio(
        self,
        pcm: bytes,
        *,
        chunk_ms: int = 20,
        sample_rate: int = 24_000,
        realtime: bool = False,
    ) -> int:
        """Agent speech (PCM16 mono), one `modelTurn` inlineData part per chunk.

        With `realtime`, chunks are paced at playback speed. Returns the number of frames.
        """
        chunk_bytes = max(2, sample_rate * 2 * chunk_ms // 1000)
        mime_type = f"audio/pcm;rate={sample_rate}"
        frames = 0
        for start in range(0, len(pcm), chunk_bytes):
            data = base64.b64encode(pcm[start : start + chunk_bytes]).decode("ascii")
            part = {"inlineData": {"mimeType": mime_type, "data": data}}
            await self.send({"serverContent": {"modelTurn": {"parts": [part]}}})
            frames += 1
            if realtime:
                await asyncio.sleep(chunk_ms / 1000)
        return frames

    async def send_model_text(self, text: str) -> None:
        await self.send({"serverContent": {"modelTurn": {"parts": [{"text": text}]}}})

    async def send_transcript(self, role: str, text: str, *, finished: bool = False) -> None:
        """A caption: role "user" (inputTranscription) or "agent" (outputTranscription)."""
        if role not in ("user", "agent"):
            raise ValueError(f"role must be 'user' or 'agent', not {role!r}")
        key = "inputTranscription" if role == "user" else "outputTranscription"
        body: dict[str, Any] = {"text": text}
        if finished:
            body["finished"] = True
        await self.send({"serverContent": {key: body}})

    async def send_interrupted(self) -> None:
        await self.send({"serverContent": {"interrupted": True}})

    async def send_generation_complete(self) -> None:
        await self.send({"serverContent": {"generationComplete": True}})

    async def send_turn_complete(
        self,
        *,
        usage: Mapping[str, Any] | None = None,
        reason: str | None = None,
        interaction_status: str | None = None,
    ) -> None:
        """`turnComplete`, with `usageMetadata` in the same frame when given (as the server
        does). 3.8 models also get `interactionStatus` ("IDLE" unless told otherwise)."""
        content: dict[str, Any] = {"turnComplete": True}
        if reason is not None:
            content["turnCompleteReason"] = reason
        model = (self.model or "").removeprefix("models/")
        if interaction_status is None and _model_generation(model) >= (3, 8):
            interaction_status = "IDLE"
        if interaction_status is not None:
            content["interactionStatus"] = interaction_status
        message: dict[str, Any] = {"serverContent": content}
        if usage is not None:
            message["usageMetadata"] = normalise_keys(dict(usage))
        await self.send(message)

    async def send_usage(self, usage: Mapping[str, Any]) -> None:
        await self.send({"usageMetadata": normalise_keys(dict(usage))})

    async def send_tool_call(self, calls: Sequence[Mapping[str, Any]]) -> list[str]:
        """A `toolCall` with one function call per `{name, args?, id?}`; missing ids are
        made fresh. Returns the ids, which the client must answer."""
        function_calls = []
        for call in calls:
            call_id = str(call.get("id") or f"fc-{self.index}-{next(self._call_ids)}")
            function_calls.append(
                {"id": call_id, "name": call["name"], "args": dict(call.get("args") or {})}
            )
            self.pending_tool_calls[call_id] = call["name"]
        await self.send({"toolCall": {"functionCalls": function_calls}})
        return [c["id"] for c in function_calls]

    async def send_tool_call_cancellation(self, ids: Sequence[str]) -> None:
        for call_id in ids:
            self.pending_tool_calls.pop(call_id, None)
            self.cancelled_tool_calls.add(call_id)
        await self.send({"toolCallCancellation": {"ids": list(ids)}})

    async def send_go_away(self, time_left: str | float = "50s") -> None:
        """`goAway`; a number is seconds (sent as a protobuf Duration string)."""
        if not isinstance(time_left, str):
            time_left = f"{time_left:g}s"
        await self.send({"goAway": {"timeLeft": time_left}})

    async def send_resumption_update(self, handle: str | None, *, resumable: bool = True) -> None:
        """A `sessionResumptionUpdate`; the handle can later resume this session.
        Pass `handle=None, resumable=False` for "not resumable right now"."""
        if self.setup is None or "sessionResumption" not in self.setup:
            raise ValueError("the server only sends resumption updates when setup asked for them")
        body: dict[str, Any] = {"resumable": resumable}
        if handle is not None:
            body["newHandle"] = handle
            self.handles_issued.append(handle)
            self.server._handle_owners[handle] = self
        await self.send({"sessionResumptionUpdate": body})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close as Google does: a close frame with a code and reason (e.g. 1011
        "Internal error encountered.")."""
        self.closed_by_fake = True
        await self.connection.close(code, reason)

    async def drop(self) -> None:
        """Vanish without a close frame; the client sees 1006."""
        self.closed_by_fake = True
        transport = self.connection.transport
        transport.abort()
        await asyncio.sleep(0)

    # -- recording (called by the server) --

    async def _changed_now(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _record(self, message: dict[str, Any]) -> None:
        rules = ModelRules((self.model or "").removeprefix("models/"))
        keys = set(message)
        if len(keys) != 1 or not keys <= {
            "clientContent",
            "realtimeInput",
            "toolResponse",
            "contextUpdate",
        }:
            raise _invalid(f"bad client message keys {sorted(keys)}")
        self.messages.append(message)
        if "realtimeInput" in message:
            self._record_realtime_input(_object(message["realtimeInput"], "realtimeInput"), rules)
        elif "toolResponse" in message:
            self._record_tool_response(_object(message["toolResponse"], "toolResponse"))
        elif "clientContent" in message:
            self.client_contents.append(_object(message["clientContent"], "clientContent"))
        else:
            self.context_updates.append(_object(message["contextUpdate"], "contextUpdate"))

    def _record_realtime_input(self, body: dict[str, Any], rules: ModelRules) -> None:
        _only(
            body,
            {
                "audio",
                "video",
                "text",
                "audioStreamEnd",
                "activityStart",
                "activityEnd",
                "mediaChunks",
            },
            "realtimeInput",
        )
        vad_disabled = bool(
            ((self.setup or {}).get("realtimeInputConfig") or {})
            .get("automaticActivityDetection", {})
            .get("disabled", False)
        )
        if "mediaChunks" in body:
            if rules.rejects_media_chunks:
                raise _Reject(1007, MEDIA_CHUNKS_DEPRECATED)
            for chunk in body["mediaChunks"]:
                self._record_blob(_object(chunk, "mediaChunks[]"))
        if "audio" in body:
            self._record_blob(_object(body["audio"], "audio"))
        if "text" in body:
            if not isinstance(body["text"], str):
                raise _invalid("realtimeInput.text must be a string")
            self.texts.append(body["text"])
        if body.get("audioStreamEnd"):
            if vad_disabled:
                raise _invalid("audioStreamEnd needs automatic activity detection")
            self.audio_stream_ends += 1
        for key, name in (("activityStart", "start"), ("activityEnd", "end")):
            if key in body:
                if not vad_disabled:
                    raise _invalid(f"{key} needs automatic activity detection disabled")
                self.activity.append(name)

    def _record_blob(self, blob: dict[str, Any]) -> None:
        mime_type = blob.get("mimeType", "")
        data = decode_base64(blob.get("data", ""))
        if not isinstance(mime_type, str) or not mime_type.startswith("audio/"):
            return  # video frames: not recorded as audio
        self.audio_mime_types.append(mime_type)
        self.audio_chunks.append(data)
        self._audio += data

    def _record_tool_response(self, body: dict[str, Any]) -> None:
        responses = body.get("functionResponses")
        if not isinstance(responses, list):
            raise _invalid("toolResponse.functionResponses must be a list")
        for response in responses:
            response = _object(response, "functionResponses[]")
            call_id = response.get("id")
            if not call_id:
                raise _invalid("function response without id")
            if response.get("scheduling", "SCHEDULING_UNSPECIFIED") not in _SCHEDULING:
                raise _invalid(f"bad scheduling {response.get('scheduling')!r}")
            if call_id in self.cancelled_tool_calls:
                # Racing a cancellation is normal for a bridge; the server drops it.
                self.late_tool_responses.append(response)
                continue
            if self.server.strict_tool_ids and call_id not in self.pending_tool_calls:
                raise _invalid(f"function response for unknown call id {call_id!r}")
            self.pending_tool_calls.pop(call_id, None)
            self.tool_responses.append(response)


# --- The server ----------------------------------------------------------------------------


class FakeLiveServer:
    """A Live API server on 127.0.0.1 (plain ws://, a free port) for one test.

    Options: `api_key` the key clients must send (`x-goog-api-key` or `?key=`);
    `ephemeral_tokens` accepted on the Constrained method; `models` the ids served per API
    version; `text_frames` to send JSON as text instead of binary frames;
    `unsupported_setup_close` the close for setup fields the model does not support (real
    code undocumented); `strict_tool_ids` to close 1007 on a response to a call never made;
    `connection_lifetime_s` / `go_away_time_left_s` to end every connection with `goAway`
    then 1011 "Deadline expired..." like the real ~10-minute cap.
    """

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        ephemeral_tokens: Iterable[str] = (),
        models: Mapping[str, frozenset[str]] = DEFAULT_MODELS,
        text_frames: bool = False,
        unsupported_setup_close: tuple[int, str] = (1007, INVALID_ARGUMENT),
        strict_tool_ids: bool = True,
        connection_lifetime_s: float | None = None,
        go_away_time_left_s: float = 0.5,
        api_version: str = "v1beta",
    ) -> None:
        self.api_key = api_key
        self.ephemeral_tokens = set(ephemeral_tokens)
        self.models = dict(models)
        self.text_frames = text_frames
        self.unsupported_setup_close = unsupported_setup_close
        self.strict_tool_ids = strict_tool_ids
        self.connection_lifetime_s = connection_lifetime_s
        self.go_away_time_left_s = go_away_time_left_s
        self.api_version = api_version
        self.sessions: list[FakeSession] = []
        self.script_errors: list[BaseException] = []
        self._scripts: list[Script] = []
        self._server: Server | None = None
        self._handle_owners: dict[str, FakeSession] = {}
        self._stall_setups_from: int | None = None
        self.setup_delay_s = 0.0  # how long each setup takes to answer (a slow Live API)
        self._sessions_changed = asyncio.Condition()
        self.port = 0

    # -- lifecycle --

    async def __aenter__(self) -> FakeLiveServer:
        self._server = await serve(
            self._serve,
            "127.0.0.1",
            0,
            process_request=self._check_route,
            max_size=16 * 2**20,
            # The real server's pings are not part of anything we test; keep logs quiet.
            ping_interval=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        if exc is None and self.script_errors:
            raise self.script_errors[0]

    # -- addresses --

    @property
    def base_url(self) -> str:
        """`ws://127.0.0.1:PORT`, what the SDK's `_websocket_base_url` should return."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The full BidiGenerateContent URL (v1beta unless `api_version` says otherwise)."""
        return self.url_for(self.api_version)

    def url_for(self, version: str = "v1beta", method: str = "BidiGenerateContent") -> str:
        return (
            f"{self.base_url}/ws/google.ai.generativelanguage.{version}.GenerativeService.{method}"
        )

    # -- scripting --

    def on_session(self, *scripts: Script) -> Script:
        """Scripts for the next connections, in order; the last repeats for later ones.

        Usable as a decorator. Each runs after `setupComplete` with the FakeSession.
        """
        self._scripts.extend(scripts)
        return scripts[-1]

    def stall_setups(self, *, from_session: int = 0) -> None:
        """From connection number `from_session` (0-based) on, read the setup and never answer
        it, the socket left open until the client closes it: a Live API that hangs at setup
        (no script runs on those connections)."""
        self._stall_setups_from = from_session

    def answer_setups(self) -> None:
        """Setups are answered again from now on (after stall_setups)."""
        self._stall_setups_from = None

    @property
    def session(self) -> FakeSession:
        """The most recent connection."""
        if not self.sessions:
            raise AssertionError("no client has connected to the fake Live API")
        return self.sessions[-1]

    async def wait_for_session(self, index: int = 0, *, timeout: float = 5.0) -> FakeSession:
        """Connection number `index` (0-based), once it has passed setup or been rejected."""

        def ready() -> bool:
            if len(self.sessions) <= index:
                return False
            session = self.sessions[index]
            return session.setup is not None or session.closed

        try:
            async with asyncio.timeout(timeout), self._sessions_changed:
                await self._sessions_changed.wait_for(ready)
        except TimeoutError:
            raise AssertionError(f"no Live API session #{index} within {timeout}s") from None
        return self.sessions[index]

    # -- connection handling --

    def _check_route(self, connection: ServerConnection, request: Request) -> Response | None:
        if not _PATH.match(request.path.partition("?")[0]):
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None  # the handler only runs after the handshake
        # Not urlsplit: it would read the "ws" of a leading "//ws/..." as a host name.
        path, _, query = request.path.partition("?")
        route = _PATH.match(path)
        assert route is not None  # _check_route refused anything else
        session = FakeSession(
            server=self,
            connection=connection,
            index=len(self.sessions),
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.raw_items()},
            query={k: v[0] for k, v in parse_qs(query).items()},
            api_version=route["version"],
            method=route["method"],
        )
        self.sessions.append(session)
        tasks: list[asyncio.Task[None]] = []
        try:
            if self._stall_setups_from is not None and session.index >= self._stall_setups_from:
                session.frames.append(await connection.recv())
                await connection.wait_closed()
                return
            try:
                await self._open(session)
            except _Reject as rejection:
                session.closed_by_fake = True
                await connection.close(rejection.code, rejection.reason)
                await connection.wait_closed()
                return
            reader = asyncio.create_task(self._read(session))
            if self.connection_lifetime_s is not None:
                tasks.append(asyncio.create_task(self._expire(session)))
            if self._scripts:
                script = self._scripts[min(session.index, len(self._scripts) - 1)]
                tasks.append(asyncio.create_task(self._run_script(script, session)))
            await reader
        except ConnectionClosed:
            pass  # the client left during setup
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            session._closed = True
            session.close_code = connection.close_code
            session.close_reason = connection.close_reason
            await session._changed_now()
            async with self._sessions_changed:
                self._sessions_changed.notify_all()

    async def _open(self, session: FakeSession) -> None:
        """Auth, setup validation and resumption checks; then `setupComplete`."""
        frame = await session.connection.recv()
        session.frames.append(frame)
        # Like Google, answer the first frame; the handshake itself never fails on auth.
        self._authenticate(session)
        message = self._decode(frame)
        if set(message) != {"setup"}:
            raise _invalid("the first message must be setup")
        setup = _object(message["setup"], "setup")
        model = setup.get("model")
        if not isinstance(model, str):
            raise _invalid("setup.model is required")
        model_id = model.removeprefix("models/")
        if not model.startswith("models/") or session.api_version not in self.models.get(
            model_id, ()
        ):
            raise _Reject(
                1008,
                f"{model} is not found for API version {session.api_version}, or is not "
                "supported for bidiGenerateContent",
            )
        rules = ModelRules(model_id)
        _check_setup(setup, rules)
        unsupported = rules.unsupported_setup_fields(setup)
        if unsupported:
            code, reason = self.unsupported_setup_close
            rejection = _Reject(code, reason)
            rejection.add_note(f"{model_id} does not support {unsupported}")
            raise rejection
        self._resume(session, setup)
        await asyncio.sleep(self.setup_delay_s)
        session.setup = setup
        await session.send({"setupComplete": {"sessionId": f"fake-session-{session.index}"}})
        await session._changed_now()
        async with self._sessions_changed:
            self._sessions_changed.notify_all()

    def _authenticate(self, session: FakeSession) -> None:
        if session.method == "BidiGenerateContentConstrained":
            authorization = session.headers.get("authorization", "")
            token = session.query.get("access_token") or authorization.removeprefix("Token ")
            accepted = self.ephemeral_tokens
        else:
            token = session.headers.get("x-goog-api-key") or session.query.get("key", "")
            accepted = {self.api_key}
        if not token:
            raise _Reject(1008, UNREGISTERED_CALLER)
        if token not in accepted:
            raise _Reject(1007, INVALID_API_KEY)

    def _resume(self, session: FakeSession, setup: dict[str, Any]) -> None:
        handle = (setup.get("sessionResumption") or {}).get("handle")
        if not handle:
            return
        owner = self._handle_owners.get(handle)
        if owner is None:
            raise _invalid(f"unknown resumption handle {handle!r}")
        if not owner.closed:
            # Seen in the wild: resuming while the old socket is still open fails.
            raise _Reject(1011, INTERNAL_ERROR)
        session.resumed_handle = handle
        session.resumed_from = owner

    async def _read(self, session: FakeSession) -> None:
        try:
            async for frame in session.connection:
                session.frames.append(frame)
                try:
                    session._record(self._decode(frame))
                except _Reject as rejection:
                    session.closed_by_fake = True
                    await session.connection.close(rejection.code, rejection.reason)
                await session._changed_now()
        except ConnectionClosed:
            pass

    def _decode(self, frame: str | bytes) -> dict[str, Any]:
        try:
            message = json.loads(frame)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _invalid("frame is not JSON") from None
        return _object(normalise_keys(message), "message")

    async def _run_script(self, script: Script, session: FakeSession) -> None:
        try:
            await script(session)
        except ConnectionClosed:
            pass  # the client is allowed to leave mid-script
        except Exception as exc:  # noqa: BLE001 - handed to the test, re-raised in __aexit__
            exc.add_note(f"in the fake Live API script for session {session.index}")
            self.script_errors.append(exc)

    async def _expire(self, session: FakeSession) -> None:
        assert self.connection_lifetime_s is not None
        time_left = min(self.go_away_time_left_s, self.connection_lifetime_s)
        await asyncio.sleep(self.connection_lifetime_s - time_left)
        await session.send_go_away(time_left)
        await asyncio.sleep(time_left)
        await session.close(1011, DEADLINE_EXPIRED)


def _note_text(content: dict[str, Any]) -> str:
    return str(content["turns"][0]["parts"][0]["text"])
