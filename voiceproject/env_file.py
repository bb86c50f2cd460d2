"""`.env`: every variable of the configuration may be set there instead of in the environment
(contract section 1). Whatever reads a variable reads this first: the settings, and the
commands that start processes (`make run`, `python -m voiceproject.workers`)."""

from __future__ import annotations

from pathlib import Path

import environ

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def read(path: Path = ENV_FILE) -> None:
    """Put the variables of `path` into `os.environ`, each unless the environment has it."""
    # Only when there is one: django-environ logs a plain-text line about a missing file,
    # before LOGGING (and LOG_FORMAT=json) applies.
    if path.is_file():
        environ.Env.read_env(path)
