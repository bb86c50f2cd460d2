"""Configuration checks for callbacks, run before the server starts (`manage.py check`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register()
def check_callback_configuration(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if settings.CALLBACK_SLOT_CAPACITY < 1:
        problems.append(
            Error(
                "CALLBACK_SLOT_CAPACITY must be at least 1: no callback could ever be booked.",
                hint="Set it to how many callbacks staff can make in one 30-minute slot.",
                id="callbacks.E001",
            )
        )
    if settings.TWILIO_FROM_NUMBER and not (
        settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN
    ):
        problems.append(
            Error(
                "TWILIO_FROM_NUMBER is set but TWILIO_ACCOUNT_SID or TWILIO_AUTH_TOKEN is not.",
                hint="\"Call now\" on a callback places the call with the account's credentials.",
                id="callbacks.E002",
            )
        )
    return problems
