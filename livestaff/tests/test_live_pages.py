"""The live staff pages as the server renders them: /staff/live/ (every call in progress, its
empty state, who may see it) and /staff/live/<call_id>/ (the conversation so far, the buttons
each permission gets, a warm escalation's briefing), and the queue's "Join call".

The calls here are records (as the process carrying a call writes them); what moves on the
pages is driven in Chromium (test_live_calls_browser.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from livestaff.presenting import doing_words, for_staff
from livestaff.tests.conftest import AGENT, LEAD
from support import escalations, mongo
from support.escalations import end_live_escalation
from support.events import ESCALATIONS_GROUP
from support.models import (
    Call,
    Customer,
    Escalation,
    Order,
    OrderItem,
    RefundTier,
    ToolCallRecord,
    TranscriptLine,
)
from support.mongo import sync_db

pytestmark = pytest.mark.django_db

@pytest.fixture(autouse=True)
def plain_static_files(settings: Any) -> None:
    # Tests run with DEBUG off, whose manifest storage needs collectstatic; pages need URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def signed_in(username: str, group: Group | None, first_name: str = "") -> Client:
    user = User.objects.create_user(username, is_staff=True, first_name=first_name,
                                    last_name="Mehta" if first_name else "")  # fmt: skip
    if group is not None:
        user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def meera(groups: dict[str, Group]) -> Client:
    """An agent: may watch, listen and whisper."""
    return signed_in("meera", groups[AGENT], "Meera")


@pytest.fixture
def arjun(groups: dict[str, Group]) -> Client:
    """A lead: may also take over, hand back and end a call."""
    return signed_in("arjun", groups[LEAD], "Arjun")


@pytest.fixture
def asha(db: Any) -> Customer:  # noqa: F811  (this file's own Asha: Gold)
    """Asha Verma, Gold (₹6,000 spent)."""
    RefundTier.objects.all().delete()
    RefundTier.objects.bulk_create([
        RefundTier(name="Gold", min_lifetime_spend=500_000, percent=75),
        RefundTier(name="Bronze", min_lifetime_spend=0, percent=30),
    ])  # fmt: skip
    asha = Customer.objects.create(user_id=101, name="Asha Verma", phone="+919800000101")
    now = datetime.now(UTC)
    Order.objects.create(
        order_id="ORD-1001", customer=asha, restaurant="Biryani Blues",
        items=[OrderItem(name="Biryani", qty=1, price=600_000)], amount=600_000,
        status="delivered", placed_at=now - timedelta(hours=1),
        delivered_at=now - timedelta(minutes=30),
    )  # fmt: skip
    return asha


def live_call(
    call_id: str, customer: Customer | None, *, minutes_ago: float = 2, **record: Any
) -> None:
    """A call in progress, as its process writes the record."""
    started = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    Call.objects.create(
        call_id=call_id, customer=customer, channel=record.pop("channel", "web"),
        started_at=started,
        transcript=[
            TranscriptLine(role="user", text="My biryani came cold.", at=started),
            TranscriptLine(role="agent", text="Let me get a colleague for you.",
                           at=started + timedelta(seconds=6)),
        ],
        tool_calls=[ToolCallRecord(
            name="initiate_refund", args={"order_id": "ORD-1001", "reason": "cold"},
            result={"ok": False, "reason": "already_refunded"}, ok=False,
            started_at=started + timedelta(seconds=4), ms=35,
        )],
    )  # fmt: skip
    if record:
        sync_db().calls.update_one({"call_id": call_id}, {"$set": record})


def warm_ticket(ticket_id: str, call_id: str, customer: Customer) -> None:
    Escalation.objects.create(
        ticket_id=ticket_id, customer=customer, order_id="ORD-1001", call_id=call_id,
        priority="high", reason="Refund refused; the customer wants a person",
    )  # fmt: skip
    # `live` is the voice path's field (support/escalations.py), not the model's.
    sync_db().escalations.update_one({"ticket_id": ticket_id}, {"$set": {"live": True}})


# --- /staff/live/ --------------------------------------------------------------------------------


def test_with_no_call_in_progress_the_page_says_so(meera: Client) -> None:
    response = meera.get("/staff/live/")

    assert response.status_code == 200
    assert "No calls in progress right now." in response.content.decode()


def test_every_call_in_progress_is_listed_with_its_customer_and_what_is_happening(
    meera: Client, asha: Customer
) -> None:
    live_call("call-a", asha, minutes_ago=3, doing="tool:get_order_details",
              listeners=["meera"])  # fmt: skip
    live_call("call-b", None, channel="phone", mode="human", holder="arjun", doing="staff")
    User.objects.create_user("arjun", is_staff=True, first_name="Arjun", last_name="Mehta")
    live_call("call-over", asha)
    Call.objects.filter(call_id="call-over").update(ended_at=datetime.now(UTC))

    page = meera.get("/staff/live/").content.decode()

    assert "Asha Verma" in page and "Gold" in page and "+91 98000 00101" in page
    assert "Looking at an order" in page and "3:0" in page
    assert "Listening: Meera Mehta" in page
    assert "Caller not identified" in page and "Phone" in page
    assert "Held by Arjun Mehta" in page and "A colleague is talking" in page
    assert 'href="/staff/live/call-a/"' in page
    assert "call-over" not in page
    assert page.index("call-a") < page.index("call-b")  # oldest first


def watcher() -> Client:
    """Someone who may watch live calls (support.monitor_call) and nothing else: not view
    customers."""
    user = User.objects.create_user("watcher", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="monitor_call", content_type__app_label="support")
    )
    client = Client()
    client.force_login(user)
    return client


def test_live_calls_name_customers_without_their_phone_to_staff_who_may_not_see_customers(
    groups: dict[str, Group], asha: Customer
) -> None:
    """As the queue and the call pages do (customer_as_allowed): a name is what watching a
    call needs; the phone number and the customer's page are for those who may view
    customers."""
    live_call("call-a", asha)
    warm_ticket("TKT-WARM01", "call-a", asha)
    client = watcher()

    for page in (client.get("/staff/live/").content.decode(),
                 client.get("/staff/live/?rows=1").content.decode(),
                 client.get("/staff/live/call-a/").content.decode()):  # fmt: skip
        assert "Asha Verma" in page
        for private in ("+91 98000 00101", "00101", "/staff/customers/101/",
                        "/staff/search/?q=ORD-1001", "/staff/tickets/TKT-WARM01/"):  # fmt: skip
            assert private not in page, private  # nor links to pages they may not open
        assert "ORD-1001" in page and "TKT-WARM01" in page  # the briefing still names them


def test_the_staff_pages_link_only_to_what_the_reader_may_open(meera: Client) -> None:
    """Someone who may only watch live calls is not offered the dashboard, the queue, the
    calls or a search box that would each answer 403; nor sent "back" to the dashboard."""
    client = watcher()
    page = client.get("/staff/live/").content.decode()
    refusal = client.get("/staff/")
    assert 'href="/staff/live/">Live calls</a>' in page
    for refused in ('href="/staff/">', 'href="/staff/queue/">', 'href="/staff/calls/">',
                    'action="/staff/search/"'):  # fmt: skip
        assert refused not in page, refused
        assert refused not in refusal.content.decode(), refused
    assert refusal.status_code == 403 and "Back to the admin" in refusal.content.decode()
    everything = meera.get("/staff/live/").content.decode()
    for offered in ('href="/staff/">', 'href="/staff/queue/">', 'href="/staff/calls/">',
                    'action="/staff/search/"'):  # fmt: skip
        assert offered in everything, offered


def test_live_calls_show_the_phone_to_staff_who_may_see_customers(
    meera: Client, asha: Customer
) -> None:
    live_call("call-a", asha)
    warm_ticket("TKT-WARM01", "call-a", asha)

    for page in (meera.get("/staff/live/").content.decode(),
                 meera.get("/staff/live/call-a/").content.decode()):  # fmt: skip
        assert "+91 98000 00101" in page
        assert "/staff/search/?q=ORD-1001" in page and "/staff/tickets/TKT-WARM01/" in page
    assert "/staff/customers/101/" in meera.get("/staff/live/call-a/").content.decode()


def test_the_rows_alone_are_served_for_the_page_to_refresh(meera: Client, asha: Customer) -> None:
    live_call("call-a", asha)

    rows = meera.get("/staff/live/?rows=1").content.decode()

    assert rows.lstrip().startswith("<tbody data-live-rows>")
    assert "Asha Verma" in rows and "<html" not in rows


def test_a_warm_escalation_offers_join_call_with_its_briefing(
    arjun: Client, meera: Client, asha: Customer
) -> None:
    live_call("call-a", asha)
    warm_ticket("TKT-WARM01", "call-a", asha)

    page = arjun.get("/staff/live/").content.decode()
    for_an_agent = meera.get("/staff/live/").content.decode()  # who may not take calls over

    assert "Join call" in page and "Waiting for a colleague" in page
    assert "Join call" not in for_an_agent and "Listen in" in for_an_agent
    assert "TKT-WARM01" in page and "Refund refused; the customer wants a person" in page
    assert "ORD-1001" in page
    assert "Refund for ORD-1001 refused: already refunded" in page  # what the agent did


def test_the_nav_links_the_live_page_for_those_who_may_watch(
    meera: Client, groups: dict[str, Group]
) -> None:
    assert 'href="/staff/live/"' in meera.get("/staff/queue/").content.decode()


def test_staff_who_may_not_watch_calls_are_refused_and_others_sent_to_log_in(
    groups: dict[str, Group],
) -> None:
    assert signed_in("intern", None).get("/staff/live/").status_code == 403
    response = Client().get("/staff/live/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- /staff/live/<call_id>/ ----------------------------------------------------------------------


def test_the_live_call_shows_the_conversation_so_far_and_an_agent_s_buttons(
    meera: Client, asha: Customer
) -> None:
    live_call("call-a", asha)

    page = meera.get("/staff/live/call-a/").content.decode()

    assert "Live call with Asha Verma" in page
    assert "My biryani came cold." in page and "Let me get a colleague for you." in page
    # As on the call page, its id kept on one line.
    assert 'Refund for <span class="id">ORD-1001</span> refused: already refunded' in page
    assert "data-listen" in page and "data-whisper" in page
    assert ">Listen in</button>" in page  # as the queue and the live calls page offer it
    assert "Take over" not in page and "End call" not in page  # an agent may not


def test_a_lead_gets_take_over_and_end_call(arjun: Client, asha: Customer) -> None:
    live_call("call-a", asha)

    page = arjun.get("/staff/live/call-a/").content.decode()

    assert "Take over" in page and "Hand back" in page and "End call" in page


def test_joining_a_warm_escalation_shows_its_briefing(arjun: Client, asha: Customer) -> None:
    live_call("call-a", asha)
    warm_ticket("TKT-WARM01", "call-a", asha)

    page = arjun.get("/staff/live/call-a/").content.decode()

    assert "Waiting for a colleague" in page and "TKT-WARM01" in page


def test_who_joined_is_you_on_your_own_live_call_view_and_named_elsewhere(
    arjun: Client, meera: Client, asha: Customer
) -> None:
    live_call("call-a", asha)
    warm_ticket("TKT-WARM01", "call-a", asha)
    sync_db().escalations.update_one({"ticket_id": "TKT-WARM01"}, {"$set": {"joined_by": "arjun"}})

    his_view = arjun.get("/staff/live/call-a/").content.decode()
    her_view = meera.get("/staff/live/call-a/").content.decode()
    his_list = arjun.get("/staff/live/").content.decode()  # a list names everyone

    assert "You joined the call" in his_view and "Arjun Mehta joined" not in his_view
    assert "Arjun Mehta joined the call" in her_view and "You joined" not in her_view
    assert "Arjun Mehta joined the call" in his_list and "You joined" not in his_list


def test_a_call_that_has_ended_leads_to_its_record(meera: Client, asha: Customer) -> None:
    live_call("call-a", asha)
    Call.objects.filter(call_id="call-a").update(ended_at=datetime.now(UTC))

    response = meera.get("/staff/live/call-a/", follow=True)

    assert response.redirect_chain == [("/staff/calls/call-a/", 302)]
    assert "That call has ended: this is its record." in response.content.decode()


def test_an_unknown_call_is_not_found(meera: Client) -> None:
    assert meera.get("/staff/live/call-nope/").status_code == 404


# --- what staff read of a call's events ----------------------------------------------------------


def test_a_finished_tool_reads_as_on_the_call_page() -> None:
    event = {"type": "tool", "name": "file_complaint", "status": "done", "ms": 12,
             "args": {"category": "food_quality", "order_id": "ORD-1001"},
             "result": {"ok": True, "complaint_id": "CMP-1"}}  # fmt: skip

    shown = for_staff(event)

    assert shown["line"] == "Complaint CMP-1 filed: Food quality about ORD-1001"
    assert shown["ok"] is True and shown["raw"]["took"] == "12 ms"
    assert for_staff({"type": "tool", "name": "x", "status": "started"}).get("line") is None


def test_what_the_agent_is_doing_is_in_words() -> None:
    assert doing_words("tool:initiate_refund") == "Refunding"
    assert doing_words("tool:something_new") == "Using a tool"
    assert doing_words("listening") == "Listening"
    # An escalated call nobody joined yet reads as waiting, unless a colleague holds it or
    # Twilio is putting the caller through to the escalation line.
    assert doing_words("speaking", waiting=True) == "Waiting for a colleague"
    assert doing_words("staff", waiting=True) == "A colleague is talking"
    transferring = doing_words("transferring", waiting=True)
    assert transferring == "Putting the caller through to our escalation phone line"


# --- the queue -----------------------------------------------------------------------------------


def test_the_queue_offers_join_call_for_a_ticket_whose_call_is_up(
    arjun: Client, meera: Client, asha: Customer
) -> None:
    live_call("call-a", asha)
    warm_ticket("TKT-WARM01", "call-a", asha)
    Escalation.objects.create(ticket_id="TKT-COLD01", customer=asha, call_id="call-old",
                              reason="Wants a refund reviewed")  # fmt: skip

    page = arjun.get("/staff/queue/").content.decode()
    for_an_agent = meera.get("/staff/queue/").content.decode()

    assert page.count(">Join call</a>") == 1
    assert "Join call" not in for_an_agent and for_an_agent.count(">Listen in</a>") == 1
    assert 'href="/staff/live/call-a/"' in page and "On the call now" in page
    # What the agent did, its id kept on one line.
    assert 'Refund for <span class="id">ORD-1001</span> refused: already refunded' in page


def test_a_warm_escalation_being_put_through_to_the_phone_line_says_so_wherever_it_is_offered(
    arjun: Client, asha: Customer
) -> None:
    """Twilio is putting the escalated caller through to the escalation phone line: nobody is
    waited for any more, and a take-over would be refused: both lists offer to listen in (and
    whisper) instead of joining."""
    live_call("call-a", asha, channel="phone", doing="transferring")
    warm_ticket("TKT-WARM01", "call-a", asha)

    board = arjun.get("/staff/live/").content.decode()
    view = arjun.get("/staff/live/call-a/").content.decode()
    queue = arjun.get("/staff/queue/").content.decode()

    for page in (board, view):
        assert 'class="briefing priority-high transferring"' in page
        assert ('<b class="briefing-transferring">Putting the caller through to our escalation '
                "phone line</b>") in page  # fmt: skip
    for page in (board, queue):
        assert ">Listen in</a>" in page and ">Join call</a>" not in page
    assert "waiting for a colleague" not in queue
    assert ("<b>On the call now</b>, putting the caller through to our escalation phone "
            "line.") in queue  # fmt: skip


def test_a_resolved_ticket_no_longer_offers_to_join_its_call(
    arjun: Client, asha: Customer
) -> None:
    live_call("call-a", asha)
    warm_ticket("TKT-WARM01", "call-a", asha)

    escalations.resolve("TKT-WARM01", "arjun", "Sorted on the phone with her.")

    assert "Join call" not in arjun.get("/staff/queue/resolved/").content.decode()
    assert "Join call" not in arjun.get("/staff/live/").content.decode()


@pytest.mark.django_db(transaction=True)
async def test_when_the_call_ends_the_queue_pages_are_told_its_ticket_is_no_longer_live(
    asha: Customer,
) -> None:
    await sync_to_async(live_call)("call-a", asha)
    await sync_to_async(warm_ticket)("TKT-WARM01", "call-a", asha)
    layer = get_channel_layer()
    assert layer is not None
    queue_page = await layer.new_channel()
    await layer.group_add(ESCALATIONS_GROUP, queue_page)

    await end_live_escalation("call-a")

    told = await asyncio.wait_for(layer.receive(queue_page), 5)
    assert told["type"] == "escalation.changed"
    assert (told["ticket"]["ticket_id"], told["ticket"]["live"]) == ("TKT-WARM01", False)
    ticket = await mongo.async_db().escalations.find_one({"ticket_id": "TKT-WARM01"})
    assert ticket is not None and ticket["live"] is False
