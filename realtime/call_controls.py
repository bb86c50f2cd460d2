"""The rules that keep a call alive and bounded, as pure state machines (no I/O, no clock).

The call session feeds them what happens, with the time it happened (`time.monotonic()`),
and acts on what they answer:

* `Watchdog`: idle callers are checked on, then let go (not while they wait for a colleague
  the agent said is coming); calls end at their maximum
  duration, with a warning first; a model that goes silent when it owes an answer is
  nudged, then its session resumed, and if it still says nothing the call is handed to a
  person (Gemini Live users report such stalls, and turns cut short by an early
  turnComplete: python-genai #2117, cookbook #1227, gemini-live-api-examples #48).
* `TokenBucket`: typed messages per call.
* `RealTimeGate`: caller audio never goes upstream faster than real time.

A call that moves to another process takes what it has used of them along (`left`,
`warned`, `check_ins`, `silence`, then `carry_on` there): a move gives it no fresh allowance,
nor does a resumption of the model's session (the MODEL_AWAY hold).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Action(Enum):
    CHECK_IN = "check_in"  # ask the caller whether they are still there
    SAY_GOODBYE = "say_goodbye"  # idle too long: a polite goodbye, then end (reason "idle")
    WARN_MAX_DURATION = "warn_max_duration"  # about a minute left
    END_MAX_DURATION = "end_max_duration"
    NUDGE_MODEL = "nudge_model"  # the model owes an answer and has said nothing
    RESUME_MODEL = "resume_model"  # still nothing: resume the session with its handle
    GIVE_UP = "give_up"  # silent through its resumptions too: the model is lost


# The hold of a call no socket carries (a page or phone stream that dropped): the caller's
# silence runs on through it (Watchdog.hold), so a line that keeps dropping and coming back
# does not keep a silent call open.
LINE_AWAY = "detached"
# The hold of a call moving in from another process, until its model's session is up here:
# seen from the caller, the move is her line away, and her silence runs on through it too.
MOVING = "moving"
_SILENCE_RUNS_ON = frozenset({LINE_AWAY, MOVING})
# The hold while no model session is connected (its goAway, a blip of its socket): nobody can
# hear the caller then, so the wait is not her silence, but it does not wipe out the silence
# before it either (a session resumed every few minutes, or seconds on a flaky upstream, would
# keep a silent call open to the maximum): her silence stops while it lasts, then runs on.
# So does the model's own silence when it owes an answer (and a nudge's wait): a session that
# drops every few seconds, each time before stall_s, would never be nudged nor given up on.
MODEL_AWAY = "model_away"
_SILENCE_PAUSES = frozenset({MODEL_AWAY})


@dataclass(frozen=True)
class Limits:
    idle_prompt_s: float = 10.0
    idle_prompts: int = 2
    max_call_s: float = 1800.0
    max_warning_s: float = 60.0
    stall_s: float = 8.0
    # Resumptions in a row the model may stay silent through before the call is given up on.
    stall_resumes: int = 1
    # At the maximum duration, a tool running or the model's answer under way (a refund, and
    # the model saying it was made) is let finish, for at most this long.
    max_overrun_s: float = 20.0

    @property
    def answerable_pause_s(self) -> float:
        """A pause of the caller's this long, heard on her line, is one the model should have
        begun its answer in: a third of what it may take before it is taken for stalled
        (an operator who allows a slow model more, allows it longer pauses too)."""
        return self.stall_s / 3


class Watchdog:
    """One call's timers. Feed it events; call `tick(now)` about twice a second.

    The model owes an answer once it is given something to answer (the caller spoke, a
    tool's result, a note asking for a reply: `expect_answer`) until it says something, and
    while it is generating its answer (its audio, no generationComplete or turnComplete
    yet). Silence while it owes one is a stall; silence otherwise is the caller's, and idle
    rules apply.
    """

    def __init__(self, limits: Limits, now: float) -> None:
        self.limits = limits
        self._started = now
        self._caller_at = now  # the caller's last speech or typed message
        self._agent_at = now  # the agent's last output (audio, caption)
        self._waiting_since = now  # when the agent last began waiting for the caller
        # When the agent's audio sent so far has played (it comes faster than it plays): the
        # caller is listening until then, not silent.
        self._plays_until = now
        self._owed_at = now  # when the model was last given something to answer
        self._owed = False  # ... and it has said nothing since
        self._in_turn = False  # the model's audio is flowing and its turn has not ended
        self._generating = False  # ... and it has not said it generated all of it
        # The caller's words are heard in captions (the Live API's input transcription), which
        # may come after the model began answering them: `_captioned` while it has not,
        # `_answered` once it has, until the caller is heard to begin again.
        self._captioned = False
        self._answered = False
        self._tools = 0
        self._tool_done_at = 0.0
        self._check_ins = 0
        # Her voice on the line, as the server's speech detector hears it (caller_voice).
        self._voice_on = False
        self._voice_off_at = now
        # The model owed an answer through a pause of hers it should have answered in
        # (answerable_pause_s), and said nothing: what she says after is no reason to wait
        # for it afresh.
        self._pause_missed = False
        # The caller spoke since her line last came back (or since the call began): a drop
        # now gives her a fresh silence allowance when it is back, once (hold: LINE_AWAY).
        self._spoke_since_back = False
        # The caller was heard (her words, or her voice on the line) since the agent last said
        # anything: the model's answer to a gap in her audio is owed to her (gap_told_asks).
        self._heard = False
        self._nudged_at: float | None = None
        self._resumed_silent = 0  # resumptions since the model last said anything
        self._warned = False
        self._ended = False
        self._holds: set[str] = set()
        # When a MODEL_AWAY hold began, and the caller's silence then (see _silence_kept).
        self._paused_at = now
        self._paused_silence = 0.0
        self._patient_until = 0.0  # a caller silent before then is waiting, not gone
        self.stalls = 0

    def began_before(self, elapsed_s: float, now: float) -> None:
        """The call began `elapsed_s` before `now`, in another process: its maximum duration
        (and the warning before it) counts from then, not from when it moved here."""
        self._started = now - max(0.0, elapsed_s)

    @property
    def warned(self) -> bool:
        """Whether the caller was warned that the call is about to reach its maximum."""
        return self._warned

    @property
    def check_ins(self) -> int:
        """Check-ins of a silent caller since they last spoke."""
        return self._check_ins

    @property
    def spoke_since_back(self) -> bool:
        """Whether the caller spoke since her line last came back (or since the call began)."""
        return self._spoke_since_back

    def silence(self, now: float) -> float:
        """How long the caller has been silent at `now`, as the idle rules count it: none while
        a colleague holds the call, as the end of that hold starts her silence afresh; while
        the model reconnects, what it was when the model went (the wait is not hers); a
        process the call moves to meanwhile must not count those waits as hers."""
        if self._holds - _SILENCE_RUNS_ON - _SILENCE_PAUSES:
            return 0.0
        if self._holds & _SILENCE_PAUSES:
            return self._silence_kept()
        return max(0.0, now - self._idle_since())

    def carry_on(
        self, *, warned: bool, check_ins: int, silent_s: float = 0.0,
        spoke_since_back: bool = False, now: float = 0.0,
    ) -> None:
        """What the call used of its limits in the process it moved from: the warning is not
        said again, a silent caller checked on there is not checked on afresh here, and her
        silence (`silent_s` as of `now`) runs on (through the MOVING hold, as through a drop)."""
        self._warned = self._warned or warned
        self._check_ins = max(self._check_ins, min(check_ins, self.limits.idle_prompts))
        if silent_s > 0:
            since = now - silent_s
            self._waiting_since = self._agent_at = self._caller_at = self._plays_until = since
        self._spoke_since_back = self._spoke_since_back or spoke_since_back

    # --- what happened ------------------------------------------------------------------

    def caller_spoke(self, now: float, *, typed: bool = False) -> None:
        """The caller said something: `typed` it, or a caption of their words came.

        A typed message is whole as it comes, and the model may answer it at once: one typed
        while the model owes an answer already ("hello?" to a model that went silent) is owed
        from the first thing it left unanswered, else a caller typing every few seconds would
        keep a stalled model from ever being nudged or given up on. Spoken words are captioned
        while she is still talking, and the Live API answers once she has finished: each
        caption starts the wait afresh, else a caller talking for longer than stall_s would
        have the model nudged while she talks; but not once the model let a pause of hers
        go by unanswered (caller_voice): "hello?" said every few seconds to a model gone
        silent is owed from the first thing it left unanswered, as typed."""
        self._caller_at = now
        self._check_ins = 0
        self._answered = False
        self._spoke_since_back = self._heard = True
        self.expect_answer(now, again=typed or self._pause_missed)

    def caller_captioned(self, now: float) -> None:
        """A caption of the caller's words came. Captions may come after the model began
        answering those words, or even after its answer ended: such a caption is no new
        speech (the model owes no second answer, and the caller's silence runs on from
        before it), until the caller is heard to begin again (`caller_began`)."""
        if self._answered:
            return
        self._captioned = True
        self.caller_spoke(now)

    def caller_began(self) -> None:
        """The caller began to speak again (heard on the line, or cutting the model off):
        what is captioned from now on is new."""
        self._answered = False
        self._spoke_since_back = self._heard = True

    def caller_voice(self, speaking: bool, now: float) -> None:
        """The server heard the caller's voice begin (`speaking`: caller_began) or end on her
        line (postcall/speech.py). Captions cannot tell words she is still saying from words
        said again; her pauses can: one the model owed an answer through, saying nothing,
        for answerable_pause_s was one it should have answered in."""
        if not speaking:
            self._voice_on, self._voice_off_at = False, now
            return
        quiet_since = max(self._voice_off_at, self._owed_at)
        if self._owed and not (self._voice_on or self._tools or self._holds):
            self._pause_missed |= now - quiet_since >= self.limits.answerable_pause_s
        self._voice_on = True
        self.caller_began()

    def expect_answer(self, now: float, *, again: bool = False, note: bool = False) -> None:
        """The model was given something it must answer (a note asking for a reply). `again`:
        asked once more for what it may owe already (its session back, told the conversation
        so far or the audio it lost; a message the caller typed meanwhile): an answer it owed
        is owed from when it was, not afresh, else a session that keeps dropping (or a caller
        who keeps typing) would never have the model taken for stalled. A `note` asking again
        once the model is due a nudge that could go now (her line back after a drop longer
        than stall_s) is that nudge: another right after it would ask the model twice for one
        answer. Something new to answer is waited for afresh, and a nudge already out from
        then on: the model's next silence of stall_s resumes its session (one answering each
        nudge with a tool call and nothing else is resumed, then given up on, not nudged
        again for ever)."""
        if not (again and self._owed):
            self._owed_at = now
            self._pause_missed = False
            if self._nudged_at is not None:
                self._nudged_at = now
        elif (note and self._nudged_at is None and now - self._owed_at >= self.limits.stall_s
              and not self._nudge_waits(now, self._owed_at)):  # fmt: skip
            self._nudged_at = now
        self._owed = True

    def agent_spoke(self, now: float, *, audio: bool = False, audio_s: float = 0.0) -> None:
        """The model's output: its `audio` (which starts a turn; `audio_s` of it), or a
        caption."""
        self._agent_at = now
        self._plays_until = max(self._plays_until, now) + audio_s
        self._owed = False
        self._in_turn = self._in_turn or audio
        self._generating = self._generating or audio
        self._answered = self._answered or self._captioned
        self._captioned = False
        self._heard = False
        self._nudged_at = None
        self._resumed_silent = 0
        self._pause_missed = False

    def agent_generation_done(self) -> None:
        """The model generated all of its answer (generationComplete). Its turnComplete may
        come only once that has played (the Live API waits for it when it assumes real-time
        playback): the model owes nothing meanwhile, and the caller is listening until
        what was sent has played."""
        self._generating = False

    def agent_turn_done(self, now: float, *, cut: bool = False) -> None:
        """The model's turn ended (turnComplete), or was `cut` short (interrupted: what was
        still to play is dropped)."""
        self._waiting_since = now
        self._in_turn = self._generating = False
        if cut:
            self._plays_until = now
            self.caller_began()  # the Live API heard her: she talks over the answer

    def tool_started(self) -> None:
        self._tools += 1

    def tool_finished(self, now: float, *, answered: bool = True) -> None:
        """A tool finished; `answered`: the model got its result, which it must speak to."""
        self._tools = max(0, self._tools - 1)
        self._tool_done_at = now
        if answered:
            self.expect_answer(now)

    def hold(self, reason: str, held: bool, now: float) -> None:
        """While the call is held for `reason` (a person holds it, no socket carries it, the
        model is not connected) the silences are on purpose: no nudges or check-ins. The
        maximum duration still applies. An answer the model owed is owed from `now`, but
        for a MODEL_AWAY hold (the model's silence stops while it lasts, then runs on) and
        her line away (LINE_AWAY: the model, still there, could answer; its silence runs on).

        The caller's silence starts afresh once a colleague's hold is over. A MODEL_AWAY hold
        stops it, and it runs on from there once the model is back: the wait is not hers, but
        neither is a resumed session a fresh allowance. Through a LINE_AWAY (or MOVING) hold
        it runs on from her last words (or the call's start) through the drop,
        so a line dropping every few seconds still has a silent caller checked on, then let
        go. A caller who spoke since her line last came back gets a fresh allowance when it is
        back (she was mid-sentence as it dropped), once: she must speak again to earn another."""
        if held:
            if reason in _SILENCE_PAUSES and not self._holds & _SILENCE_PAUSES:
                self._paused_at, self._paused_silence = now, self.silence(now)
            self._holds.add(reason)
        else:
            self._holds.discard(reason)
        # A pause of hers is the model's to answer only while nothing holds the call; and
        # her voice is not on a line that went.
        self._voice_off_at = max(self._voice_off_at, now)
        self._voice_on = self._voice_on and not (held and reason == LINE_AWAY)
        self._in_turn = self._generating = False  # a turn does not outlive a connection
        if reason in _SILENCE_PAUSES:
            if not held and not self._holds & _SILENCE_PAUSES:  # the model is back
                self._silence_runs_on(now)
                self._stall_runs_on(now)
            return
        if reason not in _SILENCE_RUNS_ON:
            self._waiting_since = self._agent_at = self._caller_at = self._plays_until = now
        elif not held and not self._holds & _SILENCE_RUNS_ON:  # her line is back
            if self._spoke_since_back:
                self._caller_at = max(self._caller_at, now)
            self._spoke_since_back = False
        if reason == LINE_AWAY:
            # The model, connected, could answer while her line is away (what it says is
            # kept for her): its silence and a nudge's wait run on through the drop, else a
            # line dropping more often than stall_s would keep a silent model on for ever.
            return
        self._owed_at = now
        self._pause_missed = False
        self._nudged_at = None

    def _silence_kept(self) -> float:
        """The caller's silence as the model went away, none if anything that ends a silence
        (her words, the agent's, a tool's result, a colleague's hold) came since."""
        return self._paused_silence if self._idle_since() <= self._paused_at else 0.0

    def _silence_runs_on(self, now: float) -> None:
        """The model is back: her silence goes on from what it was when it went. The agent's
        voice it sent before still plays meanwhile: she listens until that has played."""
        since = now - self._silence_kept()
        self._waiting_since = self._agent_at = self._caller_at = since
        self._plays_until = max(self._plays_until, since)

    def _stall_runs_on(self, now: float) -> None:
        """The model is back: the answer it owed is owed from what its silence had run to when
        it went, and a nudge it had waits on likewise (the wait for the model is not counted,
        nor is its new session a fresh allowance). Something it was given to answer
        meanwhile (a colleague's hold, too) is owed from now. A nudge of a turn it was
        generating, owing nothing, goes with that turn (which does not outlive a connection):
        kept, the next thing it is given to answer would find it long waited on and resume
        the model's session at once, before it could answer."""
        self._owed_at = now - max(0.0, self._paused_at - self._owed_at)
        if self._nudged_at is not None and self._owed:
            self._nudged_at = now - max(0.0, self._paused_at - self._nudged_at)
        else:
            self._nudged_at = None

    def gap_told_asks(self) -> bool:
        """The model is told of a gap that lost the caller's words (her line back after a drop,
        or its own session back after losing more of her audio than it is told of), and asked
        to answer: whether that answer is owed. Was she heard since the agent last spoke
        (mid-sentence as the gap came, talking during it), or did the model owe an answer
        anyway (her words, a tool's result), that is its answer: no check-in. Was she silent,
        it would answer by asking whether she is still there: a check-in, counted as one (else
        a line or a model that keeps dropping would keep a silent caller on for ever, each
        answer a fresh idle window). False once the check-ins are used up: the model is told
        without being asked to answer, and the goodbye comes in its time."""
        if self._heard or self._owed:
            return True
        if self._check_ins >= self.limits.idle_prompts:
            return False
        self._check_ins += 1
        return True

    def held_for(self, reason: str) -> bool:
        """Whether the call is held for `reason` now."""
        return reason in self._holds

    def goodbye_abandoned(self, now: float) -> None:
        """The goodbye SAY_GOODBYE asked for did not end the call (a colleague took it over
        meanwhile): the call's limits apply again, its idle count from zero."""
        self._ended = False
        self._check_ins = 0
        self._waiting_since = now

    def wait_for_colleague(self, until: float) -> None:
        """The caller was told a colleague is coming: silence until `until` is waiting (no
        check-ins, no goodbye); the model's stalls still count. `until` 0: the wait is over."""
        self._patient_until = until

    # --- what to do -----------------------------------------------------------------------

    def tick(self, now: float) -> Action | None:
        if self._ended:
            return None
        limits = self.limits
        elapsed = now - self._started
        if elapsed >= limits.max_call_s:
            # A tool running, the model speaking, or about to speak to a tool's result.
            telling = self._owed and now - self._tool_done_at < limits.stall_s
            busy = self._tools or self._in_turn or telling
            if busy and elapsed < limits.max_call_s + limits.max_overrun_s:
                return None  # the exchange under way finishes first
            self._ended = True
            return Action.END_MAX_DURATION
        warn_at = limits.max_call_s - limits.max_warning_s
        # Said between the model's turns (a note cuts its answer short), or, should it talk
        # on and on, halfway through the last minute all the same.
        if not self._warned and elapsed >= warn_at and (
            not (self._in_turn or self._tools) or elapsed >= warn_at + limits.max_warning_s / 2
        ):
            self._warned = True
            return Action.WARN_MAX_DURATION
        if self._holds or self._tools:
            return None
        if self._owed or self._generating:
            return self._stall(now)
        if now < self._patient_until:
            return None
        return self._idle(now)

    def _nudge_waits(self, now: float, silent_since: float) -> bool:
        """Whether a nudge due now waits: the call is held, a tool runs (its result is what
        the model waits for), or she is talking (a nudge would have the model answer over
        her), for at most another stall_s then (a noisy line is not her talking for ever)."""
        talking = self._voice_on and now - silent_since < 2 * self.limits.stall_s
        return bool(self._holds or self._tools) or talking

    def _stall(self, now: float) -> Action | None:
        # The model owes an answer, or is generating one, and has said nothing since. (It has
        # said nothing since it owed: _agent_at may be the caller's silence run on instead.)
        silent_since = self._owed_at if self._owed else self._agent_at
        if self._nudged_at is None:
            if self._nudge_waits(now, silent_since):
                return None
            if now - silent_since >= self.limits.stall_s:
                self._nudged_at = now
                return Action.NUDGE_MODEL
            return None
        if now - self._nudged_at < self.limits.stall_s:
            return None
        self.stalls += 1
        if self._resumed_silent >= self.limits.stall_resumes:
            self._ended = True
            return Action.GIVE_UP
        self._resumed_silent += 1
        self._nudged_at = None
        # The resumed session owes the answer, within its own stall_s (the wait for it to be
        # up is not counted: hold()); it let no pause of hers go by yet: what she tells it
        # meanwhile is waited for afresh, until it does.
        self._owed, self._owed_at = True, now
        self._pause_missed = False
        self._in_turn = self._generating = False
        return Action.RESUME_MODEL

    def _idle_since(self) -> float:
        """When the caller's silence, as the idle rules count it, began."""
        return max(self._waiting_since, self._agent_at, self._caller_at, self._tool_done_at,
                   self._patient_until, self._plays_until)  # fmt: skip

    def _idle(self, now: float) -> Action | None:
        if now - self._idle_since() < self.limits.idle_prompt_s:
            return None
        self._waiting_since = now
        if self._check_ins < self.limits.idle_prompts:
            self._check_ins += 1
            return Action.CHECK_IN
        self._ended = True
        return Action.SAY_GOODBYE


class TokenBucket:
    """`rate` events a second on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = now

    def allow(self, now: float) -> bool:
        self._tokens = self.left(now)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def left(self, now: float) -> float:
        """What the bucket holds at `now`."""
        return min(self._burst, self._tokens + (now - self._at) * self._rate)

    def carry_on(self, left: float, since_s: float, now: float) -> None:
        """The bucket held `left` `since_s` before `now`, in the process the call moved from:
        it goes on from there, refilled for the time since, not full again."""
        self._tokens = min(self._burst, max(0.0, left) + max(0.0, since_s) * self._rate)
        self._at = now


# A voice (the caller's, a colleague's holding the call) is passed on no faster than real
# time: 16 kHz PCM16, ahead of it by AUDIO_BURST_S at most (RealTimeGate).
PCM16K_BYTES_PER_S = 32_000
AUDIO_BURST_S = 2.0


class RealTimeGate:
    """Lets caller audio through at most at real time, plus a burst allowance.

    A page catching up after a stall may send a little ahead; a script pushing audio at 30x
    real time would make the model (and the bill) work 30x as hard. Audio beyond the
    allowance is dropped and counted.
    """

    def __init__(self, bytes_per_s: int, burst_s: float, now: float) -> None:
        self._rate = bytes_per_s
        self._burst = burst_s * bytes_per_s
        self._credit = self._burst
        self._at = now
        self.dropped_bytes = 0

    def allow(self, nbytes: int, now: float) -> bool:
        self._credit = self.left(now)
        self._at = now
        if nbytes <= self._credit:
            self._credit -= nbytes
            return True
        self.dropped_bytes += nbytes
        return False

    def left(self, now: float) -> float:
        """The allowance at `now`, in bytes."""
        return min(self._burst, self._credit + (now - self._at) * self._rate)

    def carry_on(self, left: float, since_s: float, now: float) -> None:
        """The allowance was `left` bytes `since_s` before `now`, in the process the call
        moved from: audio sent right after a move gets no fresh burst."""
        self._credit = min(self._burst, max(0.0, left) + max(0.0, since_s) * self._rate)
        self._at = now
