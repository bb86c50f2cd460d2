"""Delete call recordings older than RECORDING_RETENTION_DAYS. Meant for cron, daily:

0 3 * * *  cd /app && python manage.py delete_old_recordings
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from pymongo.errors import PyMongoError

from postcall import store
from postcall.management import days_before_now
from support import mongo


class Command(BaseCommand):
    help = ("Delete call recordings older than RECORDING_RETENTION_DAYS (or --days); those of "
            "calls still in progress stay.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] is None:
            cutoff = days_before_now(settings.RECORDING_RETENTION_DAYS, "RECORDING_RETENTION_DAYS")
        else:
            cutoff = days_before_now(options["days"], "--days")
        try:
            deleted = store.delete_older_than(cutoff)
        except PyMongoError as error:
            raise CommandError(mongo.failure_line(error)) from error
        self.stdout.write(
            f"Deleted {deleted} recording(s) started before {cutoff:%Y-%m-%d %H:%M} UTC."
        )
