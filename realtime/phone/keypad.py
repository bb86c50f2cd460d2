"""The keys a phone caller presses, told to the model an entry at a time.

An order number typed on the keypad reaches the model whole, in one message: key by key it
would be a turn each (the model answering every digit), and a quick typist would pass the
typed-message rate limit (CallSession.caller_text) and lose keys. An entry ends with a pause,
with `#`, or at MAX_KEYS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

PAUSE_S = 1.5  # a pause this long after a key ends the entry
MAX_KEYS = 32


class Keypad:
    """Feed it `press(key)`; `tell(keys)` is called with each finished entry. `close()` when
    the call is over (an unfinished entry is dropped)."""

    def __init__(self, tell: Callable[[str], None]) -> None:
        self._tell = tell
        self._keys = ""
        self._pause: asyncio.TimerHandle | None = None

    def press(self, key: str) -> None:
        self._keys += key
        self._stop_waiting()
        if key == "#" or len(self._keys) >= MAX_KEYS:
            self._done()
        else:
            self._pause = asyncio.get_running_loop().call_later(PAUSE_S, self._done)

    def close(self) -> None:
        self._stop_waiting()
        self._keys = ""

    def _stop_waiting(self) -> None:
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None

    def _done(self) -> None:
        self._pause = None
        keys, self._keys = self._keys, ""
        if keys:
            self._tell(keys)
