"""The voice bridge's fixtures (the fake Live API, Asha) for the continuity tests."""

from realtime.tests.browser.conftest import speech_wav
from realtime.tests.conftest import asha, fake_live, live

__all__ = ["asha", "fake_live", "live", "speech_wav"]
