"""What happened after a call (contract section 10) as people read it: the summary (or the
one-line account standing in for it), the cost in the configured currency, how quickly the
agent answered each turn, the callbacks it booked, and the recording. Pure, but for
`recording_of` (one GridFS lookup) and `callbacks_of` (one query).

    shown = after_call(record, started_at)   # the call page's summary, cost and turns
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from django.conf import settings

from callbacks.models import Callback, CallbackStatus
from postcall import store
from postcall.cost import UnknownModel
from postcall.finish import cost_now
from postcall.summary import account, configured
from support.money import axis_inr, compact, format_inr
from support.mongo import sync_db
from support.staff.charts import ColumnChart, turn_chart, wait_label
from support.staff.labels import OUTCOME_LABELS, choice_label, local_time, mmss

if TYPE_CHECKING:
    from support.models import Escalation

SENTIMENTS = {"negative": "Unhappy", "neutral": "Neutral", "positive": "Happy"}
# by_modality keys of postcall/cost.py, in words.
COST_PARTS = {
    "input_audio": "Listening to the customer",
    "input_text": "Reading instructions and tool results",
    "input_image": "Looking at images",
    "input_video": "Looking at video",
    "input_unattributed": "Other input (not broken down by the model's report)",
    "output_audio": "Speaking",
    "output_text": "Writing text",
    "output_thinking": "Thinking",
    "output_unattributed": "Other output (not broken down by the model's report)",
}


def money(minor: int, currency: str) -> str:
    """An amount in the currency's minor unit as people read it: "₹2.45", "0.03 USD"."""
    if currency.upper() == "INR":
        return format_inr(minor)
    return f"{minor / 100:,.2f} {currency}"


def axis_money(minors: Sequence[int], currency: str) -> list[str]:
    """The ticks of one axis, said alike (money.compact): "₹1.2 Cr", "1.2M USD"; "₹2.5k",
    "₹5.0k"; "0.50 USD"."""
    if currency.upper() == "INR":
        return axis_inr(minors)
    return compact(minors, [(10**9, "B"), (10**6, "M"), (10**3, "k")], f"{{}} {currency}")


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank `p`th percentile (p50, p95) of `values`; None without any."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def percentile_of_counts(counts: Mapping[int, int], p: float) -> int | None:
    """The same, from a histogram {value: how many}."""
    total = sum(counts.values())
    if not total:
        return None
    rank = max(1, math.ceil(p / 100 * total))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return None  # unreachable: seen reaches total


# --- the summary -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryShown:
    text: str
    sentiment: str  # "Unhappy", "Neutral", "Happy", or "" when not judged
    resolved: bool | None
    follow_up: str
    source: str  # where it comes from, in words
    warning: str = ""  # why it may not be right, in a sentence read before it
    since: str = ""  # what was done about it after the call (see as_of_now), or ""
    corrected: str = ""  # where it says otherwise than the model did, and why (corrected)

    @property
    def sentiment_css(self) -> str:
        return {"Unhappy": "negative", "Happy": "positive"}.get(self.sentiment, "neutral")


def words(value: Any) -> str | None:
    """A summary's text or follow-up as people read it: the text; a list of texts (a model's
    follow-up as steps) one after the other; "" for none. None for anything else (a record
    written by hand or by a tool gone wrong), which no page should show as data."""
    if value is None or isinstance(value, str):
        return (value or "").strip()
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return "; ".join(item.strip() for item in value if item.strip())
    return None


def unreadable(stored: Any) -> bool:
    """Whether a call's stored summary is there but cannot be shown: not a summary document,
    or its text or follow-up not in words."""
    if stored is None:
        return False
    return (not isinstance(stored, Mapping) or words(stored.get("text")) is None
            or words(stored.get("follow_up")) is None)  # fmt: skip


