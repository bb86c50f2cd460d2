"""Summarise ended calls again, or those still without the model's summary (`--missing`):
after a summary model is configured, after an outage of it, or for calls from before summaries.
Every ended call has a summary, the one-line account from its tool results when no model was
configured or the model failed: with a model configured, `--missing` asks it for those.

    python manage.py summarize_calls --missing --days 7   # ended calls of the last week without one
    python manage.py summarize_calls --missing --all      # ... whenever they started
    python manage.py summarize_calls --missing            # ... if they are 100 at most
    python manage.py summarize_calls CALL-0123abcd CALL-4567ef01

Each call the model summarises is a paid request: the command says how many it is about to
ask for and of which model, and with a model configured `--missing` asks for more than
UNBIDDEN_LIMIT calls (a model configured for the first time, with months of calls behind it)
only when told how far back (`--days`) or that it is every one (`--all`).

`--missing` first gives their outcome (postcall.finish.finish_past_call) to the ended calls no
sweeper finishes, those that ended more than UNFINISHED_LOOK_BACK ago without one (from before
outcomes were kept, or ended while no server ran for longer): every one, whatever `--days` and
with or without a model, since the outcome is derived from the record and asks for nothing.

Calls are summarised one after another (each within the summary's own timeout and retries),
so a large backlog takes a while but never floods the model. Runs at once (cron's and an
operator's, or the process that ended a call still writing its summary) never ask the model
twice for one call: a call another run has is skipped, and counted as such.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from pymongo.errors import PyMongoError

from postcall import finish, logs, summary
from postcall.management import days_before_now
from support import mongo
from support.management import bounded, check_answering, failure_line

# The most calls `--missing` asks the model for without `--days` or `--all`.
UNBIDDEN_LIMIT = 100


class Command(BaseCommand):
    help = ("Summarise the given ended calls, or (--missing) every ended call the model has not "
            "summarised.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("call_ids", nargs="*", metavar="CALL_ID")
        parser.add_argument("--missing", action="store_true",
                            help="every ended call without the model's summary (without a "
                                 "model: without any summary); with a model, at most "
                                 f"{UNBIDDEN_LIMIT} calls unless --days or --all is given, "
                                 "since each is a paid request")  # fmt: skip
        parser.add_argument("--days", type=int, default=None,
                            help="with --missing: only calls of the last DAYS days")  # fmt: skip
        parser.add_argument("--all", action="store_true",
                            help="with --missing: every such call, however many")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        named: list[str] = list(options["call_ids"])
        days, every = options["days"], options["all"]
        if (days is not None or every) and not options["missing"]:
            raise CommandError(f"{'--all' if every else '--days'} goes with --missing.")
        if days is not None and every:
            raise CommandError("--all or --days, not both.")
        if not named and not options["missing"]:
            raise CommandError("Name the calls to summarise, or use --missing.")
        try:
            check_answering(mongo.sync_db())
            if options["missing"]:
                self.finish_past_calls()
            listed = [doc for doc in (missing(days) if options["missing"] else [])
                      if doc["call_id"] not in named]  # fmt: skip
            if not summary.configured():
                self.stdout.write("No summary model is configured (GEMINI_API_KEY, "
                                  "CALL_SUMMARY_MODEL): writing the one-line accounts.")
            elif len(listed) > UNBIDDEN_LIMIT and days is None and not every:
                raise CommandError(unbidden(listed))
            elif named or listed:
                self.stdout.write(f"Asking {settings.CALL_SUMMARY_MODEL} for the summaries of "
                                  f"{len(named) + len(listed)} call(s).")  # fmt: skip
            ids = [str(doc["call_id"]) for doc in listed]
            written, skipped, absent = asyncio.run(
                summarise_all(named + ids, self.stdout.write, if_missing=set(ids))
            )
        except PyMongoError as error:
            raise CommandError(failure_line(error)) from error
        self.stdout.write(f"Summarised {written} call(s).")
        if skipped:
            self.stdout.write(f"Skipped {skipped} call(s): another run had them.")
        if absent:
            raise CommandError(f"Not found or not ended: {', '.join(absent)}.")

    def finish_past_calls(self) -> None:
        """Give the calls no sweeper finishes their outcome (`--missing`). Raises
        PyMongoError."""
        ids = past_unfinished()
        if ids:
            finished = asyncio.run(finish_all(ids))
            days = finish.UNFINISHED_LOOK_BACK.days
            self.stdout.write(f"Gave {finished} call(s) that ended more than {days} days ago "
                              "their outcome.")  # fmt: skip


def past_unfinished() -> list[str]:
    """The ids of the ended calls no sweeper finishes (finish.past_unfinished), the earliest
    ended first."""
    query = finish.past_unfinished(dt.datetime.now(dt.UTC))
    found = mongo.sync_db().calls.find(query, {"_id": 0, "call_id": 1, "outcome": 1})
    # A null outcome is no call to finish (finish.unfinished).
    return [str(doc["call_id"]) for doc in bounded(found.sort("ended_at", 1))
            if "outcome" not in doc]  # fmt: skip


async def finish_all(ids: list[str]) -> int:
    """Finish each call in turn (finish.finish_past_call); how many this run finished."""
    finished = 0
    try:
        for call_id in ids:
            finished += await finish.finish_past_call(call_id) is not None
    finally:
        await mongo.close_async_client()
    return finished


def unbidden(listed: list[dict[str, Any]]) -> str:
    """Why `--missing` does not ask the model for `listed` (oldest first) unbidden."""
    oldest = listed[0].get("started_at")
    since = f", the oldest started {timezone.localtime(oldest):%Y-%m-%d}" if oldest else ""
    return (
        f"{len(listed)} ended calls have no summary of {settings.CALL_SUMMARY_MODEL}'s{since}: "
        "each is a paid request. Give --days N for those of the last N days, or --all for "
        f"every one (without either, at most {UNBIDDEN_LIMIT} are asked for)."
    )


def missing(days: int | None) -> list[dict[str, Any]]:
    """Ended calls without the summary they can have (summary.missing), oldest first: their
    `call_id` and `started_at`. Not those still to be finished (postcall.finish), whose
    finishing asks for their summary: only finished calls, and those ended before
    finish.LOOK_BACK, whose finishing (a sweeper's, once a server runs again) asks the model
    for none (from before outcomes were kept, or ended while the servers were down)."""
    finished = [{"outcome": {"$exists": True}},
                {"ended_at": {"$lt": dt.datetime.now(dt.UTC) - finish.LOOK_BACK}}]  # fmt: skip
    match: dict[str, Any] = {"ended_at": {"$ne": None}, "$or": finished, **summary.missing()}
    if days is not None:
        match["started_at"] = {"$gte": days_before_now(days, "--days")}
    found = {"_id": 0, "call_id": 1, "started_at": 1}
    # Each batch within the command's step bound (support/management): the summaries'
    # own requests are bounded by the async client's timeout.
    return list(bounded(mongo.sync_db().calls.find(match, found).sort("started_at", 1)))


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
                with logs.about(call_id):  # the model's failures, logged, name the call
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
