"""The /staff/ dashboard: the operation over a range of days, its charts and CSV exports."""

from __future__ import annotations

import csv
import io
import warnings
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone
from django.utils.html import strip_tags

from support.models import Call, Customer, Escalation, Refund
from support.money import axis_inr
from support.mongo import sync_db
from support.staff.aftercall import axis_money
from support.staff.charts import (
    Series,
    axis_seconds,
    bar_chart,
    column_chart,
    line_chart,
    nice_ceiling,
    turn_chart,
)
from support.staff.dashboard import (
    OUTCOME_SERIES,
    Dashboard,
    DayFigures,
    DayRange,
    age_buckets,
    dashboard,
    day_range,
)
from support.tests.staff.conftest import client_for, make_complaint, make_ticket
from voiceproject.tests.asgi_client import served

pytestmark = pytest.mark.django_db


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def day_label(day: date) -> str:
    """A day as the dashboard names it: "5 Dec"."""
    return f"{day.day} {day:%b}"


def so_far(today: date) -> str:
    """Today as the dashboard's tooltips and table name it, not over: "8 Dec (today, so far)"."""
    return f"{day_label(today)} (today, so far)"


def rows(board: Dashboard) -> dict[str, DayFigures]:
    """The figures of each day (or week) of the table, by its name."""
    return {period.name: period.figures for period in board.periods}


@pytest.fixture
def today() -> date:
    return timezone.localdate()


def add_call(call_id: str, started: datetime, seconds: int, outcome: str | None,
             user_id: int | None = 301) -> None:  # fmt: skip
    doc: dict[str, Any] = {
        "call_id": call_id, "user_id": user_id, "channel": "web", "started_at": started,
        "ended_at": started + timedelta(seconds=seconds), "end_reason": "caller_hung_up",
        "transcript": [], "tool_calls": [],
    }  # fmt: skip
    if outcome is not None:
        doc["outcome"] = outcome
    sync_db().calls.insert_one(doc)


@pytest.fixture
def activity(priya: Customer, today: date) -> None:
    """Today: 4 calls (two settled by the agent, one escalated, one without an outcome);
    three days ago: 2 calls (one refund, one callback); 40 days ago: one. Refunds of ₹120 today
    and ₹80 two days ago; complaints; open tickets of several ages."""
    Call.objects.all().delete()
    yesterday_3 = today - timedelta(days=3)
    add_call("c1", at(today, 0, 5), 60, "resolved_info")
    add_call("c2", at(today, 0, 10), 120, "complaint_filed")
    add_call("c3", at(today, 0, 15), 240, "escalated")
    add_call("c4", at(today, 0, 20), 30, None)
    add_call("c5", at(yesterday_3, 10), 90, "resolved_refund")
    add_call("c6", at(yesterday_3, 11), 150, "callback_scheduled")
    add_call("c-old", at(today - timedelta(days=40), 9), 60, "resolved_info")
    Refund.objects.create(refund_id="RFD-T1", order_id="ORD-T1", customer=priya, amount=12_000,
                          percent=50, tier="Silver", created_at=at(today, 0, 6))  # fmt: skip
    Refund.objects.create(refund_id="RFD-T2", order_id="ORD-T2", customer=priya, amount=8_000,
                          percent=30, tier="Bronze",
                          created_at=at(today - timedelta(days=2), 12))  # fmt: skip
    make_complaint("CMP-1", category="late_delivery")
    make_complaint("CMP-2", category="late_delivery", days_ago=1)
    make_complaint("CMP-3", category="hygiene")
    make_complaint("CMP-OLD", category="hygiene", days_ago=60)
    make_ticket("TKT-U1", priority="urgent", minutes_ago=125)
    make_ticket("TKT-N1", priority="normal", minutes_ago=5)
    make_ticket("TKT-C1", priority="urgent", status="claimed", assignee="meera")


def test_the_dashboard_aggregates_the_range(activity: None, today: date) -> None:
    board = dashboard(day_range(None, None, today))

    assert board.total.calls == 6  # the call 40 days ago is outside the default 30 days
    # Of the 5 calls with an outcome, 3 were settled by the agent, 2 went to a person.
    assert (board.containment, board.escalation_rate) == ("60%", "40%")
    assert board.handle_time == "1:55"  # (60+120+240+30+90+150)/6 s = 115 s
    assert (board.refunded, board.total.refunds) == ("₹200.00", 2)
    assert (board.open_total, board.overdue, board.claimed_total) == (2, 1, 1)
    ages = {bar.label: bar.display for bar in board.ages_chart.bars}
    assert ages == {"under 15 min": "1", "15-60 min": "0", "1-4 hours": "1",
                    "4-24 hours": "0", "over a day": "0"}  # fmt: skip
    complaints = {bar.label: bar.display for bar in board.complaints_chart.bars}
    assert complaints["Late delivery"] == "2" and complaints["Hygiene"] == "1"
    today_row = rows(board)[so_far(today)]
    assert (today_row.calls, today_row.contained, today_row.taken_by_people) == (4, 2, 1)


