"""System checks for contradictory or missing configuration.

They run before `runserver`/`migrate` and in `manage.py check`, so a bad deployment fails at
start-up with a message naming the variable, not later with a confusing error.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
)
from django.core.exceptions import ImproperlyConfigured
from pymongo.database_shared import _check_name as _check_database_name
from pymongo.errors import PyMongoError
from pymongo.uri_parser_shared import _validate_uri

from postcall import opus
from postcall.cost import price_table
from postcall.management import MAX_DAYS
from voiceproject.settings import DEV_SECRET_KEY, RUPEES_PER_USD

# Django's own floor is 5 distinct characters; a hex key (openssl rand -hex 32) has 16.
SECRET_KEY_MIN_DISTINCT_CHARACTERS = 10
# Keys written in this repository that the other rules would pass: copied, they are public.
# The examples', the tests' servers', the test suite's (before each run drew its own in
# conftest.py), the benchmarks'.
EXAMPLE_SECRET_KEYS = {
    DEV_SECRET_KEY,
    "change-me-to-a-long-random-string",
    "live-server-test-key-not-for-production-0123456789abcdef",
    "test-only-secret-key-not-for-production-use-0123456789",
    "bench-only-secret-key-never-used-to-sign-anything-0123",
    "bench-secret-key-" + "x" * 40,
    "bench-staff-path-" + "x" * 40,
}


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
    return _too_simple(key, SECRET_KEY_MIN_LENGTH)


def _too_simple(key: str, min_length: int) -> str | None:
    """Why `key` is too short or too repetitive to be a secret, or None."""
    if len(key) < min_length:
        return f"{len(key)} characters long (at least {min_length} are needed)"
    if len(set(key)) < SECRET_KEY_MIN_DISTINCT_CHARACTERS:
        return (
            f"made of {len(set(key))} distinct characters "
            f"(at least {SECRET_KEY_MIN_DISTINCT_CHARACTERS} are needed)"
        )
    return None


# Bearer keys other programs present (VOICE_API_KEY, METRICS_TOKEN): `secrets.token_urlsafe(32)`
# gives 43 characters. Guesses at the minting API are limited per address (realtime/views.py),
# not over all addresses, so the key itself must be out of reach of guessing.
BEARER_KEY_MIN_LENGTH = 32
# .env.example's: long and varied enough, and public.
EXAMPLE_BEARER_KEYS = {"a-long-random-key-your-host-app-uses-to-mint-session-tokens"}


def bearer_key_weakness(key: str) -> str | None:
    """Why `key` is too easy to guess as a bearer key, or None (also when unset)."""
    if not key:
        return None
    if key in EXAMPLE_BEARER_KEYS:
        return "a published example key"
    return _too_simple(key, BEARER_KEY_MIN_LENGTH)


def header_safe(key: str) -> bool:
    """Whether a bearer key can be sent in an HTTP header as it is: visible ASCII only."""
    return all("!" <= character <= "~" for character in key)


def url_problem(url: str, schemes: tuple[str, str]) -> str | None:
    """What is wrong with `url` as a URL of the first of `schemes` (or the second), or None."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError as error:
        return f"it cannot be parsed ({error})"
    if parts.scheme not in schemes:
        scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
        return f"it starts with {scheme}, not {schemes[0]}:// (or {schemes[1]}://)"
    if not host:
        return "it names no host"
    return None


def live_url_problem(url: str) -> str | None:
    """What is wrong with `url` as the Live API's WebSocket URL, or None."""
    return url_problem(url, ("wss", "ws"))


# Addresses this server builds URLs on, each with what goes wrong when it is no https:// (or
# http://) URL with a host: "voice.example.com" put Twilio's stream at wss:///ws/twilio.
HTTP_URL_SETTINGS = {
    "PUBLIC_BASE_URL": (
        "Twilio's media streams would be sent to no host, and every signature Twilio sends "
        "would be checked against the wrong URL (403)"
    ),
    "TWILIO_API_BASE_URL": "Every request to Twilio (a transfer, \"Call now\") would fail",
    "CALL_SUMMARY_BASE_URL": "Every call summary would fail (the stand-in account is kept)",
}


def _addresses_that_are_no_urls() -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    for name, effect in HTTP_URL_SETTINGS.items():
        url = getattr(settings, name)
        problem = url_problem(url, ("https", "http")) if url else None
        if problem:
            problems.append(
                Error(
                    f"{name} {url!r} is not a URL this server can use: {problem}. {effect}.",
                    hint="Set it to a URL such as https://host.example.com, or unset it "
                    "(README: Configuration).",
                    id="voiceproject.E019",
                )
            )
    return problems


