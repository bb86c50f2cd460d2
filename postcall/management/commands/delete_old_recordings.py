"""Delete call recordings older than RECORDING_RETENTION_DAYS. Meant for cron, daily:

0 3 * * *  cd /app && python manage.py delete_old_recordings

A run is bounded (--timeout): a database that stops answering fails it (exit 1) instead of
holding it, and the next day's run behind it, forever. A run cut short deletes nothing by
halves (postcall/store.py: delete_older_than); the next one deletes what it left.
"""

from __future__ import annotations

from typing import Any

import pymongo
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from pymongo.errors import PyMongoError

from postcall import store
from postcall.management import days_before_now
from support import mongo
from support.management import check_answering, failure_line, step_bound

# A daily run deletes a day of recordings in seconds, and a first run after months of them in
# minutes: an hour is a database that stopped answering, not work.
RUN_TIMEOUT_S = 3600
# The bound reaches the database as maxTimeMS, which it takes up to 2^31 - 1 ms (24.8 days);
# a daily run bounded by more than a week is not bounded at all.
MAX_TIMEOUT_S = 7 * 24 * 3600


class Command(BaseCommand):
    help = ("Delete call recordings older than RECORDING_RETENTION_DAYS (or --days); those of "
            "calls still in progress, or still being written, stay.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None)
        parser.add_argument("--timeout", type=int, default=RUN_TIMEOUT_S, metavar="SECONDS",
                            help="give up (exit 1) after this long; what was deleted stays "
                                 f"deleted and the next run deletes the rest (default "
                                 f"{RUN_TIMEOUT_S}, at most {MAX_TIMEOUT_S})")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] is None:
            cutoff = days_before_now(settings.RECORDING_RETENTION_DAYS, "RECORDING_RETENTION_DAYS")
        else:
            cutoff = days_before_now(options["days"], "--days")
        seconds = options["timeout"]
        if not 0 < seconds <= MAX_TIMEOUT_S:
            raise CommandError(f"--timeout must be a number of seconds above 0 and at most "
                               f"{MAX_TIMEOUT_S} (a week), not {seconds}.")  # fmt: skip
        try:
            check_answering(mongo.sync_db())
            with pymongo.timeout(seconds):
                deleted = store.delete_older_than(cutoff, step_bound)
        except PyMongoError as error:
            raise CommandError(failure_line(error)) from error
        self.stdout.write(
            f"Deleted {deleted} recording(s) started before {cutoff:%Y-%m-%d %H:%M} UTC."
        )
