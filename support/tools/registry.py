"""The machinery of the agent's tools: how one is declared, validated, gated and run.

A tool is declared once, next to its implementation (support/tools/catalog.py):

    @tool("get_order_details", "Get one of the caller's orders in full ...",
          params=(ORDER_ID,), access=Access.IDENTIFIED)
    async def get_order_details(ctx: ToolContext, order_id: str) -> Result: ...

From that one declaration come the Live API `functionDeclarations` and the validation of
what the model sends (so they cannot disagree), and `run_tool` applies it: every argument is
a string checked here before any query is built (numbers, lists, `{"$ne": null}` refused),
the caller's access is checked, and the work runs under the database driver's own timeout.
Whatever happens, the model gets an answer it can speak.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

import pymongo
from pymongo.errors import PyMongoError

from support import order_ids

log = logging.getLogger(__name__)

Result = dict[str, Any]

# Longer than the driver's server selection (5 s), so an unreachable database is reported
# as such; short enough that the caller is not left in silence. The driver enforces it
# (client-side operation timeout): a tool is never cancelled from outside mid-operation.
TOOL_TIMEOUT_S = 10.0

UNAVAILABLE_MESSAGE = (
    "I can't reach our records right now. Please try again in a moment, or I can get a "
    "colleague to help."
)


class Reason(StrEnum):
    """The `reason` of an `"ok": false` answer (contract sections 6 and 9)."""

    NOT_FOUND = "not_found"
    NOT_DELIVERED = "not_delivered"
    OUTSIDE_WINDOW = "outside_window"
    ALREADY_REFUNDED = "already_refunded"
    NOT_IDENTIFIED = "not_identified"
    INVALID_ARGUMENT = "invalid_argument"
    UNAVAILABLE = "unavailable"
    NOT_VERIFIED = "not_verified"
    SLOT_UNAVAILABLE = "slot_unavailable"
    ALREADY_SCHEDULED = "already_scheduled"


class ToolError(Exception):
    """A tool's refusal: caught once by `run_tool` and answered as `{"ok": false, ...}`.

    `details`: what the answer carries beside its reason and message, for the call's record
    (a refund of unknown outcome names the ticket that asks staff to check it).
    """

    def __init__(
        self, reason: Reason, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = dict(details or {})


def invalid(message: str) -> ToolError:
    return ToolError(Reason.INVALID_ARGUMENT, message)


HELD_MESSAGE = (
    "A colleague is talking with the customer now, so nothing was done. Stay quiet; they will "
    "hand the call back to you."
)
# Both are said to the caller as they stand (contract section 6: "a message the agent can
# say"), so they name no tool: the persona tells the model what to call next.
NOT_IDENTIFIED_MESSAGE = (
    "I couldn't match this call to a customer account, so I can't look at orders, refunds "
    "or callbacks. I can still file a complaint or get a colleague to help."
)
NOT_VERIFIED_MESSAGE = (
    "Before I can do that I need to confirm it's you: could you tell me the restaurant or "
    "the amount of one of your recent orders?"
)


class Access(Enum):
    """Who a tool serves. Browser callers are verified by their session token; a phone
    caller matched by number alone is identified but not verified (contract section 6)."""

    ANYONE = "anyone"
    IDENTIFIED = "identified"
    VERIFIED = "verified"


@dataclass
class ToolContext:
    """Who the tools act for, for one call. `user_id` None: a phone caller not matched to a
    customer. `verified` defaults by channel and becomes true after verify_caller succeeds."""

    user_id: int | None
    call_id: str = ""
    channel: str = "web"
    verified: bool | None = None
    verification_attempts: int = 0
    held: bool = False  # a colleague holds the call (contract section 8): tools wait

    def __post_init__(self) -> None:
        if self.verified is None:
            self.verified = self.channel != "phone"

    def identified(self) -> int:
        """The customer's user_id; raises ToolError(not_identified) for an unknown caller."""
        if self.user_id is None:
            raise ToolError(Reason.NOT_IDENTIFIED, NOT_IDENTIFIED_MESSAGE)
        return self.user_id


# --- Parameters -----------------------------------------------------------------------------


