"""The voice bridge's fixtures (the fake Live API, Asha) for the live staff tests, the suite's
database to freeze (`database_pid`), and the support groups with the live call and callback
permissions (support/migrations 0003 and 0011, callbacks/migrations 0002)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.contrib.auth.models import Group

from realtime.tests.conftest import asha, fake_live, live
from support.tests.groups import staff_groups_by
from voiceproject.tests.test_page_db_timeout import database_pid

__all__ = ["asha", "database_pid", "fake_live", "groups", "live"]

_groups = importlib.import_module("support.migrations.0003_staff_groups")
_live_permissions = importlib.import_module("support.migrations.0011_live_call_permissions")
_callback_permissions = importlib.import_module("callbacks.migrations.0002_staff_permissions")
AGENT, LEAD = _groups.AGENT, _groups.LEAD


@pytest.fixture
def groups(db: Any) -> dict[str, Group]:
    """"Support agent" (may watch, listen, whisper) and "Support lead" (may also take over);
    both work callbacks."""
    groups = staff_groups_by(
        _groups.create_staff_groups,
        _live_permissions.grant_live_call_permissions,
        _callback_permissions.grant_callback_permissions,
    )
    return {name: groups[name] for name in (AGENT, LEAD)}
