"""A call as people read it: labels, durations and one line per tool call (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from support.staff.conversation import actions_taken, conversation, tool_line
from support.staff.labels import (
    END_REASON_LABELS,
    OUTCOME_LABELS,
    end_reason_label,
    mmss,
    outcome_label,
    phone_label,
    usage_rows,
)

START = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (35, "0:35"), (185.4, "3:05"),
                                           (3725, "1:02:05"), (None, "—")])  # fmt: skip
def test_durations_read_as_minutes_and_seconds(seconds: float | None, text: str) -> None:
    assert mmss(seconds) == text


def test_values_read_as_words() -> None:
    assert outcome_label("resolved_refund") == "Resolved with a refund"
    assert outcome_label("something_new") == "Something new"
    assert end_reason_label("caller_hung_up") == "Caller hung up"
    assert phone_label("+919812345678") == "+91 98123 45678"
    assert phone_label("+14155550100") == "+14155550100"


def test_each_end_reason_says_how_the_call_ended_apart_from_the_others_and_the_outcomes() -> None:
    """The calls lists show a call's outcome beside how it ended, and filter by either: each
    end reason is said as what happened to the call, in words no outcome uses (else a row reads
    the same twice), and no label is another's start (an agent could not tell which is
    which)."""
    labels = list(END_REASON_LABELS.values())
    assert len(set(labels)) == len(labels)
    assert set(labels).isdisjoint(OUTCOME_LABELS.values())
    for label in labels:
        assert [other for other in labels if other != label and other.startswith(label)] == []
    # The voice agent's model failing is not our server failing, nor its server stopping.
    failures = ("agent_unavailable", "server_error", "lost", "error")
    assert [end_reason_label(reason) for reason in failures] == [
        "Voice agent stopped responding", "Cut off by a fault on our server",
        "Cut off when its server stopped", "Ended by an error (cause not recorded)"]  # fmt: skip


def test_usage_reads_as_input_and_output_tokens() -> None:
    rows = usage_rows({
        "prompt_token_count": 1200, "response_token_count": 340, "total_token_count": 1540,
        "prompt_tokens_details": [{"modality": "AUDIO", "token_count": 1000},
                                  {"modality": "TEXT", "token_count": 200}],
        "cached_content_token_count": 7,
    })  # fmt: skip

    assert rows == [
        ("Input: what the model heard and read", "1,200 tokens (audio 1,000, text 200)"),
        ("Output: what the model said", "340 tokens"),
        ("Total", "1,540 tokens"),
        ("Cached content token", "7"),
    ]


def test_usage_as_the_bridge_sums_it_splits_input_and_output_by_modality() -> None:
    """calls.usage holds the per-modality counters postcall/cost.py sums, not the API's lists:
    they are the split of input and output, not rows of their own ("Prompt audio token")."""
    rows = usage_rows({
        "prompt_token_count": 1809, "response_token_count": 77, "total_token_count": 1886,
        "prompt_audio_token_count": 869, "prompt_text_token_count": 940,
        "response_audio_token_count": 77,
    })  # fmt: skip

    assert rows == [
        ("Input: what the model heard and read", "1,809 tokens (text 940, audio 869)"),
        ("Output: what the model said", "77 tokens (audio 77)"),
        ("Total", "1,886 tokens"),
    ]


@pytest.mark.parametrize(
    "name, args, result, ok, line",
    [
        ("initiate_refund", {"order_id": "ORD-1196", "reason": "cold"},
         {"ok": True, "order_id": "ORD-1196", "amount": "268.50", "percent": 75, "tier": "Gold"},
         True, "Refunded ₹268.50 (Gold, 75%) for ORD-1196"),
        ("initiate_refund", {"order_id": "ORD-1001"},
         {"ok": False, "reason": "outside_window", "message": "Refunds are only..."},
         False, "Refund for ORD-1001 refused: outside the 2-hour refund window"),
        ("get_order_details", {"order_id": "ORD-1196"},
         {"ok": True, "order_id": "ORD-1196", "status": "delivered",
          "hours_since_delivery": 0.57, "inside_refund_window": True},
         True, "Order ORD-1196 looked up: delivered 34 min ago, inside the refund window"),
        ("get_order_details", {"order_id": "ORD-1002"},
         {"ok": True, "status": "out_for_delivery", "hours_since_delivery": None},
         True, "Order ORD-1002 looked up: out for delivery"),
        ("check_order_status", {},
         {"ok": True, "orders": [{"order_id": "ORD-9", "status": "preparing"}],
          "more_orders": True},
         True, "Orders looked up: 1+, the latest ORD-9 being prepared"),
        ("get_user_profile", {}, {"ok": True, "tier": "Gold", "wallet_balance": "120.00"},
         True, "Profile looked up: Gold tier, wallet ₹120.00"),
        ("file_complaint", {"category": "late_delivery", "order_id": "ORD-7"},
         {"ok": True, "complaint_id": "CMP-4HX9PM"},
         True, "Complaint CMP-4HX9PM filed: Late delivery about ORD-7"),
        ("file_complaint", {"category": "late_delivery", "order_id": "ORD-7"},
         {"ok": True, "complaint_id": "CMP-4HX9PM", "already_filed": True},
         True, "Complaint CMP-4HX9PM already on file about ORD-7: not filed again"),
        ("escalate_to_human", {"reason": "allergy", "priority": "urgent"},
         {"ok": True, "ticket_id": "TKT-4HX9PM"},
         True, "Escalated to a person (Urgent): ticket TKT-4HX9PM"),
        ("verify_caller", {"order_id": "ORD-7"}, {"ok": True, "verified": True},
         True, "Caller verified"),
        ("list_callback_slots", {}, {"ok": True, "day": "tomorrow", "slots": [{}, {}, {}]},
         True, "Callback slots looked up: 3 free tomorrow"),
        ("schedule_callback", {"slot_start": "2026-12-04T15:30"},
         {"ok": True, "callback_id": "CBK-4HX9PM", "when": "tomorrow at 3:30 pm"},
         True, "Callback CBK-4HX9PM booked for tomorrow at 3:30 pm"),
        ("schedule_callback", {}, {"ok": False, "reason": "slot_unavailable"},
         False, "Callback not booked: Slot unavailable"),
        ("cancel_callback", {"callback_id": "CBK-4HX9PM"},
         {"ok": True, "callback_id": "CBK-4HX9PM", "when": "tomorrow at 3:30 pm"},
         True, "Callback CBK-4HX9PM cancelled (was tomorrow at 3:30 pm)"),
    ],
)  # fmt: skip
def test_each_tool_call_is_one_readable_line(
    name: str, args: dict, result: dict, ok: bool, line: str
) -> None:
    assert tool_line(name, args, result, ok) == line


# What the call's record keeps of a result too long, or not JSON (realtime/call_record.py).
TOO_LONG = {"truncated": True, "preview": '{"orders": [{"order_id": "ORD-1", "restaurant"'}
NOT_JSON = {"unreadable": True}


@pytest.mark.parametrize("name, args, result, line", [
    ("check_order_status", {}, TOO_LONG,
     "Orders looked up: the result was too long to keep in full (its start is in the details)"),
    ("get_order_details", {"order_id": "ORD-9"}, TOO_LONG,
     "Order looked up (ORD-9): the result was too long to keep in full (its start is in the "
     "details)"),
    ("get_user_profile", {}, NOT_JSON, "Profile looked up: the result could not be kept"),
])  # fmt: skip
def test_a_result_the_record_did_not_keep_is_not_read_as_nothing_found(
    name: str, args: dict, result: dict, line: str
) -> None:
    """Ten orders with their times fill the 4,000 characters a result keeps: their line said
    "Orders looked up: none yet", and a profile's "wallet ₹0.00", of a customer with both."""
    assert tool_line(name, args, result, True) == line


