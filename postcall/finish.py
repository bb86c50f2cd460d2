"""The end-of-call hook: outcome, duration, turns and cost onto the `calls` document
(contract section 10), then the summary, off the call's path."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from django.conf import settings
from pymongo.errors import PyMongoError

from postcall import metrics, summary
from postcall.cost import UnknownModel, call_cost
from postcall.outcome import MOVED_END_REASONS, CallFacts, outcome

log = logging.getLogger(__name__)

CHANNELS = frozenset({"web", "phone"})  # metrics labels: anything else is "other"
# How many times the outcome is worked out again when the record was corrected between its
# read and the outcome's write; a call corrected that often is finished by `finish_leftovers`.
OUTCOME_ATTEMPTS = 3


def after_call_fields(
    call: dict[str, Any], turns: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """What section 10 adds to an ended call document. `turns`: those measured by the
    process that ended it, after those of processes that carried it before (on the
    document). Pure."""
    turns = list(call.get("turns") or []) + list(turns or [])
    fields: dict[str, Any] = {"outcome": outcome(CallFacts.from_record(call)).value, "turns": turns}
    started, ended = call.get("started_at"), call.get("ended_at")
    if isinstance(started, dt.datetime) and isinstance(ended, dt.datetime):
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
    adds its own at the end), or late (kept while the database was away): in the order they
    were taken, for the call page's turn-by-turn chart. Raises PyMongoError."""
    from support import mongo

    if turns:
        await mongo.async_db().calls.update_one(
            {"call_id": call_id}, {"$push": {"turns": {"$each": turns, "$sort": {"at": 1}}}}
        )


async def hand_on_turns(call_id: str, turns: list[dict[str, Any]]) -> None:
    """The turns a process measured, kept on the record as the call moves on to another
    process; while the database is away, kept in this process and written once it is back
    (as those of a call ended then), not lost with the move."""
    try:
        await keep_turns(call_id, turns)
    except PyMongoError as error:
        log.warning("call %s: could not keep its turns yet: %s", call_id, error)
        _keep_unwritten(call_id, turns)


async def finish_call(call_id: str, turns: list[dict[str, Any]] | None = None) -> str | None:
    """Write the after-call fields, count the call as ended and schedule the summary, once
    per call whoever else finishes it at the same time; returns the outcome. None when this
    did not finish it: already finished, not ended yet (its record's close is being retried:
    `finish_leftovers` finishes it once it is), or the database could not be reached (the
    call itself is over either way). `turns`: those the ending process measured (none when
    the sweeper ended the call); kept on the record when it is not ended yet. Turns the
    database was away for are kept in this process and written once it is back, by the next
    finishing of the call here or by a retry in the background (UNWRITTEN_RETRY_S)."""
    retried = _unwritten.pop(call_id, [])
    try:
        finished = await _write_after_call(call_id, retried, turns or [])
    except PyMongoError as error:
        log.warning("call %s: could not write its outcome: %s", call_id, error)
        _keep_unwritten(call_id, [*retried, *(turns or [])])
        return None
    if finished is None:
        return None
    call, fields = finished
    channel = call.get("channel")
    if call.get("end_reason") in MOVED_END_REASONS:
        return str(fields["outcome"])  # no call of its own, nor counted as started (observer)
    metrics.CALLS_ENDED.labels(channel if channel in CHANNELS else "other", fields["outcome"]).inc()
    if asks_model(call, fields["finished_at"]):
        summary.schedule(call_id)
    else:
        await _account_for_late_call(call_id)
    return str(fields["outcome"])


async def finish_past_call(call_id: str) -> str | None:
    """Write the after-call fields of a call no sweep finishes (`past_unfinished`: ended
    before UNFINISHED_LOOK_BACK without them), as any call's finishing writes them; returns
    the outcome, None when the call was finished meanwhile or is not ended. Not counted as
    ended in the metrics (history, not calls ended today) nor summarised: its caller,
    `summarize_calls --missing`, writes the summary. Raises PyMongoError."""
    finished = await _write_after_call(call_id, [], [])
    return None if finished is None else str(finished[1]["outcome"])


