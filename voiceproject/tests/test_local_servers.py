"""Starting a local server (the embedded database, Redis, daphne under test): it is ready once
it answers; one that exits or stays silent while starting says so (embedded_db.wait_until_ready).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from voiceproject.embedded_db import ProcessExited, stop_process, wait_until_ready


@pytest.fixture
def silent_server() -> Iterator[subprocess.Popen[bytes]]:
    """A process that runs but never answers."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    stop_process(process)


def test_a_server_is_ready_when_it_first_answers(silent_server: subprocess.Popen[bytes]) -> None:
    answers = iter([False, False, True])

    wait_until_ready(silent_server, lambda: next(answers), timeout=30, every=0.01)

    assert next(answers, "asked no more") == "asked no more"


def test_a_server_that_exits_while_starting_says_how() -> None:
    process = subprocess.Popen(["sh", "-c", "exit 3"])

    with pytest.raises(ProcessExited) as exited:
        wait_until_ready(process, lambda: False, timeout=30, every=0.01)

    assert exited.value.returncode == 3


def test_a_server_that_never_answers_is_given_up_on_and_left_to_its_caller_to_stop(
    silent_server: subprocess.Popen[bytes],
) -> None:
    with pytest.raises(TimeoutError):
        wait_until_ready(silent_server, lambda: False, timeout=0.1, every=0.01)

    assert silent_server.poll() is None
