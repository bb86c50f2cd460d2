"""The benchmarks an operator runs by hand (README: Benchmarks): each listed by `python -m
bench` says what it measures and which options it takes when asked `--help`, and runs nothing.
Run as an operator runs them: from a shell with none of the test suite's settings."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted(
    module.name
    for module in pkgutil.iter_modules([str(ROOT / "bench")])
    if module.name.startswith("bench_")
)
# What a benchmark's --help may take at most, on a busy machine: a benchmark that ignores the
# flag runs for minutes instead.
HELP_TIMEOUT_S = 60


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_benchmark_answers_help_with_its_options_and_runs_nothing(name: str) -> None:
    shell = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}

    answered = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--help"],
        cwd=ROOT, env=shell, capture_output=True, text=True, timeout=HELP_TIMEOUT_S,
    )  # fmt: skip

    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.startswith(f"usage: {name}.py"), answered.stdout