def summary_of(record: Mapping[str, Any]) -> SummaryShown | None:
    """The call's summary, or (none written yet, a call from before summaries, or one whose
    summary cannot be read) the account from its tool results, worked out now; None while
    the call is in progress."""
    stored = record.get("summary")
    garbled = unreadable(stored)
    if garbled or not isinstance(stored, Mapping) or not words(stored.get("text")):
        if not record.get("ended_at"):
            return None
        stored = {**account(record), "pending": not garbled, "unreadable": garbled}
    source = stored.get("source")
    warning = ""
    if stored.get("unreadable"):
        said = ("The summary on record could not be read (not in words). This line comes from "
                "what the agent's tools did.")  # fmt: skip
    elif source == "model":
        said = f"Written by {stored.get('model') or 'the summary model'} from the transcript."
        if stored.get("outcome_was"):  # and the model did not write it again since
            warning = (f"Written before the call's outcome was corrected from "
                       f"{_outcome(stored['outcome_was'])} to {_outcome(record.get('outcome'))}: "
                       "it may say otherwise.")  # fmt: skip
        if stored.get("last_error"):  # kept: summarising it again failed
            said += f" Summarising again failed: {_failure(stored['last_error'])}."
    elif stored.get("error"):
        said = (f"The summary model failed: {_failure(stored['error'])}. This line comes from "
                "what the agent's tools did.")  # fmt: skip
    elif stored.get("pending") and configured():
        said = "From what the agent's tools did; the model's summary is not written yet."
    else:
        said = "From what the agent's tools did (no summary model is configured)."
    resolved = stored.get("resolved")
    return SummaryShown(
        text=words(stored.get("text")) or "",
        sentiment=SENTIMENTS.get(str(stored.get("sentiment")), ""),
        resolved=resolved if isinstance(resolved, bool) else None,
        follow_up=words(stored.get("follow_up")) or "",
        source=said,
        warning=warning,
        corrected=corrected(stored, record.get("outcome")) if source == "model" else "",
    )


# Why a call under each outcome postcall/summary.py counts as unsettled (UNSETTLED) was not
# resolved, as the end of "The summary model called this resolved; ..., so ...".
UNRESOLVED_BECAUSE = {
    "escalated": "the call left a ticket open for a colleague",
    "callback_scheduled": "the call left a callback to make",
    "abandoned": "the customer was not helped on the call",
    "agent_unavailable": "the agent became unavailable on the call",
}


def corrected(stored: Mapping[str, Any], outcome: Any) -> str:
    """Where a model's summary `stored` is shown otherwise than the model wrote it, made to
    agree with the call's `outcome` (postcall/summary.py: `agreeing`, what the model said in
    `model_said`), why, in a sentence; "" where it is shown as written."""
    said = stored.get("model_said")
    if not isinstance(said, Mapping):
        return ""
    resolved, follow_up = "resolved" in said, "follow_up" in said
    why = UNRESOLVED_BECAUSE.get(str(outcome), f"the call ended as “{_outcome(outcome)}”")
    if not outcome:
        why = "the call's record says otherwise"
    if resolved and follow_up:
        return (f"The summary model called this resolved with nothing left to do; {why}, so it "
                "is shown as not resolved, with what the call left to do.")  # fmt: skip
    if resolved:
        return f"The summary model called this resolved; {why}, so it is shown as not resolved."
    if follow_up:
        return ("The summary model named nothing left to do; what is left to do comes from the "
                "tickets and callbacks the call left.")  # fmt: skip
    return ""


def _outcome(value: Any) -> str:
    return OUTCOME_LABELS.get(str(value), str(value))


# --- what was done since the call ---------------------------------------------------------------


# Callbacks (contract section 9) no longer to make: made, or called off.
CLOSED_CALLBACKS = {"done": "made", "cancelled": "cancelled"}


@dataclass(frozen=True)
class Booked:
    """A callback booked on a call (collection `callbacks`), as the call's pages say it."""

    callback_id: str
    slot_start: dt.datetime | None
    status: str
    closed_at: dt.datetime | None = None  # made, missed or cancelled then

    FIELDS = ("callback_id", "slot_start", "status", "closed_at", "call_id")

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Booked:
        start, closed = doc.get("slot_start"), doc.get("closed_at")
        return cls(str(doc.get("callback_id", "")),
                   start if isinstance(start, dt.datetime) else None,
                   str(doc.get("status") or CallbackStatus.SCHEDULED),
                   closed if isinstance(closed, dt.datetime) else None)  # fmt: skip

    @property
    def when(self) -> str:
        return local_time(self.slot_start) if self.slot_start else "no time on record"

    @property
    def status_label(self) -> str:
        return choice_label(CallbackStatus, self.status)


