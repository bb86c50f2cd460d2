"""A hostile read of /twilio/voice without GEMINI_API_KEY (realtime/phone/views.py): a call
going on whose stream ended, asked about while the database is away, is connected, as it is
with a key (a callback a colleague holds goes on without an agent), not hung up on with "our
voice assistant is not available"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from pymongo.errors import ServerSelectionTimeoutError

from continuity import calls as stored_calls
from realtime.tests.phone_harness import AUTH_TOKEN, PUBLIC, token_of, webhook

pytestmark = pytest.mark.django_db(transaction=True)

CALL_SID = "CA" + "7" * 32


async def test_a_callback_going_on_without_a_key_is_connected_while_the_database_is_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def away(**_: Any) -> None:
        raise ServerSelectionTimeoutError("the database is away")

    monkeypatch.setattr(stored_calls, "find_call", away)
    with override_settings(TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_BASE_URL=PUBLIC,
                           GEMINI_API_KEY=""):  # fmt: skip
        # Its stream ended (its process drained): Twilio asks what to do with the call.
        twiml = await webhook("+919800000101", CALL_SID, CallStatus="in-progress",
                              Direction="outbound-api")  # fmt: skip

    assert "<Connect" in twiml and token_of(twiml), twiml
