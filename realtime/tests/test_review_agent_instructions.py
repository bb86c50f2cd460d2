"""What the model is told, read as a support lead listening to calls would: the persona agrees
with the tools it has (what they can do, what they answer, when verification applies), and the
briefings after a lost session or a colleague's hand-back leave it saying the right thing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings

from realtime import instructions
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import BrowserCall, wait_until_ended
from support.models import Customer
from support.tools import TOOLS, ToolContext, run_tool

PERSONA = "Asha"


def persona() -> str:
    return instructions.system_instruction(PERSONA)


def bullet(text: str, word: str) -> str:
    """The one line of the persona that speaks of `word`."""
    lines = [line for line in text.splitlines() if word in line]
    assert len(lines) == 1, lines
    return lines[0]


# --- the persona and the tools -------------------------------------------------------------


def test_the_agent_offers_nothing_its_tools_cannot_do() -> None:
    # There is no tool for a re-delivery: offered, it is a promise nobody keeps.
    for sentence in re.split(r"(?<=[.:])\s", persona()):
        if "re-delivery" in sentence:
            assert "cannot" in sentence, sentence


def test_the_agent_escalates_when_the_problem_is_beyond_its_tools() -> None:
    """The tools' own answers offer a colleague (records unreachable, a refund the customer
    disputes): the persona must not forbid what they offer."""
    escalate = bullet(persona(), "Escalate")
    assert "only when" not in escalate
    assert "beyond your tools" in escalate and "disputes a refund" in escalate
    assert "disputes" in TOOLS["escalate_to_human"].description


async def test_times_are_said_in_the_customers_local_time(asha: Customer) -> None:
    answer = await run_tool("get_order_details", {"order_id": "ORD-1001"},
                            ToolContext(user_id=101, channel="web"))  # fmt: skip
    local = [key for key in answer if key.endswith("_local")]
    assert "delivered_at_local" in local and "delivered_at" in answer  # UTC beside it

    times = bullet(persona(), "UTC")
    assert '"_local"' in times and "never say a UTC time" in times
    for name in ("check_order_status", "get_order_details"):
        assert "_local" in TOOLS[name].description


async def test_verification_is_asked_of_whom_the_profile_says_and_no_one_else(
    asha: Customer,
) -> None:
    """The model is never told the channel: what tells it a caller needs verifying is the
    profile's `verified`, as the tool answers it."""
    phone = await run_tool("get_user_profile", {}, ToolContext(user_id=101, channel="phone"))
    web = await run_tool("get_user_profile", {}, ToolContext(user_id=101, channel="web"))
    said = {json.dumps({"verified": phone["verified"]}), json.dumps({"verified": web["verified"]})}
    assert said == {'{"verified": false}', '{"verified": true}'}

    verify = bullet(persona(), "verify_caller")
    assert '"verified": false' in verify and "not_verified" in verify
    assert '"verified": true' in verify and "never ask them to verify" in verify


def test_ids_the_customer_needs_later_are_said_slowly_not_withheld() -> None:
    """The tools ask for the ticket, complaint and refund ids to be told; an unidentified
    caller is to quote their ticket when calling again."""
    text = persona()
    assert "Never read out ids letter by letter" not in text
    ids = bullet(text, "character by character")
    assert all(kind in ids for kind in ("ticket", "complaint", "refund", "callback"))
    assert "slowly" in ids and "order ids" in ids


def test_tool_messages_are_said_in_the_customers_language() -> None:
    language = bullet(persona(), "Hindi")
    assert "written in English for you" in language
    assert "in the language you are speaking" in language


def test_an_unidentified_caller_is_not_offered_a_callback_that_cannot_be_booked() -> None:
    unknown = bullet(instructions.system_instruction(None), "not identified")
    assert "callback" in unknown
    assert "not identified" not in persona()


# --- briefings -------------------------------------------------------------------------------


