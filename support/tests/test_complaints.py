"""The same complaint filed again is answered with the one on file, not filed twice; a
different complaint still files (support/complaints.py, the file_complaint tool)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Hashable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from support import complaints, mongo
from support.complaints import likeness, resolve_complaints, similar
from support.models import Customer
from support.tools import ToolContext, run_tool

pytestmark = pytest.mark.django_db

ASHA = ToolContext(user_id=101, call_id="call-asha", channel="web")
ASHA_CALLING_BACK = ToolContext(user_id=101, call_id="call-asha-again", channel="web")
RAVI = ToolContext(user_id=202, call_id="call-ravi", channel="web")

NO_RAITA = {"order_id": "ORD-1001", "category": "missing_items", "description": "No raita"}


async def complain(ctx: ToolContext, **changes: str | None) -> dict[str, Any]:
    args = {key: value for key, value in {**NO_RAITA, **changes}.items() if value is not None}
    result = await run_tool("file_complaint", args, ctx)
    assert result["ok"], result
    return result


async def complaints_on_file() -> int:
    return await mongo.async_db().complaints.count_documents({})


async def test_the_same_complaint_filed_twice_in_a_call_is_filed_once(asha: Customer) -> None:
    first = await complain(ASHA)
    again = await complain(ASHA)

    assert first["already_filed"] is False
    assert again == {"ok": True, "complaint_id": first["complaint_id"], "status": "open",
                     "already_filed": True}  # fmt: skip
    assert await complaints_on_file() == 1


@pytest.mark.parametrize("again", ["no raita.", "  No   RAITA!! ", "No raitha", "No raita?"])
async def test_nearly_the_same_words_are_the_same_complaint(asha: Customer, again: str) -> None:
    first = await complain(ASHA)
    second = await complain(ASHA, description=again)

    assert second["complaint_id"] == first["complaint_id"]


async def test_the_same_words_under_another_category_are_the_same_complaint(
    asha: Customer,
) -> None:
    first = await complain(ASHA)
    second = await complain(ASHA, category="wrong_order")

    assert second["complaint_id"] == first["complaint_id"]


async def test_the_same_complaint_filed_several_times_at_once_is_filed_once(
    asha: Customer,
) -> None:
    """Parallel function calls: one complaint, every call told its id."""
    results = await asyncio.gather(*(complain(ASHA) for _ in range(5)))

    assert len({result["complaint_id"] for result in results}) == 1
    assert sorted(result["already_filed"] for result in results) == [False] + [True] * 4
    assert await complaints_on_file() == 1


def two_processes_look_before_either_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers (or a retried tool call on another): neither waits for the other's filing,
    as each process takes its own one at a time, and both find nothing on file before either
    files."""

    @contextlib.asynccontextmanager
    async def a_lock_of_its_own(key: Hashable) -> AsyncIterator[None]:
        yield

    look, both_looked, looks = complaints._on_file, asyncio.Barrier(2), 0

    async def look_then_wait_for_the_other(*args: Any) -> Any:
        nonlocal looks
        looks += 1
        found = await look(*args)
        if looks <= 2:  # each process's first look; a look after a clash goes straight on
            await both_looked.wait()
        return found

    monkeypatch.setattr(complaints, "_one_at_a_time", a_lock_of_its_own)
    monkeypatch.setattr(complaints, "_on_file", look_then_wait_for_the_other)


@pytest.mark.parametrize("second_call", [ASHA, ASHA_CALLING_BACK], ids=["retried", "two calls"])
async def test_the_same_complaint_filed_at_once_from_two_processes_is_filed_once(
    asha: Customer, monkeypatch: pytest.MonkeyPatch, second_call: ToolContext
) -> None:
    two_processes_look_before_either_files(monkeypatch)

    results = await asyncio.gather(complain(ASHA), complain(second_call))

    assert len({result["complaint_id"] for result in results}) == 1
    assert sorted(result["already_filed"] for result in results) == [False, True]
    assert await complaints_on_file() == 1


