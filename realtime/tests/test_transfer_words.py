"""How Twilio's word that a phone call is over ends it (realtime/transfer.py), by where its
transfer stands: the table end_between_streams and the process carrying the call go by."""

import pytest

from realtime.transfer import (
    CALLER_HUNG_UP,
    TRANSFER_FAILED,
    TRANSFERRED,
    Transfer,
    twilio_ends,
    twilio_ends_as,
    twilio_says_over,
)


@pytest.mark.parametrize(
    ("reason", "transfer", "ends"),
    [
        (CALLER_HUNG_UP, "", True),  # no transfer: she hung up
        (CALLER_HUNG_UP, Transfer.ASKED, True),  # not yet asked of Twilio
        (CALLER_HUNG_UP, Transfer.REFUSED, True),
        (CALLER_HUNG_UP, Transfer.SENT, False),  # Twilio may have moved her: the transfer's end
        (CALLER_HUNG_UP, Transfer.CONFIRMED, False),
        (CALLER_HUNG_UP, Transfer.UNCONFIRMED, False),
        (TRANSFERRED, Transfer.CONFIRMED, True),  # the <Dial> ran
        (TRANSFER_FAILED, Transfer.UNCONFIRMED, True),
        (TRANSFERRED, "", False),  # a <Dial> for a call never passed on: not this call's end
        (TRANSFERRED, Transfer.REFUSED, False),
        ("", Transfer.SENT, False),
    ],
)
def test_whether_twilios_word_ends_a_call_waiting_for_a_stream(
    reason: str, transfer: str, ends: bool
) -> None:
    assert twilio_ends(reason, transfer) is ends


@pytest.mark.parametrize("reason", [CALLER_HUNG_UP, TRANSFERRED, TRANSFER_FAILED])
def test_twilios_word_told_to_another_process_reads_back_as_said(reason: str) -> None:
    message = twilio_says_over("CALL-1", reason)
    assert message["call_id"] == "CALL-1"
    assert twilio_ends_as(message) == reason


def test_the_two_kinds_of_message_a_process_may_be_told() -> None:
    assert twilio_says_over("CALL-1", CALLER_HUNG_UP)["type"] == "call.caller_hung_up"
    assert twilio_says_over("CALL-1", TRANSFERRED)["type"] == "call.moved_on"
    assert twilio_ends_as({"type": "call.moved_on"}) == ""  # says nothing: ends nothing
