"""How fast the back office's big lists answer: the order change list and the staff queue.

    .venv/bin/python -m bench.bench_staff [--runs 25] [--explain]

Starts its own SecantusDB in a temporary directory (or uses MONGODB_URI when set, in a
database of its own that it drops afterwards), runs the migrations (indexes, groups, tiers),
bulk-loads 10,000 customers, 200,000 orders and 10,000 escalation tickets with PyMongo, makes
a staff user in the "Support agent" group and times whole pages through Django's test
`Client` in this process (middleware, admin, templates: what a person waits for, minus the
network). Goal: p95 under 300 ms for each page. `--explain` prints the plan MongoDB chose for
each page's main query (which index, or a collection scan and an in-memory sort).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

CUSTOMERS = 10_000
ORDERS = 200_000
TICKETS = 10_000
BATCH = 10_000
BENCH_DB = "voice_support_bench_staff"
SEED = 20250521
GOAL_MS = 300.0
WARM_UP = 3

FIRST_NAMES = ["Asha", "Ravi", "Priya", "Arjun", "Meera", "Kiran", "Sunil", "Divya", "Rahul",
               "Neha", "Vikram", "Anita", "Suresh", "Pooja", "Manoj", "Kavya", "Rohit", "Lakshmi",
               "Imran", "Fatima", "John", "Mary", "Harpreet", "Gurpreet", "Sneha"]  # fmt: skip
LAST_NAMES = ["Verma", "Kumar", "Nair", "Sharma", "Iyer", "Reddy", "Patel", "Singh", "Das",
              "Menon", "Gupta", "Khan", "Rao", "Joshi", "Pillai", "Bose", "Mehta", "Shetty",
              "Chopra", "Fernandes"]  # fmt: skip
RESTAURANTS = ["Biryani Blues", "Dosa Point", "Pizza Corner", "Tandoor House", "Chaat Street"]
DISHES = [("Chicken Biryani", 32_000), ("Masala Dosa", 12_000), ("Paneer Tikka", 24_000),
          ("Margherita", 29_900), ("Pani Puri", 6_000), ("Butter Naan", 4_500)]  # fmt: skip
# Most orders are old and delivered; a few are in progress, cancelled or refunded.
STATUSES = (["delivered"] * 80 + ["cancelled"] * 8 + ["refunded"] * 6
            + ["placed", "preparing", "out_for_delivery"] * 2)  # fmt: skip
# A busy back office: a few thousand tickets waiting, most of the history resolved.
TICKET_STATES = ["open"] * 3 + ["claimed"] + ["resolved"] * 6
PRIORITIES = ["low"] * 2 + ["normal"] * 5 + ["high"] * 2 + ["urgent"]


@dataclass
class Figures:
    name: str
    samples: list[float]  # seconds

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.samples, n=100, method="inclusive")[p - 1]


@contextmanager
def database() -> Iterator[str]:
    """A MongoDB URI for the run: MONGODB_URI if set, else a fresh embedded SecantusDB."""
    uri = os.environ.get("MONGODB_URI")
    if uri:
        yield uri
        return
    from voiceproject.embedded_db import EmbeddedMongo

    with (
        tempfile.TemporaryDirectory(prefix="bench-staff-") as tmp,
        EmbeddedMongo(Path(tmp) / "data") as server,
    ):
        yield server.uri


def setup_django(uri: str, keep: bool) -> None:
    os.environ["MONGODB_URI"] = uri
    os.environ["MONGODB_DB"] = BENCH_DB
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-never-used-to-sign-anything-0123")
    # Production settings (DEBUG off: no query log kept in memory), reachable by the test
    # Client over plain http.
    os.environ["DEBUG"] = "False"
    os.environ["SECURE_SSL_REDIRECT"] = "False"
    os.environ["ALLOWED_HOSTS"] = "testserver"
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    # No collectstatic here: the pages only need static URLs, not the hashed manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    from support import mongo

    if not keep:
        mongo.sync_db().client.drop_database(BENCH_DB)
    call_command("migrate", verbosity=0, skip_checks=True)


def loaded() -> bool:
    from support import mongo

    db = mongo.sync_db()
    return (db.orders.estimated_document_count() == ORDERS
            and db.escalations.estimated_document_count() == TICKETS)  # fmt: skip


def load(rng: random.Random) -> None:
    """Customers, orders and tickets straight into their collections, in the shapes the
    models read (support/models.py), with unordered bulk inserts."""
    from support import mongo

    db = mongo.sync_db()
    now = datetime.now(UTC)
    db.customers.insert_many(
        {
            "user_id": user_id,
            "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "phone": f"+9198{user_id:08d}",
            "email": f"customer{user_id}@example.com",
            "wallet_balance": 0,
            "created_at": now - timedelta(days=400),
        }
        for user_id in range(1, CUSTOMERS + 1)
    )
    batch: list[dict[str, Any]] = []
    for n in range(ORDERS):
        batch.append(_order(rng, n, now))
        if len(batch) == BATCH:
            db.orders.insert_many(batch, ordered=False)
            batch = []
    if batch:
        db.orders.insert_many(batch, ordered=False)
    db.escalations.insert_many(
        (_ticket(rng, n, now) for n in range(TICKETS)), ordered=False
    )


def _order(rng: random.Random, n: int, now: datetime) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {"name": name, "qty": rng.randint(1, 3), "price": price}
        for name, price in rng.sample(DISHES, rng.randint(1, 3))
    ]
    amount = sum(item["qty"] * item["price"] for item in items)
    status = rng.choice(STATUSES)
    placed_at = now - timedelta(minutes=rng.randint(10, 525_600))
    refund = None
    if status == "refunded":
        refund = {"amount": amount * 30 // 100, "percent": 30, "refund_id": f"RFD-B{n:06d}",
                  "at": placed_at + timedelta(hours=1)}  # fmt: skip
    return {
        "order_id": f"ORD-{100_001 + n}",
        "user_id": rng.randint(1, CUSTOMERS),
        "restaurant": rng.choice(RESTAURANTS),
        "items": items,
        "amount": amount,
        "status": status,
        "placed_at": placed_at,
        "delivered_at": placed_at + timedelta(minutes=30) if status in ("delivered", "refunded")
        else None,
        "refund": refund,
    }


def _ticket(rng: random.Random, n: int, now: datetime) -> dict[str, Any]:
    status = rng.choice(TICKET_STATES)
    created_at = now - timedelta(minutes=rng.randint(1, 60 * 24 * 60))
    return {
        "ticket_id": f"TKT-B{n:05d}",
        "user_id": rng.randint(1, CUSTOMERS),
        "order_id": f"ORD-{100_001 + rng.randrange(ORDERS)}",
        "reason": "Caller asked for a person about a late, cold order",
        "priority": rng.choice(PRIORITIES),
        "status": status,
        "assignee": None if status == "open" else rng.choice(["meera", "arjun", "kiran"]),
        "notes": [{"author": "agent-bot", "text": "Customer sounded upset.", "at": created_at}],
        "call_id": f"call-b{n:05d}",
        "created_at": created_at,
        "resolved_at": created_at + timedelta(hours=2) if status == "resolved" else None,
    }


def staff_client() -> Any:
    from django.contrib.auth.models import Group, User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench-agent", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="Support agent"))
    client = Client()
    client.force_login(user)
    return client


def pages(rng: random.Random) -> dict[str, str]:
    """The page URLs to time, with search terms taken from the loaded data."""
    from support.models import Customer

    some_order = f"ORD-{100_001 + rng.randrange(ORDERS)}"
    # A full name as staff would type it (about a dozen customers share each).
    name = Customer.objects.get(user_id=rng.randint(1, CUSTOMERS)).name
    return {
        "order list, first page": "/admin/support/order/",
        "order search: order id": f"/admin/support/order/?q={some_order}",
        "order search: customer name": f"/admin/support/order/?q={name.replace(' ', '+')}",
        "order filter: status": "/admin/support/order/?status__exact=out_for_delivery",
        "staff queue: open": "/staff/queue/",
    }


def timed(name: str, runs: int, get: Callable[[], Any]) -> Figures:
    for _ in range(WARM_UP):
        get()  # warm-up: connections, template caches; not counted
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = get()
        samples.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise RuntimeError(f"{name}: HTTP {response.status_code}")
    return Figures(name, samples)


def report(figures: list[Figures], runs: int) -> None:
    print(f"\n{CUSTOMERS:,} customers, {ORDERS:,} orders, {TICKETS:,} tickets; "
          f"{runs} requests per page after {WARM_UP} warm-up\n")  # fmt: skip
    print(f"{'page':<30} {'p50 ms':>8} {'p95 ms':>8}  goal p95 < {GOAL_MS:.0f} ms")
    for fig in figures:
        p50, p95 = fig.percentile(50) * 1000, fig.percentile(95) * 1000
        print(f"{fig.name:<30} {p50:8.1f} {p95:8.1f}  {'PASS' if p95 < GOAL_MS else 'MISS'}")


# --- --explain: the plan of each page's main query ---------------------------------------------


def _plan_summary(node: Any, out: list[str]) -> None:
    """Each stage of a plan tree, depth first, as "STAGE(index)"; unknown shapes pass."""
    if isinstance(node, dict):
        if "stage" in node:
            index = node.get("indexName")
            out.append(f"{node['stage']}({index})" if index else str(node["stage"]))
        for key, value in node.items():
            if key not in ("rejectedPlans",):
                _plan_summary(value, out)
    elif isinstance(node, list):
        for value in node:
            _plan_summary(value, out)


def _find_plan(explained: dict[str, Any]) -> str:
    stages: list[str] = []
    _plan_summary(explained.get("queryPlanner", {}).get("winningPlan", {}), stages)
    return " > ".join(stages)


def explain_pages(urls: dict[str, str]) -> None:
    """SecantusDB's aggregate explain shows how the leading $match is fetched (the rest of
    the pipeline runs in Python over what it fetched): that fetch is what decides speed."""
    from django.contrib import admin
    from django.contrib.auth.models import User
    from django.test import RequestFactory
    from django.utils import timezone

    from support.admin import NewestOrdersPaginator
    from support.models import EscalationStatus, Order
    from support.mongo import sync_db
    from support.staff import queries

    user = User.objects.get(username="bench-agent")
    order_admin = admin.site._registry[Order]
    print("\nPlans (--explain):")
    for name, url in urls.items():
        if url.startswith("/admin/"):
            request = RequestFactory().get(url)
            request.user = user
            changelist = order_admin.get_changelist_instance(request)
            queryset = changelist.queryset[: changelist.list_per_page]
        else:
            # The queue reads its ids per priority with PyMongo: explain the first of those.
            queue = queries.queue(EscalationStatus.OPEN)
            assert isinstance(queue, queries.ByPriority)
            found = sync_db().escalations.find(queue.parts[0], sort=[("created_at", 1)])
            print(f"  {name:<30} {_find_plan(found.limit(queries.PAGE_SIZE + 1).explain())}")
            continue
        paginator = order_admin.get_paginator(request, changelist.queryset, 50)
        if isinstance(paginator, NewestOrdersPaginator):
            # The page's ids are read by PyMongo from a placed_at range: its first one.
            since = timezone.now() - NewestOrdersPaginator.WINDOWS[0]
            found = sync_db().orders.find({**paginator.match, "placed_at": {"$gte": since}},
                                          sort=NewestOrdersPaginator.SORT, limit=50)
            print(f"  {name:<30} {_find_plan(found.explain())}")
            continue
        plan = json.loads(queryset.explain())
        stages: list[str] = []
        _plan_summary(plan, stages)
        print(f"  {name:<30} {' > '.join(stages) or json.dumps(plan)[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25, help="timed requests per page")
    parser.add_argument("--explain", action="store_true", help="print each main query's plan")
    parser.add_argument(
        "--keep", action="store_true",
        help="with MONGODB_URI: reuse the data of an earlier --keep run and leave it there",
    )  # fmt: skip
    args = parser.parse_args()
    if args.keep and not os.environ.get("MONGODB_URI"):
        parser.error("--keep needs MONGODB_URI (a server that outlives the run)")
    rng = random.Random(SEED)
    with database() as uri:
        setup_django(uri, args.keep)
        if not (args.keep and loaded()):
            started = time.perf_counter()
            load(rng)
            print(f"loaded in {time.perf_counter() - started:.1f} s")
        client = staff_client()
        urls = pages(rng)
        figures = [timed(name, args.runs, partial(client.get, url))
                   for name, url in urls.items()]  # fmt: skip
        report(figures, args.runs)
        if args.explain:
            explain_pages(urls)
        if not args.keep:
            from support import mongo

            mongo.sync_db().client.drop_database(BENCH_DB)


if __name__ == "__main__":
    main()
