"""`load_support_data` on files as people export them: amounts written with commas or the
rupee sign, and text saved by Windows tools or in another encoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError

from support.importer import parse_support_data
from support.tests.test_load_support_data import documents, dosa_order, load, meena, problems


def test_a_decimal_comma_is_refused_by_index_not_read_as_a_hundred_times_the_amount() -> None:
    # "449,50" from a spreadsheet set to a European locale: dropping the comma made ₹44,950.
    data = {"customers": [meena(wallet_balance="12,5")],
            "orders": [dosa_order(amount="449,50"),
                       dosa_order(order_id="ORD-3002", amount="1,2,3")]}  # fmt: skip

    assert problems(data) == [
        "customers[0]: wallet_balance: '12,5': a comma may only separate thousands (1,234.50 "
        "or 1,23,456.50); the decimal separator is a point",
        "orders[0]: amount: '449,50': a comma may only separate thousands (1,234.50 or "
        "1,23,456.50); the decimal separator is a point",
        "orders[1]: amount: '1,2,3': a comma may only separate thousands (1,234.50 or "
        "1,23,456.50); the decimal separator is a point",
    ]


@pytest.mark.parametrize(("written", "paise"), [
    ("1,23,456.50", 12_345_650),  # as India groups digits
    ("123,456.50", 12_345_650),  # as the West does
    ("1,000", 100_000),
    ("₹449.50", 44_950),  # as the agent and the staff pages write rupees
    ("₹ 1,23,456", 12_345_600),
])  # fmt: skip
def test_amounts_grouped_in_thousands_or_with_the_rupee_sign_load(written: str,
                                                                  paise: int) -> None:
    data = {"customers": [meena()], "orders": [dosa_order(amount=written)]}

    assert parse_support_data(data).orders[0].amount == paise


@pytest.mark.django_db
def test_a_file_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    # Notepad, Excel and PowerShell start UTF-8 files with one.
    path = tmp_path / "from-windows.json"
    text = json.dumps({"customers": [meena(name="Meena Pillai")]}, indent=2)
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))

    output = load(path)

    assert "customers 1 added" in output
    assert documents("customers")[0]["name"] == "Meena Pillai"


def test_a_file_in_another_encoding_names_the_line_to_look_at(tmp_path: Path) -> None:
    path = tmp_path / "latin-1.json"
    text = json.dumps({"customers": [meena(), meena(user_id=302, name="José Dsouza")]},
                      ensure_ascii=False, indent=2)  # fmt: skip
    path.write_bytes(text.encode("latin-1"))

    with pytest.raises(CommandError) as refused:
        load(path)

    line = next(n for n, line in enumerate(text.splitlines(), 1) if "José" in line)
    assert str(refused.value) == (f"{path} is not UTF-8 text (line {line}: byte 0xe9, perhaps "
                                  "Latin-1 or Windows-1252): save it as UTF-8")  # fmt: skip
