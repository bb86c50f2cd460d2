"""Order ids as the data holds them, phone callers verified before refunds and personal
details, escalations that carry their order, and times in the customer's own time zone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect

from realtime import live_protocol as lp
from realtime.tool_dispatch import ToolDispatcher
from support import mongo, order_ids
from support.models import Customer, RefundTier
from support.tests.conftest import State, make_order
from support.tools import ToolContext, registry, run_tool

pytestmark = pytest.mark.django_db


def phone_call(user_id: int | None = 101) -> ToolContext:
    """A phone caller matched by number alone: identified, not verified."""
    return ToolContext(user_id=user_id, call_id="call-phone", channel="phone")


ASHA_ON_THE_WEB = ToolContext(user_id=101, call_id="call-web", channel="web")
add_order = sync_to_async(make_order)


# --- Order ids as loaded ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "order_id",
    ["ORD-7-B", "5012345678", "SW/2026/000123", "ab 12", "N/A", "NONE", "-",
     # 32 characters, as many as an id may have; longer once case folded, which only matches.
     "İSTANBUL-SIPARIS-2026-0000000001", "GROßBESTELLUNG-2026-000000000001"],
)  # fmt: skip
async def test_any_id_the_importer_accepts_is_found_and_refunded(
    asha: Customer, tiers: list[RefundTier], order_id: str
) -> None:
    assert order_ids.clean(order_id) == order_id  # what load_support_data checks
    await add_order(
        asha, order_id, status="delivered", amount=20_000,
        placed_hours_ago=1, delivered_hours_ago=0.5,
    )  # fmt: skip

    details = await run_tool("get_order_details", {"order_id": order_id}, ASHA_ON_THE_WEB)
    refund = await run_tool(
        "initiate_refund", {"order_id": order_id, "reason": "cold"}, ASHA_ON_THE_WEB
    )

    assert details["ok"] and details["order_id"] == order_id
    assert refund["ok"] and refund["order_id"] == order_id and refund["amount"] == "100.00"


@pytest.mark.parametrize(
    ("spoken", "stored"),
    [("sw / 2026 / 000123", "SW/2026/000123"), ("ORD 7 B", "ORD-7-B"), ("Ord-7-b", "ORD-7-B"),
     (" ".join("40817810099910004312"), "40817810099910004312"),  # read out digit by digit
     # Spaces of any kind: a no-break space, a narrow one.
     ("ORD\u00a07\u202fB", "ORD-7-B"), ("SW /\u00a02026/000123", "SW/2026/000123")],
)
async def test_spoken_forms_find_the_order(asha: Customer, spoken: str, stored: str) -> None:
    await add_order(asha, stored, status="delivered", amount=20_000, placed_hours_ago=5,
               delivered_hours_ago=4)  # fmt: skip

    details = await run_tool("get_order_details", {"order_id": spoken}, ASHA_ON_THE_WEB)

    assert details["ok"] and details["order_id"] == stored


async def test_a_form_that_fits_two_orders_names_neither(asha: Customer) -> None:
    for stored in ("AB-12", "AB/12"):
        await add_order(asha, stored, status="delivered", amount=1_000, placed_hours_ago=5)

    details = await run_tool("get_order_details", {"order_id": "ab 12"}, ASHA_ON_THE_WEB)

    assert details["reason"] == "not_found"


@pytest.mark.parametrize(
    "order_id", ["ORD-1001' || '1'=='1", "ORD-١٠٠١", '{"$ne": null}', "$where", "ORD-1001.*"]
)
async def test_strings_shaped_like_injections_find_nothing_and_change_nothing(
    asha: Customer, tiers: list[RefundTier], database_state: State, order_id: str
) -> None:
    before = await database_state()

    refund = await run_tool(
        "initiate_refund", {"order_id": order_id, "reason": "x"}, ASHA_ON_THE_WEB
    )

    assert refund["reason"] == "not_found"
    assert await database_state() == before


@pytest.mark.parametrize("order_id", ["ORD-1001\x00", "A\nB", "x" * 33, "\u200b"])
async def test_what_no_order_id_contains_is_refused(asha: Customer, order_id: str) -> None:
    details = await run_tool("get_order_details", {"order_id": order_id}, ASHA_ON_THE_WEB)

    assert details["reason"] == "invalid_argument"


# --- An order id the model does not have ------------------------------------------------------


@pytest.mark.parametrize("order_id", ["N/A", "none", "Null", "unknown", "-", "Not provided"])
async def test_a_complaint_filed_with_a_placeholder_order_id_is_filed_without_an_order(
    asha: Customer, order_id: str
) -> None:
    """The model, with no order id, passes a stand-in for none: the complaint is filed, not
    refused as an order that could not be found."""
    result = await run_tool(
        "file_complaint",
        {"order_id": order_id, "category": "hygiene", "description": "Dirty bag"},
        ASHA_ON_THE_WEB,
    )

    assert result["ok"], result
    complaint = await mongo.async_db().complaints.find_one(
        {"complaint_id": result["complaint_id"]}
    )
    assert complaint is not None and complaint["order_id"] is None


async def test_an_unidentified_caller_complaining_with_order_id_none_is_heard(db: Any) -> None:
    result = await run_tool(
        "file_complaint",
        {"order_id": "None", "category": "other", "description": "Rude rider"},
        phone_call(None),
    )

    assert result["ok"], result


@pytest.mark.parametrize(
    ("tool", "args"),
    [("get_order_details", {"order_id": "n/a"}),
     ("initiate_refund", {"order_id": "NULL", "reason": "cold"}),
     ("initiate_refund", {"order_id": "not  provided", "reason": "cold"})],
)  # fmt: skip
async def test_an_order_id_the_model_does_not_have_is_asked_for_not_looked_up(
    asha: Customer, tiers: list[RefundTier], tool: str, args: dict[str, str]
) -> None:
    result = await run_tool(tool, args, ASHA_ON_THE_WEB)

    assert (result["ok"], result["reason"]) == (False, "invalid_argument")
    assert "ask the customer for the order id" in result["message"]


async def test_an_escalation_with_order_id_na_opens_its_ticket_without_an_order(
    asha: Customer,
) -> None:
    result = await run_tool(
        "escalate_to_human", {"reason": "upset", "order_id": "N/A"}, ASHA_ON_THE_WEB
    )

    ticket = await mongo.async_db().escalations.find_one({"ticket_id": result["ticket_id"]})
    assert ticket is not None and ticket["order_id"] is None


async def test_an_order_numbered_like_a_placeholder_is_found_by_every_tool(
    asha: Customer,
) -> None:
    """The data may number an order "N/A" (contract section 6: any id the importer accepts
    is found): "no id" is only what names none of the customer's orders."""
    assert order_ids.clean("N/A") == "N/A"  # what load_support_data checks
    await add_order(asha, "N/A", status="delivered", amount=20_000, placed_hours_ago=1,
                    delivered_hours_ago=0.5)  # fmt: skip

    details = await run_tool("get_order_details", {"order_id": "n/a"}, ASHA_ON_THE_WEB)
    filed = await run_tool(
        "file_complaint",
        {"order_id": "n / a", "category": "hygiene", "description": "Dirty bag"},
        ASHA_ON_THE_WEB,
    )

    assert details["ok"] and details["order_id"] == "N/A", details
    complaint = await mongo.async_db().complaints.find_one({"complaint_id": filed["complaint_id"]})
    assert complaint is not None and complaint["order_id"] == "N/A"


