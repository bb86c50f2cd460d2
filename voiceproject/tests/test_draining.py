"""Draining: SIGTERM lets the calls a process carries move before it stops.

First the bookkeeping itself (voiceproject/draining.py), then a real daphne taking SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import signal
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
from django.test import AsyncClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from postcall import logs as log_context
from voiceproject import draining
from voiceproject.draining import ProcessCalls
from voiceproject.tests.live_server import DaphneServer

# --- The bookkeeping --------------------------------------------------------------------------


class Page:
    """What a call's drain callback talks to: records being told to reconnect."""

    def __init__(self, calls: ProcessCalls, call_id: str, *, leaves: bool = True) -> None:
        self.calls, self.call_id, self.leaves = calls, call_id, leaves
        self.told = asyncio.Event()
        self.told_at = 0.0  # the loop's clock

    async def reconnect_elsewhere(self) -> None:
        self.told_at = asyncio.get_running_loop().time()
        self.told.set()
        if self.leaves:
            await asyncio.sleep(0.05)  # the page re-attaches elsewhere; the call leaves here
            self.calls.unregister_call(self.call_id)


async def test_a_process_without_calls_drains_at_once() -> None:
    calls = ProcessCalls()

    outcome = await calls.drain(bound_s=10, notice_s=5)

    assert calls.draining
    # Well short of the 10 s bound it would otherwise wait out (no speed bound: a loaded CI).
    assert outcome.left == () and outcome.seconds < 5


async def test_calls_are_told_after_the_notice_and_the_drain_ends_when_the_last_leaves() -> None:
    calls = ProcessCalls()
    pages = [Page(calls, f"c-{n}") for n in range(3)]
    for page in pages:
        calls.register_call(page.call_id, on_drain=page.reconnect_elsewhere)

    started = asyncio.get_running_loop().time()
    outcome = await calls.drain(bound_s=10, notice_s=0.2)

    # Told once the notice was over, not before; done when the last call left, not at the bound.
    assert all(page.told.is_set() and page.told_at - started >= 0.2 for page in pages)
    assert outcome.left == () and 0.2 <= outcome.seconds < 10
    assert len(calls) == 0


async def test_the_drain_gives_up_after_its_bound_and_names_the_calls_left() -> None:
    calls = ProcessCalls()
    stuck = Page(calls, "c-stuck", leaves=False)
    calls.register_call("c-stuck", channel="phone", on_drain=stuck.reconnect_elsewhere)

    outcome = await calls.drain(bound_s=0.3, notice_s=0)

    assert stuck.told.is_set()
    # It gave up rather than waited on: the upper bound only has to tell "never", with room
    # for a loaded CI machine.
    assert outcome.left == ("c-stuck",) and 0.3 <= outcome.seconds < 3.0


async def test_a_failing_callback_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = ProcessCalls()
    page = Page(calls, "c-ok")
    calls.register_call("c-ok", on_drain=page.reconnect_elsewhere)

    @calls.on_drain
    async def broken() -> None:
        raise RuntimeError("publisher gone")

    with caplog.at_level(logging.ERROR, logger="voiceproject.draining"):
        outcome = await calls.drain(bound_s=2)

    assert outcome.left == () and page.told.is_set()
    assert "drain callback failed" in caplog.text and "publisher gone" in caplog.text


async def test_process_wide_callbacks_run_even_without_calls() -> None:
    calls = ProcessCalls()
    ran = asyncio.Event()

    @calls.on_drain
    async def stop_taking_phone_calls() -> None:
        ran.set()

    await calls.drain(bound_s=1)

    assert ran.is_set()


async def test_a_call_arriving_while_draining_is_told_at_once() -> None:
    calls = ProcessCalls()
    first = Page(calls, "c-1")
    calls.register_call("c-1", on_drain=first.reconnect_elsewhere)
    drain = asyncio.create_task(calls.drain(bound_s=5))
    await first.told.wait()

    late = Page(calls, "c-late")
    calls.register_call("c-late", on_drain=late.reconnect_elsewhere)
    await asyncio.wait_for(late.told.wait(), 1)

    assert (await drain).left == ()


async def test_a_call_arriving_after_the_others_left_is_waited_for_too() -> None:
    """A call that began here as the drain started (a page re-attaching, whose take-over was
    under way) arrives once the others left, while a callback still runs: the process waits
    for it to leave too, within the bound, rather than cut it."""
    calls = ProcessCalls()
    first = Page(calls, "c-1")
    calls.register_call("c-1", on_drain=first.reconnect_elsewhere)

    @calls.on_drain
    async def stop_taking_phone_calls() -> None:
        await asyncio.sleep(0.3)

    drain = asyncio.create_task(calls.drain(bound_s=5))
    await first.told.wait()
    while len(calls):
        await asyncio.sleep(0.01)
    late = Page(calls, "c-late", leaves=False)
    calls.register_call("c-late", on_drain=late.reconnect_elsewhere)
    await late.told.wait()
    asyncio.get_running_loop().call_later(0.5, calls.unregister_call, "c-late")  # it moves

    outcome = await drain
    assert outcome.left == () and outcome.seconds >= 0.5


