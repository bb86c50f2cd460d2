"""Twilio Media Streams messages, as Twilio sends them, and the ones we send back."""

from __future__ import annotations

import base64
import json

import pytest

from realtime.twilio_protocol import (
    Connected,
    Dtmf,
    Mark,
    Media,
    MediaFormat,
    Start,
    Stop,
    TwilioProtocolError,
    _well_formed_media,
    clear_message,
    dtmf_prompt,
    mark_message,
    media_message,
    parse_message,
)

STREAM = "MZ18ad3ab5a668481ce02b83e7395059f0"
CALL = "CA5bc8f6a5b8ae4e8a3b3b4e2d3f3e2d1c"
ACCOUNT = "AC0123456789abcdef0123456789abcdef"
ULAW_FRAME = bytes(range(96, 256))  # 160 bytes, as in one 20 ms media message
ULAW_FRAME_B64 = base64.b64encode(ULAW_FRAME).decode()

CONNECTED = '{"event":"connected","protocol":"Call","version":"1.0.0"}'
START = (
    '{"event":"start","sequenceNumber":"1","start":{"accountSid":"' + ACCOUNT + '",'
    '"streamSid":"' + STREAM + '","callSid":"' + CALL + '","tracks":["inbound"],'
    '"customParameters":{"token":"v1.abc.def"},'
    '"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},'
    '"streamSid":"' + STREAM + '"}'
)
MEDIA = (
    '{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1",'
    '"timestamp":"5","payload":"' + ULAW_FRAME_B64 + '"},"streamSid":"' + STREAM + '"}'
)
MARK = (
    '{"event":"mark","sequenceNumber":"4","streamSid":"' + STREAM + '",'
    '"mark":{"name":"turn-7"}}'
)
DTMF = (
    '{"event":"dtmf","streamSid":"' + STREAM + '","sequenceNumber":"5",'
    '"dtmf":{"track":"inbound_track","digit":"1"}}'
)
STOP = (
    '{"event":"stop","sequenceNumber":"6","stop":{"accountSid":"' + ACCOUNT + '",'
    '"callSid":"' + CALL + '"},"streamSid":"' + STREAM + '"}'
)


def altered(text: str, change: dict[str, object], inside: str | None = None) -> str:
    """The message with some fields replaced (None deletes), at the top level or in `inside`."""
    message = json.loads(text)
    target = message[inside] if inside else message
    for key, value in change.items():
        if value is None:
            target.pop(key)
        else:
            target[key] = value
    return json.dumps(message)


# --- What Twilio sends ----------------------------------------------------------------------


def test_connected() -> None:
    assert parse_message(CONNECTED) == Connected(protocol="Call", version="1.0.0")


def test_start_carries_the_call_and_the_signed_parameter() -> None:
    assert parse_message(START) == Start(
        sequence_number=1,
        stream_sid=STREAM,
        account_sid=ACCOUNT,
        call_sid=CALL,
        tracks=("inbound",),
        media_format=MediaFormat(encoding="audio/x-mulaw", sample_rate=8000, channels=1),
        custom_parameters={"token": "v1.abc.def"},
    )


def test_start_without_custom_parameters_has_none() -> None:
    start = parse_message(altered(START, {"customParameters": None}, inside="start"))
    assert isinstance(start, Start)
    assert start.custom_parameters == {}


def test_media_payload_is_decoded_to_ulaw_bytes() -> None:
    assert parse_message(MEDIA) == Media(
        sequence_number=3,
        stream_sid=STREAM,
        track="inbound",
        chunk=1,
        timestamp=5,
        payload=ULAW_FRAME,
    )


def test_media_numbers_sent_as_json_numbers_parse_the_same() -> None:
    # Twilio sends them as strings (the fast path); numbers take the field readers' path.
    numbers = altered(altered(MEDIA, {"sequenceNumber": 3}), {"chunk": 1, "timestamp": 5}, "media")
    assert parse_message(numbers) == parse_message(MEDIA)


def test_only_a_media_frame_of_strings_takes_the_shortcut() -> None:
    assert _well_formed_media(json.loads(MEDIA)) == parse_message(MEDIA)
    assert _well_formed_media(json.loads(altered(MEDIA, {"sequenceNumber": 3}))) is None
    assert _well_formed_media(json.loads(altered(MEDIA, {"payload": "QU-D"}, "media"))) is None


def test_bytes_frames_are_accepted_too() -> None:
    assert parse_message(MEDIA.encode()) == parse_message(MEDIA)


