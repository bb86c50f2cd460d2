from __future__ import annotations

import ast
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management.utils import get_random_secret_key
from django.test import override_settings

from postcall import opus
from voiceproject.bearer import bearer_matches
from voiceproject.checks import check_configuration
from voiceproject.settings import DEV_SECRET_KEY
from voiceproject.tests.live_server import BASE_DIR, server_environment


def ids(**overrides: object) -> set[str]:
    with override_settings(**overrides):
        return {message.id for message in check_configuration() if message.id}


def test_the_test_configuration_has_no_errors() -> None:
    assert not {i for i in ids() if ".E" in i}


def test_debug_off_without_a_secret_key_is_an_error() -> None:
    assert "voiceproject.E001" in ids(DEBUG=False, SECRET_KEY="")


def test_debug_off_with_the_development_key_is_an_error() -> None:
    assert "voiceproject.E001" in ids(DEBUG=False, SECRET_KEY=DEV_SECRET_KEY)


@pytest.mark.parametrize(
    "key",
    [
        "django-insecure-" + "k3y" * 20,  # what startproject writes
        "change-me-to-a-long-random-string",  # .env.example's
        "s3cr3t-passw0rd",  # short
        "ab" * 40,  # long, but two characters
        "0123456789" * 4,  # 40 characters
    ],
)
def test_debug_off_with_a_weak_key_is_an_error(key: str) -> None:
    assert "voiceproject.E001" in ids(DEBUG=False, SECRET_KEY=key)


@pytest.mark.parametrize(
    "key",
    [
        "test-only-secret-key-not-for-production-use-0123456789",  # pytest.ini's, once
        server_environment()["SECRET_KEY"],  # the test servers'
        "bench-secret-key-" + "x" * 40,  # bench/bench_twilio.py's, with DEBUG off
    ],
)
def test_debug_off_with_a_key_published_in_this_repository_is_an_error(key: str) -> None:
    """Long and varied enough to pass for random, but anyone can read them here."""
    with override_settings(DEBUG=False, SECRET_KEY=key):
        (error,) = [m for m in check_configuration() if m.id == "voiceproject.E001"]

    assert "SECRET_KEY is a published example key" in error.msg


@pytest.mark.parametrize(
    "key",
    [
        secrets.token_urlsafe(50),
        secrets.token_hex(32),  # `openssl rand -hex 32`: 16 distinct characters
        get_random_secret_key(),
    ],
    # Named, not shown: each test process draws its own keys (pytest-xdist checks that all
    # collected the same tests).
    ids=["token_urlsafe", "openssl_hex", "django"],
)
def test_debug_off_with_a_random_key_is_fine(key: str) -> None:
    assert "voiceproject.E001" not in ids(DEBUG=False, SECRET_KEY=key)


@pytest.mark.parametrize("name", ["VOICE_API_KEY", "METRICS_TOKEN"])
@pytest.mark.parametrize("key", ["changeme", "host-app-key-2024", "ab" * 20])
def test_debug_off_with_a_guessable_bearer_key_is_a_warning(name: str, key: str) -> None:
    assert "voiceproject.W002" in ids(DEBUG=False, **{name: key})


@pytest.mark.parametrize("name", ["VOICE_API_KEY", "METRICS_TOKEN"])
def test_debug_off_with_the_example_bearer_key_uncommented_from_env_example_is_a_warning(
    name: str,
) -> None:
    example = next(
        line.split("=", 1)[1]
        for line in (BASE_DIR / ".env.example").read_text().splitlines()
        if line.startswith("# VOICE_API_KEY=")
    )

    with override_settings(DEBUG=False, **{name: example}):
        (warning,) = [m for m in check_configuration() if m.id == "voiceproject.W002"]

    assert f"{name} is a published example key" in warning.msg


@pytest.mark.parametrize("name", ["VOICE_API_KEY", "METRICS_TOKEN"])
@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("key", ["café-" + "k" * 40, "two words " + "k" * 40, "tab\t" + "k" * 40])
def test_a_bearer_key_no_header_can_carry_is_an_error(name: str, debug: bool, key: str) -> None:
    assert "voiceproject.E021" in ids(DEBUG=debug, **{name: key})


