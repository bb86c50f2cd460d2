"""The client's address comes from the socket, or from the entries trusted proxies appended."""

from __future__ import annotations

from typing import Any, cast

import pytest
from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, Scope
from django.test import override_settings

from voiceproject.proxies import TrustedProxies, forwarded_client


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert forwarded_client("192.0.2.1", ["203.0.113.9"], 0) == "192.0.2.1"


def test_one_trusted_proxy_vouches_for_the_last_entry_only() -> None:
    assert forwarded_client("10.0.0.2", ["1.2.3.4, 203.0.113.9"], 1) == "203.0.113.9"


def test_two_trusted_proxies_vouch_for_the_second_from_the_right() -> None:
    # A Google external Application Load Balancer appends "<client>, <its own address>".
    header = ["6.6.6.6, 203.0.113.9, 34.117.0.1"]

    assert forwarded_client("10.0.0.2", header, 2) == "203.0.113.9"


def test_several_header_lines_read_as_one_list() -> None:
    assert forwarded_client("10.0.0.2", ["6.6.6.6", "203.0.113.9"], 1) == "203.0.113.9"


@pytest.mark.parametrize("header", [[], [""], [" , "]])
def test_fewer_entries_than_trusted_proxies_vouch_for_nobody(header: list[str]) -> None:
    assert forwarded_client("10.0.0.2", header, 1) is None


def test_an_entry_that_is_not_an_address_vouches_for_nobody() -> None:
    assert forwarded_client("10.0.0.2", ["1.2.3.4, unknown"], 1) is None


def test_ipv6_addresses_are_normalised() -> None:
    assert forwarded_client("10.0.0.2", ["2001:DB8:0:0::1"], 1) == "2001:db8::1"


async def _client_seen(scope: dict[str, Any]) -> Any:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        seen["client"] = scope.get("client")

    # The app neither receives nor sends.
    unused = cast(Any, None)
    await TrustedProxies(app)(cast(Scope, scope), unused, unused)
    return seen["client"]


def _scope(kind: str, forwarded_for: bytes | None) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", forwarded_for)] if forwarded_for is not None else []
    return {"type": kind, "client": ("10.0.0.2", 51000), "headers": headers}


@pytest.mark.parametrize("kind", ["http", "websocket"])
async def test_the_wrapper_sets_the_client_from_trusted_entries(kind: str) -> None:
    with override_settings(TRUSTED_PROXY_COUNT=1):
        client = await _client_seen(_scope(kind, b"6.6.6.6, 203.0.113.9"))

    assert client == ("203.0.113.9", 0)


async def test_the_wrapper_leaves_no_client_when_nobody_vouches() -> None:
    with override_settings(TRUSTED_PROXY_COUNT=1):
        assert await _client_seen(_scope("http", None)) is None


async def test_without_trusted_proxies_the_wrapper_keeps_the_peer() -> None:
    with override_settings(TRUSTED_PROXY_COUNT=0):
        client = await _client_seen(_scope("http", b"6.6.6.6"))

    assert client == ("10.0.0.2", 51000)
