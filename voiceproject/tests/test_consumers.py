"""The consumers that carry audio (voiceproject/consumers.py): a frame goes to its handler
without Channels' ORM clean-up, a hop to a shared thread and back for every message. And a
socket to a path no route has is refused, not an application error."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from livestaff.consumers import StaffCallConsumer
from realtime.consumers import VoiceConsumer
from realtime.phone.consumer import TwilioConsumer
from voiceproject.asgi import application
from voiceproject.consumers import LeanWebsocketConsumer


@pytest.mark.parametrize("consumer", [VoiceConsumer, TwilioConsumer, StaffCallConsumer])
async def test_a_frame_reaches_its_handler_without_a_hop_to_the_orm_thread(
    consumer: type[LeanWebsocketConsumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_orm_cleanup() -> None:
        raise AssertionError("the ORM clean-up ran before a frame's handler")

    monkeypatch.setattr("channels.consumer.aclose_old_connections", no_orm_cleanup)
    handled: list[dict[str, Any]] = []

    class Probe(consumer):  # type: ignore[valid-type,misc]
        async def websocket_receive(self, message: dict[str, Any]) -> None:
            handled.append(message)

    frame = {"type": "websocket.receive", "bytes": b"\x00\x01" * 320}
    await Probe().dispatch(frame)

    assert handled == [frame]


async def test_a_message_with_no_handler_is_refused_as_channels_refuses_it() -> None:
    with pytest.raises(ValueError, match="No handler for message type staff.nothing"):
        await LeanWebsocketConsumer().dispatch({"type": "staff.nothing"})


@pytest.mark.parametrize("path", ["/ws/nope", "/ws/staff/calls/a/b", "/ws/voice/", "/"])
async def test_a_socket_to_a_path_no_route_has_is_refused_and_logged_as_not_found(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    socket = WebsocketCommunicator(application, path, headers=[(b"origin", b"http://testserver")])

    connected, code = await socket.connect(timeout=5)

    assert (connected, code) == (False, 4404)
    assert f"Not Found: WebSocket {path}" in caplog.text
