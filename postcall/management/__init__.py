"""What the housekeeping commands share: how far back a number of days reaches."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import CommandError

# A hundred years: more is a typo (and soon past the first date there is).
MAX_DAYS = 36_500


def days_before_now(days: int, name: str) -> dt.datetime:
    """The time `days` days ago; CommandError naming `name` (the option or setting it came
    from) when `days` is negative or more than MAX_DAYS."""
    if not 0 <= days <= MAX_DAYS:
        raise CommandError(f"{name} must be from 0 to {MAX_DAYS}, not {days}.")
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
