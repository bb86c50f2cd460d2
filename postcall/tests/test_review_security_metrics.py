"""/metrics with several workers (PROMETHEUS_MULTIPROC_DIR) answers whatever file names the
shared directory holds: a live gauge's file whose pid no process can have, or whose "digits"
int() refuses, neither fails the scrape (postcall/metrics.py: _SharedFigures)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from postcall.metrics import _SharedFigures


def _calls_in_progress(path: Path, value: float) -> None:
    """A worker's live gauge file at `path`, with `value` web calls in progress."""
    figures = MmapedDict(str(path))
    key = mmap_key("voice_calls_in_progress", "voice_calls_in_progress", ["channel"], ["web"],
                   "help")  # fmt: skip
    figures.write_value(key, value, 0.0)
    figures.close()


def _scraped(directory: Path) -> float:
    families = _SharedFigures(str(directory)).collect()
    return sum(sample.value for family in families for sample in family.samples
               if sample.name == "voice_calls_in_progress")  # fmt: skip


@pytest.mark.parametrize("pid", ["99999999999999999999", "4294967296"])
def test_a_live_gauge_of_a_pid_no_process_can_have_is_dropped(tmp_path: Path, pid: str) -> None:
    _calls_in_progress(tmp_path / f"gauge_livesum_{pid}.db", 3.0)
    assert _scraped(tmp_path) == 0.0


def test_a_live_gauge_named_with_other_digits_is_merged_as_the_client_merges_it(
    tmp_path: Path,
) -> None:
    _calls_in_progress(tmp_path / "gauge_livesum_\u00b2.db", 2.0)  # "²": isdigit(), not int()
    assert _scraped(tmp_path) == 2.0