def test_mark_echo() -> None:
    assert parse_message(MARK) == Mark(sequence_number=4, stream_sid=STREAM, name="turn-7")


def test_dtmf() -> None:
    assert parse_message(DTMF) == Dtmf(
        sequence_number=5, stream_sid=STREAM, track="inbound_track", digit="1"
    )


def test_stop() -> None:
    assert parse_message(STOP) == Stop(
        sequence_number=6, stream_sid=STREAM, account_sid=ACCOUNT, call_sid=CALL
    )


# --- Malformed input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, error",
    [
        ("", "not JSON"),
        ('{"event": "media"', "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        ("[]", "expected a JSON object, got list"),
        ('"media"', "expected a JSON object, got str"),
        ('{"streamSid": "MZ1"}', "unknown event None"),
        ('{"event": "dance"}', "unknown event 'dance'"),
        ('{"event": 7}', "unknown event 7"),
        ('{"event": "media", "media": ' + "[" * 5000 + "]" * 5000 + "}", "not JSON"),
        ('{"event": "mark", "sequenceNumber": ' + "9" * 5000 + "}", "not JSON"),
    ],
)
def test_what_is_not_a_twilio_message_is_refused(text: str | bytes, error: str) -> None:
    with pytest.raises(TwilioProtocolError, match=error):
        parse_message(text)


@pytest.mark.parametrize(
    "text, error",
    [
        (altered(CONNECTED, {"version": None}), "connected: missing or non-string field 'vers"),
        (altered(START, {"start": None}), "start: missing or non-object field 'start'"),
        (altered(START, {"start": "MZ1"}), "start: missing or non-object field 'start'"),
        (altered(START, {"callSid": None}, "start"), "start: missing or non-string field 'callS"),
        (altered(START, {"accountSid": None}, "start"), "non-string field 'accountSid'"),
        (altered(START, {"callSid": 12}, "start"), "missing or non-string field 'callSid'"),
        (altered(START, {"mediaFormat": None}, "start"), "non-object field 'mediaFormat'"),
        (altered(START, {"tracks": "inbound"}, "start"), "'tracks' must be a list of strings"),
        (altered(START, {"customParameters": {"token": 1}}, "start"), "'customParameters' must"),
        (altered(START, {"sequenceNumber": None}), "non-numeric field 'sequenceNumber'"),
        (altered(START, {"sequenceNumber": "one"}), "'sequenceNumber' is not an integer: 'one'"),
        (altered(MEDIA, {"media": None}), "media: missing or non-object field 'media'"),
        (altered(MEDIA, {"payload": None}, "media"), "missing or non-string field 'payload'"),
        (altered(MEDIA, {"payload": "not base64!"}, "media"), "payload is not valid base64"),
        (altered(MEDIA, {"payload": "QUJ"}, "media"), "payload is not valid base64"),
        (altered(MEDIA, {"chunk": "1.5"}, "media"), "'chunk' is not an integer"),
        (altered(MEDIA, {"timestamp": True}, "media"), "non-numeric field 'timestamp'"),
        (altered(MEDIA, {"track": None}, "media"), "missing or non-string field 'track'"),
        (altered(MEDIA, {"streamSid": None}), "media: missing or non-string field 'streamSid'"),
        (altered(MEDIA, {"streamSid": ""}), "media: missing or non-string field 'streamSid'"),
        (altered(MEDIA, {"streamSid": 7}), "media: missing or non-string field 'streamSid'"),
        (altered(MEDIA, {"sequenceNumber": "x"}), "media: field 'sequenceNumber' is not an int"),
        (altered(MEDIA, {"sequenceNumber": None}), "media: missing or non-numeric field 'sequ"),
        (altered(MEDIA, {"sequenceNumber": 3.0}), "media: missing or non-numeric field 'sequ"),
        (altered(MEDIA, {"chunk": None}, "media"), "media: missing or non-numeric field 'chunk'"),
        (altered(MEDIA, {"timestamp": "5s"}, "media"), "media: field 'timestamp' is not an int"),
        (altered(MEDIA, {"track": ""}, "media"), "media: missing or non-string field 'track'"),
        (altered(MEDIA, {"track": ["in"]}, "media"), "media: missing or non-string field 'track'"),
        (altered(MEDIA, {"payload": 160}, "media"), "media: missing or non-string field 'payload'"),
        (altered(MEDIA, {"payload": "QUJD\n"}, "media"), "media: payload is not valid base64"),
        (altered(MEDIA, {"payload": "QQ==="}, "media"), "media: payload is not valid base64"),
        (altered(MEDIA, {"payload": "QQ==QQ=="}, "media"), "media: payload is not valid base64"),
        (altered(MEDIA, {"payload": "QU-D"}, "media"), "media: payload is not valid base64"),
        (altered(MEDIA, {"payload": "QUJDé"}, "media"), "media: payload is not valid base64"),
        (altered(MARK, {"mark": None}), "mark: missing or non-object field 'mark'"),
        (altered(MARK, {"name": None}, "mark"), "mark: missing or non-string field 'name'"),
        (altered(DTMF, {"digit": None}, "dtmf"), "dtmf: missing or non-string field 'digit'"),
        (altered(DTMF, {"digit": "12"}, "dtmf"), "dtmf: unknown DTMF digit '12'"),
        (altered(DTMF, {"digit": "A"}, "dtmf"), "unknown DTMF digit 'A'"),
        (altered(STOP, {"stop": None}), "stop: missing or non-object field 'stop'"),
        (altered(STOP, {"callSid": None}, "stop"), "stop: missing or non-string field 'callSid'"),
    ],
)
def test_a_message_missing_or_mangling_a_field_is_refused(text: str, error: str) -> None:
    with pytest.raises(TwilioProtocolError, match=error):
        parse_message(text)


