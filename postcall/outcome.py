"""How a call ended (contract section 10), derived from what happened during it. Pure.

    outcome(CallFacts.from_record(call_document)) -> "resolved_refund"

The first rule that applies wins, most consequential first: a call whose agent failed, or that
went to a person (transferred, taken over by a colleague, a callback a colleague placed, or
ended by a colleague from its live page), is that whatever else happened; then work left for
later (a callback booked, which is what comes next even when a ticket was opened and nobody
could join in time; then a ticket, the agent's or one a tool opened for staff to check what it
could not confirm, as for a refund of unknown outcome); then what the agent settled itself (a
refund, a complaint); a call cut off by a failure of ours settled nothing else, so its agent
was unavailable; then an answer; a call where nobody got an answer is abandoned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from support.kept import stand_in


class Outcome(StrEnum):
    RESOLVED_REFUND = "resolved_refund"
    RESOLVED_INFO = "resolved_info"
    COMPLAINT_FILED = "complaint_filed"
    ESCALATED = "escalated"
    CALLBACK_SCHEDULED = "callback_scheduled"
    ABANDONED = "abandoned"
    AGENT_UNAVAILABLE = "agent_unavailable"
    TRANSFERRED = "transferred"

    @property
    def label(self) -> str:
        return LABELS[self]


# The words staff read for each outcome, on every page, filter, chart and export, and at the
# head of the deterministic account (postcall/summary.py): "Information given: looked up ...".
LABELS = {
    Outcome.RESOLVED_REFUND: "Resolved with a refund",
    Outcome.RESOLVED_INFO: "Information given",
    Outcome.COMPLAINT_FILED: "Complaint filed",
    Outcome.ESCALATED: "Escalated to a person",
    Outcome.CALLBACK_SCHEDULED: "Callback scheduled",
    Outcome.ABANDONED: "Abandoned",
    Outcome.AGENT_UNAVAILABLE: "Agent unavailable",
    Outcome.TRANSFERRED: "Transferred to a person",
}

# end_reason values (realtime/) that mean the call left the agent for a person.
TRANSFER_END_REASONS = frozenset({"transferred_to_human", "transferred"})
# A colleague ended the call from its live page (contract section 8, `end_call`): a person
# decided how it ended, so the agent did not settle it alone, nor did the customer abandon it.
STAFF_END_REASONS = frozenset({"ended_by_staff"})
# A record that is no call of its own: its process began to stop before the page was told
# `ready`, so the page opened the call again elsewhere, as a new record (realtime/
# call_session.py, _open_elsewhere). Nothing happened on it (no model session, no word
# said); the customer's call is that other record, with the outcome of how it really ended.
# It keeps an outcome (section 10), but no figure counts it (NOT_A_CALL_MATCH).
MOVED_END_REASONS = frozenset({"moved_before_ready"})
# A query matching only the records that are calls customers lived (the dashboard's figures).
NOT_A_CALL_MATCH = {"end_reason": {"$nin": sorted(MOVED_END_REASONS)}}
AGENT_FAILURE_END_REASONS = frozenset({"agent_unavailable"})
# end_reason values for a call cut off by a failure of our own: a task of the call failed
# (realtime/call_session.py), or its process died and the sweeper ended it (continuity/). What
# the agent settled before stands (a ticket, a callback, a refund, a complaint); short of that
# the customer was not served, whatever the agent had said.
CUT_OFF_END_REASONS = frozenset({"server_error", "lost"})
# Information tools: a successful one means the customer was told something real.
INFO_TOOLS = frozenset(
    {"get_user_profile", "check_order_status", "get_order_details", "list_callback_slots"}
)


@dataclass(frozen=True)
class CallFacts:
    """What the outcome depends on; `succeeded` counts the tools that answered `ok`."""

    end_reason: str = ""
    succeeded: Mapping[str, int] | None = None
    customer_spoke: bool = False
    agent_answered: bool = False
    taken_over: bool = False
    callback_booked: bool = False  # a callback booked on this call is still on at its end
    # A tool that failed opened a ticket for staff to check what it did (left_to_staff).
    ticket_for_staff: bool = False

    def ok(self, tool: str) -> int:
        return (self.succeeded or {}).get(tool, 0)

    @property
    def went_to_a_person(self) -> bool:
        """A person took the call from the agent: transferred, taken over (a callback a
        colleague placed is taken over from its start), or ended by a colleague."""
        return (self.taken_over or self.end_reason in TRANSFER_END_REASONS
                or self.end_reason in STAFF_END_REASONS)  # fmt: skip

    @classmethod
    def from_record(cls, call: Mapping[str, Any]) -> CallFacts:
        """Facts from a `calls` document (contract section 5, with section 8's staff_events)."""
        succeeded: dict[str, int] = {}
        for entry in call.get("tool_calls") or []:
            if entry.get("ok"):
                name = str(entry.get("name", ""))
                succeeded[name] = succeeded.get(name, 0) + 1
        roles = [line.get("role") for line in call.get("transcript") or []]
        return cls(
            end_reason=str(call.get("end_reason") or ""),
            succeeded=succeeded,
            customer_spoke="user" in roles,
            agent_answered=_answered(roles),
            taken_over=any(
                event.get("kind") == "take_over" for event in call.get("staff_events") or []
            ),
            callback_booked=bool(callbacks_kept(call.get("tool_calls") or [])),
            ticket_for_staff=any(
                left_to_staff(entry) is not None for entry in call.get("tool_calls") or []
            ),
        )


def kept_result(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A tool call's result as its record holds it; None where the record holds only a
    stand-in for it (support/kept.py), whose fields are gone."""
    result = entry.get("result")
    if not isinstance(result, Mapping) or stand_in(result) is not None:
        return None
    return result


def left_to_staff(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The result of a tool call that failed yet opened a ticket for staff to act on (a
    refund of unknown outcome, support/refunds.py: its `ticket_id`, null while the database
    had not taken the ticket, which is opened once it does); None for any other call."""
    if entry.get("ok"):
        return None
    result = kept_result(entry)
    if result is None or "ticket_id" not in result:
        return None
    return result


def callbacks_kept(tool_calls: Iterable[Mapping[str, Any]]) -> set[str | None]:
    """The ids of the callbacks booked on the call and not cancelled on it (cancelling one
    booked on an earlier call, to book another, leaves the new one); None for one whose id
    its record did not keep, which stays booked: a person checks rather than nobody calls."""
    booked: set[str | None] = set()
    for entry in tool_calls:
        if not entry.get("ok"):
            continue
        said = (kept_result(entry) or {}).get("callback_id")
        if entry.get("name") == "schedule_callback":
            booked.add(None if said is None else str(said))
        elif entry.get("name") == "cancel_callback":
            # The id the tool cancelled: the model's argument may be spoken ("cbk 7kq2xd").
            cancelled = said or (entry.get("args") or {}).get("callback_id")
            if cancelled:
                booked.discard(str(cancelled))
    return booked


def _answered(roles: Iterable[str | None]) -> bool:
    """The agent said something after the customer did."""
    heard = False
    for role in roles:
        if role == "user":
            heard = True
        elif role == "agent" and heard:
            return True
    return False


def outcome(facts: CallFacts) -> Outcome:
    if facts.end_reason in AGENT_FAILURE_END_REASONS:
        return Outcome.AGENT_UNAVAILABLE
    if facts.went_to_a_person:
        return Outcome.TRANSFERRED
    if facts.callback_booked:  # what comes next, even for a ticket nobody could join in time
        return Outcome.CALLBACK_SCHEDULED
    if facts.ok("escalate_to_human") or facts.ticket_for_staff:
        return Outcome.ESCALATED
    if facts.ok("initiate_refund"):
        return Outcome.RESOLVED_REFUND
    if facts.ok("file_complaint"):
        return Outcome.COMPLAINT_FILED
    if facts.end_reason in CUT_OFF_END_REASONS:
        return Outcome.AGENT_UNAVAILABLE
    if facts.agent_answered or any(facts.ok(tool) for tool in INFO_TOOLS):
        return Outcome.RESOLVED_INFO
    return Outcome.ABANDONED
