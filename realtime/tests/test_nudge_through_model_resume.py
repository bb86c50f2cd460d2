"""A nudge across a resumption of the model's session (call_controls Watchdog, MODEL_AWAY): it
waits on through the reconnect while the model still owes its answer, and goes with a turn the
model was generating, owing nothing, which does not outlive the connection. Kept, the next thing
it was given to answer (the caller's question, a check-in) found the nudge long waited on, and
the model's session was resumed half a second later, before it could answer."""

from __future__ import annotations

from realtime.call_controls import Action
from realtime.tests.model_resumes import acts, away, model_up


def test_a_nudge_of_a_turn_cut_by_the_session_s_drop_is_not_kept_for_the_next_answer() -> None:
    watchdog = model_up()
    watchdog.agent_spoke(1, audio=True)  # its answer begins, then its audio stops coming
    assert acts(watchdog, 1, 9) == [(9, Action.NUDGE_MODEL)]
    away(watchdog, gone=10, back=12)  # the session drops: the turn ends with it

    watchdog.caller_spoke(13)  # she asks something new

    assert acts(watchdog, 13, 21) == [(21, Action.NUDGE_MODEL)]  # stall_s of its own first


def test_a_nudge_while_an_answer_is_owed_still_waits_on_through_the_resume() -> None:
    watchdog = model_up()
    watchdog.caller_spoke(1)
    assert acts(watchdog, 1, 9) == [(9, Action.NUDGE_MODEL)]
    away(watchdog, gone=12, back=20)  # three seconds of the nudge's wait, then away

    assert acts(watchdog, 20, 26) == [(25, Action.RESUME_MODEL)]  # five more of its own
