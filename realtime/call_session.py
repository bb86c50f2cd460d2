"""One call: wires a caller (browser or phone) to the model and the tools.

    caller audio  -> CallSession.caller_audio() -> LiveClient (sent at once, or a bounded
                                                                 buffer while it cannot be)
    Gemini events -> CallSession._on_live_event() -> outbound queue -> Caller.deliver()
    toolCall      -> ToolDispatcher -> support.tools.run_tool -> toolResponse to the model

The caller side is anything with `async deliver(item)`, `async hang_up()` and
`async let_go()`: the consumers translate the typed items of `caller_events` into their own
wire format. Everything a call owns (tasks, queues, the upstream socket, the record) is
released by `close()`, which is idempotent and bounded, and which runs whatever ends the
call: the caller hanging up, a task failing (logged with the call id), the model being lost
for good, or the call's own limits (`call_controls`: idle, maximum duration, a stalled model).

A call belongs to its call_id, not to a socket or a process (contract section 7):

* a socket that drops without hanging up `detach`es; the call waits VOICE_RESUME_GRACE_S for
  one to `attach` again (an older one still attached is let go: 4409);
* another process can carry it on: this one is asked to `release` it (upstream closed,
  record written and left open), and the other builds a session `resuming` it from the
  record, the Live API session resumed with the stored handle; a tool still running here
  finishes here, and its result is handed over to the model over there;
* a process told to drain sends its pages `reconnect` and releases its phone calls.

Staff on the call (contract section 8) reach it through its process's channel, wherever
their pages are served: what they do (listen, whisper, take over, hand back, end), who holds
the call and the warm escalation are livestaff/on_call.py's (`self.staff`); the session does
what that asks of the conversation (the LiveCall methods: note, send, model_aside, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from pymongo.errors import PyMongoError, ServerSelectionTimeoutError

from continuity import process
from continuity.calls import (
    POLL_S,
    SAID_LINES,
    StoredCall,
    carrier_gone,
    end_unclaimed,
    find_call,
    hand_over,
    take_handed_over,
)
from continuity.sweeper import ensure_sweeping, wrap_up
from continuity.tokens import mint as mint_resume_token
from livestaff import protocol as staff_protocol
from livestaff.link import StaffLink
from livestaff.on_call import AGENT, HUMAN, StaffOnCall
from postcall import logs
from postcall.cost import modality_counts
from postcall.observer import CallObserver
from postcall.recording import StreamTime
from realtime import caller_events as ce
from realtime import instructions
from realtime import live_protocol as lp
from realtime.call_controls import (
    AUDIO_BURST_S,
    LINE_AWAY,
    MODEL_AWAY,  # the watchdog's hold while no model session is connected
    MOVING,
    PCM16K_BYTES_PER_S,
    Action,
    Limits,
    RealTimeGate,
    TokenBucket,
    Watchdog,
)
from realtime.call_record import CLOSE_RETRY_S, CallRecord, close_sooner
from realtime.call_record import now as utcnow
from realtime.captions import Caption, Captions
from realtime.live_client import Failed, LiveClient, Ready, Reconnecting, Resumed
from realtime.outbox import Outbox
from realtime.tool_dispatch import ToolDispatcher, ToolOutcome
from realtime.transfer import (
    PASSING_ON,
    PUTTING_THROUGH,
    TWILIO_SAYS_OVER,
    Transfer,
    transfer_configured,
    twilio_ends,
    twilio_ends_as,
    twilio_says_over,
)
from support import mongo
from support.customers import CustomerRef, staff_first_name
from support.escalations import (
    AGENT_UNAVAILABLE,
    end_live_escalation,
    live_escalation_of,
    lost_model_reason,
    open_escalation,
)
from support.events import announce_call_put_through, announce_escalation
from support.tools import (
    ToolContext,
    database_failed,
    function_declarations,
    refused_while_held,
)
from voiceproject import draining
from voiceproject.messaging import send_to_channel
from voiceproject.tasks import raise_if_cancelled

log = logging.getLogger(__name__)

TEARDOWN_TIMEOUT_S = 1.0
TICK_S = 0.5
GOODBYE_WAIT_S = 8.0  # longest wait for the agent's goodbye before hanging up
GOODBYE_START_S = 3.0  # ... and for its first words: a model that says nothing holds up no end
# Longest a caller's hang-up may take: it lets the agent's last words play out first, within a
# bound of its own (a phone's follows what is left to play, 10 s at most).
HANG_UP_WAIT_S = 12.0
SETTLE_WAIT_S = 5.0  # longest wait for a call ending or moving here before a socket retries
AGENT_BYTES_PER_S = 48_000  # the agent's voice: 24 kHz PCM16
TYPED_PER_S, TYPED_BURST = 1.0, 5
GAP_NOTE_S = 1.5  # a gap in the line longer than this is told to the model
# The sessions this process carries, by call_id (a re-attaching page finds its call here).
_here: dict[str, CallSession] = {}
_after: set[asyncio.Task[Any]] = set()
# Sessions ending or moving away from this process (their record and after-call work not yet
# written), with the event loop they run on.
_ending: dict[CallSession, asyncio.AbstractEventLoop] = {}


async def ending_calls_finished(timeout_s: float) -> bool:
    """Wait, up to `timeout_s`, for the calls ending in this process to be written (record,
    outcome) and for the work they left behind; True if all were. Run before the database
    client closes (at shutdown, and after each test), so they are not cut off mid-write."""
    loop = asyncio.get_running_loop()
    waits = [session._closed.wait() for session, on in list(_ending.items()) if on is loop]
    left = [task for task in _after if task.get_loop() is loop]
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*waits, *left, return_exceptions=True)
    except TimeoutError:
        return False
    return True


TOO_MANY_CALLS_MESSAGE = (
    "You already have a call open with us; please use that one, or end it first."
)
NO_AGENT = "agent_not_configured"  # CallRefused's code: no GEMINI_API_KEY, and nobody holds it
AGENT_NOT_CONFIGURED_MESSAGE = "Sorry, our voice assistant is not available right now."



async def may_open_call(user_id: int, *, besides: str = "") -> bool:
    """Whether the customer may have another call: fewer than VOICE_MAX_CALLS_PER_CUSTOMER
    open, not counting the call `besides` (one just opened). Raises PyMongoError."""
    open_calls = await mongo.async_db().calls.count_documents(
        {"user_id": user_id, "ended_at": None, "call_id": {"$ne": besides}}
    )
    # Two calls starting at once may both see the other and both be refused: never more.
    return open_calls < settings.VOICE_MAX_CALLS_PER_CUSTOMER


class CallRefused(Exception):
    """The call cannot start; `code` and `message` are for the caller (section 3 `error`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Caller(Protocol):
    async def deliver(self, item: ce.Delivery) -> None:
        """Send `item` to the caller; raises ConnectionError if their socket has closed."""

    async def hang_up(self) -> None:
        """The call is over: close the connection, once what the agent said last has played
        (bounded by the caller, within HANG_UP_WAIT_S)."""

    async def let_go(self) -> None:
        """The call goes on without this connection (a newer one, or another process,
        carries it): close it."""

    async def finish_before_moving(self) -> bool:
        """The process is draining and about to move the call elsewhere: first finish what
        must not be lost in the move (a phone call's transfer to a person under way). True
        when that ended the call, which is then not moved."""

    def unheard(self) -> bool:
        """Whether agent speech delivered here has yet to be heard (a phone's playout, or
        Twilio's buffer, still holds it): it goes if the connection closes now."""


def _scheduling_for(model: str) -> lp.Scheduling | None:
    """How the model should fit a tool's answer into the conversation.

    WHEN_IDLE: speak about the result once the current sentence is done, rather than cutting
    itself off. 3.1 models call tools synchronously and take no scheduling.
    """
    return None if "gemini-3.1" in model else "WHEN_IDLE"


def call_limits() -> Limits:
    return Limits(
        idle_prompt_s=settings.VOICE_IDLE_PROMPT_S,
        max_call_s=settings.VOICE_MAX_CALL_S,
        stall_s=settings.VOICE_STALL_S,
    )


class CallSession:
    def __init__(
        self,
        *,
        caller: Caller | None,
        customer: CustomerRef | None,
        channel: str,
        verified: bool | None = None,
        limits: Limits | None = None,
        call_sid: str = "",
        resuming: StoredCall | None = None,
        held_by: dict[str, str] | None = None,
    ) -> None:
        """A new call, or (`resuming`) one another process carried until now. `held_by`
        ({username, name}): a staff member holds it from the start (a callback they placed)."""
        self.call_id = resuming.call_id if resuming else f"CALL-{uuid.uuid4().hex[:16]}"
        self.observer = CallObserver(call_id=self.call_id, channel=channel)
        self.customer = customer
        self.channel = channel
        self.call_sid = call_sid
        self._resuming = resuming
        self._held_by = held_by
        # When its first phone stream began (caller_stream, time.monotonic()): the call's start.
        self._stream_began: float | None = None
        if resuming is not None:
            verified = resuming.verified
        if verified is None:
            verified = channel != "phone"
        self._caller = caller
        # Without a key there is no model: only a call a colleague holds from its start (a
        # callback they placed) may go on, and it never connects to the Live API (start).
        self.has_agent = bool(settings.GEMINI_API_KEY)
        self._record = CallRecord(
            call_id=self.call_id, user_id=self.record_user_id, channel=channel,
            on_lost=self._lost, counts=resuming.sizes if resuming else None,
            call_sid=call_sid,
        )  # fmt: skip
        self._live = LiveClient(
            url=settings.GEMINI_LIVE_URL,
            api_key=settings.GEMINI_API_KEY,
            build_setup=self._setup,
            on_event=self._on_live_event,
            handle=resuming.resume_handle if resuming else None,
            resuming=resuming is not None,
        )
        self._tools = ToolDispatcher(
            ToolContext(self.record_user_id, self.call_id, channel, verified),
            answer=self._live.send_tool_response,
            progress=self._tool_progress,
            scheduling=_scheduling_for(settings.GEMINI_LIVE_MODEL),
        )
        now = time.monotonic()
        self._watchdog = Watchdog(limits or call_limits(), now)
        # Nobody to nudge or check in through until the model's session is up (a call moving
        # in: the caller's silence runs on meanwhile, carried from where it was).
        self._watchdog.hold(MOVING if resuming else MODEL_AWAY, True, now)
        self._audio_gate = RealTimeGate(PCM16K_BYTES_PER_S, AUDIO_BURST_S, now)
        self._typed = TokenBucket(TYPED_PER_S, TYPED_BURST, now)
        self._outbox = Outbox()  # what waits for the caller
        self._tasks: set[asyncio.Task[Any]] = set()
        self._captions = Captions()
        # The end of the conversation, for a model session that has to start afresh.
        self._said: deque[tuple[str, str]] = deque(resuming.said if resuming else (),
                                                   maxlen=SAID_LINES)  # fmt: skip
        self._end_reason = ""
        self._turn_done = asyncio.Event()
        self._agent_said = asyncio.Event()  # the model spoke (cleared to wait for a goodbye)
        self._ever_ready = False
        self._live_up = False  # the upstream session is connected now
        self._model_lost = False  # lost for good while a colleague held the call
        self._ready_pending = resuming is not None  # say `ready` once the session is back
        self._detached_since: float | None = None
        # When the socket carrying the call went (None while one carries it): a call nobody
        # comes back for ended then, not at the end of its grace period.
        self._left_at: datetime | None = None
        self._gap_s = _gap_since(resuming)
        # Agent speech lost with a socket that went, or said while none carried the call (here,
        # or in the process that let the call go): the model is told when a socket carries it
        # (_say_ready_again), so it says it again.
        self._agent_unheard = resuming.agent_unheard if resuming else False
        self._agent_cut_off = False  # a colleague ended the call: the agent is heard no more
        self._dropped_told = 0  # caller audio lost upstream that the model was told about
        # No audio_end since caller audio last went to the model: the next one is passed on.
        self._audio_since_end = True
        self._grace: asyncio.Task[Any] | None = None
        self._ends_if_left = ""  # how the call ends if no socket comes back (ends_as_if_left)
        self._link = StaffLink(self.call_id)
        # Who listens, who holds the call, a colleague being fetched (livestaff/on_call.py).
        self.staff = StaffOnCall(self, self._link, self._record, self._watchdog)
        # Where a phone call's transfer to a person stands (Transfer; "" if none is asked).
        self.transfer = resuming.transfer if resuming else ""
        self._transfer_answered = asyncio.Event()  # clear while the transfer stands SENT
        self._transfer_answered.set()
        # While a transfer request stands unanswered (SENT, UNCONFIRMED): until when Twilio
        # may answer it, and act on it (transfer_is).
        self._answer_by = resuming.transfer_answer_by if resuming else None
        if self.transfer == Transfer.SENT:
            # Asked by a process that let the call go or died before Twilio answered: the
            # answer does not come here, and Twilio may act on the request yet.
            self.transfer_is(Transfer.UNCONFIRMED)
        # Until then (time.monotonic()) the caller may be being passed on all the same, and the
        # model is told nothing of the line (_tell_line_back), as while the process that made
        # the request waits for its answer.
        self._request_may_act_until = time.monotonic() + (
            (self._answer_by - utcnow()).total_seconds()
            if self.transfer == Transfer.UNCONFIRMED and self._answer_by is not None
            else 0.0
        )
        self.doing = "connecting"  # what the agent is doing now, for the live calls page
        self._closed: asyncio.Event = asyncio.Event()
        self._gone = asyncio.Event()  # this process no longer carries the call (_forget)
        self._closing = False
        self.released = False
        # Tool calls that finished after the call moved away, for the process carrying it now.
        self._finished_after_release: list[dict[str, Any]] = []

    @property
    def dropped_agent_chunks(self) -> int:
        """The agent's audio dropped for a caller that could not keep up."""
        return self._outbox.dropped_audio

    @property
    def record_user_id(self) -> int | None:
        return self.customer.user_id if self.customer else None

    @classmethod
    def here(cls, call_id: str) -> CallSession | None:
        """The session carrying `call_id` in this process, if any and still going."""
        session = _here.get(call_id)
        return session if session is not None and not session._closing else None

    @classmethod
    def here_for_call_sid(cls, call_sid: str) -> CallSession | None:
        """The phone call with Twilio's `call_sid` carried in this process, if any."""
        return next(
            (s for s in _here.values() if s.call_sid == call_sid and not s._closing), None
        )

    @classmethod
    async def settled(cls, *, call_id: str = "", call_sid: str = "") -> bool:
        """Wait, up to SETTLE_WAIT_S, for a session of this call that is ending or moving
        away in this process to be done with the record: the record then says whether the
        call ended, and a socket coming back must not be handed a call on its way out.
        False if it is still at it (the socket should try again shortly)."""
        leaving = [
            s for s in _here.values()
            if s._closing and (s.call_id == call_id if call_id else s.call_sid == call_sid)
        ]  # fmt: skip
        try:
            async with asyncio.timeout(SETTLE_WAIT_S):
                for session in leaving:
                    await session._gone.wait()
        except TimeoutError:
            return False
        return True

    @property
    def mode(self) -> str:
        """Who talks to the caller: the agent, or a colleague (HUMAN) holding the call."""
        return self.staff.mode

    @property
    def holder(self) -> dict[str, str] | None:
        """{username, name} of the colleague holding the call, if one does."""
        return self.staff.holder

    @property
    def holder_name(self) -> str:
        """What the caller hears the colleague holding the call called ("" for none)."""
        return self.staff.holder_name

    @property
    def escalation(self) -> str | None:
        """The ticket of a warm escalation in progress."""
        return self.staff.escalation

    @property
    def with_a_colleague(self) -> bool:
        """Whether a colleague holds the call or joined its escalation (not to be transferred
        away from them)."""
        return self.staff.with_a_colleague

    @property
    def closing(self) -> bool:
        """Ending, or moving to another process."""
        return self._closing

    @property
    def identified(self) -> bool:
        """Whether the caller is a known customer."""
        return self.customer is not None

    @property
    def attached(self) -> bool:
        return self._caller is not None

    @property
    def ending(self) -> bool:
        """Whether the call is ending or has left this process: nothing more is to be done
        for it here."""
        return self._closing or bool(self._end_reason)

    def carried_by(self, caller: Caller) -> bool:
        """Whether `caller` is the socket carrying the call: a replaced one's late frames
        (sent before it heard it was replaced) must not act on it."""
        return self._caller is caller

    # --- lifetime ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the record (or, resuming, take up the existing one) and connect the model.
        Raises CallRefused (too many calls for this customer, or no agent for a call nobody
        holds) or PyMongoError (no database)."""
        if not self.has_agent and not self._held_from_start:
            raise CallRefused(NO_AGENT, AGENT_NOT_CONFIGURED_MESSAGE)
        self._record.owner = await process.process_channel()
        held: tuple[str, str, datetime | None] | None = None
        escalation = None
        if self._resuming is not None:
            # Looked up before anything is started, so a database error leaves nothing behind.
            # (Its claim here is the caller's to give up when this raises: the consumer that
            # took the call over.)
            stored = self._resuming
            if stored.holder and self._held_by is None:
                name = await staff_first_name(stored.holder)
                held = (stored.holder, name, stored.held_since)
            escalation = await live_escalation_of(self.call_id)
            if stored.started_at is not None:  # its limits count from its start, not the move
                elapsed = (utcnow() - stored.started_at).total_seconds()
                self._watchdog.began_before(elapsed, time.monotonic())
            self._carry_on_limits(stored.limits_used)  # and what it used of them before
            self._record.start_writing()
        else:
            try:
                await self._record.open(
                    started_at=self._began_at(), call_sid=self.call_sid,
                    verified=self._tools.ctx.verified, worker=process.WORKER,
                )  # fmt: skip
            except ServerSelectionTimeoutError:
                raise  # no server was reached: nothing was written (PyMongo's retries say so)
            except PyMongoError:
                # Written, maybe, though the answer was lost: left open, the record would count
                # as the customer's call as they try again (with the link given back).
                await self._discard_record()
                raise
            try:
                allowed = self.record_user_id is None or await may_open_call(
                    self.record_user_id, besides=self.call_id
                )
            except PyMongoError:
                await self._discard_record()
                raise
            if not allowed:
                await self._discard_record()
                raise CallRefused("too_many_calls", TOO_MANY_CALLS_MESSAGE)
        # Before the call hears staff messages (process.register): a take-over landing as the
        # call moves in must find it held still.
        if held is not None:
            # Moved while a colleague held it: still theirs, since they took it. The model's
            # resumed session remembers it was told to keep quiet; the caller's socket is
            # told who it hears with `ready` (_say_ready_again).
            username, name, since = held
            self.staff.hold(username, name, since=since)
        if escalation is not None:
            self.staff.escalation_moved_in(escalation)
        _here[self.call_id] = self
        process.register(self.call_id, self._on_message)
        ensure_sweeping()
        await self.observer.started(
            moved_in=self._resuming is not None, started_at=self._record.started_at
        )
        self._link.start()
        if self._resuming is not None:
            self._link.moved_in()  # the staff pages say again who they are
            self.spawn(self._take_handed_over(), "handed over")
        self.publish_state()
        if self.has_agent:
            self.spawn(self._live.run(), "live")
        self.spawn(self._deliver_outbound(), "outbound")
        self.spawn(self._watch(), "watchdog")
        if self._request_may_act():
            self.spawn(self._line_back_once_request_lapsed(), "transfer request")
        if self._caller is None:
            self.detach(None)
        if self._held_by is not None:
            self.staff.placed_callback(self._held_by["username"], self._held_by["name"])
        # Last: in a process draining already, the call is moved at once, which needs the
        # call begun (its tasks, to be stopped), not half-way through beginning.
        draining.register_call(self.call_id, channel=self.channel, on_drain=self._on_drain)

    @property
    def _held_from_start(self) -> bool:
        """Whether a colleague holds the call as it begins here: a callback they placed, or a
        held call moving in."""
        return self._held_by is not None or bool(self._resuming and self._resuming.holder)

    async def _discard_record(self) -> None:
        """The call does not begin after all: no record of it, and nothing left writing one."""
        try:
            await self._record.discard()
        except PyMongoError as error:
            log.warning("call %s: could not remove the record of a call that never began "
                        "(the sweeper ends it): %s", self.call_id, error)  # fmt: skip

    def _forget(self) -> None:
        """This process no longer carries the call."""
        self._spawn_detached(self._link.close())
        if _here.get(self.call_id) is self:
            del _here[self.call_id]
        process.unregister(self.call_id)
        self._gone.set()

    def _done_here(self) -> None:
        """All this process had to do for the call is done, its after-call work included: a
        draining process may stop now."""
        draining.unregister_call(self.call_id)
        _ending.pop(self, None)
        self._closed.set()

    async def close(self, reason: str, *, ended_at: datetime | None = None) -> None:
        """End the call (idempotent): stop the model, finish running tools, write the record,
        ended `ended_at` (now by default)."""
        if self._closing:
            # One of the call's own tasks ending the call while it is being closed must not
            # wait for the close, which is waiting for it.
            if asyncio.current_task() not in self._tasks:
                await self._closed.wait()
            return
        self._closing = True
        _ending[self] = asyncio.get_running_loop()
        self._end_reason = self._end_reason or reason
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TEARDOWN_TIMEOUT_S):
                    await self._live.close()
            await self._stop_tasks()
            # Tools already running finish (bounded by their own timeout) and are recorded.
            await self._tools.drain()
            if self._resuming is not None:  # and those the process it moved from ran
                await self._take_handed_over()
            self._flush_captions()
            self._link.event(ce.as_dict(ce.Ended(self._end_reason)))
            # Before the record: no live ticket of an ended call. Asked whatever this process
            # saw: the ticket may have come from a tool cut short, or from another process.
            try:
                await end_live_escalation(self.call_id)
            except PyMongoError as error:
                raise_if_cancelled()  # a driver that swallowed a cancellation
                log.warning("call %s: its ticket could not be told the call ended (%s); "
                            "retrying", self.call_id, error)  # fmt: skip
                self._spawn_detached(_end_live_escalation_later(self.call_id))
            try:
                await self._record.close(
                    self._end_reason, ended_at=ended_at, stalls_total=self._watchdog.stalls
                )
            finally:
                # After the record: the live calls page reads its rows again on hearing it.
                self._link.live_list({"call_id": self.call_id, "ended": True})
        finally:
            self._forget()
            try:
                await self.observer.ended(
                    self._end_reason,
                    ended_at=self._record.ended_at,
                    dropped_agent_chunks=self.dropped_agent_chunks,
                    dropped_caller_bytes=self._dropped_caller_bytes(),
                )
            finally:
                self._done_here()

    def _dropped_caller_bytes(self) -> int:
        """Caller audio dropped here: the model's link not keeping up, or faster than real
        time."""
        return self._live.dropped_audio_bytes + self._audio_gate.dropped_bytes

    async def end(self, reason: str, *, tell: ce.CallerEvent | None = None) -> None:
        """End the call from our side: tell the caller why, then hang up, then close."""
        self._end_reason = self._end_reason or reason
        if isinstance(tell, ce.Notice) and not self._closing:
            self._record.set(farewell=tell.message)  # Twilio says it to a phone caller
        caller = self._caller
        if caller is not None:
            try:
                async with asyncio.timeout(TEARDOWN_TIMEOUT_S * 3):
                    if tell is not None:
                        await caller.deliver(tell)
                    await caller.deliver(ce.Ended(self._end_reason))
                async with asyncio.timeout(HANG_UP_WAIT_S):
                    await caller.hang_up()
            except (ConnectionError, RuntimeError, TimeoutError) as error:
                log.info("call %s: could not say goodbye to the caller: %r", self.call_id, error)
        await self.close(reason)

    # --- sockets that come and go, processes that hand over ----------------------------------

    async def attach(self, caller: Caller) -> None:
        """`caller` carries the call from now on; an older socket still attached is let go.
        The new socket hears `ready` (with a fresh resume token) and `resumed`."""
        logs.call_id.set(self.call_id)  # the new socket's task logs as the call's, too
        old, self._caller = self._caller, caller
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        now = time.monotonic()
        if self._detached_since is not None:
            self._gap_s = max(self._gap_s, now - self._detached_since)
            self._detached_since = None
        self._watchdog.hold(LINE_AWAY, False, now)
        self._left_at = None
        self._record.set(detached_at=None)
        self.observer.caller_back()
        if self._ends_if_left:  # a socket came back after all (as take_over clears it)
            self._ends_if_left = ""
            self._record.set(end_reason_if_left=None)
        if old is not None and old is not caller:
            self._agent_unheard = self._agent_unheard or old.unheard()
            self.spawn(old.let_go(), "let go")
        if self._live_up:
            self._say_ready_again()
        else:
            self._ready_pending = True
        self._outbox.waiting.set()

    def detach(self, caller: Caller | None, *, unheard: bool = False) -> None:
        """The socket `caller` went away without hanging up (a blip, a closed laptop, a
        proxy): keep the call VOICE_RESUME_GRACE_S for a socket to attach, then end it.
        `unheard`: agent speech the caller had not heard yet went with the socket."""
        if caller is not self._caller or self._closing:
            return
        self._caller = None
        now = time.monotonic()
        self._detached_since = now
        self._watchdog.hold(LINE_AWAY, True, now)
        # The first departure since a socket last carried the call: a second detach (the
        # call starting without its socket) is no later departure.
        self._left_at = self._left_at or utcnow()
        self._record.set(detached_at=self._left_at)
        self.observer.caller_away()
        self._agent_unheard = self._agent_unheard or unheard or self._outbox.audio > 0
        self._outbox.drop_audio()
        if draining.is_draining():
            # Told to reconnect (or cut): the page comes back to another process. Let go
            # now, while it does, so that process need not ask for the call and wait.
            self.spawn(self.release(), "moving")
            return
        self._grace = self.spawn(self._end_after_grace(), "grace")

    async def _end_after_grace(self) -> None:
        await asyncio.sleep(settings.VOICE_RESUME_GRACE_S)
        log.info("call %s: no socket came back; ending it", self.call_id)
        # It ended when its line went (her last departure): the grace period spent waiting
        # for her is no part of the call's duration, nor of its recording.
        await self.close(self._ends_if_left or "caller_left", ended_at=self._left_at)

    def ends_as_if_left(self, reason: str) -> None:
        """Should no socket come back for the call (here, or in a process taking it up once
        it is let go), it ended as `reason`, not as a caller who left (a phone call whose
        transfer Twilio may have made: nothing comes back for it then)."""
        self._ends_if_left = reason
        self._record.set(end_reason_if_left=reason)

    def transfer_is(self, state: str, *, answer_within_s: float = 0.0) -> None:
        """The phone call's transfer now stands at `state` (Transfer, or "": none asked):
        written down, for whichever stream or process carries the call next. For SENT,
        `answer_within_s`: how long Twilio is given to answer the request. Until then
        (`answer_by` on the record, kept while the request stands UNCONFIRMED) it may be moving
        the call: a process that takes the call up meanwhile tells the model nothing of the
        line (_tell_line_back)."""
        before, self.transfer = self.transfer, state
        if state == Transfer.SENT:
            self._answer_by = utcnow() + timedelta(seconds=answer_within_s)
        elif state != Transfer.UNCONFIRMED:
            self._answer_by = None
        answer_by = {"answer_by": self._answer_by} if self._answer_by is not None else {}
        self._record.set(transfer={"state": state, "at": utcnow(), **answer_by})
        if state == Transfer.SENT:
            self._transfer_answered.clear()
        else:
            self._transfer_answered.set()
        if self.here(self.call_id) is not self:
            return
        if (before in PUTTING_THROUGH) != (state in PUTTING_THROUGH):
            self.publish_state()  # staff pages show it, and offer no take-over meanwhile
            if self.escalation is not None:  # and the queue pages the ticket's row
                self.spawn(self._announce_put_through(self.escalation, state in PUTTING_THROUGH),
                           "transfer news")  # fmt: skip
        if (before in PASSING_ON and state not in PASSING_ON and self._caller is not None
                and not self._ready_pending and not draining.is_draining()):  # fmt: skip
            # The caller stays with us after all (Twilio refused, say), on the stream that
            # was told `ready` while they were being passed on: what the line lost before it
            # is told now. (A call moving away tells it in the process that takes it up.)
            self._tell_line_back()

    async def transfer_answered(self, timeout_s: float) -> None:
        """Wait for Twilio's answer to the transfer request in flight, if any, at most
        `timeout_s`; with none by then, the transfer stands UNCONFIRMED (Twilio may act on
        the request yet)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._transfer_answered.wait()
        if self.transfer == Transfer.SENT:
            self.transfer_is(Transfer.UNCONFIRMED)

    async def release(self) -> None:
        """Let another process carry the call on: close the upstream session, write what is
        pending (the resumable handle with it, and whether the caller had yet to hear what the
        agent said) and leave the record open, unclaimed. A call being ended (a colleague's
        End call) ends here instead: it does not move on."""
        if self._closing:
            return
        if self._end_reason:
            await self.close(self._end_reason)
            return
        self._closing = True
        _ending[self] = asyncio.get_running_loop()
        self.released = True
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TEARDOWN_TIMEOUT_S):
                    await self._live.close()
            await self._stop_tasks()
            self._flush_captions()
            # What the caller had yet to hear goes with the socket let go below, or went
            # already: told to the model of the process that takes the call up.
            unheard = (
                self._agent_unheard
                or self._outbox.audio > 0
                or (self._caller is not None and self._caller.unheard())
            )
            # What it used of its limits goes along: a move must not be a fresh allowance.
            self._record.set(limits_used=self._limits_used())
            # Detached since her line went, not since the let-go: the grace period the
            # process that takes the call up (or the sweeper) gives it runs from then.
            await self._record.let_go(self._left_at or utcnow(), agent_unheard=unheard)
        finally:
            self._forget()
            caller, self._caller = self._caller, None
            if caller is not None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await caller.let_go()
            try:
                await self.observer.moved_out(
                    dropped_agent_chunks=self.dropped_agent_chunks,
                    dropped_caller_bytes=self._dropped_caller_bytes(),
                )
                log.info("call %s: released to another process", self.call_id)
                await self._hand_over_tools()
            finally:
                self._done_here()

    async def _hand_over_tools(self) -> None:
        """Tools still running when the call moved finish here, after the call has gone (the
        model that asked is closed, and the next process's model resumed from before the
        ask): their results go to the process carrying the call now (`_take_handed_over`)."""
        await self._tools.drain()
        finished, self._finished_after_release = self._finished_after_release, []
        if not finished:
            return
        try:
            await hand_over(self.call_id, finished)
        except PyMongoError as error:
            log.error("call %s: could not hand over %s after it moved: %r", self.call_id,
                      ", ".join(entry["name"] for entry in finished), error)  # fmt: skip

    def _lost(self) -> None:
        # The record names another carrier: that process resumed the call. Let go here.
        self.spawn(self.release(), "lost")

    async def _on_message(self, message: dict[str, Any]) -> None:
        """A message for this call from another process (continuity/process.py), or from a
        staff page (livestaff/consumers.py) served here or elsewhere."""
        match message.get("type"):
            case "call.release":
                await self.release()
            case "call.handed_over":
                await self._take_handed_over()
            case "staff.action":
                await self.staff.act(message)
            case "staff.audio":
                self.staff.audio(message)
            case "call.ticket_resolved":
                self.staff.escalation_resolved(str(message.get("ticket_id", "")))
            case kind if kind in TWILIO_SAYS_OVER:
                await self.twilio_ended(twilio_ends_as(message))

    async def twilio_ended(self, reason: str) -> None:
        """Twilio says the phone call is over, as `reason` (/twilio/voice heard so, here or
        elsewhere: end_between_streams): waiting for a stream, nothing comes back for it, so
        it ends now rather than after its grace period. Not one a stream carries (back
        meanwhile: it ends with the stream's `stop`), nor one Twilio's word does not end
        (twilio_ends). One this process is letting go (it drains, or another asked for it)
        ends once let go, as one no process carries."""
        if self.released:
            await self._gone.wait()
            await end_between_streams(reason, call_id=self.call_id)
        elif not self.attached and twilio_ends(reason, self.transfer):
            await self.close(reason)

    async def _on_drain(self) -> None:
        """This process is stopping: move the call. A page is told to reconnect (another
        process then asks for the call); a phone call and a call no socket carries are
        released at once (Twilio asks /twilio/voice again; a page comes back elsewhere),
        once the phone call's transfer under way, if any, is made (it may end the call)."""
        caller = self._caller
        if self.channel == "web" and caller is not None and not self._ever_said_ready:
            await self._open_elsewhere(caller)
        elif self.channel == "web" and caller is not None:
            self.send(ce.Reconnect())
        elif caller is None or not await caller.finish_before_moving():
            await self.release()

    @property
    def _ever_said_ready(self) -> bool:
        """Whether the page has been told `ready` (queued: it goes before anything sent
        after it), with the resume token it comes back to the call with; a page that came
        back with one has it already."""
        return self._ever_ready or self._resuming is not None

    async def _open_elsewhere(self, caller: Caller) -> None:
        """The process drains before the page was told `ready`: it has no way back to this
        call. It is told to reconnect and let go (the close it waits for), as a call asked
        for in a draining process is refused, and opens its call again through the balancer
        (the consumer gives its one-use link back). The call never began: it ends here,
        before the page is let go, so that by the time the link works again nothing of it is
        left (an open record would count as the customer's call as the link opens the next)."""
        self._caller = None
        with contextlib.suppress(ConnectionError, RuntimeError):
            await caller.deliver(ce.Reconnect())
        try:
            await self.close("moved_before_ready")
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await caller.let_go()

    def _say_ready_again(self) -> None:
        # First for the new socket, before anything kept for it meanwhile: a page that
        # reloads while a colleague holds the call learns who it is talking to.
        colleague = [self.staff.agent_changed()] if self.mode == HUMAN else []
        self._outbox.put_first(ce.Ready(self.call_id, self._resume_token()), ce.Resumed(),
                               *colleague)  # fmt: skip
        self._ready_pending = False
        self._tell_line_back()

    def _tell_line_back(self) -> None:
        """A socket carries the call again: the model is told of a long gap, or of its words
        the caller did not hear (not replayed: stale after a long gap), so it says them again.
        Kept back while the caller is being passed on (Twilio says so as it moves the call, and
        the model must not talk over it), for when the transfer fails (transfer_is); never told
        if it is made. Likewise while Twilio may still act on a request the process that let
        the call go made, unanswered (_line_back_once_request_lapsed)."""
        if self._passing_on():
            return
        unheard = self._agent_unheard
        if (self._gap_s > GAP_NOTE_S or unheard) and self.mode == AGENT:
            # Its answer to a long drop asks whether the caller is still there: a check-in.
            # Not when it says again what she did not hear: that answer is its own words,
            # no check-in, and counted as one it would cost a silent caller one of hers.
            asks = unheard or self._watchdog.gap_told_asks()
            # An answer it owed from before the drop is the one asked for (`again`): its
            # silence runs on through her line away (Watchdog.hold), not afresh at each return.
            self.note(instructions.line_dropped(self._gap_s, unheard=unheard),
                      respond=asks, again=True)  # fmt: skip
        self._gap_s = 0.0
        if self._agent_unheard:
            self._agent_unheard = False
            self._record.set(agent_unheard=False)  # told: nor told again after another move

    def _passing_on(self) -> bool:
        """Whether the caller is, or may be, being passed on to a person: the transfer is asked
        or under way (PASSING_ON), or Twilio may still act on a request made before the call
        moved here."""
        return self.transfer in PASSING_ON or self._request_may_act()

    def _request_may_act(self) -> bool:
        return time.monotonic() < self._request_may_act_until

    async def _line_back_once_request_lapsed(self) -> None:
        """The transfer request made before the call moved here, unanswered, is past the time
        Twilio was given to answer it, and the stream carrying the call is still here: the
        caller stays with the agent, and the model is told what the line lost (as transfer_is
        does when this process's own wait for the answer is over)."""
        await asyncio.sleep(self._request_may_act_until - time.monotonic())
        if self._caller is not None and not self._ready_pending and not draining.is_draining():
            self._tell_line_back()

    def _resume_token(self) -> str:
        return mint_resume_token(self.call_id, self.record_user_id)

    # --- from the caller ----------------------------------------------------------------------

    async def caller_audio(self, pcm16k: bytes, said: StreamTime | None = None) -> None:
        """`said`: when the audio began on its stream's own clock (a phone's), for the
        recording to lay it there however late it arrived."""
        if self._audio_gate.allow(len(pcm16k), time.monotonic()):
            to_model = self.mode == AGENT  # while a person holds the call the model hears nothing
            speaking = self.observer.detector.speaking
            self.observer.caller_audio(pcm16k, to_model=to_model, said=said)
            if self.observer.detector.speaking != speaking and (to_model or speaking):
                # Her voice began (to the model: captions from now on are of new words) or
                # ended on the line: her pauses tell the watchdog whether the model let one
                # go by unanswered.
                self._watchdog.caller_voice(not speaking, time.monotonic())
            self._link.audio(staff_protocol.CUSTOMER, pcm16k)
            if to_model:
                self._audio_since_end = True
                await self._live.forward_audio(pcm16k)

    def _began_at(self) -> datetime | None:
        """When a phone call began: its stream's start, before the call's setup (whose lookups
        may take a while), so that the record's start is where her recording begins, as its
        timestamps count. None for a browser call: it begins as its record opens."""
        if self._stream_began is None:
            return None
        return utcnow() - timedelta(seconds=max(0.0, time.monotonic() - self._stream_began))

    def caller_stream(self, stream: str, at: float) -> None:
        """The phone stream `stream` carries her audio from now on; it began at `at`
        (time.monotonic(), its `start` read), where its frames' timestamps count from: the
        recording lays her audio by them however late the call's setup let them be read. The
        first stream's start is the call's (`_began_at`), where its record and recording begin."""
        self.observer.caller_stream(stream, at)
        if self._stream_began is None:
            self._stream_began = at

    def caller_text(self, text: str) -> ce.Notice | None:
        """Pass a typed message to the model; answers a Notice when it was refused."""
        now = time.monotonic()
        if not self._typed.allow(now):
            return ce.Notice("rate_limited", "Please wait a moment before sending more text.")
        self._watchdog.caller_spoke(now, typed=True)
        self.observer.caller_text(to_model=self.mode == AGENT)  # to a colleague: no agent turn
        self._flush_captions()  # what was said before it comes first on the record
        self._keep_line("user", text)
        if self.mode == AGENT:
            self._live.send_text(text)
        else:
            self._mirror(ce.Transcript("user", text, True))  # the staff member reads it
        return None

    def caller_audio_end(self) -> None:
        # The microphone pauses once between sounds: a page repeating it (a flood) sends the
        # model nothing more, and nothing piles up while the model's session is resumed.
        if self._audio_since_end:
            self._audio_since_end = False
            self._live.send_audio_stream_end()

    # --- from the model ---------------------------------------------------------------------

    def note(
        self, text: str, *, respond: bool = True, briefing: bool = False, again: bool = False
    ) -> None:
        """Tell the model something the caller does not hear; with `respond` it must answer,
        and the watchdog holds it to that (a nudge is the one note that does not count).
        A `briefing` is for the session just set up only (LiveClient.brief). `again`: it
        asks once more for an answer the model may owe already (its session back), whose
        wait runs on (Watchdog.expect_answer)."""
        if not self.has_agent:
            return  # no model to tell (nor to hold to an answer)
        if briefing:
            self._live.brief(text, respond=respond)
        else:
            self._live.send_note(text, respond=respond)
        if respond:
            self._watchdog.expect_answer(time.monotonic(), again=again, note=True)

    def _setup(self, handle: str | None) -> dict[str, Any]:
        return lp.build_setup(
            model=settings.GEMINI_LIVE_MODEL,
            voice=settings.GEMINI_VOICE,
            system_instruction=instructions.system_instruction(
                self.customer.first_name if self.customer else None
            ),
            function_declarations=function_declarations(),
            resumption_handle=handle,
        )

    def _on_live_event(self, event: object) -> None:
        if self.mode == HUMAN and _model_speech(event):
            return  # the model was told to keep quiet; should it not, nobody hears or keeps it
        self.observer.on_live_event(event)
        if _model_speech(event):
            self._agent_said.set()
        now = time.monotonic()
        match event:
            case lp.AudioChunk(data=data):
                self._watchdog.agent_spoke(now, audio=True,
                                           audio_s=len(data) / AGENT_BYTES_PER_S)  # fmt: skip
                self._link.audio(staff_protocol.AGENT, data)
                self._agent_unheard = self._agent_unheard or self._caller is None
                self.send_audio(data)
                self._now_doing("speaking")
            case lp.Transcript():
                if event.role == "user":
                    self._watchdog.caller_captioned(now)
                else:
                    self._watchdog.agent_spoke(now)
                self._caption(event.role, event.text, event.finished)
            case lp.GenerationComplete():
                self._watchdog.agent_generation_done()
            case lp.Interrupted():
                self._watchdog.agent_turn_done(now, cut=True)
                self._outbox.drop_audio()
                self._flush_caption("agent")
                self.send(ce.Interrupted())
            case lp.TurnComplete():
                self._watchdog.agent_turn_done(now)
                self._flush_captions()
                self._tools.new_turn()
                self._turn_done.set()
                self.send(ce.TurnComplete())
                self._now_doing("listening")
            case lp.ToolCall():
                self._flush_caption("user")
                self._tools.handle(event)
            case lp.ToolCallCancellation(ids=ids):
                self._tools.cancel(ids)
            case lp.Usage():
                self._record.add_usage(
                    {
                        "prompt_token_count": event.prompt_token_count,
                        "response_token_count": event.response_token_count,
                        "total_token_count": event.total_token_count,
                        "thoughts_token_count": event.thoughts_token_count,
                        **modality_counts(event.details),
                    }
                )
            case lp.ResumptionUpdate(handle=handle, resumable=True) if handle:
                self._record.set(resume_handle=handle)  # any process can resume from it
            case lp.Malformed(detail=detail):
                log.warning("call %s: part of a Live API frame was unreadable: %s",
                            self.call_id, detail)  # fmt: skip
            case Ready():
                self._ever_ready = self._live_up = True
                self._model_up(now)
                self.send(ce.Ready(self.call_id, self._resume_token()))
                if self.mode == HUMAN:  # a fresh model session under a colleague's hold
                    self._outbox.put(self.staff.agent_changed())
                    self.note(instructions.taken_over(self.holder_name), respond=False)
                else:
                    self.note(instructions.greeting())
                self._now_doing("listening")
            case Reconnecting(unanswered=unanswered):
                self._live_up = False
                self._tools.connection_lost()
                self._tell_unanswered(unanswered)
                self._flush_captions()  # the resumed session's words are a new line
                self._watchdog.hold(MODEL_AWAY, True, now)
                self.send(ce.Reconnecting())
            case Resumed(with_handle=with_handle):
                self._ever_ready = self._live_up = True
                self._model_up(now)
                if self._ready_pending and self._caller is not None:
                    self._say_ready_again()
                else:
                    self.send(ce.Resumed())
                self._now_doing("listening")
                if not with_handle:
                    self._brief_fresh_model()
                if self._live.dropped_audio_bytes > self._dropped_told:
                    lost_s = (self._live.dropped_audio_bytes - self._dropped_told) / 32_000
                    self._dropped_told = self._live.dropped_audio_bytes
                    if lost_s > GAP_NOTE_S and self.mode == AGENT:
                        if self._passing_on():
                            # Not over the transfer: told with the line back, should it fail.
                            self._gap_s = max(self._gap_s, lost_s)
                        else:
                            # To a silent caller its answer is a check-in (as to a line back).
                            self.note(instructions.line_dropped(lost_s),
                                      respond=self._watchdog.gap_told_asks(),
                                      again=True)  # fmt: skip
            case Failed(reason=reason, detail=detail):
                log.warning("call %s: model session lost: %s %s", self.call_id, reason, detail)
                if self.mode == HUMAN:
                    # The caller is talking to a colleague, who needs no model: it is tried
                    # again when the call is handed back (model_aside).
                    self._model_lost = True
                else:
                    self.spawn(self._give_up(reason), "give_up")

    def _model_up(self, now: float) -> None:
        """The model's session is up: the call's limits apply again (a call that moved in has
        landed)."""
        for reason in (MOVING, MODEL_AWAY):  # only those held: a release sets her silence on
            if self._watchdog.held_for(reason):
                self._watchdog.hold(reason, False, now)

    def _tell_unanswered(self, unanswered: tuple[lp.FunctionResponse, ...]) -> None:
        """Tool results still waiting to be sent when the model's connection was lost: the
        resumed session never made those calls, so each result comes to it as a note (once
        for the ids of one joined call)."""
        told: set[tuple[str, str]] = set()
        for item in unanswered:
            said = json.dumps(item.response, sort_keys=True, default=str)
            if (item.name, said) in told:
                continue
            told.add((item.name, said))
            self.note(instructions.tool_finished_meanwhile(item.name, item.response),
                      respond=self.mode == AGENT)  # fmt: skip

    def _brief_fresh_model(self) -> None:
        """The model's session could not be resumed (no handle was given yet) and starts
        afresh in the middle of the call: it is told the conversation so far instead of
        greeting the customer again, and, while a colleague holds the call, to keep quiet."""
        said = list(self._said)
        if self.mode == HUMAN:
            self.note(instructions.carry_on(said), respond=False, briefing=True)
            self.note(instructions.taken_over(self.holder_name), respond=False, briefing=True)
        else:
            # It answers at once when the customer is waiting: for an answer, or for the
            # greeting (and its AI disclosure) no earlier session got to say.
            owes_greeting = not any(role == "agent" for role, _ in said)
            waiting = owes_greeting or said[-1][0] == "user"
            self.note(instructions.carry_on(said), respond=waiting, briefing=True, again=True)

    async def _give_up(self, reason: str) -> None:
        """The model is gone for good: tell the caller, hand over to a human, end cleanly.

        A caller who never reached the model is only told to try again; one who did gets a
        ticket (one per customer however many calls fail: see open_escalation)."""
        ticket = None
        if self._ever_ready and self.record_user_id is not None:
            try:
                # Shielded: if the call is closed meanwhile, the ticket is still written
                # (and the driver is never cancelled mid-operation).
                ticket = await asyncio.shield(open_escalation(
                    user_id=self.record_user_id, call_id=self.call_id, priority="high",
                    reason=lost_model_reason(reason),
                    origin=AGENT_UNAVAILABLE, announce=False,
                ))  # fmt: skip
            except PyMongoError as error:
                log.warning("call %s: no ticket for the lost agent: %s", self.call_id, error)
        if ticket:
            self.send(ce.Escalated(ticket))
            # No tool opened it: the record says so, for what is left to do after the call.
            self._record.set(agent_unavailable_ticket=ticket)
        message = "Sorry, our voice assistant is unavailable right now. " + (
            f"A colleague will follow up on ticket {ticket}." if ticket
            else "Please try again shortly."
        )  # fmt: skip
        await self._wait_outbound_drained()
        await self.end("agent_unavailable", tell=ce.Notice("agent_unavailable", message))
        if ticket:  # after the call has ended: staff pages must not hold up the caller
            await self._announce(ticket)

    async def _announce(self, ticket_id: str) -> None:
        with contextlib.suppress(PyMongoError):
            ticket = await mongo.async_db().escalations.find_one({"ticket_id": ticket_id})
            if ticket is not None:
                await announce_escalation(ticket)

    async def _announce_put_through(self, ticket_id: str, putting_through: bool) -> None:
        # The queue pages fetch the ticket's row again as they hear it, painted from the
        # call's record (`doing`): written first, not up to a second later. Shielded, as the
        # record's own flushes are: the call ending meanwhile must not cut a write in half.
        with contextlib.suppress(PyMongoError):
            await self._record.flush_shielded()
            ticket = await mongo.async_db().escalations.find_one({"ticket_id": ticket_id})
            if ticket is not None:
                await announce_call_put_through(ticket, putting_through=putting_through)

    # --- staff on the call (contract section 8) -------------------------------------------

    # What staff watching the call see of its events (the rest is for the caller's screen).
    _STAFF_SEES = (ce.Transcript, ce.ToolActivity, ce.Escalated, ce.AgentChanged, ce.Ended)

    def _mirror(self, item: ce.CallerEvent, staff_only: dict[str, Any] | None = None) -> None:
        if isinstance(item, self._STAFF_SEES):
            self._link.event({**ce.as_dict(item), **(staff_only or {})})

    def state(self) -> dict[str, Any]:
        """The call as staff pages show it (`state` of contract section 8)."""
        return {
            "type": "state", "call_id": self.call_id, "user_id": self.record_user_id,
            "customer": self.customer.name if self.customer else None,
            "channel": self.channel, **self.staff.in_state(),
            "attached": self.attached, "doing": self._doing_for_staff(),
            "agent": self.has_agent,  # False: no hand-back nor whisper (on_call.NO_AGENT_HAND_BACK)
        }  # fmt: skip

    def _doing_for_staff(self) -> str:
        if self.mode == HUMAN:
            return "staff"
        # Whatever the agent does meanwhile, the caller is on their way to a person's line.
        return "transferring" if self.transfer in PUTTING_THROUGH else self.doing

    def _now_doing(self, doing: str) -> None:
        # Only changes travel: the agent speaks fifty frames a second.
        if doing != self.doing:
            self.doing = doing
            self.publish_state()

    def publish_state(self) -> None:
        state = self.state()
        self._link.event(self.staff.state_for_pages(state))
        self._link.live_list(state)
        self._record.set(mode=self.mode, holder=state["staff"], listeners=state["listeners"],
                         doing=state["doing"])  # the live calls page's first paint reads it

    def end_now(self, reason: str, message: str) -> None:
        """End the call for the staff side, at once: the agent is not heard to the end of its
        answer (the caller's player is cleared, and what the model still sends is dropped)."""
        # Now, not when the task runs: a release arriving meanwhile ends the call.
        self._end_reason = self._end_reason or reason
        self._agent_cut_off = True
        self._outbox.drop_audio()
        self.send(ce.Interrupted())
        self.spawn(self.end(reason, tell=ce.Notice(reason, message)), "staff end")

    def cut_agent(self) -> None:
        """A colleague took the call over: what the model said that the caller has not heard
        yet is dropped, and cut from the recording; what of it is playing stops."""
        self._outbox.drop_audio()
        self.observer.held()
        self.send(ce.Interrupted())

    def model_aside(self, aside: bool) -> None:
        """While a colleague holds the call (`aside`) the model's tool calls wait for the
        hand-back and its silences are not stalls; handed back, a model session lost
        meanwhile is tried again (for the hand-back note)."""
        self._tools.ctx.held = aside
        if not aside and self._model_lost:
            self._model_lost = False
            self.spawn(self._live.run(), "live")
        self._watchdog.hold("human", aside, time.monotonic())

    def staff_audio_said(self, pcm24k: bytes) -> None:
        self.observer.staff_audio(pcm24k)

    # --- the call's own limits ------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.staff.tick(time.monotonic())
            action = self._watchdog.tick(time.monotonic())
            if action is not None:
                await self._act(action)

    async def _act(self, action: Action) -> None:
        match action:
            case Action.CHECK_IN:
                self.note(instructions.check_in())
            case Action.WARN_MAX_DURATION:
                self.note(instructions.time_almost_up())
                self._record.set(limits_used=self._limits_kept())  # should this process die
            case Action.NUDGE_MODEL:
                log.info("call %s: the model is silent; nudging it", self.call_id)
                self._live.send_note(instructions.nudge())  # not an answer of its own: see note
            case Action.RESUME_MODEL:
                log.warning("call %s: the model stalled; resuming its session", self.call_id)
                self._record.add_event("stalls", {"at": utcnow(), "action": "resumed"})
                self._live.rotate()
            case Action.GIVE_UP:
                log.warning("call %s: the model stayed silent after a resumption; giving up",
                            self.call_id)  # fmt: skip
                self._record.add_event("stalls", {"at": utcnow(), "action": "gave_up"})
                self.spawn(self._give_up("stalled"), "give_up")
            case Action.SAY_GOODBYE:
                goodbye = self._say_goodbye_and_end("idle", instructions.goodbye_idle())
                self.spawn(goodbye, "goodbye")
            case Action.END_MAX_DURATION:
                # The agent says goodbye unless a colleague holds the call (the model keeps
                # quiet then); either way the call ends, a take-over meanwhile or not.
                note = instructions.goodbye_max_duration() if self.mode == AGENT else None
                goodbye = self._say_goodbye_and_end("max_duration", note, final=True)
                self.spawn(goodbye, "goodbye")

    def _limits_used(self) -> dict[str, Any]:
        """What the call has used of its limits, for a process it moves to (`_carry_on_limits`)."""
        now = time.monotonic()
        return {
            "warned": self._watchdog.warned, "check_ins": self._watchdog.check_ins,
            "silent_s": self._watchdog.silence(now),
            "spoke_since_back": self._watchdog.spoke_since_back,
            "typed": self._typed.left(now), "audio": self._audio_gate.left(now), "at": utcnow(),
        }  # fmt: skip

    def _limits_kept(self) -> dict[str, Any]:
        """What stays true of the call's limits while it goes on here, for a process that takes
        it up should this one die: the rest is written as the call is let go."""
        return {"warned": self._watchdog.warned}

    def _carry_on_limits(self, used: dict[str, Any]) -> None:
        """Go on with what the call used of its limits in the process it moved from: all of it
        as of `at` when that process let it go; only whether it was warned when it died."""
        now = time.monotonic()
        at = used.get("at")
        silent_s = 0.0  # not said (a process that died): her silence starts afresh here
        if isinstance(at, datetime):
            since_s = (utcnow() - at).total_seconds()
            self._typed.carry_on(_limit_count(used.get("typed")), since_s, now)
            self._audio_gate.carry_on(_limit_count(used.get("audio")), since_s, now)
            if "silent_s" in used:  # her line was away meanwhile: her silence ran on
                silent_s = max(0.0, _limit_count(used["silent_s"]) + max(0.0, since_s))
        self._watchdog.carry_on(
            warned=bool(used.get("warned")), check_ins=int(_limit_count(used.get("check_ins"))),
            silent_s=silent_s, spoke_since_back=used.get("spoke_since_back") is True, now=now,
        )
        # Spent: the caller may speak here, which a process taking the call up after this one
        # died must not take for the silence counted there.
        self._record.set(limits_used=self._limits_kept())

    async def _say_goodbye_and_end(
        self, reason: str, note: str | None, *, final: bool = False
    ) -> None:
        """Ask the model for a goodbye (`note`), wait for it to be said, then end the call.
        Unless `final`, a colleague who took the call over meanwhile keeps it."""
        if note is not None:
            self._turn_done.clear()
            self._agent_said.clear()
            self.note(note)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(GOODBYE_WAIT_S):
                    await self._goodbye_said()
            await self._wait_outbound_drained()
        if self.mode == HUMAN and not final:  # a colleague took the call over meanwhile
            log.info("call %s: not ended (%s): %s holds it", self.call_id, reason,
                     self.holder_name)  # fmt: skip
            self._watchdog.goodbye_abandoned(time.monotonic())
            return
        await self.end(reason)

    async def _goodbye_said(self) -> None:
        """The goodbye asked for has been said: its turn is over. Raises TimeoutError if the
        model has not begun it within GOODBYE_START_S (a model that says nothing)."""
        async with asyncio.timeout(GOODBYE_START_S):
            await self._agent_said.wait()
        await self._turn_done.wait()

    # --- captions ---------------------------------------------------------------------------

    def _caption(self, role: str, text: str, finished: bool) -> None:
        self._show(self._captions.heard(role, text, finished, utcnow()))

    def _flush_caption(self, role: str) -> None:
        self._show(self._captions.end(role))

    def _show(self, captions: list[Caption]) -> None:
        """Captions on the page and the staff pages; a finished one kept as a line too."""
        for caption in captions:
            if caption.finished:
                self._keep_line(caption.role, caption.text, caption.began)
            self.send(ce.Transcript(caption.role, caption.text, caption.finished))

    def _keep_line(self, role: str, text: str, began: datetime | None = None) -> None:
        """A finished line of the conversation (`began`: when its first words came, else
        now): on the record, and in what a fresh model session would be told."""
        self._record.add_transcript(role, text, began)
        self._said.append((role, text))

    def _flush_captions(self) -> None:
        self._show(self._captions.end_all())

    # --- tools ------------------------------------------------------------------------------

    def _tool_progress(self, outcome: ToolOutcome) -> None:
        if outcome.result is None:
            self._watchdog.tool_started()
            started = ce.ToolActivity(outcome.name, "started")
            if self._tools.ctx.held:  # refused at once: see _tool_shown
                self._mirror(started)
            else:
                self.send(started)
            self._now_doing(f"tool:{outcome.name}")
            return
        if outcome.ran:  # a malformed call never started: another may be running still
            self._watchdog.tool_finished(time.monotonic(), answered=outcome.heard)
        result = outcome.result
        ok = bool(result.get("ok")) and not outcome.failed  # the real result, even if late
        self.observer.tool_finished(outcome.name, outcome.ms, ok)
        entry = {
            "name": outcome.name,
            "args": outcome.args,
            "result": result,
            "ok": ok,
            "started_at": outcome.started_at,
            "ms": outcome.ms,
            "call_ids": outcome.ids,
            "cancelled": sorted(outcome.cancelled_ids),
            **({"late": True} if outcome.late else {}),
            **({"failed": True} if outcome.failed else {}),  # a bug, not a refusal
        }
        if self.released:  # the call has moved on: its model never heard this (release)
            self._finished_after_release.append(entry)
            return
        self._keep_verified(entry)
        if self._tools.running <= 1:  # this one's task is still counted
            self._now_doing("thinking")  # the model answers from the result next
        self._record.add_tool_call(entry)
        if self._closing:
            return
        if outcome.unheard:
            self._tell_unheard(outcome, result)
        self._tool_shown(entry)

    def _keep_verified(self, entry: dict[str, Any]) -> None:
        """A verify_caller that verified the caller (here, or in the process the call moved
        from): the tools count them verified, and so does the record, if the call moves."""
        if entry["name"] == "verify_caller" and entry["result"].get("verified"):
            self._tools.ctx.verified = True
            self._record.set(verified=True)

    def _tool_shown(self, entry: dict[str, Any]) -> None:
        """A finished tool call (its record entry) on the page and the staff pages."""
        name, result = entry["name"], entry["result"]
        # Failed: a bug in the tool, or the database it needed out of reach or time.
        status = "failed" if entry.get("failed") or database_failed(result) else "done"
        # Staff read the tool's line as the call page writes it, which needs its arguments.
        shown = ce.ToolActivity(name, status, result)
        staff_only = {"args": entry["args"], "ms": entry["ms"]}
        if refused_while_held(result):
            # The customer is talking to a colleague, not waiting on a lookup: "Our records
            # are unavailable" would be false news to her. The staff on the call see it.
            self._mirror(shown, staff_only)
        else:
            self.send(shown, staff_only=staff_only)
        if name == "escalate_to_human" and result.get("ok"):
            if self.channel == "phone" and not self.transfer and transfer_configured():
                # Decided now, not when the caller's stream hears of it: that stream may drop,
                # or its process drain, first (the stream carrying the call then makes it).
                self.transfer_is(Transfer.ASKED)
            self.send(ce.Escalated(str(result["ticket_id"])))
            self.staff.escalated(str(result["ticket_id"]))

    async def _take_handed_over(self) -> None:
        """Tool calls the process this call moved from finished after it let go: recorded
        here, and told to this process's model, which resumed from before they were asked
        (only recorded, once the call is ending)."""
        try:
            entries = await take_handed_over(self.call_id)
        except PyMongoError as error:
            log.warning("call %s: could not take the tools handed over: %r", self.call_id, error)
            return
        for entry in entries:
            if self._closing:  # ended meanwhile: still on the record
                self._record.add_tool_call(entry)
                continue
            log.info("call %s: %s finished where the call was before", self.call_id,
                     entry["name"])  # fmt: skip
            self._keep_verified(entry)
            self._record.add_tool_call(entry)
            self.note(instructions.tool_finished_meanwhile(entry["name"], entry["result"]),
                      respond=self.mode == AGENT)  # fmt: skip
            self._tool_shown(entry)

    def _tell_unheard(self, outcome: ToolOutcome, result: dict[str, Any]) -> None:
        """The model never got this result: it was told the tool took too long, or the
        connection it asked on closed meanwhile (either way it answers now, unless a
        colleague holds the call), or it cancelled the call, which did something anyway (it
        takes that in, to say when it fits)."""
        if outcome.late:
            self.note(instructions.tool_finished_late(outcome.name, result),
                      respond=self.mode == AGENT)  # fmt: skip
        elif outcome.lost_ids - outcome.cancelled_ids:
            self.note(instructions.tool_finished_meanwhile(outcome.name, result),
                      respond=self.mode == AGENT)  # fmt: skip
        elif outcome.cancelled_ids and result.get("ok"):
            self.note(instructions.tool_done_though_cancelled(outcome.name, result),
                      respond=False)

    # --- to the caller ----------------------------------------------------------------------

    def send(self, item: ce.Delivery, staff_only: dict[str, Any] | None = None) -> None:
        """Queue `item` for the caller; staff see it too (with `staff_only` fields added)."""
        if self._closing:
            return
        if not isinstance(item, ce.AgentAudio):
            self._mirror(item, staff_only)
        self._outbox.put(item, away=self._caller is None)

    def send_audio(self, pcm24k: bytes) -> None:
        if self._closing or self._caller is None or self._agent_cut_off:
            return  # nobody to hear it: a page away does not get stale speech later
        self.send(ce.AgentAudio(pcm24k))

    async def _deliver_outbound(self) -> None:
        while True:
            await self._outbox.waiting.wait()
            self._outbox.waiting.clear()
            while (caller := self._caller) is not None:
                item = self._outbox.take()
                if item is None:
                    break
                try:
                    await caller.deliver(item)
                except ConnectionError as gone:
                    # The socket closed under us; its disconnect is on its way. The call
                    # waits for the caller to come back, as it would after that.
                    log.info("call %s: the caller's socket is gone: %s", self.call_id, gone)
                    self.detach(caller, unheard=isinstance(item, ce.AgentAudio))

    async def _wait_outbound_drained(self) -> None:
        for _ in range(50):
            if not self._outbox:
                return
            await asyncio.sleep(0.01)

    # --- tasks ------------------------------------------------------------------------------

    async def _stop_tasks(self) -> None:
        """Cancel the call's tasks (not the one running this: a give-up finishes by itself)
        and wait for them, but never for long: a task that does not stop is left behind,
        logged, rather than holding up the end of the call."""
        others = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        if not others:
            return
        done, pending = await asyncio.wait(others, timeout=TEARDOWN_TIMEOUT_S)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                log.error("call %s: task %s had failed: %r", self.call_id, task.get_name(),
                          error, exc_info=error)  # fmt: skip
        for task in pending:
            log.error("call %s: task %s did not stop when cancelled", self.call_id,
                      task.get_name())  # fmt: skip

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        # Named for the call, so a leak would be easy to spot; a task that fails ends the call.
        task = asyncio.create_task(
            coro, name=f"{self.call_id} {name}", context=logs.context_of(self.call_id)
        )
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _spawn_detached(self, coro: Coroutine[Any, Any, Any]) -> None:
        # Work that outlives the call's own tasks (closing its staff link), not cancelled.
        task = asyncio.create_task(
            coro, name=f"{self.call_id} after", context=logs.context_of(self.call_id)
        )
        _after.add(task)
        task.add_done_callback(_after.discard)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self._closing:
            self._tasks.discard(task)
            return
        error = task.exception()
        self._tasks.discard(task)
        if error is None:
            return
        log.error("call %s: task %s failed; ending the call", self.call_id, task.get_name(),
                  exc_info=error)  # fmt: skip
        self.spawn(self.end("server_error"), "end")



