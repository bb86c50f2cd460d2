"""The demo as a new support lead meets it: every complaint and ticket names the call that
raised it (the urgent one at the top of the queue too), and calls come in between 09:00 and
23:00 in the support time zone (India's by default) whenever the demo is seeded."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client

from callbacks.slots import Hours, local_date, slot_problem
from support import mongo
from support.demo_data import build_demo_data

INDIA = ZoneInfo("Asia/Kolkata")
# Seeded at 03:00, 09:10, 15:00, 22:40 and 23:40 India time, on a weekday and on a Sunday
# (at 22:40 a call drawn minutes before ended after it).
SEEDED_AT = [dt.datetime(2026, 12, 7, 21, 30, tzinfo=dt.UTC),
             dt.datetime(2026, 12, 7, 17, 10, tzinfo=dt.UTC),
             dt.datetime(2026, 12, 8, 3, 40, tzinfo=dt.UTC),
             dt.datetime(2026, 12, 9, 9, 30, tzinfo=dt.UTC),
             dt.datetime(2026, 12, 12, 18, 10, tzinfo=dt.UTC),
             dt.datetime(2026, 12, 13, 1, 0, tzinfo=dt.UTC)]  # fmt: skip
FILED_BY = {"ticket_id": "escalate_to_human", "complaint_id": "file_complaint"}


@pytest.mark.parametrize("now", SEEDED_AT)
def test_calls_come_in_between_nine_and_eleven_at_night(now: dt.datetime) -> None:
    # "About yesterday's order" calls were placed 3 to 20 hours after the delivery, whatever
    # the hour: one at 03:03; refunds asked at 00:14; the "minutes ago" callbacks' calls
    # at 04:10 when the demo was seeded early in the morning.
    calls = build_demo_data(now).calls

    for call in calls:
        local = call["started_at"].astimezone(INDIA)
        assert dt.time(9) <= local.time() < dt.time(23), (call["call_id"], local)
        assert call["ended_at"] < now


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London"])
@pytest.mark.parametrize("now", SEEDED_AT[:3])
def test_the_demos_hours_are_the_support_time_zones(now: dt.datetime, zone: str,
                                                    settings: Any) -> None:  # fmt: skip
    # With SUPPORT_TIME_ZONE elsewhere, calls still came in 09:00-23:00 India time (in New
    # York from 22:30 to 12:30), staff worked the night and the callbacks sat outside the
    # callbacks' own support hours, which follow the setting.
    settings.SUPPORT_TIME_ZONE = zone
    hours = Hours(zone=ZoneInfo(zone))
    demo = build_demo_data(now)

    for call in demo.calls:
        local = call["started_at"].astimezone(hours.zone)
        assert dt.time(9) <= local.time() < dt.time(23), (call["call_id"], local)
        assert call["ended_at"] < now
    staff_times = [t["resolved_at"] for t in demo.escalations if t["resolved_at"]]
    staff_times += [note["at"] for t in demo.escalations for note in t["notes"]]
    for moment in staff_times:
        assert dt.time(9) <= moment.astimezone(hours.zone).time() < dt.time(21), moment
    assert demo.callbacks
    for callback in demo.callbacks:
        assert slot_problem(callback["slot_start"], callback["created_at"], hours) is None
        assert callback["local_date"] == local_date(callback["slot_start"], hours.zone).isoformat()


@pytest.mark.parametrize("now", SEEDED_AT)
def test_every_complaint_and_ticket_names_the_call_that_filed_it(now: dt.datetime) -> None:
    demo = build_demo_data(now)
    calls = {call["call_id"]: call for call in demo.calls}

    for key, records in (("ticket_id", demo.escalations), ("complaint_id", demo.complaints)):
        for record in records:
            call = calls.get(record["call_id"])
            assert call is not None, record[key]
            filed = [tool["result"].get(key) for tool in call["tool_calls"]
                     if tool["name"] == FILED_BY[key]]  # fmt: skip
            assert record[key] in filed or call.get("agent_unavailable_ticket") == record[key]
            assert call["user_id"] == record["user_id"]
            assert call["started_at"] <= record["created_at"] <= call["ended_at"]
            for note in record.get("notes", []):
                assert record["created_at"] < note["at"] < now


def _lead() -> Client:
    lead = User.objects.create_user("lead", is_staff=True)
    lead.groups.add(Group.objects.get(name="Support lead"))
    client = Client()
    client.force_login(lead)
    return client


@pytest.mark.django_db
def test_the_urgent_ticket_at_the_top_of_the_queue_opens_its_call(settings: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    call_command("seed_demo", stdout=StringIO())
    [urgent] = mongo.sync_db().escalations.find({"priority": "urgent", "status": "open"})

    page = _lead().get(f"/staff/tickets/{urgent['ticket_id']}/").content.decode()

    assert urgent["call_id"]
    assert f'<a href="/staff/calls/{urgent["call_id"]}/">open the call</a>' in page
    assert "no call on this ticket" not in page


@pytest.mark.django_db
def test_a_ticket_an_earlier_demo_wrote_without_its_call_gets_no_call_days_after_it() -> None:
    # A database seeded before these calls existed: the ticket has none. Written now, its call
    # would start long after the ticket was opened.
    call_command("seed_demo", stdout=StringIO())
    db = mongo.sync_db()
    urgent = db.escalations.find_one({"priority": "urgent"}) or {}
    db.calls.delete_one({"call_id": urgent["call_id"]})
    db.escalations.update_one({"_id": urgent["_id"]}, {"$set": {"call_id": ""}})

    output = StringIO()
    call_command("seed_demo", stdout=output)

    assert db.calls.find_one({"call_id": urgent["call_id"]}) is None
    assert "nothing to add" in output.getvalue()
