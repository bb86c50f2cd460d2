"""A month of support calls for the demo: pure generation, no I/O (seed_demo writes them).

About two hundred calls over the last `CALL_DAYS` days between 09:00 and 23:00 in the support
time zone (`SUPPORT_TIME_ZONE`, contract sections 1 and 9: the customers' local time), web and
phone, each with a transcript, the agent's tool calls (with results shaped as
support/tools returns them), token usage and an `outcome` (contract section 10), in the
proportions of a working desk: most callers get an answer, one in ten gets a refund, some
file a complaint, some are escalated to a person, a few hang up or get a callback.
Callbacks keep the rules of callbacks/slots.py (no Sundays, support hours, one a slot here,
one a day per customer), and a few were booked in the last hours for the hours to come
(`LIVE_CALLBACKS`), so the callbacks board has work on it whenever the demo is seeded.
Staff worked the older tickets in support hours (`DESK_HOURS`), not in the night. Every hour
of the day here is the support time zone's (`Local`).

Calls about an order follow that order's life: "where is it?" while it is on its way; a
problem soon after delivery (refunded inside the two-hour window, or filed as a complaint,
or escalated); a problem hours later (the refund refused as outside the window). The orders
refunded in a call carry that refund (`refunds` below), so wallets, refunds, tickets,
complaints and calls all agree.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from callbacks.slots import Hours, local_iso, say_when, slot_starts
from support.escalations import AGENT_UNAVAILABLE, lost_model_reason
from support.ids import ALPHABET, LENGTH
from support.importer import OrderRecord, RefundRecord
from support.money import percent_of, rupees
from support.policy import REFUND_WINDOW

Document = dict[str, Any]

CALL_DAYS = 30
OTHER_CALLS = 170  # calls not about one recent order: profile, history, callbacks, …
OPEN_HOURS = (9, 23)  # local hours calls come in
STAFF = "support"  # the demo's staff login, who worked the older tickets
WORDS_PER_SECOND = 2.2  # how fast people speak, for the turn times
EVENING = dt.time(18, 30)  # the slot a caller asking for "tomorrow evening" is given
# Callbacks booked in the last hours, still to come (user_id, minutes since the call, who
# holds it, what the caller said, the callback's reason): the board has something to claim
# and something already held.
LIVE_CALLBACKS: tuple[tuple[int, int, str | None, str, str], ...] = (
    (14, 35, None, "I can't talk long now. Can someone call me back about my refund?",
     "Wants to go over a refund that was refused"),
    (6, 80, STAFF, "My last order was missing a dish. Can a person call me back later?",
     "A dish missing from the last order; wants to talk it through"),
    (19, 140, None, "I need to change the phone number on my account. Can you call me back?",
     "Wants to change the phone number on the account"),
)
LIVE_CALLBACK_LEAD = dt.timedelta(hours=2)  # the earliest a live callback is booked for
DESK_HOURS = (dt.time(9, 0), dt.time(21, 0))  # local hours staff work tickets and call back
CALL_HOURS = (dt.time(OPEN_HOURS[0]), dt.time(OPEN_HOURS[1]))  # OPEN_HOURS as times


def _call_id(rng: random.Random) -> str:
    return "CALL-" + "".join(rng.choice("0123456789abcdef") for _ in range(16))


@dataclass(frozen=True)
class Local:
    """The demo's hours in `zone`, the support time zone (its customers' and staff's clock):
    when calls come in (OPEN_HOURS), when staff work (DESK_HOURS), and the callbacks' week."""

    zone: ZoneInfo

    @property
    def callbacks(self) -> Hours:
        """The callbacks' week (callbacks/slots.py) with one booking a slot: the demo's
        callbacks then fit any CALLBACK_SLOT_CAPACITY, each in seat 1."""
        return Hours(zone=self.zone, capacity=1)

    def _within(self, moment: dt.datetime, hours: tuple[dt.time, dt.time]) -> bool:
        opens, closes = hours
        return opens <= moment.astimezone(self.zone).time() < closes

    def _next_within(self, moment: dt.datetime, hours: tuple[dt.time, dt.time]) -> dt.datetime:
        """`moment`, or, outside `hours` (local), the same minute past the next opening."""
        if self._within(moment, hours):
            return moment
        local = moment.astimezone(self.zone)
        opens, closes = hours
        day = local.date() + dt.timedelta(days=int(local.time() >= closes))
        return dt.datetime.combine(day, opens.replace(minute=local.minute, second=local.second),
                                   tzinfo=self.zone).astimezone(dt.UTC)  # fmt: skip

    def on_desk(self, moment: dt.datetime) -> dt.datetime:
        """`moment`, or the next moment in DESK_HOURS: staff do not resolve tickets or ring
        customers in the night."""
        return self._next_within(moment, DESK_HOURS)

    def is_open(self, moment: dt.datetime) -> bool:
        """Whether calls come in at `moment` (OPEN_HOURS, local)."""
        return self._within(moment, CALL_HOURS)

    def next_open(self, moment: dt.datetime) -> dt.datetime:
        """`moment`, or the next moment in OPEN_HOURS: a customer with a problem noticed in
        the night calls in the morning."""
        return self._next_within(moment, CALL_HOURS)

    def last_open(self, moment: dt.datetime, before: dt.timedelta) -> dt.datetime:
        """`before` ahead of `moment`, or, when that falls outside OPEN_HOURS, `before` ahead
        of the last closing: the demo's "minutes ago" calls, seeded in the night, came in the
        evening."""
        at = moment - before
        if self.is_open(at):
            return at
        local = moment.astimezone(self.zone)
        day = local.date() - dt.timedelta(days=int(local.hour < OPEN_HOURS[1]))
        closed = dt.datetime.combine(day, dt.time(OPEN_HOURS[1]), tzinfo=self.zone)
        return closed.astimezone(dt.UTC) - before

    def date(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.zone).date()


