"""A hostile read of the silence clock carried across a move (call_controls Watchdog.silence,
`limits_used.silent_s`): only the caller's own silence goes along, not a wait the call's next
process would not count as hers."""

from __future__ import annotations

from realtime.call_controls import MODEL_AWAY, MOVING, Action, Limits, Watchdog

LIMITS = Limits(idle_prompt_s=10, idle_prompts=2, max_call_s=1800)


def test_a_caller_waiting_for_a_reconnecting_model_is_not_checked_on_early_after_a_move() -> None:
    there = Watchdog(LIMITS, now=0)
    there.hold(MODEL_AWAY, False, 0.5)
    there.caller_spoke(1)
    there.agent_spoke(2)
    there.agent_turn_done(3)
    there.hold(MODEL_AWAY, True, 4)  # the model's connection drops; she waits for it
    # Eight seconds on, the process drains: the call moves while the model is still away.
    # Her one second of silence before it went goes along; the eight she waited do not.
    silent_s = there.silence(12)
    here = Watchdog(LIMITS, now=100)
    here.hold(MOVING, True, 100)
    here.carry_on(warned=False, check_ins=0, silent_s=silent_s, now=100)

    here.hold(MOVING, False, 101)  # the model is up here

    assert silent_s == 1
    assert here.tick(108.9) is None  # not asked whether she is there two seconds after
    assert here.tick(109) is Action.CHECK_IN


def test_a_colleague_s_hold_is_no_silence_of_the_caller_s() -> None:
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.hold("human", True, 1)

    assert watchdog.silence(30) == 0
