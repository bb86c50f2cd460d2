"""`manage.py seed_demo`: the demo data set (support/demo_data.py) and the demo staff login."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.crypto import salted_hmac
from pymongo.database import Database
from pymongo.errors import BulkWriteError, PyMongoError

from postcall.cost import UnknownModel
from postcall.finish import cost_now
from support import mongo
from support.demo_data import build_demo_data, live_orders
from support.importer import OrderRecord, SupportData, order_document, write_support_data
from support.name_keys import fill_name_keys

Document = dict[str, Any]

STAFF_USERNAME = "support"
# The staff group of migration 0003: sees the support data, works the escalation queue and
# edits the refund tiers. Deliberately not a superuser: the demo shows the back office as a
# support lead sees it, and a leaked demo password cannot create users or delete records.
STAFF_GROUP = "Support lead"
# A live order whose times drifted further than this from a fresh demo's is "no longer recent".
STALE_AFTER = dt.timedelta(minutes=15)


def demo_staff_password() -> str:
    """The demo staff password: derived from SECRET_KEY, so it is the same on every run (and can
    be printed each time) without a password published in the source for every deployment."""
    digest = salted_hmac("support.seed_demo.staff", STAFF_USERNAME, algorithm="sha256")
    hex16 = digest.hexdigest()[:16]
    return "-".join(hex16[i:i + 4] for i in range(0, 16, 4))


class Command(BaseCommand):
    help = (
        "Load the demo data set: 20 customers (user_id 1-20) across the four refund tiers, "
        "about 200 orders (ORD-1001...) in every status, a month of about 200 support calls "
        "with the refunds, complaints, escalation tickets and callbacks they made, and the "
        "demo staff user (a support lead), whose login is printed at the end of every run. "
        "Existing records are never changed, so running it again adds nothing, but for the "
        "mark on the demo customers' phone numbers: they are made up and may be strangers', "
        "so the callbacks board's \"Call now\" never dials them (put your own number on a "
        "customer to try it). "
        "Some orders were delivered minutes before the first run so a refund can be tried "
        "live; on a later day they are outside the 2-hour refund window: "
        "--refresh-recent moves those orders (and the ones in progress) back to minutes "
        "ago and undoes any refund made on them (refund record deleted, wallet debited)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--refresh-recent",
            action="store_true",
            help="move the demo's recent and in-progress orders back to minutes ago, "
            "not refunded, as in a fresh demo",
        )

    def handle(self, *args: Any, refresh_recent: bool = False, **options: Any) -> None:
        now = timezone.now()
        demo = build_demo_data(now)
        try:
            db = mongo.sync_db()
            clashes = _clashes(db, demo.support)
            if clashes:
                more = f" and {len(clashes) - 5} more" if len(clashes) > 5 else ""
                raise CommandError(
                    "could not seed the demo data, nothing was written: "
                    + "; ".join(clashes[:5]) + more + ". Seed an empty database, or load your "
                    "own data with load_support_data."
                )
            written = write_support_data(db, demo.support, only_new=True, now=now)
            fill_name_keys(db, [customer.user_id for customer in demo.support.customers])
            _mark_demo_phones(db, demo.support)
            unraised = _calls_of_earlier_records(db, demo.raised_calls)
            complaints = _insert_new(db, "complaints", "complaint_id", demo.complaints)
            tickets = _insert_new(db, "escalations", "ticket_id", demo.escalations)
            calls = _insert_new(db, "calls", "call_id", [
                _priced(call) for call in demo.calls if call["call_id"] not in unraised])
            callbacks = _insert_new(db, "callbacks", "callback_id", demo.callbacks)
            _link_refunds_to_calls(db, demo.refund_calls)
        except BulkWriteError as error:
            # A clash with data loaded otherwise (e.g. a phone number already taken).
            raise CommandError(f"could not seed the demo data: {_first_error(error)}") from None
        except PyMongoError as error:
            raise CommandError(mongo.failure_line(error)) from None
        staff_created = _ensure_staff_user()
        added = [
            (written.customers.added, "customers"), (written.orders.added, "orders"),
            (written.refunds.added, "refunds"), (complaints, "complaints"),
            (tickets, "escalations"), (calls, "calls"), (callbacks, "callbacks"),
            (int(staff_created), "staff user"),
        ]
        self.stdout.write(
            "Demo data: added " + ", ".join(f"{n} {what}" for n, what in added) + "."
            if any(n for n, _ in added) else "Demo data: nothing to add (already loaded)."
        )
        self._recent_orders(db, live_orders(demo), refresh_recent)
        self._print_login()

    def _recent_orders(self, db: Database[Document], live: Sequence[OrderRecord],
                       refresh: bool) -> None:
        if refresh:
            refreshed = _refresh_live_orders(db, live)
            self.stdout.write(
                f"Refreshed {len(refreshed)} recent orders: {', '.join(refreshed)}."
                if refreshed else "The demo's recent orders are already recent."
            )
        elif stale := _stale_live_orders(db, live):
            self.stdout.write(
                f"{len(stale)} of the demo's recent orders are no longer recent or were "
                "refunded; `manage.py seed_demo --refresh-recent` puts them back."
            )

    def _print_login(self) -> None:
        password = demo_staff_password()
        # django-stubs misses auth installed as MongoAuthConfig (see pyproject.toml).
        user = get_user_model().objects.get(username=STAFF_USERNAME)  # type: ignore[attr-defined]
        if user.check_password(password):
            self.stdout.write(f"Staff login: {STAFF_USERNAME} / {password}  (at /admin/)")
        else:
            self.stdout.write(
                f"Staff login: {STAFF_USERNAME} / (its password was changed after seeding; "
                f"reset it with `manage.py changepassword {STAFF_USERNAME}`)"
            )


def _clashes(db: Database[Document], support: SupportData) -> list[str]:
    """What other data holds of the demo's: the phone of a demo customer not loaded yet that
    is another customer's (the write would stop half-way on the unique phone), or a demo order
    id that is another customer's (the demo's calls and refunds would name that order)."""
    user_ids = [customer.user_id for customer in support.customers]
    loaded = {doc["user_id"] for doc in mongo.find_in(db.customers, "user_id", user_ids,
                                                      {"user_id": 1})}  # fmt: skip
    demo_phone = {c.phone: c.user_id for c in support.customers if c.user_id not in loaded}
    demo_order = {order.order_id: order.user_id for order in support.orders}
    fields = {"user_id": 1, "phone": 1, "order_id": 1}
    phones = mongo.find_in(db.customers, "phone", demo_phone, fields)
    orders = mongo.find_in(db.orders, "order_id", demo_order, fields)
    return [
        *(f"the phone {doc['phone']} of demo customer {demo_phone[doc['phone']]} is customer "
          f"{doc['user_id']}'s" for doc in phones if doc["user_id"] != demo_phone[doc["phone"]]),
        *(f"order {doc['order_id']} is customer {doc['user_id']}'s"
          for doc in orders if doc["user_id"] != demo_order[doc["order_id"]]),
    ]  # fmt: skip


def _mark_demo_phones(db: Database[Document], support: SupportData) -> None:
    """Mark each demo customer's made-up phone number as such (`demo_phone`), while their
    account still has it: it may be a stranger's, and "Call now" (callbacks/desk.py) does not
    dial it. Put a real number on the account and it is dialled."""
    for customer in support.customers:
        db.customers.update_one(
            {"user_id": customer.user_id, "phone": customer.phone,
             "demo_phone": {"$ne": customer.phone}},
            {"$set": {"demo_phone": customer.phone}},
        )  # fmt: skip


def _calls_of_earlier_records(db: Database[Document],
                              raised_calls: Sequence[tuple[str, str]]) -> set[str]:  # fmt: skip
    """The calls of the demo's own complaints and tickets (demo_data.raised_calls) that an
    earlier seed_demo wrote without one: written now, such a call would start days after
    its record. Those records are left as they were; a new demo has them together."""
    by_id = dict(raised_calls)
    present = {
        *db.complaints.distinct("complaint_id", {"complaint_id": {"$in": list(by_id)}}),
        *db.escalations.distinct("ticket_id", {"ticket_id": {"$in": list(by_id)}}),
    }
    return {by_id[record_id] for record_id in present}


def _first_error(error: BulkWriteError) -> str:
    write_errors = error.details.get("writeErrors") or [{}]
    return str(write_errors[0].get("errmsg", error))


def _insert_new(db: Database[Document], collection: str, key: str,
                docs: Sequence[Document]) -> int:
    """Insert the documents whose `key` is not there yet; returns how many were added.

    One query finds the keys already present, then one unordered insert adds the rest: a
    second seed_demo reads a few ids instead of upserting every call again.
    """
    if not docs:
        return 0
    present = set(db[collection].distinct(key, {key: {"$in": [doc[key] for doc in docs]}}))
    missing = [doc for doc in docs if doc[key] not in present]
    if missing:
        db[collection].insert_many([dict(doc) for doc in missing], ordered=False)
    return len(missing)


def _priced(call: Document) -> Document:
    """The call with its cost, as postcall works it out when a real call ends."""
    try:
        cost = cost_now(call["usage"])
    except UnknownModel:
        return call
    return {**call, "cost": cost}


def _link_refunds_to_calls(db: Database[Document], refund_calls: Sequence[tuple[str, str]]) -> None:
    """Name the call each demo refund was made in (the import writes refunds without one)."""
    for refund_id, call_id in refund_calls:
        db.refunds.update_one({"refund_id": refund_id, "call_id": ""},
                              {"$set": {"call_id": call_id}})


def _ensure_staff_user() -> bool:
    """Create the demo staff user if missing; True when it was created now."""
    User = get_user_model()
    # django-stubs misses auth installed as MongoAuthConfig (see pyproject.toml).
    user, created = User.objects.get_or_create(  # type: ignore[attr-defined]
        username=STAFF_USERNAME,
        defaults={"is_staff": True, "first_name": "Demo", "last_name": "Support lead",
                  "email": "support@example.in"},
    )
    if created:
        user.set_password(demo_staff_password())
        user.save(update_fields=["password"])
    group = Group.objects.filter(name=STAFF_GROUP).first()
    # The group comes from a migration; without it the user can log in but sees no data.
    if group is not None and not user.groups.filter(pk=group.pk).exists():
        user.groups.add(group)
    return created


def _is_stale(doc: Document, fresh: OrderRecord) -> bool:
    if doc["status"] != fresh.status or doc.get("refund") is not None:
        return True
    placed_at = doc["placed_at"]
    return placed_at is None or abs(placed_at - fresh.placed_at) > STALE_AFTER


def _stale_live_orders(db: Database[Document], fresh: Sequence[OrderRecord]) -> list[str]:
    docs = {d["order_id"]: d for d in db.orders.find(
        {"order_id": {"$in": [o.order_id for o in fresh]}})}
    return [o.order_id for o in fresh if o.order_id in docs and _is_stale(docs[o.order_id], o)]


def _refresh_live_orders(db: Database[Document], fresh: Sequence[OrderRecord]) -> list[str]:
    """Put the live demo orders back as a fresh demo has them; returns the ids changed."""
    refreshed = []
    for order in fresh:
        # Only the demo's own order: an import may since have given this id to someone else.
        doc = db.orders.find_one({"order_id": order.order_id, "user_id": order.user_id})
        if doc is None or not _is_stale(doc, order):
            continue
        refund = doc.get("refund")
        if refund is not None:
            # Undo the refund a demo call made: its record, and the credit to the wallet.
            db.refunds.delete_one({"order_id": order.order_id})
            db.customers.update_one({"user_id": order.user_id},
                                    {"$inc": {"wallet_balance": -int(refund["amount"])}})
        db.orders.update_one({"_id": doc["_id"]}, {"$set": order_document(order)})
        refreshed.append(order.order_id)
    return refreshed

