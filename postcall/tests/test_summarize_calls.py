"""`manage.py summarize_calls`: the named calls, or every ended call still without a summary."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
import sys
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from django.utils import timezone

from postcall import finish, logs, metrics, summary
from postcall.management.commands import summarize_calls
from postcall.tests.test_summary import GOOD, FakeGemini, gemini  # noqa: F401  (the fake model)
from support import mongo
from voiceproject.tests.live_server import BASE_DIR, server_environment

pytestmark = pytest.mark.django_db(transaction=True)


def add_call(call_id: str, *, days_ago: float = 0, ended: bool = True, finished: bool = True,
             summary: dict[str, Any] | None = None, **fields: Any) -> None:  # fmt: skip
    """A call that ended `days_ago` (or is still going), and was finished (given its outcome:
    postcall.finish) unless told otherwise."""
    started = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago, minutes=2)
    doc: dict[str, Any] = {
        "call_id": call_id, "user_id": 7, "channel": "web", "started_at": started,
        "ended_at": started + dt.timedelta(minutes=2) if ended else None,
        "end_reason": "caller_hung_up" if ended else "",
        "transcript": [{"role": "user", "text": "Where is my order?", "at": started}],
        "tool_calls": [{"name": "check_order_status", "args": {}, "ok": True,
                        "result": {"ok": True, "orders": []}, "started_at": started, "ms": 12}],
    }  # fmt: skip
    if ended and finished:
        doc.update(outcome="resolved_info", finished_at=doc["ended_at"])
    if summary is not None:
        doc["summary"] = summary
    mongo.sync_db().calls.insert_one({**doc, **fields})


def started_at(call_id: str) -> dt.datetime:
    call = mongo.sync_db().calls.find_one({"call_id": call_id}, {"started_at": 1})
    assert call is not None
    return call["started_at"]


def summary_of(call_id: str) -> Any:
    return (mongo.sync_db().calls.find_one({"call_id": call_id}) or {}).get("summary")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("summarize_calls", *args, stdout=out)
    return out.getvalue()


def test_missing_summarises_every_ended_call_without_a_summary(transactional_db: Any) -> None:
    add_call("CALL-NONE-1")
    add_call("CALL-NONE-2", days_ago=10, finished=False)  # from before outcomes were kept
    add_call("CALL-HAS", summary={"text": "Kept as it was.", "source": "model"})
    add_call("CALL-LIVE", ended=False)

    out = run("--missing")

    assert "Summarised 2 call(s)." in out
    assert summary_of("CALL-NONE-1")["text"] == (
        "Information given: looked up the customer's orders."
    )
    assert summary_of("CALL-NONE-2") is not None
    assert summary_of("CALL-HAS")["text"] == "Kept as it was."
    assert summary_of("CALL-LIVE") is None


STAND_IN = {"text": "Information given: looked up the customer's orders.",
            "source": "tool_results"}  # fmt: skip


def test_with_a_model_configured_missing_asks_it_for_every_call_it_has_not_summarised(
    transactional_db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a model every ended call got the one-line account, and while the model was
    down every call got it with the failure: after configuring it, or after the outage,
    those are the calls missing its summary."""
    add_call("CALL-BEFORE-THE-MODEL", summary=STAND_IN)
    add_call("CALL-DURING-THE-OUTAGE",
             summary={**STAND_IN, "error": "its quota or rate limit was reached"})
    add_call("CALL-NONE")
    add_call("CALL-SUMMARISED", summary={"text": "Kept as it was.", "source": "model"})
    settings.GEMINI_API_KEY, settings.CALL_SUMMARY_MODEL = "a-key", "gemini-3.5-flash-lite"
    asked: list[str] = []

    async def model(call: Any) -> summary.CallSummary:
        asked.append(call["call_id"])
        return summary.CallSummary(text=f"The model on {call['call_id']}.", sentiment="neutral",
                                   resolved=True, follow_up="")  # fmt: skip

    monkeypatch.setattr(summary, "ask_model", model)

    out = run("--missing")
    again = run("--missing")  # run twice (cron, or an operator unsure it ran): nothing to do

    assert sorted(asked) == ["CALL-BEFORE-THE-MODEL", "CALL-DURING-THE-OUTAGE", "CALL-NONE"]
    assert "Summarised 3 call(s)." in out and "Summarised 0 call(s)." in again
    assert summary_of("CALL-DURING-THE-OUTAGE")["text"] == "The model on CALL-DURING-THE-OUTAGE."
    assert "error" not in summary_of("CALL-DURING-THE-OUTAGE")
    assert summary_of("CALL-SUMMARISED")["text"] == "Kept as it was."