# What a model passes for a value it does not have ("order_id": "N/A"), folded and without
# spaces: a small, explicit list of what models were seen to send, not a guess at every way of
# saying "none". "NA" is left off: a country, a branch code, more likely a misheard id.
_STANDS_FOR_NOTHING = frozenset({"n/a", "none", "null", "unknown", "-", "notprovided"})


def stands_for_nothing(value: str) -> bool:
    """Whether `value` is text a model passes for no value, in any case and spacing ("N / A",
    "Not provided"). The tools still look an order id up first: data may hold one so named."""
    return "".join(value.split()).casefold() in _STANDS_FOR_NOTHING


@dataclass(frozen=True)
class StringParam:
    name: str
    description: str
    required: bool = True
    enum: tuple[str, ...] = ()
    max_length: int = 200
    default: str | None = None
    # A rule of its own (an order id, a time): returns the cleaned value or raises ValueError
    # with a message for the model.
    check: Callable[[str], str] | None = None
    # An optional argument whose text fails the checks is taken as not given, not refused:
    # for a tool whose work matters more than the argument (a ticket about a misheard order).
    unusable_is_absent: bool = False

    def declaration(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "STRING", "description": self.description}
        if self.enum:
            schema["enum"] = list(self.enum)
        return schema

    def clean(self, value: object) -> str:
        """The value, stripped and checked; raises ToolError(invalid_argument)."""
        if not isinstance(value, str):
            raise invalid(f"{self.name} must be text.")
        try:
            value.encode("utf-8")  # the bridge replaces lone surrogates; any other caller may not
        except UnicodeEncodeError:
            raise invalid(f"{self.name} must be text (it holds a lone surrogate).") from None
        value = value.strip()
        if not value:
            raise invalid(f"{self.name} must not be empty.")
        if len(value) > self.max_length:
            raise invalid(f"{self.name} must be at most {self.max_length} characters.")
        if self.enum and value not in self.enum:
            raise invalid(f"{self.name} must be one of: {', '.join(self.enum)}.")
        if self.check is not None:
            try:
                value = self.check(value)
            except ValueError as error:
                raise invalid(f"{self.name}: {error}") from None
        return value

    def clean_or_absent(self, value: object) -> str | None:
        """`clean`, except that text it refuses is the default (as if not given) when the
        parameter is optional and `unusable_is_absent`. A value that is not text is refused."""
        if self.required or not self.unusable_is_absent or not isinstance(value, str):
            return self.clean(value)
        try:
            return self.clean(value)
        except ToolError:
            return self.default


def order_id_param(
    description: str = order_ids.DESCRIPTION,
    *,
    required: bool = True,
    unusable_is_absent: bool = False,
) -> StringParam:
    """The one declaration of an `order_id` argument (support/order_ids.py's rule)."""
    return StringParam(
        "order_id",
        description,
        required=required,
        max_length=order_ids.SPOKEN_MAX_LENGTH,
        check=order_ids.clean_spoken,
        unusable_is_absent=unusable_is_absent,
    )


# --- Tools ------------------------------------------------------------------------------------