def answered(call_id: str, waits_ms: list[int | None], cost_paise: int) -> None:
    """The after-the-call fields (contract section 10): one turn per wait, and the cost."""
    turns = [{"at": timezone.now(), "user_ms": 900, "first_audio_ms": ms, "tools_ms": 0}
             for ms in waits_ms]  # fmt: skip
    sync_db().calls.update_one({"call_id": call_id}, {"$set": {
        "turns": turns, "cost": {"currency": "INR", "amount": cost_paise, "by_modality": {}}}})


def test_answer_times_and_model_cost_per_day_and_per_resolved_call(
    activity: None, today: date
) -> None:
    answered("c1", [400, 610, 980, None], 150)  # settled by the agent
    answered("c2", [1200], 250)  # settled by the agent
    answered("c3", [3010, 700], 400)  # escalated
    answered("c5", [800], 90)  # three days ago, a refund
    board = dashboard(day_range(None, None, today))

    today_row = rows(board)[so_far(today)]
    # Today's answered turns, counted at the 50 ms step above them: 400, 650, 700, 1000,
    # 1200, 3050 ms (the unanswered turn has no answer time).
    assert (today_row.wait_s(50), today_row.wait_s(95)) == (0.7, 3.05)
    assert (board.wait_p50, board.wait_p95) == ("0.80 s", "3.05 s")
    # ₹8.00 today over 2 calls settled by the agent; ₹8.90 over the range's 3.
    assert today_row.cost == 800 and today_row.cost_per_resolved == 400
    assert (board.cost, board.cost_per_resolved) == ("₹8.90", "₹2.97")
    assert [p.title for p in board.wait_chart.lines[0].points][-1] == \
        f"{so_far(today)}: Typical turn (p50), 0.70 s"


def test_the_dashboard_page_shows_answer_times_and_cost(agent: Client, activity: None,
                                                        today: date) -> None:  # fmt: skip
    answered("c1", [400, 610], 150)  # the other calls the agent settled were not priced
    body = strip_tags(agent.get("/staff/").content.decode())

    for expected in ["Answer time", "How quickly the agent answered", "Model cost",
                     "What the model cost per day", "₹1.50 per resolved call",
                     "0.40 s / 0.65 s"]:  # fmt: skip
        assert expected in body, expected


def test_calls_the_model_cost_was_not_worked_out_for_are_said_not_priced_at_nothing(
    agent: Client, activity: None, today: date
) -> None:
    """Calls from before costs were kept, or of a model LIVE_PRICES has no price for, have no
    `cost`: the range's cost leaves them out, and says how many it left out."""
    answered("c1", [400], 150)
    answered("c2", [500], 250)  # c3 and c4 (today) and c5 and c6 ended unpriced
    sync_db().calls.insert_one({"call_id": "live", "user_id": 301, "channel": "phone",
                                "started_at": at(today, 0, 30), "ended_at": None,
                                "transcript": [], "tool_calls": []})  # fmt: skip

    board = dashboard(day_range(None, None, today))
    body = agent.get("/staff/").content.decode()

    assert board.total.unpriced == 4  # not the call still in progress: priced when it ends
    assert "₹4.00" in body and "4 calls not priced" in body


def test_a_range_whose_calls_are_all_unpriced_is_not_said_to_have_cost_nothing(
    agent: Client, db: Any, today: date
) -> None:
    """A model LIVE_PRICES has no price for (W013): ₹0.00 would read as free."""
    add_call("unpriced", at(today, 0, 5), 60, "resolved_info")

    body = agent.get("/staff/").content.decode()

    assert '<h3>Model cost</h3><p class="big">—</p><p>1 call not priced</p>' in body


def test_a_day_whose_calls_are_all_unpriced_is_not_said_to_have_cost_nothing(
    agent: Client, db: Any, today: date
) -> None:
    """As the tile for a range: the day's row says "—" for its cost and per resolved call,
    and the cost chart's tooltips say what a day's cost leaves out."""
    yesterday = today - timedelta(days=1)
    add_call("priced", at(yesterday, 10), 60, "resolved_info")
    add_call("unpriced-then", at(yesterday, 11), 60, "resolved_info")
    answered("priced", [400], 500)
    add_call("unpriced", at(today, 0, 5), 60, "resolved_info")

    board = dashboard(day_range(None, None, today))
    body = agent.get("/staff/").content.decode()

    row = body[body.index(f"<tr><td>{so_far(today)}</td>"):]
    cells = [strip_tags(cell) for cell in row[: row.index("</tr>")].split("</td>")]
    assert cells[6:8] == ["—", "—"]  # model cost, per resolved call
    assert board.cost_chart.title == "What the model cost per day"
    assert [s.title for s in board.cost_chart.segments] == \
        [f"{day_label(yesterday)}: Cost, ₹5.00; 1 call not priced"]


def test_a_range_none_of_whose_calls_was_priced_has_no_cost_chart_said_empty(
    db: Any, today: date
) -> None:
    add_call("unpriced", at(today, 0, 5), 60, "resolved_info")

    board = dashboard(day_range(None, None, today))

    assert board.cost_chart.empty
    assert board.cost_chart.nothing == "No call in this range was priced."