async def test_a_complaint_naming_an_order_that_is_not_the_callers_is_still_refused(
    asha: Customer,
) -> None:
    result = await run_tool(
        "file_complaint",
        {"order_id": "ORD-9999", "category": "hygiene", "description": "Dirty bag"},
        ASHA_ON_THE_WEB,
    )

    assert (result["ok"], result["reason"]) == (False, "not_found")


# --- Phone callers ----------------------------------------------------------------------------


async def test_a_phone_caller_by_number_alone_hears_name_and_tier_only(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    profile = await run_tool("get_user_profile", {}, phone_call())

    assert profile == {"ok": True, "name": "Asha Verma", "tier": "Silver", "verified": False}


async def test_order_status_works_before_verification_without_what_verifies(
    asha: Customer,
) -> None:
    """The restaurant and the amount are what verify_caller asks for: a caller who only has
    the customer's number must not learn them from the order list (or the details) first."""
    ctx = phone_call()

    status = await run_tool("check_order_status", {}, ctx)
    details = await run_tool("get_order_details", {"order_id": "ORD-1001"}, ctx)
    await run_tool("verify_caller", {"restaurant": "dosa point"}, ctx)
    verified = await run_tool("get_order_details", {"order_id": "ORD-1001"}, ctx)

    assert status["ok"] and len(status["orders"]) == 5
    assert all("restaurant" not in o and "amount" not in o for o in status["orders"])
    assert {"status", "placed_at_local", "refund_eligible"} <= status["orders"][0].keys()
    assert "once verify_caller has confirmed" in status["orders"][0]["after_verification"]
    assert details["ok"] and details["status"] == "delivered"
    assert not {"restaurant", "amount", "items", "refund"} & details.keys()
    assert {"restaurant", "amount", "items", "refund"} <= verified.keys()


async def test_a_refund_waits_for_verification(
    asha: Customer, tiers: list[RefundTier], database_state: State
) -> None:
    before = await database_state()

    refund = await run_tool(
        "initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, phone_call()
    )

    assert refund["reason"] == "not_verified"
    assert await database_state() == before


@pytest.mark.parametrize(
    "answer", [{"restaurant": "dosa point"}, {"amount": "337.50"}, {"amount": "₹337"}]
)
async def test_a_recent_order_verifies_the_caller_then_the_refund_goes_through(
    asha: Customer, tiers: list[RefundTier], answer: dict[str, str]
) -> None:
    ctx = phone_call()

    verified = await run_tool("verify_caller", answer, ctx)
    refund = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ctx)
    profile = await run_tool("get_user_profile", {}, ctx)

    assert verified == {"ok": True, "verified": True}
    assert refund["ok"] and refund["amount"] == "168.75"
    assert profile["email"] == "asha@example.com"


