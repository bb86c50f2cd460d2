"""Summarise ended calls again, or those still without the model's summary (`--missing`):
after a summary model is configured, after an outage of it, or for calls from before summaries.
Every ended call has a summary, the one-line account from its tool results when no model was
configured or the model failed: with a model configured, `--missing` asks it for those.

    python manage.py summarize_calls --missing            # every ended call without one
    python manage.py summarize_calls --missing --days 7   # ... started in the last week
    python manage.py summarize_calls CALL-0123abcd CALL-4567ef01

Calls are summarised one after another (each within the summary's own timeout and retries),
so a large backlog takes a while but never floods the model.
Runs at once (cron's and an operator's, or
the process that ended a call still writing its summary) never ask the model twice for one
call: a call another run has is skipped, and counted as such.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from pymongo.errors import PyMongoError

from postcall import summary
from postcall.management import days_before_now
from support import mongo


class Command(BaseCommand):
    help = ("Summarise the given ended calls, or (--missing) every ended call the model has not "
            "summarised.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("call_ids", nargs="*", metavar="CALL_ID")
        parser.add_argument("--missing", action="store_true",
                            help="every ended call without the model's summary (without a "
                                 "model: without any summary)")  # fmt: skip
        parser.add_argument("--days", type=int, default=None,
                            help="with --missing: only calls of the last DAYS days")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        named: list[str] = list(options["call_ids"])
        if options["days"] is not None and not options["missing"]:
            raise CommandError("--days goes with --missing.")
        if not named and not options["missing"]:
            raise CommandError("Name the calls to summarise, or use --missing.")
        try:
            listed = missing(options["days"]) if options["missing"] else []
            if not summary.configured():
                self.stdout.write("No summary model is configured (GEMINI_API_KEY, "
                                  "CALL_SUMMARY_MODEL): writing the one-line accounts.")
            listed = [call_id for call_id in listed if call_id not in named]
            written, skipped, absent = asyncio.run(
                summarise_all(named + listed, self.stdout.write, if_missing=set(listed))
            )
        except PyMongoError as error:
            raise CommandError(mongo.failure_line(error)) from error
        self.stdout.write(f"Summarised {written} call(s).")
        if skipped:
            self.stdout.write(f"Skipped {skipped} call(s): another run had them.")
        if absent:
            raise CommandError(f"Not found or not ended: {', '.join(absent)}.")


def missing(days: int | None) -> list[str]:
    """Ended calls without the summary they can have (summary.missing), oldest first."""
    match: dict[str, Any] = {"ended_at": {"$ne": None}, **summary.missing()}
    if days is not None:
        match["started_at"] = {"$gte": days_before_now(days, "--days")}
    calls = mongo.sync_db().calls.find(match, {"_id": 0, "call_id": 1}).sort("started_at", 1)
    return [str(doc["call_id"]) for doc in calls]


async def summarise_all(
    ids: list[str], say: Callable[[str], Any], *, if_missing: set[str]
) -> tuple[int, int, list[str]]:
    """Summarise each call in turn, those in `if_missing` only if they still miss a summary
    when their turn comes; (how many were written, how many were left to another run that had
    them, the ids not found or not ended)."""
    written, skipped, absent = 0, 0, []
    try:
        for call_id in ids:
            try:
                done = await summary.summarize_call(call_id, if_missing=call_id in if_missing)
            except summary.SummaryBusy:
                skipped += 1
                say(f"{call_id}: skipped, another run has it")
                continue
            if done is None:
                absent.append(call_id)
                continue
            written += 1
            failed = f" (the model failed: {done['error']})" if done.get("error") else ""
            if done.get("last_error"):
                failed = f" (kept: the model failed again: {done['last_error']})"
            elif done.get("source") == "model" and not summary.configured():
                failed = " (kept: no summary model is configured)"
            say(f"{call_id}: {done['text']}{failed}")
    finally:
        await mongo.close_async_client()
    return written, skipped, absent