def test_calls_priced_in_another_currency_are_converted_not_added_as_they_are(
    agent: Client, db: Any, today: date, settings: Any
) -> None:
    """COST_CURRENCY changed from INR to USD: a call priced ₹100 before (10,000 paise) is not
    $100. Its price in dollars is kept (`cost.usd`), and counts at COST_PER_USD; a call whose
    cost has no dollar price is not priced rather than added in the wrong currency."""
    settings.COST_CURRENCY, settings.COST_PER_USD = "USD", 1.0
    add_call("inr-with-usd", at(today, 0, 5), 60, "resolved_info")
    add_call("inr-alone", at(today, 0, 6), 60, "resolved_info")
    add_call("usd", at(today, 0, 7), 60, "resolved_info")
    for call_id, cost in (
        ("inr-with-usd", {"currency": "INR", "amount": 10_000, "usd": 1.13}),
        ("inr-alone", {"currency": "INR", "amount": 10_000}),
        ("usd", {"currency": "USD", "amount": 250, "usd": 2.5}),
    ):
        sync_db().calls.update_one({"call_id": call_id}, {"$set": {"cost": cost}})

    board = dashboard(day_range(None, None, today))

    assert (board.total.cost, board.total.unpriced) == (363, 1)  # $1.13 + $2.50; inr-alone
    assert "3.63" in board.cost and "100" not in board.cost


def test_calls_still_in_progress_are_shown_as_such_not_as_missing_an_outcome(
    db: Any, today: date
) -> None:
    add_call("told", at(today, 0, 5), 60, "resolved_info")
    add_call("outcome-lost", at(today, 0, 6), 60, None)  # ended, but nothing wrote its outcome
    for call_id in ("live-1", "live-2"):
        sync_db().calls.insert_one({"call_id": call_id, "user_id": 301, "channel": "phone",
                                    "started_at": at(today, 0, 7), "ended_at": None,
                                    "transcript": [], "tool_calls": []})  # fmt: skip

    board = dashboard(day_range(None, None, today))

    label = so_far(today)
    titles = {s.title for s in board.calls_chart.segments if s.title.startswith(label)}
    assert titles == {f"{label}: Information given, 1", f"{label}: No outcome recorded, 1",
                      f"{label}: In progress, 2"}  # fmt: skip
    assert (board.total.calls, board.containment) == (4, "100%")


def test_a_chosen_range(activity: None, today: date) -> None:
    board = dashboard(DayRange(today - timedelta(days=45), today - timedelta(days=35)))

    assert board.total.calls == 1 and board.containment == "100%"


def test_a_range_of_a_whole_year_names_its_weeks_with_the_year(activity: None, today: date) -> None:
    """Over 366 days a date comes round again: "7 Dec" would name a day of the first week and
    of the last. Days are written as on the other pages: "5 Dec", "5 Dec 2026" (not "05 Dec
    26"); a year is shown by week, each named by its Monday."""
    year = dashboard(DayRange(today - timedelta(days=365), today))
    month = dashboard(DayRange(today - timedelta(days=30), today))

    monday = today - timedelta(days=today.weekday())
    ticks = [period.tick for period in year.periods]
    assert len(set(ticks)) == len(ticks) in (53, 54)
    assert ticks[-1] == f"{monday.day} {monday:%b %Y}"
    assert year.periods[-1].name.startswith(f"Week of {monday.day} {monday:%b %Y}")
    assert (month.periods[-1].tick, month.periods[-1].name) == (day_label(today), so_far(today))


def test_a_range_from_a_day_after_today_runs_forward_from_it(agent: Client, today: date) -> None:
    since = today + timedelta(days=3)

    board = agent.get("/staff/", {"since": since.isoformat()}).context["board"]
    response = agent.get("/staff/export/calls.csv", {"since": since.isoformat()})

    assert (board.days.first, board.days.last) == (since, since)
    assert response["Content-Disposition"] == \
        f'attachment; filename="calls-{since.isoformat()}-to-{since.isoformat()}.csv"'


def test_dashboard_page_draws_charts_and_offers_csv(agent: Client, activity: None) -> None:
    response = agent.get("/staff/")

    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('<svg role="img"') == 8
    for expected in ["Calls per day by outcome", "Containment and escalation rate",
                     "Refunds per day", "Average handle time", "Open tickets by waiting time",
                     "Information given", "60%", "40%", "1:55", "₹200.00",
                     "waiting too long", "/staff/export/calls.csv?since="]:  # fmt: skip
        assert expected in body, expected


def test_counts_are_grouped_in_the_tiles_and_table_as_the_charts_group_them(
    agent: Client, today: date, staff_groups: Any
) -> None:
    """The calls chart said "1,234" where its tile said "1234"."""
    started = at(today, 0, 5)
    sync_db().calls.insert_many([
        {"call_id": f"c{n}", "user_id": 301, "channel": "web", "started_at": started,
         "ended_at": started + timedelta(seconds=60), "end_reason": "caller_hung_up",
         "outcome": "resolved_info", "transcript": [], "tool_calls": []}
        for n in range(1234)
    ])  # fmt: skip

    body = agent.get("/staff/").content.decode()

    assert '<h3>Calls</h3><p class="big">1,234</p>' in body
    assert "<td>1,234</td><td>1,234</td><td>0</td>" in body  # calls, by the agent, by people
    assert "1234" not in body