@pytest.mark.parametrize(
    "key",
    ["", secrets.token_urlsafe(32), secrets.token_hex(16)],
    ids=["none", "token_urlsafe", "token_hex"],
)
def test_debug_off_with_a_random_bearer_key_or_none_is_fine(key: str) -> None:
    assert "voiceproject.W002" not in ids(DEBUG=False, VOICE_API_KEY=key, METRICS_TOKEN=key)


def test_the_weakness_is_named_in_the_error() -> None:
    with override_settings(DEBUG=False, SECRET_KEY="s3cr3t-passw0rd"):
        (error,) = [m for m in check_configuration() if m.id == "voiceproject.E001"]

    assert "15 characters long (at least 50 are needed)" in error.msg


def test_debug_on_tolerates_the_development_key() -> None:
    assert "voiceproject.E001" not in ids(DEBUG=True, SECRET_KEY=DEV_SECRET_KEY)


def test_debug_off_without_allowed_hosts_is_an_error() -> None:
    assert "voiceproject.E002" in ids(DEBUG=False, ALLOWED_HOSTS=[])


def test_demo_mode_in_production_is_warned_about() -> None:
    assert "voiceproject.W001" in ids(DEBUG=False, VOICE_DEMO_MODE=True)


def test_no_database_configured_is_an_error() -> None:
    assert "voiceproject.E003" in ids(MONGODB_URI=None)


def test_escalation_number_without_twilio_credentials_is_an_error() -> None:
    assert "voiceproject.E004" in ids(
        TWILIO_ESCALATION_NUMBER="+911234567890", TWILIO_AUTH_TOKEN=""
    )


def test_public_base_url_must_be_https_in_production() -> None:
    assert "voiceproject.E005" in ids(DEBUG=False, PUBLIC_BASE_URL="http://example.com")


@pytest.mark.parametrize(
    "name, url, problem",
    [
        # DEBUG on (an ngrok tunnel) took any text: Twilio's stream went to wss:///ws/twilio.
        ("PUBLIC_BASE_URL", "voice.example.com", "starts with no scheme, not https://"),
        ("PUBLIC_BASE_URL", "https://", "names no host"),
        ("TWILIO_API_BASE_URL", "api.twilio.com", "starts with no scheme"),
        ("CALL_SUMMARY_BASE_URL", "summaries.example.com:8443", "starts with summaries.example.com://"),
        ("CALL_SUMMARY_BASE_URL", "https://summaries.example.com:port", "cannot be parsed"),
    ],
)
@pytest.mark.parametrize("debug", [True, False])
def test_an_address_that_is_no_url_is_an_error_that_names_it(
    name: str, url: str, problem: str, debug: bool
) -> None:
    with override_settings(DEBUG=debug, **{name: url}):
        errors = [m for m in check_configuration()
                  if m.id in ("voiceproject.E019", "voiceproject.E005")]  # fmt: skip

    assert [error.id for error in errors] == ["voiceproject.E019"]
    assert errors[0].msg.startswith(f"{name} {url!r} is not a URL") and problem in errors[0].msg


@pytest.mark.parametrize(
    "name, url",
    [
        ("PUBLIC_BASE_URL", "https://voice.example.com"),
        ("PUBLIC_BASE_URL", "https://voice.example.com/"),
        ("TWILIO_API_BASE_URL", "https://api.twilio.com"),
        ("TWILIO_API_BASE_URL", "http://127.0.0.1:8766"),
        ("CALL_SUMMARY_BASE_URL", "https://eu-summaries.example.com:8443/v1"),
    ],
)
def test_an_address_that_is_a_url_is_fine(name: str, url: str) -> None:
    assert "voiceproject.E019" not in ids(**{name: url})


def test_a_negative_trusted_proxy_count_is_an_error() -> None:
    assert "voiceproject.E006" in ids(TRUSTED_PROXY_COUNT=-1)


@pytest.mark.parametrize("name", ["HTTP_HEADER_TIMEOUT_S", "HTTP_BODY_TIMEOUT_S"])
def test_a_request_timeout_that_is_not_positive_is_an_error(name: str) -> None:
    assert "voiceproject.E007" in ids(**{name: 0})


