"""Settings for the voice support server, read from the environment (and `.env`).

Every variable of the public contract (section 1) is read here and nowhere else. Missing or
contradictory configuration is reported by the system checks in `voiceproject/checks.py`,
which run before the server starts serving.
"""

from __future__ import annotations

import json
import math
import os
import zoneinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from redis.connection import parse_url as redis_parse_url

from voiceproject import env_file

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file.read()


# --- Environment helpers: a bad value stops the process with one line naming the variable -----
# Set but empty (a blank line in .env, Compose's `${VAR:-}`) means unset: the default applies.


def bad_setting(name: str, value: str, expected: str) -> ImproperlyConfigured:
    """The error for `name` set to `value`; `expected` says what it should be."""
    return ImproperlyConfigured(f"{name}={value!r} is not valid: expected {expected}.")


def env_text(name: str, default: str) -> str:
    # Stripped: a key read from a secret file keeps the file's last newline otherwise, and
    # then never matches the key presented.
    return env.str(name, default="").strip() or default


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list, each entry stripped ("a.com, b.com" as people write it), empty
    ones dropped; `default` when unset."""
    value = env_text(name, "")
    if not value:
        return default
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def _env_parsed(name: str, default: Any, parse: Any, expected: str) -> Any:
    """`parse` of the variable's text, or `default` when unset; a ValueError names it."""
    value = env_text(name, "")
    if not value:
        return default
    try:
        return parse(value)
    except ValueError:
        raise bad_setting(name, value, expected) from None


def env_int(name: str, default: int) -> int:
    return int(_env_parsed(name, default, int, f"a whole number (default {default})"))


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # float() reads "inf" and "nan"; no setting here is either
        raise ValueError(text)
    return value


def env_float(name: str, default: float) -> float:
    return float(_env_parsed(name, default, _finite, f"a number (default {default:g})"))


TRUE_WORDS = {"true", "on", "ok", "y", "yes", "1"}
FALSE_WORDS = {"false", "off", "n", "no", "0"}


def env_bool(name: str, default: bool) -> bool:
    value = env_text(name, "").lower()
    if not value:
        return default
    if value in TRUE_WORDS | FALSE_WORDS:
        return value in TRUE_WORDS
    raise bad_setting(name, value, "True or False")


def env_json(name: str, default: Any) -> Any:
    value = env_text(name, "")
    if not value:
        return default
    try:
        return json.loads(value)
    except ValueError as error:
        raise bad_setting(name, value[:40], f"JSON ({error})") from None


