"""Contract section 10 (and the README's After the call), sentence by sentence, where no other
test pinned it: the operators' metrics by name, type and labels, the last turn of a call that
ends while the agent is answering, and the call id on every log line of a call."""

from __future__ import annotations

import json
import logging

from prometheus_client.parser import text_string_to_metric_families

from postcall import logs, metrics
from postcall.latency import Turn, TurnTracker

# The README's list: name as scraped (counters end in _total), type, labels.
DOCUMENTED = {
    "voice_calls_in_progress": ("gauge", ("channel",)),
    "voice_calls_started": ("counter", ("channel",)),
    "voice_calls_ended": ("counter", ("channel", "outcome")),
    "voice_upstream_resumes": ("counter", ()),
    "voice_upstream_failures": ("counter", ("reason",)),
    "voice_tool_seconds": ("histogram", ("tool", "ok")),
    "voice_turn_latency_seconds": ("histogram", ()),
    "voice_audio_dropped": ("counter", ("direction",)),
    "voice_escalation_wait_seconds": ("histogram", ()),
    "voice_call_summaries": ("counter", ("result",)),
}


def scraped() -> dict[str, tuple[str, set[tuple[str, ...]], set[str]]]:
    """Each family /metrics renders: its type, the label names of its samples, their names."""
    families = {}
    for family in text_string_to_metric_families(metrics.render()[0].decode()):
        labels = {tuple(sorted(set(s.labels) - {"le"})) for s in family.samples}
        families[family.name] = (family.type, labels, {s.name for s in family.samples})
    return families


def test_every_documented_metric_is_scraped_with_its_type_and_labels() -> None:
    # A labelled family shows samples once one of its series exists: one each, left at zero.
    metrics.CALLS_IN_PROGRESS.labels("web")
    metrics.CALLS_STARTED.labels("web")
    metrics.CALLS_ENDED.labels("web", "abandoned")
    metrics.UPSTREAM_FAILURES.labels("stalled")
    metrics.TOOL_SECONDS.labels("get_user_profile", "true")
    metrics.FRAMES_DROPPED.labels("to_caller")
    metrics.SUMMARY_RESULTS.labels("written")

    families = scraped()

    for name, (kind, labels) in DOCUMENTED.items():
        assert name in families, name
        scraped_kind, scraped_labels, samples = families[name]
        assert scraped_kind == kind, name
        assert scraped_labels == {tuple(sorted(labels))}, name
        if kind == "counter":
            assert f"{name}_total" in samples, name  # voice_calls_started_total, ...
        if kind == "histogram":
            assert {f"{name}_bucket", f"{name}_count", f"{name}_sum"} <= samples, name


# --- turns ------------------------------------------------------------------------------------


def test_a_call_ending_while_the_agent_answers_keeps_that_turn() -> None:
    """The customer hangs up during the agent's goodbye: the model's turn is never over, but
    its latency was measured (end of speech 2.0, first audio 2.7)."""
    tracker = TurnTracker()
    tracker.user_speech(1.0, 2.0, "live")
    tracker.agent_audio(2.7)
    tracker.tool(2.1, 2.3)

    kept = tracker.call_over(3.5)

    assert kept == Turn(at=2.0, user_ms=1000, first_audio_ms=700, tools_ms=200, source="live")
    assert tracker.turns == [kept]


def test_speech_the_agent_had_not_answered_when_the_call_ended_is_no_turn() -> None:
    tracker = TurnTracker()
    tracker.user_speech(1.0, 2.0, "live")
    tracker.agent_audio(2.5)
    assert tracker.turn_over(4.0) is not None
    tracker.user_speech(5.0, 6.0, "detector")  # "bye", and she hangs up

    assert tracker.call_over(6.5) is None
    assert len(tracker.turns) == 1
    assert tracker.call_over(7.0) is None  # nothing left open


# --- logs -------------------------------------------------------------------------------------


def logged(record_call: str | None) -> tuple[dict[str, object], str]:
    """One line logged inside `record_call` (or outside any call), as LOG_FORMAT json and
    plain write it."""
    record = logging.LogRecord("realtime.call_session", logging.WARNING, __file__, 1,
                               "the model stalled", None, None)  # fmt: skip
    plain = logging.Formatter("%(levelname)s %(name)s [%(call_id)s]: %(message)s")
    token = logs.call_id.set(record_call)
    try:
        logs.CallIdFilter().filter(record)
        return json.loads(logs.JsonFormatter().format(record)), plain.format(record)
    finally:
        logs.call_id.reset(token)


def test_every_line_of_a_call_carries_its_call_id_in_either_format() -> None:
    entry, line = logged("CALL-7")

    assert entry["call_id"] == "CALL-7"
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "WARNING", "realtime.call_session", "the model stalled",
    )  # fmt: skip
    assert line == "WARNING realtime.call_session [CALL-7]: the model stalled"


def test_a_line_outside_any_call_has_no_call_id() -> None:
    entry, line = logged(None)

    assert "call_id" not in entry
    assert "[-]" in line