@pytest.mark.parametrize("name, value, consequence", [
    ("VOICE_MAX_CALL_S", 0, "every call would end as it starts"),
    ("VOICE_IDLE_PROMPT_S", 0, "every caller would be asked at once"),
    ("VOICE_STALL_S", -1, "the model would be nudged"),
    ("VOICE_SESSION_TOKEN_TTL", 0, "every session token would be expired"),
    ("VOICE_MAX_CALLS_PER_CUSTOMER", 0, "every call would be refused"),
    ("CALL_SUMMARY_TIMEOUT_S", 0, "every summary would time out"),
    ("COST_PER_USD", 0, "every call would cost nothing"),
    ("RECORDING_RETENTION_DAYS", -1, "delete_old_recordings would fail"),
    ("VOICE_DRAIN_S", 0, "on SIGTERM every call would be cut at once"),
    ("VOICE_DRAIN_S", -5, "on SIGTERM every call would be cut at once"),
    ("VOICE_RESUME_GRACE_S", 0, "a call whose page dropped, or that is moving"),
    ("ESCALATION_WAIT_S", -90, "the agent would offer a callback as it says a colleague"),
    ("STAFF_HOLD_GRACE_S", 0, "a call a colleague holds would go back to the agent at once"),
    ("QUEUE_OVERDUE_MINUTES", 0, "the dashboard would count every open ticket as overdue"),
    ("VOICE_DRAIN_NOTICE_S", -2, "on SIGTERM a process would not wait for the balancer"),
    ("SECURE_HSTS_SECONDS", -31536000, "browsers would ignore the Strict-Transport-Security"),
])  # fmt: skip
def test_a_limit_that_would_stop_the_service_working_is_an_error(
    name: str, value: int, consequence: str
) -> None:
    with override_settings(**{name: value}):
        (error,) = [m for m in check_configuration() if m.id == "voiceproject.E016"]

    assert error.msg.startswith(f"{name} is {value}: {consequence}")


@pytest.mark.parametrize("name, value, highest", [
    # "Keep them for ever": delete_old_recordings refused it at every daily run.
    ("RECORDING_RETENTION_DAYS", 99_999, "36500"),
    # Further back than the first date: every sweep of the calls, every dashboard, failed.
    ("VOICE_RESUME_GRACE_S", 1e11, "3153600000"),
    ("QUEUE_OVERDUE_MINUTES", 99_999_999_999, "52560000"),
    ("VOICE_SESSION_TOKEN_TTL", 10**12, "3153600000"),
])  # fmt: skip
def test_a_duration_of_more_than_a_hundred_years_is_an_error(
    name: str, value: float, highest: str
) -> None:
    with override_settings(**{name: value}):
        (error,) = [m for m in check_configuration() if m.id == "voiceproject.E016"]

    assert error.msg.startswith(f"{name} is {value}: more than a hundred years")
    assert f"at most {highest}," in str(error.hint)


@pytest.mark.parametrize("name, value", [
    ("RECORDING_RETENTION_DAYS", 36_500),
    ("VOICE_RESUME_GRACE_S", 86_400 * 365),
    ("QUEUE_OVERDUE_MINUTES", 60 * 24 * 7),
    ("SECURE_HSTS_SECONDS", 63_072_000),  # two years, as hstspreload.org suggests
])  # fmt: skip
def test_a_long_duration_within_a_hundred_years_is_fine(name: str, value: int) -> None:
    assert "voiceproject.E016" not in ids(**{name: value})


@pytest.mark.parametrize("drain_s, notice_s", [(2, 2), (5, 8)])
def test_a_drain_notice_as_long_as_the_drain_is_warned_about(
    drain_s: float, notice_s: float
) -> None:
    with override_settings(VOICE_DRAIN_S=drain_s, VOICE_DRAIN_NOTICE_S=notice_s):
        (warning,) = [m for m in check_configuration() if m.id == "voiceproject.W012"]

    assert "no call would be moved" in warning.msg


@pytest.mark.parametrize("drain_s, notice_s", [(25, 2), (8, 0), (0, 2)])
def test_a_drain_that_leaves_the_calls_time_to_move_is_fine(
    drain_s: float, notice_s: float
) -> None:
    assert "voiceproject.W012" not in ids(VOICE_DRAIN_S=drain_s, VOICE_DRAIN_NOTICE_S=notice_s)


def test_recordings_may_be_kept_for_no_days() -> None:
    assert "voiceproject.E016" not in ids(RECORDING_RETENTION_DAYS=0)