async def test_three_wrong_answers_and_the_caller_stays_unverified(asha: Customer) -> None:
    ctx = phone_call()
    answers = [{"restaurant": "Burger Barn"}, {"amount": "999"}, {"restaurant": "Nowhere"},
               {"restaurant": "Dosa Point"}]  # fmt: skip

    results = [await run_tool("verify_caller", answer, ctx) for answer in answers]

    assert [r["ok"] for r in results] == [False, False, False, False]
    assert "2 more tries" in results[0]["message"]
    assert "last try" in results[2]["message"]
    assert "can't confirm" in results[3]["message"]
    assert ctx.verified is False


async def test_wrong_answers_count_on_the_account_so_calling_again_buys_no_fresh_guesses(
    asha: Customer,
) -> None:
    first_call, second_call = phone_call(), ToolContext(user_id=101, call_id="again",
                                                        channel="phone")  # fmt: skip
    wrong = [{"restaurant": "Burger Barn"}, {"restaurant": "Pizza Hut"}, {"amount": "999"}]

    for answer in wrong:
        await run_tool("verify_caller", answer, first_call)
    for answer in wrong[:2]:
        await run_tool("verify_caller", answer, second_call)
    right = await run_tool("verify_caller", {"restaurant": "Dosa Point"}, second_call)

    assert (right["ok"], right["reason"]) == (False, "not_verified")
    assert "can't confirm the account" in right["message"]
    assert second_call.verified is False


WRONG_ANSWERS = [{"restaurant": f"Nowhere {n}"} for n in range(8)]


def were_checked(results: list[dict[str, Any]]) -> int:
    """How many answers were compared with the orders (the others were refused unchecked)."""
    return sum("doesn't match" in r["message"] for r in results)


async def test_guesses_sent_at_once_get_no_more_than_three_tries_a_call(asha: Customer) -> None:
    ctx = phone_call()

    results = await asyncio.gather(
        *(run_tool("verify_caller", answer, ctx) for answer in WRONG_ANSWERS)
    )

    assert were_checked(results) == 3
    assert sum("can't confirm" in r["message"] for r in results) == 5


