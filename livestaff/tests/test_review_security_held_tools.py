"""While a colleague holds the call the model says nothing to the customer (contract section
8), nor through her page's tool lines: a tool call it got wrong (a tool it does not have,
arguments missing, a call it sent malformed) is refused as any call is then, shown to the
staff on the call only, and the model told to stay quiet."""

from __future__ import annotations

from typing import Any

import pytest

from livestaff.tests.test_staff_on_a_call import held_by_arjun
from realtime.tests.fake_live import FakeLiveServer
from realtime.tests.voice_harness import wait_until_ended
from support.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

NO_SUCH_TOOL = {"id": "fc-held-1", "name": "no_such_tool", "args": {}}
ARGUMENTS_MISSING = {"id": "fc-held-1", "name": "get_order_details", "args": {}}
MALFORMED = {"id": "fc-held-1", "name": "check_order_status", "args": "not an object"}


@pytest.mark.parametrize("function_call", [NO_SUCH_TOOL, ARGUMENTS_MISSING, MALFORMED],
                         ids=["no such tool", "arguments missing", "malformed"])  # fmt: skip
async def test_a_tool_call_gone_wrong_while_a_colleague_holds_the_call_is_not_shown_to_her(
    asha: Customer, live: FakeLiveServer, function_call: dict[str, Any]
) -> None:
    call, call_id, arjun = await held_by_arjun(live)
    session = live.session
    await session.wait_for_note()  # the greeting
    await session.wait_for_note()  # "stay silent"

    session.pending_tool_calls[function_call["id"]] = function_call["name"]  # its answer is due
    await session.send({"toolCall": {"functionCalls": [function_call]}})
    answer = await session.wait_for_tool_response()
    while (await arjun.next_event("tool"))["status"] == "started":
        pass  # the staff see it through to its end
    await arjun.send({"type": "hand_back", "note": ""})
    await call.next_event("agent_changed")
    await call.next_event("agent_changed")  # back with the agent

    assert answer["response"]["reason"] == "unavailable"  # told to stay quiet, nothing done
    assert [e for e in call.events if e["type"] == "tool"] == []
    await call.send({"type": "end"})
    await wait_until_ended(call_id)
