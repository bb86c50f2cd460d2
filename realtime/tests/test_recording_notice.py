"""With RECORD_CALLS on, callers are told their call is recorded: on the voice page, and in
the agent's first words (the greeting asks for them, the persona's instructions carry them)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from realtime import instructions

pytestmark = pytest.mark.django_db

NOTICE = "This call may be recorded."


@pytest.fixture
def static_urls(settings: Any) -> None:
    # Tests run with DEBUG off, whose manifest storage needs collectstatic; pages only need URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def test_the_voice_page_says_calls_are_recorded_and_for_how_long(
    settings: Any, static_urls: None
) -> None:
    settings.RECORD_CALLS, settings.RECORDING_RETENTION_DAYS = True, 30
    body = Client().get("/").content.decode()

    assert 'id="recording-notice"' in body
    assert f"{NOTICE} Recordings help our team check how we helped you, and are deleted " \
           "after 30 days." in body


def test_without_recording_the_page_says_nothing_of_it(settings: Any, static_urls: None) -> None:
    settings.RECORD_CALLS = False
    assert "recording-notice" not in Client().get("/").content.decode()


def test_the_agents_first_words_carry_the_notice_only_when_recording(settings: Any) -> None:
    settings.RECORD_CALLS = True
    assert NOTICE in instructions.greeting()
    assert NOTICE in instructions.system_instruction("Asha")

    settings.RECORD_CALLS = False
    assert NOTICE not in instructions.greeting()
    assert NOTICE not in instructions.system_instruction("Asha")
