"""CI runs what a developer runs before committing: the lint, then the whole test suite."""

from __future__ import annotations

import subprocess

from voiceproject.tests.live_server import BASE_DIR

CI = BASE_DIR / ".ci" / "run"


def commands() -> list[str]:
    lines = (line.strip() for line in CI.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_ci_stops_at_the_first_failure() -> None:
    assert "set -euo pipefail" in commands()
    subprocess.run(["bash", "-n", str(CI)], check=True)  # it parses


def test_ci_runs_the_lint_then_the_tests() -> None:
    make = [command for command in commands() if command.startswith("make")]

    assert make == ["make lint", "make test"]