async def end_between_streams(reason: str, *, call_id: str = "", call_sid: str = "") -> None:
    """Twilio says the phone call `call_id` (or Twilio's `call_sid`) is over, as `reason`: the
    caller hung up (<Connect action>: CALLER_HUNG_UP), or the transfer's <Dial> ran (<Dial
    action>: how it went). A stream carrying the call hears so too (its `stop` ends it); but
    one no stream carries (waiting for Twilio's next: its last one dropped, its process let
    it go, or Twilio moved it on a transfer request) would wait out its grace period and end
    as a caller who left (or transfer_unconfirmed), counting meanwhile as one of the
    customer's open calls. Nothing comes back for it: it ends now, as `reason`: by the session
    carrying it here (by what it knows itself: its stream, its transfer), by the process
    carrying it (told so; one letting the call go or still starting it as it is told ends it
    once it has: _told_not_here), or here when none does (or the one its record names died).
    Only a call Twilio's word ends (twilio_ends)."""
    try:
        # One being let go here is unclaimed then.
        await CallSession.settled(call_id=call_id, call_sid=call_sid)
        stored = await find_call(call_id=call_id, call_sid=call_sid)
        if stored is None or stored.ended or not twilio_ends(reason, stored.transfer):
            return
        here = CallSession.here(stored.call_id)
        if here is not None:
            await here.twilio_ended(reason)
        elif stored.carrier and not await carrier_gone(stored.carrier, stored.call_id):
            # That process ends it, unless a stream carries it there by then.
            await send_to_channel(stored.carrier, twilio_says_over(stored.call_id, reason),
                                  patience_s=0.5)  # fmt: skip
        elif await end_unclaimed(stored, reason, utcnow()):
            await wrap_up(stored.call_id, reason)
    except PyMongoError as error:
        log.warning("call %s is over; could not end its record: %s", call_id or call_sid, error)


