"""What `/staff/callbacks/` shows: every callback from today on (and scheduled ones whose day
has passed, still to be closed), grouped by the customer's local day, earliest first, a page
(PAGE_SIZE callbacks) at a time as the other staff lists are (support/staff/queries.py).

`group` is pure (callbacks, names, the calls customers answered and a clock in, rows out);
`board` reads the database. `of_ticket` is a ticket's callbacks, as its page shows them;
`statuses` their status alone, as the admin's list shows it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from callbacks import desk
from callbacks.models import Callback, CallbackStatus
from callbacks.slots import SLOT_LENGTH, Hours, local_date, say_day
from support.models import Customer
from support.mongo import sync_db
from support.staff.labels import phone_label
from support.staff.people import staff_names
from support.staff.queries import PAGE_SIZE, Page, page_of

SCHEDULED = CallbackStatus.SCHEDULED
# A scheduled callback nobody holds, in the assignee column at a desk and beside the status on
# a phone (where that column is not shown): one wording for both.
NOT_CLAIMED = "not claimed yet"
# The board's order, a total one so that pages neither repeat nor skip a callback: slots
# share a start (seats), and closed callbacks share seats too.
ORDER = ("slot_start", "seat", "callback_id")


@dataclass(frozen=True)
class Row:
    callback: Callback
    name: str  # the customer's name, or "" if their record is gone
    time: str  # "10:30–11:00", local
    day: str  # "Wed 2 Dec" for an overdue one (they are of several days), else ""
    status: str  # "Scheduled", "Due now", "Late", "Dialled at 10:31", "Done", ...
    tone: str  # the status's colour on the page: scheduled, due, late, dialled, done, ...
    phone: str  # "+91 98000 00101"
    can_claim: bool  # scheduled and nobody holds it: claim it (or call, which claims it)
    can_work: bool  # scheduled and held by the viewer: call, mark done (missed: see below)
    held_by_other: bool  # scheduled and held by a colleague: release it (desk.release)
    assignee_name: str = ""  # who holds or closed it, as colleagues know them
    begun: bool = False  # its slot has begun: only then can it be marked missed
    # Scheduled and dialled: its status opens the calling page, where the call the customer
    # answered opens (for the dialler who left that page before they picked up).
    dialled: bool = False
    # The customer's number is the one the demo made up (desk.made_up_numbers): "Call now"
    # would be refused, so the row says why in its place.
    demo_number: bool = False

    @property
    def held(self) -> str:
        """Who holds it, or who closed it, as said beside its status: "held by Meera", "not
        claimed yet", "by the customer" (cancelled), "by Meera" (done or missed)."""
        callback = self.callback
        if callback.status == SCHEDULED:
            return f"held by {self.assignee_name}" if callback.assignee else NOT_CLAIMED
        if callback.status == CallbackStatus.CANCELLED:
            return "by the customer"
        return f"by {self.assignee_name}" if callback.assignee else ""


@dataclass(frozen=True)
class Day:
    heading: str  # "Overdue", "Today, Thursday 3 December", "Monday 7 December"
    overdue: bool
    rows: list[Row]
    total: int = 0  # the day's callbacks on every page (0: those in `rows`)

    @property
    def count(self) -> int:
        return self.total or len(self.rows)


@dataclass(frozen=True)
class Board:
    days: list[Day]  # this page's
    page: Page[Callback]

    @property
    def demo_numbers(self) -> bool:
        """Whether a row on this page has the demo's made-up number (the page says why those
        rows offer no "Call now")."""
        return any(row.demo_number for day in self.days for row in day.rows)