async def test_each_calls_drain_runs_in_its_own_log_context_not_the_interrupted_one() -> None:
    calls, told = ProcessCalls(), []

    async def tell() -> None:
        told.append(log_context.call_id.get())

    for call_id in ("CALL-A", "CALL-B"):  # each registered by its call, in its context
        contextvars.Context().run(_register_in_context, calls, call_id, tell)
    log_context.call_id.set("CALL-RUNNING")  # the call a signal interrupted

    await contextvars.Context().run(asyncio.ensure_future, calls.drain(bound_s=0.2))

    assert sorted(str(call_id) for call_id in told) == ["CALL-A", "CALL-B"]


def _register_in_context(calls: ProcessCalls, call_id: str, on_drain: Any) -> None:
    log_context.call_id.set(call_id)
    calls.register_call(call_id, on_drain=on_drain)


def test_the_registry_lists_calls_oldest_first_and_forgets_twice_safely() -> None:
    calls = ProcessCalls()
    calls.register_call("c-a", channel="web")
    calls.register_call("c-b", channel="phone")

    calls.unregister_call("c-a")
    calls.unregister_call("c-a")

    assert [(c.call_id, c.channel) for c in calls.live_calls()] == [("c-b", "phone")]


@pytest.mark.django_db
async def test_healthz_says_draining_with_the_calls_left_and_logs_no_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = ProcessCalls()
    calls.register_call("c-1")
    monkeypatch.setattr(draining, "this_process", calls)
    await calls.drain(bound_s=0)

    with caplog.at_level(logging.INFO, logger="django.request"):
        response = await AsyncClient().get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "draining", "service": "voice-agent-server", "calls": 1}
    # A deploy is not an error: the balancer's checks every half second would page someone.
    assert [r for r in caplog.records if r.name == "django.request"] == []


# --- A real daphne taking SIGTERM -------------------------------------------------------------

HELD_CALLS_APP = "voiceproject.tests.held_calls_app:application"


@pytest.fixture
async def worker(db: Any) -> AsyncIterator[DaphneServer]:
    """A daphne serving the held-calls app, draining for at most 3 s after a 0.3 s notice."""
    server = DaphneServer(
        application=HELD_CALLS_APP, env={"VOICE_DRAIN_S": "3", "VOICE_DRAIN_NOTICE_S": "0.3"}
    )
    with server:
        await asyncio.to_thread(server.start)
        yield server


@pytest.fixture
async def patient_worker(db: Any) -> AsyncIterator[DaphneServer]:
    """As `worker`, draining for up to 30 s: a test that it stops at once rather than at its
    bound then needs no clock finer than "well within 30 s", whatever the machine's load."""
    server = DaphneServer(
        application=HELD_CALLS_APP, env={"VOICE_DRAIN_S": "30", "VOICE_DRAIN_NOTICE_S": "0.3"}
    )
    with server:
        await asyncio.to_thread(server.start)
        yield server


async def hold_call(server: DaphneServer) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{server.port}/test/held-call")
    assert "pid" in json.loads(await ws.recv())
    return ws


def health(server: DaphneServer) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def exit_code(server: DaphneServer, within: float) -> int:
    return await asyncio.to_thread(server.wait_exited, within)


@pytest.mark.django_db(transaction=True)
async def test_sigterm_without_calls_stops_at_once(worker: DaphneServer) -> None:
    worker.send_signal(signal.SIGTERM)

    assert await exit_code(worker, within=5) == 0


@pytest.mark.django_db(transaction=True)
async def test_sigterm_drains_healthz_says_so_and_the_process_exits_when_its_calls_leave(
    patient_worker: DaphneServer,
) -> None:
    worker = patient_worker
    ws = await hold_call(worker)

    worker.send_signal(signal.SIGTERM)
    told = json.loads(await asyncio.wait_for(ws.recv(), 3))

    assert told == {"type": "reconnect"}
    assert await asyncio.to_thread(health, worker) == (
        503, {"status": "draining", "service": "voice-agent-server", "calls": 1},
    )  # fmt: skip
    await ws.send("still flowing")
    assert await ws.recv() == "still flowing"  # a draining process still carries its calls
    await ws.close()
    assert await exit_code(worker, within=10) == 0  # at once, not at its 30 s bound


@pytest.mark.django_db(transaction=True)
async def test_sigterm_stops_after_the_drain_bound_when_a_call_stays(
    worker: DaphneServer,
) -> None:
    ws = await hold_call(worker)
    signalled = time.monotonic()

    worker.send_signal(signal.SIGTERM)

    assert await exit_code(worker, within=12) == 0
    assert time.monotonic() - signalled >= 3.0  # its bound; exit_code bounds the rest
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(3):
            while True:
                await ws.recv()
    assert "cutting 1 call(s): held-" in worker.output()


@pytest.mark.django_db(transaction=True)
async def test_a_second_sigterm_stops_at_once(patient_worker: DaphneServer) -> None:
    worker = patient_worker
    ws = await hold_call(worker)
    worker.send_signal(signal.SIGTERM)
    assert json.loads(await asyncio.wait_for(ws.recv(), 3)) == {"type": "reconnect"}

    worker.send_signal(signal.SIGTERM)

    assert await exit_code(worker, within=10) == 0  # not the 30 s drain bound
    assert "second SIGTERM while draining: stopping now" in worker.output()