@pytest.mark.parametrize("name", ["VOICE_DRAIN_NOTICE_S", "SECURE_HSTS_SECONDS"])
def test_no_drain_notice_and_no_hsts_are_choices_not_mistakes(name: str) -> None:
    """0: Cloud Run's notice (README: Production); HSTS off (Django's own deploy check warns)."""
    assert "voiceproject.E016" not in ids(**{name: 0})


def test_a_negative_limit_from_the_environment_stops_the_start_up_check() -> None:
    checked = manage_check(ESCALATION_WAIT_S="-90", DEBUG="False")

    assert checked.returncode == 1
    assert ("voiceproject.E016) ESCALATION_WAIT_S is -90.0: the agent would offer a callback"
            in checked.stderr)  # fmt: skip


@pytest.mark.parametrize(
    "uri",
    [
        "localhost:27017",  # no scheme
        "mongodb://us@er:pass@db.example.com/",  # an unescaped @ in the user name
        "mongodb://db.example.com/?replicaSet=rs0&retryWrite=true",  # a misspelt option
    ],
)
def test_a_mongodb_uri_pymongo_cannot_parse_is_an_error(uri: str) -> None:
    with override_settings(MONGODB_URI=uri):
        (error,) = [m for m in check_configuration() if m.id == "voiceproject.E013"]

    assert error.msg.startswith("MONGODB_URI cannot be parsed: ")
    assert "pass@" not in error.msg  # never the password


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://mongodb:27017/?replicaSet=rs0",
        "mongodb+srv://user:p%40ss@cluster0.example.mongodb.net/",  # not resolved here
        "mongodb://127.0.0.1:27017/?directConnection=true",
    ],
)
def test_a_mongodb_uri_pymongo_parses_is_fine(uri: str) -> None:
    assert "voiceproject.E013" not in ids(MONGODB_URI=uri)


@pytest.mark.parametrize("name", ["voice.support", "voice support", "voice/support"])
def test_a_database_name_pymongo_refuses_is_an_error(name: str) -> None:
    # pymongo says so only at the first query: `migrate` fails with a traceback, /healthz 503.
    with override_settings(MONGODB_DB=name):
        (error,) = [m for m in check_configuration() if m.id == "voiceproject.E018"]

    assert error.msg.startswith(f"MONGODB_DB {name!r} is not a database name: database names "
                                "cannot contain the character")  # fmt: skip


def test_a_database_name_of_letters_digits_and_dashes_is_fine() -> None:
    assert "voiceproject.E018" not in ids(MONGODB_DB="voice_support-staging2")


