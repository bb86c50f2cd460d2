"""The agent's tools (contract section 6): what the voice bridge calls.

    declarations = function_declarations()          # for the Live API setup message
    result = await run_tool(name, args, ToolContext(user_id=42, call_id="..."))

`definitions` holds each tool's one definition (declaration + validation, pure), `actions`
the async work against MongoDB. `run_tool` is the single place where both meet and where
every failure becomes an answer the agent can speak.
"""

from __future__ import annotations

import asyncio
import logging

from pymongo.errors import PyMongoError

from support.tools.actions import ACTIONS, Result, ToolContext
from support.tools.definitions import (
    TOOL_NAMES,
    TOOLS,
    Reason,
    ToolError,
    function_declarations,
)

__all__ = ["TOOL_NAMES", "Reason", "ToolContext", "function_declarations", "run_tool"]

log = logging.getLogger(__name__)

# Longer than the driver's 5 s server selection, so an unreachable database is reported as
# such; short enough that the caller is not left in silence.
TOOL_TIMEOUT_S = 10.0

UNAVAILABLE_MESSAGE = (
    "I can't reach our records right now. Please try again in a moment, or I can get a "
    "colleague to help."
)


async def run_tool(name: str, args: object, ctx: ToolContext) -> Result:
    """Run one tool call for `ctx`'s customer.

    Never raises for a tool-level problem: answers `{"ok": True, ...data}` or
    `{"ok": False, "reason": <contract reason>, "message": <a sentence for the agent>}`.
    """
    try:
        spec = TOOLS.get(name) if isinstance(name, str) else None
        if spec is None:
            raise ToolError(Reason.INVALID_ARGUMENT, f"There is no tool named {name!r:.60}.")
        cleaned = spec.validate(args)
        async with asyncio.timeout(TOOL_TIMEOUT_S):
            data = await ACTIONS[spec.name](ctx, **cleaned)
    except ToolError as error:
        return _refusal(error.reason, error.message)
    except (PyMongoError, TimeoutError) as error:
        log.warning("tool %s for call %s: database unavailable: %r", name, ctx.call_id, error)
        return _refusal(Reason.UNAVAILABLE, UNAVAILABLE_MESSAGE)
    return {"ok": True, **data}


def _refusal(reason: Reason, message: str) -> Result:
    return {"ok": False, "reason": reason.value, "message": message}