def demo_id(rng: random.Random, prefix: str) -> str:
    """An id in the shape support/ids.py gives (`TKT-4HX9PM`), drawn from the demo's seed."""
    return prefix + "-" + "".join(rng.choice(ALPHABET) for _ in range(LENGTH))


@dataclass
class Call:
    """One call being written: turns and tool calls at seconds from its start."""

    rng: random.Random
    call_id: str
    user_id: int | None
    channel: str
    started_at: dt.datetime
    clock: float = 0.0
    transcript: list[Document] = field(default_factory=list)
    tool_calls: list[Document] = field(default_factory=list)
    agent_words: int = 0
    caller_words: int = 0
    turns: list[Document] = field(default_factory=list)
    _speech_end: float | None = None  # when the customer last stopped, awaiting an answer
    _tools_ms: int = 0  # tool time since then

    def _at(self) -> dt.datetime:
        return self.started_at + dt.timedelta(seconds=round(self.clock, 1))

    def say(self, role: str, text: str) -> Call:
        self.clock += self.rng.uniform(0.8, 2.6)
        self.transcript.append({"role": role, "text": text, "at": self._at()})
        words = len(text.split())
        if role == "agent" and self._speech_end is not None:
            self._turn_answered()
        self.clock += words / WORDS_PER_SECOND
        if role == "agent":
            self.agent_words += words
        else:
            self.caller_words += words
            self._speech_end, self._tools_ms = self.clock, 0
        return self

    def _turn_answered(self) -> None:
        """A turn as postcall's tracker stores it: from the end of the customer's speech to
        the agent's first audio (the pause before the agent's line, with any tools in it)."""
        assert self._speech_end is not None
        self.turns.append({
            "at": self.started_at + dt.timedelta(seconds=round(self._speech_end, 3)),
            "user_ms": 0, "first_audio_ms": round((self.clock - self._speech_end) * 1000),
            "tools_ms": self._tools_ms, "source": "detector",
        })  # fmt: skip
        self._speech_end = None

    def caller(self, text: str) -> Call:
        return self.say("user", text)

    def agent(self, text: str) -> Call:
        return self.say("agent", text)

    def tool(self, name: str, args: Document, result: Document) -> Call:
        self.clock += self.rng.uniform(0.3, 0.9)
        ms = self.rng.randint(9, 140)
        self.tool_calls.append({
            "name": name, "args": args, "result": result, "ok": bool(result.get("ok")),
            "started_at": self._at(), "ms": ms, "call_ids": [f"fc-{len(self.tool_calls) + 1}"],
            "cancelled": [],
        })  # fmt: skip
        self.clock += ms / 1000
        self._tools_ms += ms
        return self

    def document(self, outcome: str, end_reason: str = "caller_hung_up") -> Document:
        if end_reason == "caller_hung_up" and self.rng.random() < 0.8:
            self.agent("Is there anything else I can help you with?")
            self.caller(self.rng.choice(("No, that's all. Thanks!", "No, thank you.",
                                         "That's it, bye.")))  # fmt: skip
        self.clock += self.rng.uniform(1.0, 4.0)
        duration = round(self.clock, 1)
        audio_in = int(duration * 25)
        text_in = 900 + 40 * len(self.tool_calls)
        response = int(self.agent_words * 1.6) + 20
        return {
            "call_id": self.call_id, "user_id": self.user_id, "channel": self.channel,
            "started_at": self.started_at,
            "ended_at": self.started_at + dt.timedelta(seconds=duration),
            "end_reason": end_reason, "outcome": outcome, "duration_s": duration,
            "transcript": self.transcript, "tool_calls": self.tool_calls,
            "turns": self.turns,
            # Summed as the call record sums usageMetadata (postcall/cost.py modality_counts).
            "usage": {
                "prompt_token_count": audio_in + text_in, "response_token_count": response,
                "total_token_count": audio_in + text_in + response,
                "prompt_audio_token_count": audio_in, "prompt_text_token_count": text_in,
                "response_audio_token_count": response,
            },
        }  # fmt: skip