Action = Callable[..., Awaitable[Result]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    run: Action
    params: tuple[StringParam, ...] = field(default=())
    access: Access = Access.IDENTIFIED

    def declaration(self) -> dict[str, Any]:
        """This tool's entry in the Live API `functionDeclarations`."""
        declaration: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.params:
            declaration["parameters"] = {
                "type": "OBJECT",
                "properties": {param.name: param.declaration() for param in self.params},
                "required": [param.name for param in self.params if param.required],
            }
        return declaration

    def validate(self, args: object) -> dict[str, str | None]:
        """The cleaned arguments (optional ones missing get their default, or None; so do
        optional ones given as blank text, which models send for "none": `"order_id": ""`).

        Raises ToolError(invalid_argument) for anything but a dict of known string arguments.
        """
        if not isinstance(args, Mapping):
            raise invalid("The arguments must be an object.")
        known = {param.name for param in self.params}
        unknown = [key for key in args if key not in known]
        if unknown:
            raise invalid(f"{self.name} takes no argument named {_some_names(unknown)}.")
        cleaned: dict[str, str | None] = {}
        for param in self.params:
            value = args.get(param.name)
            blank = isinstance(value, str) and not value.strip()
            if value is None or (blank and not param.required):
                if param.required:
                    raise invalid(f"{param.name} is required.")
                cleaned[param.name] = param.default
            else:
                cleaned[param.name] = param.clean_or_absent(value)
        return cleaned

    def check_access(self, ctx: ToolContext) -> None:
        if self.access is Access.ANYONE:
            return
        ctx.identified()
        if self.access is Access.VERIFIED and not ctx.verified:
            raise ToolError(Reason.NOT_VERIFIED, NOT_VERIFIED_MESSAGE)


# An answer names this many of the unknown arguments at most: the message is said to the model
# (and kept on the call's record), so it stays a sentence however many arguments it was sent.
UNKNOWN_NAMED = 5


def _some_names(keys: list[Any]) -> str:
    """The first UNKNOWN_NAMED of `keys` in order (each cut to 40 characters), and how many
    more there are."""
    named = ", ".join(sorted(str(key)[:40] for key in keys)[:UNKNOWN_NAMED])
    more = len(keys) - UNKNOWN_NAMED
    return f"{named} and {more} more" if more > 0 else named


TOOLS: dict[str, Tool] = {}


def tool(
    name: str,
    description: str,
    *,
    params: tuple[StringParam, ...] = (),
    access: Access = Access.IDENTIFIED,
) -> Callable[[Action], Action]:
    """Register the decorated coroutine `run(ctx, **cleaned_args)` as the tool `name`."""

    def register(run: Action) -> Action:
        if name in TOOLS:
            raise ValueError(f"tool {name!r} is declared twice")
        TOOLS[name] = Tool(name, description, run, params, access)
        return run

    return register


async def run_tool(name: str, args: object, ctx: ToolContext) -> Result:
    """Run one tool call for `ctx`'s customer.

    Never raises for a tool-level problem: answers `{"ok": True, ...data}` or
    `{"ok": False, "reason": <contract reason>, "message": <a sentence for the agent>}`.
    """
    if ctx.held:
        # First, whatever was asked (a tool it does not have, arguments it got wrong): the
        # answer is the one the customer's page is never told of (refused_while_held), and
        # the model, muted, has nothing to put right until the hand-back.
        return held_refusal()
    try:
        spec = TOOLS.get(name) if isinstance(name, str) else None
        if spec is None:
            raise invalid(f"There is no tool named {name!r:.60}.")
        cleaned = spec.validate(args)
        spec.check_access(ctx)
        with pymongo.timeout(TOOL_TIMEOUT_S):
            data = await spec.run(ctx, **cleaned)
    except ToolError as error:
        return refusal(error.reason, error.message, error.details)
    except PyMongoError as error:  # timeouts included: the driver raises them as such
        log.warning("tool %s for call %s: database unavailable: %r", name, ctx.call_id, error)
        return refusal(Reason.UNAVAILABLE, UNAVAILABLE_MESSAGE)
    return {"ok": True, **data}


def refusal(reason: Reason, message: str, details: Mapping[str, Any] | None = None) -> Result:
    said: Result = {"ok": False, "reason": reason.value, "message": message}
    # After what every refusal says (contract section 6), never in its place.
    return {**said, **{key: value for key, value in (details or {}).items() if key not in said}}


def database_failed(result: Result) -> bool:
    """Whether `result` is run_tool's answer for a database that could not be reached or did
    not answer in time: the tool failed (contract section 3), it did not decide anything."""
    return result.get("reason") == Reason.UNAVAILABLE.value and (
        result.get("message") == UNAVAILABLE_MESSAGE
    )


def held_refusal() -> Result:
    """The answer to any tool call while a colleague holds the call: nothing was done."""
    return refusal(Reason.UNAVAILABLE, HELD_MESSAGE)


def refused_while_held(result: Result) -> bool:
    """Whether `result` is run_tool's answer for a tool the model called while a colleague
    held the call: nothing was done, and the customer, talking to that colleague, is not
    told of it (the staff on the call are)."""
    return result.get("reason") == Reason.UNAVAILABLE.value and (
        result.get("message") == HELD_MESSAGE
    )


def function_declarations() -> list[dict[str, Any]]:
    """The `functionDeclarations` of the Live API `setup.tools` entry, one per tool."""
    return [spec.declaration() for spec in TOOLS.values()]