async def test_guesses_sent_at_once_from_two_calls_get_no_more_than_five_a_day(
    asha: Customer,
) -> None:
    first, second = phone_call(), ToolContext(user_id=101, call_id="again", channel="phone")

    results = await asyncio.gather(
        *(run_tool("verify_caller", answer, first) for answer in WRONG_ANSWERS[:4]),
        *(run_tool("verify_caller", answer, second) for answer in WRONG_ANSWERS[4:]),
    )

    assert were_checked(results) == 5


async def test_eight_guesses_in_one_tool_call_do_not_verify_the_caller(asha: Customer) -> None:
    """Parallel function calling: one toolCall message, the right answer last."""
    ctx = phone_call()
    dispatcher = ToolDispatcher(ctx, answer=lambda message: None, progress=lambda o: None,
                                scheduling=None)  # fmt: skip
    guesses = [*WRONG_ANSWERS[:7], {"restaurant": "Dosa Point"}]

    dispatcher.handle(lp.ToolCall(calls=[
        lp.FunctionCall(id=f"c{n}", name="verify_caller", args=args)
        for n, args in enumerate(guesses)
    ]))  # fmt: skip
    await dispatcher.drain()

    assert ctx.verified is False


async def test_the_tries_left_are_the_fewer_of_the_calls_and_the_days(asha: Customer) -> None:
    earlier, again = phone_call(), ToolContext(user_id=101, call_id="again", channel="phone")
    for answer in WRONG_ANSWERS[:3]:
        await run_tool("verify_caller", answer, earlier)

    fourth = await run_tool("verify_caller", WRONG_ANSWERS[3], again)
    fifth = await run_tool("verify_caller", WRONG_ANSWERS[4], again)
    right = await run_tool("verify_caller", {"restaurant": "Dosa Point"}, again)

    assert fourth["message"] == "That doesn't match a recent order. 1 more try."
    assert fifth["message"] == "That doesn't match a recent order, and that was the last try."
    assert "can't confirm" in right["message"]


async def test_wrong_answers_older_than_a_day_no_longer_count(asha: Customer) -> None:
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    await mongo.async_db().customers.update_one(
        {"user_id": 101}, {"$set": {"verify_failures": [two_days_ago] * 5}}
    )
    ctx = phone_call()

    verified = await run_tool("verify_caller", {"restaurant": "Dosa Point"}, ctx)

    assert verified == {"ok": True, "verified": True}


