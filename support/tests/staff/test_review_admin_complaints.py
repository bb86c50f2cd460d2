"""A complaint edited in the admin while a colleague works it with the list's actions: the
edit changes what its page changed, never what the colleague did meanwhile."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client

from support import complaints
from support.models import Complaint
from support.tests.staff.conftest import client_for, make_complaint

pytestmark = pytest.mark.django_db


def open_page(client: Client, complaint: Complaint) -> tuple[str, dict[str, Any]]:
    """The complaint's page and what its form would send back as it is shown."""
    url = f"/admin/support/complaint/{complaint.pk}/change/"
    form = client.get(url).context["adminform"].form
    return url, {name: form[name].value() for name in form.fields}


def status(complaint_id: str) -> str:
    return Complaint.objects.get(complaint_id=complaint_id).status


def test_a_category_fixed_keeps_a_resolution_made_meanwhile(agent: Client) -> None:
    url, page = open_page(agent, make_complaint("CMP-AAAAAA"))
    complaints.resolve_complaints(["CMP-AAAAAA"])  # a colleague, from the list

    response = agent.post(url, {**page, "category": "late_delivery"})

    assert response.status_code == 302
    saved = Complaint.objects.get(complaint_id="CMP-AAAAAA")
    assert (saved.category, saved.status) == ("late_delivery", "resolved")
    assert LogEntry.objects.get().get_change_message() == "Changed Category."


def test_a_status_changed_over_a_colleagues_change_is_refused_and_said(agent: Client) -> None:
    url, page = open_page(agent, make_complaint("CMP-AAAAAA"))
    complaints.resolve_complaints(["CMP-AAAAAA"])

    response = agent.post(url, {**page, "status": "in_review"}, follow=True)

    assert status("CMP-AAAAAA") == "resolved"
    said = [str(message) for message in response.context["messages"]]
    assert said == ["Someone changed the status of CMP-AAAAAA meanwhile (it is resolved now), "
                    "so nothing was saved: here it is as it is now."]
    assert not LogEntry.objects.exists()


def test_a_status_changed_on_the_page_is_saved(agent: Client) -> None:
    url, page = open_page(agent, make_complaint("CMP-AAAAAA", status="resolved"))

    response = agent.post(url, {**page, "status": "open"})  # reopened: the customer rang again

    assert response.status_code == 302
    assert status("CMP-AAAAAA") == "open"
    assert LogEntry.objects.get().get_change_message() == "Changed Status."


def test_a_reader_who_may_not_change_complaints_opens_one(db: Any) -> None:
    reader = User.objects.create_user("reader", is_staff=True)
    reader.user_permissions.set(Permission.objects.filter(codename="view_complaint"))
    complaint = make_complaint("CMP-AAAAAA")

    response = client_for(reader).get(f"/admin/support/complaint/{complaint.pk}/change/")

    assert response.status_code == 200
    assert 'name="status"' not in response.content.decode()
