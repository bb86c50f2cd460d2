from __future__ import annotations

import json

from realtime import browser_protocol as bp


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


def test_an_unknown_type_is_named_in_the_error() -> None:
    result = bp.decode_text('{"type": "dance"}')
    assert isinstance(result, bp.BadFrame)
    assert result.code == "unknown_type"
    assert "dance" in result.message


def test_a_text_frame_over_8_kib_is_refused_by_its_utf8_size() -> None:
    # 3,000 rupee signs are 3,000 characters but 9,000 bytes.
    result = bp.decode_text(json.dumps({"type": "text", "text": "₹" * 3000}, ensure_ascii=False))
    assert isinstance(result, bp.BadFrame) and result.code == "frame_too_large"


def test_server_events_are_compact_json_with_a_type() -> None:
    assert json.loads(bp.ready("CALL-1")) == {"type": "ready", "call_id": "CALL-1"}
    assert json.loads(bp.transcript("agent", "Namaste", False)) == {
        "type": "transcript", "role": "agent", "text": "Namaste", "final": False,
    }
    assert json.loads(bp.error("bad_json", "x")) == {
        "type": "error", "code": "bad_json", "message": "x",
    }
    assert json.loads(bp.INTERRUPTED) == {"type": "interrupted"}
