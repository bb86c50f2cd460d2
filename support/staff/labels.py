"""Words people read for the values the data holds: outcomes, end reasons, durations, phones,
token counts. Pure functions; the templates reach them through support/templatetags/staff.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timesince import timesince

from postcall.cost import MODALITIES
from postcall.outcome import LABELS

# Contract section 10: what a call achieved (written when the call ends), in postcall's words.
OUTCOME_LABELS: dict[str, str] = {str(outcome): label for outcome, label in LABELS.items()}
# Outcomes the agent settled alone (the containment rate counts these).
CONTAINED_OUTCOMES = ("resolved_refund", "resolved_info", "complaint_filed")
# Outcomes where a person took over or will (the escalation rate counts these).
HUMAN_OUTCOMES = ("escalated", "transferred", "callback_scheduled")

# How a call ended, as the voice bridge records it in `end_reason`: said as what happened to
# the call, in words of their own, since the lists show it beside the outcome (what the call
# achieved, OUTCOME_LABELS) and filter by both.
END_REASON_LABELS = {
    "caller_hung_up": "Caller hung up",
    "caller_left": "Caller's connection closed",
    # The Live model's session was lost for good, or went silent (realtime/call_session.py
    # _give_up): the outcome is "Agent unavailable".
    "agent_unavailable": "Voice agent stopped responding",
    # The phone call moved to the escalation number (realtime/transfer.py): the outcome is
    # "Transferred to a person".
    "transferred_to_human": "Phone transfer went through",
    # Twilio gave no answer to the transfer: whether the caller reached a person is not known.
    "transfer_unconfirmed": "Phone transfer not confirmed",
    # It moved, and nobody at that number took it: the outcome is "Escalated to a person".
    "transfer_failed": "Phone transfer not answered",
    "idle": "Caller stayed silent",
    "max_duration": "Reached the maximum length",
    # A task of the call failed on its server (realtime/call_session.py).
    "server_error": "Cut off by a fault on our server",
    # Its server stopped or died mid-call, and the sweeper ended it (continuity/).
    "lost": "Cut off when its server stopped",
    # Its server began to stop before the call was answered: the customer's page opened the
    # call again on another.
    "moved_before_ready": "Opened again on another server",
    "ended_by_staff": "Ended by a colleague",
    # No agent configured to hand it back to, the colleague holding it left
    # (livestaff/on_call.py HOLDER_LEFT).
    "staff_left": "Colleague's page closed",
    # ... or they lost the right to take calls over while holding it (HOLDER_NOT_ALLOWED).
    "staff_not_allowed": "Colleague lost take-over right",
    # Values the bridge does not write (it ends a call with one of the above), labelled for a
    # record that holds one all the same; "error" says nothing of what failed.
    "escalated": "Escalation",
    "call_over": "Call over",
    "error": "Ended by an error (cause not recorded)",
}

# End reasons an earlier version wrote, and the one each now is: labelled and filtered as it.
END_REASON_SYNONYMS = {"customer_hung_up": "caller_hung_up"}

CHANNEL_LABELS = {"web": "Web", "phone": "Phone"}


def humanize(value: str) -> str:
    """`some_internal_value` -> "Some internal value", for values no table names."""
    text = value.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def in_a_sentence(label: str) -> str:
    """A label as said within a sentence: "Out for delivery" -> "out for delivery"."""
    return label[:1].lower() + label[1:]


def channel_label(channel: str | None) -> str:
    """A call's channel as the call pages say it ("web" -> "Web"); "" for none."""
    return CHANNEL_LABELS.get(channel, humanize(channel)) if channel else ""


def choice_label(choices: type[models.TextChoices], value: str | None) -> str:
    """A stored choice as the pages say it (its label, as `get_FOO_display`: "high" -> "High");
    one the choices do not know, humanized; "" for none."""
    if not value:
        return ""
    try:
        return str(choices(value).label)
    except ValueError:
        return humanize(value)


def outcome_label(outcome: str | None) -> str:
    if not outcome:
        return "—"
    return OUTCOME_LABELS.get(outcome, humanize(outcome))


def end_reason_label(reason: str | None) -> str:
    if not reason:
        return "—"
    reason = END_REASON_SYNONYMS.get(reason, reason)
    return END_REASON_LABELS.get(reason, humanize(reason))


