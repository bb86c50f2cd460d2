"""A call's watchdog (call_controls) at literal times, its model's session going and coming
back (MODEL_AWAY): the calls the tests of the silence, stall and nudge clocks start from."""

from __future__ import annotations

from realtime.call_controls import MODEL_AWAY, Action, Limits, Watchdog

LIMITS = Limits(idle_prompt_s=10, idle_prompts=2, max_call_s=1800, stall_s=8)


def model_up() -> Watchdog:
    """A call whose model's session is up at 0.5, as a call's first is: away from the start."""
    watchdog = Watchdog(LIMITS, now=0)
    watchdog.hold(MODEL_AWAY, True, 0)
    watchdog.hold(MODEL_AWAY, False, 0.5)
    return watchdog


def greeted(at: float = 2) -> Watchdog:
    """A call whose model is up and whose greeting ended at `at`: the caller silent since."""
    watchdog = model_up()
    watchdog.agent_spoke(1)
    watchdog.agent_turn_done(at)
    return watchdog


def asked_at(at: float) -> Watchdog:
    """A call whose model is up, greeted the caller, and was asked something at `at`."""
    watchdog = greeted()
    watchdog.caller_spoke(at)
    return watchdog


def away(watchdog: Watchdog, gone: float, back: float) -> None:
    """The model's session goes at `gone` and is resumed at `back`."""
    watchdog.hold(MODEL_AWAY, True, gone)
    watchdog.hold(MODEL_AWAY, False, back)


def acts(watchdog: Watchdog, start: float, end: float) -> list[tuple[float, Action]]:
    """What the watchdog does, ticked every tenth of a second from `start` to `end`."""
    done = []
    for step in range(round(start * 10), round(end * 10) + 1):
        action = watchdog.tick(step / 10)
        if action is not None:
            done.append((step / 10, action))
    return done
