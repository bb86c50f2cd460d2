"""Every ended call gets its after-call fields (outcome, duration, turns, cost), its summary and
its count in `voice_calls_ended_total` exactly once, whichever way it ended and whoever
finishes it: the process carrying it, the sweeper of any process (continuity/sweeper.py), two
of them at once, or a sweeper catching up with a call whose finishing was cut short (its
process killed between closing the record and finishing it, or the database away then)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect

from continuity.calls import correct_end_reason, hand_over
from continuity.sweeper import sweep_once
from postcall import finish, metrics, summary
from postcall.tests.test_after_the_call import asha, live  # noqa: F401  (fixtures)
from postcall.tests.test_summary import BAD_KEY, GOOD, FakeGemini, gemini  # noqa: F401
from realtime import call_record
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import BrowserCall
from support import mongo
from support.models import Customer
from support.staff.aftercall import summary_of

pytestmark = pytest.mark.django_db(transaction=True)

TURN = {"user_ms": 900, "first_audio_ms": 700, "tools_ms": 12, "source": "live"}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)  # as MongoDB keeps it


async def add_call(call_id: str, *, ended_ago: dt.timedelta | None, **fields: Any) -> None:
    """A call that asked for a person and got a ticket; ended `ended_ago`, or still open."""
    ended = None if ended_ago is None else now() - ended_ago
    started = (ended or now()) - dt.timedelta(minutes=3)
    await mongo.async_db().calls.insert_one({
        "call_id": call_id, "user_id": 101, "channel": "phone", "started_at": started,
        "ended_at": ended, "end_reason": "caller_hung_up" if ended else "",
        "last_seen_at": ended or now(), "carrier": None,
        "transcript": [{"role": "user", "text": "A person, please.", "at": started},
                       {"role": "agent", "text": "Fetching a colleague.", "at": started}],
        "tool_calls": [{"name": "escalate_to_human", "args": {}, "ok": True, "ms": 12,
                        "result": {"ok": True, "ticket_id": f"TKT-{call_id}"},
                        "started_at": started}],
        "usage": {"prompt_token_count": 4000, "response_token_count": 900,
                  "total_token_count": 4900},
        **fields,
    })  # fmt: skip


async def record(call_id: str) -> dict[str, Any]:
    return await mongo.async_db().calls.find_one({"call_id": call_id}) or {}


def ended_count(outcome: str, channel: str = "phone") -> float:
    return metrics.CALLS_ENDED.labels(channel, outcome)._value.get()


@pytest.fixture
def summaries_asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each summary the model is asked for (a paid request): the calls' ids."""
    asked: list[str] = []
    original = summary.summarize_call

    async def counted(call_id: str) -> dict[str, Any] | None:
        asked.append(call_id)
        return await original(call_id)

    monkeypatch.setattr(summary, "summarize_call", counted)
    return asked


async def test_two_processes_finishing_one_call_at_once_finish_it_once(
    transactional_db: Any, summaries_asked: list[str]
) -> None:
    await add_call("CALL-1", ended_ago=dt.timedelta(seconds=1), turns=[{"at": now(), **TURN}])
    before = ended_count("escalated")
    measured = [{"at": now(), **TURN}]  # the same turn each time, whatever the clock says

    outcomes = await asyncio.gather(
        finish.finish_call("CALL-1", measured), finish.finish_call("CALL-1", measured)
    )
    await summary.pending()
    again = await finish.finish_call("CALL-1", measured)  # a retry, later
    await summary.pending()

    assert sorted(outcomes, key=str) == [None, "escalated"] and again is None
    done = await record("CALL-1")
    assert len(done["turns"]) == 2  # the one kept before, and one finisher's, once
    assert ended_count("escalated") == before + 1
    assert summaries_asked == ["CALL-1"]
    assert done["summary"]["text"] == "Escalated to a person: opened ticket TKT-CALL-1."


async def test_a_call_the_sweeper_ends_counts_as_ended(
    transactional_db: Any, settings: Any
) -> None:
    """Its process died: the process that counted its start cannot count its end."""
    await add_call("CALL-LOST", ended_ago=None, carrier="process-gone",
                   last_seen_at=now() - dt.timedelta(minutes=5))  # fmt: skip
    before = ended_count("escalated")

    assert await sweep_once() == 1
    await summary.pending()

    assert (await record("CALL-LOST"))["outcome"] == "escalated"
    assert ended_count("escalated") == before + 1


