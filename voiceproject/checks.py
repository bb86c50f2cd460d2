"""System checks for contradictory or missing configuration.

They run before `runserver`/`migrate` and in `manage.py check`, so a bad deployment fails at
start-up with a message naming the variable, not later with a confusing error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
)
from django.core.exceptions import ImproperlyConfigured

from voiceproject.settings import DEV_SECRET_KEY

# Django's own floor is 5 distinct characters; a hex key (openssl rand -hex 32) has 16.
SECRET_KEY_MIN_DISTINCT_CHARACTERS = 10
# Keys that appear in this project's examples: copied, they are public.
EXAMPLE_SECRET_KEYS = {DEV_SECRET_KEY, "change-me-to-a-long-random-string"}


def _secret_key() -> str:
    try:
        return str(settings.SECRET_KEY)
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        return ""


def secret_key_weakness(key: str) -> str | None:
    """Why `key` must not sign production sessions, or None when it is fit to.

    Weak is everything Django's `check --deploy` calls insecure (security.W009, only a
    warning there) and a few more: an example key, or too few distinct characters.
    """
    if not key:
        return "not set"
    if key in EXAMPLE_SECRET_KEYS or key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return "a published example key"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"{len(key)} characters long (at least {SECRET_KEY_MIN_LENGTH} are needed)"
    if len(set(key)) < SECRET_KEY_MIN_DISTINCT_CHARACTERS:
        return (
            f"made of {len(set(key))} distinct characters "
            f"(at least {SECRET_KEY_MIN_DISTINCT_CHARACTERS} are needed)"
        )
    return None


def live_url_problem(url: str) -> str | None:
    """What is wrong with `url` as the Live API's WebSocket URL, or None."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError as error:
        return f"it cannot be parsed ({error})"
    if parts.scheme not in ("ws", "wss"):
        scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
        return f"it starts with {scheme}, not wss:// (or ws://)"
    if not host:
        return "it names no host"
    return None


@register()
def check_configuration(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if not settings.DEBUG:
        weakness = secret_key_weakness(_secret_key())
        if weakness:
            problems.append(
                Error(
                    f"DEBUG is off but SECRET_KEY is {weakness}: sessions, tokens and "
                    "signatures made with it could be forged.",
                    hint=(
                        "Set SECRET_KEY to a long random value, e.g. the output of "
                        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`, "
                        "or DEBUG=True for local work."
                    ),
                    id="voiceproject.E001",
                )
            )
        if not settings.ALLOWED_HOSTS:
            problems.append(
                Error(
                    "DEBUG is off but ALLOWED_HOSTS is empty: every request would be refused.",
                    hint="Set ALLOWED_HOSTS to the host names this server answers to.",
                    id="voiceproject.E002",
                )
            )
        if settings.VOICE_DEMO_MODE:
            problems.append(
                Warning(
                    "VOICE_DEMO_MODE is on with DEBUG off: anyone can talk to the agent as any "
                    "demo customer without a token.",
                    hint="Unset VOICE_DEMO_MODE in production.",
                    id="voiceproject.W001",
                )
            )
    if not settings.MONGODB_URI:
        problems.append(
            Error(
                "MONGODB_URI is not set and the embedded database is not running.",
                hint="Start everything with `make run`, or set MONGODB_URI to a MongoDB server.",
                id="voiceproject.E003",
            )
        )
    if settings.TWILIO_ESCALATION_NUMBER and not (
        settings.TWILIO_AUTH_TOKEN and settings.TWILIO_ACCOUNT_SID
    ):
        problems.append(
            Error(
                "TWILIO_ESCALATION_NUMBER is set but TWILIO_ACCOUNT_SID or TWILIO_AUTH_TOKEN "
                "is not.",
                hint="Phone escalation transfers need Twilio credentials.",
                id="voiceproject.E004",
            )
        )
    if (
        settings.PUBLIC_BASE_URL
        and not settings.PUBLIC_BASE_URL.startswith("https://")
        and not settings.DEBUG
    ):
        problems.append(
            Error(
                "PUBLIC_BASE_URL must be an https:// origin when DEBUG is off.",
                hint="Twilio signs the public https URL; use the one the world reaches.",
                id="voiceproject.E005",
            )
        )
    live_url_error = live_url_problem(settings.GEMINI_LIVE_URL)
    if settings.GEMINI_API_KEY and live_url_error:
        problems.append(
            Error(
                f"GEMINI_LIVE_URL {settings.GEMINI_LIVE_URL!r} is not a WebSocket URL: "
                f"{live_url_error}. Every call would stay on \"Connecting…\".",
                hint=(
                    "Set it to the Live API's wss:// URL (unset, it is Google's: "
                    "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage"
                    ".v1beta.GenerativeService.BidiGenerateContent), or to a ws:// fake."
                ),
                id="voiceproject.E008",
            )
        )
    if settings.TRUSTED_PROXY_COUNT < 0:
        problems.append(
            Error(
                f"TRUSTED_PROXY_COUNT is {settings.TRUSTED_PROXY_COUNT}; it counts proxies.",
                hint="Set it to the number of proxies in front of daphne (0 when there is none).",
                id="voiceproject.E006",
            )
        )
    for name in ("HTTP_HEADER_TIMEOUT_S", "HTTP_BODY_TIMEOUT_S"):
        if getattr(settings, name) <= 0:
            problems.append(
                Error(
                    f"{name} must be a positive number of seconds.",
                    hint="It bounds how long a slow client may take to send a request.",
                    id="voiceproject.E007",
                )
            )
    problems.extend(_several_workers_share_redis())
    return problems


# Backends that live inside one process: several workers each get their own.
PER_PROCESS_CHANNEL_LAYERS = {"channels.layers.InMemoryChannelLayer"}
PER_PROCESS_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


def _several_workers_share_redis() -> list[CheckMessage]:
    """Several processes with per-process state would each see a part of the service: a staff
    page on one would miss an escalation raised on another, and each process would count
    failed logins on its own."""
    problems: list[CheckMessage] = []
    workers = settings.VOICE_WORKERS
    layer = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    if layer == "channels_redis.pubsub.RedisPubSubChannelLayer":
        problems.append(
            Warning(
                "CHANNEL_LAYERS_URL selects channels_redis's pub/sub layer, which is in beta "
                "and can drop messages when Redis is briefly unreachable.",
                hint="Use redis:// (RedisChannelLayer), the supported layer.",
                id="voiceproject.W010",
            )
        )
    if workers < 1:
        problems.append(
            Error(
                f"VOICE_WORKERS must be 1 or more, not {workers}.",
                hint="Unset it for one process.",
                id="voiceproject.E012",
            )
        )
    if workers <= 1:
        return problems
    if not layer or layer in PER_PROCESS_CHANNEL_LAYERS:
        problems.append(
            Error(
                f"VOICE_WORKERS is {workers} but the channel layer is in memory: events "
                "would reach only the process that raised them.",
                hint="Set CHANNEL_LAYERS_URL=redis://host:6379/0 (shared by every worker).",
                id="voiceproject.E010",
            )
        )
    if settings.CACHES["default"]["BACKEND"] in PER_PROCESS_CACHES:
        problems.append(
            Error(
                f"VOICE_WORKERS is {workers} but the cache is per process: login throttling "
                "and rate limits would count on each worker separately.",
                hint="Set REDIS_URL=redis://host:6379/1 (shared by every worker).",
                id="voiceproject.E011",
            )
        )
    return problems
