"""Running the model's tool calls for one call, and answering the model.

    ToolCall (live_protocol) -> ToolDispatcher.handle -> support.tools.run_tool
                             -> toolResponse to the model (`answer`), progress to the call

Each call runs as its own task and is answered with its id. Models repeat calls, so a call
identical (same name and arguments) to one of the same turn still running joins it, and every
id gets that one answer. A finished call is never reused: asked again, it runs again (the
order may have changed since, or the database come back). A call the model sent malformed is
answered at once with `invalid_argument`. A `toolCallCancellation` stops the answer from being
sent (the work itself may already have changed the database, so it is allowed to finish and
is recorded). A call asked on a model connection that has closed since (`connection_lost`) is
not answered by its id either: the resumed session never made that call.

A tool is never cancelled from outside: its database work is bounded by the driver's own
timeout (support.tools), and cancelling PyMongo mid-operation can wedge its connection pool.
If a tool still overruns ANSWER_DEADLINE_S, the model is told it took too long and the work
finishes (and is recorded) in the background. Tasks belong to the dispatcher, not to the
caller's socket: `drain()` waits for them when the call ends.

The model has then not heard the real result (`ToolOutcome.unheard`): the progress callback
is told, and tells the model some other way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from realtime import live_protocol as lp
from support.tools import Reason, Result, ToolContext, held_refusal, run_tool

log = logging.getLogger(__name__)

# Above support.tools' own 10 s driver timeout: only a tool stuck outside the database (a
# bug) reaches it.
ANSWER_DEADLINE_S = 12.0

UNAVAILABLE = {
    "ok": False,
    "reason": Reason.UNAVAILABLE.value,
    # Not "try again": the work goes on, and the model is told its result when it lands.
    "message": (
        "That is taking too long. Its result will follow as a note when it arrives: tell the "
        "customer it is still being checked, and do not call it again meanwhile."
    ),
}
BROKEN = {
    "ok": False,
    "reason": Reason.UNAVAILABLE.value,
    "message": "Something went wrong on our side; please try again.",
}


@dataclass
class ToolOutcome:
    """One execution, answered to every id that asked for it. `result` is None while it runs;
    then it is the tool's real result, even when the model was told something else."""

    name: str
    args: Any
    ids: list[str]
    started_at: datetime
    result: Result | None = None
    failed: bool = False  # the tool errored (a bug): `result` is the apology the model got
    ms: int = 0
    cancelled_ids: set[str] = field(default_factory=set)
    # Ids asked on a model connection that closed before they were answered (the model is
    # told the result some other way).
    lost_ids: set[str] = field(default_factory=set)
    late: bool = False  # the model was told it took too long before `result` came
    answered: int = 0  # ids[:answered] have had their answer
    heard: bool = False  # some id was answered with `result`
    ran: bool = True  # False for a malformed call, refused without running (no `started`)

    @property
    def unheard(self) -> bool:
        """Finished, and the model never got the result: it was told the tool took too long,
        or it cancelled every id."""
        return self.result is not None and not self.heard


def _key(name: str, args: Any) -> str:
    return name + "\x00" + json.dumps(args, sort_keys=True, default=str)


