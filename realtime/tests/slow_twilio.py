"""A slow Twilio, for tests of a phone call's transfer while its request is in flight."""

from __future__ import annotations

import threading

from realtime.phone import twilio_rest


class SlowTwilio:
    """Twilio REST, faked at its one choke point (twilio_rest.update_call): a transfer request
    stays in flight until the test has Twilio answer it, yes or no."""

    def __init__(self) -> None:
        self.asked, self._answered = threading.Event(), threading.Event()
        self._refuse = False

    def update_call(self, call_sid: str, twiml: str) -> None:
        self.asked.set()
        self._answered.wait(10)
        if self._refuse:
            raise twilio_rest.TwilioRestError(f"could not transfer call {call_sid}: refused")

    def answer(self, *, refuse: bool = False) -> None:
        self._refuse = refuse
        self._answered.set()