def end_reasons_meaning(reason: str) -> list[str]:
    """Every value the data may hold for end reason `reason` (its older synonyms too)."""
    return [reason, *(old for old, new in END_REASON_SYNONYMS.items() if new == reason)]


def mmss(seconds: float | None) -> str:
    """A duration as m:ss (h:mm:ss from an hour): 35 -> "0:35", 3725 -> "1:02:05"."""
    if seconds is None:
        return "—"
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def duration_s(started_at: dt.datetime | None, ended_at: dt.datetime | None) -> float | None:
    if started_at is None or ended_at is None:
        return None
    return (ended_at - started_at).total_seconds()


def grouped(count: int) -> str:
    """A count as the charts and token counts write it: "12,345" (rupees have their own
    grouping: support.money.format_inr)."""
    return f"{count:,}"


def local_time(value: dt.datetime) -> str:
    """A moment in the support time zone as every page writes one: "6 Nov 2026, 15:20"
    (DATETIME_FORMAT, voiceproject/formats)."""
    return date_format(timezone.localtime(value), "DATETIME_FORMAT")


def phone_label(phone: str | None) -> str:
    """Indian mobile numbers grouped as people write them: "+91 98000 00301"."""
    if not phone:
        return "—"
    if phone.startswith("+91") and len(phone) == 13 and phone[1:].isdigit():
        return f"+91 {phone[3:8]} {phone[8:]}"
    return phone


def ago(delta: dt.timedelta) -> str:
    """A short age: "34 min", "3 h 10 min", "2 days"."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def waited(since: dt.datetime, until: dt.datetime | None = None) -> str:
    """How long from `since` to `until` (now when None) as Django's timesince says it ("1 hour,
    30 minutes"), but "under a minute" for less than one rather than "0 minutes"."""
    until = until or dt.datetime.now(dt.UTC)
    if until - since < dt.timedelta(minutes=1):
        return "under a minute"
    return timesince(since, until)


def _count(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _by_modality(details: Any) -> str:
    """Live API token details ([{modality, token_count}]) as "audio 1,000, text 200"."""
    if not isinstance(details, list):
        return ""
    parts = [
        f"{str(d.get('modality', '')).lower() or 'other'} {_count(d.get('token_count')):,}"
        for d in details if isinstance(d, Mapping)
    ]  # fmt: skip
    return ", ".join(parts)


USAGE_ROWS = (
    ("prompt_token_count", "prompt_tokens_details", "Input: what the model heard and read"),
    ("response_token_count", "response_tokens_details", "Output: what the model said"),
    ("thoughts_token_count", "", "Thinking"),
    ("total_token_count", "", "Total"),
)


def _by_modality_counters(usage: Mapping[str, Any], direction: str) -> tuple[str, set[str]]:
    """The flat per-modality counters postcall/cost.py sums into calls.usage
    (`prompt_audio_token_count`, ...) for `direction` as "audio 869, text 940", and their keys."""
    parts, keys = [], set()
    for modality in MODALITIES:
        key = f"{direction}_{modality.lower()}_token_count"
        if key in usage:
            keys.add(key)
            parts.append(f"{modality.lower()} {_count(usage[key]):,}")
    return ", ".join(parts), keys


def usage_rows(usage: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The Live API's token counts as (what, how many) rows people read, input and output split
    by modality; other counts follow under their own names, humanized."""
    if not usage:
        return []
    rows = []
    known: set[str] = set()
    for count_key, details_key, label in USAGE_ROWS:
        known.update((count_key, details_key))
        split, counters = _by_modality_counters(usage, count_key.removesuffix("_token_count"))
        known.update(counters)
        if count_key not in usage or (count_key == "thoughts_token_count"
                                       and not _count(usage[count_key])):
            continue
        value = f"{_count(usage[count_key]):,} tokens"
        if split := _by_modality(usage.get(details_key)) or split:
            value += f" ({split})"
        rows.append((label, value))
    for key, raw in sorted(usage.items()):
        if key not in known and isinstance(raw, (int, float)):
            rows.append((humanize(key.removesuffix("_count")), f"{_count(raw):,}"))
    return rows
