"""Running the model's tool calls for one call.

Each call runs as its own task with a timeout and is answered with its id. Models repeat
calls, so identical calls (same name and arguments) within one turn run once and every id
gets that one answer. A `toolCallCancellation` stops the answer from being sent (the work
itself may already have changed the database, so it is allowed to finish and is recorded).
Tasks belong to the dispatcher, not to the caller's socket: when the caller leaves, a tool
already running still completes and is recorded (`drain()`).
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

from realtime.live_protocol import FunctionCall
from support.tools import ToolContext, run_tool

log = logging.getLogger(__name__)

# Outer safety net, above support.tools' own 10 s limit: only a tool that ignores its own
# timeout is cut off here.
TOOL_TIMEOUT_S = 12.0


@dataclass
class ToolOutcome:
    """One execution, answered to every id that asked for it."""

    name: str
    args: Any
    ids: list[str]
    started_at: datetime
    result: dict[str, Any] | None = None
    failed: bool = False
    ms: int = 0
    cancelled_ids: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ToolHooks:
    started: Callable[[str], None]  # tool name
    answered: Callable[[ToolOutcome, list[str]], None]  # outcome, ids to answer
    finished: Callable[[ToolOutcome], None]  # for the page and the record


def _key(call: FunctionCall) -> str:
    return call.name + "\x00" + json.dumps(call.args, sort_keys=True, default=str)


class ToolDispatcher:
    def __init__(self, ctx: ToolContext, hooks: ToolHooks, timeout_s: float = TOOL_TIMEOUT_S):
        self._ctx = ctx
        self._hooks = hooks
        self._timeout_s = timeout_s
        self._this_turn: dict[str, ToolOutcome] = {}
        self._by_id: dict[str, ToolOutcome] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, calls: list[FunctionCall]) -> None:
        for call in calls:
            outcome = self._this_turn.get(_key(call))
            if outcome is not None:
                outcome.ids.append(call.id)
                self._by_id[call.id] = outcome
                if outcome.result is not None:  # already answered: answer this id too
                    self._hooks.answered(outcome, [call.id])
                continue
            outcome = ToolOutcome(call.name, call.args, [call.id], datetime.now(UTC))
            self._this_turn[_key(call)] = outcome
            self._by_id[call.id] = outcome
            self._hooks.started(call.name)
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
        """Wait for running tools (each bounded by its own timeout)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s or self._timeout_s + 1)

    async def _run(self, outcome: ToolOutcome) -> None:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                outcome.result = await run_tool(outcome.name, outcome.args, self._ctx)
        except TimeoutError:
            outcome.failed = True
            outcome.result = {
                "ok": False,
                "reason": "unavailable",
                "message": "That took too long; please try again in a moment.",
            }
        except Exception:  # a bug in a tool must not end the call; it is logged and answered
            log.exception("tool %s failed", outcome.name)
            outcome.failed = True
            outcome.result = {
                "ok": False,
                "reason": "unavailable",
                "message": "Something went wrong on our side; please try again.",
            }
        outcome.ms = round((time.perf_counter() - started) * 1000)
        live_ids = [i for i in outcome.ids if i not in outcome.cancelled_ids]
        if live_ids:
            self._hooks.answered(outcome, live_ids)
        self._hooks.finished(outcome)
