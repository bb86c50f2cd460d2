"""The admin as a new support lead reads it: the tickets list says how long a ticket has
waited, been open or took, in the queue's words, and the Team link opens a page called Team."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from django.contrib.auth.models import User
from django.test import Client

from support.models import Escalation
from support.tests.staff.conftest import (  # noqa: F401  (fixtures)
    arjun,
    lead,
    make_ticket,
    staff_groups,
    staff_test_settings,
)


def _cells(page: str, column: str) -> dict[str, str]:
    """Each row's `column` cell, by ticket id."""
    rows = re.findall(r'<tr>.*?</tr>', page, re.S)
    cells = {}
    for row in rows:
        ticket = re.search(r"TKT-\w+", row)
        cell = re.search(rf'<td class="field-{column}[^"]*">(.*?)</td>', row, re.S)
        if ticket and cell:
            cells[ticket[0]] = html.unescape(cell[1]).replace("\xa0", " ")
    return cells


def test_the_tickets_list_says_waiting_for_open_ones_and_took_for_resolved_ones(
    lead: Client,  # noqa: F811
) -> None:
    make_ticket("TKT-WAITNG", minutes_ago=3 * 60 + 5)
    resolved = make_ticket("TKT-DONE22", minutes_ago=2 * 24 * 60, status="resolved",
                           assignee="arjun")  # fmt: skip
    Escalation.objects.filter(pk=resolved.pk).update(
        resolved_at=resolved.created_at + timedelta(minutes=20))

    page = lead.get("/admin/support/escalation/").content.decode()

    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)
    assert "age" not in headers and "time" in headers
    assert _cells(page, "time") == {"TKT-WAITNG": "Waiting 3 hours, 5 minutes",
                                    "TKT-DONE22": "Took 20 minutes"}  # fmt: skip


def test_a_claimed_ticket_is_open_for_its_age_as_the_queue_says_not_waiting(
    lead: Client,  # noqa: F811
) -> None:
    """Someone works on a claimed ticket: the claimed queue heads its age "Open for", and the
    ticket's page says "open for"; "Waiting" is an open ticket's, which nobody holds."""
    make_ticket("TKT-CLAIMD", minutes_ago=50, status="claimed", assignee="arjun")

    page = lead.get("/admin/support/escalation/").content.decode()
    queue = lead.get("/staff/queue/claimed/").content.decode()

    assert _cells(page, "time") == {"TKT-CLAIMD": "Open for 50 minutes"}
    assert ">Open for</th>" in queue


def test_the_team_link_opens_a_page_called_team(lead: Client) -> None:  # noqa: F811
    dashboard = lead.get("/staff/").content.decode()
    [link] = re.findall(r'<a href="([^"]+)">Team</a>', dashboard)

    page = lead.get(link).content.decode()

    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title and title[1].strip().startswith("Team |")
    assert "<h1>Team</h1>" in page
    assert "Select user" not in page
    assert "Add team member" in page


def test_a_team_member_s_pages_sit_under_team_not_users(
    arjun: User,  # noqa: F811
    lead: Client,  # noqa: F811
) -> None:
    add = lead.get("/admin/auth/user/add/").content.decode()
    change = lead.get(f"/admin/auth/user/{arjun.pk}/change/")

    for page in (add, change.content.decode()):
        trail = re.search(r'<div class="breadcrumbs">(.*?)</div>', page, re.S)
        assert trail and '">Team</a>' in trail[1] and "Users" not in trail[1]
    assert "&rsaquo; Add team member" in add and "Add user" not in add
    assert "After you’ve created a user" not in add


def test_the_admin_index_names_the_team_as_the_link_does(lead: Client) -> None:  # noqa: F811
    page = lead.get("/admin/").content.decode()

    assert re.search(r'<a href="/admin/auth/user/"[^>]*>Team</a>', page)
    assert not re.search(r'<a href="/admin/auth/user/"[^>]*>Users</a>', page)
