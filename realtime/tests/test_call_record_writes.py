"""A call's record is written every so often while the call goes on (realtime/call_record.py);
a write is never cut half-way by the call stopping, one that fails once nobody waits for it is
said in the log as such, not by the event loop as an error nobody looked at, and one whose
answer never came (the database frozen with SIGSTOP, as realtime/tests/test_database_freeze.py
does) is applied once when sent again."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from typing import Any

import pymongo
import pytest
from pymongo.errors import AutoReconnect, PyMongoError

from realtime.call_record import CallRecord
from realtime.tests.test_database_freeze import freeze
from support import mongo
from voiceproject.tasks import stop
from voiceproject.tests.test_page_db_timeout import database_pid

__all__ = ["database_pid"]


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


@pytest.mark.django_db(transaction=True)
async def test_a_write_applied_after_its_answer_timed_out_is_not_applied_again(
    database_pid: int,
) -> None:
    """The frozen database keeps the write it was sent and applies it once it is back, after
    the driver gave up waiting for it: the lines, staff events and usage it carried are on
    the record once, not again with the next write."""
    record = CallRecord(call_id="CALL-ONCE", user_id=7, channel="web")
    await record.open()
    record.add_transcript("user", "Hello? Is anyone there?")
    record.add_event("staff_events", {"kind": "take_over", "staff": "arjun"})
    record.add_usage({"total_token_count": 120})

    await freeze(database_pid)
    try:
        with pytest.raises(PyMongoError), pymongo.timeout(0.5):
            await record.flush()
    finally:
        os.kill(database_pid, signal.SIGCONT)
    await record.close("ended_by_staff")
    written = await mongo.async_db().calls.find_one({"call_id": "CALL-ONCE"})

    assert written is not None
    assert [line["text"] for line in written["transcript"]] == ["Hello? Is anyone there?"]
    assert [event["kind"] for event in written["staff_events"]] == ["take_over"]
    assert written["usage"]["total_token_count"] == 120
    assert written["end_reason"] == "ended_by_staff"
