"""The support domain's collections (contract section 5), as Django models on MongoDB.

The voice path reads and writes these collections directly with PyMongo (support/tools.py);
these models give the back office the admin, forms, permissions and history. Both sides agree
on the document shapes below. Money is integer paise (support/money.py) in every field named
`amount`, `price`, `wallet_balance` or `min_lifetime_spend`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, overload

from django.db import models
from django.utils import timezone
from django_mongodb_backend.fields import ArrayField, EmbeddedModelArrayField, EmbeddedModelField
from django_mongodb_backend.models import EmbeddedModel

from support.money import format_inr
from support.name_keys import name_keys


class Customer(models.Model):
    user_id = models.IntegerField(unique=True)
    name = models.CharField(max_length=120)
    phone = models.CharField(max_length=20, unique=True, help_text="E.164, e.g. +919812345678")
    email = models.EmailField(blank=True)
    wallet_balance = models.BigIntegerField(default=0, help_text="paise")
    created_at = models.DateTimeField(default=timezone.now)
    # What the search box finds a customer's name by (support/name_keys.py), kept by save().
    name_keys = ArrayField(models.CharField(max_length=24), default=list, blank=True,
                           editable=False)  # fmt: skip

    class Meta:
        db_table = "customers"
        ordering = ["user_id"]
        indexes = [
            models.Index(fields=["name_keys"], name="customers_name_keys"),
            # The search box finds people by phone and email. The unique index on phone is
            # partial ({$type: "string"}), which SecantusDB's planner never uses.
            models.Index(fields=["phone"], name="customers_phone"),
            models.Index(fields=["email"], name="customers_email"),
        ]
        # The documents that belong to a customer (orders, refunds, calls, ...) hold its
        # `user_id` through a ForeignKey with no index of its own (db_index=False): each of
        # those collections leads a compound index with `user_id` (`*_customer_recent` and
        # the like), which serves every lookup by customer, so a plain one would only cost
        # every write (three of them in a refund).

    def __str__(self) -> str:
        return f"{self.name} (#{self.user_id})"

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name else ""

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.name_keys = name_keys(self.name)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "name" in update_fields:
            kwargs["update_fields"] = {*update_fields, "name_keys"}
        super().save(*args, **kwargs)


@overload
def customer_key(related_name: str) -> models.ForeignKey[Customer, Customer]: ...
@overload
def customer_key(
    related_name: str, *, null: Literal[True]
) -> models.ForeignKey[Customer | None, Customer | None]: ...
def customer_key(related_name: str, *, null: bool = False) -> models.ForeignKey[Any, Any]:
    """The foreign key from a document to the customer it belongs to; `null=True` where it may
    belong to none (a phone caller we could not identify).

    The document field is the customer's `user_id` (an int), as the contract names it, with no
    index of its own (see Customer.Meta).
    """
    return models.ForeignKey(
        Customer,
        to_field="user_id",
        db_column="user_id",
        db_constraint=False,
        db_index=False,
        on_delete=models.DO_NOTHING,
        related_name=related_name,
        null=null,
        blank=null,
    )


# The embedded models' fields are annotated: django_mongodb_backend ships no types, so mypy's
# Django plugin does not know EmbeddedModel is a model and cannot infer them.
class OrderItem(EmbeddedModel):
    name: models.CharField[str, str] = models.CharField(max_length=120)
    qty: models.PositiveIntegerField[int, int] = models.PositiveIntegerField()
    price: models.BigIntegerField[int, int] = models.BigIntegerField(help_text="paise, per unit")

    def __str__(self) -> str:
        return f"{self.qty} × {self.name} @ {format_inr(self.price)}"


class OrderRefund(EmbeddedModel):
    """The refund an order received, embedded in the order (exactly one per order)."""

    amount: models.BigIntegerField[int, int] = models.BigIntegerField(help_text="paise")
    percent: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField()
    refund_id: models.CharField[str, str] = models.CharField(max_length=32)
    at: models.DateTimeField[dt.datetime, dt.datetime] = models.DateTimeField()

    def __str__(self) -> str:
        return f"{format_inr(self.amount)} ({self.percent}%, {self.refund_id})"


# The choices' labels are the words every staff page says (the admin's filters and columns,
# the back office, the conversation lines: support/staff/conversation.py), in sentence case:
# Django's default labels capitalise each word ("Out For Delivery").
class OrderStatus(models.TextChoices):
    PLACED = "placed", "Placed"
    PREPARING = "preparing", "Being prepared"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


# Only these statuses have a delivery time; the others are "null until delivered".
DELIVERED_STATUSES = frozenset({OrderStatus.DELIVERED.value, OrderStatus.REFUNDED.value})


class Order(models.Model):
    order_id = models.CharField(max_length=32, unique=True)
    customer = customer_key("orders")
    restaurant = models.CharField(max_length=120)
    items = EmbeddedModelArrayField(OrderItem, default=list)
    amount = models.BigIntegerField(help_text="paise")
    status = models.CharField(max_length=20, choices=OrderStatus.choices)
    placed_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    refund = EmbeddedModelField(OrderRefund, null=True, blank=True)

    class Meta:
        db_table = "orders"
        ordering = ["-placed_at"]
        indexes = [
            # check_order_status and lifetime spend: one customer's orders, newest first.
            models.Index(fields=["customer", "-placed_at"], name="orders_customer_recent"),
            # Staff lists filtered by status, newest first.
            models.Index(fields=["status", "-placed_at"], name="orders_status_recent"),
            # The unfiltered order list, newest first: its pages read a recent placed_at
            # range (support/admin.py, RecentFirstPaginator) instead of sorting them all.
            models.Index(fields=["-placed_at"], name="orders_recent"),
            # Lookups by order id. The unique index Django makes is partial ({$type:
            # "string"}), which SecantusDB's planner never uses for `order_id = X`: without
            # this, the admin's order-id search and the ticket page scanned every order.
            models.Index(fields=["order_id"], name="orders_order_id"),
        ]

    def __str__(self) -> str:
        return self.order_id


class Refund(models.Model):
    refund_id = models.CharField(max_length=32, unique=True)
    order_id = models.CharField(max_length=32, unique=True)  # one refund per order, enforced
    customer = customer_key("refunds")
    amount = models.BigIntegerField(help_text="paise")
    percent = models.PositiveSmallIntegerField()
    tier = models.CharField(max_length=40)
    reason = models.TextField(blank=True)
    call_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "refunds"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["-created_at"], name="refunds_recent"),
            # The customer page: one customer's refunds, newest first.
            models.Index(fields=["customer", "-created_at"], name="refunds_customer_recent"),
            # The search box (the unique index is partial, see Customer).
            models.Index(fields=["refund_id"], name="refunds_refund_id"),
        ]

    def __str__(self) -> str:
        return self.refund_id


class ComplaintCategory(models.TextChoices):
    FOOD_QUALITY = "food_quality", "Food quality"
    LATE_DELIVERY = "late_delivery", "Late delivery"
    MISSING_ITEMS = "missing_items", "Missing items"
    WRONG_ORDER = "wrong_order", "Wrong order"
    HYGIENE = "hygiene", "Hygiene"
    OTHER = "other", "Other"


class ComplaintStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_REVIEW = "in_review", "In review"
    RESOLVED = "resolved", "Resolved"


class Complaint(models.Model):
    complaint_id = models.CharField(max_length=32, unique=True)
    # Null for a phone caller we could not identify.
    customer = customer_key("complaints", null=True)
    order_id = models.CharField(max_length=32, null=True, blank=True)
    category = models.CharField(max_length=20, choices=ComplaintCategory.choices)
    description = models.TextField()
    status = models.CharField(
        max_length=20, choices=ComplaintStatus.choices, default=ComplaintStatus.OPEN
    )
    call_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "complaints"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="complaints_status_recent"),
            # The dashboard and the customer page.
            models.Index(fields=["-created_at"], name="complaints_recent"),
            models.Index(fields=["customer", "-created_at"], name="complaints_customer_recent"),
            models.Index(fields=["complaint_id"], name="complaints_complaint_id"),
        ]

    def __str__(self) -> str:
        return self.complaint_id


class Priority(models.TextChoices):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class EscalationStatus(models.TextChoices):
    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class EscalationNote(EmbeddedModel):
    author: models.CharField[str, str] = models.CharField(max_length=150)
    text: models.TextField[str, str] = models.TextField()
    at: models.DateTimeField[dt.datetime, dt.datetime] = models.DateTimeField(default=timezone.now)


class Escalation(models.Model):
    ticket_id = models.CharField(max_length=32, unique=True)
    customer = customer_key("escalations", null=True)
    order_id = models.CharField(max_length=32, null=True, blank=True)
    reason = models.TextField()
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(
        max_length=10, choices=EscalationStatus.choices, default=EscalationStatus.OPEN
    )
    assignee = models.CharField(max_length=150, null=True, blank=True)
    notes = EmbeddedModelArrayField(EscalationNote, default=list, blank=True)
    call_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "escalations"
        ordering = ["-created_at"]
        indexes = [
            # The staff queue: one status, oldest first.
            models.Index(fields=["status", "created_at"], name="escalations_queue"),
            # The open/claimed queue reads one priority at a time (support/staff/queries.py).
            models.Index(
                fields=["status", "priority", "created_at"], name="escalations_queue_priority"
            ),
            # Ticket pages by ticket id: the unique index is partial, like orders.order_id.
            models.Index(fields=["ticket_id"], name="escalations_ticket_id"),
            # The customer page, the tickets a call opened, the tickets export.
            models.Index(fields=["customer", "-created_at"], name="escalations_customer_recent"),
            models.Index(fields=["call_id"], name="escalations_call_id"),
            models.Index(fields=["-created_at"], name="escalations_recent"),
        ]

    def __str__(self) -> str:
        return self.ticket_id


class Channel(models.TextChoices):
    WEB = "web"
    PHONE = "phone"


class TranscriptLine(EmbeddedModel):
    role: models.CharField[str, str] = models.CharField(max_length=10)  # "user" or "agent"
    text: models.TextField[str, str] = models.TextField()
    at: models.DateTimeField[dt.datetime, dt.datetime] = models.DateTimeField()


class ToolCallRecord(EmbeddedModel):
    name: models.CharField[str, str] = models.CharField(max_length=64)
    args = models.JSONField(default=dict)
    result = models.JSONField(default=dict)
    ok: models.BooleanField[bool, bool] = models.BooleanField()
    started_at: models.DateTimeField[dt.datetime, dt.datetime] = models.DateTimeField()
    ms: models.IntegerField[int, int] = models.IntegerField()


class Call(models.Model):
    call_id = models.CharField(max_length=64, unique=True)
    customer = customer_key("calls", null=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=64, blank=True, default="")
    # What the call achieved (contract section 10), written once by postcall/finish.py onto a
    # record without one: a call in progress, or ended before outcomes, has none (None here).
    outcome = models.CharField(max_length=32, null=True, blank=True, editable=False)
    transcript = EmbeddedModelArrayField(TranscriptLine, default=list, blank=True)
    tool_calls = EmbeddedModelArrayField(ToolCallRecord, default=list, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    # Stamped by the process carrying the call at every write (realtime/call_record.py).
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "calls"
        ordering = ["-started_at"]
        permissions = [
            ("monitor_call", "Can watch, listen to and whisper on a live call"),
            ("take_over_call", "Can take over, hand back and end a live call"),
        ]
        indexes = [
            models.Index(fields=["-started_at"], name="calls_recent"),
            models.Index(fields=["customer", "-started_at"], name="calls_customer_recent"),
            # Every write to a live call's record finds it by call_id: the unique index is
            # partial, which SecantusDB's planner does not use for equality (as orders).
            models.Index(fields=["call_id"], name="calls_call_id"),
            # Open calls: a customer's (the per-customer limit), and stale ones (the sweeper).
            models.Index(fields=["customer", "ended_at"], name="calls_customer_open"),
            models.Index(fields=["ended_at", "last_seen_at"], name="calls_open_seen"),
            # Calls by outcome, newest first: the admin's outcome filter (support/admin.py,
            # NewestCallsPaginator). SecantusDB's planner takes it for the outcome and a time
            # range alone, never beside a negation ($nin) or a field it does not hold.
            models.Index(fields=["outcome", "-started_at"], name="calls_outcome_recent"),
            # ... and by how they ended: the call list's "Ended" filter (/staff/calls/), which
            # read every call of each widening time range for a reason few calls end with.
            models.Index(fields=["end_reason", "-started_at"], name="calls_end_reason_recent"),
        ]

    # What the voice path (realtime/call_record.py) and postcall/finish.py write once the record
    # exists: the ORM's copy of them is stale as soon as it is read (a live call appends to
    # its transcript every few seconds, postcall writes the outcome once it ends) and lossy
    # (the embedded lines and tool calls drop the keys the models do not declare).
    VOICE_PATH_FIELDS = frozenset({"ended_at", "end_reason", "outcome", "transcript",
                                   "tool_calls", "usage", "last_seen_at"})  # fmt: skip

    def __str__(self) -> str:
        return self.call_id

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A new call is inserted whole; a full save of a loaded one writes only the fields the
        voice path leaves alone (VOICE_PATH_FIELDS are written back only when named in
        `update_fields`): it never puts back an outcome, an end or a transcript as it read
        them over what the bridge has written since."""
        loaded = not self._state.adding and not kwargs.get("force_insert")
        if loaded and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in self.VOICE_PATH_FIELDS
            ]  # fmt: skip
        super().save(*args, **kwargs)

    def _do_insert(self, manager: Any, using: Any, fields: Any, returning_fields: Any,
                   raw: Any) -> Any:  # fmt: skip
        # The record is the voice path's (realtime/call_record.py); one made here (tests, a
        # shell) leaves out an outcome it does not have, as that path does: postcall/finish.py
        # finishes only a call with none (`$exists: false`), which a stored null is not.
        if self.outcome is None:
            fields = [field for field in fields if field.attname != "outcome"]
        # Django's hook for an insert (Model._save_table); django-stubs omits it.
        return super()._do_insert(manager, using, fields, returning_fields, raw)  # type: ignore[misc]