async def test_different_complaints_filed_at_once_from_two_processes_both_file(
    asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_processes_look_before_either_files(monkeypatch)

    results = await asyncio.gather(
        complain(ASHA), complain(ASHA_CALLING_BACK, description="The rider was rude")
    )

    assert [result["already_filed"] for result in results] == [False, False]
    assert await complaints_on_file() == 2


async def test_a_complaint_resolved_at_once_does_not_stop_the_same_one_filed_after_it(
    asha: Customer,
) -> None:
    """Its keys still cover this minute: they are let go, and the new one holds them."""
    first = await complain(ASHA)
    await sync_to_async(resolve_complaints)([first["complaint_id"]])

    again = await complain(ASHA)
    once_more = await complain(ASHA_CALLING_BACK)

    assert again["already_filed"] is False
    assert (once_more["complaint_id"], once_more["already_filed"]) == (again["complaint_id"], True)
    assert await complaints_on_file() == 2


@pytest.mark.parametrize(
    "changes",
    [{"description": "The rider was rude"}, {"description": "Missing salan"},
     {"order_id": "ORD-1002"}, {"order_id": None}],
    ids=["other words", "near words, other thing", "another order", "no order"],
)  # fmt: skip
async def test_a_different_complaint_still_files(
    asha: Customer, changes: dict[str, str | None]
) -> None:
    first = await complain(ASHA)
    second = await complain(ASHA, **changes)

    assert second["complaint_id"] != first["complaint_id"]
    assert second["already_filed"] is False
    assert await complaints_on_file() == 2


async def test_another_customers_same_words_are_their_own_complaint(
    asha: Customer, ravi: Customer
) -> None:
    first = await complain(ASHA, order_id=None)
    second = await complain(RAVI, order_id=None)

    assert second["complaint_id"] != first["complaint_id"]


async def test_calling_back_soon_about_the_same_thing_answers_the_first_complaint(
    asha: Customer,
) -> None:
    first = await complain(ASHA)

    again = await complain(ASHA_CALLING_BACK)

    assert (again["complaint_id"], again["already_filed"]) == (first["complaint_id"], True)


async def test_calling_back_long_after_files_it_again(asha: Customer) -> None:
    first = await complain(ASHA)
    await mongo.async_db().complaints.update_one(
        {"complaint_id": first["complaint_id"]},
        {"$set": {"created_at": timezone.now() - timedelta(minutes=45)}},
    )

    again = await complain(ASHA_CALLING_BACK)

    assert again["complaint_id"] != first["complaint_id"]


async def test_within_one_call_it_is_the_same_complaint_however_long_ago(
    asha: Customer,
) -> None:
    first = await complain(ASHA)
    await mongo.async_db().complaints.update_one(
        {"complaint_id": first["complaint_id"]},
        {"$set": {"created_at": timezone.now() - timedelta(minutes=45)}},
    )

    again = await complain(ASHA)

    assert again["complaint_id"] == first["complaint_id"]


async def test_once_resolved_the_same_complaint_files_anew(asha: Customer) -> None:
    first = await complain(ASHA)
    await sync_to_async(resolve_complaints)([first["complaint_id"]])

    again = await complain(ASHA)

    assert again["complaint_id"] != first["complaint_id"]


async def test_callers_we_could_not_identify_are_told_apart_by_their_call(db: Any) -> None:
    one_caller = ToolContext(user_id=None, call_id="unknown-1", channel="phone")
    another = ToolContext(user_id=None, call_id="unknown-2", channel="phone")
    dirty_bag = {"order_id": None, "category": "hygiene", "description": "Dirty bag"}

    first = await complain(one_caller, **dirty_bag)
    same_call = await complain(one_caller, **dirty_bag)
    other_call = await complain(another, **dirty_bag)

    assert same_call["complaint_id"] == first["complaint_id"]
    assert other_call["complaint_id"] != first["complaint_id"]


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [("The biryani was cold", "biryani was cold", True),
     ("Food was cold", "Food was late", False),
     ("Rider was rude", "Rider was late", False)],
)  # fmt: skip
def test_descriptions_are_alike_by_their_words(one: str, other: str, same: bool) -> None:
    assert similar(one, other) is same


def test_descriptions_in_hindi_are_compared_by_their_words() -> None:
    assert similar("खाना ठंडा था!", "खाना ठंडा था")
    assert not similar("खाना ठंडा था", "रायता नहीं आया")


async def test_a_description_of_the_longest_kind_is_compared_without_holding_up_the_process(
    asha: Customer,
) -> None:
    """1,000 characters of few letters, in another order than an earlier complaint's: the
    comparison ran seconds on the event loop (every call of the process silent meanwhile)."""
    await complain(ASHA, description="a b" * 333)

    started = time.perf_counter()
    second = await complain(ASHA, description="b a" * 333)
    took = time.perf_counter() - started

    assert second["already_filed"] is False
    assert took < 2, f"{took:.1f} s"


async def test_a_filing_is_compared_with_the_newest_of_many_complaints_on_file(
    asha: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each comparison takes up to a millisecond on the event loop: thousands of complaints
    on file (a script talking through the model) held up the process at every filing."""
    a_while_ago = timezone.now() - timedelta(minutes=10)
    await mongo.async_db().complaints.insert_many([
        {"complaint_id": f"CMP-OLD-{n}", "user_id": 101, "order_id": "ORD-1001",
         "category": "other", "description": f"Complaint number {n}", "status": "open",
         "call_id": "call-asha", "created_at": a_while_ago + timedelta(milliseconds=n)}
        for n in range(500)
    ])  # fmt: skip
    compare, compared = complaints.same_complaint, 0

    def counted(*args: Any) -> bool:
        nonlocal compared
        compared += 1
        return compare(*args)

    monkeypatch.setattr(complaints, "same_complaint", counted)

    first = await complain(ASHA)
    again = await complain(ASHA)
    an_earlier_one = await complain(ASHA, description="Complaint number 499")

    assert (again["complaint_id"], again["already_filed"]) == (first["complaint_id"], True)
    assert an_earlier_one == {"ok": True, "complaint_id": "CMP-OLD-499", "status": "open",
                              "already_filed": True}  # fmt: skip
    assert compared <= 3 * 50  # the newest 50 at each filing, at most


@pytest.mark.parametrize(
    ("one", "other"),
    [("", ""), ("", "x"), ("abc", "abc"), ("no raita", "no raitha"), ("ab" * 50, "ba" * 50),
     ("खाना ठंडा था", "रायता नहीं आया"), ("abcbdab", "bdcaba")],
)  # fmt: skip
def test_likeness_is_the_share_of_the_longest_common_subsequence(one: str, other: str) -> None:
    assert likeness(one, other) == pytest.approx(longest_common_share(one, other))


def longest_common_share(one: str, other: str) -> float:
    """The textbook dynamic programme, as a reference."""
    if not one and not other:
        return 1.0
    above = [0] * (len(other) + 1)
    for char in one:
        row = [0]
        for j, theirs in enumerate(other):
            row.append(above[j] + 1 if char == theirs else max(above[j + 1], row[j]))
        above = row
    return 2 * above[-1] / (len(one) + len(other))
