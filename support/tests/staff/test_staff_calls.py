"""Call history under /staff/calls/: the list with its filters, and one call in full."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from support.models import Call, Customer
from support.mongo import sync_db
from support.tests.staff.conftest import as_id, make_ticket

pytestmark = pytest.mark.django_db


def make_call(call_id: str, *, days_ago: float = 0, customer: Customer | None = None,
              channel: str = "web", end_reason: str = "customer_hung_up") -> Call:
    started = datetime.now(UTC) - timedelta(days=days_ago)
    return Call.objects.create(
        call_id=call_id, customer=customer, channel=channel, started_at=started,
        ended_at=started + timedelta(minutes=2), end_reason=end_reason,
    )  # fmt: skip


@pytest.fixture
def calls(priya: Customer) -> None:
    make_call("call-web-today", customer=priya)
    make_call("call-phone-old", days_ago=10, channel="phone", end_reason="error")
    make_call("call-web-3days", days_ago=3, end_reason="escalated")


def listed(client: Client, **filters: str) -> list[str]:
    response = client.get("/staff/calls/", filters)
    assert response.status_code == 200
    return [call.call_id for call in response.context["page"].rows]


def test_calls_newest_first(agent: Client, calls: None) -> None:
    assert listed(agent) == ["call-web-today", "call-priya-1", "call-web-3days", "call-phone-old"]


def test_a_list_of_one_page_shows_no_pager(agent: Client, calls: None) -> None:
    body = agent.get("/staff/calls/").content.decode()

    assert 'class="pager"' not in body and "Page 1" not in body


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"channel": "phone"}, ["call-priya-1", "call-phone-old"]),
        ({"end_reason": "escalated"}, ["call-priya-1", "call-web-3days"]),
        ({"customer": "301"}, ["call-web-today", "call-priya-1"]),
        ({"customer": "+919800000301"}, ["call-web-today", "call-priya-1"]),
        ({"since": (datetime.now(UTC) - timedelta(days=5)).date().isoformat(),
          "until": (datetime.now(UTC) - timedelta(days=2)).date().isoformat()},
         ["call-web-3days"]),
    ],
)  # fmt: skip
def test_calls_filter(filters: dict[str, str], expected: list[str], lead: Client,
                      calls: None) -> None:  # fmt: skip
    assert listed(lead, **filters) == expected


@pytest.mark.parametrize(
    "filters, field, error",
    [
        ({"since": "yesterday-ish"}, "since", "Enter a valid date."),
        ({"channel": "fax"}, "channel",
         "Select a valid choice. fax is not one of the available choices."),
        ({"outcome": "escalated-ish"}, "outcome",
         "Select a valid choice. escalated-ish is not one of the available choices."),
        ({"customer": "Nobody Atall"}, "customer", "No customer matches “Nobody Atall”."),
        ({"since": "2026-11-20", "until": "2026-11-01"}, "until",
         "The end is before the start."),
    ],
)  # fmt: skip
def test_a_bad_filter_is_shown_next_to_its_field_and_lists_nothing(
    filters: dict[str, str], field: str, error: str, agent: Client, calls: None
) -> None:
    response = agent.get("/staff/calls/", {"channel": "phone", **filters})

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [error]
    assert response.context["page"] is None  # never the unfiltered list instead
    body = response.content.decode()
    assert "No calls are listed: change the filter marked above." in body
    assert "call-priya-1" not in body


@pytest.mark.parametrize("filters", [{}, {"customer": "Nobody Atall"}])
def test_the_customer_filter_says_what_it_takes_beside_the_field(
    filters: dict[str, str], agent: Client, calls: None
) -> None:
    body = agent.get("/staff/calls/", filters).content.decode()

    field = re.search(r'<input type="text" name="customer"[^>]*>', body)
    assert field is not None
    described_by = re.search(r'aria-describedby="([^"]*)"', field[0])
    assert described_by is not None
    for element in described_by[1].split():  # each is on the page
        assert f'id="{element}"' in body, element
    hint = re.search(r'<span class="helptext" id="([^"]*)">([^<]*)</', body)
    assert hint is not None and hint[1] in described_by[1].split()
    assert hint[2] == "name, phone, email or user id (e.g. #301)"


@pytest.mark.parametrize(
    "term", ["Priya", "priya nair", "+91 98000 00301", "9800000301", "09800000301",
             "priya@example.com", "301"],
)  # fmt: skip
def test_the_customer_filter_takes_a_name_phone_email_or_id(
    term: str, agent: Client, calls: None
) -> None:
    assert listed(agent, customer=term) == ["call-web-today", "call-priya-1"]


def test_a_customer_filter_matching_too_many_customers_says_so_rather_than_list_some(
    agent: Client,
) -> None:
    for n in range(51):
        kumar = Customer.objects.create(user_id=900 + n, name=f"Ravi Kumar {n}",
                                        phone=f"+9198000{900 + n:05d}")  # fmt: skip
        make_call(f"call-kumar-{n}", customer=kumar)

    response = agent.get("/staff/calls/", {"customer": "kumar"})

    assert response.context["page"] is None
    assert "More than 50 customers match “kumar”" in response.content.decode()
    assert len(listed(agent, customer="ravi kumar 7")) == 1


def test_outcome_filter_uses_the_recorded_outcome_and_shows_labels(
    agent: Client, calls: None
) -> None:
    Call.objects.filter(call_id="call-web-today").update(end_reason="caller_hung_up")
    from support.mongo import sync_db

    sync_db().calls.update_one({"call_id": "call-web-today"},
                               {"$set": {"outcome": "resolved_info"}})

    assert listed(agent, outcome="resolved_info") == ["call-web-today"]
    body = agent.get("/staff/calls/").content.decode()
    assert '<option value="resolved_info">Information given</option>' in body
    assert "Information given" in body and "Caller hung up" in body


def test_an_outcome_filter_counts_as_the_dashboard_does_not_the_records_opened_again(
    agent: Client, calls: None
) -> None:
    """A record opened again on another server keeps its outcome, but is no call of its own
    (postcall.outcome.MOVED_END_REASONS): the calls an outcome selects are the dashboard's
    count of it. The record is still listed unfiltered, and by what ended it."""
    make_call("call-moved", end_reason="moved_before_ready")
    sync_db().calls.update_many({"call_id": {"$in": ["call-moved", "call-web-today"]}},
                                {"$set": {"outcome": "abandoned"}})  # fmt: skip

    assert listed(agent, outcome="abandoned") == ["call-web-today"]
    assert "call-moved" in listed(agent)
    assert listed(agent, outcome="abandoned", end_reason="moved_before_ready") == ["call-moved"]


def test_call_list_shows_people_durations_and_labels_not_ids(agent: Client, calls: None) -> None:
    body = agent.get("/staff/calls/").content.decode()

    assert '<a class="person" href="/staff/customers/301/">Priya Nair</a>' in body
    assert "+91 98000 00301" in body
    assert "3:05" in body  # priya's call: 3 minutes 5 seconds
    assert "escalated" not in body.split("<tbody>")[1].split("</tbody>")[0]  # labels only


def test_calls_name_customers_without_their_phone_to_staff_who_may_not_see_customers(
    calls: None, staff_groups: Any
) -> None:
    """Reading a call needs the caller's name; their number and page are for staff who may
    view customers."""
    from django.contrib.auth.models import Permission, User

    from support.tests.staff.conftest import client_for

    reader = User.objects.create_user("reader", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_call"))
    client = client_for(reader)

    for page in ("/staff/calls/", "/staff/calls/call-priya-1/"):
        body = client.get(page).content.decode()
        assert "Priya Nair" in body, page
        assert "+91 98000 00301" not in body and "/staff/customers/301/" not in body, page


@pytest.mark.parametrize("term", ["+91 98000 00301", "9800000301", "priya@example.com"])
def test_staff_who_may_not_see_customers_cannot_find_whose_a_phone_or_email_is(
    term: str, calls: None, staff_groups: Any
) -> None:
    """The list names whose calls match: filtering it by a phone or email would say whose
    that number or address is, to someone the customers' contacts are kept from."""
    from django.contrib.auth.models import Permission, User

    from support.tests.staff.conftest import client_for

    reader = User.objects.create_user("reader", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_call"))
    client = client_for(reader)

    response = client.get("/staff/calls/", {"customer": term})

    assert response.context["page"] is None
    assert "Priya Nair" not in response.content.decode()
    if not term.isdecimal():  # digits alone are taken for a user id, which is no one's here
        assert "needs the right to see customers" in response.content.decode()
    # By name or user id they find her calls as before.
    for found_by in ("Priya", "301", "#301"):
        assert listed(client, customer=found_by) == ["call-web-today", "call-priya-1"]


def test_a_call_page_without_an_outcome_says_it_was_not_recorded(
    agent: Client, calls: None
) -> None:
    """An ended call whose outcome was never written (from before outcomes, or its worker
    stopped first) says so, rather than a bold dash before how it ended."""
    make_ticket("TKT-NOOUT1", call_id="call-priya-1")
    body = agent.get("/staff/calls/call-priya-1/").content.decode()
    ticket = agent.get("/staff/tickets/TKT-NOOUT1/").content.decode()

    assert "<dt>Outcome</dt><dd>not recorded (the call ended: escalation)</dd>" in body
    assert ("<dt>The call</dt><dd>Outcome not recorded (the call ended: escalation) "
            "· 3:05") in ticket


def test_call_list_reads_only_the_fields_it_shows(
    agent: Client, calls: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymongo.collection import Collection

    projections: list[Any] = []
    real_find = Collection.find

    def find(self: Collection[Any], *args: Any, **kwargs: Any) -> Any:  # the real find, watched
        if self.name == "calls":
            projections.append(args[1] if len(args) > 1 else kwargs.get("projection"))
        return real_find(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "find", find)
    agent.get("/staff/calls/")

    assert projections and all(p and "transcript" not in p and "tool_calls" not in p
                               and p.get("_id") == 0 for p in projections)  # fmt: skip


@pytest.mark.parametrize(
    "page", ["²", "٣", "x", "-1", "99999999999999999999999", "9" * 5000, "0" * 5000 + "2"]
)
def test_a_page_number_that_is_not_ascii_digits_or_absurdly_long_still_shows_a_page(
    page: str, agent: Client, calls: None
) -> None:
    response = agent.get("/staff/calls/", {"page": page})

    assert response.status_code == 200


def test_a_page_past_the_end_of_the_list_says_so_not_that_nothing_matches(
    agent: Client, calls: None
) -> None:
    body = agent.get("/staff/calls/", {"channel": "web", "page": "3"}).content.decode()

    assert "No calls match." not in body  # two web calls do
    assert 'No calls on this page. <a href="?channel=web">Back to the first page</a>' in body


def test_call_page_reads_as_a_conversation(agent: Client, priya_ticket: Any) -> None:
    response = agent.get("/staff/calls/call-priya-1/")

    assert response.status_code == 200
    body = response.content.decode()
    for expected in [
        "Priya Nair", "+91 98000 00301", "3:05",  # who, how long
        "Escalated to a person", "TKT-AAAAAA",  # outcome label, the ticket it opened
        "My dosa was cold and soggy.", "I&#x27;m sorry, let me get a colleague.",
        "<time>0:00</time>", "<time>0:03</time>", "<time>0:04</time>",
        # The tool call, in words (its id kept on one line).
        f"Escalated to a person (Normal): ticket {as_id('TKT-AAAAAA')}",
        "&quot;reason&quot;: &quot;cold food&quot;", "42 ms",  # the raw data, behind a disclosure
        "Input: what the model heard and read", "1,200 tokens", "Total", "1,540 tokens",
    ]:  # fmt: skip
        assert expected in body, expected
    assert "prompt_token_count" not in body and "caller_hung_up" not in body


def test_a_call_whose_customer_was_deleted_still_says_whose_it_was(
    agent: Client, priya: Customer
) -> None:
    sync_db().customers.delete_one({"user_id": priya.user_id})

    response = agent.get("/staff/calls/call-priya-1/")

    assert response.status_code == 200
    assert response.context["title"].startswith("Call with customer #301 (not found), ")
    assert "unidentified" not in response.content.decode()


def test_a_call_pages_title_writes_its_date_as_its_body_does(agent: Client) -> None:
    """The title said "07 Nov 2026" above "When 7 Nov 2026": one form."""
    call = make_call("call-early-month")
    call.started_at = datetime(2026, 11, 7, 4, 30, tzinfo=UTC)  # 10:00 in Kolkata
    call.save()

    response = agent.get("/staff/calls/call-early-month/")

    assert response.context["title"].endswith(", 7 Nov 2026, 10:00")
    assert "<dd>7 Nov 2026, 10:00" in response.content.decode()


def test_unknown_call_is_404(agent: Client) -> None:
    assert agent.get("/staff/calls/call-nope/").status_code == 404


def test_non_staff_cannot_see_calls(guest_client: Client, priya: Any) -> None:
    for path in ("/staff/calls/", "/staff/calls/call-priya-1/"):
        for client in (guest_client, Client()):
            response = client.get(path)
            assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_what_staff_did_on_the_call_is_in_the_conversation(
    agent: Client, priya_ticket: Any, arjun: Any
) -> None:
    started = Call.objects.get(call_id="call-priya-1").started_at
    sync_db()["calls"].update_one({"call_id": "call-priya-1"}, {"$set": {"staff_events": [
        {"kind": "listen", "staff": "arjun", "at": started + timedelta(seconds=5)},
        {"kind": "whisper", "staff": "arjun", "text": "Offer a full refund",
         "at": started + timedelta(seconds=6)},
        {"kind": "take_over", "staff": "arjun", "at": started + timedelta(seconds=20)},
        {"kind": "hand_back", "staff": "arjun", "text": "Refunded; confirm and close",
         "at": started + timedelta(seconds=65)},
        {"kind": "end_call", "staff": "gone-user", "at": started + timedelta(seconds=90)},
    ]}})  # fmt: skip

    body = agent.get("/staff/calls/call-priya-1/").content.decode()

    name = arjun.get_full_name()
    lines = [f"{name} listened in.", f"{name} whispered to the agent: Offer a full refund",
             f"{name} took over the call.",
             f"{name} handed back to the agent: Refunded; confirm and close",
             "gone-user ended the call."]  # fmt: skip
    positions = [body.index(line) for line in lines]
    assert positions == sorted(positions)  # in the order they happened, with the turns
    assert body.index("I&#x27;m sorry, let me get a colleague.") < positions[0]
    assert "<time>0:06</time>" in body and "<time>1:05</time>" in body


def test_the_ended_filter_offers_each_reason_once_and_finds_its_older_spelling(
    agent: Client, calls: None
) -> None:
    Call.objects.filter(call_id="call-web-today").update(end_reason="caller_hung_up")
    # As an earlier version wrote it:
    Call.objects.filter(call_id="call-web-3days").update(end_reason="customer_hung_up")

    body = agent.get("/staff/calls/").content.decode()

    assert body.count(">Caller hung up</option>") == 1
    assert listed(agent, end_reason="caller_hung_up") == ["call-web-today", "call-web-3days"]
    refused = agent.get("/staff/calls/", {"end_reason": "customer_hung_up"})
    assert refused.context["page"] is None  # not a choice: its filter is shown as an error
