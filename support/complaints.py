"""Complaints: filed by the voice agent, worked by staff.

`file_complaint` is the one way the agent's tool records one. The model may file the same
complaint again (two function calls at once, again a turn later, or after the customer rang
back about it), so a complaint like one already on file (same customer, same order or none,
the same words or nearly) is answered with that one rather than filed twice: see
`same_complaint` for what counts as the same. Two processes (two calls of the customer on two
workers, a tool call retried on another) cannot see each other's filing in flight: for them a
unique index on `dedupe_keys` (migration 0016) keeps the same words filed at once to one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from pymongo.errors import DuplicateKeyError

from support import mongo
from support.ids import clash_on, insert_with_fresh_id
from support.models import Complaint, ComplaintStatus
from support.mongo import Document

OPEN = ComplaintStatus.OPEN.value
RESOLVED = ComplaintStatus.RESOLVED.value

# A complaint filed again within this long of the first, from any call, is the first one;
# within the same call it is at any time (complaints of the last CALL_LOOKBACK are looked at:
# longer than any call lasts).
REFILE_WINDOW = timedelta(minutes=30)
CALL_LOOKBACK = timedelta(hours=6)
# How alike two descriptions must be (`likeness` of their words) to be one complaint:
# "The biryani was cold" and "biryani was cold" are (0.89), "Missing raita" and "Missing
# salan" are not (0.77).
SIMILAR = 0.85
# How many earlier complaints (the newest) a filing is compared with: each comparison takes up
# to a millisecond on the event loop, and a customer (or a script talking through the model)
# with thousands on file would hold up every call of the process at each filing. Far more than
# one customer files about one order within hours.
REFILE_CANDIDATES = 50
# A complaint's keys (`dedupe_keys`): its customer (or call), order and words, for the minute it
# was filed and the next. Unique (migration 0016), so two filings of the same words less than a
# minute apart share one whichever minutes they fall in, and the second is refused by the
# database even when another process read "nothing on file" at the same moment.
DEDUPE_KEYS = "dedupe_keys"
DEDUPE_SLOT = timedelta(minutes=1)


@dataclass(frozen=True)
class Filed:
    complaint_id: str
    status: str
    already_filed: bool  # the same complaint was on file: this is it, nothing new was recorded


async def file_complaint(
    *,
    user_id: int | None,
    order_id: str | None,
    category: str,
    description: str,
    call_id: str,
    now: datetime | None = None,
) -> Filed:
    """Record a complaint, or answer the same one already on file (`same_complaint`).

    Filings for one customer (for a caller we could not identify, one call) are taken one at
    a time in this process, so the same complaint filed several times at once is filed once;
    across processes the same words are (DEDUPE_KEYS), nearly the same words may not be.
    Raises PyMongoError when the database cannot be reached.
    """
    now = now or timezone.now()
    async with _one_at_a_time(user_id if user_id is not None else ("call", call_id)):
        earlier = await _on_file(user_id, order_id, description, call_id, now)
        if earlier is not None:
            return Filed(str(earlier["complaint_id"]), str(earlier["status"]), True)
        complaint: Document = {
            "user_id": user_id,
            "order_id": order_id,
            "category": category,
            "description": description,
            "status": OPEN,
            "call_id": call_id,
            "created_at": now,
        }
        keys = dedupe_keys(user_id, call_id, order_id, description, now)
        try:
            complaint_id = await _insert(complaint, keys)
        except DuplicateKeyError as clash:
            if not clash_on(clash, DEDUPE_KEYS):
                raise
            # Another process filed the same words a moment ago: that one is on file now.
            earlier = await _on_file(user_id, order_id, description, call_id, now)
            if earlier is not None:
                return Filed(str(earlier["complaint_id"]), str(earlier["status"]), True)
            # What holds the keys is not this complaint (resolved since): it lets go of them.
            await _release_keys(keys, now)
            complaint_id = await _insert(complaint, keys)
    return Filed(complaint_id, OPEN, False)


def dedupe_keys(
    user_id: int | None, call_id: str, order_id: str | None, description: str, now: datetime
) -> list[str]:
    """The keys of a complaint filed at `now` (see DEDUPE_KEYS); none for an unknown caller
    outside any call, whom nothing tells apart from others (as `_on_file`)."""
    if user_id is None and not call_id:
        return []
    who = ["user", user_id] if user_id is not None else ["call", call_id]
    # Hashed: the description is up to 1,000 characters, and the customer's own words.
    what = json.dumps([*who, order_id, _words(description)], ensure_ascii=False)
    digest = hashlib.sha256(what.encode()).hexdigest()[:32]
    slot = int(now.timestamp() // DEDUPE_SLOT.total_seconds())
    return [f"{digest}:{slot}", f"{digest}:{slot + 1}"]


async def _insert(complaint: Document, keys: list[str]) -> str:
    keyed = {**complaint, DEDUPE_KEYS: keys} if keys else complaint
    return await insert_with_fresh_id(mongo.async_db().complaints, "complaint_id", "CMP", keyed)


async def _release_keys(keys: list[str], now: datetime) -> None:
    """Take `keys` off the complaints holding them that a complaint filed `now` is not (as
    `_on_file` found): resolved, or filed too long ago (a `created_at` set back by hand). One
    filed in the meantime by another process keeps them."""
    await mongo.async_db().complaints.update_many(
        {DEDUPE_KEYS: {"$in": keys},
         "$or": [{"status": RESOLVED}, {"created_at": {"$lt": now - REFILE_WINDOW}}]},
        {"$unset": {DEDUPE_KEYS: ""}},
    )  # fmt: skip


async def _on_file(
    user_id: int | None, order_id: str | None, description: str, call_id: str, now: datetime
) -> Document | None:
    """The newest unresolved complaint `same_complaint` takes for this one, if any, among
    the newest REFILE_CANDIDATES of the customer's (or the call's) about the same order."""
    if user_id is None and not call_id:
        return None  # an unknown caller outside any call: nobody to tell apart from others
    who: Document = {"user_id": user_id} if user_id is not None else {
        "user_id": None, "call_id": call_id,
    }  # fmt: skip
    candidates = await mongo.async_db().complaints.find(
        {**who, "order_id": order_id, "status": {"$ne": RESOLVED},
         "created_at": {"$gte": now - CALL_LOOKBACK}},
        {"_id": 0, "complaint_id": 1, "status": 1, "description": 1, "call_id": 1,
         "created_at": 1},
        sort=[("created_at", -1)], limit=REFILE_CANDIDATES,
    ).to_list()  # fmt: skip
    return next((doc for doc in candidates if same_complaint(doc, description, call_id, now)),
                None)  # fmt: skip


def same_complaint(earlier: Document, description: str, call_id: str, now: datetime) -> bool:
    """Whether a complaint described as `description` in call `call_id` is `earlier` (one of
    the same customer about the same order, or none, still unresolved): filed in the same
    call, or within REFILE_WINDOW, in the same words or nearly (case, punctuation and
    spacing aside; a word more or a letter misheard). The category is not compared: the model
    may file the same words under another one."""
    same_call = bool(call_id) and earlier.get("call_id") == call_id
    created_at = earlier.get("created_at")
    recent = isinstance(created_at, datetime) and created_at >= now - REFILE_WINDOW
    return (same_call or recent) and similar(str(earlier.get("description", "")), description)


def similar(one: str, other: str) -> bool:
    """Whether two descriptions say the same thing in (nearly) the same words."""
    a, b = _words(one), _words(other)
    return a == b or likeness(a, b) >= SIMILAR


def likeness(a: str, b: str) -> float:
    """How much of two texts is one: twice their longest common subsequence of characters
    over their lengths, from 0 to 1 (what difflib's ratio estimates, never below it).

    In linear steps over whole-text bit masks (Hyyrö's bit-parallel LCS), so that it takes
    about a millisecond for any two descriptions the tool accepts. difflib's SequenceMatcher
    took seconds on the event loop, holding up every call of the process, for 1,000 characters
    of few letters in another order ("a b a b..." against "b a b a...").
    """
    if not a or not b:
        return 1.0 if a == b else 0.0
    where: dict[str, int] = {}  # each character of `a`: the bits of its positions
    for position, char in enumerate(a):
        where[char] = where.get(char, 0) | 1 << position
    every = (1 << len(a)) - 1
    row = every  # its zero bits: the common subsequence so far
    for char in b:
        matched = row & where.get(char, 0)
        row = ((row + matched) | (row - matched)) & every
    common = len(a) - row.bit_count()
    return 2 * common / (len(a) + len(b))


def _words(text: str) -> str:
    """`text` as words: casefolded, punctuation, symbols and spacing made single spaces (by
    Unicode category, so that the vowel signs of Hindi and other Indian scripts stay)."""
    kept = (" " if unicodedata.category(char)[0] in "PSZC" else char for char in text.casefold())
    return " ".join("".join(kept).split())


# One filing at a time per key in this process: a lock a key, dropped when nobody holds or
# awaits it (so none outlives the event loop it was used on).
_locks: dict[Hashable, asyncio.Lock] = {}
_users: Counter[Hashable] = Counter()


@contextlib.asynccontextmanager
async def _one_at_a_time(key: Hashable) -> AsyncIterator[None]:
    lock = _locks.setdefault(key, asyncio.Lock())
    _users[key] += 1
    try:
        async with lock:
            yield
    finally:
        _users[key] -= 1
        if not _users[key]:
            del _users[key], _locks[key]


# --- What staff do ------------------------------------------------------------------------------


def resolve_complaints(complaint_ids: Iterable[str]) -> int:
    """Mark these complaints resolved; answer how many changed (already resolved ones don't).

    One conditional update: a complaint resolved meanwhile by someone else is not counted twice.
    """
    return (
        Complaint.objects.filter(complaint_id__in=list(complaint_ids))
        .exclude(status=ComplaintStatus.RESOLVED)
        .update(status=ComplaintStatus.RESOLVED)
    )


def review_complaints(complaint_ids: Iterable[str]) -> int:
    """Move open complaints to `in_review`; answer how many changed."""
    return Complaint.objects.filter(
        complaint_id__in=list(complaint_ids), status=ComplaintStatus.OPEN
    ).update(status=ComplaintStatus.IN_REVIEW)