def origin_problem(url: str) -> str | None:
    """What `url`, a URL with a host (`url_problem` passed it), has beyond an origin (its
    scheme, host and port), or None: a user name or password, or anything after the host but
    the one "/" of the root."""
    url = url.strip()
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return "it has a user name or password before the host"
    after_host = url[len(parts.scheme) + len("://") + len(parts.netloc) :]
    if after_host not in ("", "/"):
        return f"it has {after_host!r} after the host (a path, query or fragment)"
    return None


def _without_userinfo(url: str) -> str:
    """`url` for a message: a user name and password in it are not repeated."""
    parts = urlsplit(url.strip())
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def _public_base_url_not_an_origin() -> list[CheckMessage]:
    """PUBLIC_BASE_URL is an origin: Twilio's URLs are built on it, the webhooks' by adding
    their path, the media stream's from its host alone, and each signature is checked
    against one of them. Anything more puts the webhooks or the stream, or both, at URLs
    Twilio does not use, and their signatures fail."""
    url = settings.PUBLIC_BASE_URL
    if not url or url_problem(url, ("https", "http")):  # unset, or E019 said it
        return []
    problem = origin_problem(url)
    if problem is None:
        return []
    return [
        Error(
            f"PUBLIC_BASE_URL {_without_userinfo(url)!r} is not an origin: {problem}. "
            "Twilio's webhook and media stream URLs would not be the ones Twilio uses: phone "
            "calls would fail at its signature (403) or never reach their stream.",
            hint="Set it to the scheme and host (and port) alone, such as "
            "https://voice.example.com: this server answers Twilio at the root of that host "
            "(README: Phone calls).",
            id="voiceproject.E020",
        )
    ]


def mongodb_uri_problem(uri: str) -> str | None:
    """What pymongo's URI parser finds wrong with `uri`, or None.

    Parsed as MongoClient would, without resolving a mongodb+srv:// name (no network here).
    The message never repeats the URI, which may hold a password.
    """
    try:
        _validate_uri(uri)
    except (PyMongoError, ValueError) as error:
        return str(error)
    return None


def database_name_problem(name: str) -> str | None:
    """What pymongo finds wrong with `name` as a database name, or None. It says so only at the
    first query (a traceback from `migrate`, a 503 from /healthz), not when it connects."""
    try:
        _check_database_name(name)
    except PyMongoError as error:
        return str(error)
    return None


def network_problems(networks: Sequence[str]) -> list[str]:
    """The entries of METRICS_ALLOWED_NETWORKS that are not an IP network, each with why."""
    problems = []
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as error:
            problems.append(f"{network!r} ({error})")
    return problems


