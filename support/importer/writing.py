"""Writing a parsed support data file: the database side of an import.

`read_existing` reads what the file's keys already hold (for `parsing.parse_support_data` to
check the file against); `write_support_data` upserts the validated records, bulk writes per
collection keyed by `user_id`, `order_id` and (for refunds) `order_id`, so loading the
same file again creates nothing new. `seed_demo` writes its generated records through it too.
Each query and each batch of WRITE_BATCH writes is one step of the command's work, bounded
(support/management: a database that stops answering fails the command, it does not hang).

A refund is never replaced: the file was checked against the refunds on record, and an order
is written only while it still has no refund or the file's own (an agent may refund it on a
call between the check and the write; that order is then left as it is, and reported).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from support.importer.parsing import (
    CustomerRecord,
    Existing,
    OrderRecord,
    RefundRecord,
    SupportData,
    keys_in,
)
from support.management import bounded, step_bound
from support.mongo import find_in

Document = dict[str, Any]

# Upserts per bulk_write: a file of any size is written in steps that each end well within
# the step bound, and a database that stops answering is noticed within it.
WRITE_BATCH = 1_000


def read_existing(db: Database[Document], raw: object) -> Existing:
    """The database records the file's keys touch (read before validating it)."""
    user_ids, phones, order_ids, refund_ids = keys_in(raw)
    customer_fields = {"user_id": 1, "phone": 1, "wallet_balance": 1}
    customers = [*bounded(find_in(db.customers, "user_id", user_ids, customer_fields)),
                 *bounded(find_in(db.customers, "phone", phones, customer_fields))]  # fmt: skip
    orders = list(bounded(find_in(db.orders, "order_id", order_ids,
                                  {"order_id": 1, "user_id": 1, "refund": 1})))  # fmt: skip
    refunded = [o for o in orders if o.get("refund") is not None]
    refunds = list(bounded(find_in(db.refunds, "refund_id", refund_ids,
                                   {"refund_id": 1, "order_id": 1})))  # fmt: skip
    return Existing(
        phones_by_user={c["user_id"]: c["phone"] for c in customers if c["user_id"] in user_ids},
        users_by_phone={c["phone"]: c["user_id"] for c in customers},
        refund_by_order={o["order_id"]: o["refund"]["refund_id"] for o in refunded},
        paid_by_refund={o["refund"]["refund_id"]: (o["refund"]["amount"], o["refund"]["percent"])
                        for o in refunded},
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
    # Orders refunded between the file's check and its write, left as they were (the file,
    # older than that refund, would undo it): order id -> the refund id it holds now (None:
    # changed otherwise, e.g. written by another load at the same time; load the file again).
    changed_meanwhile: dict[str, str | None] = field(default_factory=dict)

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


def refund_update(order: OrderRecord, refund: RefundRecord,
                  tier_by_percent: Mapping[int, str]) -> Document:
    """The upsert of `order`'s refunds record. A tier or reason the file leaves out keeps the
    one on record (what the customer said on the call, when the agent made the refund)."""
    fields: Document = {
        "refund_id": refund.refund_id,
        "user_id": order.user_id,
        "amount": refund.amount,
        "percent": refund.percent,
        "created_at": refund.at,
    }
    defaults: Document = {"call_id": "", "tier": tier_by_percent.get(refund.percent, ""),
                          "reason": ""}  # fmt: skip
    for name, value in (("tier", refund.tier), ("reason", refund.reason)):
        if value is not None:
            fields[name] = value
            del defaults[name]
    return {"$set": fields, "$setOnInsert": defaults}


def order_unrefunded_or(refund: RefundRecord | None) -> Document:
    """What an order must still hold for the file's version of it to be written: no refund, or
    the file's own (the file was checked against the refunds on record, not against one made
    since)."""
    if refund is None:
        return {"refund": None}
    return {"$or": [{"refund": None}, {"refund.refund_id": refund.refund_id}]}


# (key value, update, what the record must still hold to be updated: {} for anything)
Upsert = tuple[object, Document, Document]


def _upsert(key: str, request: Upsert, only_new: bool) -> UpdateOne:
    value, update, guard = request
    if only_new:
        # seed_demo: never overwrite what a demo (or a person) has changed since.
        inserted = {**update.get("$setOnInsert", {}), **update.get("$set", {})}
        return UpdateOne({key: value}, {"$setOnInsert": inserted}, upsert=True)
    return UpdateOne({key: value, **guard}, update, upsert=True)


DUPLICATE_KEY = 11000


def _bulk(db: Database[Document], collection: str, key: str, requests: Sequence[Upsert],
          only_new: bool, *, leave_changed: bool = False) -> tuple[Counts, list[object]]:
    """Upsert the requests, WRITE_BATCH a bulk write: their counts, and (with `leave_changed`)
    the key values of the records whose guard no longer held, left as they were while the
    others are written. Any other refusal raises BulkWriteError (the batches before it are
    written, and loading the file again writes the rest)."""
    counts = Counts()
    if only_new:
        # One query instead of a no-op upsert per record: a second seed_demo stays quick.
        values = [value for value, _, _ in requests]
        present = {doc[key] for doc in bounded(find_in(db[collection], key, values, {key: 1}))}
        counts.unchanged = sum(1 for value, _, _ in requests if value in present)
        requests = [request for request in requests if request[0] not in present]
    left: list[object] = []
    for start in range(0, len(requests), WRITE_BATCH):
        batch = requests[start : start + WRITE_BATCH]
        result, refused = _bulk_batch(db[collection], key, batch, only_new, leave_changed)
        counts.added += result["nUpserted"]
        counts.updated += result["nModified"]
        counts.unchanged += result["nMatched"] - result["nModified"]
        left += refused
    return counts, left


def _bulk_batch(collection: Collection[Document], key: str, batch: Sequence[Upsert],
                only_new: bool, leave_changed: bool) -> tuple[Mapping[str, Any], list[object]]:
    """One bulk write of `_bulk`: its result, and the key values of the records left."""
    writes = [_upsert(key, request, only_new) for request in batch]
    try:
        with step_bound():
            return collection.bulk_write(writes, ordered=not leave_changed).bulk_api_result, []
    except BulkWriteError as error:
        # A guarded upsert that matches nothing inserts, which the key's unique index refuses.
        refused = error.details.get("writeErrors", [])
        if not leave_changed or any(e.get("code") != DUPLICATE_KEY for e in refused):
            raise
        return error.details, [batch[e["index"]][0] for e in refused]


def write_support_data(db: Database[Document], data: SupportData, *,
                       only_new: bool = False, now: dt.datetime | None = None) -> WriteResult:
    """Upsert validated records: customers, then their orders, then the orders' refunds.

    With `only_new`, records that already exist are left exactly as they are. An order
    refunded since the file was checked is left as it is too, with its refund, and named in
    `changed_meanwhile`. Should the database fail half-way, loading the same file again
    finishes the job (every write is an idempotent upsert).
    """
    now = now or dt.datetime.now(dt.UTC)
    tier_by_percent = {t["percent"]: t["name"]
                       for t in bounded(db.refund_tiers.find({}, {"_id": 0}))}  # fmt: skip
    anything: Document = {}
    customers = [(c.user_id, customer_update(c, now), anything) for c in data.customers]
    orders = [(o.order_id, {"$set": order_document(o)}, order_unrefunded_or(o.refund))
              for o in data.orders]  # fmt: skip
    result = WriteResult()
    result.customers, _ = _bulk(db, "customers", "user_id", customers, only_new)
    result.orders, left = _bulk(db, "orders", "order_id", orders, only_new,
                                leave_changed=not only_new)  # fmt: skip
    if left:
        held = {doc["order_id"]: (doc.get("refund") or {}).get("refund_id")
                for doc in bounded(find_in(db.orders, "order_id", left,
                                           {"order_id": 1, "refund": 1}))}  # fmt: skip
        result.changed_meanwhile = {str(order_id): held.get(order_id) for order_id in left}
    refunds = [
        (o.order_id, refund_update(o, o.refund, tier_by_percent),
         {"refund_id": o.refund.refund_id})
        for o in data.orders
        if o.refund is not None and o.order_id not in result.changed_meanwhile
    ]  # fmt: skip
    result.refunds, _ = _bulk(db, "refunds", "order_id", refunds, only_new)
    return result
