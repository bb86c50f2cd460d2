"""Calls on staff pages: lists that read only the fields they show, and one call in full.

A call's record grows with its transcript and tool calls (often tens of kilobytes); lists read
only `CallRow.FIELDS` (plus `outcome`, contract section 10, where the record has one) through
PyMongo, newest first over a recent `started_at` range (see `newest_first`), so loading call
lists does not pull transcripts through the server while calls are running on it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.urls import reverse

from support.models import Call, Customer
from support.mongo import Document, sync_db
from support.staff.aftercall import cancelled_by_the_call, unreadable, words
from support.staff.conversation import Entry, conversation
from support.staff.labels import (
    channel_label,
    duration_s,
    end_reason_label,
    mmss,
    outcome_label,
    usage_rows,
)
from support.staff.people import people, staff_names
from support.staff.queries import newest_first


@dataclass
class CallRow:
    call_id: str
    user_id: int | None
    channel: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str
    outcome: str | None
    person: Customer | None = None
    url: str = ""  # this call's page
    summary: str = ""  # read only where a list asks for it (`CallList(summaries=True)`)
    follow_up: str = ""
    since: str = ""  # what was done about the follow-up since the call (aftercall.done_since)
    # The callbacks its own cancel_callback cancelled (aftercall.cancelled_by_the_call), read
    # with the summary: not done since the call, though they may have finished after its end.
    cancelled_here: frozenset[str] = frozenset()

    FIELDS = ("call_id", "user_id", "channel", "started_at", "ended_at", "end_reason", "outcome")

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> CallRow:
        started = doc.get("started_at")
        assert started is not None  # every call record has its start
        return cls(
            call_id=str(doc["call_id"]),
            user_id=doc.get("user_id"),
            channel=str(doc.get("channel", "")),
            started_at=started,
            ended_at=doc.get("ended_at"),
            end_reason=str(doc.get("end_reason") or ""),
            outcome=doc.get("outcome"),
            summary=_summary_field(doc, "text"),
            follow_up=_summary_field(doc, "follow_up"),
            cancelled_here=frozenset(cancelled_by_the_call(doc)),
        )

    @property
    def duration(self) -> str:
        return mmss(duration_s(self.started_at, self.ended_at))

    @property
    def outcome_label(self) -> str:
        return outcome_label(self.outcome)

    @property
    def end_label(self) -> str:
        return end_reason_label(self.end_reason) if self.ended_at else "In progress"

    @property
    def channel_label(self) -> str:
        return channel_label(self.channel)

    @property
    def who(self) -> str:
        """Whom the call was with, for a title (`person` looked up)."""
        if self.person is not None:
            return self.person.name
        if self.user_id is None:
            return "an unidentified caller"
        return f"customer #{self.user_id} (not found)"  # since deleted


def _summary_field(doc: Mapping[str, Any], name: str) -> str:
    """The summary's text or follow-up in words; "" for a summary that cannot be read
    (aftercall.unreadable), whose call page says so."""
    summary = doc.get("summary")
    if not isinstance(summary, Mapping) or unreadable(summary):
        return ""
    return words(summary.get(name)) or ""


PROJECTION = {"_id": 0, **{name: 1 for name in CallRow.FIELDS}}
# With the summary, what says which callbacks the call cancelled itself (not the tools' args).
SUMMARY_PROJECTION = dict.fromkeys(("summary.text", "summary.follow_up", "tool_calls.name",
                                    "tool_calls.ok", "tool_calls.result.callback_id"), 1)


class CallList:
    """Calls matching a filter, newest first, sliced a page at a time (see queries.page_of).
    With `summaries`, each row also carries its summary's text and follow-up, and the
    callbacks the call cancelled itself (a few hundred bytes a call, so only where a page
    shows them)."""

    def __init__(self, match: Document, *, summaries: bool = False) -> None:
        self.match = match
        self.projection = PROJECTION | (SUMMARY_PROJECTION if summaries else {})

    def __getitem__(self, window: slice) -> list[CallRow]:
        docs = newest_first(sync_db()[Call._meta.db_table], self.match, "started_at",
                            self.projection, window.start or 0, window.stop)  # fmt: skip
        rows = [CallRow.from_document(doc) for doc in docs]
        found = people(row.user_id for row in rows)
        page = reverse("staff:call", args=["-"]).removesuffix("-/")
        for row in rows:
            row.person = found.get(row.user_id) if row.user_id is not None else None
            row.url = f"{page}{quote(row.call_id, safe='')}/"
        return rows


def recent_calls(user_id: int, limit: int) -> list[CallRow]:
    return CallList({"user_id": user_id}, summaries=True)[0:limit]


@dataclass
class CallDetail:
    """One call for its page. `record` is the whole `calls` document, for what later parts of
    the product add to it (a summary, a recording, cost) and the template's blocks show."""

    row: CallRow
    entries: list[Entry]
    usage: list[tuple[str, str]]
    record: Document

    @property
    def cost(self) -> str:
        cost = self.record.get("cost")
        if not isinstance(cost, Mapping) or "amount" not in cost:
            return ""
        return f"{cost['amount']} {cost.get('currency', '')}".strip()


def call_detail(
    call_id: str, reader: str = "", names: Mapping[str, str] | None = None
) -> CallDetail | None:
    """The call `call_id` for its page, or None. `reader`: who reads it live (the live call
    view), whose own staff lines say "You" (conversation); `names`: staff_names(), read here
    when not given and the call has staff lines."""
    record = sync_db()[Call._meta.db_table].find_one({"call_id": call_id}, {"_id": 0})
    if record is None:
        return None
    row = CallRow.from_document(record)
    if row.user_id is not None:
        row.person = people([row.user_id]).get(row.user_id)
    if names is None and record.get("staff_events"):
        names = staff_names()
    entries = conversation(row.started_at, record.get("transcript") or [],
                           record.get("tool_calls") or [], record.get("staff_events") or [],
                           names, reader=reader)  # fmt: skip
    return CallDetail(row, entries, usage_rows(record.get("usage")), record)
