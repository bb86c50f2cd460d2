"""How fast the back office answers at scale: lists, the customer page, search, a call, the
dashboard and the CSV exports.

    .venv/bin/python -m bench.bench_staff [--runs 25] [--explain]

Starts its own SecantusDB in a temporary directory (or uses MONGODB_URI when set, in a
database of its own that it drops afterwards), runs the migrations (indexes, groups, tiers),
bulk-loads 10,000 customers, 200,000 orders (with their refunds), 10,000 escalation tickets,
5,000 complaints and 50,000 calls over a year (each with a transcript and tool calls) with
PyMongo, makes a staff user in the "Support agent" group and times whole pages through
Django's test `Client` in this process (middleware, admin, templates: what a person waits
for, minus the network). Goals: p95 under 300 ms for each page, and each CSV export of 30 days
under 5 s. `--explain` prints the plan MongoDB chose for each page's main query (which
index, or a collection scan and an in-memory sort).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync

# The same orders (restaurants, dishes, statuses) and timing figures as bench_tools.
from bench.bench_tools import DISHES, RESTAURANTS, STATUSES, Figures

CUSTOMERS = 10_000
ORDERS = 200_000
TICKETS = 10_000
CALLS = 50_000
COMPLAINTS = 5_000
CALL_DAYS = 365
EXPORT_GOAL_S = 5.0
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
# A busy back office: a few thousand tickets waiting, most of the history resolved.
TICKET_STATES = ["open"] * 3 + ["claimed"] + ["resolved"] * 6
PRIORITIES = ["low"] * 2 + ["normal"] * 5 + ["high"] * 2 + ["urgent"]
OUTCOMES = (["resolved_info"] * 55 + ["resolved_refund"] * 10 + ["complaint_filed"] * 7
            + ["escalated"] * 12 + ["abandoned"] * 10 + ["callback_scheduled"] * 5
            + ["agent_unavailable"] + ["transferred"] * 0)  # fmt: skip
# How calls end, as often as a busy month's (most hang up; a silent caller, a model that stops
# responding, a colleague ending one are rare): a filter on a rare one reads few rows.
END_REASONS = (["caller_hung_up"] * 80 + ["caller_left"] * 12 + ["idle"] * 4
               + ["max_duration", "agent_unavailable", "ended_by_staff", "lost"])  # fmt: skip
LINES = ["Hi, thanks for calling. How can I help you today?",
         "My order from Biryani Blues came cold and one item is missing.",
         "I'm sorry about that. Let me look at the order for you.",
         "It was order one two three, delivered about half an hour ago.",
         "I can see it. It's inside the refund window, so I'll refund it now.",
         "Thank you, that's helpful.", "Is there anything else I can help with?",
         "No, that's all. Thanks!"]  # fmt: skip


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
            and db.escalations.estimated_document_count() == TICKETS
            and db.calls.estimated_document_count() == CALLS)  # fmt: skip


def load(rng: random.Random) -> None:
    """Customers, orders and tickets straight into their collections, in the shapes the
    models read (support/models.py), with unordered bulk inserts."""
    from support import mongo
    from support.name_keys import name_keys

    db = mongo.sync_db()
    now = datetime.now(UTC)
    names = [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(CUSTOMERS)]
    db.customers.insert_many(
        {
            "user_id": user_id,
            "name": names[user_id - 1],
            "name_keys": name_keys(names[user_id - 1]),
            "phone": f"+9198{user_id:08d}",
            "email": f"customer{user_id}@example.com",
            "wallet_balance": 0,
            "created_at": now - timedelta(days=400),
        }
        for user_id in range(1, CUSTOMERS + 1)
    )
    orders = (_order(rng, n, now) for n in range(ORDERS))
    for batch in _batches(orders):
        db.orders.insert_many(batch, ordered=False)
        refunds = [_refund(order) for order in batch if order["refund"] is not None]
        if refunds:
            db.refunds.insert_many(refunds, ordered=False)
    db.escalations.insert_many(
        (_ticket(rng, n, now) for n in range(TICKETS)), ordered=False
    )
    db.complaints.insert_many((_complaint(rng, n, now) for n in range(COMPLAINTS)),
                              ordered=False)  # fmt: skip
    for batch in _batches(_call(rng, n, now) for n in range(CALLS)):
        db.calls.insert_many(batch, ordered=False)


def _batches(docs: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _refund(order: dict[str, Any]) -> dict[str, Any]:
    refund = order["refund"]
    return {"refund_id": refund["refund_id"], "order_id": order["order_id"],
            "user_id": order["user_id"], "amount": refund["amount"], "percent": 30,
            "tier": "Bronze", "reason": "Food arrived cold", "call_id": "",
            "created_at": refund["at"]}  # fmt: skip


def _complaint(rng: random.Random, n: int, now: datetime) -> dict[str, Any]:
    return {
        "complaint_id": f"CMP-B{n:05d}", "user_id": rng.randint(1, CUSTOMERS),
        "order_id": f"ORD-{100_001 + rng.randrange(ORDERS)}", "category": "late_delivery",
        "description": "Arrived an hour late", "status": rng.choice(["open", "resolved"]),
        "call_id": "", "created_at": now - timedelta(minutes=rng.randint(1, 525_600)),
    }  # fmt: skip


def _call(rng: random.Random, n: int, now: datetime) -> dict[str, Any]:
    """A call of about a minute: eight transcript lines and two tool calls (about 3 KB)."""
    started = now - timedelta(seconds=rng.randint(60, CALL_DAYS * 86_400))
    order_id = f"ORD-{100_001 + rng.randrange(ORDERS)}"
    tools = [
        {"name": "get_order_details", "args": {"order_id": order_id}, "ok": True, "ms": 12,
         "result": {"ok": True, "order_id": order_id, "status": "delivered",
                    "hours_since_delivery": 0.5, "inside_refund_window": True},
         "started_at": started + timedelta(seconds=20)},
        {"name": "initiate_refund", "args": {"order_id": order_id, "reason": "cold"},
         "ok": True, "ms": 30, "started_at": started + timedelta(seconds=30),
         "result": {"ok": True, "order_id": order_id, "amount": "120.00", "percent": 30,
                    "tier": "Bronze", "refund_id": f"RFD-C{n:05d}"}},
    ]  # fmt: skip
    return {
        "call_id": f"call-b{n:05d}", "user_id": rng.randint(1, CUSTOMERS),
        "channel": rng.choice(["web", "phone"]), "started_at": started,
        "ended_at": started + timedelta(seconds=rng.randint(20, 240)),
        "end_reason": rng.choice(END_REASONS), "outcome": rng.choice(OUTCOMES),
        "transcript": [{"role": "agent" if i % 2 == 0 else "user", "text": text,
                        "at": started + timedelta(seconds=6 * i)}
                       for i, text in enumerate(LINES)],
        "tool_calls": tools,
        "usage": {"prompt_token_count": 2400, "response_token_count": 300,
                  "total_token_count": 2700},
    }  # fmt: skip


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
    someone = Customer.objects.get(user_id=rng.randint(1, CUSTOMERS))
    name = someone.name.replace(" ", "+")
    return {
        "order list, first page": "/admin/support/order/",
        "order search: order id": f"/admin/support/order/?q={some_order}",
        "order search: customer name": f"/admin/support/order/?q={name}",
        "order filter: status": "/admin/support/order/?status__exact=out_for_delivery",
        "staff queue: open": "/staff/queue/",
        "customer page": f"/staff/customers/{rng.randint(1, CUSTOMERS)}/",
        "search: name": f"/staff/search/?q={name}",
        "search: phone": f"/staff/search/?q={someone.phone[3:]}",
        "search: order id": f"/staff/search/?q={some_order.lower()}",
        "search: call id": f"/staff/search/?q=call-b{rng.randrange(CALLS):05d}",
        "call list": "/staff/calls/",
        "call list: one customer": f"/staff/calls/?customer={someone.user_id}",
        "call list: a rare end reason": "/staff/calls/?end_reason=ended_by_staff",
        "call page": f"/staff/calls/call-b{rng.randrange(CALLS):05d}/",
        "ticket page": f"/staff/tickets/TKT-B{rng.randrange(TICKETS):05d}/",
        "dashboard, 30 days": "/staff/",
    }


EXPORTS = ("calls", "refunds", "tickets")


def timed(name: str, runs: int, get: Callable[[], Any]) -> Figures:
    for _ in range(WARM_UP):
        get()  # warm-up: connections, template caches; not counted
    samples, redirected = [], False
    for _ in range(runs):
        start = time.perf_counter()
        response = get()
        samples.append(time.perf_counter() - start)
        if response.status_code not in (200, 302):  # a search with one hit redirects
            raise RuntimeError(f"{name}: HTTP {response.status_code}")
        redirected = redirected or response.status_code == 302
    # Said on its row: a redirect's time is the search's alone, without the page it leads to
    # (the customer and call pages have rows of their own).
    return Figures(f"{name} (redirect)" if redirected else name, samples)


async def _read(parts: Any) -> bytes:
    """An export's body: served to daphne as it is read, so an asynchronous stream."""
    return b"".join([part async for part in parts])


