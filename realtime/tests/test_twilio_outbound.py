"""Calls we place: the callback stream's TwiML and its signed token (realtime/phone/outbound.py,
security.py), with literal values."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from realtime.phone import outbound, security

CALL_SID = "CA0123456789abcdef0123456789abcdef"
STREAM = security.CallbackStream("CBK-7KQ2XD", "+919800000101", "meera")


def test_the_callback_twiml_streams_to_the_bridge_with_its_parameters() -> None:
    twiml = outbound.callback_twiml(
        stream_url="wss://voice.example.com/ws/twilio",
        voice_url="https://voice.example.com/twilio/voice", token="signed",
        callback_id="CBK-7KQ2XD", staff="meera",
    )  # fmt: skip

    # When the stream ends Twilio asks /twilio/voice, as for an incoming call (a moved call
    # goes on with another process).
    assert twiml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Connect action="https://voice.example.com/twilio/voice">'
        '<Stream url="wss://voice.example.com/ws/twilio">'
        '<Parameter name="kind" value="callback" />'
        '<Parameter name="token" value="signed" />'
        '<Parameter name="callback_id" value="CBK-7KQ2XD" />'
        '<Parameter name="staff" value="meera" />'
        "</Stream></Connect></Response>"
    )
    ET.fromstring(twiml)  # well-formed


def test_a_callback_token_names_the_callback_the_number_and_the_staff_member() -> None:
    stream = security.verify_callback_token(security.mint_callback_token(STREAM))

    assert (stream.callback_id, stream.phone, stream.staff) == (
        "CBK-7KQ2XD", "+919800000101", "meera"
    )  # fmt: skip
    assert stream.nonce  # single-use, like an incoming call's


def test_each_callback_token_has_its_own_nonce() -> None:
    first = security.verify_callback_token(security.mint_callback_token(STREAM))
    second = security.verify_callback_token(security.mint_callback_token(STREAM))

    assert first.nonce != second.nonce


def test_a_callback_token_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = security.mint_callback_token(STREAM)
    monkeypatch.setattr(security, "CALLBACK_TOKEN_MAX_AGE_S", -1)

    with pytest.raises(security.InvalidStreamToken, match="expired"):
        security.verify_callback_token(token)


def test_incoming_and_outbound_tokens_are_not_interchangeable() -> None:
    incoming = security.mint_stream_token(security.StreamCaller(CALL_SID, "+919800000101"))
    callback = security.mint_callback_token(STREAM)

    with pytest.raises(security.InvalidStreamToken, match="not valid"):
        security.verify_callback_token(incoming)
    with pytest.raises(security.InvalidStreamToken, match="not valid"):
        security.verify_stream_token(callback, CALL_SID)
    with pytest.raises(security.InvalidStreamToken, match="no token"):
        security.verify_callback_token("")


def test_a_callback_stream_is_recognised_by_its_kind() -> None:
    assert outbound.is_callback_stream({"kind": "callback", "token": "t"})
    assert not outbound.is_callback_stream({"token": "t"})
    assert not outbound.is_callback_stream({"kind": "something else"})