async def _told_not_here(message: dict[str, Any]) -> None:
    """Twilio says a phone call is over (`call.caller_hung_up`, `call.moved_on`: from
    /twilio/voice in another process, which read this one as its carrier) that no session
    here carries: this process is still starting it, or has let it go since. Once started,
    its session hears it as any would; let go, or its start failed, it ends now if no process
    carries it (end_between_streams)."""
    call_id = str(message.get("call_id", ""))
    while process.starting(call_id):  # at most STARTING_S
        await asyncio.sleep(POLL_S)
    session = _here.get(call_id)
    if session is not None:
        await session.twilio_ended(twilio_ends_as(message))
    else:
        await end_between_streams(twilio_ends_as(message), call_id=call_id)


for _kind in TWILIO_SAYS_OVER:
    process.if_not_here(_kind, _told_not_here)


async def _release_not_here(message: dict[str, Any]) -> None:
    """Another process asks this one to let go of a call no session here carries (its stream
    came back there: continuity/calls.py take_over). One that ended here while the database
    did not answer, its record's close waiting to be tried again, is closed now: that process
    reads the database answering, and would otherwise take the call over after RELEASE_WAIT_S
    as one whose carrier never let go, carrying on a call ended here."""
    close_sooner(str(message.get("call_id", "")))