def booked_on(call_id: str, ended_at: dt.datetime | None,
              found: Iterable[Mapping[str, Any]],
              cancelled_here: Collection[str] = ()) -> list[Booked]:  # fmt: skip
    """The callbacks among `found` (documents) that the call booked and left to make: not
    those it booked and cancelled itself (to book another), which were never left to do:
    cancelled by the end of the call, or by its own `cancel_callback` (`cancelled_here`,
    cancelled_by_the_call: a tool finishing after the caller's line went, and so after the
    call's end, while it waited for her)."""
    booked = [Booked.from_document(doc) for doc in found if doc.get("call_id") == call_id]
    return [b for b in booked
            if not (b.status == CallbackStatus.CANCELLED
                    and (b.callback_id in cancelled_here
                         or (b.closed_at and ended_at and b.closed_at <= ended_at)))]  # fmt: skip


def cancelled_by_the_call(record: Mapping[str, Any]) -> set[str]:
    """The callbacks the call's own `cancel_callback` cancelled (its record's tool calls)."""
    return {
        str(call["result"].get("callback_id"))
        for call in record.get("tool_calls") or []
        if isinstance(call, Mapping) and call.get("name") == "cancel_callback"
        and call.get("ok") and isinstance(call.get("result"), Mapping)
    }


def callbacks_of(record: Mapping[str, Any]) -> list[Booked]:
    """The callbacks the call booked (booked_on), earliest first: read by its customer, the
    indexed key (a customer has a few), and picked by call."""
    user_id = record.get("user_id")
    if user_id is None:  # an unidentified caller books no callback
        return []
    found = (sync_db()[Callback._meta.db_table]
             .find({"user_id": user_id}, {"_id": 0, **dict.fromkeys(Booked.FIELDS, 1)})
             .sort("slot_start", 1))  # fmt: skip
    return booked_on(str(record.get("call_id")), record.get("ended_at"), found,
                     cancelled_by_the_call(record))  # fmt: skip


def done_since(tickets: Sequence[Escalation], callbacks: Sequence[Booked] = ()) -> str:
    """What was done since a call about what it left to do: "Since the call: ticket … was
    resolved on …; callback … was made on …" once every one of `tickets` (the Escalations the
    call opened) is resolved and every one of `callbacks` (booked_on) made or cancelled; ""
    while any is not, or without any."""
    said = []
    if tickets:
        resolved = [t.resolved_at for t in tickets if t.status == "resolved" and t.resolved_at]
        if len(resolved) < len(tickets):
            return ""
        ids = " and ".join(t.ticket_id for t in tickets)
        were = f"ticket {ids} was" if len(tickets) == 1 else f"tickets {ids} were"
        said.append(f"{were} resolved on {local_time(max(resolved))}")
    for callback in callbacks:
        if callback.status not in CLOSED_CALLBACKS:  # to make still, or missed: to try again
            return ""
        when = f" on {local_time(callback.closed_at)}" if callback.closed_at else ""
        said.append(f"callback {callback.callback_id} was {CLOSED_CALLBACKS[callback.status]}"
                    f"{when}")  # fmt: skip
    return f"Since the call: {'; '.join(said)}." if said else ""


def as_of_now(summary: SummaryShown | None, tickets: Sequence[Escalation],
              callbacks: Sequence[Booked] = ()) -> SummaryShown | None:  # fmt: skip
    """`summary`, written when the call ended, as read now: a call left unresolved whose
    tickets have all been resolved since, and callbacks made, says so (done_since), so that
    its "Left to do" does not send a colleague to work a ticket that is closed or call back
    a customer who was called."""
    if summary is None or summary.resolved is True:
        return summary
    since = done_since(tickets, callbacks)
    return replace(summary, since=since) if since else summary


# Why the model failed, as postcall/summary.py words it; records from before it did may hold
# an API's own answer (a proxy's HTML page, a paragraph on quotas): the first words of it.
FAILURE_CHARS = 120
MARKUP = re.compile(r"<[^<>]*>")  # not [^>]*: a run of "<" would take quadratic time
# The API's status code after the words, as stored reasons may end ("its quota or rate limit
# was reached (429)", "it refused the request (400 INVALID_ARGUMENT)"): staff can do nothing
# with it, and the log has it.
STATUS_CODE = re.compile(r"\s*\([1-5]\d\d(?: [A-Z_]+)?\)$")