async def test_a_call_closed_after_its_finishing_ran_is_finished_by_the_sweeper(
    transactional_db: Any,
) -> None:
    """The database was away as the call ended: its record is closed later, in the
    background (realtime/call_record.py), after the ending process tried to finish it."""
    await add_call("CALL-1", ended_ago=None)

    assert await finish.finish_call("CALL-1", [{"at": now(), **TURN}]) is None
    assert "outcome" not in await record("CALL-1")  # not on a call that is not over

    calls = mongo.async_db().calls
    started = (await record("CALL-1"))["started_at"]
    closed = {"ended_at": started + dt.timedelta(minutes=3), "end_reason": "caller_hung_up"}
    await calls.update_one({"call_id": "CALL-1"}, {"$set": closed})  # the close got through
    assert await finish.finish_leftovers(now() + dt.timedelta(minutes=1)) == 1
    await summary.pending()

    done = await record("CALL-1")
    assert done["outcome"] == "escalated" and done["duration_s"] == 180.0
    assert done["cost"]["currency"] == "INR"
    assert done["summary"]["text"] == "Escalated to a person: opened ticket TKT-CALL-1."


class DatabaseAway:
    """What `mongo.async_db()` answers while the database cannot be reached."""

    def __getattr__(self, name: str) -> Any:
        return self

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        raise AutoReconnect("connection refused")

    async def update_one(self, *args: Any, **kwargs: Any) -> Any:
        raise AutoReconnect("connection refused")


