"""The Live API wire format, from literal messages: no sockets."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from realtime import live_protocol as lp
from realtime.live_protocol import (
    AudioChunk,
    FunctionCall,
    GenerationComplete,
    GoAway,
    Interrupted,
    LiveProtocolError,
    ModelText,
    ResumptionUpdate,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    Transcript,
    TurnComplete,
    Usage,
)

# --- builders -------------------------------------------------------------------------------


def test_setup_for_a_voice_agent() -> None:
    tools = [{"name": "check_order_status", "description": "Orders, newest first."}]
    message = lp.build_setup(
        model="gemini-3.8-live",
        voice="Kore",
        system_instruction="Be brief.",
        function_declarations=tools,
    )
    assert message == {
        "setup": {
            "model": "models/gemini-3.8-live",
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
            },
            "systemInstruction": {"parts": [{"text": "Be brief."}], "role": "user"},
            "tools": [{"functionDeclarations": tools}],
            "sessionResumption": {},
            "inputAudioTranscription": {},
            "outputAudioTranscription": {},
            "realtimeInputConfig": {
                "automaticActivityDetection": {
                    "disabled": False,
                    "prefixPaddingMs": 200,
                    "silenceDurationMs": 600,
                }
            },
            "contextWindowCompression": {
                "triggerTokens": 32000,
                "slidingWindow": {"targetTokens": 16000},
            },
        }
    }


def test_setup_never_carries_what_3_8_rejects() -> None:
    text = lp.setup_message(
        lp.build_setup(
            model="gemini-3.8-live", voice="Puck", system_instruction="x", function_declarations=[]
        )
    )
    for rejected in ("thinkingConfig", "enableAffectiveDialog", "proactivity", "mediaChunks"):
        assert rejected not in text
    assert "tools" not in json.loads(text)["setup"]


def test_setup_resumes_with_a_handle_and_takes_options() -> None:
    setup = lp.build_setup(
        model="models/gemini-3.8-live",
        voice="Kore",
        system_instruction="x",
        function_declarations=[],
        resumption_handle="CiQ-handle",
        language_code="en-IN",
        silence_duration_ms=700,
        start_sensitivity="START_SENSITIVITY_LOW",
        end_sensitivity="END_SENSITIVITY_HIGH",
        compression_trigger_tokens=None,
        compression_target_tokens=None,
    )["setup"]
    assert setup["model"] == "models/gemini-3.8-live"
    assert setup["sessionResumption"] == {"handle": "CiQ-handle"}
    assert setup["generationConfig"]["speechConfig"]["languageCode"] == "en-IN"
    assert setup["realtimeInputConfig"]["automaticActivityDetection"] == {
        "disabled": False,
        "startOfSpeechSensitivity": "START_SENSITIVITY_LOW",
        "endOfSpeechSensitivity": "END_SENSITIVITY_HIGH",
        "prefixPaddingMs": 200,
        "silenceDurationMs": 700,
    }
    assert setup["contextWindowCompression"] == {"slidingWindow": {}}


def test_audio_message_is_realtime_input_audio_in_standard_base64() -> None:
    pcm = b"\xfb\xff\xfe\x00"
    text = lp.audio_message(pcm)
    assert json.loads(text) == {
        "realtimeInput": {"audio": {"data": "+//+AA==", "mimeType": "audio/pcm;rate=16000"}}
    }


def test_audio_message_of_nothing_is_still_valid_json() -> None:
    assert json.loads(lp.audio_message(b""))["realtimeInput"]["audio"]["data"] == ""


def test_text_and_stream_end_messages() -> None:
    assert json.loads(lp.text_message('say "hi" ☕')) == {"realtimeInput": {"text": 'say "hi" ☕'}}
    assert json.loads(lp.audio_stream_end_message()) == {"realtimeInput": {"audioStreamEnd": True}}


def test_tool_response_with_and_without_scheduling() -> None:
    answer = lp.FunctionResponse("fc-1", "get_order_details", {"ok": True, "status": "delivered"})
    plain = json.loads(lp.tool_response_message([answer]))
    assert plain == {
        "toolResponse": {
            "functionResponses": [
                {
                    "id": "fc-1",
                    "name": "get_order_details",
                    "response": {"ok": True, "status": "delivered"},
                }
            ]
        }
    }
    scheduled = json.loads(lp.tool_response_message([answer], scheduling="WHEN_IDLE"))
    assert scheduled["toolResponse"]["functionResponses"][0]["scheduling"] == "WHEN_IDLE"


def test_tool_response_requires_the_call_id() -> None:
    with pytest.raises(ValueError, match="no id"):
        lp.tool_response_message([lp.FunctionResponse("", "f", {})])


# --- parsing: frames ------------------------------------------------------------------------


def test_setup_complete_arrives_as_a_binary_frame() -> None:
    assert lp.parse_server_message(b'{"setupComplete": {}}') == [SetupComplete()]
    assert lp.parse_server_message('{"setupComplete": {"sessionId": "s-1"}}') == [
        SetupComplete("s-1")
    ]


def test_several_parts_in_one_server_content_in_order() -> None:
    frame = json.dumps(
        {
            "serverContent": {
                "modelTurn": {
                    "role": "model",
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": "audio/pcm;rate=24000",
                                "data": base64.b64encode(b"\x01\x02").decode(),
                            }
                        },
                        {"text": "thinking about it", "thought": True},
                        {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": "AwQ="}},
                    ],
                },
                "outputTranscription": {"text": "Your order"},
            }
        }
    ).encode()
    assert lp.parse_server_message(frame) == [
        AudioChunk(b"\x01\x02"),
        ModelText("thinking about it", thought=True),
        AudioChunk(b"\x03\x04"),
        Transcript("agent", "Your order"),
    ]


def test_turn_complete_and_usage_share_a_frame() -> None:
    frame = {
        "serverContent": {
            "turnComplete": True,
            "turnCompleteReason": "NEED_MORE_INPUT",
            "waitingForInput": True,
            "interactionStatus": "IDLE",
        },
        "usageMetadata": {
            "promptTokenCount": "522",
            "responseTokenCount": 42,
            "totalTokenCount": "564",
            "thoughtsTokenCount": "136",
            "promptTokensDetails": [
                {"modality": "TEXT", "tokenCount": "332"},
                {"modality": "AUDIO", "tokenCount": 165},
            ],
        },
    }
    turn, usage = lp.parse_server_message(json.dumps(frame))
    assert turn == TurnComplete(
        reason="NEED_MORE_INPUT", waiting_for_input=True, interaction_status="IDLE"
    )
    assert isinstance(usage, Usage)
    assert (
        usage.prompt_token_count,
        usage.response_token_count,
        usage.total_token_count,
        usage.thoughts_token_count,
    ) == (522, 42, 564, 136)
    assert usage.details["promptTokensDetails"] == [
        {"modality": "TEXT", "tokenCount": 332},
        {"modality": "AUDIO", "tokenCount": 165},
    ]


def test_top_level_events_keep_the_frame_order() -> None:
    frame = '{"usageMetadata": {"totalTokenCount": 3}, "serverContent": {"interrupted": true}}'
    assert lp.parse_server_message(frame) == [
        Usage(total_token_count=3, details={"totalTokenCount": 3}),
        Interrupted(),
    ]


def test_transcriptions_interruption_and_generation_complete() -> None:
    frames = [
        '{"serverContent": {"inputTranscription": {"text": "where is", "finished": false}}}',
        '{"serverContent": {"inputTranscription": {"text": " my order", "finished": true}}}',
        '{"serverContent": {"interrupted": true}}',
        '{"serverContent": {"generationComplete": true}}',
        '{"serverContent": {"interrupted": false, "outputTranscription": {}}}',
    ]
    assert [e for f in frames for e in lp.parse_server_message(f)] == [
        Transcript("user", "where is"),
        Transcript("user", " my order", finished=True),
        Interrupted(),
        GenerationComplete(),
        Transcript("agent", ""),
    ]


def test_snake_case_server_messages_are_understood() -> None:
    frame = json.dumps(
        {
            "server_content": {
                "model_turn": {
                    "parts": [
                        {"inline_data": {"mime_type": "audio/pcm;rate=24000", "data": "AAE="}}
                    ]
                },
                "input_transcription": {"text": "hi", "finished": True},
                "turn_complete": True,
                "turn_complete_reason": "NEED_MORE_INPUT",
            },
            "tool_call": {
                "function_calls": [{"id": "1", "name": "f", "args": {"order_id": "ORD-1"}}]
            },
            "usage_metadata": {
                "prompt_token_count": "7",
                "prompt_tokens_details": [{"modality": "AUDIO", "token_count": "7"}],
            },
            "session_resumption_update": {"new_handle": "h", "resumable": True},
            "go_away": {"time_left": "10s"},
        }
    )
    events = lp.parse_server_message(frame)
    assert events[:5] == [
        AudioChunk(b"\x00\x01"),
        Transcript("user", "hi", finished=True),
        TurnComplete(reason="NEED_MORE_INPUT"),
        # Tool arguments are the model's data: their keys are never rewritten.
        ToolCall([FunctionCall("1", "f", {"order_id": "ORD-1"})]),
        Usage(
            prompt_token_count=7,
            details={
                "promptTokenCount": 7,
                "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 7}],
            },
        ),
    ]
    assert events[5:] == [ResumptionUpdate("h", True), GoAway(10.0)]


def test_url_safe_and_unpadded_base64_audio() -> None:
    pcm = b"\xfb\xff\xfe\x00\xff\x01\x02\x03"
    for data in (base64.urlsafe_b64encode(pcm).decode(), "-__-AP8BAgM", "+//+AP8BAgM="):
        frame = {
            "serverContent": {
                "modelTurn": {
                    "parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}]
                }
            }
        }
        assert lp.parse_server_message(json.dumps(frame)) == [AudioChunk(pcm)]


# Agent speech arrives ~50 frames a second, so the parser reads the audio-only shape directly
# and leaves every other frame to the general parser: both must give the same events.

PCM = bytes(range(256)) * 4  # every byte value, so the base64 has "+" and "/" in it


def audio_part(pcm: bytes, mime_type: str = "audio/pcm;rate=24000") -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime_type, "data": base64.b64encode(pcm).decode()}}


AUDIO_TURNS = {
    "one part": ([audio_part(PCM)], [AudioChunk(PCM)]),
    "several parts": (
        [audio_part(PCM[:8]), audio_part(PCM[8:], "audio/pcm;rate=16000"), audio_part(b"")],
        [AudioChunk(PCM[:8]), AudioChunk(PCM[8:], "audio/pcm;rate=16000"), AudioChunk(b"")],
    ),
    # A broken server's stray last byte: dropped, as it would shift every sample after it.
    "an odd byte count": ([audio_part(PCM[:9])], [AudioChunk(PCM[:8])]),
    "audio then text": ([audio_part(PCM), {"text": "hi"}], [AudioChunk(PCM), ModelText("hi")]),
    "audio and an image": ([audio_part(PCM), audio_part(b"PNG", "image/png")], [AudioChunk(PCM)]),
    "no parts": ([], []),
}


def snake_case_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {re.sub("([A-Z])", r"_\1", k).lower(): snake_case_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_case_keys(v) for v in value]
    return value


def url_safe_unpadded(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: base64.urlsafe_b64encode(base64.b64decode(v)).decode().rstrip("=")
            if k == "data"
            else url_safe_unpadded(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [url_safe_unpadded(v) for v in value]
    return value


@pytest.mark.parametrize("parts, events", AUDIO_TURNS.values(), ids=AUDIO_TURNS.keys())
def test_an_audio_turn_gives_the_same_events_however_it_is_spelled(
    parts: list[dict[str, Any]], events: list[lp.ServerEvent]
) -> None:
    frame = {"serverContent": {"modelTurn": {"role": "model", "parts": parts}}}
    spellings: list[str | bytes] = [
        json.dumps(frame),
        json.dumps(frame).encode(),  # a binary frame
        json.dumps(snake_case_keys(frame)),
        json.dumps(url_safe_unpadded(frame)),
        json.dumps({**frame, "voiceActivity": {}}),  # an unknown key alongside
        json.dumps({"serverContent": {**frame["serverContent"], "generationComplete": False}}),
    ]
    for spelling in spellings:
        assert lp.parse_server_message(spelling) == events


def test_only_the_plain_audio_shape_takes_the_shortcut() -> None:
    plain = {"serverContent": {"modelTurn": {"parts": [audio_part(PCM)]}}}
    assert lp._parse_audio_only(plain) == [AudioChunk(PCM)]
    assert lp._parse_audio_only(snake_case_keys(plain)) is None
    assert lp._parse_audio_only(url_safe_unpadded(plain)) is None
    assert lp._parse_audio_only({**plain, "usageMetadata": {}}) is None


def test_audio_parts_then_turn_complete_keep_their_order() -> None:
    frame = {"serverContent": {"modelTurn": {"parts": [audio_part(PCM)]}, "turnComplete": True}}
    assert lp.parse_server_message(json.dumps(frame)) == [AudioChunk(PCM), TurnComplete()]


def test_tool_call_and_cancellation() -> None:
    frame = (
        '{"toolCall": {"functionCalls": ['
        '{"id": "fc-1", "name": "get_order_details", "args": {"order_id": "ORD-1001"}},'
        '{"id": "fc-2", "name": "check_order_status"}]}}'
    )
    assert lp.parse_server_message(frame) == [
        ToolCall(
            [
                FunctionCall("fc-1", "get_order_details", {"order_id": "ORD-1001"}),
                FunctionCall("fc-2", "check_order_status", {}),
            ]
        )
    ]
    assert lp.parse_server_message('{"toolCallCancellation": {"ids": ["fc-1"]}}') == [
        ToolCallCancellation(["fc-1"])
    ]


@pytest.mark.parametrize(
    ("time_left", "seconds"),
    [("50s", 50.0), ("1.5s", 1.5), ("0.000001s", 0.000001), ("0s", 0.0), ("3.s", 3.0), (7, 7.0)],
)
def test_go_away_time_left(time_left: object, seconds: float) -> None:
    frame = json.dumps({"goAway": {"timeLeft": time_left}})
    assert lp.parse_server_message(frame) == [GoAway(seconds)]


def test_go_away_without_time_left() -> None:
    assert lp.parse_server_message('{"goAway": {}}') == [GoAway(None)]


def test_resumption_updates() -> None:
    assert lp.parse_server_message(
        '{"sessionResumptionUpdate": {"newHandle": "CiQ", "resumable": true}}'
    ) == [ResumptionUpdate("CiQ", True)]
    assert lp.parse_server_message('{"sessionResumptionUpdate": {"resumable": false}}') == [
        ResumptionUpdate(None, False)
    ]


def test_the_live_apis_own_speech_activity_signals() -> None:
    assert lp.parse_server_message(
        '{"voiceActivity": {"voiceActivityType": "ACTIVITY_END", "audioOffset": "1.25s"}}'
    ) == [lp.VoiceActivity(start=False, offset_s=1.25)]
    assert lp.parse_server_message(
        '{"voice_activity_detection_signal": {"vad_signal_type": "VAD_SIGNAL_TYPE_SOS"}}'
    ) == [lp.VoiceActivity(start=True)]
    # An unspecified or newer type says nothing usable.
    assert lp.parse_server_message('{"voiceActivity": {"voiceActivityType": "TYPE_X"}}') == []


def test_unknown_keys_are_ignored() -> None:
    frame = (
        '{"someFutureEvent": {"kind": "ACTIVITY_START"}, "serverContent": '
        '{"modelTurn": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AA=="}},'
        '{"executableCode": {}}]}, "groundingMetadata": {}}}'
    )
    assert lp.parse_server_message(frame) == []


@pytest.mark.parametrize(
    ("frame", "complaint"),
    [
        (b"\xff\xfe", "not JSON"),
        ("{not json", "not JSON"),
        ("[1, 2]", "message must be an object"),
        ('{"serverContent": []}', "serverContent must be an object"),
        ('{"serverContent": {"turnComplete": "yes"}}', "turnComplete must be a boolean"),
        ('{"serverContent": {"modelTurn": {"parts": {}}}}', "parts must be a list"),
        (
            '{"serverContent": {"modelTurn": {"parts": [{"inlineData": '
            '{"mimeType": "audio/pcm", "data": "A$$A"}}]}}}',
            "not base64",
        ),
        (
            '{"serverContent": {"modelTurn": {"parts": ["AAA="]}}}',
            r"modelTurn.parts\[\] must be an object",
        ),
        (
            '{"serverContent": {"modelTurn": {"parts": [{"inlineData": []}]}}}',
            "inlineData must be an object",
        ),
        (
            '{"serverContent": {"modelTurn": {"parts": [{"inlineData": '
            '{"mimeType": 24000, "data": "AAA="}}]}}}',
            "inlineData.mimeType must be a string",
        ),
        (
            '{"serverContent": {"modelTurn": {"parts": [{"inlineData": '
            '{"mimeType": "audio/pcm", "data": 7}}]}}}',
            "inlineData.data must be a string",
        ),
        (
            '{"serverContent": {"modelTurn": {"parts": [{"inlineData": '
            '{"mimeType": "audio/pcm", "data": "AAA=A"}}]}}}',
            "not base64",
        ),
        (
            '{"serverContent": {"modelTurn": {"parts": [{"inlineData": '
            '{"mimeType": "audio/pcm", "data": "QUJD\u00e9"}}]}}}',
            "not base64",
        ),
        ("[" * 5000 + "]" * 5000, "not JSON"),
        ('{"usageMetadata": {"totalTokenCount": "' + "9" * 5000 + '"}}', "not an integer"),
        ('{"usageMetadata": {"totalTokenCount": "many"}}', "not an integer"),
        ('{"usageMetadata": {"totalTokenCount": true}}', "not an integer"),
        ('{"usageMetadata": {"promptTokensDetails": ["AUDIO"]}}', "not a list of objects"),
        ('{"usageMetadata": {"response_tokens_details": 7}}', "not a list of objects"),
        ('{"goAway": {"timeLeft": "5 minutes"}}', "not a duration"),
        ('{"toolCallCancellation": {"ids": [1]}}', "must be a string"),
    ],
)
def test_malformed_frames_raise_live_protocol_error(frame: str | bytes, complaint: str) -> None:
    with pytest.raises(LiveProtocolError, match=complaint) as caught:
        lp.parse_server_message(frame)
    assert caught.value.frame == frame[:500]  # kept for the log, cut short


# --- Hostile or broken frames from upstream never stall a call -----------------------------


def test_a_bad_call_in_a_tool_call_is_reported_and_the_good_ones_kept() -> None:
    [event] = lp.parse_server_message(
        '{"toolCall": {"functionCalls": ['
        '{"id": "a"}, {"id": "b", "name": "f", "args": []}, 7,'
        ' {"name": "initiate_refund", "args": {}}, {"id": "", "name": "f"},'
        ' {"id": "c", "name": "get_user_profile", "args": {}}]}}'
    )
    assert isinstance(event, lp.ToolCall)
    assert event.calls == [lp.FunctionCall("c", "get_user_profile", {})]
    assert [(m.id, m.name, m.problem) for m in event.malformed] == [
        ("a", "", "the function call has no name"),
        ("b", "f", "the arguments must be an object"),
        ("", "", "a function call must be an object"),
        ("", "initiate_refund", "the function call has no id"),  # no answer could reach it
        ("", "f", "the function call has no id"),
    ]


def test_lone_surrogates_from_upstream_are_replaced() -> None:
    events = lp.parse_server_message(
        '{"serverContent": {"outputTranscription": {"text": "hi \\ud800 there"}},'
        ' "toolCall": {"functionCalls": [{"id": "x\\udfff", "name": "f",'
        ' "args": {"k\\ud800": ["\\ud800"]}}]}}'
    )
    transcript, tool_call = events
    assert transcript == lp.Transcript("agent", "hi \ufffd there")
    assert isinstance(tool_call, lp.ToolCall)
    [call] = tool_call.calls
    assert call.id == "x\ufffd" and call.args == {"k\ufffd": ["\ufffd"]}


def test_a_usage_count_beyond_64_bits_is_capped() -> None:
    [usage] = lp.parse_server_message(
        '{"usageMetadata": {"promptTokenCount": 99999999999999999999999,'
        ' "responseTokenCount": "-5"}}'
    )
    assert isinstance(usage, lp.Usage)
    assert usage.prompt_token_count == lp.MAX_COUNT
    assert usage.response_token_count == 0


def test_a_bad_part_of_a_frame_does_not_cost_the_rest() -> None:
    events = lp.parse_server_message(
        '{"serverContent": {"turnComplete": true}, "usageMetadata": {"totalTokenCount": []}}'
    )
    assert isinstance(events[0], lp.TurnComplete)
    assert isinstance(events[1], lp.Malformed)


def test_a_built_tool_response_reads_back_as_its_function_responses() -> None:
    responses = [
        lp.FunctionResponse("fc-1", "initiate_refund", {"ok": True, "note": "ठंडा खाना"}),
        lp.FunctionResponse("fc-2", "initiate_refund", {"ok": True, "note": "ठंडा खाना"}),
    ]
    message = lp.tool_response_message(responses, scheduling="WHEN_IDLE")
    assert lp.function_responses_in(message) == responses