def env_time_zone(name: str, default: str) -> str:
    value = env_text(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise bad_setting(name, value, "a time zone name such as Asia/Kolkata") from None
    return value


def redis_url_problem(url: str, schemes: tuple[str, ...] = ("redis", "rediss")) -> str | None:
    """What is wrong with `url` as a URL of one of `schemes` naming a Redis database, or None.

    redis-py says so only at the first connection (the first login, the first staff page):
    a port that is no number, or one out of range, fails there. A URL with no host, or a
    database that is no number, it reads as localhost, or as database 0, without a word."""
    try:
        parts = urlsplit(url)
        if parts.scheme not in schemes or "//" not in url:
            return f"it is not a {':// or '.join(schemes)}:// URL"
        if not parts.hostname:
            return "it names no host"
        database = parts.path.strip("/")
        if database and not (database.isascii() and database.isdigit()):
            return f"the database {database!r} is not a number"
        # "rediss+pubsub://" is channels_redis's choice of layer; redis-py reads the rest.
        redis_parse_url(parts.scheme.split("+")[0] + url[len(parts.scheme) :])
    except ValueError as error:
        return str(error)
    return None


def _without_password(url: str) -> str:
    """`url` for an error message: a password in it (rediss://:secret@host) is not repeated."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return url
    return url if password is None else url.replace(f":{password}@", ":***@", 1)


def bad_redis_url(
    name: str, url: str, example: str, schemes: tuple[str, ...] = ("redis", "rediss")
) -> ImproperlyConfigured | None:
    """The error for `name` set to `url`, or None when it is a Redis URL redis-py can use."""
    problem = redis_url_problem(url, schemes)
    if problem is None:
        return None
    return bad_setting(name, _without_password(url), f"a Redis URL such as {example} ({problem})")


def env_redis_url(name: str) -> str:
    value = env_text(name, "")
    error = bad_redis_url(name, value, "redis://host:6379/1") if value else None
    if error is not None:
        raise error
    return value


def env_origin(name: str) -> str:
    """A URL's text, less the "/" after its host that people write (https://host/ is the origin
    https://host: URLs are built on it by adding a path). What else is no origin, the system
    checks say (voiceproject.E019, E020)."""
    value = env_text(name, "")
    try:
        root_only = urlsplit(value).path == "/" and value.endswith("/")
    except ValueError:  # unreadable: the checks say so
        return value
    return value[:-1] if root_only else value


def env_raw_directory(name: str) -> str:
    """A directory a library reads from the environment itself, as it is: refused with
    spaces or a line break around it (a secret file's last newline), which stripped here
    would name another directory than the library's; set but empty, taken out of the
    environment, so that the library finds it unset too. Read before the library is first
    imported (every process reads the settings first)."""
    value = os.environ.get(name, "")
    expected = "a directory that exists and this process can write to"
    if value != value.strip():
        raise bad_setting(name, value, f"{expected}, with no spaces or line break around it")
    if not value:
        os.environ.pop(name, None)
    elif not (os.path.isdir(value) and os.access(value, os.W_OK | os.X_OK)):
        raise bad_setting(name, value, expected)
    return value

# --- Core Django -----------------------------------------------------------------------------

DEBUG: bool = env_bool("DEBUG", False)

# In development a fixed, obviously insecure key is fine; with DEBUG off the system check
# voiceproject.E001 refuses to start without a real one.
DEV_SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"
SECRET_KEY: str = env_text("SECRET_KEY", DEV_SECRET_KEY if DEBUG else "")

ALLOWED_HOSTS: list[str] = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS: list[str] = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "voiceproject.apps.MongoAdminConfig",
    "voiceproject.apps.MongoAuthConfig",
    "voiceproject.apps.MongoContentTypesConfig",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic",
    "django.contrib.staticfiles",
    "django_mongodb_backend",
    "channels",
    "voiceproject.apps.VoiceProjectConfig",
    "support",
    "realtime",
    "postcall",
    "callbacks",
    "continuity",
    "livestaff",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from collectstatic output, before sessions or auth run.
    "servestatic.middleware.ServeStaticMiddleware",
    # Every page's Content-Security-Policy (static files above need none).
    "voiceproject.csp.ContentSecurityPolicyMiddleware",
    # Each page's database time bounded by PAGE_DB_TIMEOUT_S, the session's included; a
    # database that does not answer is a 503 page (voiceproject/page_timeout.py).
    "voiceproject.page_timeout.PageDatabaseTimeoutMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "voiceproject.urls"
ASGI_APPLICATION = "voiceproject.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: MongoDB only --------------------------------------------------------------------
# MONGODB_URI unset means "the embedded SecantusDB that `make run` starts": its launcher
# (voiceproject/embedded_db.py) exports MONGODB_URI to the processes it starts and writes it
# to var/embedded-mongodb.uri so that a second shell (`manage.py shell`) finds it too.

EMBEDDED_URI_FILE = BASE_DIR / "var" / "embedded-mongodb.uri"


def _mongodb_uri() -> str | None:
    uri = env_text("MONGODB_URI", "")
    if uri:
        return uri
    if EMBEDDED_URI_FILE.exists():
        return EMBEDDED_URI_FILE.read_text().strip() or None
    return None


MONGODB_URI = _mongodb_uri()
MONGODB_DB: str = env_text("MONGODB_DB", "voice_support")

DATABASES = {
    "default": {
        # django-mongodb-backend, projecting joined fields by dotted path (see its compiler.py).
        "ENGINE": "voiceproject.mongodb",
        "HOST": MONGODB_URI,
        "NAME": MONGODB_DB,
        # Fail fast (5 s, not pymongo's 30 s) when the database is not there: a request
        # or a health probe should learn that quickly.
        "OPTIONS": {"serverSelectionTimeoutMS": 5000},
    }
}
DEFAULT_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"
MIGRATION_MODULES = {
    "admin": "mongo_migrations.admin",
    "auth": "mongo_migrations.auth",
    "contenttypes": "mongo_migrations.contenttypes",
    "sessions": "mongo_migrations.sessions",
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-in"
# The customers' time zone: tool results give times in it (as well as UTC), support hours for
# callbacks are counted in it, and the back office shows every time in it (one zone for the
# whole operation: a callback reads the same on the board and on the customer's page).
SUPPORT_TIME_ZONE: str = env_time_zone("SUPPORT_TIME_ZONE", "Asia/Kolkata")
TIME_ZONE = SUPPORT_TIME_ZONE
USE_I18N = True
FORMAT_MODULE_PATH = ["voiceproject.formats"]  # "6 Nov 2026, 15:20" in the admin as on staff pages
USE_TZ = True  # stored in UTC, shown in the support time zone

# --- Static files: served by the server itself (servestatic) from collectstatic output -------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "voiceproject.staticfiles.HashedModulesStorage"
        )
    },
}

# --- Several processes: the channel layer and the cache --------------------------------------
# One process needs neither Redis nor anything else: the in-memory layer and LocMemCache.
# Several (the workers command, several containers or Cloud Run instances) share both through
# Redis, and the system checks voiceproject.E010 and E011 refuse VOICE_WORKERS > 1 without them.

# How many server processes serve this deployment (`python -m voiceproject.workers` sets it).
VOICE_WORKERS: int = env_int("VOICE_WORKERS", 1)

# Daphne's --websocket_timeout, the longest a WebSocket may live; neither the workers command
# nor the Dockerfile changes daphne's default.
DAPHNE_WEBSOCKET_TIMEOUT_S = 86400


def redis_channel_layer(hosts: list[str]) -> dict[str, Any]:
    """channels_redis's RedisChannelLayer on the Redis URLs `hosts`, tuned for this service
    (voiceproject/channel_layer.py: it waits out Redis being away)."""
    return {
        "BACKEND": "voiceproject.channel_layer.SteadyRedisChannelLayer",
        "CONFIG": {
            # Each consumer waits for its messages with a blocking pop of up to 5 s
            # (channels_redis's brpop_timeout); redis-py 8 times out every read after 5 s by
            # default, which killed idle consumers (channels_redis #422). Reads may take 10 s.
            "hosts": [
                {"address": url, "socket_timeout": 10, "socket_connect_timeout": 2}
                for url in hosts
            ],
            # Unread messages a channel may hold before a send raises ChannelFull (which
            # voiceproject/messaging.py turns into a logged drop). In Redis all the consumers
            # of one process share one list, read continuously, so it fills only while that
            # process is stalled or dead; it must ride out a pause of about a second at a busy
            # process's whole inbound rate (ten monitored calls' audio is ~1,000 messages a
            # second). In the process, each consumer buffers as many and drops the oldest.
            "capacity": 1000,
            # An unread message expires after 10 s (default 60): a staff action (whisper,
            # take over, end call) that late is stale, and what is sent to a process that
            # died must not pile up in Redis (channels_redis #384). Clocks must agree within
            # a few seconds.
            "expiry": 10,
            # A group membership is written only when a socket joins and expires after this,
            # so it must outlive the longest socket: daphne's websocket timeout. Lowering both
            # would cut live calls and staff pages for nothing: a dead process's memberships
            # cost a skipped send each, and what is sent to them expires after `expiry`.
            "group_expiry": DAPHNE_WEBSOCKET_TIMEOUT_S,
        },
    }


CHANNEL_LAYERS_URL: str = env_text("CHANNEL_LAYERS_URL", "inmemory://")
try:
    CHANNEL_LAYERS = {"default": env.channels_url_config(CHANNEL_LAYERS_URL)}
except ImproperlyConfigured:
    raise bad_setting(
        "CHANNEL_LAYERS_URL", CHANNEL_LAYERS_URL, "a Redis URL such as redis://host:6379/0"
    ) from None
# Read by redis-py only at the first message (a staff page, a call moving): said now.
_layer_url_error = (
    bad_redis_url("CHANNEL_LAYERS_URL", CHANNEL_LAYERS_URL, "redis://host:6379/0",
                  tuple(env.CHANNELS_SCHEMES.keys() - {"inmemory"}))
    if CHANNEL_LAYERS["default"]["BACKEND"] != "channels.layers.InMemoryChannelLayer"
    else None
)  # fmt: skip
if _layer_url_error is not None:
    raise _layer_url_error
if CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer":
    CHANNEL_LAYERS["default"] = redis_channel_layer(CHANNEL_LAYERS["default"]["CONFIG"]["hosts"])

# Django's cache: login throttling and rate limits count in it, so several processes must
# share it. REDIS_URL (e.g. redis://host:6379/1) selects Django's own Redis backend. Use a
# different database number from the channel layer's: cache.clear() empties its whole database.
REDIS_URL: str = env_redis_url("REDIS_URL")
REDIS_CACHE_BACKEND = "django.core.cache.backends.redis.RedisCache"
if REDIS_URL:
    _redis_cache = env.cache_url_config(REDIS_URL, backend=REDIS_CACHE_BACKEND)
    # A login must fail within seconds, not hang, when Redis is unreachable (redis-py's own
    # defaults changed between versions). Options in the URL's query string win.
    _redis_cache["OPTIONS"] = {
        "socket_connect_timeout": 2,
        "socket_timeout": 2,
        **_redis_cache.get("OPTIONS", {}),
    }
    CACHES = {"default": _redis_cache}
else:
    # Room for what one process keeps: Django's default of 300 entries, once full, drops the
    # least recently used third, and a year's dashboard alone caches 366 days: the days of a
    # long range and the counters of the throttles (voiceproject/rate_limits.py) would push
    # each other out, and a counter dropped forgets its failed sign-ins. Tens of MB at worst.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                          "OPTIONS": {"MAX_ENTRIES": 100_000}}}  # fmt: skip

# Sessions live in the database (collection django_session, expired ones removed by a TTL
# index), so logging out ends a session for good: a copy of the cookie opens nothing. With
# Redis they are also cached there; never in a per-process cache, where another process
# would go on trusting a session it still held after the logout.
# voiceproject/sessions.py: Django's cached_db, with Redis away answered from the database.
CACHED_SESSION_ENGINE = "voiceproject.sessions"
SESSION_ENGINE = CACHED_SESSION_ENGINE if REDIS_URL else "django.contrib.sessions.backends.db"

# Draining (voiceproject/draining.py): on SIGTERM a process answers /healthz with 503, tells
# its calls to move, and stops when it carries none or after VOICE_DRAIN_S. It first waits
# VOICE_DRAIN_NOTICE_S for the load balancer's health checks to stop sending it new
# connections, so that the calls it moves do not land on it again (0 on Cloud Run, which
# stops routing to an instance as soon as it is told to stop it).
VOICE_DRAIN_S: float = env_float("VOICE_DRAIN_S", 25.0)
# A page whose socket dropped without hanging up has this long to come back (contract 7).
VOICE_RESUME_GRACE_S: float = env_float("VOICE_RESUME_GRACE_S", 30.0)
VOICE_DRAIN_NOTICE_S: float = env_float("VOICE_DRAIN_NOTICE_S", 2.0)

# --- The voice agent ---------------------------------------------------------------------------

GEMINI_API_KEY: str = env_text("GEMINI_API_KEY", "")
DEFAULT_GEMINI_LIVE_URL = (
    "wss://generativelanguage.googleapis.com/ws/"
    "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
)
# Set but empty (a blank line in .env, a template's empty default) counts as unset.
GEMINI_LIVE_URL: str = env_text("GEMINI_LIVE_URL", DEFAULT_GEMINI_LIVE_URL)
GEMINI_LIVE_MODEL: str = env_text("GEMINI_LIVE_MODEL", "gemini-3.8-live")
GEMINI_VOICE: str = env_text("GEMINI_VOICE", "Kore")

VOICE_DEMO_MODE: bool = env_bool("VOICE_DEMO_MODE", DEBUG)
VOICE_API_KEY: str = env_text("VOICE_API_KEY", "")
VOICE_SESSION_TOKEN_TTL: int = env_int("VOICE_SESSION_TOKEN_TTL", 300)
# Call controls (contract section 3 and the hardening issue): a silent caller is checked on
# after VOICE_IDLE_PROMPT_S (twice, then the call ends), a call lasts at most VOICE_MAX_CALL_S,
# a model silent VOICE_STALL_S after the caller spoke is nudged, then resumed.
VOICE_IDLE_PROMPT_S: float = env_float("VOICE_IDLE_PROMPT_S", 10.0)
VOICE_MAX_CALL_S: float = env_float("VOICE_MAX_CALL_S", 1800.0)
VOICE_STALL_S: float = env_float("VOICE_STALL_S", 8.0)
VOICE_MAX_CALLS_PER_CUSTOMER: int = env_int("VOICE_MAX_CALLS_PER_CUSTOMER", 2)
# A warm escalation (contract section 8): after this long with nobody joining the call, the
# agent offers the customer a callback.
ESCALATION_WAIT_S: float = env_float("ESCALATION_WAIT_S", 90.0)
# A call a staff member holds whose page is gone (closed, reconnecting, or not back after the
# call moved to another process) goes back to the agent after this long with no page of theirs.
STAFF_HOLD_GRACE_S: float = env_float("STAFF_HOLD_GRACE_S", 10.0)
# A page holding a call tells it this often that it is still there; a call that hears nothing
# for three times this takes the page for gone (its server died, or its close was lost).
STAFF_HOLDING_EVERY_S: float = env_float("STAFF_HOLDING_EVERY_S", 5.0)
# The agent's first words (EU AI Act art. 50: people must be told they talk to an AI).
VOICE_AI_DISCLOSURE: str = env_text(
    "VOICE_AI_DISCLOSURE", "Hi, I'm Priya, an AI assistant for the support team."
)
VOICE_RECORDING_NOTICE: str = env_text(
    "VOICE_RECORDING_NOTICE", "This call may be recorded."
)
# Callbacks (contract section 9): how many may be booked in one 30-minute slot.
CALLBACK_SLOT_CAPACITY: int = env_int("CALLBACK_SLOT_CAPACITY", 2)

# --- After the call (issue 14; postcall/) -----------------------------------------------------
# Live API prices, USD per million tokens, paid tier, from Google's pricing page as of
# 2026-11 (the LiteLLM cost map agrees). Override with LIVE_PRICES as JSON in the same shape.
DEFAULT_LIVE_PRICES = {
    model: {
        "input": {"TEXT": 0.75, "AUDIO": 3.00, "IMAGE": 1.00, "VIDEO": 1.00},
        "output": {"TEXT": 4.50, "AUDIO": 12.00},
    }
    for model in ("gemini-3.8-live", "gemini-3.8-live-extended-thinking",
                  "gemini-3.1-flash-live-preview")
} | {
    model: {
        "input": {"TEXT": 0.50, "AUDIO": 3.00, "IMAGE": 3.00, "VIDEO": 3.00},
        "output": {"TEXT": 2.00, "AUDIO": 12.00},
    }
    for model in ("gemini-2.5-flash-native-audio-preview-12-2025",
                  "gemini-2.5-flash-native-audio-preview-09-2025",
                  "gemini-2.5-flash-native-audio-latest")
}  # fmt: skip
LIVE_PRICES: dict[str, dict[str, dict[str, float]]] = env_json("LIVE_PRICES", DEFAULT_LIVE_PRICES)
# Call costs are shown in this currency, converted from USD at COST_PER_USD (units of the
# currency per US dollar; set it to today's rate: the default is the rate of 2026-11).
COST_CURRENCY: str = env_text("COST_CURRENCY", "INR")
RUPEES_PER_USD = 88.5  # COST_PER_USD's default: for INR only (voiceproject.W015)
COST_PER_USD: float = env_float("COST_PER_USD", RUPEES_PER_USD)

# A summary of each ended call by this model (google-genai), with GEMINI_API_KEY; empty turns
# it off (a one-line account from the tool results stands in), as only spaces do (read without
# the spaces or newline around it, as every value is). gemini-3.5-flash-lite: GA
# since 2026-07-21, Google's low-latency, low-cost model for high-volume automation.
CALL_SUMMARY_MODEL: str = env.str("CALL_SUMMARY_MODEL", default="gemini-3.5-flash-lite").strip()
CALL_SUMMARY_TIMEOUT_S: float = env_float("CALL_SUMMARY_TIMEOUT_S", 20.0)
# Another endpoint for the summary's REST calls (a proxy, a regional endpoint, a local fake).
CALL_SUMMARY_BASE_URL: str = env_text("CALL_SUMMARY_BASE_URL", "")
# Recordings: off unless RECORD_CALLS is on; kept RECORDING_RETENTION_DAYS, then deleted by
# `manage.py delete_old_recordings` (run it daily from cron).
RECORD_CALLS: bool = env_bool("RECORD_CALLS", False)
RECORDING_RETENTION_DAYS: int = env_int("RECORDING_RETENTION_DAYS", 30)
# /metrics answers a request bearing METRICS_TOKEN, or coming from METRICS_ALLOWED_NETWORKS
# (CIDRs, e.g. 10.0.0.0/8); with neither set it answers 404.
METRICS_TOKEN: str = env_text("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS: list[str] = env_list("METRICS_ALLOWED_NETWORKS", [])

# --- Twilio ------------------------------------------------------------------------------------

PUBLIC_BASE_URL: str = env_origin("PUBLIC_BASE_URL")
TWILIO_AUTH_TOKEN: str = env_text("TWILIO_AUTH_TOKEN", "")
TWILIO_ACCOUNT_SID: str = env_text("TWILIO_ACCOUNT_SID", "")
TWILIO_ESCALATION_NUMBER: str = env_text("TWILIO_ESCALATION_NUMBER", "")
# The caller id of calls we place ("Call now" on a callback): a number of the Twilio account.
TWILIO_FROM_NUMBER: str = env_text("TWILIO_FROM_NUMBER", "")
# Where Twilio's REST API is reached: a regional or proxy endpoint, or a local fake in tests.
TWILIO_API_BASE_URL: str = env_text("TWILIO_API_BASE_URL", "https://api.twilio.com")

# --- The client's address (voiceproject/proxies.py) ------------------------------------------
# How many proxies in front of daphne append to X-Forwarded-For: the client is that many
# entries from the right. 0: no proxy, the socket's peer is the client and the header is
# ignored. Cloud Run's front end: 1; see README, "Security settings".
TRUSTED_PROXY_COUNT: int = env_int("TRUSTED_PROXY_COUNT", 0)

# --- Slow clients (voiceproject/lifecycle.py: bound_slow_requests) ----------------------------
# A request's line and headers must arrive within this many seconds of its first byte, and its
# body within HTTP_BODY_TIMEOUT_S of its headers, or daphne answers 408 and closes the socket.
HTTP_HEADER_TIMEOUT_S: float = env_float("HTTP_HEADER_TIMEOUT_S", 10.0)
HTTP_BODY_TIMEOUT_S: float = env_float("HTTP_BODY_TIMEOUT_S", 30.0)

# --- Pages' database time (voiceproject/page_timeout.py) --------------------------------------
# A page's database operations must all end within this many seconds of its request, or it
# answers 503: under daphne one page stuck on a frozen database holds every other page of its
# process. The heaviest page (the dashboard over a year of calls) takes 2-3 s. Management
# commands are not bounded; a streamed export or recording is, per read.
PAGE_DB_TIMEOUT_S: float = env_float("PAGE_DB_TIMEOUT_S", 10.0)

# --- Production hardening (only with DEBUG off; `check --deploy` is clean then) --------------

if not DEBUG:
    # X-Forwarded-Proto is believed only from a proxy in front (TRUSTED_PROXY_COUNT): with none,
    # it is whatever the client wrote, and "https" from a client over plain http is a lie.
    if TRUSTED_PROXY_COUNT > 0:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Asked for over plain http from inside the deployment, where nothing speaks TLS: the
    # balancer's health checks, and a scraper reaching each worker itself (README, "Metrics").
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # A year, as browsers' preload lists expect; lower it while first trying https out.
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    # Subdomains of this server's own host (e.g. *.voice.example.com), not of its parent.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    # Django's deploy check security.W021 asks for preload; it is off unless asked for (a
    # domain on the browsers' preload list is hard to take off), so it is no warning then.
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# LOG_FORMAT=json: one JSON object per line (for a log collector); every line of a call
# carries its call id either way (postcall/logs.py). daphne's access log goes through the
# logger "daphne.access" (voiceproject/lifecycle.py: log_access_through_logging).
LOG_FORMAT: str = env_text("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in ("plain", "json"):
    raise bad_setting("LOG_FORMAT", LOG_FORMAT, "plain or json")
LOG_LEVEL: str = env_text("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise bad_setting("LOG_LEVEL", LOG_LEVEL, "DEBUG, INFO, WARNING, ERROR or CRITICAL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "call_id": {"()": "postcall.logs.CallIdFilter"},
        "client_faults": {"()": "postcall.logs.ClientFaultsAsWarnings", "level": LOG_LEVEL},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(call_id)s]: %(message)s"},
        "json": {"()": "postcall.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            # LOG_LEVEL is the lowest level logged, whatever a logger's own level below lets
            # through (django's INFO, pymongo's WARNING: floors for DEBUG, not for ERROR).
            "level": LOG_LEVEL,
            "filters": ["call_id", "client_faults"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default configuration gives these their own console handlers (django's
        # for DEBUG on): without them here, each line would also be printed that way.
        "django": {"handlers": [], "level": "INFO"},
        "django.server": {"handlers": [], "propagate": True},
        "pymongo": {"level": "WARNING"},
        "websockets": {"level": "WARNING"},
        # Its client logs each REST request and response, headers and all, at INFO (some eight
        # lines a dial); a request that fails is logged where it is handled.
        "twilio.http_client": {"level": "WARNING"},
    },
}

# prometheus_client reads it (postcall/metrics.py), from the environment as it is: set at all,
# even empty, it is the client's multiprocess mode; a missing directory would fail at the
# first metric with a FileNotFoundError.
PROMETHEUS_MULTIPROC_DIR: str = env_raw_directory("PROMETHEUS_MULTIPROC_DIR")

# --- Staff back office (issue 5; support/staff/) ----------------------------------------------
# ModelBackend, except that permission names are read without projecting a joined field,
# which the embedded SecantusDB answers wrongly (see support/staff/auth.py).
AUTHENTICATION_BACKENDS = ["support.staff.auth.PermissionNamesBackend"]

# Open tickets waiting longer than this are flagged on the queue and counted on the dashboard.
QUEUE_OVERDUE_MINUTES: int = env_int("QUEUE_OVERDUE_MINUTES", 15)
