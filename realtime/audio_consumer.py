"""The base of the audio consumers (`/ws/voice`, `/ws/twilio`): Channels, minus its per-frame
costs, plus a teardown that always runs.

Audio arrives 25-50 times a second per call, so two things Channels does for every message
are skipped, neither of which these consumers need:

* the ORM connection clean-up before each handler (voiceproject/consumers.py): these
  consumers never use the ORM;
* the channel-layer receive loop (`await_many_dispatch`, a new task and an `asyncio.wait`
  per message): frames are read from the socket directly. (Messages for a call from other
  processes reach its session through the session's own channel, not through here.)

Whatever ends the consumer (the caller leaving, a clean stop, or an exception in a handler,
which daphne answers with 1011) `teardown()` runs, so a call's upstream session and record
are always closed.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.exceptions import StopConsumer

from voiceproject.consumers import LeanWebsocketConsumer

log = logging.getLogger(__name__)


class AudioConsumer(LeanWebsocketConsumer):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        # Channels itself stores None when there is no layer; its stubs say a layer is always set.
        self.channel_layer = None  # type: ignore[assignment]
        self.base_send = send
        reason = "caller_left"
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        except Exception:
            log.exception("%s: a handler failed; ending the call", type(self).__name__)
            reason = "server_error"
            raise
        finally:
            await self.teardown(reason)

    async def teardown(self, reason: str) -> None:
        """Release what the connection holds (its call), ending it for `reason` unless it
        has ended already. Must be idempotent and not raise."""
