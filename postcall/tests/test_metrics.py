"""The operators' metrics with several workers sharing PROMETHEUS_MULTIPROC_DIR (the client's
multiprocess mode): what any worker's /metrics says of calls in progress when a worker was
killed, rather than left, mid-call. Each case is a fresh process, as the mode is chosen when
postcall.metrics is first imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

# What a worker killed mid-call (SIGKILL, the OOM killer: nothing of its own ran on the way
# out) leaves in the shared directory: 3 web calls in progress, and 5 it had counted started.
KILLED_WORKER_LEFT = """
import os
from prometheus_client.mmap_dict import MmapedDict, mmap_key

def left_behind(kind, metric, sample, value):
    path = os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], f"{kind}_{KILLED}.db")
    figures = MmapedDict(path)
    figures.write_value(mmap_key(metric, sample, ("channel",), ("web",), "help"), value, 0.0)
    figures.close()

left_behind("gauge_livesum", "voice_calls_in_progress", "voice_calls_in_progress", 3.0)
left_behind("counter", "voice_calls_started", "voice_calls_started_total", 5.0)
"""

# Then a worker carrying one call of its own answers a scrape.
ONE_CALL_HERE = """
from postcall import metrics
from prometheus_client.parser import text_string_to_metric_families
metrics.CALLS_IN_PROGRESS.labels("web").inc()
metrics.CALLS_STARTED.labels("web").inc()
for family in text_string_to_metric_families(metrics.render()[0].decode()):
    for sample in family.samples:
        if sample.name in ("voice_calls_in_progress", "voice_calls_started_total"):
            print(sample.name, sample.value)
"""


def scraped_after(killed_pid: str, shared: Path) -> dict[str, float]:
    """The figures a worker with one call of its own serves, after a worker with pid
    `killed_pid` (an expression: "os.getpid()" for its own) was killed mid-call."""
    code = f"import os\nKILLED = {killed_pid}\n{KILLED_WORKER_LEFT}\n{ONE_CALL_HERE}"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared),
             "DJANGO_SETTINGS_MODULE": "voiceproject.tests.settings"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {name: float(value) for name, value in map(str.split, done.stdout.splitlines())}


def a_pid_no_process_has() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_a_worker_killed_mid_call_no_longer_counts_its_calls_in_progress(
    tmp_path: Path,
) -> None:
    """Under a supervisor other than the workers command (systemd, a process manager), nothing
    marks a killed worker dead: its calls stayed in progress until the directory was cleared.
    Its totals stay: a counter must never go down."""
    figures = scraped_after(str(a_pid_no_process_has()), tmp_path)

    assert figures == {"voice_calls_in_progress": 1.0, "voice_calls_started_total": 6.0}


def test_a_worker_given_the_pid_of_one_killed_mid_call_counts_only_its_own_calls(
    tmp_path: Path,
) -> None:
    """Pids come round again (a restarted container's are the same each time): the new worker
    took the killed one's calls in progress up as its own, for as long as it ran."""
    figures = scraped_after("os.getpid()", tmp_path)

    assert figures["voice_calls_in_progress"] == 1.0