def test_the_open_tickets_tile_does_not_count_claimed_ones_among_them(
    agent: Client, activity: None
) -> None:
    """Two tickets wait for someone to claim them, one of them too long, and one more is being
    worked: not "2 · 1 waiting too long · 1 claimed", read as one of the two being claimed."""
    body = agent.get("/staff/").content.decode()

    assert "1 of them waiting too long</span> · 1 more claimed" in body


def test_the_open_tickets_tile_says_nothing_of_claimed_tickets_when_there_are_none(
    agent: Client, activity: None
) -> None:
    Escalation.objects.filter(status="claimed").delete()

    body = agent.get("/staff/").content.decode()

    assert "more claimed" not in body and "waiting too long</span> ·" not in body


def test_the_range_shown_is_in_the_from_and_to_boxes(agent: Client, activity: None) -> None:
    """The default range (and one given by one end only) fills both boxes: empty boxes above
    "6 Nov 2026 to 5 Dec 2026" read as no range at all, and changing one end means typing both."""
    days = agent.get("/staff/").context["board"].days
    body = agent.get("/staff/").content.decode()
    one_end = agent.get("/staff/", {"since": days.first.isoformat()}).content.decode()

    for page in (body, one_end):
        assert f'name="since" value="{days.first.isoformat()}"' in page
        assert f'name="until" value="{days.last.isoformat()}"' in page


def test_a_bad_date_range_is_an_error_not_a_default(agent: Client, activity: None) -> None:
    response = agent.get("/staff/", {"since": "last tuesday"})

    assert response.context["board"] is None
    assert "Enter a valid date." in response.content.decode()


@pytest.mark.parametrize("query", [{"until": "9999-12-31"}, {"since": "0001-01-01"}])
def test_a_day_out_of_any_sensible_range_is_an_error_on_every_page_that_takes_one(
    agent: Client, activity: None, query: dict[str, str]
) -> None:
    for path in ("/staff/", "/staff/calls/"):
        response = agent.get(path, query)

        assert response.status_code == 200, path
        assert b"Ensure this value is" in response.content, path  # said on the field
    assert agent.get("/staff/export/calls.csv", query).status_code == 400


def test_a_range_longer_than_the_dashboard_shows_is_an_error_not_cut_short(
    agent: Client, activity: None, today: date
) -> None:
    since = today - timedelta(days=400)
    for query in ({"since": since.isoformat(), "until": today.isoformat()},
                  {"since": since.isoformat()}):  # fmt: skip
        response = agent.get("/staff/", query)

        assert response.context["board"] is None, query  # not the last 366 days of it
        assert "at most 366 days" in response.content.decode(), query


def test_an_export_holds_every_day_asked_for(agent: Client, priya: Customer, today: date) -> None:
    two_years_ago = today - timedelta(days=730)
    add_call("c-two-years-ago", at(two_years_ago, 12), 60, "resolved_info")
    add_call("c-today", at(today, 12), 60, "resolved_info")

    rows = export(agent, "calls", since=two_years_ago.isoformat(), until=today.isoformat())

    assert {row[0] for row in rows[1:]} >= {"c-two-years-ago", "c-today"}


def test_lead_sees_the_dashboard_and_guest_does_not(lead: Client, guest_client: Client) -> None:
    assert lead.get("/staff/").status_code == 200
    assert guest_client.get("/staff/").status_code == 302


def test_empty_dashboard(agent: Client, staff_groups: Any) -> None:
    response = agent.get("/staff/")

    assert response.status_code == 200
    assert response.context["board"].total.calls == 0
    assert "Nothing in this range." in response.content.decode()


# --- CSV exports ------------------------------------------------------------------------------


def export_bytes(client: Client, kind: str, **query: str) -> bytes:
    sent = async_to_sync(served)(client, f"/staff/export/{kind}.csv", query)
    start, body = sent[0], sent[1:]
    assert start["status"] == 200, body
    assert dict(start["headers"])[b"Content-Type"] == b"text/csv; charset=utf-8"
    return b"".join(part.get("body", b"") for part in body)


def export(client: Client, kind: str, **query: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(export_bytes(client, kind, **query).decode("utf-8-sig"))))


def test_calls_export_for_the_range(agent: Client, activity: None, today: date) -> None:
    rows = export(agent, "calls", since=(today - timedelta(days=3)).isoformat(),
                  until=today.isoformat())  # fmt: skip

    assert rows[0][:4] == ["call", "started (Asia/Kolkata)", "ended (Asia/Kolkata)", "duration"]
    by_id = {row[0]: row for row in rows[1:]}
    assert set(by_id) == {"c1", "c2", "c3", "c4", "c5", "c6"}
    assert by_id["c3"][3:] == ["4:00", "Web", "301", "Priya Nair", "+919800000301",
                               "Escalated to a person", "Caller hung up"]  # fmt: skip


