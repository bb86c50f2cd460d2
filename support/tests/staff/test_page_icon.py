"""Every page names the product's icon: among a support agent's many tabs the back office and
the voice page are found at a glance, and browsers stop asking for a /favicon.ico that is not
there (a 404 in the server's log for every page opened)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

ICON = '<link rel="icon" href="/static/icons/support.svg" type="image/svg+xml">'


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/support/escalation/",
        "/staff/",
        "/staff/queue/",  # a page with head scripts of its own
        "/staff/calls/",
    ],
)
def test_every_staff_page_names_the_icon(lead: Client, path: str) -> None:
    response = lead.get(path)

    assert response.status_code == 200
    assert response.content.decode().count(ICON) == 1


def test_a_page_refused_for_want_of_a_permission_names_it_too(lead: Client) -> None:
    response = lead.get("/staff/callbacks/")  # this lead's group cannot see callbacks

    assert response.status_code == 403
    assert ICON in response.content.decode()


@pytest.mark.parametrize("path", ["/", "/admin/login/"])
def test_the_pages_before_signing_in_name_it_too(path: str) -> None:
    response = Client().get(path)

    assert response.status_code == 200
    assert ICON in response.content.decode()


def test_the_icon_is_an_svg_the_static_files_hold() -> None:
    path = finders.find("icons/support.svg")

    assert path is not None
    assert ET.parse(path).getroot().tag == "{http://www.w3.org/2000/svg}svg"
