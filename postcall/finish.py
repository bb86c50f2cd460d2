"""The end-of-call hook: outcome, duration, turns and cost onto the `calls` document
(contract section 10), then the summary, off the call's path."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from pymongo.errors import PyMongoError

from postcall import metrics, summary
from postcall.cost import UnknownModel, call_cost
from postcall.outcome import CallFacts, outcome

log = logging.getLogger(__name__)

CHANNELS = frozenset({"web", "phone"})  # metrics labels: anything else is "other"


def after_call_fields(
    call: dict[str, Any], turns: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """What section 10 adds to an ended call document. `turns`: those measured by the
    process that ended it, after those of processes that carried it before (on the
    document). Pure."""
    turns = list(call.get("turns") or []) + list(turns or [])
    fields: dict[str, Any] = {"outcome": outcome(CallFacts.from_record(call)).value, "turns": turns}
    started, ended = call.get("started_at"), call.get("ended_at")
    if started and ended:
        fields["duration_s"] = round((ended - started).total_seconds(), 1)
    try:
        fields["cost"] = cost_now(call.get("usage") or {})
    except UnknownModel as error:
        log.warning("call %s: no cost: %s", call.get("call_id"), error)
    return fields


def cost_now(usage: dict[str, Any]) -> dict[str, Any]:
    """A call's cost (postcall/cost.py) for the configured model at the configured prices and
    currency. Raises UnknownModel when LIVE_PRICES has no price for the model."""
    return call_cost(usage, model=settings.GEMINI_LIVE_MODEL, prices=settings.LIVE_PRICES,
                     currency=settings.COST_CURRENCY, per_usd=settings.COST_PER_USD)  # fmt: skip


async def keep_turns(call_id: str, turns: list[dict[str, Any]]) -> None:
    """The turns a process measured, written as the call moves on to another process (which
    adds its own at the end). Raises PyMongoError."""
    from support import mongo

    if turns:
        await mongo.async_db().calls.update_one(
            {"call_id": call_id}, {"$push": {"turns": {"$each": turns}}}
        )


async def finish_call(call_id: str, turns: list[dict[str, Any]] | None = None) -> str | None:
    """Write the after-call fields, count the call as ended and schedule the summary, once
    per call whoever else finishes it at the same time; returns the outcome. None when this
    did not finish it: already finished, not ended yet (its record's close is being retried:
    `finish_leftovers` finishes it once it is), or the database could not be reached (the
    call itself is over either way). `turns`: those the ending process measured (none when
    the sweeper ended the call); kept on the record when it is not ended yet."""
    from support import mongo

    calls = mongo.async_db().calls
    try:
        call = await calls.find_one({"call_id": call_id})
        if call is None or "outcome" in call:
            return None
        if not call.get("ended_at"):
            log.info("call %s: not closed yet; finished once it is", call_id)
            await keep_turns(call_id, list(turns or []))
            return None
        # `finished_at`: when its summary was scheduled (`finish_leftovers` goes by it).
        fields = {**after_call_fields(call, turns), "finished_at": dt.datetime.now(dt.UTC)}
        # The outcome is the mark: of two finishers at once, one writes and goes on.
        done = await calls.update_one(
            {"call_id": call_id, "outcome": {"$exists": False}}, {"$set": fields}
        )
    except PyMongoError as error:
        log.warning("call %s: could not write its outcome: %s", call_id, error)
        return None
    if not done.modified_count:
        return None
    channel = call.get("channel")
    metrics.CALLS_ENDED.labels(channel if channel in CHANNELS else "other", fields["outcome"]).inc()
    summary.schedule(call_id)
    return str(fields["outcome"])


async def correct_outcome(call_id: str) -> str | None:
    """The outcome of a call whose record was corrected after it ended (a transfer nobody
    answered: `escalated`, not `transferred`), written again; a call not finished yet is
    finished. It still counts as ended once, under its first outcome, in the metrics; its
    summary is made to agree (summary.outcome_corrected). Returns the outcome; None when the
    database could not be reached."""
    from support import mongo

    calls = mongo.async_db().calls
    try:
        call = await calls.find_one({"call_id": call_id})
        if call is None or "outcome" not in call:
            return await finish_call(call_id) if call is not None else None
        corrected = outcome(CallFacts.from_record(call)).value
        if corrected != call["outcome"]:
            await calls.update_one({"call_id": call_id}, {"$set": {"outcome": corrected}})
            await summary.outcome_corrected(call_id, str(call["outcome"]))
    except PyMongoError as error:
        log.warning("call %s: could not correct its outcome: %s", call_id, error)
        return None
    return corrected


# A call ended this long ago without an outcome lost whoever was finishing it (its process
# killed between closing the record and finishing it, or the database away then); a summary
# not written this long after the call was finished (the model's attempts take at most a
# minute) never will be by the process that was writing it. Calls ended before LOOK_BACK are
# left to `summarize_calls --missing`: a sweep reads only the recent ones (by `ended_at`,
# which is indexed).
UNFINISHED_AFTER = dt.timedelta(seconds=30)
SUMMARY_LATE = dt.timedelta(minutes=2)
LOOK_BACK = dt.timedelta(hours=6)


async def finish_leftovers(now: dt.datetime) -> int:
    """Finish the calls that ended without being finished, and write the one-line account for
    those finished here whose summary was never written (not for calls given an outcome
    otherwise: the demo's, or from before summaries); returns how many calls were finished.
    Safe to run from every process at once (continuity/sweeper.py does, every few seconds)."""
    from support import mongo

    calls = mongo.async_db().calls
    recent = {"$gte": now - LOOK_BACK}
    unfinished = calls.find(
        {"ended_at": {**recent, "$lt": now - UNFINISHED_AFTER}, "outcome": {"$exists": False}},
        {"_id": 0, "call_id": 1},
    )
    finished = 0
    async for doc in unfinished:
        finished += await finish_call(str(doc["call_id"])) is not None
    # Not while a run is writing it (its claim on the call lapses if its process died).
    unsummarised = calls.find(
        {"ended_at": recent, "finished_at": {"$lt": now - SUMMARY_LATE},
         "summary": {"$exists": False}, **summary.unclaimed(now)},
        {"_id": 0, "call_id": 1},
    )  # fmt: skip
    # Without a model the account is all there is: no failure to note beside it.
    reason = summary.SERVER_STOPPED if summary.configured() else None
    async for doc in unsummarised:
        await summary.write_stand_in(str(doc["call_id"]), reason)
    return finished