@dataclass
class History:
    calls: list[Document] = field(default_factory=list)
    refunds: dict[str, RefundRecord] = field(default_factory=dict)  # by order id
    refund_calls: dict[str, str] = field(default_factory=dict)  # refund id -> call id
    complaints: list[Document] = field(default_factory=list)
    tickets: list[Document] = field(default_factory=list)
    callbacks: list[Document] = field(default_factory=list)

    def apply(self, orders: Sequence[OrderRecord]) -> list[OrderRecord]:
        """The orders with the refunds these calls made."""
        return [
            replace(o, status="refunded", refund=self.refunds[o.order_id])
            if o.order_id in self.refunds else o
            for o in orders
        ]


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat(timespec="minutes") if moment else None


def _order_result(order: OrderRecord, at: dt.datetime, status: str | None = None) -> Document:
    """get_order_details' answer about `order` as it stood at `at`."""
    status = status or order.status
    delivered = order.delivered_at if status == "delivered" else None
    hours = round((at - delivered).total_seconds() / 3600, 2) if delivered else None
    inside = delivered is not None and at - delivered <= REFUND_WINDOW
    result: Document = {
        "ok": True, "order_id": order.order_id, "restaurant": order.restaurant,
        "status": status, "amount": rupees(order.amount), "placed_at": _iso(order.placed_at),
        "delivered_at": _iso(delivered), "refund_eligible": inside,
        "items": [{"name": i.name, "qty": i.qty, "price": rupees(i.price)} for i in order.items],
        "hours_since_delivery": hours, "inside_refund_window": inside, "refund": None,
    }  # fmt: skip
    if not inside:
        result["refund_refusal"] = "outside_window" if delivered else "not_delivered"
    return result


PROBLEMS = (
    ("The food arrived cold.", "Food arrived cold", "food_quality"),
    ("One of the items is missing from my order.", "Items missing from the order",
     "missing_items"),
    ("The curry spilled all over the bag.", "Food was spilled in the bag", "food_quality"),
    ("I got a completely different dish.", "Wrong dish delivered", "wrong_order"),
    ("It came almost an hour late and it's soggy.", "Delivered very late", "late_delivery"),
)  # fmt: skip
ESCALATIONS = (
    ("There were peanuts in a dish marked nut-free and I'm allergic.", "urgent",
     "Found peanuts in a dish marked nut-free; customer has a nut allergy."),
    ("This is the third bad order this month, I want to talk to a manager.", "high",
     "Third bad order this month; wants to speak to a manager."),
    ("There was a hair in the food. I want this looked into properly.", "high",
     "Hair found in the food; wants the restaurant investigated."),
    ("The rider was really rude to me at the door.", "normal",
     "Rider was rude at the door; customer wants it followed up."),
)  # fmt: skip
OTHER_REASONS = (
    ("I was charged twice for one order.", "high", "Charged twice for one order."),
    ("I can't log in to the app with my new number.", "normal",
     "Cannot log in with a new phone number; needs the account updated."),
    ("I'd like to close my account.", "low", "Wants to close their account."),
)  # fmt: skip


# How long into the call that raised it a complaint or ticket set out by hand is filed, about.
RAISED_AFTER = dt.timedelta(seconds=40)


@dataclass(frozen=True)
class Raised:
    """A complaint or ticket the demo sets out itself (its id, when it was filed, where it
    stands), and what the caller said: raised_in_calls writes the call that filed it."""

    record: Document  # as the collection holds it; its `created_at` in OPEN_HOURS
    words: str
    order: OrderRecord | None = None


