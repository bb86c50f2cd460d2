"""Writing a parsed support data file: the database side of an import.

`read_existing` reads what the file's keys already hold (for `parsing.parse_support_data` to
check the file against); `write_support_data` upserts the validated records, one ordered
`bulk_write` per collection keyed by `user_id`, `order_id` and (for refunds) `order_id`, so
loading the same file again creates nothing new. `seed_demo` writes its generated records
through it too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import UpdateOne
from pymongo.database import Database

from support.importer.parsing import (
    CustomerRecord,
    Existing,
    OrderRecord,
    RefundRecord,
    SupportData,
    keys_in,
)
from support.mongo import find_in

Document = dict[str, Any]

def read_existing(db: Database[Document], raw: object) -> Existing:
    """The database records the file's keys touch (read before validating it)."""
    user_ids, phones, order_ids, refund_ids = keys_in(raw)
    customer_fields = {"user_id": 1, "phone": 1, "wallet_balance": 1}
    customers = [*find_in(db.customers, "user_id", user_ids, customer_fields),
                 *find_in(db.customers, "phone", phones, customer_fields)]  # fmt: skip
    orders = list(find_in(db.orders, "order_id", order_ids,
                          {"order_id": 1, "user_id": 1, "refund.refund_id": 1}))  # fmt: skip
    refunded = [o for o in orders if o.get("refund") is not None]
    refunds = list(find_in(db.refunds, "refund_id", refund_ids, {"refund_id": 1, "order_id": 1}))
    return Existing(
        phones_by_user={c["user_id"]: c["phone"] for c in customers if c["user_id"] in user_ids},
        users_by_phone={c["phone"]: c["user_id"] for c in customers},
        refund_by_order={o["order_id"]: o["refund"]["refund_id"] for o in refunded},
        order_by_refund={r["refund_id"]: r["order_id"] for r in refunds},
        user_by_order={o["order_id"]: o["user_id"] for o in orders},
        balance_by_user={c["user_id"]: int(c.get("wallet_balance") or 0) for c in customers
                         if c["user_id"] in user_ids},
    )


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged"


@dataclass
class WriteResult:
    customers: Counts = field(default_factory=Counts)
    orders: Counts = field(default_factory=Counts)
    refunds: Counts = field(default_factory=Counts)

    @property
    def added(self) -> int:
        return self.customers.added + self.orders.added + self.refunds.added


def customer_update(customer: CustomerRecord, now: dt.datetime) -> Document:
    fields: Document = {"name": customer.name, "phone": customer.phone}
    # Fields the record leaves out keep an existing customer's value; a new one gets a default.
    # The wallet balance opens a new customer's wallet only: an existing one moves with refunds
    # and credits alone (a stale file would otherwise take back what they paid).
    defaults: Document = {"wallet_balance": customer.wallet_balance or 0}
    for name, value, default in (("email", customer.email, ""),
                                 ("created_at", customer.created_at, now)):
        (fields if value is not None else defaults)[name] = value if value is not None else default
    return {"$set": fields, "$setOnInsert": defaults}


def order_document(order: OrderRecord) -> Document:
    refund = order.refund
    return {
        "user_id": order.user_id,
        "restaurant": order.restaurant,
        "items": [{"name": i.name, "qty": i.qty, "price": i.price} for i in order.items],
        "amount": order.amount,
        "status": order.status,
        "placed_at": order.placed_at,
        "delivered_at": order.delivered_at,
        "refund": None if refund is None else {
            "amount": refund.amount, "percent": refund.percent,
            "refund_id": refund.refund_id, "at": refund.at,
        },
    }


def refund_document(order: OrderRecord, refund: RefundRecord,
                    tier_by_percent: Mapping[int, str]) -> Document:
    return {
        "refund_id": refund.refund_id,
        "user_id": order.user_id,
        "amount": refund.amount,
        "percent": refund.percent,
        "tier": refund.tier or tier_by_percent.get(refund.percent, ""),
        "reason": refund.reason,
        "created_at": refund.at,
    }


def _upsert(key: str, value: object, update: Document, only_new: bool) -> UpdateOne:
    if only_new:
        # seed_demo: never overwrite what a demo (or a person) has changed since.
        inserted = {**update.get("$setOnInsert", {}), **update.get("$set", {})}
        update = {"$setOnInsert": inserted}
    return UpdateOne({key: value}, update, upsert=True)


def _bulk(db: Database[Document], collection: str, key: str,
          requests: Sequence[tuple[object, Document]], only_new: bool) -> Counts:
    """Upsert `(key value, update)` pairs in one ordered bulk write."""
    skipped = 0
    if only_new:
        # One query instead of a no-op upsert per record: a second seed_demo stays quick.
        values = [value for value, _ in requests]
        present = {doc[key] for doc in find_in(db[collection], key, values, {key: 1})}
        skipped = sum(1 for value, _ in requests if value in present)
        requests = [(value, update) for value, update in requests if value not in present]
    if not requests:
        return Counts(unchanged=skipped)
    result = db[collection].bulk_write(
        [_upsert(key, value, update, only_new) for value, update in requests], ordered=True
    )
    unchanged = result.matched_count - result.modified_count
    return Counts(result.upserted_count, result.modified_count, unchanged + skipped)


def write_support_data(db: Database[Document], data: SupportData, *,
                       only_new: bool = False, now: dt.datetime | None = None) -> WriteResult:
    """Upsert validated records: customers, then their orders, then the orders' refunds.

    With `only_new`, records that already exist are left exactly as they are. Each
    collection is one ordered bulk write; should the database fail half-way, loading the same
    file again finishes the job (every write is an idempotent upsert).
    """
    now = now or dt.datetime.now(dt.UTC)
    tier_by_percent = {t["percent"]: t["name"] for t in db.refund_tiers.find({}, {"_id": 0})}
    customers = [(c.user_id, customer_update(c, now)) for c in data.customers]
    orders = [(o.order_id, {"$set": order_document(o)}) for o in data.orders]
    refunds = [
        (o.order_id, {"$set": refund_document(o, o.refund, tier_by_percent),
                      "$setOnInsert": {"call_id": ""}})
        for o in data.orders if o.refund is not None
    ]
    return WriteResult(
        customers=_bulk(db, "customers", "user_id", customers, only_new),
        orders=_bulk(db, "orders", "order_id", orders, only_new),
        refunds=_bulk(db, "refunds", "order_id", refunds, only_new),
    )
