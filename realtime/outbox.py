"""What waits to be delivered to a call's caller, in order: the agent's voice and the call's
events (realtime/caller_events.py). Bounded, so a caller that cannot keep up loses the oldest
agent audio, and a page away for long the oldest events, never memory. No I/O: the call hands
what waits to whichever socket carries it (CallSession._deliver_outbound).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator

from realtime import caller_events as ce

OUTBOUND_AUDIO_LIMIT = 100  # agent audio chunks waiting for a slow caller (~2-4 s)
DETACHED_EVENT_LIMIT = 200  # events kept for a page that is away (its audio is dropped)


class Outbox:
    def __init__(self) -> None:
        self._items: deque[ce.Delivery] = deque()
        self.audio = 0  # how many of those are AgentAudio
        self.dropped_audio = 0  # agent audio chunks dropped for a caller that fell behind
        self.waiting = asyncio.Event()  # set when something was put in

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[ce.Delivery]:
        return iter(self._items)

    def put(self, item: ce.Delivery, *, away: bool = False) -> None:
        """Last in line. `away`: no socket carries the call, and only the latest events are
        kept for one that comes back."""
        if away and len(self._items) >= DETACHED_EVENT_LIMIT:
            self._count_out(self._items.popleft())
        if isinstance(item, ce.AgentAudio):
            if self.audio >= OUTBOUND_AUDIO_LIMIT:
                self._drop_oldest_audio()
            self.audio += 1
        self._items.append(item)
        self.waiting.set()

    def put_first(self, *items: ce.Delivery) -> None:
        """Ahead of everything waiting, in the order given (what a socket coming back must
        hear before anything kept for it meanwhile)."""
        self._items.extendleft(reversed(items))
        self.audio += sum(isinstance(item, ce.AgentAudio) for item in items)
        self.waiting.set()

    def take(self) -> ce.Delivery | None:
        """The next item to deliver, if any."""
        if not self._items:
            return None
        item = self._items.popleft()
        self._count_out(item)
        return item

    def drop_audio(self) -> None:
        """The agent's voice not yet delivered is dropped (a barge-in, a socket gone, a
        colleague taking over); the events stay."""
        kept = [item for item in self._items if not isinstance(item, ce.AgentAudio)]
        self._items.clear()
        self._items.extend(kept)
        self.audio = 0

    def _drop_oldest_audio(self) -> None:
        for index, item in enumerate(self._items):
            if isinstance(item, ce.AgentAudio):
                del self._items[index]
                self.audio -= 1
                self.dropped_audio += 1
                return

    def _count_out(self, item: ce.Delivery) -> None:
        if isinstance(item, ce.AgentAudio):
            self.audio -= 1
