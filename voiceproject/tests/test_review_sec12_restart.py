"""A rolling restart (SIGHUP to `python -m voiceproject.workers`) moves each worker's calls as
soon as its slot is swapped: the old worker is out of HAProxy's rotation by then, so it waits
no VOICE_DRAIN_NOTICE_S for health checks before telling its calls to move."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from voiceproject import workers
from voiceproject.draining import DRAIN_AT_ONCE_SIGNAL
from voiceproject.tests.live_server import WorkersCommand

HELD_CALLS_APP = "voiceproject.tests.held_calls_app:application"
# Long enough that a worker waiting it out could not pass for one that did not: a call told to
# move within half of it after its worker was swapped out was told without the notice.
NOTICE_S = 20.0


async def hold_call(fleet: WorkersCommand) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(f"ws://127.0.0.1:{fleet.port}/test/held-call")
    return ws, json.loads(await ws.recv())


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.05)


@pytest.mark.django_db(transaction=True)  # the workers read the test database
async def test_a_rolling_restart_moves_each_workers_calls_without_waiting_the_drain_notice(
    workers_command: Callable[..., WorkersCommand],
) -> None:
    fleet = await asyncio.to_thread(
        workers_command,
        application=HELD_CALLS_APP,
        env={"VOICE_DRAIN_NOTICE_S": str(NOTICE_S), "VOICE_DRAIN_S": "30"},
    )
    before = fleet.worker_pids()
    pages = [await hold_call(fleet) for _ in range(2)]
    assert {hello["pid"] for _, hello in pages} == set(before.values())  # one call on each
    swapped_out: dict[int, float] = {}  # old pid -> when its slot was given the new process
    moves: list[tuple[int, int, float]] = []  # (pid that told the page, where it landed, when)
    open_sockets = [ws for ws, _ in pages]

    async def watch_swaps() -> None:
        while True:
            current = set(fleet.worker_pids().values())
            for pid in set(before.values()) - current - set(swapped_out):
                swapped_out[pid] = time.monotonic()
            await asyncio.sleep(0.05)

    async def page(ws: ClientConnection, hello: dict[str, Any]) -> None:
        # Like the voice page: told to reconnect, it opens a new socket through the balancer.
        # A worker that cut the call instead would end this loop with ConnectionClosed.
        while json.loads(await ws.recv()) == {"type": "reconnect"}:
            told = time.monotonic()
            await ws.close()
            ws, landed = await hold_call(fleet)
            open_sockets.append(ws)
            moves.append((hello["pid"], landed["pid"], told))
            hello = landed

    watching = asyncio.create_task(watch_swaps())
    running = [asyncio.create_task(page(ws, hello)) for ws, hello in pages]
    fleet.send_signal(signal.SIGHUP)
    try:
        # Each old worker's calls moved; with the notice, the first would come 20 s after its swap.
        await until(lambda: {told for told, _, _ in moves} >= set(before.values()), 60, "moves")
        await until(lambda: "rolling restart done" in fleet.output(), 30, "the restart")
        assert not [task for task in running if task.done()]  # no call was cut, every one moved
    finally:
        watching.cancel()
        for task in running:
            task.cancel()

    for told_by, landed, at in moves:
        assert landed != told_by  # never back onto the draining worker
        if told_by in swapped_out:
            assert at - swapped_out[told_by] < NOTICE_S / 2
    assert not set(fleet.worker_pids().values()) & set(before.values())
    for ws in open_sockets:
        await ws.close()


@pytest.mark.parametrize("handles_it", [True, False])
def test_a_worker_is_sent_the_drain_at_once_signal_only_if_it_handles_it(handles_it: bool) -> None:
    # A worker of older code (a rollback) would die of SIGUSR2's default action, its calls cut:
    # the rolling restart sends it SIGTERM instead (workers.catches reads its signal mask).
    handler = "signal.signal(signal.SIGUSR2, lambda *_: None); " if handles_it else ""
    script = f"import signal, sys, time; {handler}print('up', flush=True); time.sleep(30)"
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert worker.stdout is not None and worker.stdout.readline() == b"up\n"
        assert workers.catches(worker.pid, DRAIN_AT_ONCE_SIGNAL) is handles_it
    finally:
        worker.kill()
        worker.wait()
