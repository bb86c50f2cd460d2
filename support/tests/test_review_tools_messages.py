"""The messages the tools answer are said to the caller as they stand (contract section 6: "a
message the agent can say"): they name no tool, and they answer what was asked."""

from __future__ import annotations

import re

import pytest

from support.models import Customer
from support.tools import TOOLS, ToolContext, run_tool

pytestmark = pytest.mark.django_db

PHONE = ToolContext(user_id=101, call_id="call-phone", channel="phone")
UNKNOWN_CALLER = ToolContext(user_id=None, call_id="call-unknown", channel="phone")


def names_a_tool(message: str) -> list[str]:
    return [name for name in TOOLS if re.search(rf"\b{name}\b", message)]


async def test_a_phone_caller_asked_to_verify_hears_no_tool_name(asha: Customer) -> None:
    result = await run_tool(
        "initiate_refund", {"order_id": "ORD-1001", "reason": "cold food"}, PHONE
    )

    assert result["reason"] == "not_verified"
    assert "restaurant or the amount" in result["message"]
    assert names_a_tool(result["message"]) == []


async def test_an_unidentified_caller_asking_for_a_callback_is_told_why_not(db: object) -> None:
    result = await run_tool("list_callback_slots", {}, UNKNOWN_CALLER)

    assert result["reason"] == "not_identified"
    assert "callbacks" in result["message"]
    assert names_a_tool(result["message"]) == []
