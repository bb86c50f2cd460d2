"""Contract section 1: a Redis URL that redis-py could not use stops the process at start, with
one line naming the variable, rather than at the first login or staff page."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from voiceproject.settings import BASE_DIR


def manage_check(**environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR, env={**os.environ, "DEBUG": "True", **environment},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("CHANNEL_LAYERS_URL", "redis://redis.internal:63790x/0", "Port could not be cast"),
        ("CHANNEL_LAYERS_URL", "redis://", "it names no host"),
        ("CHANNEL_LAYERS_URL", "redis://redis.internal:6379/zero", "'zero' is not a number"),
        ("REDIS_URL", "redis://redis.internal:99999/1", "Port out of range"),
        ("REDIS_URL", "redis:///1", "it names no host"),
    ],
)
def test_a_redis_url_redis_cannot_use_stops_with_one_line_naming_the_variable(
    name: str, value: str, why: str
) -> None:
    checked = manage_check(**{name: value})

    assert checked.returncode == 1
    assert checked.stderr.startswith(f"error: {name}={value!r} is not valid: expected a Redis URL")
    assert why in checked.stderr and checked.stderr.count("\n") == 1


def test_a_password_in_a_bad_redis_url_is_not_repeated() -> None:
    checked = manage_check(CHANNEL_LAYERS_URL="rediss://:hunter2-secret@redis.internal:x/0")

    assert checked.returncode == 1
    assert "hunter2-secret" not in checked.stderr and ":***@redis.internal" in checked.stderr


@pytest.mark.parametrize(
    "value", ["redis://redis.internal:6379/0", "rediss://:pw@redis.internal:6380", "inmemory://"]
)
def test_a_usable_channel_layer_url_passes(value: str) -> None:
    checked = manage_check(CHANNEL_LAYERS_URL=value, MONGODB_URI="mongodb://db.invalid")

    assert "CHANNEL_LAYERS_URL" not in checked.stderr, checked.stderr