def _failure(reason: Any) -> str:
    """A stored failure as the page says it: one short line, without markup or a status code.
    The stored text is left as it is."""
    text = " ".join(MARKUP.sub(" ", str(reason)).split()).rstrip(".")
    text = STATUS_CODE.sub("", text)
    return text if len(text) <= FAILURE_CHARS else text[: FAILURE_CHARS - 1] + "…"


# --- the cost ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostShown:
    total: str
    parts: list[tuple[str, str]]
    note: str


def cost_of(record: Mapping[str, Any]) -> CostShown | None:
    """The call's cost; for an ended call priced before costs were kept, estimated now from
    its usage and today's price table (and said so). None while in progress or unpriced."""
    cost = record.get("cost")
    note = ""
    if not isinstance(cost, Mapping) or "amount" not in cost:
        usage = record.get("usage") or {}
        if not record.get("ended_at") or not usage.get("total_token_count"):
            return None
        try:
            cost = cost_now(usage)
        except UnknownModel:
            return None
        note = "Estimated now from the tokens used and today's prices. "
    currency = str(cost.get("currency") or settings.COST_CURRENCY)
    parts = [
        (COST_PARTS.get(key, key.replace("_", " ").capitalize()), money(int(value), currency))
        for key, value in (cost.get("by_modality") or {}).items()
        if int(value)
    ]
    if cost.get("model"):
        note += f"Model {cost['model']}"
        usd = cost.get("usd")
        note += f"; US${float(usd):.4f} before conversion." if usd is not None else "."
    return CostShown(money(int(cost["amount"]), currency), parts, note.strip())


# --- how quickly the agent answered -------------------------------------------------------------


# End reasons (support/staff/labels.py) where the customer ended the call herself.
CALLER_ENDED = frozenset({"caller_hung_up", "customer_hung_up", "caller_left"})
# A customer who hangs up this soon after her last words was saying goodbye ("Thank you."),
# not waiting for an answer: past it, silence is an answer she did not get.
CLOSING_S = 5.0


@dataclass(frozen=True)
class TurnsShown:
    count: int
    answered: int
    p50: str
    p95: str
    slowest: str
    tools: str  # total tool time; "" when no tool ran in a turn
    chart: ColumnChart
    closing: bool = False  # the last turn went unanswered as she hung up (closing_words)

    @property
    def missed(self) -> int:
        """Turns the agent left unanswered while the customer waited for it."""
        return self.count - self.answered - int(self.closing)


def closing_words(record: Mapping[str, Any], last: Mapping[str, Any]) -> bool:
    """Whether the call's `last` turn, unanswered, was the customer's closing words: she hung
    up within CLOSING_S of them, before an answer was due. A miss it is not."""
    at, ended = last.get("at"), record.get("ended_at")
    if last.get("first_audio_ms") is not None or not isinstance(at, dt.datetime):
        return False
    if not isinstance(ended, dt.datetime) or record.get("end_reason") not in CALLER_ENDED:
        return False
    return (ended - at).total_seconds() <= CLOSING_S


def turns_of(record: Mapping[str, Any], started_at: dt.datetime) -> TurnsShown | None:
    """The call's agent turns (`turns`, contract section 10); None when it has none."""
    turns = [t for t in record.get("turns") or [] if isinstance(t, Mapping)]
    if not turns:
        return None
    rows: list[tuple[str, float | None, float]] = []
    for turn in turns:
        at = turn.get("at")
        offset = (at - started_at).total_seconds() if isinstance(at, dt.datetime) else None
        when = mmss(offset)
        wait = turn.get("first_audio_ms")
        rows.append((when, None if wait is None else int(wait) / 1000,
                     int(turn.get("tools_ms") or 0) / 1000))  # fmt: skip
    waits = [wait for _, wait, _ in rows if wait is not None]
    closing = closing_words(record, max(turns, key=_turn_at))
    return TurnsShown(
        count=len(rows),
        answered=len(waits),
        p50=_seconds(percentile(waits, 50)),
        p95=_seconds(percentile(waits, 95)),
        slowest=_seconds(max(waits, default=None)),
        tools=_seconds(tool_s) if (tool_s := sum(tools for *_, tools in rows)) else "",
        chart=turn_chart("How long the customer waited, turn by turn", rows, closing=closing),
        closing=closing,
    )