async def test_the_turns_of_a_call_ended_while_the_database_was_away_are_kept_for_its_finishing(
    transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_call("CALL-1", ended_ago=None)
    turn = {"at": now(), **TURN}
    with monkeypatch.context() as away:
        away.setattr(mongo, "async_db", DatabaseAway)
        assert await finish.finish_call("CALL-1", [turn]) is None

    # Back: the record's close gets through (realtime/call_record.py), the sweeper finishes it.
    started = (await record("CALL-1"))["started_at"]
    closed = {"ended_at": started + dt.timedelta(minutes=3), "end_reason": "caller_hung_up"}
    await mongo.async_db().calls.update_one({"call_id": "CALL-1"}, {"$set": closed})
    assert await finish.finish_leftovers(now() + dt.timedelta(minutes=1)) == 1
    await asyncio.sleep(1.5)  # the retry in the background finds nothing left to write
    await summary.pending()

    assert (await record("CALL-1"))["turns"] == [turn]


async def test_the_turns_of_a_call_ended_while_the_database_was_away_are_written_once_it_is_back(
    transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_call("CALL-1", ended_ago=dt.timedelta(seconds=1))
    turn = {"at": now(), **TURN}
    with monkeypatch.context() as away:
        away.setattr(mongo, "async_db", DatabaseAway)
        assert await finish.finish_call("CALL-1", [turn]) is None

    async with asyncio.timeout(5):  # retried in the background
        while "outcome" not in await record("CALL-1"):
            await asyncio.sleep(0.1)
    await summary.pending()
    assert await finish.finish_call("CALL-1") is None  # the sweeper, later

    done = await record("CALL-1")
    assert done["outcome"] == "escalated" and done["turns"] == [turn]


async def test_a_call_whose_process_died_while_finishing_it_is_finished_once(
    transactional_db: Any, summaries_asked: list[str]
) -> None:
    await add_call("CALL-CUT", ended_ago=dt.timedelta(minutes=1))  # closed, never finished
    await add_call("CALL-RECENT", ended_ago=dt.timedelta(seconds=2))  # its process is on it
    await add_call("CALL-LIVE", ended_ago=None)
    before = ended_count("escalated")

    finished = await asyncio.gather(*(finish.finish_leftovers(now()) for _ in range(3)))
    await summary.pending()

    assert sum(finished) == 1  # every process sweeps; one of them finishes it
    assert (await record("CALL-CUT"))["outcome"] == "escalated"
    assert summaries_asked == ["CALL-CUT"]
    assert ended_count("escalated") == before + 1
    assert "outcome" not in await record("CALL-RECENT")
    assert "outcome" not in await record("CALL-LIVE")


async def test_a_summary_its_process_never_wrote_gets_the_account_and_says_why(
    transactional_db: Any, settings: Any
) -> None:
    """Killed while the model was writing it: the account stands in, with the reason, and
    `summarize_calls --missing` asks the model again."""
    settings.GEMINI_API_KEY, settings.CALL_SUMMARY_MODEL = "a-key", "gemini-3.5-flash-lite"
    minutes_ago = [now() - dt.timedelta(minutes=n) for n in range(6)]
    await add_call("CALL-1", ended_ago=dt.timedelta(minutes=5), outcome="escalated",
                   finished_at=minutes_ago[5])  # fmt: skip
    # Finished a minute ago, after the database came back: the model may still be writing it.
    await add_call("CALL-2", ended_ago=dt.timedelta(minutes=5), outcome="escalated",
                   finished_at=minutes_ago[1])  # fmt: skip
    # Given its outcome otherwise (the demo's calls, calls from before summaries): left be.
    await add_call("CALL-DEMO", ended_ago=dt.timedelta(minutes=5), outcome="escalated")

    await finish.finish_leftovers(now())

    stand_in = (await record("CALL-1"))["summary"]
    assert stand_in["text"] == "Escalated to a person: opened ticket TKT-CALL-1."
    assert stand_in["error"] == "the server stopped before the model answered"
    assert "summary" not in await record("CALL-2")
    assert "summary" not in await record("CALL-DEMO")


async def test_a_summary_another_process_is_writing_is_left_to_it_until_its_claim_lapses(
    transactional_db: Any, settings: Any
) -> None:
    """`summarize_calls` (or Summarise again on another worker) is writing it: the account
    would be replaced a moment later. Killed while writing it, its claim lapses, and the
    sweeper writes the account."""
    settings.GEMINI_API_KEY, settings.CALL_SUMMARY_MODEL = "a-key", "gemini-3.5-flash-lite"
    writing = {"by": "another-process", "until": now() + dt.timedelta(minutes=1)}
    await add_call("CALL-1", ended_ago=dt.timedelta(minutes=5), outcome="escalated",
                   finished_at=now() - dt.timedelta(minutes=5), summary_lease=writing)  # fmt: skip

    await finish.finish_leftovers(now())
    assert "summary" not in await record("CALL-1")

    lapsed = {"summary_lease.until": now() - dt.timedelta(seconds=1)}  # a minute on
    await mongo.async_db().calls.update_one({"call_id": "CALL-1"}, {"$set": lapsed})
    await finish.finish_leftovers(now())
    stand_in = (await record("CALL-1"))["summary"]
    assert stand_in["error"] == "the server stopped before the model answered"


async def test_without_a_model_the_account_missing_from_a_call_is_written_as_it_would_be(
    transactional_db: Any,
) -> None:
    await add_call("CALL-1", ended_ago=dt.timedelta(minutes=5), outcome="escalated",
                   finished_at=now() - dt.timedelta(minutes=5))  # fmt: skip

    await finish.finish_leftovers(now())

    assert (await record("CALL-1"))["summary"] == {
        "text": "Escalated to a person: opened ticket TKT-CALL-1.", "sentiment": None,
        "resolved": False, "follow_up": "A colleague should pick up ticket TKT-CALL-1.",
        "source": "tool_results",
    }  # fmt: skip


# --- calls left unfinished longer than the look-back ---------------------------------------------


async def test_a_call_left_unfinished_while_the_servers_were_down_for_days_is_finished(
    transactional_db: Any, summaries_asked: list[str]
) -> None:
    """Its process died between closing the record and finishing it, and no process ran for a
    weekend: the first sweep after gives it its outcome, cost and account, and counts it."""
    await add_call("CALL-WEEKEND", ended_ago=dt.timedelta(days=2, hours=7))
    before = ended_count("escalated")

    assert await sweep_once() == 0  # nothing to end: only to finish
    await summary.pending()

    done = await record("CALL-WEEKEND")
    assert done["outcome"] == "escalated" and done["duration_s"] == 180.0
    assert done["cost"]["currency"] == "INR"
    assert ended_count("escalated") == before + 1
    assert done["summary"]["text"] == "Escalated to a person: opened ticket TKT-CALL-WEEKEND."
    assert "error" not in done["summary"]  # no model configured: the account is all there is
    assert summaries_asked == []
    assert await finish.finish_leftovers(now()) == 0  # once


async def test_a_call_finished_past_the_look_back_gets_the_account_not_the_model(
    transactional_db: Any, settings: Any, summaries_asked: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each summary is a paid request: the sweeper asks the model only for calls it finishes
    within LOOK_BACK of their end; older ones (possibly months of calls from before outcomes
    were kept) are `summarize_calls --missing`'s, which asks in bulk only when told to."""
    settings.GEMINI_API_KEY, settings.CALL_SUMMARY_MODEL = "a-key", "gemini-3.5-flash-lite"

    async def model(call: Any) -> summary.CallSummary:
        return summary.CallSummary(text="The model's.", sentiment="neutral", resolved=False,
                                   follow_up="")  # fmt: skip

    monkeypatch.setattr(summary, "ask_model", model)
    await add_call("CALL-RECENT", ended_ago=dt.timedelta(hours=5))
    await add_call("CALL-OLD", ended_ago=finish.LOOK_BACK + dt.timedelta(minutes=1))

    assert await finish.finish_leftovers(now()) == 2
    await summary.pending()

    assert summaries_asked == ["CALL-RECENT"]
    assert (await record("CALL-RECENT"))["summary"]["text"] == "The model's."
    old = await record("CALL-OLD")
    assert old["outcome"] == "escalated"
    assert old["summary"]["text"] == "Escalated to a person: opened ticket TKT-CALL-OLD."
    assert old["summary"]["error"] == finish.FINISHED_LATE


def test_unfinished_calls_are_read_through_an_index(transactional_db: Any) -> None:
    """Every process sweeps every 15 s, now however far back: SecantusDB reads every call for
    a match it has no index for."""
    plan = mongo.sync_db().calls.find(finish.unfinished(now())).explain()

    assert "calls_unfinished" in str(plan["queryPlanner"]["winningPlan"])


# --- an outcome corrected after the call was finished ---------------------------------------------


async def transfer_nobody_answered(call_id: str) -> None:
    """A phone call transferred to a colleague, finished (and summarised) as transferred;
    then Twilio says nobody answered the transfer (realtime/phone/views.py)."""
    await add_call(call_id, ended_ago=dt.timedelta(seconds=5), end_reason="transferred_to_human")
    assert await finish.finish_call(call_id) == "transferred"
    await summary.pending()
    await mongo.async_db().calls.update_one(
        {"call_id": call_id}, {"$set": {"end_reason": "transfer_failed"}}
    )


async def test_a_corrected_outcome_rewrites_the_one_line_account(transactional_db: Any) -> None:
    await transfer_nobody_answered("CALL-1")
    assert (await record("CALL-1"))["summary"]["text"].startswith("Transferred to a person")

    assert await finish.correct_outcome("CALL-1") == "escalated"
    await summary.pending()

    assert (await record("CALL-1"))["summary"] == {
        "text": "Escalated to a person: opened ticket TKT-CALL-1.", "sentiment": None,
        "resolved": False, "follow_up": "A colleague should pick up ticket TKT-CALL-1.",
        "source": "tool_results",
    }  # fmt: skip


TRANSFERRED = {**GOOD, "text": "Asha asked for a person; the agent transferred her to one.",
               "resolved": True, "follow_up": ""}  # fmt: skip
ESCALATED = {**GOOD, "text": "Asha asked for a person; nobody answered the transfer.",
             "resolved": False, "follow_up": "Call Asha back about ticket TKT-CALL-1."}  # fmt: skip


async def test_a_models_summary_from_before_the_correction_is_asked_for_again(
    transactional_db: Any, gemini: FakeGemini  # noqa: F811
) -> None:
    gemini.answer = json.dumps(TRANSFERRED)
    await transfer_nobody_answered("CALL-1")
    gemini.answer = json.dumps(ESCALATED)

    assert await finish.correct_outcome("CALL-1") == "escalated"
    await summary.pending()

    written = (await record("CALL-1"))["summary"]
    assert {key: written[key] for key in ESCALATED} == ESCALATED
    # The model is told how the call ended, not left to take the transcript's word for it.
    assert "Escalated to a person" in json.dumps(gemini.requests[-1]["body"]["contents"])


async def test_an_outcome_corrected_while_the_model_writes_the_summary_is_summarised_again(
    transactional_db: Any, gemini: FakeGemini, settings: Any  # noqa: F811
) -> None:
    settings.CALL_SUMMARY_TIMEOUT_S = 10.0
    gemini.answer, gemini.delay_s = json.dumps(TRANSFERRED), 1.0
    await add_call("CALL-1", ended_ago=dt.timedelta(seconds=5), end_reason="transferred_to_human")
    assert await finish.finish_call("CALL-1") == "transferred"  # its summary is on the way
    async with asyncio.timeout(5):
        while not gemini.requests:  # the model is writing it
            await asyncio.sleep(0.01)

    await mongo.async_db().calls.update_one(
        {"call_id": "CALL-1"}, {"$set": {"end_reason": "transfer_failed"}}
    )
    assert await finish.correct_outcome("CALL-1") == "escalated"
    await summary.pending()

    # Asked again, told how the call really ended, and that summary is the one kept.
    assert len(gemini.requests) == 2
    assert "Escalated to a person" in json.dumps(gemini.requests[-1]["body"]["contents"])
    assert "outcome_was" not in (await record("CALL-1"))["summary"]


async def test_a_models_summary_not_written_again_says_it_is_from_before_the_correction(
    transactional_db: Any, gemini: FakeGemini  # noqa: F811
) -> None:
    gemini.answer = json.dumps(TRANSFERRED)
    await transfer_nobody_answered("CALL-1")
    gemini.error = (400, BAD_KEY)  # the model refuses to write it again

    assert await finish.correct_outcome("CALL-1") == "escalated"
    await summary.pending()

    kept = await record("CALL-1")
    assert kept["summary"]["text"] == TRANSFERRED["text"]
    shown = summary_of(kept)
    assert shown is not None
    assert shown.warning == ("Written before the call's outcome was corrected from "
                             "Transferred to a person to Escalated to a person: it may say "
                             "otherwise.")  # fmt: skip


async def test_a_refund_handed_over_after_the_call_was_finished_changes_its_outcome(
    transactional_db: Any,
) -> None:
    # Asha asked for a refund; the call ended and was finished while the refund still ran in
    # the process that carried the call before (realtime/call_session.py _hand_over_tools).
    await add_call("CALL-1", ended_ago=dt.timedelta(seconds=5), tool_calls=[])
    refunds_before = ended_count("resolved_refund")
    assert await finish.finish_call("CALL-1") == "resolved_info"
    await summary.pending()

    refund = {"name": "initiate_refund", "args": {"order_id": "ORD-1001"}, "ok": True,
              "ms": 900, "started_at": now(),
              "result": {"ok": True, "refund_id": "RF-1", "order_id": "ORD-1001",
                         "amount": "337.50", "percent": 100}}  # fmt: skip
    await hand_over("CALL-1", [refund])
    await summary.pending()

    done = await record("CALL-1")
    assert [tool["name"] for tool in done["tool_calls"]] == ["initiate_refund"]
    assert done["outcome"] == "resolved_refund"
    assert done["summary"]["text"] == "Resolved with a refund: refunded ₹337.50 (100%) on ORD-1001."
    assert ended_count("resolved_refund") == refunds_before  # counted once, as it first ended


async def test_a_tool_handed_over_before_the_call_is_finished_is_left_to_its_finisher(
    transactional_db: Any,
) -> None:
    # The process that ended the call has not finished it yet: it will, with its turns.
    await add_call("CALL-1", ended_ago=dt.timedelta(seconds=1), tool_calls=[])
    refund = {"name": "initiate_refund", "args": {"order_id": "ORD-1001"}, "ok": True,
              "ms": 900, "started_at": now(),
              "result": {"ok": True, "refund_id": "RF-1", "order_id": "ORD-1001",
                         "amount": "337.50", "percent": 100}}  # fmt: skip
    await hand_over("CALL-1", [refund])
    assert "outcome" not in await record("CALL-1")

    assert await finish.finish_call("CALL-1", [TURN]) == "resolved_refund"
    assert (await record("CALL-1"))["turns"] == [TURN]


# --- corrections landing as the call is finished -----------------------------------------------

REFUND = {"name": "initiate_refund", "args": {"order_id": "ORD-1001"}, "ok": True, "ms": 900,
          "result": {"ok": True, "refund_id": "RF-1", "order_id": "ORD-1001",
                     "amount": "337.50", "percent": 100}}  # fmt: skip


def landing_before_the_outcome(
    monkeypatch: pytest.MonkeyPatch, correction: Callable[[], Awaitable[None]]
) -> None:
    """`correction` runs once, just before the first outcome is written: after the finisher
    read the record it worked the outcome out from."""
    write = AsyncCollection.update_one
    pending = [correction]

    async def update_one(self: AsyncCollection[Any], filter: Any, update: Any, *args: Any,
                         **kw: Any) -> Any:  # fmt: skip
        if pending and "outcome" in update.get("$set", {}):
            await pending.pop()()
        return await write(self, filter, update, *args, **kw)

    monkeypatch.setattr(AsyncCollection, "update_one", update_one)


async def nobody_answered_the_transfer() -> None:
    """What Twilio's <Dial action> does for a transfer nobody answered, with a corrector that
    leaves an unfinished call to its finisher (as one handing over late tools does)."""
    assert await correct_end_reason("CA-1", ["transferred_to_human"], "transfer_failed")
    assert await finish.correct_outcome("CALL-1", finish=False) is None  # no outcome yet


async def test_an_end_reason_corrected_as_the_call_is_finished_is_not_lost(
    transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_call("CALL-1", ended_ago=dt.timedelta(seconds=1), end_reason="transferred_to_human",
                   call_sid="CA-1")  # fmt: skip
    landing_before_the_outcome(monkeypatch, nobody_answered_the_transfer)

    assert await finish.finish_call("CALL-1") == "escalated"
    await summary.pending()

    done = await record("CALL-1")
    assert (done["end_reason"], done["outcome"]) == ("transfer_failed", "escalated")
    assert done["summary"]["text"].startswith("Escalated to a person")


async def test_an_end_reason_corrected_after_the_call_was_finished_is_not_lost(
    transactional_db: Any,
) -> None:
    await add_call("CALL-1", ended_ago=dt.timedelta(seconds=1), end_reason="transferred_to_human",
                   call_sid="CA-1")  # fmt: skip
    assert await finish.finish_call("CALL-1") == "transferred"
    await summary.pending()

    assert await correct_end_reason("CA-1", ["transferred_to_human"], "transfer_failed")
    assert await finish.correct_outcome("CALL-1") == "escalated"
    await summary.pending()

    done = await record("CALL-1")
    assert (done["end_reason"], done["outcome"]) == ("transfer_failed", "escalated")
    assert done["summary"]["text"].startswith("Escalated to a person")


async def test_a_tool_handed_over_as_the_call_is_finished_counts_in_its_outcome(
    transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_call("CALL-1", ended_ago=dt.timedelta(seconds=1), tool_calls=[])

    async def the_refund_finishes() -> None:
        await hand_over("CALL-1", [{**REFUND, "started_at": now()}])

    landing_before_the_outcome(monkeypatch, the_refund_finishes)

    assert await finish.finish_call("CALL-1") == "resolved_refund"
    assert (await record("CALL-1"))["outcome"] == "resolved_refund"


async def test_two_corrections_at_once_both_count_in_the_outcome(
    transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transfer nobody answered is corrected while a late refund is handed over: the one
    whose outcome is written last read the record before the other's correction."""
    await add_call("CALL-1", ended_ago=dt.timedelta(seconds=1), end_reason="transferred_to_human",
                   call_sid="CA-1", tool_calls=[])  # fmt: skip
    assert await finish.finish_call("CALL-1") == "transferred"
    await correct_end_reason("CA-1", ["transferred_to_human"], "caller_hung_up")

    async def the_refund_finishes() -> None:
        await hand_over("CALL-1", [{**REFUND, "started_at": now()}])

    landing_before_the_outcome(monkeypatch, the_refund_finishes)
    await finish.correct_outcome("CALL-1")
    await summary.pending()

    assert (await record("CALL-1"))["outcome"] == "resolved_refund"


# --- over the bridge ---------------------------------------------------------------------------


async def test_a_call_ending_while_the_database_blinks_is_finished_once_it_is_back(
    asha: Customer, live: FakeLiveServer, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    original = call_record.CallRecord._flush
    refused: list[str] = []

    async def blink(self: call_record.CallRecord, extra: dict[str, Any] | None = None) -> None:
        if extra and "ended_at" in extra and not refused:
            refused.append(self.call_id)
            raise call_record.PyMongoError("connection reset")  # the close is retried in 1 s
        await original(self, extra)

    monkeypatch.setattr(call_record.CallRecord, "_flush", blink)

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_transcript("agent", "Hello, how can I help?")
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete")
    await call.send({"type": "end"})
    await call.next_event("ended")
    call_id = ready["call_id"]
    async with asyncio.timeout(5):
        while not (await record(call_id)).get("ended_at"):
            await asyncio.sleep(0.1)
    assert refused == [call_id] and "outcome" not in await record(call_id)

    assert await finish.finish_leftovers(now() + dt.timedelta(minutes=1)) == 1
    await summary.pending()

    done = await record(call_id)
    assert done["end_reason"] == "caller_hung_up" and done["outcome"] == "abandoned"
    assert "summary" in done and "duration_s" in done
