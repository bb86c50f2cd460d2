"""`manage.py seed_demo`: the demo data set, its staff login, and running it again."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.test import Client

from callbacks.slots import Hours, slot_problem
from support import mongo
from support.demo_data import build_demo_data, live_orders

pytestmark = pytest.mark.django_db


STATUSES = {"placed", "preparing", "out_for_delivery", "delivered", "cancelled", "refunded"}
REFUND_WINDOW = dt.timedelta(hours=2)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


_seeded: dict[str, Any] = {}


def seeded() -> str:
    """seed_demo's output, as on a fresh database. The first call in this module runs it; the
    others put back what it wrote (a plain insert, much quicker than seeding again)."""
    db = mongo.sync_db()
    if not _seeded:
        output = seed()
        _seeded["output"] = output
        _seeded["docs"] = {name: list(db[name].find()) for name in db.list_collection_names()}
        return output
    for name, documents in _seeded["docs"].items():
        db[name].delete_many({})
        if documents:
            db[name].insert_many([dict(doc) for doc in documents])
    return str(_seeded["output"])


def docs(collection: str, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return list(mongo.sync_db()[collection].find(query or {}).sort("_id", 1))


def utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC)


def tier(spend: int) -> str:
    """Contract section 6, in paise."""
    if spend >= 1_000_000:
        return "Platinum"
    if spend >= 500_000:
        return "Gold"
    return "Silver" if spend >= 200_000 else "Bronze"


def tiers_by_user() -> dict[int, str]:
    spend: dict[int, int] = {}
    for order in docs("orders", {"status": {"$ne": "cancelled"}}):
        spend[order["user_id"]] = spend.get(order["user_id"], 0) + order["amount"]
    return {user_id: tier(paise) for user_id, paise in spend.items()}


def printed_login(output: str) -> tuple[str, str]:
    match = re.search(r"^Staff login: (\S+) / (\S+)", output, re.MULTILINE)
    assert match, output
    return match[1], match[2]


def test_it_loads_twenty_customers_and_about_two_hundred_orders() -> None:
    output = seeded()

    customers = docs("customers")
    orders = docs("orders")
    assert [c["user_id"] for c in customers] == list(range(1, 21))
    assert all(re.fullmatch(r"\+91[6-9]\d{9}", c["phone"]) for c in customers)
    assert len({c["phone"] for c in customers}) == 20
    assert 180 <= len(orders) <= 240
    numbers = sorted(int(o["order_id"].removeprefix("ORD-")) for o in orders)
    assert numbers == list(range(1001, 1001 + len(orders)))
    assert f"added 20 customers, {len(orders)} orders" in output
    assert f"{len(docs('calls'))} calls" in output


def test_orders_are_in_every_status() -> None:
    seeded()

    orders = docs("orders")
    assert {o["status"] for o in orders} == STATUSES
    for order in orders:
        delivered = order["status"] in ("delivered", "refunded")
        assert (order["delivered_at"] is not None) == delivered, order["order_id"]
        assert order["amount"] == sum(i["qty"] * i["price"] for i in order["items"])


def test_customers_are_spread_over_all_four_tiers() -> None:
    seeded()

    by_tier: dict[str, int] = {}
    for name in tiers_by_user().values():
        by_tier[name] = by_tier.get(name, 0) + 1
    assert set(by_tier) == {"Bronze", "Silver", "Gold", "Platinum"}
    assert min(by_tier.values()) >= 4


def test_refunded_orders_carry_their_refund_and_a_matching_refund_record() -> None:
    seeded()

    refunded = docs("orders", {"status": "refunded"})
    refunds = {r["order_id"]: r for r in docs("refunds")}
    assert refunded and set(refunds) == {o["order_id"] for o in refunded}
    tiers = tiers_by_user()
    for order in refunded:
        record = refunds[order["order_id"]]
        assert order["refund"]["refund_id"] == record["refund_id"]
        assert order["refund"]["amount"] == record["amount"] <= order["amount"]
        assert record["tier"] == tiers[order["user_id"]]
        assert record["user_id"] == order["user_id"]
    # Wallets hold what the refunds credited.
    for customer in docs("customers"):
        mine = [r["amount"] for r in refunds.values() if r["user_id"] == customer["user_id"]]
        assert customer["wallet_balance"] == sum(mine)


def test_customers_of_every_tier_have_a_delivery_inside_the_refund_window() -> None:
    seeded()

    now = dt.datetime.now(dt.UTC)
    recent = [o for o in docs("orders", {"status": "delivered"})
              if now - utc(o["delivered_at"]) < REFUND_WINDOW]
    tiers = tiers_by_user()
    assert len(recent) >= 5
    assert {tiers[o["user_id"]] for o in recent} == {"Bronze", "Silver", "Gold", "Platinum"}


def test_the_printed_staff_login_opens_the_admin(settings: Any) -> None:
    # Tests run with DEBUG off, whose manifest storage needs collectstatic's output.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    username, password = printed_login(seeded())
    client = Client()

    response = client.post("/admin/login/?next=/admin/",
                           {"username": username, "password": password})

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    user = User.objects.get(username=username)
    assert user.is_staff and not user.is_superuser


def test_the_staff_user_joins_the_support_lead_group() -> None:
    lead, _ = Group.objects.get_or_create(name="Support lead")  # migration 0003 makes it

    seed()

    assert list(User.objects.get(username="support").groups.all()) == [lead]


def test_running_it_again_changes_nothing() -> None:
    first = seeded()
    before = {name: docs(name) for name in
              ("customers", "orders", "refunds", "complaints", "escalations", "calls",
               "callbacks")}
    user = User.objects.get(username="support")

    second = seed()

    assert {name: docs(name) for name in before} == before
    assert User.objects.get(username="support").password == user.password
    assert "Demo data: nothing to add" in second
    assert printed_login(second) == printed_login(first)


def test_refresh_recent_puts_a_day_old_refunded_delivery_back_in_the_window() -> None:
    seeded()
    live = live_orders(build_demo_data(dt.datetime.now(dt.UTC)))
    order = next(o for o in live if o.status == "delivered" and o.user_id == 4)
    db = mongo.sync_db()
    # A demo yesterday: the order was refunded (wallet credited), and a day has gone by.
    day = dt.timedelta(days=1)
    assert order.delivered_at is not None
    db.orders.update_one({"order_id": order.order_id}, {"$set": {
        "status": "refunded", "placed_at": order.placed_at - day,
        "delivered_at": order.delivered_at - day,
        "refund": {"amount": 9_000, "percent": 30, "refund_id": "RFD-TEST01",
                   "at": order.delivered_at - day},
    }})
    db.refunds.insert_one({"refund_id": "RFD-TEST01", "order_id": order.order_id, "user_id": 4,
                           "amount": 9_000})
    db.customers.update_one({"user_id": 4}, {"$inc": {"wallet_balance": 9_000}})
    wallet_before_demo = docs("customers", {"user_id": 4})[0]["wallet_balance"] - 9_000

    assert "1 of the demo's recent orders are no longer recent" in seed()
    output = seed("--refresh-recent")

    assert order.order_id in output
    [refreshed] = docs("orders", {"order_id": order.order_id})
    assert refreshed["status"] == "delivered" and refreshed["refund"] is None
    assert dt.datetime.now(dt.UTC) - utc(refreshed["delivered_at"]) < REFUND_WINDOW
    assert docs("refunds", {"order_id": order.order_id}) == []
    assert docs("customers", {"user_id": 4})[0]["wallet_balance"] == wallet_before_demo
    assert "no longer recent" not in seed()


# --- A month of support calls -----------------------------------------------------------------

ID_SHAPE = re.compile(r"^(TKT|CMP|RFD|CB)-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$")


def test_a_month_of_calls_with_transcripts_tools_and_outcomes() -> None:
    seeded()

    calls = docs("calls")
    now = dt.datetime.now(dt.UTC)
    assert 150 <= len(calls) <= 300
    assert all(now - utc(c["started_at"]) <= dt.timedelta(days=31) for c in calls)
    outcomes = {c["outcome"] for c in calls}
    assert {"resolved_info", "resolved_refund", "complaint_filed", "escalated", "abandoned",
            "callback_scheduled"} <= outcomes
    assert {c["channel"] for c in calls} == {"web", "phone"}
    for call in calls:
        assert call["ended_at"] > call["started_at"] and call["transcript"], call["call_id"]
        assert call["usage"]["total_token_count"] > 0
        times = [line["at"] for line in call["transcript"]]
        assert times == sorted(times)
        # What the dashboard's answer-time and cost figures read, as a real call stores them.
        assert call["cost"]["currency"] == "INR" and call["cost"]["amount"] > 0
        for turn in call["turns"]:
            assert call["started_at"] < turn["at"] < call["ended_at"]
            assert turn["first_audio_ms"] >= 800 and turn["tools_ms"] >= 0
    assert sum(len(c["turns"]) for c in calls) > len(calls)
    # Most callers are settled by the agent; some need a person.
    settled = sum(c["outcome"] in ("resolved_info", "resolved_refund", "complaint_filed")
                  for c in calls)
    assert 0.5 < settled / len(calls) < 0.9


def test_refunds_made_in_calls_agree_with_orders_wallets_and_the_call() -> None:
    seeded()

    calls = {c["call_id"]: c for c in docs("calls")}
    in_calls = [r for r in docs("refunds") if r["call_id"]]
    assert in_calls
    for refund in in_calls:
        call = calls[refund["call_id"]]
        [tool] = [t for t in call["tool_calls"] if t["name"] == "initiate_refund"]
        assert tool["args"]["order_id"] == refund["order_id"]
        assert tool["result"]["refund_id"] == refund["refund_id"]
        [order] = docs("orders", {"order_id": refund["order_id"]})
        assert order["status"] == "refunded" and order["refund"]["amount"] == refund["amount"]
        assert utc(order["delivered_at"]) <= utc(call["started_at"])
        assert utc(call["started_at"]) - utc(order["delivered_at"]) <= REFUND_WINDOW


def test_tickets_complaints_and_callbacks_come_from_calls_in_one_id_shape() -> None:
    seeded()

    tickets, complaints = docs("escalations"), docs("complaints")
    calls = {c["call_id"] for c in docs("calls")}
    assert all(ID_SHAPE.match(t["ticket_id"]) for t in tickets)
    assert all(ID_SHAPE.match(c["complaint_id"]) for c in complaints)
    assert all(ID_SHAPE.match(c["callback_id"]) for c in docs("callbacks"))
    assert {t["status"] for t in tickets} == {"open", "claimed", "resolved"}
    assert sum(bool(t["order_id"]) for t in tickets) >= 3  # escalations carry their order
    assert all(t["call_id"] in calls for t in tickets if t["call_id"])
    assert all(t["assignee"] == "support" for t in tickets if t["status"] != "open")


def test_a_call_whose_agent_became_unavailable_reads_as_the_bridge_writes_one() -> None:
    """No tool opened its ticket (realtime/call_session.py: _give_up): the bridge did, with
    the ticket's origin, and the call's record names it for what is left to do."""
    seeded()

    lost = docs("calls", {"end_reason": "agent_unavailable"})
    assert lost
    for call in lost:
        assert [t["name"] for t in call["tool_calls"]] == []
        [ticket] = docs("escalations", {"ticket_id": call["agent_unavailable_ticket"]})
        assert (ticket["origin"], ticket["call_id"]) == ("agent_unavailable", call["call_id"])


def test_the_dashboard_is_alive_on_the_first_run(settings: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    username, password = printed_login(seeded())
    client = Client()
    client.login(username=username, password=password)

    board = client.get("/staff/").context["board"]

    assert board.total.calls >= 150 and board.total.refunds >= 5
    assert board.containment != "—" and board.handle_time != "—"


# Seeded on a weekday morning, a Saturday night and a Sunday morning (India time).
SEEDED_AT = [dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC),
             dt.datetime(2026, 12, 12, 17, 0, tzinfo=dt.UTC),
             dt.datetime(2026, 12, 13, 1, 0, tzinfo=dt.UTC)]  # fmt: skip


@pytest.mark.parametrize("now", SEEDED_AT)
def test_callbacks_keep_the_booking_rules_and_some_are_still_to_come(now: dt.datetime) -> None:
    # The callbacks board showed nothing on every first run (the newest callback's slot had
    # always passed), and a call on a Saturday booked "tomorrow evening": a Sunday.
    hours = Hours(zone=ZoneInfo("Asia/Kolkata"))
    callbacks = build_demo_data(now).callbacks

    for callback in callbacks:
        slot = callback["slot_start"]
        assert slot_problem(slot, callback["created_at"], hours) is None, callback
        assert callback["local_date"] == slot.astimezone(hours.zone).date().isoformat()
        assert callback["seat"] == 1
    upcoming = [c for c in callbacks if c["status"] == "scheduled"]
    assert len({(c["slot_start"], c["seat"]) for c in upcoming}) == len(upcoming)
    assert len({(c["user_id"], c["local_date"]) for c in upcoming}) == len(upcoming)
    assert len([c for c in upcoming if c["slot_start"] > now]) >= 3
    assert {c["assignee"] for c in upcoming} >= {None, "support"}


def test_the_callbacks_board_has_work_on_the_first_run(settings: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    username, password = printed_login(seeded())
    client = Client()
    client.login(username=username, password=password)

    page = client.get("/staff/callbacks/").content.decode()

    assert "No callbacks are booked" not in page
    for name in ("Divya Pillai", "Sneha Kulkarni", "Manpreet Kaur"):
        assert name in page


@pytest.mark.parametrize("now", SEEDED_AT)
def test_staff_worked_the_tickets_in_support_hours(now: dt.datetime) -> None:
    # Half the resolved tickets were resolved between 21:00 and 09:00, "Called the customer
    # back and apologised" at 04:17 among them.
    zone = ZoneInfo("Asia/Kolkata")
    tickets = build_demo_data(now).escalations
    staff_times = [t["resolved_at"] for t in tickets if t["resolved_at"]]
    staff_times += [note["at"] for t in tickets for note in t["notes"]]

    assert len(staff_times) > 20
    for moment in staff_times:
        assert dt.time(9) <= moment.astimezone(zone).time() < dt.time(21), moment
        assert moment < now


@pytest.mark.parametrize("later", [dt.timedelta(hours=7), dt.timedelta(days=1, hours=3)])
def test_the_ids_are_the_same_whenever_it_runs(later: dt.timedelta) -> None:
    """Running seed_demo again later adds nothing: every id comes out the same."""
    now = dt.datetime(2026, 11, 21, 4, 30, tzinfo=dt.UTC)
    first, again = build_demo_data(now), build_demo_data(now + later)

    def ids(demo: Any) -> dict[str, set[str]]:
        return {
            "calls": {c["call_id"] for c in demo.calls},
            "tickets": {t["ticket_id"] for t in demo.escalations},
            "complaints": {c["complaint_id"] for c in demo.complaints},
            "callbacks": {c["callback_id"] for c in demo.callbacks},
            "refunds": {o.refund.refund_id for o in demo.support.orders if o.refund},
        }

    assert ids(again) == ids(first)


def test_the_database_out_of_reach_is_said_in_one_line(database_down: None) -> None:
    with pytest.raises(CommandError) as refused:
        seed()

    assert str(refused.value).startswith("The database could not be reached (127.0.0.1:")
    assert "Topology Description" not in str(refused.value)


def test_a_phone_or_order_id_of_someone_else_is_refused_before_anything_is_written() -> None:
    # Real data loaded first: a customer with a demo customer's phone, an order with a demo
    # order's id. Seeding used to write four customers, then stop on the phone (E11000), and
    # would have tied the demo's calls and refunds to that customer's ORD-1001.
    demo = build_demo_data(dt.datetime.now(dt.UTC)).support
    fifth = next(c for c in demo.customers if c.user_id == 5)
    db = mongo.sync_db()
    db.customers.insert_one({"user_id": 999, "name": "Someone Else", "phone": fifth.phone})
    db.orders.insert_one({"order_id": "ORD-1001", "user_id": 999, "status": "placed"})

    with pytest.raises(CommandError) as refused:
        seed()

    assert str(refused.value) == (
        "could not seed the demo data, nothing was written: the phone "
        f"{fifth.phone} of demo customer 5 is customer 999's; order ORD-1001 is customer "
        "999's. Seed an empty database, or load your own data with load_support_data."
    )
    assert [c["user_id"] for c in docs("customers")] == [999]
    assert [o["order_id"] for o in docs("orders")] == ["ORD-1001"]
    assert docs("calls") == [] and docs("refunds") == []