class Listed:
    """The board's callbacks in its order, overdue ones first, sliced a page at a time
    (queries.page_of); a slice reads only the rows it holds."""

    def __init__(self, now: datetime, hours: Hours) -> None:
        today = local_date(now, hours.zone)
        until = _start_of(today + timedelta(days=hours.days_ahead + 1), hours)
        since = _start_of(today, hours)
        self.overdue = Callback.objects.filter(status=SCHEDULED, slot_start__lt=since)
        self.coming = Callback.objects.filter(slot_start__gte=since, slot_start__lt=until)

    def __getitem__(self, window: slice) -> list[Callback]:
        start, stop = window.start or 0, window.stop
        overdue = list(self.overdue.order_by(*ORDER)[start:stop])
        if stop is not None and len(overdue) == stop - start:
            return overdue
        # The rest from the coming ones: from their first if this window holds overdue ones,
        # else from as far as the window's start is past the last overdue one.
        skip = 0 if overdue else start - self.overdue.count()
        coming = self.coming.order_by(*ORDER)
        if stop is None:
            return [*overdue, *coming[skip:]]
        return [*overdue, *coming[skip : skip + stop - start - len(overdue)]]

    def on_day(self, day: Day, hours: Hours) -> int:
        """How many callbacks `day` holds on every page."""
        if day.overdue:
            return self.overdue.count()
        local = local_date(day.rows[0].callback.slot_start, hours.zone)
        since, until = _start_of(local, hours), _start_of(local + timedelta(days=1), hours)
        return self.coming.filter(slot_start__gte=since, slot_start__lt=until).count()


def board(now: datetime, username: str, hours: Hours, number: int = 1) -> Board:
    """Page `number` of the board for `username` at `now`. The days at the page's edges,
    which may go on over them, say how many callbacks they hold on every page."""
    listed = Listed(now, hours)
    page = page_of(listed, number, PAGE_SIZE)
    ids = {callback.customer_id for callback in page.rows}
    names = dict(Customer.objects.filter(user_id__in=ids).values_list("user_id", "name"))
    days = group(page.rows, names, now, username, hours, staff_names(), answered_calls(page.rows),
                 desk.made_up_numbers(ids))  # fmt: skip
    edges = {n for n, at_edge in ((0, page.has_previous), (len(days) - 1, page.has_next))
             if at_edge}  # fmt: skip
    days = [replace(day, total=listed.on_day(day, hours)) if n in edges else day
            for n, day in enumerate(days)]  # fmt: skip
    return Board(days, page)


@dataclass(frozen=True)
class Booked:
    """A callback as a ticket's page shows it: "Mon 7 Dec, 14:00–14:30", its status, who."""

    callback_id: str
    when: str  # local, with the day
    status: str
    assignee: str  # as colleagues know them


def of_ticket(ticket_id: str, now: datetime, hours: Hours) -> list[Booked]:
    """The callbacks booked for ticket `ticket_id` (in the call of its escalation, when
    nobody could join in time), earliest first."""
    booked = []
    staff = staff_names()
    callbacks = list(Callback.objects.filter(ticket_id=ticket_id).order_by("slot_start"))
    answered = answered_calls(callbacks)
    for callback in callbacks:
        row = _row(callback, {}, now, "", hours, staff, answered, dated=True)
        booked.append(Booked(callback.callback_id, f"{row.day}, {row.time}", row.status,
                             row.assignee_name))  # fmt: skip
    return booked


def statuses(callbacks: Collection[Callback], now: datetime, hours: Hours) -> dict[str, str]:
    """Each of `callbacks`' status as the board shows it ("Late", "No answer at 10:31",
    "Done", ...), by callback id, for the admin's list: one read of the calls for them all."""
    answered = answered_calls(callbacks)
    return {c.callback_id: _status(c, now, hours, answered)[0] for c in callbacks}


def answered_calls(callbacks: Iterable[Callback]) -> dict[str, datetime | None]:
    """When each call that customers answered on a dial of a still scheduled one of
    `callbacks` ended (None: it is going on), by call id; the input of `group`."""
    ids = [c.answered_call_id for c in callbacks if c.status == SCHEDULED and c.answered_call_id]
    if not ids:
        return {}
    found = sync_db().calls.find({"call_id": {"$in": ids}}, {"_id": 0, "call_id": 1,
                                                              "ended_at": 1})  # fmt: skip
    return {doc["call_id"]: doc.get("ended_at") for doc in found}