def test_what_is_logged_while_a_call_is_summarised_names_that_call(
    transactional_db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model's failures are logged ("summary attempt 1/3 failed: ..."): on the call's line."""
    add_call("CALL-A")
    add_call("CALL-B")
    settings.GEMINI_API_KEY, settings.CALL_SUMMARY_MODEL = "a-key", "gemini-3.5-flash-lite"
    logged_for: list[tuple[str, str | None]] = []

    async def model(call: Any) -> summary.CallSummary:
        logged_for.append((call["call_id"], logs.call_id.get()))
        raise summary.SummaryFailed("its quota or rate limit was reached", "quota")

    monkeypatch.setattr(summary, "ask_model", model)

    run("CALL-A", "CALL-B")

    assert logged_for == [("CALL-A", "CALL-A"), ("CALL-B", "CALL-B")]
    assert logs.call_id.get() is None  # and nothing after it, outside the command's work


def test_without_a_model_missing_writes_only_the_accounts_not_yet_written(
    transactional_db: Any,
) -> None:
    add_call("CALL-ACCOUNTED", summary={**STAND_IN, "text": "An account, already."})
    add_call("CALL-NONE")

    out = run("--missing")

    assert "Summarised 1 call(s)." in out
    assert summary_of("CALL-ACCOUNTED")["text"] == "An account, already."


def record(call_id: str) -> dict[str, Any]:
    call = mongo.sync_db().calls.find_one({"call_id": call_id})
    assert call is not None
    return call


def test_missing_gives_calls_no_sweeper_finishes_their_outcome(transactional_db: Any) -> None:
    """A call ended before the sweepers' look-back without an outcome (the first release's,
    or ended while no server ran for longer) was in no outcome filter, figure or customer
    page: `--missing` finishes it as any call is finished, whatever `--days` (the outcome is
    no paid request) and without a model (it needs none)."""
    add_call("CALL-FIRST-RELEASE", days_ago=30, finished=False)
    add_call("CALL-ACCOUNTED", days_ago=30, finished=False, summary=STAND_IN)  # an earlier run's
    add_call("CALL-SWEEPERS", days_ago=2, finished=False)  # finished (and counted) by a sweeper
    ended = metrics.CALLS_ENDED.labels("web", "resolved_info")._value.get()

    out = run("--missing", "--days", "7")

    assert "Gave 2 call(s) that ended more than 7 days ago their outcome." in out
    for call_id in ("CALL-FIRST-RELEASE", "CALL-ACCOUNTED"):
        done = record(call_id)
        assert done["outcome"] == "resolved_info" and done["duration_s"] == 120.0
        assert "finished_at" in done
    assert record("CALL-ACCOUNTED")["summary"] == STAND_IN  # outside --days: not summarised
    assert "outcome" not in record("CALL-SWEEPERS")
    # History, not calls ended today.
    assert metrics.CALLS_ENDED.labels("web", "resolved_info")._value.get() == ended
    assert "their outcome" not in run("--missing")  # once


def test_with_a_model_configured_a_call_is_given_its_outcome_before_its_summary(
    transactional_db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_call("CALL-FIRST-RELEASE", days_ago=30, finished=False)
    settings.GEMINI_API_KEY, settings.CALL_SUMMARY_MODEL = "a-key", "gemini-3.5-flash-lite"
    outcomes: list[Any] = []

    async def model(call: Any) -> summary.CallSummary:
        outcomes.append(call.get("outcome"))
        return summary.CallSummary(text="The model's.", sentiment="neutral", resolved=True,
                                   follow_up="")  # fmt: skip

    monkeypatch.setattr(summary, "ask_model", model)

    out = run("--missing")

    assert outcomes == ["resolved_info"]
    assert "Summarised 1 call(s)." in out
    done = record("CALL-FIRST-RELEASE")
    assert done["outcome"] == "resolved_info" and done["summary"]["text"] == "The model's."


def test_missing_within_days_leaves_older_calls(transactional_db: Any) -> None:
    add_call("CALL-NEW")
    add_call("CALL-OLD", days_ago=10)

    run("--missing", "--days", "7")

    assert summary_of("CALL-NEW") is not None and summary_of("CALL-OLD") is None


def test_named_calls_are_summarised_again_and_unknown_ones_reported(
    transactional_db: Any,
) -> None:
    add_call("CALL-HAS", summary={"text": "An old account.", "source": "tool_results"})
    add_call("CALL-MODEL", summary={"text": "What the model wrote.", "source": "model"})

    out = io.StringIO()
    with pytest.raises(CommandError, match=r"^Not found or not ended: CALL-NOPE\.$"):
        # A name mistyped is a failure a script running the command must see (exit 1).
        call_command("summarize_calls", "CALL-HAS", "CALL-MODEL", "CALL-NOPE", stdout=out)

    assert summary_of("CALL-HAS")["text"] == "Information given: looked up the customer's orders."
    # Without a model (none here) the one-line account never replaces what a model wrote.
    assert summary_of("CALL-MODEL")["text"] == "What the model wrote."
    said = out.getvalue()
    assert "CALL-MODEL: What the model wrote. (kept: no summary model is configured)" in said
    assert "Summarised 2 call(s)." in said


@pytest.mark.parametrize("args, error", [
    ((), "Name the calls to summarise, or use --missing."),
    (("CALL-X", "--days", "3"), "--days goes with --missing."),
    (("--missing", "--days", "-5"), "--days must be from 0 to 36500, not -5."),
    (("--missing", "--days", "99999999999"), "--days must be from 0 to 36500, not 99999999999."),
    (("CALL-X", "--all"), "--all goes with --missing."),
    (("--missing", "--all", "--days", "3"), "--all or --days, not both."),
])  # fmt: skip
def test_arguments_it_cannot_act_on_are_refused(
    args: tuple[str, ...], error: str, transactional_db: Any
) -> None:
    with pytest.raises(CommandError, match=error):
        run(*args)


def test_missing_with_the_database_down_says_so_in_one_line(database_down: None) -> None:
    with pytest.raises(CommandError) as refused:
        run("--missing")

    assert str(refused.value).startswith("The database could not be reached (127.0.0.1:")
    assert "Is MongoDB up at MONGODB_URI" in str(refused.value)
    assert "Topology Description" not in str(refused.value)


# --- runs at once --------------------------------------------------------------------------------


async def run_elsewhere(*args: str) -> asyncio.subprocess.Process:
    """`manage.py summarize_calls` in a process of its own (cron's, or an operator's shell) on
    this database, its model the fake's (`gemini`)."""
    from django.conf import settings

    env = server_environment(extra={
        "CALL_SUMMARY_MODEL": settings.CALL_SUMMARY_MODEL,
        "CALL_SUMMARY_BASE_URL": settings.CALL_SUMMARY_BASE_URL,
        "CALL_SUMMARY_TIMEOUT_S": "20",
    })  # fmt: skip
    return await asyncio.create_subprocess_exec(
        sys.executable, "manage.py", "summarize_calls", *args, cwd=BASE_DIR, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def said_by(run: asyncio.subprocess.Process) -> str:
    """What the run printed, once it is over (it must succeed)."""
    try:
        async with asyncio.timeout(60):
            out, _ = await run.communicate()
    except TimeoutError:
        run.kill()
        raise
    assert run.returncode == 0, out.decode()
    return out.decode()


def counted(pattern: str, said: str) -> int:
    found = re.search(pattern, said)
    return int(found[1]) if found else 0


async def asked_for(gemini: FakeGemini, count: int) -> None:  # noqa: F811
    """Until the model has been asked `count` times (and holds its answers)."""
    async with asyncio.timeout(60):  # two commands starting on a busy machine
        while len(gemini.requests) < count:
            await asyncio.sleep(0.05)


async def test_two_missing_runs_at_once_ask_the_model_once_per_call(
    transactional_db: Any, gemini: FakeGemini  # noqa: F811
) -> None:
    """Cron's run starts while an operator's is still going: each call is summarised by one
    of them, and the other says it left it to the run that had it."""
    for call_id in ("CALL-1", "CALL-2", "CALL-3"):
        await sync_to_async(add_call)(call_id)
    gemini.hold = asyncio.Event()

    runs = [await run_elsewhere("--missing") for _ in range(2)]
    await asked_for(gemini, 2)  # each is waiting for the model, on a call of its own
    gemini.hold.set()
    said = [await said_by(run) for run in runs]

    assert len(gemini.requests) == 3
    assert sum(counted(r"Summarised (\d+) call", out) for out in said) == 3
    assert sum(counted(r"Skipped (\d+) call", out) for out in said) == 3
    for call_id in ("CALL-1", "CALL-2", "CALL-3"):
        assert (await sync_to_async(summary_of)(call_id))["text"] == GOOD["text"]


async def test_missing_leaves_a_call_whose_summary_the_ending_process_is_writing(
    transactional_db: Any, gemini: FakeGemini, settings: Any  # noqa: F811
) -> None:
    settings.CALL_SUMMARY_TIMEOUT_S = 20.0  # this process's model answers when told
    await sync_to_async(add_call)("CALL-1")
    gemini.hold = asyncio.Event()
    writing = summary.schedule("CALL-1")  # the process that ended the call
    await asked_for(gemini, 1)

    said = await said_by(await run_elsewhere("--missing"))
    gemini.hold.set()
    await writing

    assert "Summarised 0 call(s)." in said
    assert "Skipped 1 call(s): another run had them." in said
    assert len(gemini.requests) == 1
    assert (await sync_to_async(summary_of)("CALL-1"))["text"] == GOOD["text"]


async def test_missing_leaves_a_call_not_yet_finished_to_the_process_finishing_it(
    transactional_db: Any, gemini: FakeGemini  # noqa: F811
) -> None:
    """Its process is about to give it its outcome, then its summary (or, killed, a sweeper
    will): asked for it now, the model would be asked again once the call is finished."""
    await sync_to_async(add_call)("CALL-ENDING", finished=False)

    said = await asyncio.to_thread(run, "--missing")
    assert "Summarised 0 call(s)." in said and gemini.requests == []

    assert await finish.finish_call("CALL-ENDING") == "resolved_info"
    await summary.pending()
    assert len(gemini.requests) == 1
    assert (await sync_to_async(summary_of)("CALL-ENDING"))["text"] == GOOD["text"]


async def test_missing_takes_over_a_call_whose_run_died(
    transactional_db: Any, gemini: FakeGemini  # noqa: F811
) -> None:
    """A process killed while the model was writing leaves its claim on the call: it lapses,
    and the next run summarises the call; a claim still running is left be."""
    now = dt.datetime.now(dt.UTC)
    died = {"by": "a-process-killed", "until": now - dt.timedelta(seconds=1)}
    busy = {"by": "a-process-still-writing", "until": now + dt.timedelta(minutes=2)}
    await sync_to_async(add_call)("CALL-DIED", summary_lease=died)
    await sync_to_async(add_call)("CALL-BUSY", summary_lease=busy)

    said = await said_by(await run_elsewhere("--missing"))

    assert "Summarised 1 call(s)." in said and "Skipped 1 call(s)" in said
    assert len(gemini.requests) == 1
    assert (await sync_to_async(summary_of)("CALL-DIED"))["text"] == GOOD["text"]
    assert (await sync_to_async(summary_of)("CALL-BUSY")) is None


# --- a backlog: what it costs -----------------------------------------------------------------


@pytest.fixture
def backlog(transactional_db: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Three ended calls the model never summarised (from before it was configured), more
    than `--missing` asks it for unbidden (100 in production)."""
    monkeypatch.setattr(summarize_calls, "UNBIDDEN_LIMIT", 2)
    for call_id, days_ago in (("CALL-OLD", 40), ("CALL-WEEK", 5), ("CALL-NEW", 0)):
        add_call(call_id, days_ago=days_ago, summary=STAND_IN)
    return ["CALL-OLD", "CALL-WEEK", "CALL-NEW"]


async def test_a_backlog_over_the_limit_is_not_sent_to_the_model_without_days_or_all(
    backlog: list[str], gemini: FakeGemini  # noqa: F811
) -> None:
    with pytest.raises(CommandError) as refused:
        await asyncio.to_thread(run, "--missing")

    oldest = await sync_to_async(started_at)("CALL-OLD")
    assert str(refused.value) == (
        "3 ended calls have no summary of gemini-3.5-flash-lite's, the oldest started "
        f"{timezone.localtime(oldest):%Y-%m-%d}: each is a paid "  # its local day
        "request. Give --days N for those of the last N days, or --all for every one "
        "(without either, at most 2 are asked for)."
    )
    assert gemini.requests == []
    for call_id in backlog:
        assert (await sync_to_async(summary_of)(call_id)) == STAND_IN


async def test_all_asks_the_model_for_the_whole_backlog_and_says_so_first(
    backlog: list[str], gemini: FakeGemini  # noqa: F811
) -> None:
    said = await asyncio.to_thread(run, "--missing", "--all")

    assert said.startswith("Asking gemini-3.5-flash-lite for the summaries of 3 call(s).\n")
    assert len(gemini.requests) == 3 and "Summarised 3 call(s)." in said


async def test_days_asks_for_those_of_the_last_days_whatever_their_number(
    backlog: list[str], gemini: FakeGemini  # noqa: F811
) -> None:
    """How cron runs it: `--missing --days 1` every day."""
    await sync_to_async(add_call)("CALL-TODAY", summary=STAND_IN)

    said = await asyncio.to_thread(run, "--missing", "--days", "7")

    assert said.startswith("Asking gemini-3.5-flash-lite for the summaries of 3 call(s).\n")
    assert len(gemini.requests) == 3
    assert (await sync_to_async(summary_of)("CALL-OLD")) == STAND_IN
