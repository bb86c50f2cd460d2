"""What the voice bridge keeps in the database through Django: the audit of staff token mints.

Calls themselves are written by the bridge with PyMongo (`realtime/call_record.py`).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.formats import date_format

MINT_PERMISSION = "realtime.mint_voice_token"


class VoiceTokenMint(models.Model):
    """A voice session token a staff member minted for a customer: who, for whom, when.

    Written before the token is handed out, so no staff-minted token exists without its row.
    Tokens a host application mints with VOICE_API_KEY, or demo mode, are not recorded here.
    """

    minted_at = models.DateTimeField(default=timezone.now, db_index=True)
    staff_username = models.CharField("staff", max_length=150)
    staff_name = models.CharField(max_length=300, blank=True)
    user_id = models.BigIntegerField("customer id")
    customer_name = models.CharField(max_length=200, blank=True)
    address = models.GenericIPAddressField("IP address", null=True, blank=True)

    class Meta:
        db_table = "voice_token_mints"
        ordering = ["-minted_at"]
        verbose_name = "voice token minted by staff"
        verbose_name_plural = "voice tokens minted by staff"
        permissions = [
            ("mint_voice_token", "Can mint a voice session token for any customer"),
        ]

    def __str__(self) -> str:
        minted = date_format(timezone.localtime(self.minted_at), "DATETIME_FORMAT")
        return f"{self.staff_username} for #{self.user_id}, {minted}"  # as the admin writes times
