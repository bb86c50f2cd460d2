"""The voice bridge's fixtures (the fake Live API, Asha) for the live staff tests."""

from realtime.tests.conftest import asha, fake_live, live

__all__ = ["asha", "fake_live", "live"]
