"""Digits people and peers write, as numbers however long (voiceproject/numbers.py)."""

from __future__ import annotations

import pytest

from voiceproject.numbers import digits_up_to


@pytest.mark.parametrize(
    ("digits", "ceiling", "number"),
    [
        ("7", 100, 7), ("0", 100, 0), ("", 100, 0), ("100", 100, 100), ("101", 100, 100),
        ("007", 100, 7), ("0" * 5000 + "7", 100, 7), ("9" * 5000, 100, 100),
        ("9" * 18, 10**18, 10**18 - 1), ("1" + "0" * 18, 10**18, 10**18),
    ],
)  # fmt: skip
def test_digits_read_as_a_number_at_most_the_ceiling_however_long(
    digits: str, ceiling: int, number: int
) -> None:
    assert digits_up_to(digits, ceiling) == number
