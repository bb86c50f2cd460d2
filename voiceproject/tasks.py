"""Stopping asyncio tasks without losing a cancellation of our own.

    await stop(self._flusher)    # cancel it and wait until it has stopped
    ...
    except PyMongoError:
        raise_if_cancelled()     # in a loop that retries: a swallowed cancel still stops it

`contextlib.suppress(asyncio.CancelledError)` around `await task` after `task.cancel()` is
the usual way to wait for a task to stop, and it has a trap: if the task running it is itself
cancelled meanwhile (at shutdown, every task is), the suppress swallows that cancellation too,
and the caller carries on as if nobody had asked it to stop. Likewise a library that swallows
a cancellation somewhere inside (a database driver turning it into its own error, say) leaves
a loop that retries on errors running for good, and the event loop waiting for it at shutdown.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has stopped. Its own cancellation is expected and
    swallowed; the cancellation of the task running this goes on. Any other exception the
    task ended with is raised."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        raise_if_cancelled()


def raise_if_cancelled() -> None:
    """Raise CancelledError if the running task has been asked to stop, whoever swallowed
    the CancelledError that asked it."""
    current = asyncio.current_task()
    if current is not None and current.cancelling():
        raise asyncio.CancelledError


# Tasks that outlive whoever started them (in_background), kept until done: the event loop
# holds only a weak reference to a task, which a garbage collection could otherwise end.
_background: set[asyncio.Task[Any]] = set()


def in_background(
    coro: Coroutine[Any, Any, Any], *, name: str, context: contextvars.Context | None = None
) -> asyncio.Task[Any]:
    """Run `coro` in a task of its own that outlives its caller (a write to make once the
    database is back, after the request or the call that asked for it is over). `context`:
    a fresh one for work that must not inherit its caller's (a request's database deadline)."""
    task = asyncio.create_task(coro, name=name, context=context)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task
