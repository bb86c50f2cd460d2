"""Numbers people and peers write, read without a surprise exception. Pure.

`int()` refuses a string of 4,300 digits or more (Python's limit on integer strings): a
ValueError nobody expects of a page number, a byte range or an id that passed `isdigit()`.
"""

from __future__ import annotations


def digits_up_to(digits: str, ceiling: int) -> int:
    """ASCII `digits` (checked by the caller) as an int, at most `ceiling`, however long."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(ceiling)):
        return ceiling
    return min(int(significant), ceiling)
