"""The agent's tools (contract sections 6 and 9): what the voice bridge calls.

    declarations = function_declarations()          # for the Live API setup message
    result = await run_tool(name, args, ToolContext(user_id=42, call_id="..."))

`registry` holds the machinery (declaration, validation, access, running); `catalog` the
tools themselves, each declared next to its implementation. Other apps register tools of
their own with the same `@tool` (callbacks/tools.py, from its AppConfig.ready), so `TOOLS` is
complete once Django has started: read it then, not at import time.
"""

from __future__ import annotations

from support.tools import catalog  # noqa: F401  (registers the tools)
from support.tools.registry import (
    TOOLS,
    Reason,
    Result,
    ToolContext,
    ToolError,
    database_failed,
    function_declarations,
    held_refusal,
    refused_while_held,
    run_tool,
)

__all__ = [
    "TOOLS",
    "Reason",
    "Result",
    "ToolContext",
    "ToolError",
    "database_failed",
    "function_declarations",
    "held_refusal",
    "refused_while_held",
    "run_tool",
]