def group(
    callbacks: Iterable[Callback],
    names: Mapping[int, str],
    now: datetime,
    username: str,
    hours: Hours,
    staff: Mapping[str, str] | None = None,
    answered: Mapping[str, datetime | None] | None = None,
    demo_numbers: Collection[int] = frozenset(),
) -> list[Day]:
    """`callbacks` (earliest first) as days: "Overdue" first for scheduled ones of past days.
    `staff`: staff_names(), for who holds each one; `answered`: answered_calls(callbacks),
    for whether a customer who picked up is on the call still; `demo_numbers`:
    desk.made_up_numbers, the customers whose number is not to be dialled."""
    today = local_date(now, hours.zone)
    days: dict[date | None, list[Row]] = {}
    for callback in callbacks:
        day = local_date(callback.slot_start, hours.zone)
        key = None if day < today else day
        days.setdefault(key, []).append(
            _row(callback, names, now, username, hours, staff, answered, dated=key is None,
                 demo_number=callback.customer_id in demo_numbers)
        )
    return [
        Day("Overdue" if day is None else _capitalised(say_day(day, today)), day is None, rows)
        for day, rows in sorted(days.items(), key=lambda item: item[0] or date.min)
    ]


def _row(
    callback: Callback,
    names: Mapping[int, str],
    now: datetime,
    username: str,
    hours: Hours,
    staff: Mapping[str, str] | None = None,
    answered: Mapping[str, datetime | None] | None = None,
    *,
    dated: bool = False,
    demo_number: bool = False,
) -> Row:
    """`dated`: the row's time says its day too (the overdue ones are of several days)."""
    start = callback.slot_start.astimezone(hours.zone)
    end = start + SLOT_LENGTH
    day = f"{start:%a} {start.day} {start:%b}" if dated else ""
    open_ = callback.status == SCHEDULED
    status, tone = _status(callback, now, hours, answered or {})
    return Row(
        callback=callback,
        name=names.get(callback.customer_id, ""),
        time=f"{start:%H:%M}–{end:%H:%M}",
        day=day,
        status=status,
        tone=tone,
        phone=phone_label(callback.phone),
        can_claim=open_ and not callback.assignee,
        can_work=open_ and callback.assignee == username,
        held_by_other=open_ and callback.assignee not in (None, "", username),
        assignee_name=(staff or {}).get(callback.assignee or "", callback.assignee or ""),
        begun=callback.slot_start <= now,
        dialled=open_ and callback.dialled_at is not None,
        demo_number=demo_number,
    )


# "Did not go through" as the calling page heads it: the dial never reached the customer's
# phone ("Not put through": it did, they picked up, and were not connected to the dialler).
DIALLING_WORDS = {desk.LINE_BUSY: "Line busy", desk.NOT_CONNECTED: "Did not go through",
                  desk.NOT_PUT_THROUGH: "Not put through", desk.NO_ANSWER: "No answer"}  # fmt: skip


def dial_ended_words(dial_status: str) -> str | None:
    """How Twilio said a dial no call of ours answered ended (callbacks/dial_ended.py), in a few
    words, or None when it has not said."""
    return DIALLING_WORDS.get(desk.DIAL_ENDED.get(dial_status, ""))


def _status(
    callback: Callback, now: datetime, hours: Hours, answered: Mapping[str, datetime | None]
) -> tuple[str, str]:
    """The status as shown, and its tone. A dialled one says where its latest dial stands, as
    its calling page does (desk.dialling): ringing, answered, or how it ended unanswered."""
    if callback.status != SCHEDULED:
        return CallbackStatus(callback.status).label, callback.status
    if callback.dialled_at is not None:
        call_id = callback.answered_call_id
        ended_at = answered.get(call_id)
        state = desk.dialling(callback, call_id in answered and ended_at is None, now)
        if state == desk.ANSWERED:
            return "On the call", "on-call"
        if state == desk.CALL_OVER:
            over = f" at {ended_at.astimezone(hours.zone):%H:%M}" if ended_at else ""
            return f"Call over{over}", "dialled"
        how = DIALLING_WORDS.get(state, "Dialled")
        return f"{how} at {callback.dialled_at.astimezone(hours.zone):%H:%M}", "dialled"
    if callback.slot_start + SLOT_LENGTH <= now:
        return "Late", "late"
    if callback.slot_start <= now:
        return "Due now", "due"
    return "Scheduled", "scheduled"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _start_of(day: date, hours: Hours) -> datetime:
    return datetime.combine(day, time(0), tzinfo=hours.zone).astimezone(UTC)
