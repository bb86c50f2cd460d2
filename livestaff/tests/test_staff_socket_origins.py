"""Staff sockets open only from pages of this very site (cross-site WebSocket hijacking).

A staff socket is opened with the session cookie, which the browser sends along with a
WebSocket handshake from any page of the same *site*: another subdomain, another port of the
same host. So the page's Origin must be the origin the socket is opened to (its scheme, host
and port), as Django asks of every POST (its CSRF check), or one of CSRF_TRUSTED_ORIGINS:
being one of ALLOWED_HOSTS is not enough (`.example.com` allows every subdomain).
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from livestaff.tests.test_signed_out_staff import signed_in_lead
from voiceproject.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ROUTES = ["/ws/staff/live", "/ws/staff/queue", "/ws/staff/calls/CALL-0123456789abcdef"]
OTHER_ORIGINS = {
    "another port": "http://testserver:8081",  # another service on the host: gets the cookie
    "another scheme": "https://testserver",  # this socket is not over TLS: not its page
    "a subdomain": "http://status.testserver",  # ALLOWED_HOSTS allows it too, below
    "another site": "http://evil.example",
    "a sandboxed page or a file": "null",
    "a confusing one": "http://evil.example\\@testserver",  # a parser may read testserver
    "not even a URL": "http://[::1",
}


@pytest.fixture
async def lead_cookie(groups: Any) -> str:
    browser = await sync_to_async(signed_in_lead)()
    return f"sessionid={browser.cookies['sessionid'].value}"


async def opens(path: str, cookie: str, **headers: str) -> bool:
    """Whether a lead's socket on `path` with these handshake headers is accepted."""
    pairs = [(b"cookie", cookie.encode())]
    pairs += [(name.replace("_", "-").lower().encode(), v.encode()) for name, v in headers.items()]
    socket = WebsocketCommunicator(application, path, headers=pairs)
    connected, _ = await socket.connect(timeout=5)
    await socket.disconnect()
    return connected


@override_settings(ALLOWED_HOSTS=[".testserver"])
async def test_only_a_page_of_this_very_origin_opens_a_staff_socket(lead_cookie: str) -> None:
    for path in ROUTES:
        assert await opens(path, lead_cookie, Host="testserver", Origin="http://testserver")
        opened = {what: await opens(path, lead_cookie, Host="testserver", Origin=origin)
                  for what, origin in OTHER_ORIGINS.items()}  # fmt: skip
        assert opened == dict.fromkeys(OTHER_ORIGINS, False), path


async def test_without_an_origin_or_a_host_of_ours_a_staff_socket_is_refused(
    lead_cookie: str,
) -> None:
    for path in ROUTES:
        assert not await opens(path, lead_cookie, Host="testserver")
        assert not await opens(path, lead_cookie, Origin="http://testserver")
        assert not await opens(path, lead_cookie, Host="evil.example", Origin="http://evil.example")


@override_settings(ALLOWED_HOSTS=["voice.example.com"], TRUSTED_PROXY_COUNT=1,
                   SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
async def test_behind_a_tls_proxy_the_https_page_opens_its_socket(lead_cookie: str) -> None:
    """The proxy in front says https (X-Forwarded-Proto, as Django trusts it with DEBUG off
    and a proxy in front, TRUSTED_PROXY_COUNT)."""
    site = {"Host": "voice.example.com", "X_Forwarded_Proto": "https",
            "X_Forwarded_For": "203.0.113.5"}  # fmt: skip

    assert await opens("/ws/staff/live", lead_cookie, **site, Origin="https://voice.example.com")
    assert not await opens("/ws/staff/live", lead_cookie, **site,
                           Origin="http://voice.example.com")  # fmt: skip


@override_settings(CSRF_TRUSTED_ORIGINS=["https://*.support.example.com"])
async def test_a_trusted_origin_opens_a_staff_socket_as_it_posts_forms(lead_cookie: str) -> None:
    assert await opens("/ws/staff/live", lead_cookie, Host="testserver",
                       Origin="https://desk.support.example.com")  # fmt: skip
    assert not await opens("/ws/staff/live", lead_cookie, Host="testserver",
                           Origin="http://desk.support.example.com")  # fmt: skip