process.if_not_here("call.release", _release_not_here)


async def _end_live_escalation_later(call_id: str) -> None:
    """The call ended while the database did not answer: its ticket, still live, would offer
    "Join call" for a call that is over (the queue's briefings skip it meanwhile: its record
    says it ended). Told once the database is back, retried as long as the record's close is
    (CLOSE_RETRY_S): a record still open after that is ended by the sweeper, which tells the
    ticket too (continuity/sweeper.py wrap_up)."""
    try:
        await mongo.once_answering(lambda: end_live_escalation(call_id), CLOSE_RETRY_S)
    except PyMongoError as error:
        log.error("call %s: gave up telling its ticket the call ended: %s", call_id, error)
        return
    log.info("call %s: its ticket was told the call ended once the database was back", call_id)


def _gap_since(resuming: StoredCall | None) -> float:
    """How long the call went without a process (for a call taken over from another)."""
    if resuming is None:
        return 0.0
    since = resuming.detached_at or resuming.last_seen_at
    return max(0.0, (utcnow() - since).total_seconds()) if since else 0.0


def _limit_count(value: Any) -> float:
    """A number the record's `limits_used` holds, or 0 for anything else (what no process of
    ours writes: a string, infinity, a record edited by hand), which must not keep the call
    from being taken up; 0 left of an allowance is none, not a fresh one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    number = float(value)
    return number if math.isfinite(number) else 0.0


def _model_speech(event: object) -> bool:
    """What the model says (its audio and its words), as opposed to what it hears or does."""
    return isinstance(event, lp.AudioChunk) or (
        isinstance(event, lp.Transcript) and event.role != "user"
    )
