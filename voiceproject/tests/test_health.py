from __future__ import annotations

import pytest
from django.db import connection
from django.test import AsyncClient

from support import mongo

pytestmark = pytest.mark.django_db


async def test_healthz_is_ok_when_the_database_answers() -> None:
    response = await AsyncClient().get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["service"] == "voice-agent-server"
    assert body["checks"] == {"database": "ok"}


async def test_healthz_names_the_database_when_it_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Port 1 on loopback refuses connections: a real driver, really failing to connect.
    monkeypatch.setitem(
        connection.settings_dict,
        "HOST",
        "mongodb://127.0.0.1:1/?directConnection=true&serverSelectionTimeoutMS=300",
    )
    mongo.forget_clients()

    response = await AsyncClient().get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["failing"] == ["database"]
    assert body["checks"]["database"] == "unreachable"
    mongo.forget_clients()