def test_a_metrics_network_that_is_not_one_is_an_error() -> None:
    with override_settings(METRICS_ALLOWED_NETWORKS=["10.0.0.0/8", "10.0.0.0/33"]):
        (error,) = [m for m in check_configuration() if m.id == "voiceproject.E014"]

    assert "'10.0.0.0/33'" in error.msg and "'10.0.0.0/8'" not in error.msg
    assert "voiceproject.E014" not in ids(METRICS_ALLOWED_NETWORKS=["10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    "prices",
    [
        ["gemini-3.8-live"],
        {"gemini-3.8-live": {"input": 3.0, "output": 12.0}},
        {"gemini-3.8-live": {"input": {"AUDIO": 3.0}}},
        {"gemini-3.8-live": {"input": {"AUDIO": "3"}, "output": {"TEXT": 4.5}}},
        {"gemini-3.8-live": {"input": {"AUDIO": 3.0}, "output": {"AUDIO": 12.0}}},
    ],
)
def test_live_prices_of_another_shape_are_an_error(prices: object) -> None:
    assert "voiceproject.E015" in ids(LIVE_PRICES=prices)


def test_the_default_live_prices_are_fine() -> None:
    assert "voiceproject.E015" not in ids()


def test_a_live_model_without_a_price_is_warned_about() -> None:
    # postcall/finish.py would leave every call's cost out, and the dashboard's costs stop.
    with override_settings(GEMINI_LIVE_MODEL="gemini-4.0-live"):
        (warning,) = [m for m in check_configuration() if m.id == "voiceproject.W013"]

    assert warning.msg.startswith("GEMINI_LIVE_MODEL 'gemini-4.0-live' has no price")
    assert "calls will show no cost" in warning.msg
    assert "LIVE_PRICES" in str(warning.hint)


@pytest.mark.parametrize("model", [None, "models/gemini-3.8-live"])
def test_the_default_live_model_has_a_price(model: str | None) -> None:
    """The default model (pytest.ini leaves it, and LIVE_PRICES, unset), also as the Live
    API names it."""
    overrides = {"GEMINI_LIVE_MODEL": model} if model else {}

    assert "voiceproject.W013" not in ids(**overrides)


def test_another_currency_at_the_rupees_rate_is_warned_about() -> None:
    """COST_CURRENCY=USD alone would price every call 88.5 times over."""
    with override_settings(COST_CURRENCY="USD"):
        (warning,) = [m for m in check_configuration() if m.id == "voiceproject.W015"]

    assert warning.msg.startswith("COST_CURRENCY is USD but COST_PER_USD is still the rupee's")
    assert "1 for USD" in str(warning.hint)


@pytest.mark.parametrize(("currency", "per_usd"), [("INR", 88.5), ("INR", 90.1), ("USD", 1.0),
                                                   ("EUR", 0.86)])  # fmt: skip
def test_a_currency_with_its_own_rate_is_fine(currency: str, per_usd: float) -> None:
    assert "voiceproject.W015" not in ids(COST_CURRENCY=currency, COST_PER_USD=per_usd)


def manage_check(**environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR, env={**os.environ, **environment}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


BARE_DIRECTORY = ("a directory that exists and this process can write to, with no spaces or "
                  "line break around it")  # fmt: skip


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("TRUSTED_PROXY_COUNT", "abc", "a whole number"),
        ("SECURE_HSTS_SECONDS", "a year", "a whole number"),
        ("VOICE_DRAIN_S", "25s", "a number"),
        # float() reads these, but no limit or rate is infinite (int(inf) fails mid-call).
        ("VOICE_MAX_CALL_S", "inf", "a number"),
        ("COST_PER_USD", "nan", "a number"),
        ("RECORD_CALLS", "sometimes", "True or False"),
        ("LIVE_PRICES", "{bad", "JSON"),
        ("SUPPORT_TIME_ZONE", "Mars/Olympus", "a time zone name such as Asia/Kolkata"),
        ("REDIS_URL", "localhost:6379", "a Redis URL such as redis://host:6379/1"),
        ("CHANNEL_LAYERS_URL", "localhost:6379", "a Redis URL such as redis://host:6379/0"),
        ("PROMETHEUS_MULTIPROC_DIR", "/nonexistent", "a directory that exists"),
        # A secret file's last newline: the Prometheus client would write its figures into
        # another directory than the one the settings checked (one that does not exist).
        ("PROMETHEUS_MULTIPROC_DIR", f"{tempfile.gettempdir()}\n", BARE_DIRECTORY),
        ("PROMETHEUS_MULTIPROC_DIR", f" {tempfile.gettempdir()}", BARE_DIRECTORY),
        ("PROMETHEUS_MULTIPROC_DIR", "  ", BARE_DIRECTORY),
        ("LOG_LEVEL", "loud", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ],
)
def test_a_value_that_cannot_be_read_stops_with_one_line_naming_the_variable(
    name: str, value: str, expected: str
) -> None:
    checked = manage_check(**{name: value, "DEBUG": "False"})

    assert checked.returncode == 1
    assert checked.stderr.startswith(f"error: {name}=")
    assert f"is not valid: expected {expected}" in checked.stderr
    assert "Traceback" not in checked.stderr and checked.stderr.count("\n") == 1


def test_an_empty_value_means_the_default() -> None:
    checked = manage_check(TRUSTED_PROXY_COUNT="", SECURE_HSTS_SECONDS="", DEBUG="",
                           SUPPORT_TIME_ZONE="", LIVE_PRICES="", REDIS_URL="")  # fmt: skip

    assert checked.returncode == 0, checked.stderr


def test_an_empty_metrics_directory_leaves_each_process_reporting_itself(tmp_path: Path) -> None:
    """Set but empty is unset (Compose's `${VAR:-}`, a blank line in .env), for the
    Prometheus client too, which would otherwise write its figures into the working
    directory, and serve those from no file anyone shares."""
    shown = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from postcall import metrics; "
         "from prometheus_client import values; "
         "print(metrics.MULTIPROCESS, values.ValueClass is values.MutexValue)"],
        # Elsewhere than the checkout, where the client's files would be left behind.
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "voiceproject.settings",
             "PYTHONPATH": str(BASE_DIR), "PROMETHEUS_MULTIPROC_DIR": ""},
    )  # fmt: skip

    assert shown.stdout.split() == ["False", "True"]


