"""Minting from a staff session is a change made in a lead's name: it needs the page's CSRF
token as any other staff POST does; and the answer, a bearer credential, is never cached."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client, override_settings

from realtime.models import VoiceTokenMint
from realtime.tests.test_voice_sessions import HOST_KEY, asha, fresh_counts  # noqa: F401  (fixtures)
from support.models import Customer

pytestmark = pytest.mark.django_db

def leads_browser() -> Client:
    """Arjun, a support lead (who may mint), in a browser that checks CSRF as a real one."""
    arjun = User.objects.create_user("arjun", password="pw", is_staff=True)
    arjun.groups.add(Group.objects.get(name="Support lead"))
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(arjun)
    return browser


@override_settings(VOICE_DEMO_MODE=False)
def test_another_page_of_the_site_cannot_mint_in_a_leads_name(asha: Customer) -> None:  # noqa: F811
    # What a form on a sibling subdomain sends with the lead's cookie: no CSRF token.
    response = leads_browser().post("/api/voice/sessions", data='{"user_id": 7}',
                                    content_type="text/plain")  # fmt: skip

    assert response.status_code == 403
    assert "token" not in response.json()
    assert not VoiceTokenMint.objects.exists()


@override_settings(VOICE_DEMO_MODE=False)
def test_a_lead_mints_from_a_page_of_the_site_with_its_csrf_token(asha: Customer) -> None:  # noqa: F811
    browser = leads_browser()
    browser.get("/admin/")  # any page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value

    response = browser.post("/api/voice/sessions", data=json.dumps({"user_id": 7}),
                            content_type="application/json", headers={"X-CSRFToken": token})

    assert response.status_code == 200
    assert VoiceTokenMint.objects.get().staff_username == "arjun"


@override_settings(VOICE_API_KEY=HOST_KEY, VOICE_DEMO_MODE=False)
def test_a_host_application_needs_no_csrf_token(asha: Customer) -> None:  # noqa: F811
    response = Client(enforce_csrf_checks=True).post(
        "/api/voice/sessions", data=json.dumps({"user_id": 7}), content_type="application/json",
        headers={"Authorization": f"Bearer {HOST_KEY}"},
    )  # fmt: skip

    assert response.status_code == 200


@override_settings(VOICE_API_KEY=HOST_KEY, VOICE_DEMO_MODE=False)
def test_a_minted_token_is_never_kept_by_a_cache(asha: Customer) -> None:  # noqa: F811
    response = Client().post(
        "/api/voice/sessions", data=json.dumps({"user_id": 7}), content_type="application/json",
        headers={"Authorization": f"Bearer {HOST_KEY}"},
    )  # fmt: skip

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
