"""`/ws/voice` refuses a page with a missing Origin or one that is not an allowed host (4403,
contract section 3), whatever ALLOWED_HOSTS holds."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from realtime.consumers import VoiceConsumer
from realtime.guards import BrowserOriginGuard
from realtime.tests.voice_harness import closed_with
from support.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = {"type": "ended", "reason": "origin_refused"}


async def refusal(headers: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], int]:
    """What a page sending `headers` is told, and the close code, by a guard made with the
    settings in force (routing.py makes its guard once, at import)."""
    guard = BrowserOriginGuard(VoiceConsumer.as_asgi())
    communicator = WebsocketCommunicator(guard, "/ws/voice?user_id=101", headers=headers)
    await communicator.connect()
    said = json.loads(await communicator.receive_from())
    return said, await closed_with(communicator)


@pytest.mark.parametrize(
    "headers",
    [[], [(b"origin", b"null")], [(b"origin", b"file://")]],
    ids=["no origin", "null origin", "origin without a host"],
)
async def test_a_page_naming_no_host_is_refused_even_when_every_host_is_allowed(
    asha: Customer, headers: list[tuple[bytes, bytes]]
) -> None:
    with override_settings(ALLOWED_HOSTS=["*"]):
        assert await refusal(headers) == (REFUSED, 4403)


async def test_an_origin_that_cannot_be_read_is_refused_not_a_crash(asha: Customer) -> None:
    # urlparse raises on an unclosed IPv6 bracket: Channels' own validator would too.
    assert await refusal([(b"origin", b"http://[::1")]) == (REFUSED, 4403)


async def test_with_every_host_allowed_a_page_of_any_host_still_connects(
    asha: Customer,
) -> None:
    with override_settings(ALLOWED_HOSTS=["*"], GEMINI_API_KEY=""):
        guard = BrowserOriginGuard(VoiceConsumer.as_asgi())
        communicator = WebsocketCommunicator(
            guard, "/ws/voice?user_id=101", headers=[(b"origin", b"https://shop.example")]
        )
        await communicator.connect()
        # Through the guard to the consumer, which refuses for its own reason.
        assert await closed_with(communicator) == 4503
