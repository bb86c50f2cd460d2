"""The `callbacks` collection (contract section 9), as a Django model for the back office.

The voice path books and cancels with raw PyMongo (callbacks/booking.py); staff work callbacks
through callbacks/desk.py. Both write the shape below. Two fields beyond the contract carry
the booking rules, each backed by a unique index made in migration 0001 (partial: it holds
`scheduled` callbacks only, so a cancellation frees both at once):

* `seat` (1..CALLBACK_SLOT_CAPACITY): the place taken in the slot; unique per `slot_start`,
  so a slot can never hold more bookings than it has seats, however many book at once (seats
  above a lowered capacity, booked before, count against it too: callbacks/booking.py).
* `local_date` (the slot's date in the customer's time zone, "2026-12-03"): unique per
  customer, which is the one-callback-a-day rule.

"Call now" (callbacks/desk.py) keeps its latest dial beside the booking: `dialled_at`,
Twilio's `call_sid`, `answered_call_id` (the call the customer answered), and `dial_status`,
Twilio's final CallStatus for a dial nobody answered (`busy`, `failed`, `no-answer`,
`canceled`, from the dial's StatusCallback, `/twilio/dial-status`), or `completed` for one the
customer picked up that never reached the dialler: the phone rings no more, so the callback
may be dialled again or closed at once. Each new dial clears
`answered_call_id` and `dial_status`.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from support.models import customer_key


class CallbackStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    DONE = "done"
    CANCELLED = "cancelled"
    MISSED = "missed"


class Callback(models.Model):
    callback_id = models.CharField(max_length=32, unique=True)
    customer = customer_key("callbacks")
    phone = models.CharField(max_length=20, help_text="the number to call, from the customer")
    slot_start = models.DateTimeField(help_text="UTC; the slot lasts 30 minutes")
    local_date = models.CharField(max_length=10, help_text="the slot's date for the customer")
    seat = models.PositiveSmallIntegerField(help_text="the place taken in the slot")
    reason = models.TextField()
    status = models.CharField(
        max_length=10, choices=CallbackStatus.choices, default=CallbackStatus.SCHEDULED
    )
    call_id = models.CharField(max_length=64, blank=True, default="", help_text="booked in")
    ticket_id = models.CharField(max_length=32, null=True, blank=True)
    assignee = models.CharField(max_length=150, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # "Call now": when a staff member last dialled the customer, and Twilio's CallSid.
    dialled_at = models.DateTimeField(null=True, blank=True)
    call_sid = models.CharField(max_length=64, blank=True, default="")
    answered_call_id = models.CharField(
        max_length=64, blank=True, default="", help_text="the call the customer answered"
    )
    dial_status = models.CharField(
        max_length=16, blank=True, default="", help_text="how a dial nobody answered ended"
    )
    closed_at = models.DateTimeField(null=True, blank=True, help_text="done, missed or cancelled")

    class Meta:
        db_table = "callbacks"
        ordering = ["slot_start"]
        indexes = [
            # The staff page: every callback from today on, and overdue scheduled ones.
            models.Index(fields=["slot_start"], name="callbacks_slot"),
            models.Index(fields=["status", "slot_start"], name="callbacks_status_slot"),
            # A customer's upcoming callbacks (list_callback_slots, cancel_callback).
            models.Index(fields=["customer", "slot_start"], name="callbacks_customer_slot"),
            # By id: the unique index is partial, which SecantusDB's planner does not use for
            # equality (as orders.order_id).
            models.Index(fields=["callback_id"], name="callbacks_callback_id"),
            # A ticket's callbacks, on its page.
            models.Index(fields=["ticket_id"], name="callbacks_ticket"),
            # The callback a dial's status is about: by Twilio's CallSid.
            models.Index(fields=["call_sid"], name="callbacks_call_sid"),
        ]

    def __str__(self) -> str:
        return self.callback_id
