"""Every process, now and then, ends the calls nobody can end any more: those whose grace
period passed with no process carrying them, and those whose process died (continuity/calls.py).
A call ended here gets what any ended call gets: its after-call fields and summary
(postcall/finish.py), its warm escalation's ticket back in the queue as a plain one, and
the staff pages watching it told it ended. Then it finishes the calls whose finishing was cut
short, wherever they ended (postcall.finish.finish_leftovers).
The work is idempotent, so every process running it at once is fine."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from datetime import UTC, datetime

from pymongo.errors import PyMongoError

from continuity.calls import close_abandoned, end_expired
from livestaff.link import announce_call_ended
from postcall import logs
from postcall.finish import finish_call, finish_leftovers
from support.escalations import end_live_escalation
from voiceproject.tasks import raise_if_cancelled

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 15.0

_sweepers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def ensure_sweeping() -> None:
    """Start this process's sweeper (once per event loop)."""
    loop = asyncio.get_running_loop()
    task = _sweepers.get(loop)
    if task is None or task.done():
        _sweepers.clear()  # other loops' (tests) are over
        # The process's, not the call's that happened to start it (postcall/logs.py).
        _sweepers[loop] = loop.create_task(
            _sweep_forever(), name="call sweeper", context=contextvars.Context()
        )


async def sweep_once() -> int:
    now = datetime.now(UTC)
    ended = await end_expired(now) + [
        (call_id, "lost") for call_id in await close_abandoned(now)
    ]
    for call_id, reason in ended:
        with logs.about(call_id):
            try:
                await wrap_up(call_id, reason)
            except Exception:
                # Ended already, it is found by no later sweep: an error here must not cost
                # the others theirs (their tickets live, their staff pages not told, for good).
                # Its finishing is retried by finish_leftovers.
                log.exception("call %s: ended, its wrap-up failed", call_id)
    await finish_leftovers(now)
    return len(ended)


async def wrap_up(call_id: str, reason: str) -> None:
    """What a call ended with no process of its own (here, or by /twilio/voice) gets."""
    # Staff pages on the call, and the live calls page, learn it ended (no process of its own
    # is left to tell them).
    await announce_call_ended(call_id, reason)
    try:
        await end_live_escalation(call_id)
    except PyMongoError as error:
        log.warning("call %s ended, its ticket still live: %s", call_id, error)
    await finish_call(call_id)  # logs what it could not write


async def _sweep_forever() -> None:
    """At once (a process starting after a crash finds what it left), then every
    SWEEP_EVERY_S."""
    while True:
        try:
            ended = await sweep_once()
        except PyMongoError as error:
            log.warning("call sweeper: database unavailable: %s", error)
        except Exception:
            # Not the end of the sweeper: dead, the process would sweep no more until its
            # next call, and calls nobody carries would stay open meanwhile.
            log.exception("call sweeper: a sweep failed; sweeping again in %.0f s", SWEEP_EVERY_S)
        else:
            if ended:
                log.info("call sweeper: ended %d call(s) nobody carries any more", ended)
        # A cancellation swallowed on the way (by the driver, say) still stops the sweeper,
        # or the event loop would wait for it for good when it closes.
        raise_if_cancelled()
        await asyncio.sleep(SWEEP_EVERY_S)
