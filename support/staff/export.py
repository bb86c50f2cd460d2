"""CSV exports of calls, refunds and tickets for a range of days, streamed row by row.

Each export reads only the fields it writes (never a call's transcript) in one cursor, and
looks the customers' names up a batch at a time; the lines go out as they are read
(voiceproject/streaming.py). Money is in rupees ("268.50"), times are local
("2026-11-21 14:05:09", the zone named in their column's title), and a ticket's priority and
status and a call's channel are the words the pages show ("High", "Claimed", "Phone"), not
the codes stored. The file starts with a
byte order mark, which Excel needs to read UTF-8 (names in any script) rather than the PC's
code page. A text cell that a spreadsheet would run as a formula (it starts with = + - @,
and is not just a number or a phone number) is written with a leading apostrophe: ticket
reasons come from callers.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from support.escalations import reason_in_words
from support.models import Call, Escalation, EscalationStatus, Priority, Refund
from support.money import rupees
from support.mongo import Document, sync_db
from support.staff.dashboard import DayRange
from support.staff.labels import (
    channel_label,
    choice_label,
    duration_s,
    end_reason_label,
    mmss,
    outcome_label,
)
from support.staff.people import people

BATCH = 100  # customers looked up per query: SecantusDB slows on long $in lists
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A phone number or a negative amount is data, not a formula: left as it is.
PLAIN_NUMBER = re.compile(r"^[+-]?[\d .]+$")


def cell(value: Any) -> str:
    """A value as a CSV cell people and spreadsheets read safely."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


@dataclass(frozen=True)
class Export:
    collection: str
    time_field: str
    projection: dict[str, int]
    header: tuple[str, ...]  # "{zone}" stands for the time zone of the times
    row: Callable[[Document, Mapping[int, Any]], list[Any]]
    permission: str  # to read what it holds, as on its own pages (with the customer's)

    def titles(self) -> list[str]:
        zone = timezone.get_current_timezone_name()
        return [title.format(zone=zone) for title in self.header]


def _name(doc: Document, found: Mapping[int, Any]) -> tuple[Any, Any]:
    user_id = doc.get("user_id")
    customer = found.get(user_id) if isinstance(user_id, int) else None
    return (customer.name, customer.phone) if customer else ("", "")


def _call(doc: Document, found: Mapping[int, Any]) -> list[Any]:
    started, ended = doc.get("started_at"), doc.get("ended_at")
    seconds = duration_s(started, ended)
    return [doc.get("call_id"), started, ended, mmss(seconds) if seconds is not None else "",
            channel_label(doc.get("channel")), doc.get("user_id"), *_name(doc, found),
            outcome_label(doc.get("outcome")) if doc.get("outcome") else "",
            end_reason_label(doc.get("end_reason")) if doc.get("end_reason") else ""]  # fmt: skip


def _refund(doc: Document, found: Mapping[int, Any]) -> list[Any]:
    return [doc.get("refund_id"), doc.get("created_at"), doc.get("order_id"), doc.get("user_id"),
            *_name(doc, found), rupees(int(doc.get("amount") or 0)), doc.get("percent"),
            doc.get("tier"), doc.get("reason"), doc.get("call_id")]  # fmt: skip


def _ticket(doc: Document, found: Mapping[int, Any]) -> list[Any]:
    return [doc.get("ticket_id"), doc.get("created_at"),
            choice_label(Priority, doc.get("priority")),
            choice_label(EscalationStatus, doc.get("status")), doc.get("assignee"),
            doc.get("user_id"), *_name(doc, found), doc.get("order_id"),
            reason_in_words(doc.get("reason") or ""), doc.get("resolved_at"),
            doc.get("call_id")]  # fmt: skip


EXPORTS = {
    "calls": Export(
        Call._meta.db_table, "started_at",
        {"_id": 0, "call_id": 1, "started_at": 1, "ended_at": 1, "channel": 1, "user_id": 1,
         "outcome": 1, "end_reason": 1},
        ("call", "started ({zone})", "ended ({zone})", "duration", "channel", "user id",
         "customer", "phone", "outcome", "ended how"),
        _call,
        "support.view_call",
    ),
    "refunds": Export(
        Refund._meta.db_table, "created_at",
        {"_id": 0, "refund_id": 1, "created_at": 1, "order_id": 1, "user_id": 1, "amount": 1,
         "percent": 1, "tier": 1, "reason": 1, "call_id": 1},
        ("refund", "refunded at ({zone})", "order", "user id", "customer", "phone", "amount (INR)",
         "percent", "tier", "reason", "call"),
        _refund,
        "support.view_refund",
    ),
    "tickets": Export(
        Escalation._meta.db_table, "created_at",
        {"_id": 0, "ticket_id": 1, "created_at": 1, "priority": 1, "status": 1, "assignee": 1,
         "user_id": 1, "order_id": 1, "reason": 1, "resolved_at": 1, "call_id": 1},
        ("ticket", "opened ({zone})", "priority", "status", "assignee", "user id", "customer",
         "phone", "order", "reason", "resolved ({zone})", "call"),
        _ticket,
        "support.view_escalation",
    ),
}  # fmt: skip


class _Line:
    """A file-like object that hands back what csv.writer wrote to it."""

    def write(self, text: str) -> str:
        return text


def csv_lines(kind: str, days: DayRange) -> Generator[str, None, None]:
    """The export `kind` ("calls", "refunds", "tickets") as CSV text, a line at a time."""
    export = EXPORTS[kind]
    writer = csv.writer(_Line())
    yield BOM + writer.writerow(export.titles())
    cursor = sync_db()[export.collection].find(
        days.match(export.time_field), export.projection, sort=[(export.time_field, 1)]
    )
    for batch in _batches(cursor, BATCH):
        found = people(doc.get("user_id") for doc in batch)
        for doc in batch:
            yield writer.writerow([cell(value) for value in export.row(doc, found)])


def _batches(docs: Iterable[Document], size: int) -> Iterator[list[Document]]:
    iterator = iter(docs)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