def test_refunds_and_tickets_export_in_rupees_and_local_time(
    agent: Client, activity: None, today: date
) -> None:
    refunds = export(agent, "refunds")
    tickets = export(agent, "tickets")

    assert [r[0] for r in refunds[1:]] == ["RFD-T2", "RFD-T1"]
    assert refunds[2][1] == f"{today.isoformat()} 00:06:00" and refunds[2][6] == "120.00"
    assert {t[0] for t in tickets[1:]} == {"TKT-U1", "TKT-N1", "TKT-C1"}


def test_a_formula_in_a_ticket_reason_is_not_run_by_a_spreadsheet(agent: Client) -> None:
    make_ticket("TKT-EVIL01", reason='=HYPERLINK("http://evil.example")')

    tickets = export(agent, "tickets")

    assert tickets[1][9] == "'=HYPERLINK(\"http://evil.example\")"


def test_a_large_export_is_sent_as_it_is_read_not_gathered_in_memory_first(
    agent: Client, priya: Customer, today: date
) -> None:
    for n in range(250):
        add_call(f"bulk-{n:03d}", at(today, 0, 1) + timedelta(seconds=n), 60, "resolved_info")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = export(agent, "calls")

    # Served from a synchronous iterator, Django reads the whole export into a list before it
    # sends a byte (and says so in this warning): a year of calls held in memory.
    assert [str(w.message) for w in caught if "must consume" in str(w.message)] == []
    assert len(rows) == 1 + 250 + 1  # the header, the calls and priya's


def test_an_export_opens_in_excel_with_names_in_any_script(agent: Client, today: date) -> None:
    Customer.objects.create(user_id=77, name="Zoë D'Souza", phone="+919800000077")
    Customer.objects.create(user_id=78, name="श्रेया अय्यर", phone="+919800000078")
    add_call("c-zoe", at(today, 9), 60, "resolved_info", user_id=77)
    add_call("c-shreya", at(today, 10), 60, "resolved_info", user_id=78)

    body = export_bytes(agent, "calls")

    # Excel reads a CSV without the byte order mark as the PC's code page: "ZoÃ«".
    assert body.startswith(b"\xef\xbb\xbf")
    names = {row[0]: row[6] for row in csv.reader(io.StringIO(body.decode("utf-8-sig")))}
    assert (names["c-zoe"], names["c-shreya"]) == ("Zoë D'Souza", "श्रेया अय्यर")


def test_an_export_states_the_time_zone_of_its_times(agent: Client, activity: None) -> None:
    calls, refunds, tickets = (export(agent, kind)[0] for kind in ("calls", "refunds", "tickets"))

    zone = "(Asia/Kolkata)"
    assert calls[1:3] == [f"started {zone}", f"ended {zone}"]
    assert refunds[1] == f"refunded at {zone}"
    assert (tickets[1], tickets[10]) == (f"opened {zone}", f"resolved {zone}")


@pytest.mark.parametrize("hostile", [
    "=1+2", "+CMD()", "-2+3", "@SUM(A1)", "\t=1+2", "\r=1+2",
])  # fmt: skip
def test_a_formula_in_a_customer_name_is_not_run_by_a_spreadsheet(
    agent: Client, today: date, hostile: str
) -> None:
    Customer.objects.create(user_id=66, name=hostile, phone="+919800000066")
    add_call("c-hostile", at(today, 9), 60, "resolved_info", user_id=66)

    rows = export(agent, "calls")

    assert rows[1][6] == "'" + hostile and rows[1][7] == "+919800000066"


def test_an_export_needs_a_known_kind_and_staff(agent: Client, guest_client: Client) -> None:
    assert agent.get("/staff/export/orders.csv").status_code == 404
    assert agent.get("/staff/export/calls.csv", {"until": "soon"}).status_code == 400
    assert guest_client.get("/staff/export/calls.csv").status_code == 302


@pytest.mark.parametrize("query, said", [
    ({"since": "2026-03-10", "until": "2026-03-01"}, "The end is before the start."),
    ({"until": "9999-12-31"}, "Ensure this value is less than or equal to 2999-12-31."),
    ({"since": "soon"}, "Enter a valid date."),
])  # fmt: skip
def test_an_export_refused_for_its_dates_says_what_is_wrong_with_them(
    agent: Client, query: dict[str, str], said: str
) -> None:
    response = agent.get("/staff/export/calls.csv", query)

    assert response.status_code == 400
    assert said in response.content.decode()


def test_each_export_needs_the_permission_its_own_pages_need(db: Any) -> None:
    """Tickets hold what callers said: someone who may see calls but not tickets gets the
    calls' export, not the tickets'."""
    calls_only = User.objects.create_user("calls-only", is_staff=True)
    calls_only.user_permissions.set(Permission.objects.filter(
        content_type__app_label="support", codename__in=["view_call", "view_customer"]))
    client = client_for(calls_only)

    assert client.get("/staff/tickets/TKT-AAAAAA/").status_code == 403
    assert client.get("/staff/export/tickets.csv").status_code == 403
    assert client.get("/staff/export/refunds.csv").status_code == 403
    assert client.get("/staff/export/calls.csv").status_code == 200