def time_exports(client: Any, runs: int) -> list[tuple[str, float, int]]:
    """(export, slowest of `runs` in seconds, rows) for each CSV export of the last 30 days."""
    results = []
    for kind in EXPORTS:
        times, rows = [], 0
        for _ in range(runs):
            start = time.perf_counter()
            response = client.get(f"/staff/export/{kind}.csv")
            body = async_to_sync(_read)(response.streaming_content)
            times.append(time.perf_counter() - start)
            rows = body.count(b"\n") - 1
        results.append((kind, max(times), rows))
    return results


def report(figures: list[Figures], runs: int) -> None:
    print(f"\n{CUSTOMERS:,} customers, {ORDERS:,} orders, {TICKETS:,} tickets, {CALLS:,} calls; "
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
    print("\nPlans (--explain; the order list and the queue):")
    for name, url in urls.items():
        if not url.startswith(("/admin/support/order/", "/staff/queue/")):
            continue
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
            window = queries.WINDOWS[0]
            assert window is not None
            since = timezone.now() - window
            found = sync_db().orders.find({**paginator.match, "placed_at": {"$gte": since}},
                                          sort=[("placed_at", -1), ("_id", -1)], limit=50)
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
        print(f"\n{'CSV export, last 30 days':<30} {'rows':>8} {'slowest s':>10}  "
              f"goal < {EXPORT_GOAL_S:.0f} s")  # fmt: skip
        for kind, seconds, rows in time_exports(client, 3):
            verdict = "PASS" if seconds < EXPORT_GOAL_S else "MISS"
            print(f"{kind:<30} {rows:>8,} {seconds:>10.2f}  {verdict}")
        if args.explain:
            explain_pages(urls)
        if not args.keep:
            from support import mongo

            mongo.sync_db().client.drop_database(BENCH_DB)


if __name__ == "__main__":
    main()
