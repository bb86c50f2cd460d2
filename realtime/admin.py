"""The audit of staff token mints in the admin: read-only, for support leads."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from realtime.models import VoiceTokenMint
from support.admin import LONGEST_PHRASE, ReadOnlyAdmin


@admin.register(VoiceTokenMint)
class VoiceTokenMintAdmin(ReadOnlyAdmin):
    """An audit: nobody adds, edits or deletes a row by hand."""

    list_display = ["minted_at", "staff", "customer", "address"]
    search_fields = ["staff_username", "staff_name", "customer_name"]
    fields = ("minted_at", "staff", "customer", "address")
    readonly_fields = fields
    # The newest first, without counting a growing collection on every page.
    show_full_result_count = False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        # Each word is looked for as a pattern in the names: a search longer than any name
        # finds nobody, and is not sent (the embedded SecantusDB refuses a pattern over 1,000
        # characters: the list answered 500).
        if len(search_term.strip()) > LONGEST_PHRASE:
            self.message_user(request, f"A search of more than {LONGEST_PHRASE} characters "
                                       "finds nobody: search for a name or a username.",
                              messages.WARNING)  # fmt: skip
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="staff", ordering="staff_username")
    def staff(self, mint: VoiceTokenMint) -> str:
        if mint.staff_name:
            return f"{mint.staff_name} ({mint.staff_username})"
        return mint.staff_username

    @admin.display(description="customer", ordering="user_id")
    def customer(self, mint: VoiceTokenMint) -> str:
        if mint.customer_name:
            return f"{mint.customer_name} (#{mint.user_id})"
        return f"#{mint.user_id}"