@pytest.mark.parametrize("codenames, offered", [
    (["view_escalation", "view_customer", "view_refund"], ["refunds", "tickets"]),
    (["view_escalation", "view_customer", "view_call"], ["calls", "tickets"]),
    (["view_escalation", "view_call", "view_refund"], []),  # every export names customers
])  # fmt: skip
def test_the_dashboard_offers_the_exports_its_reader_may_download(
    db: Any, codenames: list[str], offered: list[str]
) -> None:
    reader = User.objects.create_user("reader", is_staff=True)
    reader.user_permissions.set(Permission.objects.filter(
        content_type__app_label="support", codename__in=codenames))  # fmt: skip
    client = client_for(reader)

    body = client.get("/staff/").content.decode()

    linked = [kind for kind in ("calls", "refunds", "tickets")
              if f"/staff/export/{kind}.csv?since=" in body]  # fmt: skip
    assert linked == offered
    for kind in linked:
        assert client.get(f"/staff/export/{kind}.csv").status_code == 200


# --- Charts (pure) ----------------------------------------------------------------------------


def test_bars_scale_to_the_largest_value() -> None:
    chart = bar_chart("t", [("a", 10, "10"), ("b", 5, "5"), ("c", 0, "0")])

    assert [bar.width for bar in chart.bars] == [240, 120, 0]
    assert bar_chart("empty", [("a", 0, "0")]).bars[0].width == 0


@pytest.mark.parametrize("value, top", [(0, 1), (0.3, 0.5), (7, 10), (12, 20), (100, 100),
                                        (240, 250), (4001, 5000)])  # fmt: skip
def test_axes_end_at_a_round_number(value: float, top: float) -> None:
    assert nice_ceiling(value) == top


def test_columns_stack_their_series_up_to_the_axis_top() -> None:
    a, b = Series("a", "A", "chart-1"), Series("b", "B", "chart-2")

    chart = column_chart("t", ["d1", "d2"], [a, b], [{"a": 6, "b": 4}, {"a": 5}])

    first = [s for s in chart.segments if s.title.startswith("d1")]
    assert [s.css for s in first] == ["chart-1", "chart-2"]
    assert first[1].y + first[1].height == first[0].y  # b sits on top of a
    assert chart.y_ticks[-1].text == "10"
    assert "d2: A, 5" in [s.title for s in chart.segments]


def test_the_axes_are_ticked_only_at_values_their_labels_can_say(db: Any, today: date) -> None:
    """A gridline labelled "2" stands at 2 calls, not at 2.5 rounded down; one labelled ₹0.02
    at two paise."""
    for n in range(7):
        add_call(f"quiet-{n}", at(today, 9, n), 60, "resolved_info")
    sync_db().calls.update_one({"call_id": "quiet-0"}, {"$set": {
        "cost": {"currency": "INR", "amount": 8, "by_modality": {}}}})

    board = dashboard(DayRange(today, today))

    assert [t.text for t in board.calls_chart.y_ticks] == ["0", "2", "4", "6", "8", "10"]
    assert [t.text for t in board.cost_chart.y_ticks] == \
        ["₹0", "₹0.02", "₹0.04", "₹0.06", "₹0.08", "₹0.10"]


@pytest.mark.parametrize("most, ticks", [(0, ["0", "1"]), (1, ["0", "1"]), (2, ["0", "1", "2"]),
                                         (12, ["0", "5", "10", "15", "20"])])  # fmt: skip
def test_a_count_axis_has_whole_numbers_only(most: int, ticks: list[str]) -> None:
    chart = column_chart("t", ["d1"], [Series("a", "A", "chart-1")], [{"a": most}])

    assert [t.text for t in chart.y_ticks] == ticks


def test_a_line_breaks_where_a_day_has_no_value() -> None:
    chart = line_chart("t", ["d1", "d2", "d3", "d4"],
                       [(Series("r", "Rate", "chart-1"), [50.0, None, 25.0, 75.0])],
                       fmt=lambda v: f"{v:.0f}%", top=100)  # fmt: skip

    line = chart.lines[0]
    assert len(line.runs) == 2 and len(line.points) == 3
    assert line.points[0].title == "d1: Rate, 50%"


@pytest.mark.parametrize("overdue, labels", [
    (15, ["under 15 min", "15-60 min", "1-4 hours", "4-24 hours", "over a day"]),
    (120, ["under an hour", "1-2 hours", "2-4 hours", "4-24 hours", "over a day"]),
])  # fmt: skip
def test_waiting_times_break_at_the_overdue_age(overdue: int, labels: list[str]) -> None:
    assert [label for label, _, _ in age_buckets(overdue)] == labels


def test_the_overdue_age_is_configurable(activity: None, today: date, settings: Any) -> None:
    settings.QUEUE_OVERDUE_MINUTES = 180

    board = dashboard(day_range(None, None, today))

    assert board.overdue == 0  # the oldest open ticket waited 125 minutes


def test_past_days_are_remembered_and_today_is_always_counted_afresh(
    activity: None, today: date
) -> None:
    days = day_range(None, None, today)
    assert dashboard(days).total.calls == 6

    add_call("c-new-today", at(today, 0, 30), 60, "resolved_info")
    add_call("c-late-entry", at(today - timedelta(days=3), 12), 60, "resolved_info")

    # Today's new call counts at once; a past day's figures are reused for a few minutes.
    assert dashboard(days).total.calls == 7


