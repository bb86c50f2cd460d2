"""The operators' metrics (Prometheus), through the official client. One owner: call sites
use the helpers below, and `/metrics` (views.metrics) renders them.

Several worker processes: set PROMETHEUS_MULTIPROC_DIR to an empty directory shared by the
workers of one host (cleared at each deploy) before they start; each worker then writes its
figures there and any worker's `/metrics` answers for all of them (the client's multiprocess
mode; gauges sum running processes only, a worker killed without its exit counting no more).
The workers must share one process-id namespace, as they do on one host: a file is named by
its writer's pid. Without it, each process serves its own figures, which is right for one
process (or when the scraper reaches every worker itself).
"""

from __future__ import annotations

import atexit
import datetime as dt
import glob
import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
if MULTIPROCESS:
    # A process that had this pid before and was killed (SIGKILL, the OOM killer) left its
    # live gauges behind: taken up as this one's own, its calls would be in progress for ever.
    multiprocess.mark_process_dead(os.getpid())
    # A finished worker's live gauges must stop counting.
    atexit.register(multiprocess.mark_process_dead, os.getpid())

LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0)
TOOL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CALLS_IN_PROGRESS = Gauge(
    "voice_calls_in_progress", "Calls being carried now.", ["channel"],
    multiprocess_mode="livesum",
)  # fmt: skip
CALLS_STARTED = Counter("voice_calls_started", "Calls started.", ["channel"])
CALLS_ENDED = Counter("voice_calls_ended", "Calls ended, by outcome.", ["channel", "outcome"])
UPSTREAM_RESUMES = Counter("voice_upstream_resumes", "Live API sessions resumed mid-call.")
UPSTREAM_FAILURES = Counter(
    "voice_upstream_failures", "Live API sessions lost for good, by reason.", ["reason"]
)
TOOL_SECONDS = Histogram(
    "voice_tool_seconds", "Tool run time, by tool.", ["tool", "ok"], buckets=TOOL_BUCKETS
)
TURN_LATENCY_SECONDS = Histogram(
    "voice_turn_latency_seconds",
    "End of the customer's speech to the agent's first audio, per turn.",
    buckets=LATENCY_BUCKETS,
)
FRAMES_DROPPED = Counter(
    "voice_audio_dropped", "Audio dropped because a side could not keep up.", ["direction"]
)
SUMMARY_RESULTS = Counter(
    "voice_call_summaries",
    "Call summaries asked of the summary model, by result: written, or why not (quota, "
    "key_refused, model_unknown, unavailable, refused, timeout, unusable, unreachable).",
    ["result"],
)
QUEUE_WAIT_SECONDS = Histogram(
    "voice_escalation_wait_seconds",
    "How long an escalated customer waited for a person (ticket opened to claimed).",
    buckets=(5, 15, 30, 60, 90, 120, 300, 600, 1800, 3600),
)


def escalation_claimed(created_at: dt.datetime, claimed_at: dt.datetime) -> None:
    """A person took an escalated ticket: the customer waited from `created_at` till now."""
    QUEUE_WAIT_SECONDS.observe(max(0.0, (claimed_at - created_at).total_seconds()))


def render() -> tuple[bytes, str]:
    """The exposition text and its content type, for this process or all of them."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        registry.register(_SharedFigures(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class _SharedFigures:
    """The workers' files in `directory`, as the client's MultiProcessCollector merges them,
    without the live gauges of a worker that is no longer running. Only its exit removes them
    (atexit, or the workers command on seeing it go): one killed under another supervisor
    would count its calls in progress until the directory is cleared. Its counters and
    histograms stay: they are totals, which must never go down."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        files = glob.glob(os.path.join(self.directory, "*.db"))
        return multiprocess.MultiProcessCollector.merge(
            [name for name in files if not _dead_live_gauge(name)], accumulate=True
        )


def _dead_live_gauge(path: str) -> bool:
    """Whether `path` holds the live gauges (`gauge_live<mode>_<pid>.db`) of a process that
    is not running."""
    kind, _, rest = os.path.basename(path).removesuffix(".db").partition("_")
    mode, _, pid = rest.rpartition("_")
    # ASCII digits only: str.isdigit() takes "²" too, which int() refuses. Any file in the
    # shared directory must leave /metrics answering, as the client's own collector does.
    if kind != "gauge" or not mode.startswith("live") or not (pid.isascii() and pid.isdigit()):
        return False
    return not _running(int(pid))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal sent: only whether the process exists
    except (ProcessLookupError, OverflowError):  # OverflowError: no process has that pid
        return False
    except PermissionError:
        pass  # another user's, running
    return True
