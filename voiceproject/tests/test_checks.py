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


def test_a_negative_trusted_proxy_count_is_an_error() -> None:
    assert "voiceproject.E006" in ids(TRUSTED_PROXY_COUNT=-1)
