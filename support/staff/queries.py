"""Read-side queries of the staff pages, shaped for large collections.

No query here joins collections ($lookup is slow on big tables): related documents are fetched
by their ids, and lists are paged by asking for one row more than shown instead of counting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from django.db.models import QuerySet
from django.utils import timezone

from support.models import (
    Escalation,
    EscalationStatus,
    Priority,
)
from support.mongo import sync_db

PAGE_SIZE = 50
PRIORITY_ORDER = [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


class Sliceable(Protocol[T_co]):
    def __getitem__(self, window: slice, /) -> Iterable[T_co]: ...


# Ranges of recent time `newest_first` tries, narrowest first; None is "all of it".
WINDOWS = (dt.timedelta(hours=6), dt.timedelta(days=1), dt.timedelta(days=7),
           dt.timedelta(days=31), dt.timedelta(days=183), dt.timedelta(days=731), None)  # fmt: skip
# Keys that narrow a match to a handful of documents (one customer's): no windows needed.
SELECTIVE_KEYS = ("user_id", "call_id", "ticket_id", "order_id")


def newest_first(
    collection: Any, match: dict[str, Any], field: str, projection: dict[str, Any],
    start: int, stop: int | None,
) -> list[Any]:  # fmt: skip
    """Documents `start:stop` of `match`, newest `field` first, without sorting them all.

    SecantusDB (the embedded server) applies skip/limit only after fetching and sorting every
    candidate: "the newest 50 of 50,000 calls" read all 50,000. A page is instead read from a
    recent range of `field` (an index range scan), widened until the range holds the page:
    the range is newer than everything outside it, so a full page from it is exactly the page.
    Matches on a selective key (one customer's calls) are read directly.
    """
    limit = 0 if stop is None else stop - start
    if stop is not None and limit <= 0:
        return []
    sort = [(field, -1), ("_id", -1)]
    windows: tuple[dt.timedelta | None, ...] = WINDOWS
    if any(key in match for key in SELECTIVE_KEYS) or stop is None:
        windows = (None,)
    # Windows reach back from the newest time the match allows ("until" a past day).
    newest = (match.get(field) or {}).get("$lt") or timezone.now()
    docs: list[Any] = []
    for window in windows:
        ranged = dict(match)
        if window is not None:
            bounds = dict(ranged.get(field) or {})
            since = newest - window
            bounds["$gte"] = max(bounds["$gte"], since) if "$gte" in bounds else since
            ranged[field] = bounds
        docs = list(collection.find(ranged, projection, sort=sort, skip=start, limit=limit))
        if len(docs) == limit:
            break
    return docs


def page_of(rows: Sliceable[Any], number: int, size: int = PAGE_SIZE) -> Page[Any]:
    """Page `number` (from 1) without counting the whole result."""
    number = max(1, number)
    start = (number - 1) * size
    found = list(rows[start : start + size + 1])
    return Page(rows=found[:size], number=number, has_next=len(found) > size)


class ByPriority:
    """Tickets most urgent first, then oldest first, read one priority at a time.

    One query sorting by a computed rank (a $switch over `priority`) cannot use an index: the
    embedded SecantusDB fetched, ranked and sorted every open ticket for each page (thousands
    at 10,000 tickets). Each priority instead is an equality match on the
    `escalations_queue_priority` index (status, priority, created_at), read in rank order
    until the page is full; earlier priorities are only counted when a later page starts
    past them. The ids come from PyMongo because the ORM sends two conditions as a top-level
    `$and`, which SecantusDB's planner never matches to an index; the rows then come from
    the ORM by `_id`.
    """

    def __init__(self, status: str, assignee: str | None = None) -> None:
        self.match: dict[str, Any] = {"status": status}
        if assignee:
            self.match["assignee"] = assignee
        self.parts: list[dict[str, Any]] = [{**self.match, "priority": p.value}
                                            for p in PRIORITY_ORDER]  # fmt: skip
        # Anything outside the known priorities ranks last, as it did in the single query.
        self.parts.append({**self.match, "priority": {"$nin": [p.value for p in PRIORITY_ORDER]}})

    def __getitem__(self, window: slice) -> list[Escalation]:
        start, stop = window.start or 0, window.stop
        collection = sync_db()[Escalation._meta.db_table]
        ids: list[Any] = []
        skip = start
        for part in self.parts:
            wanted = 0 if stop is None else stop - start - len(ids)
            if stop is not None and wanted <= 0:
                break
            if skip:
                before = collection.count_documents(part)
                if before <= skip:
                    skip -= before
                    continue
            found = collection.find(part, {"_id": 1}, sort=[("created_at", 1)], skip=skip,
                                    limit=wanted)  # fmt: skip
            ids.extend(doc["_id"] for doc in found)
            skip = 0
        by_id = {t.pk: t for t in Escalation.objects.filter(pk__in=ids).defer("notes")}
        return [by_id[i] for i in ids if i in by_id]


def queue(status: str, assignee: str | None = None) -> QuerySet[Escalation] | ByPriority:
    """Tickets in one state; open and claimed ones most urgent first, then oldest first."""
    if status != EscalationStatus.RESOLVED:
        return ByPriority(status, assignee)
    tickets = Escalation.objects.filter(status=status).defer("notes")
    if assignee:
        tickets = tickets.filter(assignee=assignee)
    # The key breaks ties (tickets resolved together by an admin action share the instant):
    # pages read with skip/limit then neither repeat nor skip one.
    return tickets.order_by("-resolved_at", "-pk")
