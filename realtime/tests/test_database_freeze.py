"""The async MongoDB client recovers from a database that freezes and comes back.

A database of its own (a second embedded server, so the rest of the suite is untouched) is
frozen with SIGSTOP while tools and health checks are in flight, then resumed: each time,
tools and the health check work again within 5 s. Operations are bounded by the driver's own
timeout, never cancelled from outside (cancelling PyMongo during a freeze wedged its pool
for minutes: the hardening issue, item 4). bench/soak_db_freeze.py runs the long version
(35-second freezes, ten in a row, through a real server).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from support import mongo
from support.tools import ToolContext, registry, run_tool
from voiceproject.embedded_db import EmbeddedMongo
from voiceproject.health import check_database

FREEZE_S = 3.0
RECOVERY_BOUND_S = 5.0


@pytest.fixture
def own_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedMongo]:
    with EmbeddedMongo(tmp_path / "data") as server:
        monkeypatch.setitem(connection.settings_dict, "HOST", server.uri)
        monkeypatch.setitem(connection.settings_dict, "OPTIONS", {"serverSelectionTimeoutMS": 1000})
        monkeypatch.setattr(registry, "TOOL_TIMEOUT_S", 1.0)
        mongo.forget_clients()
        yield server
        mongo.forget_clients()


async def freeze(pid: int) -> None:
    """SIGSTOP the database and wait until the kernel shows it stopped: on a loaded machine
    the signal can land after the first requests were already answered."""
    os.kill(pid, signal.SIGSTOP)
    for _ in range(200):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T":
            return
        await asyncio.sleep(0.01)


async def until_it_works(deadline_s: float) -> float:
    """Seconds until a tool and the health check both answer normally again."""
    started = time.monotonic()
    ctx = ToolContext(user_id=101, call_id="freeze", channel="web")
    while time.monotonic() - started < deadline_s:
        profile = await run_tool("get_user_profile", {}, ctx)
        if profile["ok"] and await check_database() == "ok":
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"not working again {deadline_s}s after the database came back")


async def test_tools_and_health_work_again_within_seconds_after_each_freeze(
    own_database: EmbeddedMongo,
) -> None:
    await mongo.async_db().customers.insert_one(
        {"user_id": 101, "name": "Asha Verma", "phone": "+919800000101", "wallet_balance": 0}
    )
    pid = own_database.process.pid if own_database.process else 0
    ctx = ToolContext(user_id=101, call_id="freeze", channel="web")
    for _ in range(2):
        await freeze(pid)
        try:
            in_flight: list[Any] = await asyncio.gather(
                *(run_tool("get_user_profile", {}, ctx) for _ in range(5)),
                check_database(),
                asyncio.sleep(FREEZE_S),
            )
        finally:
            os.kill(pid, signal.SIGCONT)
        assert all(result["reason"] == "unavailable" for result in in_flight[:5])
        assert in_flight[5] == "unreachable"
        assert await until_it_works(RECOVERY_BOUND_S) < RECOVERY_BOUND_S