def test_the_lines_of_a_chart_differ_in_dash_and_marker_not_only_in_colour() -> None:
    """A support lead who does not tell red from blue still tells the agent's share from the
    people's: each line has its own dash and its own marker shape (WCAG 1.4.1)."""
    chart = line_chart("t", ["d1", "d2"],
                       [(Series("a", "A", "chart-1"), [50.0, 60.0]),
                        (Series("b", "B", "chart-5"), [20.0, 10.0]),
                        (Series("c", "C", "chart-3"), [5.0, 1.0])],
                       fmt=lambda v: f"{v:.0f}%", top=100)  # fmt: skip

    assert len({line.dash for line in chart.lines}) == 3
    assert len({line.shape for line in chart.lines}) == 3
    # The points are drawn in their line's shape; the legend's sample shows the same.
    square = chart.lines[1]
    assert square.shape == "square" and square.points[0].mark.endswith("z")
    assert square.key_mark.count("h") == 2 and square.key_mark.count("v") == 1


def test_each_outcome_on_the_calls_chart_has_its_own_hatch(activity: None, today: date,
                                                          agent: Client) -> None:  # fmt: skip
    hatches = [s.hatch for s in OUTCOME_SERIES if s.key != "in_progress"]
    assert len(set(hatches)) == len(hatches)  # one of them solid: ""
    body = agent.get("/staff/").content.decode()

    # Today's escalated call is crosshatched on the chart and in its legend.
    assert body.count('fill="url(#calls-per-day-by-outcome-crosshatch)"') == 2
    assert '<pattern id="calls-per-day-by-outcome-crosshatch"' in body


@pytest.mark.parametrize("paise, said", [
    (0, "₹0"), (2, "₹0.02"), (45_000, "₹450"), (45_00_000, "₹45k"), (2_500_00, "₹2.5k"),
    (12_00_000_00, "₹12 L"), (1_20_00_000_00, "₹1.2 Cr"), (5_00_00_00_000_00, "₹500 Cr"),
    (12_34_56_789_00, "₹12.35 Cr"), (2_000_00_00_000_00, "₹2,000 Cr"), (-45_00_000, "-₹45k"),
])  # fmt: skip
def test_an_axis_says_rupees_in_thousands_lakhs_and_crores(paise: int, said: str) -> None:
    assert axis_inr([paise]) == [said]


@pytest.mark.parametrize("cents, said", [
    (3, "0.03 USD"), (45_000_00, "45k USD"), (1_200_000_00, "1.2M USD"),
    (3_000_000_000_00, "3B USD"),
])  # fmt: skip
def test_an_axis_says_other_currencies_in_thousands_millions_and_billions(
    cents: int, said: str
) -> None:
    assert axis_money([cents], "USD") == [said]


def test_huge_sums_on_an_axis_are_said_short_and_in_full_in_the_tiles_and_table(
    agent: Client, priya: Customer, today: date
) -> None:
    """₹12,34,56,789.00 on the refunds axis ran out of its margin: the axis says "₹10 Cr";
    the tile, the table and each column's tooltip keep the full sum."""
    # Priya's own call (half an hour ago: today, or just before midnight yesterday) has no
    # cost, which a tooltip would add: not this test's.
    sync_db().calls.delete_one({"call_id": "call-priya-1"})
    Refund.objects.create(refund_id="RFD-BIG", order_id="ORD-BIG", customer=priya,
                          amount=12_34_56_789_00, percent=100, tier="Gold",
                          created_at=at(today, 0, 6))  # fmt: skip
    add_call("c-big", at(today, 0, 5), 60, "resolved_info")
    sync_db().calls.update_one({"call_id": "c-big"}, {"$set": {
        "cost": {"currency": "INR", "amount": 5_00_00_00_000_00, "by_modality": {}}}})

    board = dashboard(DayRange(today, today))
    body = agent.get("/staff/").content.decode()

    assert [t.text for t in board.refunds_chart.y_ticks] == \
        ["₹0", "₹5 Cr", "₹10 Cr", "₹15 Cr", "₹20 Cr"]
    assert [t.text for t in board.cost_chart.y_ticks] == \
        ["₹0", "₹100 Cr", "₹200 Cr", "₹300 Cr", "₹400 Cr", "₹500 Cr"]
    assert board.refunds_chart.segments[0].title.endswith("₹12,34,56,789")
    assert board.cost_chart.segments[0].title.endswith("₹5,00,00,00,000.00")
    for full in ("₹12,34,56,789.00", "₹5,00,00,00,000.00"):
        assert f'<p class="big">{full}</p>' in body and f"<td>{full}</td>" in body, full


def test_a_line_is_not_hidden_under_the_next_where_they_meet(
    agent: Client, activity: None, today: date
) -> None:
    """A day of one answered turn has the same p50 and p95: the p95's square was drawn over
    the p50's circle, and the typical turn looked missing. The first line is drawn last, on
    top (its circle inside the square's corners)."""
    answered("c1", [820], 150)
    body = agent.get("/staff/").content.decode()

    label = so_far(today)
    typical = body.index(f"<title>{label}: Typical turn (p50), 0.85 s</title>")
    slow = body.index(f"<title>{label}: Slow turns (p95), 0.85 s</title>")
    assert slow < typical


