"""`manage.py load_support_data FILE.json`: load customers and orders (contract section 5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from pymongo.database import Database
from pymongo.errors import BulkWriteError, PyMongoError

from support import mongo
from support.importer import (
    InvalidSupportData,
    parse_support_data,
    read_existing,
    wallet_balances_kept,
    write_support_data,
)
from support.importer.writing import WRITE_BATCH
from support.management import STEP_TIMEOUT_S, check_answering, failure_line, step_bound
from support.mongo import Document
from support.name_keys import fill_name_keys


class Command(BaseCommand):
    help = (
        'Load {"customers": [...], "orders": [...]} from a JSON file, upserting customers by '
        "user_id and orders by order_id (an order may carry its refund, which also gets its "
        "refunds record; a refund on record is never dropped or changed); a wallet_balance "
        "opens a new customer's wallet and never overwrites an existing one. Times are "
        "ISO-8601 (no offset means UTC), none after now; money is rupees, as a number or a "
        'string ("449.50", "₹1,23,456.50": commas only between thousands). The whole file '
        "is checked first: any bad record is reported by its index and nothing is loaded. "
        "Loading the same file again adds nothing. A database "
        f"that does not answer for {STEP_TIMEOUT_S:g} s stops it (exit 1; loading the file "
        "again completes it). See support/fixtures/example_support_data.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the JSON file to load")

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        raw = _read_json(file)
        try:
            db = mongo.sync_db()
            check_answering(db)
            existing = read_existing(db, raw)
            data = parse_support_data(raw, existing, now=timezone.now())
        except PyMongoError as error:
            raise CommandError(failure_line(error)) from None
        except InvalidSupportData as invalid:
            problems = "\n  ".join(invalid.errors)
            raise CommandError(
                f"{file}: nothing loaded, {len(invalid.errors)} problem(s):\n  {problems}"
            ) from None
        try:
            result = write_support_data(db, data)
            _fill_name_keys(db, [customer.user_id for customer in data.customers])
        except BulkWriteError as error:
            # Someone else wrote a clashing record between the check and the write; every
            # write is an idempotent upsert, so loading the file again completes it.
            first = (error.details.get("writeErrors") or [{}])[0].get("errmsg", error)
            raise CommandError(f"{file}: the database refused a record: {first}") from None
        except PyMongoError as error:
            # Every write is an idempotent upsert: loading the file again completes it.
            raise CommandError(failure_line(error)) from None
        self.stdout.write(
            f"Loaded {file}: customers {result.customers}; orders {result.orders}; "
            f"refunds {result.refunds}."
        )
        if result.changed_meanwhile:
            orders = ", ".join(
                f"{order_id} ({f'refunded as {refund_id}' if refund_id else 'changed'})"
                for order_id, refund_id in result.changed_meanwhile.items()
            )
            self.stderr.write(
                f"Left {len(result.changed_meanwhile)} order(s) as they were, changed while the "
                f"file loaded: {orders}. The file's version would undo the refund; an order "
                "changed otherwise is written by loading the file again."
            )
        kept = wallet_balances_kept(data, existing)
        if kept:
            ids = ", ".join(str(user_id) for user_id in kept[:10])
            ids += ", …" if len(kept) > 10 else ""
            self.stdout.write(
                f"Kept the wallet balance of {len(kept)} customer(s) already here ({ids}), not "
                "the file's: a wallet here moves only with refunds and goodwill credits."
            )


def _fill_name_keys(db: Database[Document], user_ids: list[int]) -> None:
    """The customers' search keys, WRITE_BATCH customers a step (see support/management)."""
    for start in range(0, len(user_ids), WRITE_BATCH):
        with step_bound():
            fill_name_keys(db, user_ids[start : start + WRITE_BATCH])


def _read_json(file: Path) -> object:
    try:
        data = file.read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {file}: {error.strerror}") from None
    try:
        # utf-8-sig: Windows tools (Notepad, Excel, PowerShell) start UTF-8 files with a BOM.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise CommandError(
            f"{file} is not UTF-8 text (line {line}: byte {data[error.start]:#04x}, perhaps "
            "Latin-1 or Windows-1252): save it as UTF-8"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"{file} is not valid JSON: {error}") from None
    except RecursionError:
        raise CommandError(f"{file} is not valid JSON: nested too deeply to read") from None