async def test_tries_made_while_the_database_is_out_of_reach_are_no_tries(
    asha: Customer, unreachable_database: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing was compared: once the database is back the caller still has their tries
    (the model asked three times through the outage, as "try again in a moment" invites)."""
    monkeypatch.setattr(registry, "TOOL_TIMEOUT_S", 0.2)
    ctx = phone_call()

    during = [await run_tool("verify_caller", {"amount": "999"}, ctx) for _ in range(3)]
    await mongo.close_async_client()
    monkeypatch.undo()  # the database is back
    mongo.forget_clients()
    after = await run_tool("verify_caller", {"amount": "337.50"}, ctx)

    assert [result["reason"] for result in during] == ["unavailable"] * 3
    assert after == {"ok": True, "verified": True}


async def test_a_right_answer_verifies_though_its_tries_could_not_be_cleared(
    asha: Customer,
    tiers: list[RefundTier],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The database fails on the one write after the answer was compared (clearing the day's
    tries): the caller is verified in the call all the same, and the tries stay taken."""
    update_one = AsyncCollection.update_one

    async def failing_to_clear(collection: Any, query: Any, update: Any, **kw: Any) -> Any:
        if update == {"$set": {"verify_failures": []}}:
            raise AutoReconnect("connection reset by peer")
        return await update_one(collection, query, update, **kw)

    monkeypatch.setattr(AsyncCollection, "update_one", failing_to_clear)
    ctx = phone_call()

    verified = await run_tool("verify_caller", {"restaurant": "Dosa Point"}, ctx)
    refund = await run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"}, ctx)

    assert verified == {"ok": True, "verified": True}
    assert refund["ok"] and refund["amount"] == "168.75"
    assert "not cleared" in caplog.text
    customer = await mongo.async_db().customers.find_one({"user_id": 101})
    assert customer is not None and len(customer["verify_failures"]) == 1


@pytest.mark.parametrize("said", ["Rs. 337.50", "337 Rupees", "INR 337/-", "rs337"])
async def test_an_amount_said_with_its_currency_verifies(asha: Customer, said: str) -> None:
    ctx = phone_call()

    assert await run_tool("verify_caller", {"amount": said}, ctx) == {"ok": True, "verified": True}


@pytest.mark.parametrize("said", ["three hundred and something", "1e999999", "1e-99999999"])
async def test_an_amount_that_cannot_be_read_is_not_counted_as_a_wrong_answer(
    asha: Customer, said: str
) -> None:
    ctx = phone_call()

    unread = await run_tool("verify_caller", {"amount": said}, ctx)

    assert (unread["ok"], unread["reason"]) == (False, "invalid_argument")
    assert ctx.verification_attempts == 0


@pytest.mark.parametrize(
    "answer",
    [{"restaurant": "Burger Barn", "amount": "337.50"},  # the amount of ORD-1001
     {"restaurant": "Dosa Point", "amount": "999"},
     {"restaurant": "Dosa Point", "amount": "337.50"}],  # two orders' facts: ORD-1002, ORD-1001
)  # fmt: skip
async def test_a_restaurant_and_an_amount_must_both_be_of_one_order(
    asha: Customer, answer: dict[str, str]
) -> None:
    """One try tests one order: naming a restaurant and an amount is not two guesses."""
    ctx = phone_call()

    result = await run_tool("verify_caller", answer, ctx)

    assert (result["ok"], result["reason"]) == (False, "not_verified")
    assert "2 more tries" in result["message"]
    assert ctx.verified is False


async def test_a_restaurant_and_an_amount_of_the_same_order_verify(asha: Customer) -> None:
    ctx = phone_call()

    result = await run_tool("verify_caller", {"restaurant": "Dosa Point", "amount": "500"}, ctx)

    assert result == {"ok": True, "verified": True}


@pytest.mark.parametrize(
    ("stored", "said"),
    [("Café Madras", "Cafe Madras"), ("Crepe Corner", "Crêpe Corner"),
     ("ZOË'S KITCHEN", "zoes kitchen"),
     ("The Bombay Canteen", "Bombay Canteen"), ("Dosa Point", "the Dosa Point restaurant"),
     ("Kamat & Sons", "Kamat and Sons"), ("Sharma Sweets Pvt. Ltd.", "Sharma Sweets"),
     ("Bansal Tea Co.", "Bansal Tea Company"), ("Côte Brasserie", "Cote Brasserie"),
     ("Co-op Kitchen", "Coop Kitchen"), ("Théo's Kitchen", "Theos Kitchen")],
)  # fmt: skip
async def test_a_restaurant_said_as_people_say_it_verifies(
    asha: Customer, stored: str, said: str
) -> None:
    """A caller names the place as people do, not as the order's receipt spells it: with or
    without its accents, its article or its company words."""
    await add_order(asha, "ORD-1006", status="delivered", amount=9_900, placed_hours_ago=2,
                    delivered_hours_ago=1, restaurant=stored)  # fmt: skip

    result = await run_tool("verify_caller", {"restaurant": said}, phone_call())

    assert result == {"ok": True, "verified": True}


@pytest.mark.parametrize("said", ["the restaurant", "restaurant", "Company", "Dosa"])
async def test_words_that_name_no_restaurant_do_not_verify(asha: Customer, said: str) -> None:
    result = await run_tool("verify_caller", {"restaurant": said}, phone_call())

    assert (result["ok"], result["reason"]) == (False, "not_verified")


async def test_a_restaurant_in_an_indian_script_must_be_said_with_its_vowels(
    asha: Customer,
) -> None:
    """Folding accents must not fold away the vowel signs of Devanagari (marks too): the
    consonants alone of "बिरयानी ब्लूज़" are no right answer."""
    await add_order(asha, "ORD-1006", status="delivered", amount=9_900, placed_hours_ago=2,
                    delivered_hours_ago=1, restaurant="बिरयानी ब्लूज़")  # fmt: skip

    consonants = await run_tool("verify_caller", {"restaurant": "बरयन बलज"}, phone_call())
    whole = await run_tool("verify_caller", {"restaurant": "बिरयानी ब्लूज़"}, phone_call())

    assert (consonants["ok"], consonants["reason"]) == (False, "not_verified")
    assert whole == {"ok": True, "verified": True}


async def test_a_restaurant_without_letters_or_digits_matches_nothing_and_is_not_a_try(
    asha: Customer,
) -> None:
    await add_order(asha, "ORD-1006", status="delivered", amount=9_900, placed_hours_ago=2,
                    delivered_hours_ago=1, restaurant="☕ & 🍰")  # fmt: skip
    ctx = phone_call()

    unread = await run_tool("verify_caller", {"restaurant": "?"}, ctx)

    assert (unread["ok"], unread["reason"]) == (False, "invalid_argument")
    assert ctx.verified is False and ctx.verification_attempts == 0


# A field an order is stored without (not even as null).
MISSING = object()


@pytest.mark.parametrize("restaurant", [MISSING, None, ""])
@pytest.mark.parametrize(
    ("said", "reason"),
    [("none restaurant", "not_verified"),
     ("None", "invalid_argument"), ("null", "invalid_argument")],  # no restaurant given
)  # fmt: skip
async def test_an_order_stored_without_a_restaurant_matches_no_restaurant_said(
    ravi: Customer, restaurant: object, said: str, reason: str
) -> None:
    """Stored without one, an order's restaurant is not the word "None" a guesser can say."""
    await _add_ravis_order(restaurant=restaurant)

    result = await run_tool("verify_caller", {"restaurant": said}, phone_call(202))

    assert (result["ok"], result["reason"]) == (False, reason)


@pytest.mark.parametrize("stand_in", ["N/A", "unknown", "Not provided"])
async def test_the_models_stand_in_for_a_restaurant_not_given_costs_no_try(
    asha: Customer, stand_in: str
) -> None:
    """She gave the amount only, and the model filled the restaurant in with a stand-in: her
    amount verifies her, and a stand-in alone is no answer (nor a try)."""
    ctx = phone_call()

    alone = await run_tool("verify_caller", {"restaurant": stand_in}, ctx)
    both = await run_tool("verify_caller", {"restaurant": stand_in, "amount": "337.50"}, ctx)

    assert (alone["ok"], alone["reason"]) == (False, "invalid_argument")
    assert both == {"ok": True, "verified": True}
    assert ctx.verification_attempts == 1


async def test_an_order_stored_without_a_restaurant_still_verifies_by_its_amount(
    ravi: Customer,
) -> None:
    await _add_ravis_order(restaurant=None)

    result = await run_tool("verify_caller", {"amount": "123.45"}, phone_call(202))

    assert result == {"ok": True, "verified": True}


@pytest.mark.parametrize("amount", [MISSING, None])
@pytest.mark.parametrize("said", ["0", "0.50"])
async def test_an_order_stored_without_an_amount_matches_no_amount_said(
    ravi: Customer, amount: object, said: str
) -> None:
    await _add_ravis_order(amount=amount)

    result = await run_tool("verify_caller", {"amount": said}, phone_call(202))

    assert (result["ok"], result["reason"]) == (False, "not_verified")


async def _add_ravis_order(**stored: object) -> None:
    """Ravi's newest order as a direct database write may leave it: ₹123.45 from Chaat
    Corner, but for the fields in `stored` (MISSING: not there at all)."""
    now = datetime.now(UTC)
    fields = {
        "order_id": "ORD-2002", "user_id": 202, "restaurant": "Chaat Corner", "items": [],
        "amount": 12_345, "status": "delivered", "placed_at": now, "delivered_at": now,
        "refund": None, **stored,
    }  # fmt: skip
    await mongo.async_db().orders.insert_one(
        {name: value for name, value in fields.items() if value is not MISSING}
    )


async def test_an_unknown_number_cannot_verify(db: Any) -> None:
    result = await run_tool("verify_caller", {"restaurant": "Dosa Point"}, phone_call(None))

    assert result["reason"] == "not_identified"


async def test_a_caller_with_a_carrier_attestation_is_verified_from_the_start(
    asha: Customer, tiers: list[RefundTier]
) -> None:
    ctx = ToolContext(user_id=101, call_id="c", channel="phone", verified=True)

    profile = await run_tool("get_user_profile", {}, ctx)

    assert profile["verified"] is True and profile["wallet_balance"] == "120.00"


# --- Escalations carry their order ------------------------------------------------------------


async def test_an_escalation_about_an_order_carries_it(asha: Customer) -> None:
    result = await run_tool(
        "escalate_to_human",
        {"reason": "wants a full refund", "order_id": "ord-1001"},
        ASHA_ON_THE_WEB,
    )

    ticket = await mongo.async_db().escalations.find_one({"ticket_id": result["ticket_id"]})
    assert ticket is not None and ticket["order_id"] == "ORD-1001"
    assert ticket["origin"] == "agent"


async def test_an_order_named_when_the_customer_asks_again_goes_on_the_calls_ticket(
    asha: Customer,
) -> None:
    """The first ask named no order; the call has one ticket, which now carries it. A second
    order named later is in the note (the ticket keeps the first)."""
    first = await run_tool("escalate_to_human", {"reason": "wants a person"}, ASHA_ON_THE_WEB)
    again = await run_tool(
        "escalate_to_human", {"reason": "about her biryani", "order_id": "ord-1001"},
        ASHA_ON_THE_WEB,
    )  # fmt: skip
    await run_tool(
        "escalate_to_human", {"reason": "and the dosa", "order_id": "ORD-1002"}, ASHA_ON_THE_WEB
    )

    assert again["ticket_id"] == first["ticket_id"]
    ticket = await mongo.async_db().escalations.find_one({"ticket_id": first["ticket_id"]})
    assert ticket is not None and ticket["order_id"] == "ORD-1001"
    assert [note["text"] for note in ticket["notes"]] == [
        "The customer asked again: about her biryani",
        "The customer asked again (about ORD-1002): and the dosa",
    ]


async def test_a_misheard_order_does_not_stop_the_escalation(asha: Customer) -> None:
    result = await run_tool(
        "escalate_to_human", {"reason": "upset", "order_id": "ORD-9999"}, ASHA_ON_THE_WEB
    )

    ticket = await mongo.async_db().escalations.find_one({"ticket_id": result["ticket_id"]})
    assert ticket is not None and ticket["order_id"] is None


@pytest.mark.parametrize(
    "order_id", ["", "   ", "the biryani order I placed yesterday evening", "ORD\n1001"]
)
async def test_an_order_id_that_is_no_id_at_all_does_not_stop_the_escalation(
    asha: Customer, order_id: str
) -> None:
    result = await run_tool(
        "escalate_to_human",
        {"reason": "food poisoning", "priority": "urgent", "order_id": order_id},
        ASHA_ON_THE_WEB,
    )

    assert result["ok"], result
    ticket = await mongo.async_db().escalations.find_one({"ticket_id": result["ticket_id"]})
    assert ticket is not None and ticket["order_id"] is None and ticket["priority"] == "urgent"


async def test_an_order_id_that_is_not_text_is_still_refused(asha: Customer) -> None:
    result = await run_tool(
        "escalate_to_human", {"reason": "upset", "order_id": {"$ne": None}}, ASHA_ON_THE_WEB
    )

    assert result["reason"] == "invalid_argument"


# --- Local time -------------------------------------------------------------------------------


async def test_times_come_in_utc_and_in_the_customers_time_zone(asha: Customer) -> None:
    details = await run_tool("get_order_details", {"order_id": "ORD-1001"}, ASHA_ON_THE_WEB)

    assert details["placed_at"].endswith("+00:00")
    assert details["placed_at_local"].endswith("+05:30")
