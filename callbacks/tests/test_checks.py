from __future__ import annotations

from django.test import override_settings

from callbacks.checks import check_callback_configuration


def ids(**overrides: object) -> set[str]:
    with override_settings(**overrides):
        return {message.id for message in check_callback_configuration() if message.id}


def test_the_test_configuration_has_no_callback_errors() -> None:
    assert ids() == set()


def test_a_slot_capacity_below_one_is_an_error() -> None:
    assert "callbacks.E001" in ids(CALLBACK_SLOT_CAPACITY=0)


def test_a_from_number_without_credentials_is_an_error() -> None:
    assert "callbacks.E002" in ids(TWILIO_FROM_NUMBER="+911234567890", TWILIO_ACCOUNT_SID="")
    assert "callbacks.E002" not in ids(
        TWILIO_FROM_NUMBER="+911234567890", TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="t"
    )