def test_the_error_says_which_event_it_was_reading() -> None:
    with pytest.raises(TwilioProtocolError) as caught:
        parse_message(altered(MEDIA, {"payload": "%%%"}, "media"))
    assert caught.value.event == "media"


# --- What we send back ---------------------------------------------------------------------------


def test_media_message_carries_base64_ulaw() -> None:
    assert json.loads(media_message(STREAM, ULAW_FRAME)) == {
        "event": "media",
        "streamSid": STREAM,
        "media": {"payload": ULAW_FRAME_B64},
    }


def test_media_message_is_compact_json() -> None:
    assert media_message(STREAM, ULAW_FRAME) == json.dumps(
        {"event": "media", "streamSid": STREAM, "media": {"payload": ULAW_FRAME_B64}},
        separators=(",", ":"),
    )


@pytest.mark.parametrize("stream_sid", ['MZ"1', "MZ\\1", "MZ\n1", "MZ 1", "MZ☕1", "MZ١٢", ""])
def test_media_message_stays_valid_json_for_an_odd_stream_sid(stream_sid: str) -> None:
    assert json.loads(media_message(stream_sid, ULAW_FRAME))["streamSid"] == stream_sid


def test_mark_message() -> None:
    assert json.loads(mark_message(STREAM, "turn-7")) == {
        "event": "mark",
        "streamSid": STREAM,
        "mark": {"name": "turn-7"},
    }


def test_a_mark_needs_a_name() -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        mark_message(STREAM, "")


def test_clear_message() -> None:
    assert clear_message(STREAM) == '{"event":"clear","streamSid":"' + STREAM + '"}'


def test_what_we_send_parses_back_as_twilio_echoes_it() -> None:
    # Twilio echoes our mark with a sequence number added; the name must survive the trip.
    echoed = json.loads(mark_message(STREAM, "turn-7")) | {"sequenceNumber": "9"}
    assert parse_message(json.dumps(echoed)) == Mark(9, STREAM, name="turn-7")


# --- DTMF for the model -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "keys, prompt",
    [
        ("1", "The caller pressed 1 on their keypad."),
        ("0", "The caller pressed 0 on their keypad."),
        ("*", "The caller pressed the star key (*) on their keypad."),
        ("#", "The caller pressed the pound key (#) on their keypad."),
        ("1001#", "The caller typed 1001# on their keypad."),
    ],
)
def test_dtmf_prompt(keys: str, prompt: str) -> None:
    assert dtmf_prompt(keys) == prompt


def test_lone_surrogates_in_a_start_are_replaced() -> None:
    start = parse_message(
        json.dumps(
            {
                "event": "start", "sequenceNumber": "1", "streamSid": "MZ\ud800",
                "start": {
                    "accountSid": "AC1", "streamSid": "MZ\ud800", "callSid": "CA1",
                    "tracks": ["inbound"], "customParameters": {"token": "t\udc00"},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
    )
    assert isinstance(start, Start)
    assert start.stream_sid == "MZ\ufffd"
    assert start.custom_parameters == {"token": "t\ufffd"}
