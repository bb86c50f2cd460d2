"""Fixtures of the project-level tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def unset_environment(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """`unset_environment("PORT", "REDIS_URL")`: those variables unset for the test and put back
    as they were after it, whatever the test wrote in them meanwhile (a `.env` it reads).

    `monkeypatch.delenv(name, raising=False)` of a variable that is not set records nothing: a
    value written later would outlive the test and reach every server started after it.
    """

    def unset(*names: str) -> None:
        for name in names:
            monkeypatch.setenv(name, "")  # records the value to put back, or that there was none
            monkeypatch.delenv(name)

    return unset
