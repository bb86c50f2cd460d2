"""The header every back-office page shares, in real Chromium at a phone's width, with
screenshots in test-artifacts/back-office/: its "Log out" reads as a link like its neighbours,
not as a disabled one.

    Chromium ──▶ daphne subprocess (the test database)
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from support.tests.staff.conftest import LEAD, PASSWORD, staff_groups  # noqa: F401  (fixtures)
from support.tests.test_back_office_browser import (  # noqa: F401  (fixtures)
    BackOffice,
    back_office,
    browser,
    server,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),
]

# The weight and colour of each link in the header's row, and of its log-out button.
HEADER_LOOKS = """() => {
  const look = (el) => {
    const style = getComputedStyle(el);
    return {text: el.textContent.trim(), weight: style.fontWeight, color: style.color};
  };
  return {
    links: [...document.querySelectorAll("#user-tools a")].map(look),
    logOut: look(document.querySelector("#logout-form button")),
  };
}"""


@pytest.fixture
def arjun(staff_groups: dict[str, Group]) -> User:  # noqa: F811  (fixture by name)
    user = User.objects.create_user("arjun", "arjun@example.com", PASSWORD, is_staff=True,
                                    first_name="Arjun", last_name="Mehta")  # fmt: skip
    user.groups.add(staff_groups[LEAD])
    return user


async def test_log_out_looks_like_the_links_beside_it_at_every_width(
    arjun: User, back_office: BackOffice,  # noqa: F811
) -> None:
    """The admin's narrow layout (up to 1024 px) sets its header links' weight to 400 and
    leaves the log-out button at 300: on a phone "LOG OUT" came out pale and thin, as a
    disabled control does, beside "CHANGE PASSWORD"."""
    await back_office.sign_in("arjun")
    for path, name in (("/staff/", "header-dashboard"), ("/admin/", "header-admin")):
        pages = await back_office.visit(path, name)
        for width, page in pages.items():
            looks = await page.evaluate(HEADER_LOOKS)
            log_out, links = looks["logOut"], looks["links"]
            assert log_out["text"].lower() == "log out"
            assert links, f"{path} at {width}: no header links"
            for link in links:
                assert (log_out["weight"], log_out["color"]) == (link["weight"], link["color"]), (
                    f"{path} at {width}: {log_out} beside {link}")
    assert back_office.problems == []
