"""What a call's record keeps of a tool call's arguments and result: the value itself when its
JSON is small enough, else a stand-in, so that the record stays far below MongoDB's document
limit whatever a call does (realtime/call_record.py writes them through `capped_json`).

Every reader of a record (the call page, the outcome, the summary) asks `stand_in` first: a
stand-in's fields are gone, and read as absent they would say "₹None" or "no orders" of a call
that had them.

    capped_json({"orders": [...5,000 of them...]})  # {"truncated": True, "preview": "{\"ord…"}
    stand_in(that)                                  # Lost.TOO_LONG
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

MAX_TOOL_JSON_CHARS = 4_000  # a tool call's arguments, and its result, as JSON
PREVIEW_CHARS = 500  # of one too long: its start


class Lost(StrEnum):
    """Why the record holds only a stand-in; the value is the stand-in's marker field."""

    TOO_LONG = "truncated"  # beside it, `preview`: the start of its JSON
    UNREADABLE = "unreadable"  # not JSON at all


def capped_json(value: Any) -> Any:
    """`value` if its JSON is small enough, else a stand-in for it."""
    try:
        encoded = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return {Lost.UNREADABLE.value: True}
    if len(encoded) <= MAX_TOOL_JSON_CHARS:
        return value
    return {Lost.TOO_LONG.value: True, "preview": encoded[:PREVIEW_CHARS]}


def stand_in(value: Any) -> Lost | None:
    """Why `value`, as a record holds it, is only a stand-in for what the tool had; None when
    it is that value itself."""
    if not isinstance(value, Mapping):
        return None
    return next((lost for lost in Lost if value.get(lost.value) is True), None)


def preview(value: Mapping[str, Any]) -> str:
    """The start of the JSON a TOO_LONG stand-in kept."""
    return str(value.get("preview", ""))
