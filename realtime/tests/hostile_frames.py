"""Random and hostile frames for fuzzing the bridge from both sides (tests and bench).

Each generator takes a `random.Random`, so a failing run can be replayed from its seed.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from typing import Any

Frame = str | bytes

NASTY_STRINGS = [
    "", " ", "\ud800", "\udfff", "a\ud83d", "\x00", "\u202e", "💥" * 50, "$ne", '{"$gt": ""}',
    "ORD-1001' || '1'=='1", "<script>alert(1)</script>", "A" * 5000, "9" * 5000, "\\", '"',
]
NASTY_VALUES: list[Any] = [
    None, True, False, 0, -1, 2**64, 9 * 10**400, 1e308, float("-inf"), float("nan"), [], {},
    [[[[[]]]]], {"$ne": None}, {"type": "text"}, "text", "end",
]


def nasty(rng: random.Random) -> Any:
    """A value a hostile peer might put anywhere: a nasty string, a strange type, or noise."""
    choice = rng.random()
    if choice < 0.4:
        return rng.choice(NASTY_STRINGS)
    if choice < 0.8:
        return rng.choice(NASTY_VALUES)
    return "".join(chr(rng.randrange(0, 0x11000)) for _ in range(rng.randrange(1, 30)))


def _key(rng: random.Random) -> str:
    return rng.choice([*NASTY_STRINGS, "type", "event", "serverContent", "setupComplete"])


def _nested(rng: random.Random) -> str:
    depth = rng.choice([100, 1000, 3000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    return opener * depth + "1" + closer * depth


def _dumps(value: Any) -> str:
    # ensure_ascii keeps lone surrogates as \\ud800 escapes, which is what a hostile peer
    # sends; allow_nan lets infinities through as the non-JSON tokens a fuzzer should try.
    return json.dumps(value, ensure_ascii=True, allow_nan=True)


def browser_frame(rng: random.Random) -> Frame:
    """A frame a hostile page might send on /ws/voice."""
    kind = rng.random()
    if kind < 0.25:
        return rng.randbytes(rng.choice([0, 1, 3, 640, 1281, 65_537, 70_000]))
    if kind < 0.35:
        return _nested(rng)
    if kind < 0.45:
        return rng.choice(["", "{", "null", "[]", '"text"', "1" * 5000, "\udcff", "NaN"])
    message: dict[str, Any] = {"type": rng.choice(["text", "audio_end", "dance", "", None, 7])}
    if rng.random() < 0.7:
        message["text"] = nasty(rng)
    if rng.random() < 0.2:
        message[_key(rng)] = nasty(rng)
    return _dumps(message)


def twilio_frame(rng: random.Random, stream_sid: str) -> Frame:
    """A frame a hostile peer might send on /ws/twilio after a valid start."""
    kind = rng.random()
    if kind < 0.15:
        return rng.randbytes(rng.randrange(0, 400))
    if kind < 0.25:
        return _nested(rng)
    event = rng.choice(["media", "mark", "dtmf", "start", "connected", "dance", None, 5])
    message: dict[str, Any] = {"event": event, "streamSid": rng.choice([stream_sid, nasty(rng)])}
    message["sequenceNumber"] = rng.choice(["1", "x", 2**70, None])
    if event == "media":
        payload = base64.b64encode(rng.randbytes(rng.choice([0, 1, 160, 5000]))).decode()
        message["media"] = {
            "track": rng.choice(["inbound", "outbound", nasty(rng)]),
            "chunk": rng.choice(["1", nasty(rng)]), "timestamp": rng.choice(["20", nasty(rng)]),
            "payload": rng.choice([payload, nasty(rng), payload + "==="]),
        }  # fmt: skip
    else:
        message[str(event)] = {"name": nasty(rng), "digit": nasty(rng)}
    return _dumps(message)


def live_frame(rng: random.Random) -> Frame:
    """A frame a broken or hostile Live API might send."""
    kind = rng.random()
    if kind < 0.1:
        return rng.randbytes(rng.randrange(0, 300))
    if kind < 0.2:
        return _nested(rng)
    makers: list[Callable[[], dict[str, Any]]] = [
        lambda: {"serverContent": {"outputTranscription": {"text": nasty(rng)}}},
        lambda: {"serverContent": {"inputTranscription": {"text": nasty(rng)}}},
        lambda: {"serverContent": {"modelTurn": {"parts": [
            {"inlineData": {"mimeType": "audio/pcm;rate=24000",
                            "data": rng.choice([nasty(rng), "AAA=", "@@@@"])}}]}}},
        lambda: {"serverContent": {"turnComplete": nasty(rng), "interrupted": nasty(rng)}},
        lambda: {"toolCall": {"functionCalls": [
            {"id": nasty(rng), "name": rng.choice(["get_user_profile", "initiate_refund",
                                                    nasty(rng)]),
             "args": nasty(rng)} for _ in range(rng.randrange(0, 4))]}},
        lambda: {"toolCallCancellation": {"ids": nasty(rng)}},
        lambda: {"usageMetadata": {"promptTokenCount": nasty(rng),
                                   "totalTokenCount": rng.choice([2**80, -5, "12"])}},
        lambda: {"usageMetadata": {rng.choice(["promptTokensDetails", "responseTokensDetails"]):
            rng.choice([nasty(rng), [nasty(rng)], [{"modality": nasty(rng),
                                                   "tokenCount": rng.choice([4, nasty(rng)])}]])}},
        lambda: {"goAway": {"timeLeft": nasty(rng)}},
        lambda: {rng.choice(["voiceActivity", "voiceActivityDetectionSignal"]): {
            rng.choice(["voiceActivityType", "vadSignalType"]): rng.choice(
                ["ACTIVITY_START", "ACTIVITY_END", "VAD_SIGNAL_TYPE_EOS", nasty(rng)]),
            "audioOffset": rng.choice([nasty(rng), "1.5s", "9" * 400 + "s", 3])}},
        lambda: {"setupComplete": rng.choice([{}, nasty(rng)])},  # again, mid-call
        lambda: {"sessionResumptionUpdate": {"newHandle": nasty(rng), "resumable": True}},
        lambda: {_key(rng): nasty(rng)},
    ]  # fmt: skip
    return _dumps(rng.choice(makers)())
