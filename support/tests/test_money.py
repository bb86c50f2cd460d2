"""Rupees in, paise out (support/money.py): exact for any text a person, a file or the
model may give, and a MoneyError, never another exception, for what is not an amount."""

from __future__ import annotations

from decimal import Decimal

import pytest

from support.money import MoneyError, to_paise


@pytest.mark.parametrize(
    ("rupees", "paise"),
    [
        ("449.50", 44_950), ("449.500", 44_950), (" 5,000 ", 500_000), ("1,23,456.78", 12_345_678),
        (449.5, 44_950), (449, 44_900), (Decimal("0.01"), 1), ("-0", 0), ("-12.5", -1_250),
        ("1e3", 100_000), ("1e10", 10**12), ("-1e10", -(10**12)),
    ],
)  # fmt: skip
def test_amounts_in_rupees_become_exact_paise(rupees: str | float | Decimal, paise: int) -> None:
    assert to_paise(rupees) == paise


@pytest.mark.parametrize(
    ("rupees", "problem"),
    [
        ("10.005", "has more than paise precision"),
        (0.1 + 0.2, "has more than paise precision"),
        ("449.5000000000000000000000000001", "has more than paise precision"),  # 31 digits
        ("1e-999999999", "has more than paise precision"),  # below what Decimal can hold
        ("10000000000.01", "is more than ₹10,00,00,00,000.00"),
        ("1e999999", "is more than ₹10,00,00,00,000.00"),  # beyond what Decimal can multiply
        ("1e1000000", "is more than ₹10,00,00,00,000.00"),
        (1e308, "is more than ₹10,00,00,00,000.00"),
        ("1" + "0" * 5000, "is more than ₹10,00,00,00,000.00"),
        ("NaN", "is not an amount of rupees"),
        ("-Infinity", "is not an amount of rupees"),
        ("₹", "is not an amount of rupees"),  # the sign alone (₹12 is twelve rupees)
        ("", "is not an amount of rupees"),
        (True, "must be a number"),
    ],
)  # fmt: skip
def test_what_is_not_an_amount_is_a_money_error(rupees: object, problem: str) -> None:
    with pytest.raises(MoneyError, match=problem):
        to_paise(rupees)  # type: ignore[arg-type]


def test_a_decimal_comma_is_refused_not_read_as_a_hundred_times_the_amount() -> None:
    """"449,50" from a spreadsheet (or a lead's keyboard) set to another locale: dropping the
    comma read ₹44,950, in the admin's and the goodwill form's rupee fields alike."""
    for amount in ("449,50", "1,2,3", "12,5"):
        with pytest.raises(MoneyError, match="a comma may only separate thousands"):
            to_paise(amount)


def test_amounts_are_read_as_people_write_rupees() -> None:
    assert to_paise("₹449.50") == 44_950
    assert to_paise("₹ 1,23,456") == 12_345_600  # grouped as India does
    assert to_paise("123,456.50") == 12_345_650  # and as the West does
