"""Stopping tasks (voiceproject/tasks.py): a task told to stop stops, even when what it waits
for, or a library it calls, would have swallowed the cancellation."""

from __future__ import annotations

import asyncio

import pytest

from voiceproject.tasks import raise_if_cancelled, stop


async def test_stopping_a_task_cancels_it_and_waits_until_it_has_stopped() -> None:
    stopped = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.05)  # cleaning up takes a moment
            stopped.set()

    task = asyncio.create_task(work())
    await asyncio.sleep(0)

    await stop(task)

    assert task.cancelled() and stopped.is_set()


async def test_a_task_cancelled_while_it_waits_for_another_to_stop_is_cancelled_too() -> None:
    """As at shutdown, when every task is cancelled: one closing a record waits for the
    record's writer to stop, and is cancelled meanwhile. `suppress(CancelledError)` around
    that wait would swallow its own cancellation, and it would carry on."""
    carried_on = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.2)

    async def closing() -> None:
        writer = asyncio.create_task(slow_to_stop())
        await asyncio.sleep(0)
        await stop(writer)
        carried_on.set()

    task = asyncio.create_task(closing())
    await asyncio.sleep(0.05)  # waiting for the writer
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert not carried_on.is_set()


async def test_a_retrying_loop_stops_though_a_library_swallowed_its_cancellation() -> None:
    """A driver that turns a cancellation into its own error: the loop that retries on that
    error would go on for good."""
    attempts = 0

    async def driver_call() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise ConnectionError("connection closed") from None

    async def retrying() -> None:
        nonlocal attempts
        while True:
            attempts += 1
            try:
                await driver_call()
            except ConnectionError:
                raise_if_cancelled()
            await asyncio.sleep(0.01)

    task = asyncio.create_task(retrying())
    await asyncio.sleep(0.05)
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert attempts == 1
