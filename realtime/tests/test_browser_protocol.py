from __future__ import annotations

import json

from realtime import browser_protocol as bp
from realtime import caller_events as ce


def test_audio_frames_pass_through_untouched() -> None:
    audio, problem = bp.decode_binary(b"\x01\x02\x03\x04")
    assert audio == bp.CallerAudio(b"\x01\x02\x03\x04")
    assert problem is None


def test_an_odd_trailing_byte_is_dropped_and_reported() -> None:
    audio, problem = bp.decode_binary(b"\x01\x02\x03")
    assert audio == bp.CallerAudio(b"\x01\x02")
    assert problem is not None and problem.code == "odd_length"


def test_an_audio_frame_over_64_kib_is_refused() -> None:
    audio, problem = bp.decode_binary(b"\x00" * (64 * 1024 + 2))
    assert audio is None
    assert problem is not None and problem.code == "frame_too_large"


def test_an_audio_frame_of_exactly_64_kib_is_accepted() -> None:
    audio, problem = bp.decode_binary(b"\x00" * (64 * 1024))
    assert audio is not None and problem is None


def test_typed_text_audio_end_and_end_are_understood() -> None:
    assert bp.decode_text('{"type": "text", "text": " Where is my order? "}') == bp.CallerText(
        "Where is my order?"
    )
    assert bp.decode_text('{"type": "audio_end"}') == bp.AudioEnd()
    assert bp.decode_text('{"type": "end"}') == bp.HangUp()


def test_text_that_is_not_a_json_object_is_bad_json() -> None:
    for frame in ("not json", "[1, 2]", '"text"', "{", '{"type": "text", "text": 5}'):
        result = bp.decode_text(frame)
        assert isinstance(result, bp.BadFrame) and result.code == "bad_json", frame


def test_json_nested_thousands_deep_or_with_huge_numbers_is_bad_json() -> None:
    # json.loads raises RecursionError and ValueError on these, not JSONDecodeError.
    for frame in ('{"type": "text", "text": ' + "[" * 3000 + "]" * 3000 + "}", "9" * 5000):
        result = bp.decode_text(frame)
        assert isinstance(result, bp.BadFrame) and result.code == "bad_json"


def test_a_lone_surrogate_in_typed_text_is_replaced_and_pairs_joined() -> None:
    result = bp.decode_text('{"type": "text", "text": "hi \\ud800 \\ud83d\\ude00"}')
    assert result == bp.CallerText("hi \ufffd \U0001f600")
    assert isinstance(result, bp.CallerText)
    result.text.encode("utf-8")  # the upstream socket can send it


def test_an_unknown_type_is_named_in_the_error() -> None:
    result = bp.decode_text('{"type": "dance"}')
    assert isinstance(result, bp.BadFrame)
    assert result.code == "unknown_type"
    assert "dance" in result.message


def test_a_text_frame_over_8_kib_is_refused_by_its_utf8_size() -> None:
    # 3,000 rupee signs are 3,000 characters but 9,000 bytes.
    result = bp.decode_text(json.dumps({"type": "text", "text": "₹" * 3000}, ensure_ascii=False))
    assert isinstance(result, bp.BadFrame) and result.code == "frame_too_large"


def test_a_long_typed_message_within_8_kib_is_answered_like_any_other() -> None:
    # Contract section 3: only a text frame over 8 KiB is too large.
    typed = "My order arrived cold and half of it was missing. " * 150  # 7,500 bytes
    frame = json.dumps({"type": "text", "text": typed})
    assert len(frame.encode("utf-8")) <= 8 * 1024
    assert bp.decode_text(frame) == bp.CallerText(typed.strip())


def test_server_events_are_compact_json_with_a_type() -> None:
    ready = '{"type":"ready","call_id":"CALL-1","resume_token":"R"}'
    assert bp.encode(ce.Ready("CALL-1", "R")) == ready
    assert json.loads(bp.encode(ce.Transcript("agent", "Namaste", False))) == {
        "type": "transcript", "role": "agent", "text": "Namaste", "final": False,
    }
    assert json.loads(bp.error("bad_json", "x")) == {
        "type": "error", "code": "bad_json", "message": "x",
    }
    assert json.loads(bp.encode(ce.Interrupted())) == {"type": "interrupted"}
    assert json.loads(bp.encode(ce.ToolActivity("get_user_profile", "started"))) == {
        "type": "tool", "name": "get_user_profile", "status": "started",
    }
