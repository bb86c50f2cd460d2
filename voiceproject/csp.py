"""The Content-Security-Policy of every page, in one place: a policy per path.

    /          the customer's voice page: its own scripts, styles and AudioWorklets, WebSockets
               to this host, the agent's audio as blobs; no referrer (a session token may be in
               the address) and the microphone for this page only
    the rest   the back office (/admin/, /staff/) and everything else: this site's scripts,
               styles and fonts, WebSockets to this host (the live queue and calls), audio
               from this site (call recordings) or blobs

Nothing inline anywhere: no inline script, style or event handler runs, so an injected
string cannot run code even if escaping failed somewhere. No page may be framed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin


@dataclass(frozen=True)
class PagePolicy:
    """A CSP (`{host}` stands for this request's host) and other headers a page is served with."""

    directives: tuple[str, ...]
    headers: Mapping[str, str] = field(default_factory=dict)

    def content_security_policy(self, host: str | None) -> str:
        # `connect-src 'self'` covers same-host ws:/wss: in current browsers but not in older
        # Safari, so the host's WebSocket origins are named as well (when the host is valid).
        websockets = f"ws://{host} wss://{host}" if host else ""
        return "; ".join(d.replace("{websockets}", websockets).strip() for d in self.directives)


VOICE_PAGE = PagePolicy(
    directives=(
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' {websockets}",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ),
    headers={
        # A session token may be in the address (?token=...): never leak it to other sites.
        "Referrer-Policy": "no-referrer",
        # The page asks for the microphone itself; nothing else on it may use it.
        "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
    },
)

SITE = PagePolicy(
    directives=(
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self' {websockets}",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ),
)


def policy_for(path: str) -> PagePolicy:
    return VOICE_PAGE if path == "/" else SITE


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Serve every response under its path's policy (`policy_for`).

    Listed after SecurityMiddleware, so a page's own Referrer-Policy wins over the site's.
    With DEBUG on, Django's error pages (inline styles and scripts) are left without a CSP.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if settings.DEBUG and response.status_code >= 400:
            return response
        policy = policy_for(request.path)
        try:
            host: str | None = request.get_host()  # validated against ALLOWED_HOSTS
        except DisallowedHost:
            host = None
        response.headers["Content-Security-Policy"] = policy.content_security_policy(host)
        for name, value in policy.headers.items():
            response.headers[name] = value
        return response
