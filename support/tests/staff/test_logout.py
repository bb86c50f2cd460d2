"""Logging out of the back office ends the session on the server: a copied cookie opens nothing."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from support import mongo
from support.tests.staff.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def signed_in(username: str) -> Client:
    client = Client()
    response = client.post(
        "/admin/login/?next=/staff/", {"username": username, "password": PASSWORD}
    )
    assert response.status_code == 302
    return client


def test_a_copied_cookie_stops_working_once_its_owner_logs_out(meera: User) -> None:
    meera_client = signed_in("meera")
    copy = Client()
    copy.cookies[settings.SESSION_COOKIE_NAME] = meera_client.cookies[
        settings.SESSION_COOKIE_NAME
    ].value
    assert copy.get("/staff/queue/").status_code == 200

    assert meera_client.post("/admin/logout/").status_code == 200

    response = copy.get("/staff/queue/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_logging_out_leaves_other_sessions_signed_in(meera: User) -> None:
    laptop, phone = signed_in("meera"), signed_in("meera")

    laptop.post("/admin/logout/")

    assert phone.get("/staff/queue/").status_code == 200


def test_expired_sessions_are_removed_by_the_database() -> None:
    indexes = mongo.sync_db()["django_session"].index_information()

    ttl = [
        (index["key"], index["expireAfterSeconds"])
        for index in indexes.values()
        if "expireAfterSeconds" in index
    ]
    assert ttl == [([("expire_date", 1)], 0)]
