"""The audit of staff token mints in the admin: read-only, for support leads."""

from __future__ import annotations

from django.contrib import admin

from realtime.models import VoiceTokenMint
from support.admin import ReadOnlyAdmin


@admin.register(VoiceTokenMint)
class VoiceTokenMintAdmin(ReadOnlyAdmin):
    """An audit: nobody adds, edits or deletes a row by hand."""

    list_display = ["minted_at", "staff", "customer", "address"]
    search_fields = ["staff_username", "staff_name", "customer_name"]
    fields = ("minted_at", "staff", "customer", "address")
    readonly_fields = fields
    # The newest first, without counting a growing collection on every page.
    show_full_result_count = False

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