def test_a_hand_back_does_not_make_the_agent_greet_again_or_guess_what_was_said() -> None:
    told = instructions.handed_back("Arjun", 65, "Refund agreed; confirm and close.")

    assert "Arjun talked with the customer for 1:05 minutes." in told
    assert '"Refund agreed; confirm and close."' in told
    assert "Do not greet the customer again" in told
    assert "did not hear what they said" in told
    # The caller has been talking with a person: she is told the AI is back.
    assert "the AI assistant" in told
    assert settings.VOICE_AI_DISCLOSURE not in told  # not the whole introduction again


def test_a_fresh_session_after_the_agent_spoke_does_not_introduce_itself_again() -> None:
    told = instructions.carry_on([("agent", "Hello, I'm Priya."), ("user", "Where is it?")])

    assert "Do not greet the customer again" in told
    assert settings.VOICE_AI_DISCLOSURE not in told


def test_a_fresh_session_before_the_agent_ever_spoke_still_owes_the_disclosure() -> None:
    for said in ([], [("user", "My parcel never came.")]):
        told = instructions.carry_on(said)
        assert f'Your first words must say, in your own voice: "{settings.VOICE_AI_DISCLOSURE}"' \
            in told
        assert "Do not greet" not in told


async def briefing_after_a_lost_first_session(
    live: FakeLiveServer, customer_said: str | None = None
) -> tuple[str, FakeSession]:
    """A call whose first model session drops before the agent said anything (the customer
    having said `customer_said`, or nothing): what the fresh session is told first, and it."""

    async def first(session: FakeSession) -> None:
        await session.wait_for_note()  # the greeting, never answered
        if customer_said:
            await session.send_transcript("user", customer_said, finished=True)
        await session.drop()

    async def second(session: FakeSession) -> None:
        pass

    live.on_session(first, second)
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    fresh = await live.wait_for_session(1)
    told = await fresh.wait_for_note()
    await call.send({"type": "end"})
    await wait_until_ended(ready["call_id"])
    return told, fresh


@pytest.mark.django_db(transaction=True)
async def test_a_caller_whose_agent_was_lost_before_its_greeting_still_hears_it_is_an_ai(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    """The model's session drops before it said a word (and before any resumable handle): the
    fresh session is told the conversation so far, and that its introduction is still owed."""
    settings.RECORD_CALLS = True

    told, fresh = await briefing_after_a_lost_first_session(live, "My parcel never came.")

    assert "Customer: My parcel never came." in told
    assert settings.VOICE_AI_DISCLOSURE in told and settings.VOICE_RECORDING_NOTICE in told
    assert "Do not greet" not in told
    assert fresh.client_contents[0]["turnComplete"] is True  # she is waiting: it answers now


async def test_a_caller_whose_agent_was_lost_before_anyone_spoke_is_greeted_without_asking(
    asha: Customer, live: FakeLiveServer
) -> None:
    """Nothing was said yet on either side: the fresh session owes the greeting (and the AI
    disclosure in it), and says it at once rather than waiting for the caller to speak into
    a silent line."""
    told, fresh = await briefing_after_a_lost_first_session(live)

    assert settings.VOICE_AI_DISCLOSURE in told
    assert fresh.client_contents[0]["turnComplete"] is True  # it speaks first, now


def test_the_agent_is_told_the_date_and_time_on_the_customers_clock() -> None:
    """The model knows no date of its own: "the order I placed yesterday", "call me back on
    Monday" need today's, as the customer's clock has it (past midnight there, not in UTC)."""
    just_past_midnight = datetime(2026, 12, 6, 18, 45, tzinfo=UTC)  # 00:15 in Kolkata
    now = "It is now Monday 7 December 2026, 00:15 (Asia/Kolkata time)."

    assert now in instructions.greeting(just_past_midnight)
    assert instructions.now_said(just_past_midnight) == now
    for said in ([], [("agent", "Hello, I'm Priya."), ("user", "Where is it?")]):
        assert "It is now " in instructions.carry_on(said)  # a fresh session is told too
