"""Support data import (contract section 5): validate a whole file first, then upsert it.

    parsing.py   pure: the decoded file (and what the database holds) in, typed records out,
                 or every bad record named by its index
    writing.py   the database: what a file's keys already hold, and the bulk upserts

`manage.py load_support_data` reads, parses, then writes; `seed_demo` writes its generated
records through the same upserts. The names below are the package's interface.
"""

from __future__ import annotations

from support.importer.parsing import (
    CustomerRecord,
    Existing,
    InvalidSupportData,
    ItemRecord,
    OrderRecord,
    RefundRecord,
    SupportData,
    parse_support_data,
    wallet_balances_kept,
)
from support.importer.writing import order_document, read_existing, write_support_data

__all__ = [
    "CustomerRecord",
    "Existing",
    "InvalidSupportData",
    "ItemRecord",
    "OrderRecord",
    "RefundRecord",
    "SupportData",
    "order_document",
    "parse_support_data",
    "read_existing",
    "wallet_balances_kept",
    "write_support_data",
]
