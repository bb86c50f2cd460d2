"""The agent's tools (contract sections 6 and 9), each declared next to what it does.

Every tool acts for the session's customer only (`ctx`): queries always filter by its
`user_id`, so another customer's order simply does not exist here. Decisions come from pure
rules (support/policy.py, support/order_ids.py); the writes that matter have their own
modules (support/refunds.py, support/complaints.py, support/escalations.py). Answers are
small dicts of what the model should say, with money as rupee strings ("337.50") each beside
its `_text` with the currency ("₹337.50") and the answer's `currency` ("INR"), and times in
UTC and in the customer's local time. A refusal is raised as ToolError; registry.run_tool
answers it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from pymongo.errors import PyMongoError

from support import complaints, mongo, order_ids
from support.escalations import open_escalation
from support.models import ComplaintCategory, Priority
from support.money import MoneyError, format_inr, rupees, to_paise
from support.mongo import Document
from support.policy import (
    OrderFacts,
    delivered_by,
    lifetime_spend,
    refusal,
    tier_for,
    within_window,
)
from support.refunds import RefundRefused, customer_orders, refund_order, refund_tiers
from support.tools.registry import (
    Access,
    Reason,
    Result,
    StringParam,
    ToolContext,
    ToolError,
    order_id_param,
    stands_for_nothing,
    tool,
)

log = logging.getLogger(__name__)

# check_order_status lists this many orders: enough for "my order from yesterday", small
# enough for the model to read out.
ORDER_LIST_LIMIT = 10
# verify_caller: how many tries a phone caller gets, and which orders it may name.
VERIFY_ATTEMPTS = 3  # tries a call
VERIFY_FAILURES_A_DAY = 5  # wrong answers a customer's account takes in a day, over all calls
# On the customer: when its last tries were taken (wrong answers, and answers being checked).
VERIFY_FAILURES = "verify_failures"
# On the call's record: the tries taken in the call, so that the count goes with the call when
# another process carries it on (contract section 7).
VERIFY_TRIES = "verify_tries"
VERIFY_RECENT_ORDERS = 10
VERIFY_REFUSED_MESSAGE = (
    "I can't confirm the account over the phone. The customer can use the app, or I can get "
    "a colleague to help."
)
UNVERIFIED_ORDER_NOTE = (
    "Restaurant, amount and items are told once verify_caller has confirmed the caller."
)
_CURRENCY_WORDS = re.compile(r"₹|\binr\b|\brs\b\.?|\brs(?=\d)|\brupees?\b")
NOT_FOUND_MESSAGE = "I couldn't find an order with that id on your account."
# For a stand-in for no id ("N/A") that names no order: said to the model, which has no id.
NO_ORDER_ID_MESSAGE = "That is not an order id: ask the customer for the order id."
# Every amount in an answer is in this currency; said so in each answer that has one.
CURRENCY = "INR"

_ORDER_SUMMARY = {
    "_id": 0,
    "order_id": 1,
    "restaurant": 1,
    "status": 1,
    "amount": 1,
    "placed_at": 1,
    "delivered_at": 1,
    "refund": 1,
}


# --- Who is calling --------------------------------------------------------------------------


@tool(
    "get_user_profile",
    "Look up the caller's own profile: name, phone, email, wallet balance, number of orders, "
    "lifetime spend and loyalty tier (which sets the refund percentage). Call it at the start "
    "of a call to greet the customer by name, and before any refund. For a phone caller not "
    "yet verified it answers the name and tier only.",
)
async def get_user_profile(ctx: ToolContext) -> Result:
    user_id = ctx.identified()
    db = mongo.async_db()
    customer, orders, tiers = await asyncio.gather(
        db.customers.find_one(
            {"user_id": user_id},
            {"_id": 0, "name": 1, "phone": 1, "email": 1, "wallet_balance": 1},
        ),
        customer_orders(db, user_id),
        refund_tiers(db),
    )
    if customer is None:
        raise ToolError(Reason.NOT_IDENTIFIED, "I couldn't find your account.")
    spend = lifetime_spend(orders)
    tier = tier_for(spend, tiers)
    profile: Result = {"name": customer["name"], "tier": tier.name if tier else None}
    if not ctx.verified:
        return {**profile, "verified": False}
    return {
        **profile,
        "phone": customer["phone"],
        "email": customer.get("email", ""),
        **_money("wallet_balance", customer.get("wallet_balance", 0)),
        "total_orders": len(orders),
        **_money("lifetime_spend", spend),
        "refund_percent": tier.percent if tier else None,
        "verified": True,
        "currency": CURRENCY,
    }


@tool(
    "verify_caller",
    "Confirm that a phone caller is the account holder before a refund or personal details: "
    "ask for the restaurant or the amount (in rupees) of one of their recent orders and pass "
    "what they say (given both, both must be of the same order). A few tries are allowed per "
    "call, and a few wrong answers a day.",
    params=(
        StringParam("restaurant", "A restaurant the caller recently ordered from.",
                    required=False, max_length=120),
        StringParam("amount", "The amount in rupees of a recent order, like 268.50.",
                    required=False, max_length=20),
    ),  # fmt: skip
)
async def verify_caller(ctx: ToolContext, restaurant: str | None, amount: str | None) -> Result:
    user_id = ctx.identified()
    if ctx.verified:
        return {"verified": True}
    if restaurant is not None and stands_for_nothing(restaurant):
        # The model's stand-in for a restaurant not given ("N/A", beside the amount she
        # said): none, not a wrong answer that costs her one of her tries.
        restaurant = None
    if restaurant is None and amount is None:
        raise ToolError(Reason.INVALID_ARGUMENT, "Pass the restaurant or the amount they gave.")
    said = None if amount is None else _spoken_paise(amount)  # unreadable: not a try
    named = None if restaurant is None else _spoken_restaurant(restaurant)  # nor here
    # Each try is taken before anything is awaited, then the call's and the day's each in one
    # conditional write before the answer is compared: the model may send many guesses at
    # once (parallel function calls run as parallel tasks), and none may be checked beyond
    # either limit, also once the call has moved to another process.
    if ctx.verification_attempts >= VERIFY_ATTEMPTS:
        raise ToolError(Reason.NOT_VERIFIED, VERIFY_REFUSED_MESSAGE)
    ctx.verification_attempts += 1
    try:
        return await _check_answer(ctx, user_id, named, said)
    except PyMongoError:
        # The database did not answer, so nothing was compared: no try, as an unreadable
        # answer is none. Kept, three tries the model made through an outage left the caller
        # none once it was over. (A try taken on record before the failure stays taken there:
        # the safe side.)
        ctx.verification_attempts -= 1
        raise


async def _check_answer(
    ctx: ToolContext, user_id: int, named: str | None, said: int | None
) -> Result:
    """verify_caller's try, counted in this process already: taken on the call's record and
    the customer's, then compared with the recent orders. Raises ToolError(not_verified) for
    a wrong answer or no try left, PyMongoError when the database does not answer."""
    now = _now()
    if not await _take_a_try_this_call(ctx.call_id):
        raise ToolError(Reason.NOT_VERIFIED, VERIFY_REFUSED_MESSAGE)
    if not await _take_a_try_today(user_id, now):
        raise ToolError(Reason.NOT_VERIFIED, VERIFY_REFUSED_MESSAGE)
    recent, tries_this_call, tries_today = await asyncio.gather(
        mongo.async_db()
        .orders.find({"user_id": user_id}, {"_id": 0, "restaurant": 1, "amount": 1})
        .sort("placed_at", -1)
        .limit(VERIFY_RECENT_ORDERS)
        .to_list(),
        _tries_this_call(ctx.call_id),
        _tries_today(user_id, now),
    )
    if any(_same_order(doc, named, said) for doc in recent):
        ctx.verified = True
        await _clear_tries_today(user_id)
        return {"verified": True}
    tries_this_call = max(tries_this_call, ctx.verification_attempts)
    left = min(VERIFY_ATTEMPTS - tries_this_call, VERIFY_FAILURES_A_DAY - tries_today)
    raise ToolError(Reason.NOT_VERIFIED, _wrong_answer_message(left))


def _wrong_answer_message(left: int) -> str:
    """What the agent says after a wrong answer, with `left` tries still to come (this call's
    or the day's, whichever runs out first)."""
    if left <= 0:
        return "That doesn't match a recent order, and that was the last try."
    return f"That doesn't match a recent order. {left} more {'try' if left == 1 else 'tries'}."


async def _take_a_try_this_call(call_id: str) -> bool:
    """Take one of the call's VERIFY_ATTEMPTS tries on its record in `calls`; False when none
    is left. One conditional update, so tries taken at once cannot overdraw, in any process
    that carries the call. A call without a record (a tool run outside a call) has only the
    count its ToolContext keeps, checked before this."""
    if not call_id:
        return True
    calls = mongo.async_db().calls
    taken = await calls.update_one(
        {"call_id": call_id, "$or": [
            {VERIFY_TRIES: {"$exists": False}}, {VERIFY_TRIES: {"$lt": VERIFY_ATTEMPTS}},
        ]},
        {"$inc": {VERIFY_TRIES: 1}},
    )  # fmt: skip
    if taken.modified_count == 1:
        return True
    return await calls.find_one({"call_id": call_id}, {"_id": 1}) is None


async def _tries_this_call(call_id: str) -> int:
    """The tries of verify_caller taken in the call, as its record has them (0 without one)."""
    if not call_id:
        return 0
    call = await mongo.async_db().calls.find_one({"call_id": call_id}, {"_id": 0, VERIFY_TRIES: 1})
    tries = (call or {}).get(VERIFY_TRIES)
    return tries if isinstance(tries, int) else 0


async def _take_a_try_today(user_id: int, now: datetime) -> bool:
    """Take one of the customer's VERIFY_FAILURES_A_DAY tries of the last day, on any call;
    False when none is left. One conditional update, so tries taken at once cannot overdraw:
    the field keeps the newest VERIFY_FAILURES_A_DAY times, so a try is left while it holds
    fewer, or one of them is older than a day. A right answer clears the field (and so gives
    back its own try); a wrong one leaves its try taken, counted on the customer and not only
    the call, so calling again buys no fresh guesses."""
    taken = await mongo.async_db().customers.update_one(
        {"user_id": user_id, "$or": [
            {f"{VERIFY_FAILURES}.{VERIFY_FAILURES_A_DAY - 1}": {"$exists": False}},
            {VERIFY_FAILURES: {"$lte": now - timedelta(days=1)}},
        ]},
        {"$push": {VERIFY_FAILURES: {
            "$each": [now], "$sort": 1, "$slice": -VERIFY_FAILURES_A_DAY,
        }}},
    )  # fmt: skip
    return taken.modified_count == 1


async def _clear_tries_today(user_id: int) -> None:
    """Forget the customer's tries of the day after a right answer. Best effort: the caller
    is verified whether or not it is written, and if it is not, the tries stay taken (the
    safe side) until they are a day old or the next right answer."""
    try:
        await mongo.async_db().customers.update_one(
            {"user_id": user_id}, {"$set": {VERIFY_FAILURES: []}}
        )
    except PyMongoError as error:
        log.warning("verify_caller: the tries of customer %s not cleared: %r", user_id, error)


async def _tries_today(user_id: int, now: datetime) -> int:
    """The customer's tries of verify_caller in the last day, on any call (this one's
    included): those taken by wrong answers, and by answers still being checked."""
    customer = await mongo.async_db().customers.find_one(
        {"user_id": user_id}, {"_id": 0, VERIFY_FAILURES: 1}
    )
    tries = (customer or {}).get(VERIFY_FAILURES) or []
    return sum(1 for at in tries if isinstance(at, datetime) and at > now - timedelta(days=1))


def _spoken_paise(amount: str) -> int:
    """The paise of an amount as a caller says it ("337.50", "₹337", "Rs. 337.50", "337
    rupees", "INR 337/-"); ToolError(invalid_argument) when it cannot be read."""
    digits = _CURRENCY_WORDS.sub("", amount.casefold()).replace("/-", "")
    try:
        return to_paise(digits)
    except MoneyError:
        raise ToolError(
            Reason.INVALID_ARGUMENT, "I couldn't read that amount: pass it in rupees, like 268.50."
        ) from None


def _spoken_restaurant(restaurant: str) -> str:
    """A restaurant as compared (`_name_key`); ToolError(invalid_argument) when it has no
    letters or digits to compare ("?", "..."), which would match any restaurant named without
    them."""
    if not _letters(restaurant):
        raise ToolError(Reason.INVALID_ARGUMENT, "Pass the restaurant's name as they said it.")
    return _name_key(restaurant)


def _same_order(doc: Document, restaurant: str | None, said_paise: int | None) -> bool:
    """Whether `doc` fits every fact the caller gave (`restaurant` as `_name_key` has it).
    Each try tests one order: a restaurant and an amount are not two guesses, so both must
    be of the same order."""
    if restaurant is None and said_paise is None:
        return False
    if restaurant is not None and restaurant != _restaurant_key(doc):
        return False
    return said_paise is None or _same_amount(said_paise, doc.get("amount"))


def _restaurant_key(doc: Document) -> str | None:
    """The order's restaurant as `_name_key` has it; None for an order stored without one
    (missing, null, blank, not text), which no restaurant a caller names can match: `str()`
    would make it "None", there for the guessing."""
    restaurant = doc.get("restaurant")
    if not isinstance(restaurant, str):
        return None
    return _name_key(restaurant) or None


def _same_amount(said_paise: int, stored: object) -> bool:
    """Whether the caller said the order's amount (integer paise). An order stored without
    one (missing, null) matches no amount said: not "0", and no error either."""
    if not isinstance(stored, int) or isinstance(stored, bool):
        return False
    # Within a rupee is the same amount: "two sixty-eight" for ₹268.50.
    return abs(said_paise - stored) < 100


# Words a caller adds to a restaurant's name, or leaves out, that name no restaurant: "the
# Dosa Point restaurant" is Dosa Point, "Kamat and Sons" is "Kamat & Sons", "Sharma Sweets" is
# "Sharma Sweets Pvt. Ltd.". What is left must still be the whole of the rest of the name.
_NOT_THE_NAME = frozenset(
    {"the", "and", "restaurant", "co", "company", "pvt", "private", "ltd", "limited"}
)


def _name_key(name: str) -> str:
    """A restaurant's name as compared: its words (between spaces or "&", each as `_letters`
    has it: "Côte", "Co-op" and "Zoë's" one word each) but those of _NOT_THE_NAME, run
    together; all its words where it has no others ("The Restaurant")."""
    words = [word for word in map(_letters, name.replace("&", " ").split()) if word]
    return "".join(word for word in words if word not in _NOT_THE_NAME) or "".join(words)


def _letters(text: str) -> str:
    """`text`'s letters and digits only (what _name_key compares), casefolded, accents folded
    ("Café" is "cafe": the model may write a name either way). Compatibility decomposition
    (NFKD) before and after casefolding, as Unicode's caseless matching does, splits off the
    accents as combining marks, which are dropped. The vowel signs of Indian scripts are marks
    too, but part of the word ("बिरयानी" is not "बरयन", which a guesser would need only the
    consonants for): kept, as marks that do not combine over a letter (class 0) are."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return "".join(char for char in folded if char.isalnum() or _part_of_the_word(char))


def _part_of_the_word(char: str) -> bool:
    return unicodedata.category(char) in ("Mn", "Mc") and unicodedata.combining(char) == 0


# --- Orders ----------------------------------------------------------------------------------


@tool(
    "check_order_status",
    "List the caller's most recent orders, newest first, with restaurant, status, amount, "
    "times (each in UTC and, ending in _local, in the customer's time: say the local one) and "
    "whether each can be refunded now (a phone caller not yet verified gets no restaurant or "
    "amount). Use it when the customer asks where an order is, or does not know the order "
    "id.",
)
async def check_order_status(ctx: ToolContext) -> Result:
    docs = (
        await mongo.async_db()
        .orders.find({"user_id": ctx.identified()}, _ORDER_SUMMARY)
        .sort("placed_at", -1)
        .limit(ORDER_LIST_LIMIT + 1)
        .to_list()
    )
    now = _now()
    return {
        "orders": [
            _order_summary(doc, now, bool(ctx.verified)) for doc in docs[:ORDER_LIST_LIMIT]
        ],
        "more_orders": len(docs) > ORDER_LIST_LIMIT,
        **({"currency": CURRENCY} if ctx.verified else {}),
    }


@tool(
    "get_order_details",
    "Get one of the caller's orders in full: items, amount, status, times (each in UTC and, "
    "ending in _local, in the customer's time: say the local one), hours since delivery and "
    "whether it is inside the 2-hour refund window. Always call it before a refund to confirm "
    "the order is eligible.",
    params=(order_id_param(),),
)
async def get_order_details(ctx: ToolContext, order_id: str) -> Result:
    doc = await find_order(ctx.identified(), order_id)
    now = _now()
    delivered_at = doc.get("delivered_at")
    refund = doc.get("refund")
    details: Result = {
        **_order_summary(doc, now, bool(ctx.verified)),
        "hours_since_delivery": _hours_since(delivered_at, now),
        "inside_refund_window": within_window(delivered_at, now),
    }
    if not ctx.verified:  # what the order held, and what was paid back, wait for it too
        return details
    return {
        **details,
        "items": [
            {"name": item["name"], "qty": item["qty"], **_money("price", item["price"])}
            for item in doc.get("items", [])
        ],
        "refund": _refund_summary(refund) if refund else None,
        "currency": CURRENCY,
    }


async def find_order(
    user_id: int, spoken: str, projection: dict[str, int] | None = None
) -> Document:
    """The customer's order that `spoken` names (support/order_ids.py), or ToolError(not_found),
    or (`_no_such_order`) invalid_argument for a stand-in for no id ("N/A") that names none.

    Filtering by user_id is the scoping rule: another customer's order is "not found".
    """
    doc = await _named_order(user_id, spoken, projection)
    if doc is None:
        raise _no_such_order(spoken)
    return doc


async def _named_order(
    user_id: int, spoken: str, projection: dict[str, int] | None
) -> Document | None:
    orders = mongo.async_db().orders
    doc = await orders.find_one({"user_id": user_id, "order_id": spoken}, projection)
    if doc is None:
        ids = [d["order_id"] for d in await orders.find(
            {"user_id": user_id}, {"_id": 0, "order_id": 1}).to_list()]  # fmt: skip
        found = order_ids.matching(spoken, ids)
        if found is not None:
            doc = await orders.find_one({"user_id": user_id, "order_id": found}, projection)
    return doc


def _no_such_order(spoken: str) -> ToolError:
    """Why no order of the customer's is named `spoken`: none has that id (not_found), or
    the model has no id and passed a stand-in ("N/A"), and should ask for one."""
    if stands_for_nothing(spoken):
        return ToolError(Reason.INVALID_ARGUMENT, NO_ORDER_ID_MESSAGE)
    return ToolError(Reason.NOT_FOUND, NOT_FOUND_MESSAGE)


@tool(
    "initiate_refund",
    "Refund one of the caller's delivered orders to their wallet. The policy is applied by "
    "the system: only delivered orders, within 2 hours of delivery, one refund per order; "
    "the percentage depends on the customer's tier. Check the profile and the order's "
    "details first, and confirm with the customer before calling. Tell them the amount and "
    "the refund id it returns; if it is refused, explain the reason it gives.",
    params=(
        order_id_param("The order id to refund, like ORD-1001."),
        StringParam("reason", "Why the customer wants a refund, in a short sentence.",
                    max_length=500),
    ),  # fmt: skip
    access=Access.VERIFIED,
)
async def initiate_refund(ctx: ToolContext, order_id: str, reason: str) -> Result:
    try:
        done = await refund_order(
            user_id=ctx.identified(), order_id=order_id, reason=reason, call_id=ctx.call_id
        )
    except RefundRefused as refused:
        if refused.reason == Reason.NOT_FOUND:
            raise _no_such_order(order_id) from None
        raise ToolError(Reason(refused.reason), refused.message, refused.details) from None
    return {
        "refund_id": done.refund_id,
        "order_id": done.order_id,
        **_money("amount", done.amount),
        "percent": done.percent,
        "tier": done.tier,
        **_money("wallet_balance", done.wallet_balance),
        "currency": CURRENCY,
    }


# --- Complaints and people -------------------------------------------------------------------


@tool(
    "file_complaint",
    "Record a complaint about food, delivery or service so the team can follow up. Works "
    "for unidentified callers too (without an order id). Tell the customer the complaint id "
    "it returns. The same complaint filed again is not recorded twice: it answers the one on "
    "file, with already_filed true.",
    params=(
        order_id_param("The order the complaint is about, like ORD-1001, if there is one.",
                       required=False),
        StringParam("category", "What kind of problem it is.",
                    enum=tuple(ComplaintCategory.values)),
        StringParam("description", "What went wrong, in the customer's words, briefly.",
                    max_length=1000),
    ),  # fmt: skip
    access=Access.ANYONE,
)
async def file_complaint(
    ctx: ToolContext, order_id: str | None, category: str, description: str
) -> Result:
    if order_id is not None:
        order_id = await _order_complained_of(ctx, order_id)
    filed = await complaints.file_complaint(
        user_id=ctx.user_id, order_id=order_id, category=category, description=description,
        call_id=ctx.call_id, now=_now(),
    )  # fmt: skip
    return {
        "complaint_id": filed.complaint_id,
        "status": filed.status,
        "already_filed": filed.already_filed,
    }


async def _order_complained_of(ctx: ToolContext, spoken: str) -> str | None:
    """The id of the caller's order `spoken` names. A stand-in for no id ("N/A") that names
    none of their orders is no id: the complaint is filed without one, by any caller."""
    user_id = ctx.user_id
    doc = None if user_id is None else await _named_order(user_id, spoken, {"order_id": 1})
    if doc is not None:
        return doc["order_id"]
    if stands_for_nothing(spoken):
        return None
    ctx.identified()  # only an identified customer's own order can be named in a complaint
    raise _no_such_order(spoken)


@tool(
    "escalate_to_human",
    "Hand the call to a human agent: when the customer asks for a person, is very upset, "
    "or the problem is beyond these tools (including a refund the policy refused that the "
    "customer disputes). Opens a ticket; pass the order id when the call is about one. Tell "
    "the customer the ticket id and that a colleague is being fetched.",
    params=(
        StringParam("reason", "Why a human is needed, in a short sentence.", max_length=500),
        StringParam(
            "priority",
            "How urgent it is; normal unless the customer's safety or money is at stake.",
            required=False,
            enum=tuple(Priority.values),
            default=Priority.NORMAL.value,
        ),
        # An id that is no id at all ("", a phrase) is dropped like one that names no order.
        order_id_param("The order the call is about, like ORD-1001, if there is one.",
                       required=False, unusable_is_absent=True),
    ),  # fmt: skip
    access=Access.ANYONE,
)
async def escalate_to_human(
    ctx: ToolContext, reason: str, priority: str, order_id: str | None
) -> Result:
    if order_id is not None and ctx.user_id is not None:
        try:
            order_id = (await find_order(ctx.user_id, order_id, {"order_id": 1}))["order_id"]
        except ToolError:
            order_id = None  # the ticket matters more than a misheard id
    else:
        order_id = None
    ticket_id = await open_escalation(
        user_id=ctx.user_id, call_id=ctx.call_id, reason=reason, priority=priority,
        order_id=order_id,
    )  # fmt: skip
    return {"ticket_id": ticket_id}


# --- Small helpers ---------------------------------------------------------------------------


def _order_summary(doc: Document, now: datetime, verified: bool) -> Result:
    """One order as the model may tell it. Before a phone caller is verified, its restaurant
    and amount are left out: they are what verify_caller asks for, so a caller who only has
    the customer's number must not be able to learn them here first."""
    why_not = refusal(OrderFacts.from_document(doc), now)
    summary: Result = {
        "order_id": doc["order_id"],
        **({"restaurant": doc["restaurant"]} if verified else {}),
        "status": doc["status"],
        **(_money("amount", doc["amount"]) if verified else {}),
        **_times("placed_at", doc["placed_at"]),
        **_times("delivered_at", doc.get("delivered_at")),
        "refund_eligible": why_not is None,
    }
    if why_not is not None:
        summary["refund_refusal"] = why_not.value
    if not verified:
        summary["after_verification"] = UNVERIFIED_ORDER_NOTE
    return summary


def _refund_summary(refund: Document) -> Result:
    return {
        **_money("amount", refund["amount"]),
        "percent": refund["percent"],
        "refund_id": refund["refund_id"],
        **_times("at", refund["at"]),
    }


def _hours_since(delivered_at: datetime | None, now: datetime) -> float | None:
    """Hours since delivery; None when there was none yet, a delivery time still to come
    included (support.policy: it has not happened)."""
    if delivered_at is None or not delivered_by(delivered_at, now):
        return None
    return round((now - delivered_at).total_seconds() / 3600, 2)


def _money(name: str, paise: int) -> Result:
    """An amount as the model reads it: `name` in plain rupees ("337.50", for sums and
    comparisons) and `name_text` with the currency, as said ("₹1,337.50")."""
    return {name: rupees(paise), f"{name}_text": format_inr(paise)}


def _times(name: str, moment: datetime | None) -> dict[str, Any]:
    """`name` in UTC and `name_local` in the customer's time zone (SUPPORT_TIME_ZONE)."""
    if moment is None:
        return {name: None, f"{name}_local": None}
    local = moment.astimezone(ZoneInfo(settings.SUPPORT_TIME_ZONE))
    return {
        name: moment.astimezone(UTC).isoformat(timespec="minutes"),
        f"{name}_local": local.isoformat(timespec="minutes"),
    }


def _now() -> datetime:
    return datetime.now(UTC)

