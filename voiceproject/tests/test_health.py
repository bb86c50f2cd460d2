from __future__ import annotations

import pytest
from django.test import AsyncClient

pytestmark = pytest.mark.django_db


async def test_healthz_is_ok_when_the_database_answers() -> None:
    response = await AsyncClient().get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["service"] == "voice-agent-server"
    assert body["checks"] == {"database": "ok"}


async def test_healthz_names_the_database_when_it_is_unreachable(
    unreachable_database: None,
) -> None:
    response = await AsyncClient().get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["failing"] == ["database"]
    assert body["checks"]["database"] == "unreachable"


async def test_healthz_answers_a_head_probe_as_it_answers_get(
    unreachable_database: None,
) -> None:
    """Balancers probe with HEAD as often as with GET (a 405 would take every worker out)."""
    down = await AsyncClient().head("/healthz")

    assert (down.status_code, down.content) == (503, b"")
    assert down["Content-Type"] == "application/json"


async def test_healthz_answers_head_with_200_when_the_database_answers() -> None:
    response = await AsyncClient().head("/healthz")

    assert (response.status_code, response.content) == (200, b"")