def test_the_day_charts_share_their_days_positions(
    priya: Customer, activity: None, today: date
) -> None:
    """One chart's y-axis needs room for "₹500 Cr", another's for "25": a day still stands at
    the same place across the page's charts, one above the other, and is named alike."""
    Refund.objects.create(refund_id="RFD-BIG", order_id="ORD-BIG", customer=priya,
                          amount=5_00_00_00_000_00, percent=100, tier="Gold",
                          created_at=at(today, 0, 6))  # fmt: skip

    board = dashboard(day_range(None, None, today))

    columns = [board.calls_chart, board.refunds_chart, board.cost_chart]
    lines = [board.rates_chart, board.handle_chart, board.wait_chart]
    assert len({chart.left for chart in columns} | {chart.left for chart in lines}) == 1
    assert len({tuple(c.x_ticks) for c in columns} | {tuple(c.x_ticks) for c in lines}) == 1


@pytest.mark.parametrize("days", [7, 29, 30, 31, 90, 200, 366])
def test_the_last_day_is_named_on_the_x_axis_of_every_chart_at_any_width(
    db: Any, today: date, days: int
) -> None:
    """The x-axis named every few days counting from the first, and the last day (today, the
    one a lead looks at most) was often left unnamed; it is named, on a phone too (over a
    long range, the last week: by its Monday)."""
    board = dashboard(DayRange(today - timedelta(days=days - 1), today))

    last = board.periods[-1].tick
    for chart in (board.calls_chart, board.refunds_chart, board.cost_chart, board.rates_chart,
                  board.handle_chart, board.wait_chart):  # fmt: skip
        assert (chart.x_ticks[-1].text, chart.x_ticks[-1].wide_only) == (last, False), days


@pytest.mark.parametrize("refunded, ticks", [
    (2_50, ["₹0", "₹0.50", "₹1.00", "₹1.50", "₹2.00", "₹2.50"]),
    (9_000_00, ["₹0", "₹2.5k", "₹5.0k", "₹7.5k", "₹10.0k"]),
    (1_50_00_000_00, ["₹0", "₹50 L", "₹100 L", "₹150 L", "₹200 L"]),
    (5_00_00_00_000_00, ["₹0", "₹100 Cr", "₹200 Cr", "₹300 Cr", "₹400 Cr", "₹500 Cr"]),
])  # fmt: skip
def test_the_ticks_of_a_money_axis_share_one_unit_and_number_of_decimals(
    priya: Customer, today: date, refunded: int, ticks: list[str]
) -> None:
    """An axis read "₹1.50, ₹2, ₹2.50" and "₹50 L, ₹1 Cr, ₹1.5 Cr": its ticks are now said
    alike, in the unit of its first step and with as many decimals as the one that needs most."""
    Refund.objects.create(refund_id="RFD-1", order_id="ORD-3001", customer=priya,
                          amount=refunded, percent=100, tier="Gold",
                          created_at=at(today, 0, 6))  # fmt: skip

    board = dashboard(DayRange(today, today))

    assert [t.text for t in board.refunds_chart.y_ticks] == ticks


def test_an_axis_in_another_currency_says_its_ticks_alike_too() -> None:
    assert axis_money([0, 50, 100, 150], "USD") == ["0 USD", "0.50 USD", "1.00 USD", "1.50 USD"]
    assert axis_money([0, 2_500_00, 5_000_00], "USD") == ["0 USD", "2.5k USD", "5.0k USD"]


@pytest.mark.parametrize("seconds, said", [
    ([0, 0.25, 0.5, 0.75, 1], ["0 s", "0.25 s", "0.50 s", "0.75 s", "1.00 s"]),
    ([0, 1.5, 3, 4.5, 6], ["0 s", "1.5 s", "3.0 s", "4.5 s", "6.0 s"]),
    ([0, 2.5, 5, 7.5, 10], ["0 s", "2.5 s", "5.0 s", "7.5 s", "10.0 s"]),
    ([0, 5, 10, 15, 20], ["0 s", "5 s", "10 s", "15 s", "20 s"]),
    ([0, 250, 500, 750, 1000], ["0 s", "250 s", "500 s", "750 s", "1,000 s"]),
])  # fmt: skip
def test_an_axis_says_its_seconds_with_the_decimals_its_step_needs(
    seconds: list[float], said: list[str]
) -> None:
    assert axis_seconds(seconds) == said


def test_the_ticks_of_a_seconds_axis_share_one_number_of_decimals(db: Any, today: date) -> None:
    """The answer-time axes read "0.25 s, 0.5 s, 0.75 s, 1 s", on the dashboard and on a
    call's page: every tick now has the decimals of the one that needs most."""
    add_call("c-quick", at(today, 9), 60, "resolved_info")
    answered("c-quick", [400, 610], 150)

    board = dashboard(DayRange(today, today))
    call = turn_chart("t", [("0:02", 0.82, 0.3)])

    quarters = ["0 s", "0.25 s", "0.50 s", "0.75 s", "1.00 s"]
    assert [t.text for t in board.wait_chart.y_ticks] == quarters
    assert [t.text for t in call.y_ticks] == quarters
