"""The operators' queue waiting time: how long an escalated customer waited for a person,
observed when the ticket leaves the open queue (a colleague claims it, is assigned it, or
resolves it straight away), read back from /metrics."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from support.models import Escalation
from support.tests.staff.conftest import (  # noqa: F401  (fixtures)
    agent,
    client_for,
    make_ticket,
    meera,
    staff_groups,
)

pytestmark = pytest.mark.django_db

TOKEN = "scrape-me"


def queue_wait(client: Client) -> dict[str, float]:
    """`voice_escalation_wait_seconds` as /metrics shows it: count, sum and each bucket."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    figures: dict[str, float] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        if family.name == "voice_escalation_wait_seconds":
            for sample in family.samples:
                bucket = sample.labels.get("le")
                figures[f"{sample.name}{'@' + bucket if bucket else ''}"] = sample.value
    return figures


@pytest.fixture
def metrics_on(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN


def observed_wait(before: dict[str, float], after: dict[str, float]) -> float:
    """The one wait observed between two readings of the metric: how long, in seconds."""
    count, total = "voice_escalation_wait_seconds_count", "voice_escalation_wait_seconds_sum"
    assert after[count] == before.get(count, 0) + 1
    return after[total] - before.get(total, 0)


def test_claiming_a_ticket_observes_how_long_the_customer_waited(
    agent: Client, metrics_on: None  # noqa: F811
) -> None:
    make_ticket("TKT-WAIT01", minutes_ago=1.5)
    before = queue_wait(agent)

    assert agent.post("/staff/tickets/TKT-WAIT01/claim").status_code == 302

    after = queue_wait(agent)
    assert 90 <= observed_wait(before, after) < 100
    bucket = "voice_escalation_wait_seconds_bucket"
    assert after[f"{bucket}@60.0"] == before.get(f"{bucket}@60.0", 0)
    assert after[f"{bucket}@120.0"] == before.get(f"{bucket}@120.0", 0) + 1


def test_claiming_a_ticket_you_already_hold_is_not_a_second_wait(
    agent: Client, meera: User, metrics_on: None  # noqa: F811
) -> None:
    make_ticket("TKT-WAIT02", minutes_ago=3)
    agent.post("/staff/tickets/TKT-WAIT02/claim")
    before = queue_wait(agent)

    agent.post("/staff/tickets/TKT-WAIT02/claim")

    assert queue_wait(agent) == before


@pytest.mark.parametrize("taken", ["assign", "resolve"])
def test_an_open_ticket_assigned_or_resolved_at_once_observes_the_wait(
    taken: str, agent: Client, meera: User, metrics_on: None  # noqa: F811
) -> None:
    """Taken out of the open queue without a claim: the customer's wait is over all the same."""
    make_ticket("TKT-WAIT03", minutes_ago=1.5)
    before = queue_wait(agent)

    if taken == "assign":
        agent.post("/staff/tickets/TKT-WAIT03/assign", {"assignee": "meera"})
    else:
        agent.post("/staff/tickets/TKT-WAIT03/resolve", {"note": "Sorted on the phone."})

    after = queue_wait(agent)
    assert 90 <= observed_wait(before, after) < 100


def test_a_claimed_ticket_reassigned_then_resolved_is_not_a_second_wait(
    agent: Client, meera: User, metrics_on: None  # noqa: F811
) -> None:
    make_ticket("TKT-WAIT04", minutes_ago=3)
    agent.post("/staff/tickets/TKT-WAIT04/claim")
    before = queue_wait(agent)

    agent.post("/staff/tickets/TKT-WAIT04/assign", {"assignee": "meera"})
    agent.post("/staff/tickets/TKT-WAIT04/resolve")

    assert queue_wait(agent) == before


@pytest.fixture
def root(db: Any) -> Client:
    return client_for(User.objects.create_superuser("root", "root@example.com", "x"))


@pytest.mark.parametrize("action", ["claim_selected", "assign_selected", "resolve_selected"])
def test_a_ticket_taken_out_of_the_open_queue_in_the_admin_observes_the_wait(
    action: str, root: Client, meera: User, metrics_on: None  # noqa: F811
) -> None:
    """The admin's actions change a ticket's status through the same domain functions as the
    staff pages (support/escalations.py), which observe the wait."""
    ticket = make_ticket("TKT-WAIT05", minutes_ago=1.5)
    before = queue_wait(root)

    chosen = {"action": action, ACTION_CHECKBOX_NAME: [str(ticket.pk)]}
    if action == "assign_selected":
        chosen |= {"apply": "Assign", "assignee": "meera"}
    assert root.post("/admin/support/escalation/", chosen).status_code in (200, 302)

    assert Escalation.objects.get(ticket_id="TKT-WAIT05").status != "open"
    assert 90 <= observed_wait(before, queue_wait(root)) < 100


def test_the_admins_change_form_leaves_the_status_and_the_wait_be(
    root: Client, metrics_on: None
) -> None:
    """Its one editable field is the priority: a status sent with it (a crafted form) is not
    read, so the ticket stays open and no wait is observed."""
    ticket = make_ticket("TKT-WAIT06", minutes_ago=1.5)
    before = queue_wait(root)

    sent = {"priority": "urgent", "status": "claimed", "assignee": "root", "_save": "Save"}
    assert root.post(f"/admin/support/escalation/{ticket.pk}/change/", sent).status_code == 302

    saved = Escalation.objects.get(ticket_id="TKT-WAIT06")
    assert (saved.priority, saved.status, saved.assignee) == ("urgent", "open", None)
    assert queue_wait(root) == before
