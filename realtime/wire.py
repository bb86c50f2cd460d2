"""JSON and text from the outside world, read defensively (no I/O).

Every frame a caller, Twilio or the Live API sends is parsed here first. Python's `json`
raises more than `JSONDecodeError` on hostile input: `RecursionError` for arrays nested a few
thousand deep (about 2 KB of text), `ValueError` for an integer of more than 4,300 digits,
`UnicodeDecodeError` for bytes that are not UTF-8. Each of these becomes one `BadJson`, so a
protocol module has exactly one exception to turn into its own error.

JSON also lets a string carry a lone UTF-16 surrogate (`"\\ud800"`), which no UTF-8 encoder
will write: passed on, it breaks whichever socket or database write meets it later, far from
where it came in. `clean_text` replaces such code points at the edge.
"""

from __future__ import annotations

import json
from typing import Any


class BadJson(ValueError):
    """The frame is not JSON we can read: malformed, nested too deep, or an absurd number."""


def loads(frame: str | bytes) -> Any:
    """Parse one JSON frame, or raise BadJson whatever is wrong with it."""
    try:
        return json.loads(frame)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError too
        raise BadJson(str(error)[:200]) from None


def clean_text(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD (valid pairs are joined)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text
