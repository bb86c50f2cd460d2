"""Money is integer paise everywhere: in MongoDB, in Python, in arithmetic.

Integers make the wallet credit an exact atomic `$inc` and keep rounding in one place
(`percent_of`). Rupees appear only at the edges: parsing input and formatting for people.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, Inexact, InvalidOperation, localcontext

PAISE_PER_RUPEE = 100
# ₹1,000 crore: more than any one amount here, and far inside the database's 8-byte integers
# even summed over millions of orders (a lifetime spend).
MAX_PAISE = 10**12
ONE_PAISA = Decimal("0.01")
RUPEE_SIGN = "₹"
# Commas only as thousands separators, grouped as India writes them (1,23,456.50) or as the
# West does (123,456.50). Any other comma is most likely a decimal comma ("449,50" from a
# spreadsheet set to another locale), which dropping every comma would read as ₹44,950.
_GROUPED = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d{1,2}(,\d{2})*,\d{3})(\.\d*)?$")


class MoneyError(ValueError):
    """A value that is not an amount of rupees with at most paise precision."""


def to_paise(rupees: str | int | float | Decimal) -> int:
    """Parse rupees ("449.50", 449.5, 449, "₹1,23,456.50") into paise; refuse more than two
    decimals, more than MAX_PAISE either way, and a comma that does not separate thousands.

    Exact whatever the input: Decimal arithmetic in the default context would round a long
    amount to 28 digits, turn "1e-999999999" into zero and raise a bare ArithmeticError for
    "1e999999", so the size is checked before any arithmetic and the rounding is trapped.
    """
    if isinstance(rupees, bool):
        raise MoneyError("an amount must be a number, not true/false")
    text = str(rupees).strip().removeprefix(RUPEE_SIGN).lstrip()
    if "," in text and not _GROUPED.match(text):
        raise MoneyError(f"{rupees!r}: a comma may only separate thousands (1,234.50 or "
                         "1,23,456.50); the decimal separator is a point")  # fmt: skip
    try:
        value = Decimal(text.replace(",", ""))
    except (InvalidOperation, ValueError):
        raise MoneyError(f"{rupees!r} is not an amount of rupees") from None
    if not value.is_finite():
        raise MoneyError(f"{rupees!r} is not an amount of rupees")
    if value.copy_abs() > Decimal(MAX_PAISE) / PAISE_PER_RUPEE:  # exact, however large
        raise MoneyError(f"{rupees!r} is more than {format_inr(MAX_PAISE)}")
    with localcontext() as exact:
        exact.traps[Inexact] = True
        try:
            paisa_aligned = value.quantize(ONE_PAISA)
        except Inexact:
            raise MoneyError(f"{rupees!r} has more than paise precision") from None
    return int(paisa_aligned.scaleb(2))


def percent_of(paise: int, percent: int) -> int:
    """`percent`% of an amount, rounded half-up to the paisa."""
    exact = Decimal(paise) * Decimal(percent) / Decimal(100)
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def rupees(paise: int) -> str:
    """Plain decimal rupees for machines and the model: 33750 -> "337.50"."""
    sign = "-" if paise < 0 else ""
    whole, fraction = divmod(abs(paise), PAISE_PER_RUPEE)
    return f"{sign}{whole}.{fraction:02d}"


def format_inr(paise: int) -> str:
    """Rupees for people, with Indian digit grouping: 12345678 -> "₹1,23,456.78"."""
    sign = "-" if paise < 0 else ""
    whole, fraction = divmod(abs(paise), PAISE_PER_RUPEE)
    digits = str(whole)
    if len(digits) > 3:
        head, tail = digits[:-3], digits[-3:]
        groups: list[str] = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        if head:
            groups.insert(0, head)
        digits = ",".join(groups) + "," + tail
    return f"{sign}₹{digits}.{fraction:02d}"


INR_UNITS = [(10**7, " Cr"), (10**5, " L"), (10**3, "k")]


def axis_inr(paise: Sequence[int]) -> list[str]:
    """The ticks of one axis in rupees, short enough for its margin and said alike (see
    compact): "₹450", "₹45k", "₹12 L", "₹1.2 Cr" (to two decimals of the unit: "₹12.35 Cr");
    "₹2.5k", "₹5.0k" on one axis. People read the full sum in format_inr's words."""
    return compact(paise, INR_UNITS, "₹{}")


def compact(minors: Sequence[int], units: list[tuple[int, str]], shape: str) -> list[str]:
    """Amounts in minor units as one axis says them, in `shape` ("₹{}", "{} USD"), all alike:
    in the largest of `units` (whole major units, suffix) the smallest amount but 0 reaches
    (under all of them, in major units), each with as many decimals as the one that needs
    most: "₹2.5k", "₹5.0k"; "₹0.50", "₹1.00" (in major units none or two, as paise are
    written). 0 is "0"."""
    majors = [Decimal(abs(minor)) / PAISE_PER_RUPEE for minor in minors]
    smallest = min((major for major in majors if major), default=Decimal(0))
    size, suffix = next(((size, suffix) for size, suffix in units if smallest >= size), (1, ""))
    figures = [(major / size).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
               for major in majors]  # fmt: skip
    decimals = max((_decimals(figure) for figure in figures), default=0)
    if not suffix and decimals:
        decimals = 2
    return [("-" if minor < 0 else "") + shape.format(f"{figure:,.{decimals}f}{suffix}")
            if figure else shape.format("0")
            for minor, figure in zip(minors, figures, strict=True)]  # fmt: skip


def _decimals(figure: Decimal) -> int:
    """How many decimals `figure` (to the hundredth) needs: 12.5 -> 1, 2000 -> 0."""
    return next(n for n in (0, 1, 2) if figure == round(figure, n))
