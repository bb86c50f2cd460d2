"""Proofs against Google's own client (google-genai 3.4.0).

1. The SDK completes a whole voice session against the fake: so the fake speaks the
   protocol the way the real server does, at least as far as Google's client can tell.
2. What `live_protocol` builds equals, once keys and base64 are normalised, what the SDK
   sends for the same configuration and input: so our hand-written wire format is Google's.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from google import genai
from google.genai import errors, types
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime import live_protocol as lp
from realtime.tests.fake_live import FakeLiveServer, FakeSession, decode_base64

MODEL = "gemini-3.8-live"
VOICE = "Kore"
INSTRUCTIONS = "You are Asha, a food delivery support agent. Be brief."

# Two representative tools: one with an enum argument (and a snake_case property name, which
# must survive key normalisation untouched), one with no arguments.
DECLARATIONS: list[dict[str, Any]] = [
    {
        "name": "file_complaint",
        "description": "Record a complaint about an order.",
        "behavior": "NON_BLOCKING",
        "parameters": {
            "type": "OBJECT",
            "properties": {
                "order_id": {"type": "STRING", "description": "e.g. ORD-1001"},
                "category": {
                    "type": "STRING",
                    "enum": ["food_quality", "late_delivery", "missing_items", "other"],
                },
            },
            "required": ["category"],
        },
    },
    {"name": "check_order_status", "description": "The customer's orders, newest first."},
]

# Bytes whose base64 differs between the standard and URL-safe alphabets ("+//+" vs "-__-").
PCM_IN = b"\xfb\xff\xfe\x00" * 800  # 0.1 s at 16 kHz
PCM_OUT = bytes(range(256)) * 24  # 0.128 s at 24 kHz


def sdk_client(fake: FakeLiveServer) -> genai.Client:
    client = genai.Client(api_key=fake.api_key)
    api_client = client._api_client
    # Private hooks, checked on 3.4.0: the SDK forces wss://, and websockets refuses an ssl=
    # argument with a ws:// URI. Fail loudly if a new SDK renames them.
    assert hasattr(api_client, "_websocket_ssl_ctx")
    assert callable(api_client._websocket_base_url)
    api_client._websocket_base_url = lambda *args, **kwargs: fake.base_url  # type: ignore[method-assign]
    api_client._websocket_ssl_ctx = {}
    return client


def sdk_config(
    resumption_handle: str | None = None,
    *,
    declarations: Sequence[Mapping[str, Any]] = DECLARATIONS,
    instructions: str = INSTRUCTIONS,
    voice: str = VOICE,
) -> types.LiveConnectConfig:
    """The LiveConnectConfig equivalent to `build_setup` with its defaults."""
    return types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        speech_config=types.SpeechConfig(
            voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=voice)
            )
        ),
        system_instruction=instructions,
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration.model_validate(d) for d in declarations
                ]
            )
        ],
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        session_resumption=types.SessionResumptionConfig(handle=resumption_handle),
        context_window_compression=types.ContextWindowCompressionConfig(
            trigger_tokens=lp.DEFAULT_COMPRESSION_TRIGGER_TOKENS,
            sliding_window=types.SlidingWindow(target_tokens=lp.DEFAULT_COMPRESSION_TARGET_TOKENS),
        ),
        realtime_input_config=types.RealtimeInputConfig(
            automatic_activity_detection=types.AutomaticActivityDetection(
                disabled=False,
                prefix_padding_ms=lp.DEFAULT_PREFIX_PADDING_MS,
                silence_duration_ms=lp.DEFAULT_SILENCE_DURATION_MS,
            )
        ),
    )


def our_setup(resumption_handle: str | None = None) -> dict[str, Any]:
    return lp.build_setup(
        model=MODEL,
        voice=VOICE,
        system_instruction=INSTRUCTIONS,
        function_declarations=DECLARATIONS,
        resumption_handle=resumption_handle,
    )


async def connect_raw(fake: FakeLiveServer, setup: Mapping[str, Any]) -> ClientConnection:
    """A plain websockets client, as the bridge will be: our setup, then setupComplete."""
    ws = await connect(fake.url, additional_headers={"x-goog-api-key": fake.api_key})
    await ws.send(lp.setup_message(setup))
    [event] = lp.parse_server_message(await ws.recv())
    assert isinstance(event, lp.SetupComplete)
    return ws


def canonical(message: dict[str, Any]) -> dict[str, Any]:
    """A recorded client message with base64 decoded, so the two alphabets compare equal."""
    message = copy.deepcopy(message)
    audio = message.get("realtimeInput", {}).get("audio")
    if audio is not None:
        audio["data"] = decode_base64(audio["data"])
    return message


# --- 1. The SDK completes a session against the fake ----------------------------------------


async def test_the_sdk_holds_a_voice_session_with_a_tool_call_against_the_fake(
    fake_live: FakeLiveServer,
) -> None:
    @fake_live.on_session
    async def script(session: FakeSession) -> None:
        await session.wait_for_audio(nbytes=len(PCM_IN))
        await session.send_transcript("user", "is my order late", finished=True)
        [call_id] = await session.send_tool_call([{"name": "check_order_status"}])
        answer = await session.wait_for_tool_response()
        assert answer["id"] == call_id
        await session.send_audio(PCM_OUT, chunk_ms=40)
        await session.send_transcript("agent", "It is on its way.")
        await session.send_generation_complete()
        await session.send_turn_complete(
            usage={"promptTokenCount": 522, "responseTokenCount": 42, "totalTokenCount": 564}
        )
        await session.send_resumption_update("handle-1")
        await session.send_go_away("1.5s")

    client = sdk_client(fake_live)
    audio = bytearray()
    seen: list[str] = []
    async with client.aio.live.connect(model=MODEL, config=sdk_config()) as sdk:
        assert sdk.session_id == "fake-session-0"
        await sdk.send_realtime_input(
            audio=types.Blob(data=PCM_IN, mime_type=lp.INPUT_AUDIO_MIME_TYPE)
        )
        async for message in sdk.receive():  # one model turn
            if message.tool_call:
                assert message.tool_call.function_calls
                call = message.tool_call.function_calls[0]
                seen.append(f"tool:{call.name}")
                await sdk.send_tool_response(
                    function_responses=types.FunctionResponse(
                        id=call.id, name=call.name, response={"ok": True, "orders": []}
                    )
                )
            if message.data:
                audio += message.data
            content = message.server_content
            if content and content.input_transcription:
                seen.append(f"user:{content.input_transcription.text}")
            if content and content.turn_complete:
                assert message.usage_metadata is not None
                assert message.usage_metadata.total_token_count == 564
                seen.append("turn_complete")
        async for message in sdk.receive():  # the lifecycle messages after the turn
            if message.session_resumption_update:
                seen.append(f"handle:{message.session_resumption_update.new_handle}")
            if message.go_away:
                seen.append(f"go_away:{message.go_away.time_left}")
                break

    assert bytes(audio) == PCM_OUT
    assert seen == [
        "user:is my order late",
        "tool:check_order_status",
        "turn_complete",
        "handle:handle-1",
        "go_away:1.5s",
    ]
    session = fake_live.sessions[0]
    assert session.path.startswith("/ws/google.ai.generativelanguage.v1.")  # SDK 3.x default
    assert session.headers["x-goog-api-key"] == "test-key"
    assert session.audio == PCM_IN  # sent as URL-safe base64, decoded correctly
    assert session.tool_responses[0]["response"] == {"ok": True, "orders": []}


# --- 2. live_protocol builds exactly what the SDK sends -------------------------------------


async def test_build_setup_equals_the_sdk_setup(fake_live: FakeLiveServer) -> None:
    async with sdk_client(fake_live).aio.live.connect(model=MODEL, config=sdk_config()):
        pass
    ws = await connect_raw(fake_live, our_setup())
    await ws.close()

    sdk_setup, our_recorded_setup = fake_live.sessions[0].setup, fake_live.sessions[1].setup
    assert our_recorded_setup == our_setup()["setup"]  # already camelCase: nothing normalised
    assert our_recorded_setup == sdk_setup


async def test_build_setup_with_a_resumption_handle_equals_the_sdk_setup(
    fake_live: FakeLiveServer,
) -> None:
    @fake_live.on_session
    async def issue_handle(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("handle-7")

    first = await connect_raw(fake_live, our_setup())
    await first.recv()  # the handle
    await first.close()
    await fake_live.sessions[0].wait_closed()

    async with sdk_client(fake_live).aio.live.connect(
        model=MODEL, config=sdk_config(resumption_handle="handle-7")
    ):
        pass
    await fake_live.sessions[1].wait_closed()
    ws = await connect_raw(fake_live, our_setup(resumption_handle="handle-7"))
    await ws.close()

    sdk_setup, resumed_setup = fake_live.sessions[1].setup, fake_live.sessions[2].setup
    assert sdk_setup is not None and sdk_setup["sessionResumption"] == {"handle": "handle-7"}
    assert resumed_setup == sdk_setup
    assert fake_live.sessions[2].resumed_from is fake_live.sessions[0]


async def test_message_builders_equal_what_the_sdk_sends(fake_live: FakeLiveServer) -> None:
    @fake_live.on_session
    async def ask_for_a_tool(session: FakeSession) -> None:
        await session.send_tool_call(
            [
                {
                    "id": f"call-{session.index}",
                    "name": "file_complaint",
                    "args": {"category": "other"},
                }
            ]
        )

    async with sdk_client(fake_live).aio.live.connect(model=MODEL, config=sdk_config()) as sdk:
        await anext(sdk.receive())  # the tool call
        await sdk.send_realtime_input(
            audio=types.Blob(data=PCM_IN, mime_type=lp.INPUT_AUDIO_MIME_TYPE)
        )
        await sdk.send_realtime_input(text="I want a refund, café order")
        await sdk.send_realtime_input(audio_stream_end=True)
        await sdk.send_tool_response(
            function_responses=[
                types.FunctionResponse(
                    id="call-0",
                    name="file_complaint",
                    response={"ok": True, "complaint_id": "C-1"},
                    scheduling=types.FunctionResponseScheduling.WHEN_IDLE,
                )
            ]
        )
        await fake_live.sessions[0].wait_for_tool_response()

    ws = await connect_raw(fake_live, our_setup())
    await ws.recv()  # the tool call
    await ws.send(lp.audio_message(PCM_IN))
    await ws.send(lp.text_message("I want a refund, café order"))
    await ws.send(lp.audio_stream_end_message())
    await ws.send(
        lp.tool_response_message(
            [lp.FunctionResponse("call-1", "file_complaint", {"ok": True, "complaint_id": "C-1"})],
            scheduling="WHEN_IDLE",
        )
    )
    await fake_live.sessions[1].wait_for_tool_response()
    await ws.close()

    sdk_messages = [canonical(m) for m in fake_live.sessions[0].messages]
    ours = [canonical(m) for m in fake_live.sessions[1].messages]
    ours[3]["toolResponse"]["functionResponses"][0]["id"] = "call-0"  # the ids differ by design
    assert ours == sdk_messages
    assert len(sdk_messages) == 4


async def test_a_tool_response_without_scheduling_equals_the_sdk_one(
    fake_live: FakeLiveServer,
) -> None:
    @fake_live.on_session
    async def ask(session: FakeSession) -> None:
        await session.send_tool_call([{"id": "c", "name": "check_order_status"}])

    async with sdk_client(fake_live).aio.live.connect(model=MODEL, config=sdk_config()) as sdk:
        await anext(sdk.receive())
        await sdk.send_tool_response(
            function_responses=types.FunctionResponse(
                id="c", name="check_order_status", response={"ok": True}
            )
        )
        await fake_live.sessions[0].wait_for_tool_response()
    ws = await connect_raw(fake_live, our_setup())
    await ws.recv()
    await ws.send(
        lp.tool_response_message([lp.FunctionResponse("c", "check_order_status", {"ok": True})])
    )
    await fake_live.sessions[1].wait_for_tool_response()
    await ws.close()

    assert fake_live.sessions[1].messages == fake_live.sessions[0].messages


# --- 3. The fake fails the way Google does, as the SDK sees it ------------------------------


async def sdk_close_of(fake: FakeLiveServer, model: str = MODEL, **config: Any) -> errors.APIError:
    """The APIError the SDK raises when it connects (and, if that works, receives)."""
    with pytest.raises(errors.APIError) as caught:
        async with sdk_client(fake).aio.live.connect(
            model=model, config=types.LiveConnectConfig(**config)
        ) as sdk:
            await anext(sdk.receive())
    return caught.value


async def test_an_unknown_model_closes_1008(fake_live: FakeLiveServer) -> None:
    error = await sdk_close_of(fake_live, model="gemini-9-live")
    assert error.code == 1008
    assert str(error.details).startswith(
        "models/gemini-9-live is not found for API version v1, or is not supported"
    )


async def test_a_preview_model_is_not_on_v1_but_is_on_v1beta(fake_live: FakeLiveServer) -> None:
    error = await sdk_close_of(fake_live, model="gemini-3.1-flash-live-preview")
    assert error.code == 1008
    ws = await connect(
        fake_live.url_for("v1beta"), additional_headers={"x-goog-api-key": "test-key"}
    )
    await ws.send(json.dumps({"setup": {"model": "models/gemini-3.1-flash-live-preview"}}))
    assert json.loads(await ws.recv()) == {"setupComplete": {"sessionId": "fake-session-1"}}
    await ws.close()


async def test_thinking_config_is_rejected_on_3_8(fake_live: FakeLiveServer) -> None:
    error = await sdk_close_of(fake_live, thinking_config=types.ThinkingConfig(thinking_budget=0))
    assert (error.code, error.details) == (1007, "Request contains an invalid argument.")


async def test_an_unknown_voice_fails_setup(fake_live: FakeLiveServer) -> None:
    error = await sdk_close_of(
        fake_live,
        speech_config=types.SpeechConfig(
            voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="kore")
            )
        ),
    )
    assert error.code == 1007


async def test_media_chunks_close_1007_on_3_x(fake_live: FakeLiveServer) -> None:
    with pytest.raises(errors.APIError) as caught:
        async with sdk_client(fake_live).aio.live.connect(model=MODEL) as sdk:
            # `media=` is the SDK's legacy path: it still sends realtimeInput.mediaChunks.
            await sdk.send_realtime_input(media=types.Blob(data=PCM_IN, mime_type="audio/pcm"))
            await anext(sdk.receive())
    assert caught.value.code == 1007
    assert caught.value.details == (
        "realtime_input.media_chunks is deprecated. Use audio, video, or text instead."
    )


async def test_a_scripted_internal_error_and_a_drop_reach_the_sdk(
    fake_live: FakeLiveServer,
) -> None:
    async def fail(session: FakeSession) -> None:
        await session.close(1011, "Internal error encountered.")

    async def vanish(session: FakeSession) -> None:
        await session.drop()

    fake_live.on_session(fail, vanish)
    error = await sdk_close_of(fake_live)
    assert (error.code, error.details) == (1011, "Internal error encountered.")
    assert (await sdk_close_of(fake_live)).code == 1006


async def test_resuming_while_the_old_socket_is_open_closes_1011(
    fake_live: FakeLiveServer,
) -> None:
    @fake_live.on_session
    async def issue_handle(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("h-1")

    old = await connect_raw(fake_live, our_setup())
    assert lp.parse_server_message(await old.recv()) == [lp.ResumptionUpdate("h-1", True)]
    error = await sdk_close_of(
        fake_live, session_resumption=types.SessionResumptionConfig(handle="h-1")
    )
    assert error.code == 1011
    await old.close()
    await fake_live.sessions[0].wait_closed()
    async with sdk_client(fake_live).aio.live.connect(
        model=MODEL,
        config=types.LiveConnectConfig(
            session_resumption=types.SessionResumptionConfig(handle="h-1")
        ),
    ):
        pass
    assert fake_live.sessions[2].resumed_from is fake_live.sessions[0]


async def test_connection_lifetime_ends_with_go_away_then_deadline_expired() -> None:
    async with (
        FakeLiveServer(connection_lifetime_s=0.3, go_away_time_left_s=0.2) as fake,
        sdk_client(fake).aio.live.connect(model=MODEL) as sdk,
    ):
        message = await anext(sdk.receive())
        assert message.go_away is not None and message.go_away.time_left == "0.2s"
        with pytest.raises(errors.APIError) as caught:
            await anext(sdk.receive())
    assert (caught.value.code, caught.value.details) == (
        1011,
        "Deadline expired before operation could complete.",
    )


# --- 4. Routes, keys and frames -------------------------------------------------------------


async def test_setup_complete_comes_first_as_a_binary_frame_or_text_on_request() -> None:
    for text_frames, frame_type in ((False, bytes), (True, str)):
        async with FakeLiveServer(text_frames=text_frames) as fake:
            ws = await connect(fake.url, additional_headers={"x-goog-api-key": "test-key"})
            await ws.send(lp.setup_message(our_setup()))
            frame = await ws.recv()
            assert isinstance(frame, frame_type)
            assert lp.parse_server_message(frame) == [lp.SetupComplete("fake-session-0")]
            await ws.close()


async def test_key_in_query_leading_double_slash_and_v1alpha_are_accepted(
    fake_live: FakeLiveServer,
) -> None:
    url = fake_live.url_for("v1alpha").replace("/ws/", "//ws/") + "?key=test-key"
    ws = await connect(url)
    await ws.send(lp.setup_message(our_setup()))
    assert lp.parse_server_message(await ws.recv()) == [lp.SetupComplete("fake-session-0")]
    await ws.close()
    assert fake_live.sessions[0].api_version == "v1alpha"


async def test_ephemeral_tokens_use_the_constrained_method() -> None:
    async with FakeLiveServer(ephemeral_tokens={"auth_tokens/abc"}) as fake:
        url = fake.url_for("v1alpha", "BidiGenerateContentConstrained")
        ws = await connect(url + "?access_token=auth_tokens/abc")
        await ws.send(lp.setup_message(our_setup()))
        assert lp.parse_server_message(await ws.recv()) == [lp.SetupComplete("fake-session-0")]
        await ws.close()


@pytest.mark.parametrize(
    ("headers", "code", "reason_start"),
    [
        ({}, 1008, "Method doesn't allow unregistered callers"),
        ({"x-goog-api-key": "wrong"}, 1007, "API key not valid"),
    ],
)
async def test_a_missing_or_wrong_key_closes_after_the_first_frame(
    fake_live: FakeLiveServer, headers: dict[str, str], code: int, reason_start: str
) -> None:
    ws = await connect(fake_live.url, additional_headers=headers)
    await ws.send(lp.setup_message(our_setup()))
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    assert ws.close_code == code
    assert (ws.close_reason or "").startswith(reason_start)


async def test_an_unknown_path_is_a_404(fake_live: FakeLiveServer) -> None:
    with pytest.raises(InvalidStatus) as caught:
        await connect(
            fake_live.base_url + "/ws/google.ai.generativelanguage.v2.GenerativeService"
            ".BidiGenerateContent"
        )
    assert caught.value.response.status_code == 404


async def test_answers_to_cancelled_calls_are_kept_apart_and_unknown_ids_close_1007(
    fake_live: FakeLiveServer,
) -> None:
    @fake_live.on_session
    async def call_then_cancel(session: FakeSession) -> None:
        ids = await session.send_tool_call([{"name": "check_order_status"}])
        await session.send_tool_call_cancellation(ids)

    ws = await connect_raw(fake_live, our_setup())
    [call] = lp.parse_server_message(await ws.recv())
    assert isinstance(call, lp.ToolCall)
    await ws.recv()  # the cancellation
    await ws.send(
        lp.tool_response_message(
            [lp.FunctionResponse(call.calls[0].id, "check_order_status", {"ok": True})]
        )
    )
    await ws.send(lp.tool_response_message([lp.FunctionResponse("made-up", "x", {})]))
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    session = fake_live.sessions[0]
    assert ws.close_code == 1007
    assert [r["id"] for r in session.late_tool_responses] == [call.calls[0].id]
    assert session.tool_responses == []


async def test_a_failing_script_fails_the_test() -> None:
    with pytest.raises(AssertionError, match="no text input within 0.1s"):
        async with FakeLiveServer() as fake:

            @fake.on_session
            async def expect_text(session: FakeSession) -> None:
                await session.wait_for_text(timeout=0.1)

            ws = await connect_raw(fake, our_setup())
            await asyncio.sleep(0.3)
            await ws.close()
