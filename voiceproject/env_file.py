"""`.env`: every variable of the configuration may be set there instead of in the environment
(contract section 1). Whatever reads a variable reads this first: the settings, and the
commands that start processes (`make run`, `python -m voiceproject.workers`), which read theirs
with `text` and `port` below, as the settings read theirs."""

from __future__ import annotations

import os
from pathlib import Path

import environ

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"

# The highest TCP port.
MAX_PORT = 65535


def read(path: Path = ENV_FILE) -> None:
    """Put the variables of `path` into `os.environ`, each unless the environment has it."""
    # Only when there is one: django-environ logs a plain-text line about a missing file,
    # before LOGGING (and LOG_FORMAT=json) applies.
    if path.is_file():
        environ.Env.read_env(path)


def text(name: str, default: str = "") -> str:
    """The variable `name` without the spaces around it, or `default` when it is unset or
    empty: set but empty (a `PORT=` line in .env, Compose's `${PORT:-}`) counts as unset, as
    in settings.py. An empty HOST given to HAProxy as it was bound every interface."""
    return os.environ.get(name, "").strip() or default


def port(name: str = "PORT", default: int = 8000) -> int:
    """The TCP port the variable `name` names, or `default` when it is unset or empty.
    Raises ValueError with one line naming the variable when it is no port."""
    value = text(name)
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_PORT:
        raise ValueError(
            f"{name}={value!r} is not valid: expected a port number from 1 to {MAX_PORT} "
            f"(default {default})."
        )
    return int(value)