def settings_read(expression: str, **environment: str) -> Any:
    """`expression` on voiceproject.settings, as a process with `environment` added reads it."""
    shown = subprocess.run(
        [sys.executable, "-c", f"from voiceproject import settings; print(repr(({expression})))"],
        cwd=BASE_DIR, env={**os.environ, **environment}, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return ast.literal_eval(shown.stdout.strip())


def test_lists_written_with_spaces_after_the_commas_give_each_entry_as_meant() -> None:
    """" www.example.com" is a host nobody asks for: its every request would get 400."""
    read = settings_read(
        "settings.ALLOWED_HOSTS, settings.CSRF_TRUSTED_ORIGINS, settings.METRICS_ALLOWED_NETWORKS",
        ALLOWED_HOSTS="voice.example.com, www.example.com ,",
        CSRF_TRUSTED_ORIGINS="https://voice.example.com, https://www.example.com",
        METRICS_ALLOWED_NETWORKS=" 10.0.0.0/8 , 192.168.0.0/16",
    )

    assert read == (["voice.example.com", "www.example.com"],
                    ["https://voice.example.com", "https://www.example.com"],
                    ["10.0.0.0/8", "192.168.0.0/16"])  # fmt: skip


def test_keys_from_a_secret_file_are_read_without_its_last_newline() -> None:
    """`echo KEY | gcloud secrets create`, Compose and Kubernetes secret files: the key comes
    with a newline, and the key presented (stripped) would never match it."""
    names = ["VOICE_API_KEY", "METRICS_TOKEN", "GEMINI_API_KEY", "TWILIO_AUTH_TOKEN",
             "TWILIO_ACCOUNT_SID"]  # fmt: skip
    key = "host-application-key-0123456789-abcdefgh"

    read = settings_read(", ".join(f"settings.{name}" for name in names),
                         **{name: f"{key}\n" for name in names})  # fmt: skip

    assert read == (key,) * len(names)
    assert bearer_matches(f"Bearer {key}", read[0])


def test_addresses_and_numbers_from_secret_files_are_read_without_its_last_newline() -> None:
    values = {
        "MONGODB_URI": "mongodb://db.internal:27017/voice",
        "GEMINI_LIVE_URL": "wss://live.example.com/ws",
        "CALL_SUMMARY_BASE_URL": "https://summaries.example.com",
        "PUBLIC_BASE_URL": "https://voice.example.com",
        "TWILIO_ESCALATION_NUMBER": "+919800000999",
        "TWILIO_FROM_NUMBER": "+919800000100",
    }
    read = settings_read(
        "settings.MONGODB_URI, " + ", ".join(
            f"settings.{name}" for name in list(values)[1:]
        ),
        **{name: f"{value}\n" for name, value in values.items()},
    )

    assert read == tuple(values.values())


def test_one_process_without_redis_keeps_a_years_dashboard_days_and_its_throttles() -> None:
    """Django's in-memory cache keeps 300 entries by default: a year's dashboard (366 days)
    pushed out the throttles' counters of failed sign-ins, and its own first days."""
    kept = settings_read(
        "(lambda c: ([c.set(f'day-{n}', n) for n in range(5_000)], c.get('day-0'))[1])"
        "(__import__('django.core.cache', fromlist=['caches']).caches['default'])",
        REDIS_URL="", DJANGO_SETTINGS_MODULE="voiceproject.settings",
    )

    assert kept == 0


@pytest.mark.parametrize(("value", "model"), [("gemini-3.5-flash\n", "gemini-3.5-flash"),
                                              ("   ", ""), ("", "")])  # fmt: skip
def test_the_summary_model_is_read_without_spaces_around_it(value: str, model: str) -> None:
    """A model named " " (spaces kept) would fail every summary at the API; empty is off."""
    assert settings_read("settings.CALL_SUMMARY_MODEL", CALL_SUMMARY_MODEL=value) == model


@pytest.mark.parametrize(
    "url, problem",
    [
        ("https://generativelanguage.googleapis.com/ws/x", "starts with https://, not wss://"),
        ("generativelanguage.googleapis.com/ws/x", "starts with no scheme"),
        ("wss:///ws/x", "names no host"),
        ("wss://[::1/ws", "cannot be parsed"),
        ("wss://example.com:port/ws", "cannot be parsed"),
        ("", "starts with no scheme"),
    ],
)
def test_a_malformed_live_url_is_an_error_that_says_what_is_wrong(url: str, problem: str) -> None:
    with override_settings(GEMINI_API_KEY="key", GEMINI_LIVE_URL=url):
        errors = [m for m in check_configuration() if m.id == "voiceproject.E008"]

    assert len(errors) == 1 and problem in errors[0].msg
    assert "wss://" in str(errors[0].hint)


@pytest.mark.parametrize(
    "url",
    [
        "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta"
        ".GenerativeService.BidiGenerateContent",
        "ws://127.0.0.1:8765/live",
        "wss://europe-west4-live.example.com/ws",
    ],
)
def test_a_websocket_live_url_is_fine(url: str) -> None:
    assert "voiceproject.E008" not in ids(GEMINI_API_KEY="key", GEMINI_LIVE_URL=url)


def test_the_live_url_does_not_matter_without_an_api_key() -> None:
    assert "voiceproject.E008" not in ids(GEMINI_API_KEY="", GEMINI_LIVE_URL="nonsense")


def deploy_check(secret_key: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """The Dockerfile's start-up check, in a production environment with this key (and
    `environment` on top)."""
    env = {
        **os.environ,
        "SECURE_SSL_REDIRECT": "",  # pytest.ini turns it off for the tests; the default
        "DEBUG": "False",
        "TRUSTED_PROXY_COUNT": "1",  # the Dockerfile's
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "voice.example.com",
        "MONGODB_URI": "mongodb://db.invalid",
        "VOICE_DEMO_MODE": "False",
        **environment,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_back_office_shows_times_in_the_support_time_zone() -> None:
    """One zone for the operation: the callbacks board (SUPPORT_TIME_ZONE) and every other
    page (Django's TIME_ZONE) agree."""
    shown = subprocess.run(
        [sys.executable, "-c", "from voiceproject import settings; print(settings.TIME_ZONE)"],
        cwd=BASE_DIR, env={**os.environ, "SUPPORT_TIME_ZONE": "Asia/Dubai"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip

    assert shown.stdout.strip() == "Asia/Dubai"


def test_the_dockerfile_start_up_check_refuses_a_weak_key_and_passes_a_random_one() -> None:
    weak = deploy_check("s3cr3t-passw0rd")
    strong = deploy_check(secrets.token_urlsafe(50))

    assert weak.returncode != 0 and "voiceproject.E001" in weak.stderr
    assert strong.returncode == 0, strong.stderr


def test_the_start_up_check_warns_of_an_https_redirect_without_a_trusted_proxy() -> None:
    """Behind TLS, X-Forwarded-Proto: https is believed only from a trusted proxy: without
    one every page answered 301 to itself, while /healthz (exempt) kept the container up, and
    the start-up check said nothing."""
    checked = deploy_check(secrets.token_urlsafe(50), TRUSTED_PROXY_COUNT="0")

    assert ("voiceproject.W014) SECURE_SSL_REDIRECT is on but TRUSTED_PROXY_COUNT is 0: no "
            "request would count as https") in checked.stderr  # fmt: skip


def test_plain_http_on_purpose_needs_no_proxy() -> None:
    assert "voiceproject.W014" not in ids(SECURE_SSL_REDIRECT=False, SECURE_PROXY_SSL_HEADER=None)
    assert "voiceproject.W014" in ids(SECURE_SSL_REDIRECT=True, SECURE_PROXY_SSL_HEADER=None)


def test_a_production_configuration_passes_the_deploy_check_without_a_warning() -> None:
    """HSTS preload is off unless asked for (SECURE_HSTS_PRELOAD), so its warning is too."""
    checked = deploy_check(secrets.token_urlsafe(50))

    assert checked.stderr == ""
    assert checked.stdout.startswith("System check identified no issues")
# --- Several workers need Redis ---------------------------------------------------------------

IN_MEMORY_LAYER = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
REDIS_LAYER = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": ["redis://redis.internal:6379/0"]},
    }
}
LOCMEM_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REDIS_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://redis.internal:6379/1",
    }
}


def test_one_worker_needs_no_redis() -> None:
    found = ids(VOICE_WORKERS=1, CHANNEL_LAYERS=IN_MEMORY_LAYER, CACHES=LOCMEM_CACHE)

    assert not found & {"voiceproject.E010", "voiceproject.E011"}


def test_several_workers_with_an_in_memory_channel_layer_is_an_error() -> None:
    found = ids(VOICE_WORKERS=2, CHANNEL_LAYERS=IN_MEMORY_LAYER, CACHES=REDIS_CACHE)

    assert "voiceproject.E010" in found and "voiceproject.E011" not in found


def test_several_workers_with_a_per_process_cache_is_an_error() -> None:
    found = ids(VOICE_WORKERS=4, CHANNEL_LAYERS=REDIS_LAYER, CACHES=LOCMEM_CACHE)

    assert "voiceproject.E011" in found and "voiceproject.E010" not in found


def test_several_workers_sharing_redis_pass() -> None:
    found = ids(VOICE_WORKERS=4, CHANNEL_LAYERS=REDIS_LAYER, CACHES=REDIS_CACHE)

    assert not found & {"voiceproject.E010", "voiceproject.E011", "voiceproject.E012"}


def test_zero_workers_is_an_error() -> None:
    assert "voiceproject.E012" in ids(VOICE_WORKERS=0)


def test_the_beta_pubsub_layer_is_warned_about() -> None:
    pubsub = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}}

    assert "voiceproject.W010" in ids(CHANNEL_LAYERS=pubsub)