class RefundTier(models.Model):
    """A refund tier staff can edit; the next refund reads the current set."""

    name = models.CharField(max_length=40, unique=True)
    min_lifetime_spend = models.BigIntegerField(help_text="paise; the tier applies from here")
    percent = models.PositiveSmallIntegerField(help_text="0-100")

    class Meta:
        db_table = "refund_tiers"
        ordering = ["-min_lifetime_spend"]

    def __str__(self) -> str:
        return f"{self.name}: {self.percent}% from {format_inr(self.min_lifetime_spend)}"


class GoodwillKind(models.TextChoices):
    CREDIT = "credit", "Goodwill credit"
    REFUND = "refund", "Manual refund"


class GoodwillStatus(models.TextChoices):
    PROPOSED = "proposed", "Waiting for a lead"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Goodwill(models.Model):
    """A goodwill credit to a customer's wallet, or a manual refund of one order, outside the
    refund policy: proposed by staff, approved by a lead, applied once (support/goodwill.py).
    The document is its own audit trail: who asked and decided, when, and why."""

    goodwill_id = models.CharField(max_length=32, unique=True)
    kind = models.CharField(max_length=10, choices=GoodwillKind.choices)
    customer = customer_key("goodwill")
    order_id = models.CharField(max_length=32, null=True, blank=True)
    amount = models.BigIntegerField(help_text="paise")
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=GoodwillStatus.choices,
                              default=GoodwillStatus.PROPOSED)  # fmt: skip
    proposed_by = models.CharField(max_length=150)
    proposed_at = models.DateTimeField(default=timezone.now)
    decided_by = models.CharField(max_length=150, null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    refund_id = models.CharField(max_length=32, null=True, blank=True)
    # The form's one-time key: submitting the same form twice records one request.
    request_key = models.CharField(max_length=64, unique=True)

    class Meta:
        db_table = "goodwill"
        ordering = ["-proposed_at"]
        verbose_name = "goodwill credit or manual refund"
        verbose_name_plural = "goodwill credits and manual refunds"
        permissions = [("approve_goodwill", "Can approve goodwill credits and manual refunds")]
        indexes = [
            models.Index(fields=["customer", "-proposed_at"], name="goodwill_customer_recent"),
            models.Index(fields=["status", "-proposed_at"], name="goodwill_status_recent"),
            models.Index(fields=["goodwill_id"], name="goodwill_goodwill_id"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {format_inr(self.amount)} ({self.goodwill_id})"


class GoodwillPolicy(models.Model):
    """The limits leads set on goodwill (one row, made by a migration)."""

    daily_credit_cap = models.BigIntegerField(
        help_text="paise: the most goodwill credit one customer can get in one day"
    )

    class Meta:
        db_table = "goodwill_policy"
        verbose_name = "goodwill limits"
        verbose_name_plural = "goodwill limits"

    def __str__(self) -> str:
        return f"Goodwill credit up to {format_inr(self.daily_credit_cap)} per customer per day"
