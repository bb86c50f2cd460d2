"""Reading a support data file is pure (support/importer/parsing.py): no database, no driver."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import support.importer.parsing as parsing
from support.importer.parsing import parse_support_data

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "example_support_data.json"


def test_a_file_is_parsed_without_touching_the_database() -> None:
    # No django_db mark: pytest-django refuses any database access in this test.
    raw = json.loads(EXAMPLE.read_text())

    data = parse_support_data(raw)

    assert len(data.customers) == len(raw["customers"])
    assert len(data.orders) == len(raw["orders"])


def test_the_parsing_module_imports_no_database_code() -> None:
    tree = ast.parse(Path(parsing.__file__).read_text())
    imported = {
        alias.name if isinstance(node, ast.Import) else str(node.module)
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }

    assert not {name for name in imported if name.startswith(("pymongo", "django.db"))}
    assert "support.mongo" not in imported
