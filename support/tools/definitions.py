"""What the model may call: one definition per tool, from which both the Gemini Live API
`functionDeclarations` and the argument validation come (so they cannot disagree).

Pure: no I/O. Every argument of every tool is a string; anything else the model sends
(numbers, lists, `{"$ne": null}`) is refused here, before a query is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from support.models import ComplaintCategory, Priority


class Reason(StrEnum):
    """The `reason` of an `"ok": false` answer (contract section 6)."""

    NOT_FOUND = "not_found"
    NOT_DELIVERED = "not_delivered"
    OUTSIDE_WINDOW = "outside_window"
    ALREADY_REFUNDED = "already_refunded"
    NOT_IDENTIFIED = "not_identified"
    INVALID_ARGUMENT = "invalid_argument"
    UNAVAILABLE = "unavailable"


class ToolError(Exception):
    """A tool's refusal: caught once by `run_tool` and answered as `{"ok": false, ...}`."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class StringParam:
    name: str
    description: str
    required: bool = True
    enum: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    pattern_hint: str = ""  # how to say the pattern to the model, e.g. "like ORD-1001"
    max_length: int = 200
    uppercase: bool = False  # order ids are spoken; "ord-1001" means ORD-1001
    default: str | None = None

    def declaration(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "STRING", "description": self.description}
        if self.enum:
            schema["enum"] = list(self.enum)
        return schema

    def clean(self, value: object) -> str:
        """The value, stripped and checked; raises ToolError(invalid_argument)."""
        if not isinstance(value, str):
            raise _invalid(f"{self.name} must be text.")
        value = value.strip()
        if self.uppercase:
            value = value.upper()
        if not value:
            raise _invalid(f"{self.name} must not be empty.")
        if len(value) > self.max_length:
            raise _invalid(f"{self.name} must be at most {self.max_length} characters.")
        if self.enum and value not in self.enum:
            raise _invalid(f"{self.name} must be one of: {', '.join(self.enum)}.")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise _invalid(f"{self.name} should look {self.pattern_hint}.")
        return value


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    params: tuple[StringParam, ...] = field(default=())

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
        """The cleaned arguments (optional ones missing get their default, or None).

        Raises ToolError(invalid_argument) for anything but a dict of known string arguments.
        """
        if not isinstance(args, Mapping):
            raise _invalid("The arguments must be an object.")
        known = {param.name for param in self.params}
        unknown = sorted(str(key) for key in args if key not in known)
        if unknown:
            raise _invalid(f"{self.name} takes no argument named {', '.join(unknown)}.")
        cleaned: dict[str, str | None] = {}
        for param in self.params:
            if args.get(param.name) is None:
                if param.required:
                    raise _invalid(f"{param.name} is required.")
                cleaned[param.name] = param.default
            else:
                cleaned[param.name] = param.clean(args[param.name])
        return cleaned


def _invalid(message: str) -> ToolError:
    return ToolError(Reason.INVALID_ARGUMENT, message)


# [0-9], not \d: \d also matches other scripts' digits, which no order id contains.
ORDER_ID_PATTERN = re.compile(r"[A-Z]{2,5}-[0-9]{1,10}")


def _order_id(required: bool, description: str) -> StringParam:
    return StringParam(
        "order_id",
        description,
        required=required,
        pattern=ORDER_ID_PATTERN,
        pattern_hint="like ORD-1001",
        max_length=16,
        uppercase=True,
    )


GET_USER_PROFILE = ToolSpec(
    "get_user_profile",
    "Look up the caller's own profile: name, phone, email, wallet balance, number of orders, "
    "lifetime spend and loyalty tier (which sets the refund percentage). Call it at the start "
    "of a call to greet the customer by name, and before any refund.",
)

CHECK_ORDER_STATUS = ToolSpec(
    "check_order_status",
    "List the caller's most recent orders, newest first, with restaurant, status, amount, "
    "times and whether each can be refunded now. Use it when the customer asks where an "
    "order is, or does not know the order id.",
)

GET_ORDER_DETAILS = ToolSpec(
    "get_order_details",
    "Get one of the caller's orders in full: items, amount, status, delivery time, hours "
    "since delivery and whether it is inside the 2-hour refund window. Always call it before "
    "a refund to confirm the order is eligible.",
    (_order_id(True, "The order id, like ORD-1001."),),
)

INITIATE_REFUND = ToolSpec(
    "initiate_refund",
    "Refund one of the caller's delivered orders to their wallet. The policy is applied by "
    "the system: only delivered orders, within 2 hours of delivery, one refund per order; "
    "the percentage depends on the customer's tier. Check the profile and the order's "
    "details first, and confirm with the customer before calling. Tell them the amount and "
    "the refund id it returns; if it is refused, explain the reason it gives.",
    (
        _order_id(True, "The order id to refund, like ORD-1001."),
        StringParam(
            "reason",
            "Why the customer wants a refund, in a short sentence.",
            max_length=500,
        ),
    ),
)

FILE_COMPLAINT = ToolSpec(
    "file_complaint",
    "Record a complaint about food, delivery or service so the team can follow up. Works "
    "for unidentified callers too (without an order id). Tell the customer the complaint id "
    "it returns.",
    (
        _order_id(False, "The order the complaint is about, like ORD-1001, if there is one."),
        StringParam(
            "category",
            "What kind of problem it is.",
            enum=tuple(ComplaintCategory.values),
        ),
        StringParam(
            "description",
            "What went wrong, in the customer's words, briefly.",
            max_length=1000,
        ),
    ),
)

ESCALATE_TO_HUMAN = ToolSpec(
    "escalate_to_human",
    "Hand the call to a human agent: when the customer asks for a person, is very upset, "
    "or the problem is beyond these tools (including a refund the policy refused that the "
    "customer disputes). Opens a ticket; tell the customer its id and that someone will "
    "take over.",
    (
        StringParam("reason", "Why a human is needed, in a short sentence.", max_length=500),
        StringParam(
            "priority",
            "How urgent it is; normal unless the customer's safety or money is at stake.",
            required=False,
            enum=tuple(Priority.values),
            default=Priority.NORMAL.value,
        ),
    ),
)

TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        GET_USER_PROFILE,
        CHECK_ORDER_STATUS,
        GET_ORDER_DETAILS,
        INITIATE_REFUND,
        FILE_COMPLAINT,
        ESCALATE_TO_HUMAN,
    )
}

TOOL_NAMES: tuple[str, ...] = tuple(TOOLS)


def function_declarations() -> list[dict[str, Any]]:
    """The `functionDeclarations` of the Live API `setup.tools` entry, one per tool."""
    return [spec.declaration() for spec in TOOLS.values()]
