"""Callbacks in the Django admin: to look one up (by id, phone or customer), not to edit.

Claiming and closing go through /staff/callbacks/ (callbacks/desk.py), whose conditional
updates keep two staff from both winning; an edit here would bypass them, and could put a
cancelled callback back into a slot that is full.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.formats import date_format

from callbacks.models import Callback
from support.admin import BigCollectionAdmin, ReadOnlyAdmin


@admin.register(Callback)
class CallbackAdmin(ReadOnlyAdmin, BigCollectionAdmin):
    list_display = ["callback_id", "local_slot", "who", "status", "assignee_"]
    list_filter = ["status"]
    search_fields = ["=callback_id", "=ticket_id", "=assignee"]
    search_customers = True  # by the customer's name or phone, as people say it
    search_help_text = ("Callback id, ticket id, the assignee's username, or the customer's "
                        "name or phone.")
    names_staff = True
    ordering = ["-slot_start"]

    @admin.display(description="slot", ordering="slot_start")
    def local_slot(self, callback: Callback) -> str:
        # SUPPORT_TIME_ZONE is TIME_ZONE; written as the rest of the admin writes a time.
        return date_format(timezone.localtime(callback.slot_start), "DATETIME_FORMAT")

    @admin.display(description="assignee", ordering="assignee")
    def assignee_(self, callback: Callback) -> str:
        return self.colleague(callback, callback.assignee)