def live_prices_problem(prices: object) -> str | None:
    """What is wrong with `prices` as LIVE_PRICES (postcall/cost.py reads it), or None."""
    if not isinstance(prices, dict) or not prices:
        return "it is not a JSON object of models"
    for model, table in prices.items():
        if not isinstance(table, dict) or not {"input", "output"} <= set(table):
            return f'{model!r} has no "input" and "output" tables'
        for direction in ("input", "output"):
            rates = table[direction]
            if not isinstance(rates, dict) or not rates or not all(
                isinstance(usd, int | float) and not isinstance(usd, bool) and usd >= 0
                for usd in rates.values()
            ):
                return (
                    f'{model!r} "{direction}" is not an object of modalities to prices '
                    '(e.g. {"TEXT": 0.75, "AUDIO": 3.0})'
                )
        if "TEXT" not in table["output"]:
            return f'{model!r} "output" has no "TEXT" price (thinking is billed at it)'
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
        for name in ("VOICE_API_KEY", "METRICS_TOKEN"):
            weakness = bearer_key_weakness(getattr(settings, name))
            if weakness:
                problems.append(
                    Warning(
                        f"{name} is {weakness}: whoever guesses it can use it.",
                        hint=(
                            f"Set {name} to a long random value, e.g. the output of "
                            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
                        ),
                        id="voiceproject.W002",
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
    for name in ("VOICE_API_KEY", "METRICS_TOKEN"):
        if not header_safe(getattr(settings, name)):
            problems.append(
                Error(
                    f"{name} has characters other than visible ASCII: no request can present "
                    "it (HTTP headers carry ASCII), so it would refuse everyone.",
                    hint=(
                        f"Set {name} to a long random value, e.g. the output of "
                        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
                    ),
                    id="voiceproject.E021",
                )
            )
    problems.extend(_addresses_that_are_no_urls())
    problems.extend(_public_base_url_not_an_origin())
    if (
        settings.PUBLIC_BASE_URL
        and not settings.PUBLIC_BASE_URL.startswith("https://")
        and not settings.DEBUG
        and not url_problem(settings.PUBLIC_BASE_URL, ("https", "http"))  # E019 said it
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
    uri_error = mongodb_uri_problem(settings.MONGODB_URI) if settings.MONGODB_URI else None
    if uri_error:
        problems.append(
            Error(
                f"MONGODB_URI cannot be parsed: {uri_error}",
                hint=(
                    "Set it to a MongoDB connection string, mongodb://host:27017/ or "
                    "mongodb+srv://user:password@cluster.example.net/ (a user name or password "
                    "with @ : / in it percent-encoded)."
                ),
                id="voiceproject.E013",
            )
        )
    name_error = database_name_problem(settings.MONGODB_DB)
    if name_error:
        problems.append(
            Error(
                f"MONGODB_DB {settings.MONGODB_DB!r} is not a database name: {name_error}. "
                "Every query would fail.",
                hint="Use letters, digits, - and _ (unset, it is voice_support).",
                id="voiceproject.E018",
            )
        )
    bad_networks = network_problems(settings.METRICS_ALLOWED_NETWORKS)
    if bad_networks:
        problems.append(
            Error(
                f"METRICS_ALLOWED_NETWORKS has entries that are not networks: "
                f"{', '.join(bad_networks)}. /metrics would answer 500.",
                hint="Set it to comma-separated CIDRs, e.g. 10.0.0.0/8,192.168.1.5/32.",
                id="voiceproject.E014",
            )
        )
    prices_error = live_prices_problem(settings.LIVE_PRICES)
    if prices_error:
        problems.append(
            Error(
                f"LIVE_PRICES is not a price table: {prices_error}. Call costs would fail.",
                hint=(
                    'Use the shape {"model": {"input": {"TEXT": 0.75, "AUDIO": 3.0}, '
                    '"output": {"TEXT": 4.5, "AUDIO": 12.0}}} (USD per million tokens), '
                    "or unset it for Google's prices."
                ),
                id="voiceproject.E015",
            )
        )
    elif price_table(settings.GEMINI_LIVE_MODEL, settings.LIVE_PRICES) is None:
        problems.append(
            Warning(
                f"GEMINI_LIVE_MODEL {settings.GEMINI_LIVE_MODEL!r} has no price in "
                "LIVE_PRICES: calls will show no cost, and the dashboard's cost figures "
                "will leave them out.",
                hint=(
                    "Add the model to LIVE_PRICES (USD per million tokens, from Google's "
                    "pricing page), or set GEMINI_LIVE_MODEL to a model it prices."
                ),
                id="voiceproject.W013",
            )
        )
    if settings.COST_CURRENCY.upper() != "INR" and settings.COST_PER_USD == RUPEES_PER_USD:
        problems.append(
            Warning(
                f"COST_CURRENCY is {settings.COST_CURRENCY} but COST_PER_USD is still the "
                f"rupee's default ({RUPEES_PER_USD:g}): every call's cost would be shown "
                f"{RUPEES_PER_USD:g} {settings.COST_CURRENCY} per US dollar.",
                hint=f"Set COST_PER_USD to today's rate of {settings.COST_CURRENCY} per US "
                     "dollar (1 for USD).",
                id="voiceproject.W015",
            )
        )
    if settings.RECORD_CALLS and not opus.installed():
        problems.append(
            Error(
                "RECORD_CALLS is on but libopus is not installed: every call would go "
                "unrecorded.",
                hint="Install it (Debian: apt-get install libopus0), or unset RECORD_CALLS.",
                id="voiceproject.E017",
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
    problems.extend(_https_redirect_nobody_vouches_for())
    problems.extend(_limits_that_stop_the_service())
    problems.extend(_drain_that_moves_no_call())
    problems.extend(_several_workers_share_redis())
    problems.extend(_cache_apart_from_channel_layer())
    return problems


def _https_redirect_nobody_vouches_for() -> list[CheckMessage]:
    """SECURE_SSL_REDIRECT sends every request that is not https to https://. Neither daphne
    nor the workers' HAProxy speaks TLS, so a request is https only when a proxy in front says
    so (X-Forwarded-Proto), which is believed only with TRUSTED_PROXY_COUNT at 1 or more.
    A warning, not an error: the workers command checks its settings before it gives its
    workers TRUSTED_PROXY_COUNT=1, and daphne could be started with a TLS endpoint of its own."""
    if not settings.SECURE_SSL_REDIRECT or settings.SECURE_PROXY_SSL_HEADER:
        return []
    return [
        Warning(
            f"SECURE_SSL_REDIRECT is on but TRUSTED_PROXY_COUNT is "
            f"{settings.TRUSTED_PROXY_COUNT}: no request would count as https, so every page "
            "would answer 301 to itself over and over behind a TLS proxy (or to an https "
            "address nothing serves without one); only /healthz and /metrics would answer.",
            hint=(
                "Set TRUSTED_PROXY_COUNT to the proxies in front (1 behind Cloud Run, Compose's "
                "HAProxy or one TLS proxy: the Docker image's default), or "
                "SECURE_SSL_REDIRECT=False to try a production configuration over plain http "
                "(README: Security settings)."
            ),
            id="voiceproject.W014",
        )
    ]


# Numbers that would stop the service doing its job at 0 or below (the first) or below 0 (the
# second), each with what would happen.
MUST_BE_POSITIVE = {
    "VOICE_MAX_CALL_S": "every call would end as it starts",
    "VOICE_IDLE_PROMPT_S": "every caller would be asked at once whether they are still there",
    "VOICE_STALL_S": "the model would be nudged, and its session resumed, at every pause",
    "VOICE_SESSION_TOKEN_TTL": "every session token would be expired when it is minted",
    "VOICE_MAX_CALLS_PER_CUSTOMER": "every call would be refused",
    "CALL_SUMMARY_TIMEOUT_S": "every summary would time out",
    "COST_PER_USD": "every call would cost nothing, or less",
    "STAFF_HOLDING_EVERY_S": "a call held by a colleague would take their page for gone at once",
    "VOICE_DRAIN_S": "on SIGTERM every call would be cut at once, none moved to another process",
    "VOICE_RESUME_GRACE_S": (
        "a call whose page dropped, or that is moving to another process, would be ended "
        "before a page could take it up again"
    ),
    "ESCALATION_WAIT_S": (
        "the agent would offer a callback as it says a colleague is coming, before anyone "
        "could join"
    ),
    "STAFF_HOLD_GRACE_S": (
        "a call a colleague holds would go back to the agent at once whenever their page "
        "reloads or the call moves to another process"
    ),
    "QUEUE_OVERDUE_MINUTES": (
        "the dashboard would count every open ticket as overdue, and the queue would flag none"
    ),
    # pymongo.timeout(0) is no timeout at all, and below 0 it raises.
    "PAGE_DB_TIMEOUT_S": (
        "a page would wait for a frozen database without end (0), or every page would fail "
        "(below 0)"
    ),
}
MUST_NOT_BE_NEGATIVE = {
    "RECORDING_RETENTION_DAYS": "delete_old_recordings would fail every time it runs",
    # Read as 0 by the drain: not what whoever wrote "-2" meant.
    "VOICE_DRAIN_NOTICE_S": (
        "on SIGTERM a process would not wait for the balancer at all, and calls it moves "
        "could land on it again"
    ),
    # Django sends "max-age=-N", which browsers ignore, and its deploy check passes it.
    "SECURE_HSTS_SECONDS": (
        "browsers would ignore the Strict-Transport-Security header, so there would be no HSTS"
    ),
}


# Durations, each with the seconds in its unit. Over a hundred years (MAX_DAYS, the housekeeping
# commands' bound) is a typo, and further back than the first date there is: with
# VOICE_RESUME_GRACE_S=1e11 every sweep of the calls failed, with QUEUE_OVERDUE_MINUTES at 1e11
# every dashboard, and a RECORDING_RETENTION_DAYS above it every run of delete_old_recordings.
DURATION_UNIT_S = dict.fromkeys(
    ("VOICE_MAX_CALL_S", "VOICE_IDLE_PROMPT_S", "VOICE_STALL_S", "VOICE_SESSION_TOKEN_TTL",
     "CALL_SUMMARY_TIMEOUT_S", "STAFF_HOLDING_EVERY_S", "VOICE_DRAIN_S", "VOICE_RESUME_GRACE_S",
     "ESCALATION_WAIT_S", "STAFF_HOLD_GRACE_S", "VOICE_DRAIN_NOTICE_S", "SECURE_HSTS_SECONDS",
     "HTTP_HEADER_TIMEOUT_S", "HTTP_BODY_TIMEOUT_S", "PAGE_DB_TIMEOUT_S"),
    1,
) | {"QUEUE_OVERDUE_MINUTES": 60, "RECORDING_RETENTION_DAYS": 86_400}  # fmt: skip
LONGEST_DURATION_S = MAX_DAYS * 86_400


def _limits_that_stop_the_service() -> list[CheckMessage]:
    low = [(name, why, "more than 0") for name, why in MUST_BE_POSITIVE.items()
           if getattr(settings, name) <= 0]
    low += [(name, why, "0 or more") for name, why in MUST_NOT_BE_NEGATIVE.items()
            if getattr(settings, name) < 0]
    problems: list[CheckMessage] = [
        Error(
            f"{name} is {getattr(settings, name)}: {why}.",
            hint=f"Set it to {lowest}, or unset it for its default (README: Configuration).",
            id="voiceproject.E016",
        )
        for name, why, lowest in low
    ]
    for name, unit_s in DURATION_UNIT_S.items():
        if getattr(settings, name) * unit_s > LONGEST_DURATION_S:
            problems.append(
                Error(
                    f"{name} is {getattr(settings, name)}: more than a hundred years, further "
                    "back than this server counts times: what uses it would fail every time.",
                    hint=f"Set it to at most {LONGEST_DURATION_S // unit_s}, or unset it for its "
                    "default (README: Configuration).",
                    id="voiceproject.E016",
                )
            )
    return problems


def _drain_that_moves_no_call() -> list[CheckMessage]:
    """On SIGTERM a process first waits VOICE_DRAIN_NOTICE_S for the balancer, then asks its
    calls to move, until VOICE_DRAIN_S since the signal: a notice as long as the drain leaves
    no time to move any call, and every call up at a restart is cut."""
    drain_s, notice_s = settings.VOICE_DRAIN_S, settings.VOICE_DRAIN_NOTICE_S
    if drain_s <= 0 or notice_s < drain_s:
        return []
    return [
        Warning(
            f"VOICE_DRAIN_NOTICE_S ({notice_s:g}) is not shorter than VOICE_DRAIN_S "
            f"({drain_s:g}): on SIGTERM no call would be moved to another process; every "
            "call up at a restart or scale-in would be cut.",
            hint=(
                "Leave the calls most of the drain, e.g. VOICE_DRAIN_S=25 with "
                "VOICE_DRAIN_NOTICE_S=2, or VOICE_DRAIN_S=8 with VOICE_DRAIN_NOTICE_S=0 on "
                "Cloud Run (README: Production)."
            ),
            id="voiceproject.W012",
        )
    ]


# Backends that live inside one process: several workers each get their own.
PER_PROCESS_CHANNEL_LAYERS = {"channels.layers.InMemoryChannelLayer"}
PER_PROCESS_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


def redis_database(url: str) -> tuple[str, int, int] | None:
    """(host, port, database number) of a redis:// URL, or None when it names none."""
    try:
        parts = urlsplit(url)
        number = parts.path.strip("/") or parse_qs(parts.query).get("db", ["0"])[0]
        return ((parts.hostname or "localhost").lower(), parts.port or 6379, int(number))
    except ValueError:
        return None


def _redis_databases(urls: Sequence[str]) -> set[tuple[str, int, int]]:
    return {db for url in urls if url.startswith(("redis://", "rediss://"))
            if (db := redis_database(url)) is not None}  # fmt: skip


def _layer_urls() -> list[str]:
    hosts = settings.CHANNEL_LAYERS.get("default", {}).get("CONFIG", {}).get("hosts", [])
    return [host["address"] if isinstance(host, dict) else str(host) for host in hosts]


def _cache_urls() -> list[str]:
    location = settings.CACHES["default"].get("LOCATION", "")
    return [location] if isinstance(location, str) else list(location)


def _cache_apart_from_channel_layer() -> list[CheckMessage]:
    shared = _redis_databases(_layer_urls()) & _redis_databases(_cache_urls())
    if not shared:
        return []
    host, port, db = sorted(shared)[0]
    return [
        Warning(
            f"REDIS_URL and CHANNEL_LAYERS_URL name the same Redis database "
            f"({host}:{port}/{db}): clearing the cache (Django's Redis cache does it with "
            "FLUSHDB) would empty the channel layer's groups too, leaving staff pages and "
            "calls deaf to each other's events.",
            hint="Give the cache another database number, e.g. CHANNEL_LAYERS_URL="
            "redis://host:6379/0 and REDIS_URL=redis://host:6379/1.",
            id="voiceproject.W011",
        )
    ]


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
