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