def test_turns_and_tool_calls_in_the_order_they_happened() -> None:
    transcript = [
        {"role": "user", "text": "My biryani came", "at": START + timedelta(seconds=2)},
        {"role": "user", "text": "cold.", "at": START + timedelta(seconds=3)},
        {"role": "agent", "text": "Sorry! Refunding it now.", "at": START + timedelta(seconds=9)},
    ]
    tools = [{"name": "initiate_refund", "args": {"order_id": "ORD-1"}, "ok": True, "ms": 12,
              "result": {"ok": True, "amount": "10.00", "percent": 30, "tier": "Bronze"},
              "started_at": START + timedelta(seconds=9)}]  # fmt: skip

    entries = conversation(START, transcript, tools)

    assert [(e.kind, e.speaker, e.at, e.text) for e in entries] == [
        ("turn", "customer", "0:02", "My biryani came cold."),
        ("turn", "agent", "0:09", "Sorry! Refunding it now."),
        ("tool", "agent", "0:09", "Refunded ₹10.00 (Bronze, 30%) for ORD-1"),
    ]
    assert '"order_id": "ORD-1"' in entries[2].raw["arguments"]
    assert entries[2].raw["took"] == "12 ms"


def test_the_briefing_leaves_out_successful_lookups() -> None:
    tools = [
        {"name": "get_order_details", "args": {"order_id": "ORD-1"}, "ok": True,
         "result": {"status": "delivered"}},
        {"name": "get_order_details", "args": {"order_id": "ORD-X"}, "ok": False,
         "result": {"reason": "not_found"}},
        {"name": "escalate_to_human", "args": {"priority": "high"}, "ok": True,
         "result": {"ticket_id": "TKT-2"}},
    ]  # fmt: skip

    assert actions_taken(tools) == [
        "Order ORD-X not looked up: no such order for this customer",
        "Escalated to a person (High): ticket TKT-2",
    ]
