"""Test-suite wiring: one throwaway SecantusDB per run, reached over the wire like MongoDB.

Set TEST_MONGODB_URI to run the suite against a real MongoDB (a replica set, for the
transactions the refund tool uses) instead.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from voiceproject.embedded_db import EmbeddedMongo

_embedded: EmbeddedMongo | None = None
_tmpdir: tempfile.TemporaryDirectory[str] | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _embedded, _tmpdir
    from django.conf import settings

    uri = os.environ.get("TEST_MONGODB_URI")
    if not uri:
        _tmpdir = tempfile.TemporaryDirectory(prefix="voice-support-test-db-")
        _embedded = EmbeddedMongo(Path(_tmpdir.name) / "data")
        uri = _embedded.start()
    # Nothing has connected yet: Django's connection reads this dict when it first connects.
    settings.DATABASES["default"]["HOST"] = uri
    settings.MONGODB_URI = uri


def pytest_unconfigure(config: pytest.Config) -> None:
    if _embedded is not None:
        _embedded.stop()
    if _tmpdir is not None:
        _tmpdir.cleanup()


@pytest.fixture(autouse=True)
async def _close_async_mongo_client() -> AsyncIterator[None]:
    # Each test has its own event loop; its AsyncMongoClient must close on that loop.
    yield
    from support import mongo

    await mongo.close_async_client()
