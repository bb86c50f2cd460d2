"""Callbacks in the Django admin: to look one up (by id, phone or customer), not to edit.

Claiming and closing go through /staff/callbacks/ (callbacks/desk.py), whose conditional
updates keep two staff from both winning; an edit here would bypass them, and could put a
cancelled callback back into a slot that is full.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils import timezone

from callbacks import board
from callbacks.models import Callback
from callbacks.slots import SLOT_LENGTH, Hours
from support.admin import BigCollectionAdmin, ReadOnlyAdmin, staff_link
from support.staff.labels import local_time, phone_label


@admin.register(Callback)
class CallbackAdmin(ReadOnlyAdmin, BigCollectionAdmin):
    # Its status as the board says it ("Late", "No answer at 10:31"); the filter selects the
    # stored one ("Scheduled" for both).
    list_display = ["callback_id", "slot", "who", "status_", "assignee_"]
    list_filter = ["status"]
    search_fields = ["=callback_id", "=ticket_id", "=assignee"]
    search_customers = True  # by the customer's name or phone, as people say it
    search_help_text = ("Callback id, ticket id, the assignee's username, or the customer's "
                        "name or phone.")
    names_staff = True
    ordering = ["-slot_start"]
    # The page of one callback as the staff pages say it: the customer by name, the slot in
    # the support time zone (not "UTC"), colleagues by name, the ticket and the calls as links
    # to their pages; not the slot's bookkeeping (its local date and place), which the
    # booking rules keep.
    fields = ("callback_id", "who", "number", "slot", "status_", "reason", "assignee_",
              "ticket", "booked_in", "answered_in", "dialled_at", "dial_ended", "twilio_call",
              "created_at", "closed_at")  # fmt: skip
    readonly_fields = fields

    @admin.display(description="slot", ordering="slot_start")
    def slot(self, callback: Callback) -> str:
        """ "7 Dec 2026, 15:30–16:00": as the rest of the admin writes a time, in the support
        time zone (TIME_ZONE is SUPPORT_TIME_ZONE)."""
        end = timezone.localtime(callback.slot_start + SLOT_LENGTH)
        return f"{local_time(callback.slot_start)}–{end:%H:%M}"

    def read_for_page(self, rows: list[Any]) -> None:
        shown = board.statuses(rows, timezone.now(), Hours.from_settings())
        for row in rows:
            row.board_status = shown[row.callback_id]

    @admin.display(description="status", ordering="status")
    def status_(self, callback: Callback) -> str:
        """As the board shows it (board.py `_status`): a scheduled one "Late", "Due now" or
        where its latest dial stands, a closed one "Done", "Missed" or "Cancelled"."""
        shown: str | None = getattr(callback, "board_status", None)  # read for the list's page
        if shown is None:  # its own page
            shown = board.statuses([callback], timezone.now(), Hours.from_settings())[
                callback.callback_id]  # fmt: skip
        return shown

    @admin.display(description="assignee", ordering="assignee")
    def assignee_(self, callback: Callback) -> str:
        return self.colleague(callback, callback.assignee)

    @admin.display(description="number to call")
    def number(self, callback: Callback) -> str:
        return phone_label(callback.phone)

    @admin.display(description="dial ended")
    def dial_ended(self, callback: Callback) -> str:
        """How Twilio said the latest dial ended, if nobody answered it (board.py's words)."""
        return board.dial_ended_words(callback.dial_status) or self.get_empty_value_display()

    @admin.display(description="Twilio call SID")
    def twilio_call(self, callback: Callback) -> str:
        return callback.call_sid or self.get_empty_value_display()

    @admin.display(description="ticket")
    def ticket(self, callback: Callback) -> str:
        return staff_link("staff:ticket", callback.ticket_id)

    @admin.display(description="booked in")
    def booked_in(self, callback: Callback) -> str:
        return staff_link("staff:call", callback.call_id, "the call it was booked in")

    @admin.display(description="answered in")
    def answered_in(self, callback: Callback) -> str:
        return staff_link("staff:call", callback.answered_call_id, "the call the customer answered")