class ToolDispatcher:
    """`answer(message)` queues a built toolResponse for the model; `progress(outcome)` is
    told when a tool starts (result None) and when it finishes, for the page and the record."""

    def __init__(
        self,
        ctx: ToolContext,
        *,
        answer: Callable[[str], None],
        progress: Callable[[ToolOutcome], None],
        scheduling: lp.Scheduling | None,
        deadline_s: float | None = None,
    ) -> None:
        self.ctx = ctx
        self._answer = answer
        self._progress = progress
        self._scheduling = scheduling
        self._deadline_s = ANSWER_DEADLINE_S if deadline_s is None else deadline_s
        # Calls of this turn still running, which an identical call joins.
        self._this_turn: dict[str, ToolOutcome] = {}
        self._by_id: dict[str, ToolOutcome] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        return len(self._tasks)

    def handle(self, event: lp.ToolCall) -> None:
        for bad in event.malformed:
            self._refuse(bad)
        for call in event.calls:
            key = _key(call.name, call.args)
            outcome = self._this_turn.get(key)
            if outcome is not None:  # still running: this id gets its answer too
                outcome.ids.append(call.id)
                self._by_id[call.id] = outcome
                continue
            outcome = ToolOutcome(call.name, call.args, [call.id], datetime.now(UTC))
            self._this_turn[key] = outcome
            self._by_id[call.id] = outcome
            self._progress(outcome)
            task = asyncio.create_task(self._run(outcome), name=f"tool {call.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def cancel(self, ids: list[str]) -> None:
        for call_id in ids:
            outcome = self._by_id.get(call_id)
            if outcome is not None:
                outcome.cancelled_ids.add(call_id)

    def connection_lost(self) -> None:
        """The model's connection closed (its session resumes on another): calls still running
        cannot be answered by id any more, since the resumed session does not know them."""
        for outcome in self._by_id.values():
            if outcome.result is None:
                outcome.lost_ids.update(outcome.ids)

    def new_turn(self) -> None:
        """Identical calls in a later turn are real new requests; run them again."""
        self._this_turn.clear()

    async def drain(self, timeout_s: float | None = None) -> None:
        """Wait for running tools (each bounded by the driver's timeout)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s or self._deadline_s + 1)

    def _refuse(self, bad: lp.MalformedCall) -> None:
        log.warning("call %s: malformed tool call %r: %s", self.ctx.call_id, bad.name, bad.problem)
        outcome = ToolOutcome(bad.name or "(unnamed)", {}, [bad.id], datetime.now(UTC))
        # While a colleague holds the call, as run_tool answers any call then: the customer's
        # page is not told of it (support.tools.refused_while_held).
        outcome.result = held_refusal() if self.ctx.held else {
            "ok": False, "reason": Reason.INVALID_ARGUMENT.value,
            "message": f"That tool call could not be run: {bad.problem}.",
        }  # fmt: skip
        outcome.failed = True
        outcome.ran = False
        if bad.id:  # the Developer API needs an id to take an answer
            outcome.heard = self._answer_waiting(outcome, outcome.result)
        self._progress(outcome)

    async def _run(self, outcome: ToolOutcome) -> None:
        started = time.perf_counter()
        work = asyncio.ensure_future(run_tool(outcome.name, outcome.args, self.ctx))
        done, _ = await asyncio.wait({work}, timeout=self._deadline_s)
        if not done:
            log.error("call %s: tool %s overran %ss", self.ctx.call_id, outcome.name,
                      self._deadline_s)  # fmt: skip
            outcome.late = self._answer_waiting(outcome, dict(UNAVAILABLE))
            await asyncio.wait({work})  # let it finish: its effects are recorded below
        try:
            result = work.result()
        except Exception:  # a bug in a tool must not end the call; it is logged and answered
            log.exception("call %s: tool %s failed", self.ctx.call_id, outcome.name)
            result, outcome.failed = dict(BROKEN), True
        key = _key(outcome.name, outcome.args)
        if self._this_turn.get(key) is outcome:
            del self._this_turn[key]  # finished: asked again, it runs again
        outcome.result = result
        outcome.ms = round((time.perf_counter() - started) * 1000)
        outcome.heard = self._answer_waiting(outcome, result)
        self._progress(outcome)

    def _answer_waiting(self, outcome: ToolOutcome, response: Result) -> bool:
        """Answer `response` to the ids not answered yet (except cancelled ones); whether any
        id got it."""
        waiting = [i for i in outcome.ids[outcome.answered:]
                   if i not in outcome.cancelled_ids and i not in outcome.lost_ids]  # fmt: skip
        outcome.answered = len(outcome.ids)
        if waiting:
            self._answer(
                lp.tool_response_message(
                    [lp.FunctionResponse(id=i, name=outcome.name, response=response)
                     for i in waiting],
                    scheduling=self._scheduling,
                )  # fmt: skip
            )
        return bool(waiting)
