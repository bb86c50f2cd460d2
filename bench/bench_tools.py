"""How fast the agent's tools answer, relative to a bare `find_one` on the same server.

    .venv/bin/python -m bench.bench_tools [--runs 300]

Starts its own SecantusDB in a temporary directory (or uses MONGODB_URI when set, in a
database of its own that it drops afterwards), runs the migrations (indexes, refund tiers),
loads 10,000 customers and 100,000 orders, then times each tool through `run_tool`, one call
at a time, for varied customers. Goals: read tools within 3x a bare find_one, initiate_refund
(a transaction of three writes) within 6x.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CUSTOMERS = 10_000
ORDERS = 100_000
BATCH = 10_000
BENCH_DB = "voice_support_bench"
SEED = 20250314

READ_GOAL = 3.0
REFUND_GOAL = 6.0

RESTAURANTS = ["Biryani Blues", "Dosa Point", "Pizza Corner", "Tandoor House", "Chaat Street"]
DISHES = [("Chicken Biryani", 32_000), ("Masala Dosa", 12_000), ("Paneer Tikka", 24_000),
          ("Margherita", 29_900), ("Pani Puri", 6_000), ("Butter Naan", 4_500)]  # fmt: skip
# Most orders are old and delivered; a few are in progress, cancelled or refunded.
STATUSES = (["delivered"] * 80 + ["cancelled"] * 8 + ["refunded"] * 6
            + ["placed", "preparing", "out_for_delivery"] * 2)  # fmt: skip


@dataclass
class Figures:
    name: str
    samples: list[float]  # seconds

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.samples, n=100, method="inclusive")[p - 1]


@contextmanager
def database() -> Iterator[tuple[str, bool]]:
    """(URI, external) for the run: MONGODB_URI if set, else a fresh embedded SecantusDB."""
    uri = os.environ.get("MONGODB_URI")
    if uri:
        yield uri, True
        return
    from voiceproject.embedded_db import EmbeddedMongo

    with (
        tempfile.TemporaryDirectory(prefix="bench-tools-") as tmp,
        EmbeddedMongo(Path(tmp) / "data") as server,
    ):
        yield server.uri, False


def setup_django(uri: str) -> None:
    os.environ["MONGODB_URI"] = uri
    os.environ["MONGODB_DB"] = BENCH_DB
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-never-used-to-sign-anything-0123")
    import django
    from django.core.management import call_command

    django.setup()
    from support import mongo

    mongo.sync_db().client.drop_database(BENCH_DB)
    # The migrations create the indexes the tools rely on and the default refund tiers.
    call_command("migrate", verbosity=0, skip_checks=True)


def warn_if_user_id_unindexed() -> None:
    """The baseline (and every tool) looks customers up by user_id: say if that scans."""
    from support import mongo

    indexes = mongo.sync_db().customers.index_information().values()
    if not any(
        index["key"][0][0] == "user_id" and "partialFilterExpression" not in index
        for index in indexes
    ):
        # A partial index filtered on {$type: "long"} holds none of the int32 user_ids.
        print("warning: customers.user_id has no plain index: lookups scan the collection")


def load(
    rng: random.Random, refundable: int, customers: int = CUSTOMERS, orders: int = ORDERS
) -> list[tuple[int, str]]:
    """Insert the customers and orders; return (user_id, order_id) of `refundable` orders
    delivered half an hour ago, each of a different customer."""
    from support import mongo

    db = mongo.sync_db()
    now = datetime.now(UTC)
    db.customers.insert_many(
        {
            "user_id": user_id,
            "name": f"Customer {user_id}",
            "phone": f"+9198{user_id:08d}",
            "email": f"customer{user_id}@example.com",
            "wallet_balance": 0,
            "created_at": now - timedelta(days=400),
        }
        for user_id in range(1, customers + 1)
    )
    recent_owners = rng.sample(range(1, customers + 1), refundable)
    batch: list[dict[str, Any]] = []
    for n in range(orders):
        recent = n < refundable
        user_id = recent_owners[n] if recent else rng.randint(1, customers)
        batch.append(_order(rng, n, user_id, now, recent))
        if len(batch) == BATCH:
            db.orders.insert_many(batch, ordered=False)
            batch = []
    if batch:
        db.orders.insert_many(batch, ordered=False)
    return [(user_id, _order_id(n)) for n, user_id in enumerate(recent_owners)]


def _order_id(n: int) -> str:
    return f"ORD-{100_001 + n}"


def _order(
    rng: random.Random, n: int, user_id: int, now: datetime, recent: bool
) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {"name": name, "qty": rng.randint(1, 3), "price": price}
        for name, price in rng.sample(DISHES, rng.randint(1, 3))
    ]
    amount = sum(item["qty"] * item["price"] for item in items)
    status = "delivered" if recent else rng.choice(STATUSES)
    age = timedelta(hours=1) if recent else timedelta(minutes=rng.randint(180, 525_600))
    placed_at = now - age
    delivered = status in ("delivered", "refunded")
    refund = None
    if status == "refunded":
        refund = {"amount": amount * 30 // 100, "percent": 30, "refund_id": f"RFD-B{n:05d}",
                  "at": placed_at + timedelta(hours=1)}  # fmt: skip
    return {
        "order_id": _order_id(n),
        "user_id": user_id,
        "restaurant": rng.choice(RESTAURANTS),
        "items": items,
        "amount": amount,
        "status": status,
        "placed_at": placed_at,
        "delivered_at": placed_at + timedelta(minutes=30) if delivered else None,
        "refund": refund,
    }


# Answers that mean the benchmark itself is broken, not a policy decision.
BROKEN = ("invalid_argument", "unavailable", "not_identified", "not_found")

Operation = Callable[[int], Awaitable[Any]]

WARM_UP = 20


async def timed_rounds(operations: dict[str, Operation], runs: int) -> list[Figures]:
    """Time each operation `runs` times, in rounds of one call each, so that whatever else
    the machine is doing slows every operation alike; `op(i)` gets the round number."""
    for i in range(WARM_UP):  # pools, caches: not counted
        for operation in operations.values():
            await operation(runs + i)
    samples: dict[str, list[float]] = {name: [] for name in operations}
    for i in range(runs):
        for name, operation in operations.items():
            start = time.perf_counter()
            await operation(i)
            samples[name].append(time.perf_counter() - start)
    return [Figures(name, times) for name, times in samples.items()]


async def measure(
    rng: random.Random, runs: int, customer_count: int, refundable: list[tuple[int, str]]
) -> list[Figures]:
    from support import mongo
    from support.tools import ToolContext, run_tool

    db = mongo.async_db()
    calls = runs + WARM_UP
    customers = [rng.randint(1, customer_count) for _ in range(calls)]
    sampled = await db.orders.aggregate(
        [{"$sample": {"size": calls}}, {"$project": {"_id": 0, "order_id": 1, "user_id": 1}}]
    )
    orders = [(doc["user_id"], doc["order_id"]) async for doc in sampled]

    calls_made = itertools.count(1)

    async def tool(
        name: str, user_id: int, args: dict[str, str], must_succeed: bool = False
    ) -> None:
        # Each tool call in a call of its own: a call remembers what it asked, and one call
        # for all of them made every escalate_to_human after the first a note on one ticket
        # ("asked again"), never a ticket opened.
        ctx = ToolContext(user_id=user_id, call_id=f"bench-{next(calls_made)}")
        result = await run_tool(name, args, ctx)
        # A policy refusal (an old order) is a real answer; an error would spoil the figures.
        if not result["ok"] and (must_succeed or result["reason"] in BROKEN):
            raise RuntimeError(f"{name}{args} failed: {result}")

    figures = await timed_rounds(
        {
            "find_one (bare)": lambda i: db.customers.find_one({"user_id": customers[i]}),
            "get_user_profile": lambda i: tool("get_user_profile", customers[i], {}),
            "check_order_status": lambda i: tool("check_order_status", customers[i], {}),
            "get_order_details": lambda i: tool(
                "get_order_details", orders[i][0], {"order_id": orders[i][1]}
            ),
            "initiate_refund": lambda i: tool(
                "initiate_refund", refundable[i][0],
                {"order_id": refundable[i][1], "reason": "cold food"}, must_succeed=True,
            ),
            "file_complaint": lambda i: tool(
                "file_complaint", orders[i][0],
                {"order_id": orders[i][1], "category": "food_quality", "description": "cold"},
            ),
            "escalate_to_human": lambda i: tool(
                "escalate_to_human", customers[i], {"reason": "bench"}
            ),
        },
        runs,
    )  # fmt: skip
    await mongo.close_async_client()
    return figures


def report(figures: list[Figures]) -> None:
    base = figures[0]
    base50, base95 = base.percentile(50), base.percentile(95)
    goals = {"get_user_profile": READ_GOAL, "check_order_status": READ_GOAL,
             "get_order_details": READ_GOAL, "initiate_refund": REFUND_GOAL}  # fmt: skip
    print(f"{'operation':<20} {'p50 ms':>8} {'p95 ms':>8} {'p50 x':>7} {'p95 x':>7}  goal")
    for fig in figures:
        p50, p95 = fig.percentile(50), fig.percentile(95)
        goal = goals.get(fig.name)
        verdict = ""
        if goal is not None:
            met = p50 / base50 <= goal and p95 / base95 <= goal
            verdict = f"<= {goal:.0f}x  {'met' if met else 'MISSED'}"
        print(f"{fig.name:<20} {p50 * 1000:8.2f} {p95 * 1000:8.2f} "
              f"{p50 / base50:7.2f} {p95 / base95:7.2f}  {verdict}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="timed calls per operation")
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--orders", type=int, default=ORDERS)
    options = parser.parse_args()
    rng = random.Random(SEED)
    with database() as (uri, external):
        setup_django(uri)
        started = time.perf_counter()
        refundable = load(rng, options.runs + WARM_UP, options.customers, options.orders)
        seconds = time.perf_counter() - started
        print(f"{options.customers:,} customers and {options.orders:,} orders loaded in "
              f"{seconds:.0f} s; {options.runs} runs of each, interleaved\n")  # fmt: skip
        warn_if_user_id_unindexed()
        report(asyncio.run(measure(rng, options.runs, options.customers, refundable)))
        if external:  # an embedded server's data goes with its temporary directory
            from support import mongo

            mongo.sync_db().client.drop_database(BENCH_DB)


if __name__ == "__main__":
    main()
