"""A call's record is written every so often while the call goes on (realtime/call_record.py);
a write is never cut half-way by the call stopping, and one that fails once nobody waits for
it is said in the log as such, not by the event loop as an error nobody looked at."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from realtime.call_record import CallRecord
from voiceproject.tasks import stop


async def test_a_write_failing_after_the_call_stopped_writing_is_logged_not_left_unretrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    unretrieved: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))
    record = CallRecord(call_id="CALL-WRITES", user_id=7, channel="web")
    writing = asyncio.Event()

    async def slow_then_failing(extra: dict[str, Any] | None = None) -> None:
        writing.set()
        await asyncio.sleep(0.05)  # a database starved of CPU, say
        raise AutoReconnect("database away")

    record._flush = slow_then_failing  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.WARNING, logger="realtime.call_record"):
            record.start_writing()
            record.set(handle="h-1")
            await writing.wait()
            assert record._flusher is not None
            await stop(record._flusher)  # the call ends as its write is on its way
            await asyncio.sleep(0.1)  # the write fails meanwhile
            gc.collect()
            await asyncio.sleep(0)
        assert unretrieved == []
        assert "could not write its record: database away" in caplog.text
    finally:
        loop.set_exception_handler(None)
