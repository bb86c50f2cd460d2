"""The end-of-call hook: outcome, duration, turns and cost onto the `calls` document
(contract section 10), then the summary, off the call's path."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from pymongo.errors import PyMongoError

from postcall import summary
from postcall.cost import UnknownModel, call_cost
from postcall.outcome import CallFacts, outcome

log = logging.getLogger(__name__)


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
    """Write the after-call fields and schedule the summary; returns the outcome (None when
    the record could not be read or written: the call itself is over either way). `turns`:
    those the ending process measured (none when the sweeper ended the call)."""
    from support import mongo

    calls = mongo.async_db().calls
    try:
        call = await calls.find_one({"call_id": call_id})
        if call is None:
            return None
        fields = after_call_fields(call, turns)
        await calls.update_one({"call_id": call_id}, {"$set": fields})
    except PyMongoError as error:
        log.warning("call %s: could not write its outcome: %s", call_id, error)
        return None
    summary.schedule(call_id)
    return str(fields["outcome"])
