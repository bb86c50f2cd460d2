"""What a call achieved, in real Chromium, with screenshots in test-artifacts/back-office/: the
admin's call list with its outcome column and filter (every column in view on a laptop with
the menu open), the admin's call page with the summary and cost, and the staff call and ticket
pages saying, quietly, that the model's summary was corrected to agree with the outcome.

    Chromium ──▶ daphne subprocess (the test database)
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from django.contrib.auth.models import Group, User
from playwright.async_api import expect

from support import mongo
from support.models import Call, Customer, Escalation
from support.tests.staff.aftercall_data import CALL_ID, add_after_call_fields
from support.tests.staff.conftest import (  # noqa: F401  (fixtures)
    LEAD,
    PASSWORD,
    priya,
    priya_ticket,
    staff_groups,
)
from support.tests.staff.test_review_outcome_summary import CORRECTED
from support.tests.test_back_office_browser import (  # noqa: F401  (fixtures)
    ARTIFACTS,
    BackOffice,
    _hidden_past_the_list,
    back_office,
    browser,
    server,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),
]

CORRECTED_SAYS = ("The summary model called this resolved with nothing left to do; the call "
                  "left a ticket open for a colleague")  # fmt: skip


@pytest.fixture
def arjun(staff_groups: dict[str, Group]) -> User:  # noqa: F811  (fixture by name)
    user = User.objects.create_user("arjun", "arjun@example.com", PASSWORD, is_staff=True,
                                    first_name="Arjun", last_name="Mehta")  # fmt: skip
    user.groups.add(staff_groups[LEAD])
    return user


def _a_day_of_calls(priya: Customer) -> str:  # noqa: F811  (the fixture's customer)
    """Priya's escalated call, its summary corrected, and calls that went otherwise; returns
    her call's admin page."""
    add_after_call_fields(summary=CORRECTED)
    now = dt.datetime.now(dt.UTC)
    for n, (outcome, reason) in enumerate([("resolved_refund", "caller_hung_up"),
                                           ("abandoned", "idle"),
                                           ("abandoned", "moved_before_ready"),
                                           ("callback_scheduled", "caller_hung_up"),
                                           (None, "caller_hung_up")]):  # fmt: skip
        mongo.sync_db().calls.insert_one({
            "call_id": f"call-day-{n}", "user_id": 301, "channel": "web",
            "started_at": now - dt.timedelta(minutes=5 + n), "ended_at": now,
            "end_reason": reason, "transcript": [], "tool_calls": [],
            **({"outcome": outcome} if outcome else {}),
        })  # fmt: skip
    return f"/admin/support/call/{Call.objects.get(call_id=CALL_ID).pk}/change/"


async def test_the_admin_and_the_call_pages_say_what_a_call_achieved(
    arjun: User, priya: Customer, priya_ticket: Escalation,  # noqa: F811
    back_office: BackOffice,  # noqa: F811
) -> None:
    call_page = await asyncio.to_thread(_a_day_of_calls, priya)
    await back_office.sign_in("arjun")

    pages = await back_office.visit("/admin/support/call/", "outcome-admin-call-list")
    for page in pages.values():
        await expect(page.locator("td.field-outcome_").first).to_be_visible()
        await expect(page.locator("#result_list")).to_contain_text("Resolved with a refund")
    desktop = pages["desktop"]
    await expect(desktop.locator("#nav-sidebar")).to_be_visible()
    assert await _hidden_past_the_list(desktop) == 0

    pages = await back_office.visit("/admin/support/call/?outcome=abandoned",
                                    "outcome-admin-call-list-abandoned")  # fmt: skip
    for page in pages.values():
        await expect(page.locator("#result_list tbody tr")).to_have_count(1)
        await expect(page.locator("#result_list")).to_contain_text("call-day-1")

    pages = await back_office.visit(call_page, "outcome-admin-call-page")
    for page in pages.values():
        await expect(page.locator(".field-outcome_")).to_contain_text("Escalated to a person")
        await expect(page.locator(".field-summary")).to_contain_text(CORRECTED_SAYS)
        await expect(page.locator(".field-cost")).to_contain_text("₹2.45")

    for path, name in ((f"/staff/calls/{CALL_ID}/", "outcome-corrected-call"),
                       ("/staff/tickets/TKT-AAAAAA/", "outcome-corrected-ticket")):  # fmt: skip
        pages = await back_office.visit(path, name)
        for page in pages.values():
            await expect(page.locator(".summary-corrected")).to_contain_text(CORRECTED_SAYS)
            await expect(page.locator(".summary .resolved.no")).to_be_visible()
    # On a phone the ids in the sentences of "Agent did" and "Left to do" keep to one line
    # ("ticket TKT-" over "AAAAAA" otherwise).
    phone = pages["phone"]
    ids = phone.locator(".actions-taken .id, .summary .follow-up .id")
    await expect(ids).to_have_text(["TKT-AAAAAA", "TKT-9"])
    assert await ids.evaluate_all(
        "(all) => all.filter((e) => e.getClientRects().length > 1).map((e) => e.textContent)"
    ) == []
    assert back_office.problems == []
