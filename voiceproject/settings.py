"""Settings for the voice support server, read from the environment (and `.env`).

Every variable of the public contract (section 1) is read here and nowhere else. Missing or
contradictory configuration is reported by the system checks in `voiceproject/checks.py`,
which run before the server starts serving.
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

# --- Core Django -----------------------------------------------------------------------------

DEBUG: bool = env.bool("DEBUG", default=False)

# In development a fixed, obviously insecure key is fine; with DEBUG off the system check
# voiceproject.E001 refuses to start without a real one.
DEV_SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"
SECRET_KEY: str = env.str("SECRET_KEY", default=DEV_SECRET_KEY if DEBUG else "")

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from collectstatic output, before sessions or auth run.
    "servestatic.middleware.ServeStaticMiddleware",
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
    uri = env.str("MONGODB_URI", default="")
    if uri:
        return uri
    if EMBEDDED_URI_FILE.exists():
        return EMBEDDED_URI_FILE.read_text().strip() or None
    return None


MONGODB_URI = _mongodb_uri()
MONGODB_DB: str = env.str("MONGODB_DB", default="voice_support")

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
}

# Sessions are signed cookies: no session collection to sweep, nothing per request.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-in"
TIME_ZONE = "Asia/Kolkata"
USE_I18N = True
USE_TZ = True  # stored in UTC, shown in India time

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
            else "servestatic.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Channels ----------------------------------------------------------------------------------

CHANNEL_LAYERS = {
    "default": env.channels("CHANNEL_LAYERS_URL", default="inmemory://")
}

# --- The voice agent ---------------------------------------------------------------------------

GEMINI_API_KEY: str = env.str("GEMINI_API_KEY", default="")
GEMINI_LIVE_URL: str = env.str(
    "GEMINI_LIVE_URL",
    default=(
        "wss://generativelanguage.googleapis.com/ws/"
        "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    ),
)
GEMINI_LIVE_MODEL: str = env.str("GEMINI_LIVE_MODEL", default="gemini-3.8-live")
GEMINI_VOICE: str = env.str("GEMINI_VOICE", default="Kore")

VOICE_DEMO_MODE: bool = env.bool("VOICE_DEMO_MODE", default=DEBUG)
VOICE_API_KEY: str = env.str("VOICE_API_KEY", default="")
VOICE_SESSION_TOKEN_TTL: int = env.int("VOICE_SESSION_TOKEN_TTL", default=300)

# --- Twilio ------------------------------------------------------------------------------------

PUBLIC_BASE_URL: str = env.str("PUBLIC_BASE_URL", default="")
TWILIO_AUTH_TOKEN: str = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_ACCOUNT_SID: str = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_ESCALATION_NUMBER: str = env.str("TWILIO_ESCALATION_NUMBER", default="")

# --- Production hardening (only with DEBUG off; `check --deploy` is clean then) --------------

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=3600)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"pymongo": {"level": "WARNING"}, "websockets": {"level": "WARNING"}},
}

# --- Staff back office (issue 5; support/staff/) ----------------------------------------------
# ModelBackend, except that permission names are read without projecting a joined field,
# which the embedded SecantusDB answers wrongly (see support/staff/auth.py).
AUTHENTICATION_BACKENDS = ["support.staff.auth.PermissionNamesBackend"]

# Open tickets waiting longer than this are flagged on the queue and counted on the dashboard.
QUEUE_OVERDUE_MINUTES: int = env.int("QUEUE_OVERDUE_MINUTES", default=15)