def layer_on(url: str) -> dict[str, object]:
    return {"default": {"BACKEND": "voiceproject.channel_layer.SteadyRedisChannelLayer",
                        "CONFIG": {"hosts": [{"address": url, "socket_timeout": 10}]}}}


def cache_on(url: str) -> dict[str, object]:
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                        "LOCATION": url}}


@pytest.mark.parametrize("layer, cache", [
    ("redis://redis.internal:6379", "redis://redis.internal:6379/0"),
    ("redis://redis.internal:6379/1", "redis://REDIS.internal/1"),
    ("redis://redis.internal:6379/0", "redis://redis.internal:6379?db=0"),
])  # fmt: skip
def test_the_cache_and_the_channel_layer_in_one_redis_database_is_warned_about(
    layer: str, cache: str
) -> None:
    # Django's Redis cache clears itself with FLUSHDB: the channel layer's groups would go too.
    with override_settings(CHANNEL_LAYERS=layer_on(layer), CACHES=cache_on(cache)):
        (warning,) = [m for m in check_configuration() if m.id == "voiceproject.W011"]

    assert warning.msg.startswith("REDIS_URL and CHANNEL_LAYERS_URL name the same Redis database")


@pytest.mark.parametrize("layer, cache", [
    ("redis://redis.internal:6379/0", "redis://redis.internal:6379/1"),
    ("redis://one.internal:6379/0", "redis://two.internal:6379/0"),
    ("redis://redis.internal:6379/0", "redis://redis.internal:6380/0"),
])  # fmt: skip
def test_the_cache_and_the_channel_layer_apart_are_fine(layer: str, cache: str) -> None:
    assert "voiceproject.W011" not in ids(CHANNEL_LAYERS=layer_on(layer), CACHES=cache_on(cache))


def test_only_the_suite_hashes_passwords_with_md5() -> None:
    """The suite's settings (voiceproject/tests/settings.py) trade the hash's strength for its
    speed; the product's own leave Django's default, PBKDF2."""
    from django.conf import global_settings

    import voiceproject.settings as product

    hashers = getattr(product, "PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS)
    assert hashers[0] == "django.contrib.auth.hashers.PBKDF2PasswordHasher"


def test_recording_without_libopus_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise opus.OpusError("libopus is not installed (Debian: apt-get install libopus0)")

    assert "voiceproject.E017" not in ids(RECORD_CALLS=True)
    monkeypatch.setattr(opus, "libopus", missing)
    assert "voiceproject.E017" not in ids(RECORD_CALLS=False)
    with override_settings(RECORD_CALLS=True):
        [error] = [m for m in check_configuration() if m.id == "voiceproject.E017"]
    assert "RECORD_CALLS is on but libopus is not installed" in error.msg
    assert error.hint is not None and "apt-get install libopus0" in error.hint
