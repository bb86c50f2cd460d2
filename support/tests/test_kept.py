"""What a call's record keeps of a tool call's JSON, and how its readers tell a stand-in."""

from __future__ import annotations

from support.kept import MAX_TOOL_JSON_CHARS, PREVIEW_CHARS, Lost, capped_json, preview, stand_in


def test_a_small_result_is_kept_as_it_is() -> None:
    result = {"ok": True, "orders": [{"order_id": "ORD-1"}]}

    assert capped_json(result) is result
    assert stand_in(result) is None


def test_a_result_too_long_keeps_the_start_of_its_json() -> None:
    result = {"orders": [{"order_id": f"ORD-{n}"} for n in range(MAX_TOOL_JSON_CHARS)]}

    kept = capped_json(result)

    assert stand_in(kept) is Lost.TOO_LONG
    assert preview(kept).startswith('{"orders": [{"order_id": "ORD-0"}')
    assert len(preview(kept)) == PREVIEW_CHARS


def test_a_value_that_is_not_json_is_marked_unreadable() -> None:
    circular: list[object] = []
    circular.append(circular)

    kept = capped_json(circular)

    assert stand_in(kept) is Lost.UNREADABLE


def test_a_tool_result_that_merely_has_a_field_of_that_name_is_not_a_stand_in() -> None:
    assert stand_in({"ok": True, "truncated": "no", "unreadable": 0}) is None
    assert stand_in("text") is None
    assert stand_in(None) is None
