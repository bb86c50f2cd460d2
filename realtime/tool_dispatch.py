"""Running the model's tool calls for one call, and answering the model.

    ToolCall (live_protocol) -> ToolDispatcher.handle -> support.tools.run_tool
                             -> toolResponse to the model (`answer`), progress to the call

Each call runs as its own task and is answered with its id. Models repeat calls, so identical
calls (same name and arguments) within one turn run once and every id gets that one answer.
A call the model sent malformed is answered at once with `invalid_argument`. A
`toolCallCancellation` stops the answer from being sent (the work itself may already have
changed the database, so it is allowed to finish and is recorded).

A tool is never cancelled from outside: its database work is bounded by the driver's own
timeout (support.tools), and cancelling PyMongo mid-operation can wedge its connection pool.
If a tool still overruns ANSWER_DEADLINE_S, the model is told it is unavailable and the work
finishes (and is recorded) in the background. Tasks belong to the dispatcher, not to the
caller's socket: `drain()` waits for them when the call ends.
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
from support.tools import Reason, Result, ToolContext, run_tool

log = logging.getLogger(__name__)

# Above support.tools' own 10 s driver timeout: only a tool stuck outside the database (a
# bug) reaches it.
ANSWER_DEADLINE_S = 12.0

UNAVAILABLE = {
    "ok": False,
    "reason": Reason.UNAVAILABLE.value,
    "message": "That took too long; please try again in a moment.",
}
BROKEN = {
    "ok": False,
    "reason": Reason.UNAVAILABLE.value,
    "message": "Something went wrong on our side; please try again.",
}


@dataclass
class ToolOutcome:
    """One execution, answered to every id that asked for it. `result` is None while it runs."""

    name: str
    args: Any
    ids: list[str]
    started_at: datetime
    result: Result | None = None
    failed: bool = False
    ms: int = 0
    cancelled_ids: set[str] = field(default_factory=set)

    @property
    def answered(self) -> bool:
        return self.result is not None


def _key(call: lp.FunctionCall) -> str:
    return call.name + "\x00" + json.dumps(call.args, sort_keys=True, default=str)


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
        deadline_s: float = ANSWER_DEADLINE_S,
    ) -> None:
        self.ctx = ctx
        self._answer = answer
        self._progress = progress
        self._scheduling = scheduling
        self._deadline_s = deadline_s
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
            outcome = self._this_turn.get(_key(call))
            if outcome is not None:
                outcome.ids.append(call.id)
                self._by_id[call.id] = outcome
                if outcome.answered:  # already answered: answer this id too
                    self._send_answer(outcome, [call.id])
                continue
            outcome = ToolOutcome(call.name, call.args, [call.id], datetime.now(UTC))
            self._this_turn[_key(call)] = outcome
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
        outcome.result = {
            "ok": False, "reason": Reason.INVALID_ARGUMENT.value,
            "message": f"That tool call could not be run: {bad.problem}.",
        }  # fmt: skip
        outcome.failed = True
        if bad.id:  # the Developer API needs an id to take an answer
            self._send_answer(outcome, [bad.id])
        self._progress(outcome)

    async def _run(self, outcome: ToolOutcome) -> None:
        started = time.perf_counter()
        work = asyncio.ensure_future(run_tool(outcome.name, outcome.args, self.ctx))
        done, _ = await asyncio.wait({work}, timeout=self._deadline_s)
        if not done:
            log.error("call %s: tool %s overran %ss", self.ctx.call_id, outcome.name,
                      self._deadline_s)  # fmt: skip
            self._finish(outcome, dict(UNAVAILABLE), started, failed=True)
            await asyncio.wait({work})  # let it finish: its effects are recorded below
        try:
            result = work.result()
        except Exception:  # a bug in a tool must not end the call; it is logged and answered
            log.exception("call %s: tool %s failed", self.ctx.call_id, outcome.name)
            result, failed = dict(BROKEN), True
        else:
            failed = False
        if not outcome.answered:
            self._finish(outcome, result, started, failed=failed)
        else:  # answered "unavailable" already; keep what really happened for the record
            outcome.result = result
        outcome.ms = round((time.perf_counter() - started) * 1000)
        self._progress(outcome)

    def _finish(
        self, outcome: ToolOutcome, result: Result, started: float, *, failed: bool
    ) -> None:
        outcome.result = result
        outcome.failed = failed
        outcome.ms = round((time.perf_counter() - started) * 1000)
        live_ids = [i for i in outcome.ids if i not in outcome.cancelled_ids]
        if live_ids:
            self._send_answer(outcome, live_ids)

    def _send_answer(self, outcome: ToolOutcome, ids: list[str]) -> None:
        assert outcome.result is not None
        self._answer(
            lp.tool_response_message(
                [lp.FunctionResponse(id=i, name=outcome.name, response=outcome.result)
                 for i in ids],
                scheduling=self._scheduling,
            )  # fmt: skip
        )