class Writer:
    """Writes the month of calls; one instance per demo build."""

    def __init__(self, rng: random.Random, now: dt.datetime, local: Local,
                 names: dict[int, str], tiers: dict[int, tuple[str, int]],
                 phones: dict[int, str]) -> None:  # fmt: skip
        self.rng = rng
        self.now = now
        self.local = local
        self.names = names
        self.tiers = tiers  # user id -> (tier name, percent)
        self.phones = phones
        self.history = History()
        self._slots_taken: set[dt.datetime] = set()  # one callback a slot (Local.callbacks)
        self._days_taken: set[tuple[int, dt.date]] = set()  # one a day per customer

    def _call(self, user_id: int | None, at: dt.datetime, call_id: str | None = None) -> Call:
        call_id = call_id or _call_id(self.rng)
        channel = "phone" if user_id is None or self.rng.random() < 0.4 else "web"
        return Call(self.rng, call_id, user_id, channel, at)

    def _first(self, user_id: int | None) -> str:
        return self.names[user_id].split()[0] if user_id is not None else ""

    def _greet(self, call: Call) -> None:
        first = self._first(call.user_id)
        call.agent(f"Hi {first}, thanks for calling. How can I help you today?" if first
                   else "Hello, thanks for calling. How can I help you today?")  # fmt: skip

    # --- calls about one order ----------------------------------------------------------------

    def where_is_it(self, order: OrderRecord) -> None:
        assert order.delivered_at is not None
        at = order.placed_at + dt.timedelta(minutes=self.rng.randint(12, 30))
        if at >= order.delivered_at - dt.timedelta(minutes=5) or not self.local.is_open(at):
            return
        call = self._call(order.user_id, at)
        self._greet(call)
        call.caller(f"I ordered from {order.restaurant} a while ago. Where is my food?")
        status = "out_for_delivery" if self.rng.random() < 0.7 else "preparing"
        call.tool("get_order_details", {"order_id": order.order_id},
                  _order_result(order, at, status))  # fmt: skip
        eta = max(5, int((order.delivered_at - at).total_seconds() // 60))
        words = "is on its way" if status == "out_for_delivery" else "is being prepared"
        call.agent(f"Your order {order.order_id} {words}; it should reach you in about "
                   f"{eta} minutes.")  # fmt: skip
        call.caller("Okay, great, thanks.")
        call.agent("You're welcome. Enjoy your meal!")
        self.history.calls.append(call.document("resolved_info"))

    def soon_after(self, order: OrderRecord) -> None:
        """A problem within the refund window: refunded, filed, or escalated."""
        assert order.delivered_at is not None
        at = order.delivered_at + dt.timedelta(minutes=self.rng.randint(10, 95))
        # One past closing would be the next morning: outside the refund window.
        if at >= self.now or not self.local.is_open(at):
            return
        call = self._call(order.user_id, at)
        self._greet(call)
        roll = self.rng.random()
        if roll < 0.6:
            self._refund(call, order, at)
        elif roll < 0.8:
            self._complaint(call, order, self.rng.choice(PROBLEMS))
        else:
            self._escalate(call, order, self.rng.choice(ESCALATIONS))

    def hours_later(self, order: OrderRecord) -> None:
        """A problem raised after the window: the refund is refused, then something else."""
        assert order.delivered_at is not None
        at = self.local.next_open(order.delivered_at
                                  + dt.timedelta(hours=self.rng.uniform(3, 20)))
        if at >= self.now:
            return
        call = self._call(order.user_id, at)
        self._greet(call)
        words, _, category = self.rng.choice(PROBLEMS)
        call.caller(f"About yesterday's order from {order.restaurant}. {words} "
                    "Can I get a refund?")  # fmt: skip
        call.tool("get_order_details", {"order_id": order.order_id}, _order_result(order, at))
        call.tool("initiate_refund", {"order_id": order.order_id, "reason": words}, {
            "ok": False, "reason": "outside_window",
            "message": "Refunds are only possible within 2 hours of delivery, and that order "
                       "was delivered longer ago than that.",
        })  # fmt: skip
        call.agent("I'm sorry, refunds are only possible within two hours of delivery, and "
                   "this order was delivered longer ago than that.")  # fmt: skip
        roll = self.rng.random()
        if roll < 0.5:
            self._complaint(call, order, (words, words, category), greeted=True)
        elif roll < 0.8:
            self._escalate(call, order, ESCALATIONS[1], greeted=True)
        else:
            call.caller("Okay, I understand.")
            call.agent("Thanks for understanding. Is there anything else?")
            call.caller("No, that's it.")
            self.history.calls.append(call.document("resolved_info"))

    def _refund(self, call: Call, order: OrderRecord, at: dt.datetime) -> None:
        words, reason, _ = self.rng.choice(PROBLEMS)
        assert order.delivered_at is not None
        call.caller(f"My order from {order.restaurant} just came. {words}")
        looked_up = call._at()
        call.tool("get_order_details", {"order_id": order.order_id},
                  _order_result(order, looked_up))  # fmt: skip
        minutes = int((looked_up - order.delivered_at).total_seconds() // 60)
        call.agent(f"I'm sorry about that. I can see order {order.order_id}, delivered "
                   f"{minutes} minutes ago. Let me refund it for you.")  # fmt: skip
        tier, percent = self.tiers[order.user_id]
        amount = percent_of(order.amount, percent)
        refund_id = demo_id(self.rng, "RFD")
        call.tool("initiate_refund", {"order_id": order.order_id, "reason": reason}, {
            "ok": True, "refund_id": refund_id, "order_id": order.order_id,
            "amount": rupees(amount), "percent": percent, "tier": tier,
            "wallet_balance": rupees(amount),
        })  # fmt: skip
        call.agent(f"Done: ₹{rupees(amount)} is back in your wallet. That's {percent} percent, "
                   f"as a {tier} customer.")  # fmt: skip
        call.caller("Thank you, that's helpful.")
        self.history.refunds[order.order_id] = RefundRecord(
            amount=amount, percent=percent, refund_id=refund_id, at=call._at(), tier=tier,
            reason=reason,
        )
        self.history.refund_calls[refund_id] = call.call_id
        self.history.calls.append(call.document("resolved_refund"))

    def _complaint(self, call: Call, order: OrderRecord | None,
                   problem: tuple[str, str, str], greeted: bool = False) -> None:  # fmt: skip
        words, reason, category = problem
        if not greeted:
            about = f" from {order.restaurant}" if order else ""
            call.caller(f"I want to make a complaint about my order{about}. {words}")
        complaint_id = demo_id(self.rng, "CMP")
        args: Document = {"category": category, "description": reason}
        if order is not None:
            args["order_id"] = order.order_id
        call.tool("file_complaint", args,
                  {"ok": True, "complaint_id": complaint_id, "status": "open"})  # fmt: skip
        call.agent(f"I've filed that as complaint {complaint_id}; the team will look into it.")
        call.caller("Thanks.")
        age = self.now - call.started_at
        status = ("resolved" if age > dt.timedelta(days=5)
                  else "in_review" if age > dt.timedelta(days=1) else "open")  # fmt: skip
        self.history.complaints.append({
            "complaint_id": complaint_id, "user_id": call.user_id,
            "order_id": order.order_id if order else None, "category": category,
            "description": reason, "status": status, "call_id": call.call_id,
            "created_at": call._at(),
        })  # fmt: skip
        self.history.calls.append(call.document("complaint_filed"))

    def _escalate(self, call: Call, order: OrderRecord | None,
                  escalation: tuple[str, str, str], greeted: bool = False,
                  outcome: str = "escalated") -> None:  # fmt: skip
        words, priority, reason = escalation
        if not greeted:
            call.caller(words)
        ticket_id = demo_id(self.rng, "TKT")
        args: Document = {"reason": reason, "priority": priority}
        if order is not None:
            args["order_id"] = order.order_id
        call.tool("escalate_to_human", args, {"ok": True, "ticket_id": ticket_id})
        call.agent(f"I'm sorry. I've passed this to a colleague as ticket {ticket_id}; "
                   "they'll get back to you.")  # fmt: skip
        end = "transferred_to_human" if outcome == "transferred" else "caller_hung_up"
        self.history.tickets.append(self._ticket(ticket_id, call, order, priority, reason))
        self.history.calls.append(call.document(outcome, end))

    def _ticket(self, ticket_id: str, call: Call, order: OrderRecord | None, priority: str,
                reason: str) -> Document:  # fmt: skip
        created = call._at()
        age = self.now - created
        status, assignee, notes, resolved_at = "open", None, [], None
        if age > dt.timedelta(days=4):
            resolved_at = self.local.on_desk(
                created + dt.timedelta(hours=self.rng.uniform(0.5, 20)))
            status, assignee = "resolved", STAFF
            notes = [{"author": STAFF, "at": resolved_at, "text": self.rng.choice((
                "Called the customer back and apologised; credited goodwill.",
                "Spoke to the restaurant; the customer is satisfied.",
                "Resolved on a call back.",
            ))}]  # fmt: skip
        elif age > dt.timedelta(days=1, hours=12):
            status, assignee = "claimed", STAFF
            notes = [{"author": STAFF, "at": self.local.on_desk(created + dt.timedelta(hours=1)),
                      "text": "Called, no answer; will try again."}]  # fmt: skip
        return {
            "ticket_id": ticket_id, "user_id": call.user_id,
            "order_id": order.order_id if order else None, "reason": reason,
            "priority": priority, "status": status, "assignee": assignee, "notes": notes,
            "call_id": call.call_id, "created_at": created, "resolved_at": resolved_at,
        }  # fmt: skip

    # --- calls not about one order -----------------------------------------------------------

    def other(self, user_id: int | None, at: dt.datetime, orders: Sequence[OrderRecord],
              call_id: str) -> None:  # fmt: skip
        call = self._call(user_id, at, call_id)
        self._greet(call)
        roll = self.rng.random()
        if user_id is None:
            self._unidentified(call)
        elif roll < 0.35:
            self._profile(call, user_id, orders)
        elif roll < 0.55:
            self._order_history(call, orders, at)
        elif roll < 0.70:
            call.caller("Hello? … Sorry, wrong number.")
            self.history.calls.append(call.document("abandoned", "caller_left"))
        elif roll < 0.80:
            self._callback(call, user_id)
        elif roll < 0.90:
            self._escalate(call, None, self.rng.choice(OTHER_REASONS))
        elif roll < 0.93:
            self._unavailable(call)
        elif roll < 0.97:
            call.channel = "phone"  # only a phone call can be put through to a person
            self._escalate(call, None, OTHER_REASONS[0], outcome="transferred")
        else:
            self._complaint(call, None, ("The rider was rude to me.", "Rider was rude",
                                         "other"))  # fmt: skip

    def _profile(self, call: Call, user_id: int, orders: Sequence[OrderRecord]) -> None:
        call.caller("How much money do I have in my wallet, and what tier am I?")
        tier, percent = self.tiers[user_id]
        spent = sum(o.amount for o in orders if o.status != "cancelled")
        call.tool("get_user_profile", {}, {
            "ok": True, "name": self.names[user_id], "phone": self.phones[user_id],
            "email": "", "wallet_balance": rupees(self.rng.randint(0, 60) * 1000),
            "total_orders": len(orders), "lifetime_spend": rupees(spent), "tier": tier,
            "refund_percent": percent,
        })  # fmt: skip
        call.agent(f"You're a {tier} customer, so late or spoiled orders are refunded at "
                   f"{percent} percent. Your wallet balance is in the app too.")  # fmt: skip
        call.caller("Perfect, thanks.")
        self.history.calls.append(call.document("resolved_info"))

    def _order_history(self, call: Call, orders: Sequence[OrderRecord],
                       at: dt.datetime) -> None:  # fmt: skip
        call.caller("Can you tell me what my last few orders were?")
        past = sorted((o for o in orders if o.placed_at < at), key=lambda o: o.placed_at,
                      reverse=True)[:10]  # fmt: skip
        listed = [_order_result(o, at) for o in past]
        call.tool("check_order_status", {},
                  {"ok": True, "orders": listed, "more_orders": len(past) == 10})
        if past:
            call.agent(f"Your latest was {past[0].order_id} from {past[0].restaurant}.")
        else:
            call.agent("I don't see any orders on your account yet.")
        call.caller("Okay, thank you.")
        self.history.calls.append(call.document("resolved_info"))

    def _callback(self, call: Call, user_id: int) -> None:
        call.caller("I'm driving now. Can someone call me back tomorrow evening?")
        callback_id = demo_id(self.rng, "CB")  # before the draws that depend on `now`
        tomorrow = self.local.date(call.started_at) + dt.timedelta(days=1)
        slot = self._book_slot(user_id, tomorrow, EVENING)
        if self.local.date(slot) != tomorrow:
            why = (f"We don't make callbacks on {tomorrow:%A}s"
                   if tomorrow.weekday() not in self.local.callbacks.weekdays
                   else "Tomorrow evening is fully booked")  # fmt: skip
            call.agent(f"{why}; the first time I can offer is "
                       f"{say_when(slot, call.started_at, self.local.zone)}.")  # fmt: skip
            call.caller("Okay, that works.")
        self._book(call, callback_id, slot, "Asked to be called back about their account",
                   STAFF if slot <= self.now else None)  # fmt: skip

    def live_callback(self, user_id: int, at: dt.datetime, holder: str | None, words: str,
                      reason: str) -> None:  # fmt: skip
        """A call `at` (in the last hours) that booked a callback still to come."""
        call = self._call(user_id, at)
        self._greet(call)
        call.caller(words)
        callback_id = demo_id(self.rng, "CB")
        earliest = self.now + LIVE_CALLBACK_LEAD
        slot = self._book_slot(user_id, self.local.date(earliest), earliest)
        self._book(call, callback_id, slot, reason, holder)

    def _book_slot(self, user_id: int, day: dt.date, earliest: dt.time | dt.datetime
                   ) -> dt.datetime:  # fmt: skip
        """The first slot from `day` on, at or after `earliest` (a local time of day, or a
        moment), that callbacks/slots.py would book: an open day, support hours, a slot
        nobody else has here, a day the customer has no callback on."""
        while True:
            if (user_id, day) not in self._days_taken:
                for start in slot_starts(day, self.local.callbacks):
                    local = start.astimezone(self.local.zone)
                    late_enough = (start >= earliest if isinstance(earliest, dt.datetime)
                                   else local.time() >= earliest)  # fmt: skip
                    if late_enough and start not in self._slots_taken:
                        self._slots_taken.add(start)
                        self._days_taken.add((user_id, day))
                        return start
            day += dt.timedelta(days=1)

    def _book(self, call: Call, callback_id: str, slot: dt.datetime, reason: str,
              holder: str | None) -> None:  # fmt: skip
        """schedule_callback in `call` for `slot`, and the callback as booking.py stores it;
        one whose slot has passed was called back (or missed) by `holder`."""
        assert call.user_id is not None
        user_id = call.user_id
        zone = self.local.zone
        call.tool("schedule_callback", {"slot_start": local_iso(slot, zone), "reason": reason},
                  {"ok": True, "callback_id": callback_id, "slot_start": _iso(slot),
                   "when": say_when(slot, call._at(), zone)})  # fmt: skip
        call.agent(f"Done: a colleague will call you {say_when(slot, call._at(), zone)}.")
        status = ("scheduled" if slot > self.now
                  else self.rng.choice(("done", "done", "done", "missed")))  # fmt: skip
        self.history.callbacks.append({
            "callback_id": callback_id, "user_id": user_id, "phone": self.phones[user_id],
            "slot_start": slot, "local_date": self.local.date(slot).isoformat(),
            "seat": 1, "reason": reason, "status": status, "call_id": call.call_id,
            "ticket_id": None, "assignee": holder, "created_at": call._at(),
            "closed_at": None if status == "scheduled" else slot + dt.timedelta(minutes=10),
        })  # fmt: skip
        self.history.calls.append(call.document("callback_scheduled"))

    def raised(self, item: Raised) -> tuple[Document, Document]:
        """The call in which the agent filed `item`'s complaint or ticket, and the record as
        filed in it: naming the call, created when the tool ran (about its `created_at`)."""
        record = item.record
        ticket_id = record.get("ticket_id")
        start = record["created_at"] - RAISED_AFTER
        call = self._call(record["user_id"],
                          start if self.local.is_open(start) else record["created_at"])
        self._greet(call)
        call.caller(item.words)
        args: Document = {"order_id": record["order_id"]} if record.get("order_id") else {}
        if item.order is not None:
            call.tool("get_order_details", {"order_id": item.order.order_id},
                      _order_result(item.order, call._at()))  # fmt: skip
        if ticket_id:
            call.tool("escalate_to_human",
                      {"reason": record["reason"], "priority": record["priority"], **args},
                      {"ok": True, "ticket_id": ticket_id})  # fmt: skip
            said = (f"I'm sorry. I've passed this to a colleague as ticket {ticket_id}; "
                    "they'll get back to you.")  # fmt: skip
        else:
            complaint_id = record["complaint_id"]
            call.tool("file_complaint",
                      {"category": record["category"], "description": record["description"],
                       **args},
                      {"ok": True, "complaint_id": complaint_id, "status": "open"})  # fmt: skip
            said = f"I've filed that as complaint {complaint_id}; the team will look into it."
        filed = call._at()
        call.agent(said)
        call.caller("Thanks.")
        outcome = "escalated" if ticket_id else "complaint_filed"
        return {**record, "call_id": call.call_id, "created_at": filed}, call.document(outcome)

    def _unavailable(self, call: Call) -> None:
        """The model stopped answering: the bridge (not a tool) opened a ticket and ended the
        call, as realtime/call_session.py's _give_up does."""
        call.caller("Hi, I have a question about my order.")
        reason = lost_model_reason("upstream_unavailable")  # as the bridge's ticket says it
        ticket_id = demo_id(self.rng, "TKT")
        call.clock += self.rng.uniform(8.0, 20.0)  # its resumes tried meanwhile
        ticket = self._ticket(ticket_id, call, None, "high", reason)
        self.history.tickets.append({**ticket, "origin": AGENT_UNAVAILABLE})
        document = call.document("agent_unavailable", "agent_unavailable")
        self.history.calls.append({**document, "agent_unavailable_ticket": ticket_id})

    def _unidentified(self, call: Call) -> None:
        call.caller("Hi, I'd like to know about my refund.")
        call.tool("get_user_profile", {}, {
            "ok": False, "reason": "not_identified",
            "message": "I couldn't match this call to a customer account.",
        })  # fmt: skip
        call.agent("I couldn't match this number to an account, so I can't look at orders. "
                   "Could you call from the number registered with us?")  # fmt: skip
        call.caller("Oh, okay, I'll do that.")
        self.history.calls.append(call.document("resolved_info"))


# A call drawn to start this close to `now` might not have ended by then.
CALL_ENDED_BY = dt.timedelta(minutes=30)


def _opening_hours_time(rng: random.Random, now: dt.datetime, local: Local) -> dt.datetime:
    """A moment in the last CALL_DAYS days, in local opening hours, early enough before `now`
    for a call begun then to be over (CALL_ENDED_BY). Always four draws, whatever `now` is
    (see month_of_calls)."""
    day = (now - dt.timedelta(days=rng.randint(0, CALL_DAYS - 1))).astimezone(local.zone)
    moment = day.replace(hour=rng.randint(OPEN_HOURS[0], OPEN_HOURS[1] - 1),
                         minute=rng.randint(0, 59), second=rng.randint(0, 59))  # fmt: skip
    if moment >= now - CALL_ENDED_BY:
        moment -= dt.timedelta(days=1)
    return moment.astimezone(dt.UTC)


def month_of_calls(seed: str, now: dt.datetime, local: Local, orders: Sequence[OrderRecord],
                   names: dict[int, str], tiers: dict[int, tuple[str, int]],
                   phones: dict[int, str]) -> History:  # fmt: skip
    """The calls of the last CALL_DAYS days, and the refunds, complaints, tickets and callbacks
    they made, in `local`'s hours. `orders` must not have been refunded yet in the last
    CALL_DAYS days.

    seed_demo is idempotent by id, so every id must come out the same whenever it runs (the
    next day included): each call draws from its own generator, seeded by what it is about (an
    order, or its number), and draws its id before anything that depends on `now`.
    """
    writer = Writer(random.Random(seed), now, local, names, tiers, phones)
    # Recent orders were placed at most CALL_DAYS days ago, older ones a few days more: the
    # margin keeps this choice the same at any time of day.
    since = now - dt.timedelta(days=CALL_DAYS + 1.5)
    for order in orders:
        if order.delivered_at is None or order.placed_at < since or order.refund is not None:
            continue
        writer.rng = random.Random(f"{seed}:order:{order.order_id}")
        roll = writer.rng.random()
        if roll < 0.3:
            writer.where_is_it(order)
        elif roll < 0.65:
            writer.soon_after(order)
        elif roll < 0.75:
            writer.hours_later(order)
    by_user: dict[int, list[OrderRecord]] = {}
    for order in orders:
        by_user.setdefault(order.user_id, []).append(order)
    users = sorted(names)
    for n in range(OTHER_CALLS):
        writer.rng = rng = random.Random(f"{seed}:other:{n}")
        user_id = None if rng.random() < 0.07 else rng.choice(users)
        call_id = _call_id(rng)
        writer.other(user_id, _opening_hours_time(rng, now, local), by_user.get(user_id or 0, []),
                     call_id)  # fmt: skip
    for n, (user_id, minutes_ago, holder, words, reason) in enumerate(LIVE_CALLBACKS):
        writer.rng = random.Random(f"{seed}:callback:{n}")
        writer.live_callback(user_id, local.last_open(now, dt.timedelta(minutes=minutes_ago)),
                             holder, words, reason)  # fmt: skip
    writer.history.calls.sort(key=lambda call: call["started_at"])
    return writer.history


def raised_in_calls(seed: str, now: dt.datetime, local: Local, raised: Sequence[Raised],
                    names: dict[int, str]) -> list[tuple[Document, Document]]:  # fmt: skip
    """Each of `raised`'s records as filed in a call, with that call: a complaint or ticket
    names the call it came from, as the agent's always do. Each call draws from a generator
    seeded by the record's id, its own id first (see month_of_calls)."""
    written = []
    for item in raised:
        record_id = item.record.get("ticket_id") or item.record["complaint_id"]
        writer = Writer(random.Random(f"{seed}:raised:{record_id}"), now, local, names, {}, {})
        written.append(writer.raised(item))
    return written