async def _write_after_call(
    call_id: str, retried: list[dict[str, Any]], turns: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Write the after-call fields onto the ended call unless it has them (finish_call);
    (the call as read, the fields written), or None when this did not write them. `retried`:
    turns an earlier attempt of this process may have written, `turns`: those it measured
    since. Raises PyMongoError."""
    from support import mongo

    calls = mongo.async_db().calls
    for _ in range(OUTCOME_ATTEMPTS):
        call = await calls.find_one({"call_id": call_id})
        if call is None:
            return None
        # An attempt whose answer was lost may have written them: not written twice.
        late = _not_on(call, retried)
        if "outcome" in call:
            # Finished meanwhile without them (the sweeper; the webhook correcting a
            # transfer, which finishes a call it finds closed and unfinished): added,
            # those this process measured too (only it has them).
            await keep_turns(call_id, _not_on(call, [*retried, *turns]))
            return None
        measured = [*late, *turns]
        if not call.get("ended_at"):
            log.info("call %s: not closed yet; finished once it is", call_id)
            await keep_turns(call_id, measured)
            return None
        # `finished_at`: when its summary was scheduled (`finish_leftovers` goes by it).
        fields = {**after_call_fields(call, measured), "finished_at": dt.datetime.now(dt.UTC)}
        # The outcome is the mark: of two finishers at once, one writes and goes on. Nor
        # is it written over a correction made since the read (an end reason, a tool call
        # handed over late): its corrector found no outcome to correct, and left it to us.
        done = await calls.update_one(
            {"call_id": call_id, "outcome": {"$exists": False}, **_as_read(call)},
            {"$set": fields},
        )
        if done.modified_count:
            return call, fields
    log.warning("call %s: corrected at each try to finish it; finished later", call_id)
    await keep_turns(call_id, measured)
    return None


def asks_model(call: dict[str, Any], now: dt.datetime) -> bool:
    """Whether finishing the ended call now asks the model for its summary: only within
    LOOK_BACK of its end. Pure."""
    return bool(now - call["ended_at"] <= LOOK_BACK)


async def _account_for_late_call(call_id: str) -> None:
    """The one-line account for a call finished past LOOK_BACK (with a model configured, why
    the model's summary is missing), written at once: the sweeper's pass for summaries never
    written looks back no further."""
    reason = FINISHED_LATE if summary.configured() else None
    try:
        await summary.write_stand_in(call_id, reason)
    except PyMongoError as error:  # `summarize_calls --missing` writes it
        log.warning("call %s: could not write its summary: %s", call_id, error)


# Turns measured by a process whose call ended while the database was away, by call: written
# by the next `finish_call` of the call in this process (the sweeper's, once the record's
# close got through), or by `_write_unwritten`, which tries again for UNWRITTEN_RETRY_S.
_unwritten: dict[str, list[dict[str, Any]]] = {}
_retrying: dict[str, asyncio.Task[None]] = {}  # one retry per call
UNWRITTEN_RETRY_S = 300.0  # as long as the record's close is retried (realtime/call_record.py)


def _keep_unwritten(call_id: str, turns: list[dict[str, Any]]) -> None:
    if not turns:
        return
    _unwritten[call_id] = [*turns, *_unwritten.get(call_id, [])]
    running = _retrying.get(call_id)
    if running is None or running.done():
        task = asyncio.create_task(_write_unwritten(call_id), name=f"{call_id} unwritten turns")
        _retrying[call_id] = task
        task.add_done_callback(lambda done: _forget_retry(call_id, done))


def _forget_retry(call_id: str, task: asyncio.Task[None]) -> None:
    if _retrying.get(call_id) is task:
        del _retrying[call_id]


async def _write_unwritten(call_id: str) -> None:
    delay, waited = 1.0, 0.0
    while waited < UNWRITTEN_RETRY_S:
        await asyncio.sleep(delay)
        waited += delay
        if call_id not in _unwritten:
            return  # written by another finishing of the call
        await finish_call(call_id)  # keeps them again if the database is still away
        delay = min(delay * 2, 15.0)
    if _unwritten.pop(call_id, None):
        log.error("call %s: gave up writing its turns: the database stayed away", call_id)


def _as_read(call: dict[str, Any]) -> dict[str, Any]:
    """A filter matching the record only while what its outcome is derived from is as in
    `call`: how the call ended, and how many tool calls it made (those handed over after the
    end are added, never taken away). Pure."""
    made = len(call.get("tool_calls") or [])
    return {
        "end_reason": call.get("end_reason"),
        "$expr": {"$eq": [{"$size": {"$ifNull": ["$tool_calls", []]}}, made]},
    }


def _not_on(call: dict[str, Any], turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Those of `turns` not on the call's record already. Pure."""
    stored = {_turn_key(turn) for turn in call.get("turns") or []}
    return [turn for turn in turns if _turn_key(turn) not in stored]


def _turn_key(turn: dict[str, Any]) -> tuple[Any, ...]:
    at = turn.get("at")
    if isinstance(at, dt.datetime):  # MongoDB keeps milliseconds
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
    return (at, turn.get("user_ms"), turn.get("first_audio_ms"), turn.get("tools_ms"),
            turn.get("source"))  # fmt: skip


async def correct_outcome(call_id: str, *, finish: bool = True) -> str | None:
    """The outcome of a call whose record was corrected after it ended (a transfer nobody
    answered: `escalated`, not `transferred`; a tool call handed over late), written again; a
    call not finished yet is finished, or with `finish=False` left to whoever finishes it
    (the process that ended it, which has its turns to add, or `finish_leftovers`), which
    reads the corrected record. It still counts as ended once, under its first outcome, in
    the metrics; its summary is made to agree (summary.outcome_corrected). Returns the
    outcome; None when the database could not be reached, or the call is left unfinished."""
    from support import mongo

    calls = mongo.async_db().calls
    try:
        for _ in range(OUTCOME_ATTEMPTS):
            call = await calls.find_one({"call_id": call_id})
            if call is None or "outcome" not in call:
                return await finish_call(call_id) if call is not None and finish else None
            was = str(call["outcome"])
            corrected = outcome(CallFacts.from_record(call)).value
            if corrected == was:
                return corrected
            # Not over a correction made since the read, whose own correct_outcome may have
            # written its outcome already.
            done = await calls.update_one(
                {"call_id": call_id, "outcome": was, **_as_read(call)},
                {"$set": {"outcome": corrected}},
            )
            if done.modified_count:
                await summary.outcome_corrected(call_id, was)
                return corrected
    except PyMongoError as error:
        log.warning("call %s: could not correct its outcome: %s", call_id, error)
        return None
    log.warning("call %s: corrected at each try to correct its outcome; left as it is", call_id)
    return None


# A call ended this long ago without an outcome lost whoever was finishing it (its process
# killed between closing the record and finishing it, or the database away then): it is
# finished if it ended within UNFINISHED_LOOK_BACK (a deployment down for a weekend, or longer),
# read through the `calls_unfinished` index (postcall/migrations/0003); older ones are history
# (calls from before outcomes were kept, the first release's), finished by `summarize_calls
# --missing` (finish_past_call), not by the thousand as figures of today. A summary not
# written this long after the call was finished (the model's attempts take at most a minute)
# never will be by the process that was writing it: that pass reads the calls ended within
# LOOK_BACK (by `ended_at`, which is indexed). LOOK_BACK is also how long after its end a
# call's finishing asks the model for its summary: one finished later gets the one-line
# account, saying why (FINISHED_LATE), and `summarize_calls --missing` asks the model for it,
# a paid request that command makes in bulk only when told to (its UNBIDDEN_LIMIT), where a
# sweeper finding months of calls would make one for each, unbidden.
UNFINISHED_AFTER = dt.timedelta(seconds=30)
UNFINISHED_LOOK_BACK = dt.timedelta(days=7)
SUMMARY_LATE = dt.timedelta(minutes=2)
LOOK_BACK = dt.timedelta(hours=6)
FINISHED_LATE = ("the call was finished hours after it ended (the servers were down), too "
                 "late to ask it then")  # fmt: skip
# How many calls a sweep finishes at most, the latest ended first: a backlog (a deployment
# down for long, the calls of a week from before outcomes were kept) is worked off a few at
# each sweep. At tens of milliseconds each, finished all in one it held the sweeper for minutes
# (calls whose process died stayed open, counted as their customers' calls, meanwhile), and
# a call cut short just now waited behind it for its summary.
LEFTOVERS_A_SWEEP = 50
# A record whose finishing broke (a shape nothing here expects) is tried again this long after
# in this process, not at every sweep: it logged its error every 15 s for a week, and the
# latest ended first, a few such records took every place of a sweep (LEFTOVERS_A_SWEEP), so
# that no call cut short was finished for as long.
BROKEN_RETRY = dt.timedelta(hours=1)
_broken: dict[str, dt.datetime] = {}  # call id: when its finishing last broke here


def unfinished(now: dt.datetime) -> dict[str, Any]:
    """A query matching the calls ended before UNFINISHED_AFTER ago, within
    UNFINISHED_LOOK_BACK, without an outcome, read through `calls_unfinished` (outcome,
    ended_at): `None` matches a
    missing outcome, and a null one (a record the ORM wrote), which is no call to finish;
    SecantusDB's planner walks no index for `$exists: false`, and MongoDB allows no partial
    index on it. Pure."""
    return {"outcome": None,
            "ended_at": {"$gte": now - UNFINISHED_LOOK_BACK, "$lt": now - UNFINISHED_AFTER}}


def past_unfinished(now: dt.datetime) -> dict[str, Any]:
    """A query matching the calls ended before UNFINISHED_LOOK_BACK without an outcome,
    which no sweep finishes (finish_past_call does), read through `calls_unfinished` as
    `unfinished` is (a null outcome, matched too, is no call to finish). Pure."""
    return {"outcome": None, "ended_at": {"$lt": now - UNFINISHED_LOOK_BACK}}


async def finish_leftovers(now: dt.datetime) -> int:
    """Finish the calls that ended without being finished (LEFTOVERS_A_SWEEP at most, the
    latest ended first: the next sweeps finish the rest), and write the one-line account for
    those finished here whose summary was never written (not for calls given an outcome
    otherwise: the demo's, or from before summaries); returns how many calls were finished.
    Safe to run from every process at once (continuity/sweeper.py does, every few seconds)."""
    from support import mongo

    calls = mongo.async_db().calls
    finished = 0
    for call_id, broke_at in list(_broken.items()):
        if now - broke_at >= BROKEN_RETRY:
            del _broken[call_id]  # due again (kept, the ids of a week would pile up)
    for call_id in await _leftovers(now):
        try:
            finished += await finish_call(call_id) is not None
        except PyMongoError:
            raise  # the database is away: the next sweep tries them all again
        except Exception:
            # A record of a shape nothing here expects (edited by hand, an old release's):
            # said, and the others finished all the same, at this sweep and the next.
            log.exception("call %s: could not be finished; tried again in %s", call_id,
                          BROKEN_RETRY)  # fmt: skip
            _broken[call_id] = now
    # Not while a run is writing it (its claim on the call lapses if its process died).
    unsummarised = calls.find(
        {"ended_at": {"$gte": now - LOOK_BACK}, "finished_at": {"$lt": now - SUMMARY_LATE},
         "summary": {"$exists": False}, **summary.unclaimed(now)},
        {"_id": 0, "call_id": 1},
    )  # fmt: skip
    # Without a model the account is all there is: no failure to note beside it.
    reason = summary.SERVER_STOPPED if summary.configured() else None
    async for doc in unsummarised:
        await summary.write_stand_in(str(doc["call_id"]), reason)
    return finished


async def _leftovers(now: dt.datetime) -> list[str]:
    """The calls a sweep at `now` finishes (`unfinished`): the LEFTOVERS_A_SWEEP latest ended,
    but for those whose finishing broke here within BROKEN_RETRY (nor do they count)."""
    from support import mongo

    leftovers = mongo.async_db().calls.find(
        unfinished(now), {"_id": 0, "call_id": 1, "outcome": 1}, sort=[("ended_at", -1)]
    )
    found: list[str] = []
    try:
        async for doc in leftovers:
            call_id = str(doc["call_id"])
            # A null outcome is no call to finish (`unfinished`).
            if "outcome" not in doc and call_id not in _broken:
                found.append(call_id)
            if len(found) >= LEFTOVERS_A_SWEEP:
                break
    finally:
        await leftovers.close()
    return found