def _turn_at(turn: Mapping[str, Any]) -> float:
    """Where a turn falls, for finding the last: one without a time, first."""
    at = turn.get("at")
    return at.timestamp() if isinstance(at, dt.datetime) else -math.inf


def _seconds(value: float | None) -> str:
    return "—" if value is None else wait_label(value)


def speech_starts(record: Mapping[str, Any], started_at: dt.datetime) -> dict[str, list[float]]:
    """Where each measured turn's words began, in seconds from the start of the call, by
    speaker: the customer's (her speech's end less how long she spoke) and the agent's (its
    first audio); oldest first. The player plays a line of the conversation from these: a
    line's own time is when its first caption came, which is after its words began (the
    customer's caption follows her speech), or, on records before 2026-12-07, when the line
    was complete, where its words end (static/staff/call.js)."""
    customer: list[float] = []
    agent: list[float] = []
    for turn in record.get("turns") or []:
        at = turn.get("at") if isinstance(turn, Mapping) else None
        if not isinstance(at, dt.datetime):
            continue
        end = (at - started_at).total_seconds()
        customer.append(round(end - int(turn.get("user_ms") or 0) / 1000, 2))
        if turn.get("first_audio_ms") is not None:
            agent.append(round(end + int(turn["first_audio_ms"]) / 1000, 2))
    return {"customer": sorted(customer), "agent": sorted(agent)}


# --- the recording -----------------------------------------------------------------------------


# Less audio than this is nothing to listen to: the Ogg headers and one packet of silence
# (a call over at once), or no audio page at all.
AUDIBLE_S = 0.1


@dataclass(frozen=True)
class RecordingShown:
    part: int  # from 1; a call moved to another server mid-call has a part per server
    size: str  # "1.2 MB"
    offset_s: float  # seconds after the call's start that the recording's time zero falls
    complete: bool  # its writer finished it (not cut short by its worker stopping)
    nothing: str = ""  # why nothing is to be heard in it, in a sentence; "" when there is


def recording_of(call_id: str, started_at: dt.datetime) -> list[RecordingShown]:
    """The call's recording, in parts (usually one), oldest first; empty if none. A part
    with no audio says so, and why when that is known (its worker stopped before writing)."""
    shown = []
    for part, found in enumerate(store.recording_parts(call_id), start=1):
        zero = found.started_at
        offset = (zero - started_at).total_seconds() if zero is not None else 0.0
        nothing = ""
        if found.seconds() < AUDIBLE_S:
            nothing = ("Nothing was recorded: the call's server stopped before writing any of it."
                       if found.cut_short else
                       "Nothing recorded yet." if not found.complete else
                       "Nothing was recorded: no audio reached the recording.")  # fmt: skip
        shown.append(RecordingShown(part=part, size=_size(found.length),
                                    offset_s=round(offset, 3),
                                    complete=found.complete and not found.cut_short,
                                    nothing=nothing))  # fmt: skip
    return shown


def audible(parts: Sequence[RecordingShown]) -> list[RecordingShown]:
    """The parts with something to hear (and so to play or download)."""
    return [part for part in parts if not part.nothing]


def _size(length: int) -> str:
    if length >= 1_000_000:
        return f"{length / 1_000_000:.1f} MB"
    return f"{max(1, round(length / 1000))} kB"


# --- the call page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AfterCall:
    summary: SummaryShown | None
    cost: CostShown | None
    turns: TurnsShown | None
    speech: dict[str, list[float]]  # speech_starts: where the recording player plays a line from
    callbacks: list[Booked]  # callbacks_of: what the call left to do besides its tickets


def after_call(record: Mapping[str, Any], started_at: dt.datetime,
               tickets: Sequence[Escalation] = ()) -> AfterCall:  # fmt: skip
    """The call page's summary (as of now, with the `tickets` the call opened and the
    callbacks it booked), cost, turns, where each turn's words began, and its callbacks."""
    callbacks = callbacks_of(record)
    summary = as_of_now(summary_of(record), tickets, callbacks)
    return AfterCall(summary, cost_of(record), turns_of(record, started_at),
                     speech_starts(record, started_at), callbacks)  # fmt: skip
