from __future__ import annotations

from django.test import override_settings

from voiceproject.checks import check_configuration
from voiceproject.settings import DEV_SECRET_KEY


def ids(**overrides: object) -> set[str]:
    with override_settings(**overrides):
        return {message.id for message in check_configuration() if message.id}


def test_the_test_configuration_has_no_errors() -> None:
    assert not {i for i in ids() if ".E" in i}


def test_debug_off_without_a_secret_key_is_an_error() -> None:
    assert "voiceproject.E001" in ids(DEBUG=False, SECRET_KEY="")


def test_debug_off_with_the_development_key_is_an_error() -> None:
    assert "voiceproject.E001" in ids(DEBUG=False, SECRET_KEY=DEV_SECRET_KEY)


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
