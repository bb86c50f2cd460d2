"""Staff on one live call, in the process carrying it (contract section 8).

    staff page -> livestaff/consumers.py (permissions) -> the call's process channel
               -> CallSession._on_message -> StaffOnCall.act / .audio
    StaffOnCall -> the call (LiveCall): notes to the model, items and voice to the caller
               -> livestaff/link.py: the call's transcript, state and audio to the pages

What a staff member does on a call lands here: listening (their page is sent both sides'
audio), whispering (a note the model acts on and the caller never hears), taking over (the
model hears and says nothing; their voice goes to the caller), handing back, ending it. So
does who holds the call and from which page: a page that closes or is no longer heard from
gives the holder STAFF_HOLD_GRACE_S to be back before the call goes back to the agent. And the
warm escalation: a colleague is fetched while the model keeps the caller company, and a
callback is offered if nobody joins within ESCALATION_WAIT_S.

The call itself (realtime/call_session.py) owns the conversation: the model, the caller's
socket, the record. StaffOnCall asks it for what it needs of the conversation through
LiveCall; it writes staff events on the call's record, and the wait for a colleague on its
watchdog (a caller waiting for one is not gone quiet), itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from pymongo.errors import PyMongoError

from livestaff import protocol as staff_protocol
from livestaff.link import StaffLink
from livestaff.presenting import backlog
from realtime import caller_events as ce
from realtime import instructions
from realtime.audio import StreamResampler
from realtime.call_controls import AUDIO_BURST_S, PCM16K_BYTES_PER_S, RealTimeGate, Watchdog
from realtime.call_record import CallRecord
from realtime.call_record import now as utcnow
from realtime.transfer import PUTTING_THROUGH
from support import mongo
from support.escalations import LiveEscalation, join_live_escalation
from voiceproject.tasks import in_background, raise_if_cancelled

log = logging.getLogger(__name__)

AGENT, HUMAN = "agent", "human"  # who talks to the caller (contract section 8: `mode`)
PAGE_CLOSED_NOTE = "(The colleague's page closed.)"
# Without GEMINI_API_KEY a call a colleague holds has no agent to go back to (contract section
# 1: only the agent needs the key): what a colleague is told instead, and how it ends.
NO_AGENT_HAND_BACK = "No agent is configured to hand this call back to: end the call instead."
NO_AGENT_WHISPER = "No agent is configured on this call: nobody reads a whisper."
HOLDER_LEFT = "staff_left"  # the holder's page went, with no agent to hand the call back to
HOLDER_LEFT_MESSAGE = "Sorry, our colleague was cut off, so the call has ended."
# The holder lost the take-over permission, with no agent to hand the call back to: it ends
# (they may not hold it, nor end it, any longer).
HOLDER_NOT_ALLOWED = "staff_not_allowed"
HOLDER_NOT_ALLOWED_MESSAGE = (
    "Sorry, our colleague can no longer stay on this call, so it has ended."
)
ENDED_BY_STAFF_MESSAGE = "A member of our support team ended the call."
# How long who joined a warm escalation is asked again of a database that does not answer.
JOIN_RETRY_S = 300.0


class LiveCall(Protocol):
    """What staff on a call ask of it (realtime/call_session.py's CallSession)."""

    call_id: str
    channel: str
    has_agent: bool
    transfer: str  # where a phone call's transfer to a person stands (realtime/transfer.py)
    released: bool  # let go to another process

    @property
    def closing(self) -> bool:
        """Ending, or moving to another process: staff actions are refused."""

    @property
    def identified(self) -> bool:
        """Whether the caller is a known customer (a callback can be booked for them)."""

    def note(self, text: str, *, respond: bool = True) -> None:
        """Tell the model something the caller does not hear."""

    def send(self, item: ce.Delivery, staff_only: dict[str, Any] | None = None) -> None:
        """Queue `item` for the caller; staff pages see it too, with `staff_only` added."""

    def send_audio(self, pcm24k: bytes) -> None:
        """Speech for the caller, as the agent's is sent."""

    def state(self) -> dict[str, Any]:
        """The call as staff pages show it (`state` of contract section 8)."""

    def cut_agent(self) -> None:
        """Drop what the agent said that the caller has not heard yet, here and from the
        recording, and stop what of it is playing: a colleague talks to them now."""

    def model_aside(self, aside: bool) -> None:
        """The model hears and says nothing (`aside`: a colleague took the call over), or
        carries on with the caller."""

    def end_now(self, reason: str, message: str) -> None:
        """End the call at once, telling the caller `message`: the agent is not heard to the
        end of its answer."""

    async def end(self, reason: str, *, tell: ce.CallerEvent | None = None) -> None:
        """End the call from our side: tell the caller why (`tell`), hang up, close."""

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` as one of the call's tasks (cancelled when it closes)."""

    def publish_state(self) -> None:
        """Send the call's `state` to its staff pages and to the live calls page."""

    def staff_audio_said(self, pcm24k: bytes) -> None:
        """The holder's voice as the caller hears it, for the recording."""


class StaffOnCall:
    """The staff side of one call: its listeners, its holder and their page, its warm
    escalation. Methods are called from the call's event loop."""

    def __init__(
        self, call: LiveCall, link: StaffLink, record: CallRecord, watchdog: Watchdog
    ) -> None:
        self._call = call
        self.link = link
        self._record = record
        self._watchdog = watchdog
        self.holder: dict[str, str] | None = None  # {username, name} of who holds the call
        self.page = ""  # the channel of the holder's page ("" while it is missing)
        self._heard_at = 0.0  # when that page last said it holds the call (monotonic)
        self._missing: asyncio.Task[Any] | None = None
        self._held_since = 0.0
        self._voice: StreamResampler | None = None  # the holder's 16 kHz to 24 kHz
        # The holder's voice, as the caller's, never faster than real time (a script on their
        # socket would have the caller, the listeners and the recording take it all).
        self._gate = RealTimeGate(PCM16K_BYTES_PER_S, AUDIO_BURST_S, time.monotonic())
        self.escalation: str | None = None  # the ticket of a warm escalation in progress
        self._escalation_joined = False  # a colleague took the call over since it escalated
        self._escalation_wait: asyncio.Task[Any] | None = None

    @property
    def mode(self) -> str:
        """Who talks to the caller: the agent, or a colleague (HUMAN) holding the call."""
        return HUMAN if self.holder is not None else AGENT

    @property
    def holder_name(self) -> str:
        """What the caller hears the colleague holding the call called ("" for none)."""
        return (self.holder["name"] or self.holder["username"]) if self.holder else ""

    def agent_changed(self) -> ce.AgentChanged:
        """Who the caller talks to now, for their screen."""
        return ce.AgentChanged(HUMAN, self.holder_name) if self.holder else ce.AgentChanged(AGENT)

    @property
    def with_a_colleague(self) -> bool:
        """Whether a colleague holds the call, or joined its escalation already: the caller is
        not to be transferred elsewhere (TWILIO_ESCALATION_NUMBER) away from them."""
        return self.holder is not None or self._escalation_joined

    # --- what staff pages send ------------------------------------------------------------

    async def act(self, message: dict[str, Any]) -> None:
        """One staff member's action, checked for permission by their page's consumer."""
        call = self._call
        kind, staff = message.get("kind"), message.get("staff") or {}
        reply_to = str(message.get("reply_to", ""))
        username, name = str(staff.get("username", "")), str(staff.get("name", ""))
        text = str(message.get("text", ""))
        # Not actions of the person's: nothing to answer or record.
        if kind == "holding":
            if not call.closing:
                self._holder_says_holding(reply_to, username)
            return
        if kind == "listening":
            if not call.closing and self.link.still_listening(reply_to, username):
                call.publish_state()
            return
        if kind == "state":  # nor is this: the page's copy was lost (livestaff/link.py)
            if not call.closing:
                self.link.reply(reply_to, self.state_for_pages())
            return
        if call.closing:
            self._refuse(reply_to, "not_live", staff_protocol.RECONNECTING_MESSAGE
                         if call.released else "This call has ended.")  # fmt: skip
            return
        match kind:
            case "watch":
                self._watch_from(reply_to, username, message)
                self.link.reply(reply_to, self.state_for_pages())
                missed = backlog(self._record.recent, str(message.get("since") or ""))
                if missed:  # what the page, painted from the record, cannot have shown yet
                    self.link.reply(reply_to, {"type": "backlog", "events": missed})
                return
            case "listen":
                if self.link.listeners.get(reply_to) == username:
                    return  # listening already: nothing changes, nothing to record
                if not self.link.listen(reply_to, username,
                                        holding=self._held_from(reply_to, username)):  # fmt: skip
                    return  # no place for another listener: the page is told why
            case "unlisten":
                self.link.unlisten(reply_to)
                call.publish_state()
                return
            case "page_closed":
                self._page_closed(reply_to, username)
                return
            case "whisper" if not call.has_agent:
                self._refuse(reply_to, "forbidden", NO_AGENT_WHISPER)
                return
            case "hand_back" if not call.has_agent:
                if message.get("not_allowed") is True and self._held_from(reply_to, username):
                    log.info("call %s: %s may no longer hold it and no agent is configured; "
                             "ending it", call.call_id, username)  # fmt: skip
                    call.end_now(HOLDER_NOT_ALLOWED, HOLDER_NOT_ALLOWED_MESSAGE)
                    return
                self._refuse(reply_to, "forbidden", NO_AGENT_HAND_BACK)
                return
            case "whisper":
                # While a colleague holds the call the model takes it in but does not answer.
                call.note(instructions.whisper(name or username, text),
                          respond=self.holder is None)  # fmt: skip
                self.link.event(staff_protocol.whispered(username, text))
            case "take_over" | "end_call" if call.transfer in PUTTING_THROUGH:
                # Not to be called back: the caller reaches the escalation line whatever the
                # call does, so it is neither held nor ended by staff meanwhile.
                self._refuse(reply_to, "not_live", staff_protocol.TRANSFERRING_MESSAGE)
                return
            case "take_over":
                if self.holder is not None and self.holder["username"] != username:
                    holder = self.holder["username"]
                    self._refuse(reply_to, "taken", f"{holder} holds this call.", staff=holder)
                    return
                if self.holder is not None:  # theirs already: from this page of theirs now
                    self._found(reply_to)
                    call.publish_state()
                    return
                self.take_over(username, name, reply_to)
            case "hand_back":
                # Their own call, or a colleague's who cannot carry on (a lead's rescue).
                if self.holder is None:
                    self._refuse(reply_to, "forbidden", "Nobody holds this call.")
                    return
                for_them = self.holder["username"] != username
                self._hand_back(text, by={"username": username, "name": name} if for_them
                                else None)  # fmt: skip
            case "end_call":
                call.end_now("ended_by_staff", ENDED_BY_STAFF_MESSAGE)
        self._record.add_event("staff_events", {
            "kind": kind, "staff": username, "at": utcnow(), **({"text": text} if text else {}),
        }, routine=kind in ("listen", "whisper"))  # fmt: skip
        call.publish_state()

    def audio(self, message: dict[str, Any]) -> None:
        """The staff member holding the call, speaking from the page they hold it from: to
        the caller, as the agent would. (Another tab of theirs is not heard: "Take over" there
        moves the call to it.)"""
        pcm = message.get("pcm")
        staff = message.get("staff")
        voice = self._voice
        holder = self.holder["username"] if self.holder else None
        if (voice is None or not isinstance(pcm, bytes) or staff != holder
                or message.get("page") != self.page):  # fmt: skip
            return
        pcm = pcm[: len(pcm) - len(pcm) % 2]
        if not self._gate.allow(len(pcm), time.monotonic()):
            return
        self.link.audio(staff_protocol.HUMAN, pcm, speaker=staff)
        pcm24k = voice.process(pcm)  # the caller hears them as they would the agent
        self._call.staff_audio_said(pcm24k)
        self._call.send_audio(pcm24k)

    def in_state(self) -> dict[str, Any]:
        """The staff's part of the call's `state` (contract section 8): who talks to the
        caller, who holds the call, who listens, and the warm escalation in progress."""
        return {
            "mode": self.mode, "staff": self.holder["username"] if self.holder else None,
            "listeners": self.link.listening(), "escalation": self.escalation,
        }  # fmt: skip

    def state_for_pages(self, state: dict[str, Any] | None = None) -> dict[str, Any]:
        """The call's `state` (`state`, or asked of the call) as its staff pages get it: with
        the channel of the page the call is held from, which each page's consumer compares
        with its own and takes out."""
        return {**(state or self._call.state()), "holder_page": self.page}

    def tick(self, now: float) -> None:
        """Every half second or so: a holder's page, or a listener's, not heard from for
        HOLDER_SILENT_BEATS of its beats is taken for gone (its server died, or its close was
        lost while Redis was away)."""
        silent_s = staff_protocol.HOLDER_SILENT_BEATS * settings.STAFF_HOLDING_EVERY_S
        if self.page and now - self._heard_at > silent_s:
            holder = self.holder["username"] if self.holder else ""
            log.info("call %s: %s's page has not been heard from; taking it for gone",
                     self._call.call_id, holder)  # fmt: skip
            self._gone()
        unheard = self.link.drop_unheard_listeners(silent_s)
        if unheard:
            log.info("call %s: listening pages of %s have not been heard from; taken for gone",
                     self._call.call_id, ", ".join(unheard))  # fmt: skip
            self._call.publish_state()

    def _refuse(self, reply_to: str, code: str, message: str, **fields: Any) -> None:
        self.link.reply(reply_to, {"type": "error", "code": code, "message": message, **fields})

    # --- who holds the call, from which page ----------------------------------------------

    def _held_from(self, page: str, username: str) -> bool:
        """Whether `username` holds the call from their `page`."""
        return bool(self.holder and self.holder["username"] == username
                    and page and page == self.page)  # fmt: skip

    def _watch_from(self, page: str, username: str, message: dict[str, Any]) -> None:
        """A staff page watches the call: newly opened, or saying again what it does after the
        call moved here (`listening`, `holding`). A page of the holder's is theirs to talk from
        when the call knows none (a reload, a move, a callback they placed that was answered
        while they were on its ringing page)."""
        if message.get("listening") is True:
            self.link.listen(page, username)
        holder = self.holder
        if holder is not None and holder["username"] == username and (
            not self.page or message.get("holding") is True
        ):
            self._found(page)
        if message.get("listening") is True or self.page == page:
            self._call.publish_state()

    def _page_closed(self, page: str, username: str) -> None:
        """A staff page on the call closed: it listens no more, and if the call was held from
        it, the holder has STAFF_HOLD_GRACE_S to be back (a reload, a blip) before the call
        goes back to the agent. Another tab of theirs closing leaves the call as it is."""
        self.link.unlisten(page)
        if self.holder is not None and page == self.page:
            self._gone()
        self._call.publish_state()

    def _holder_says_holding(self, page: str, username: str) -> None:
        """The holder's page says it still holds the call (every STAFF_HOLDING_EVERY_S). One the
        call had taken for gone is theirs again, if the call is still theirs."""
        if self.holder is None or self.holder["username"] != username:
            return
        if page == self.page or not self.page:
            self._found(page)

    def _found(self, page: str) -> None:
        self.page = page
        self._heard_at = time.monotonic()
        if self._missing is not None:
            self._missing.cancel()
            self._missing = None

    def _gone(self) -> None:
        """No page of the holder's is known: the caller hears nobody. Unless one is back in
        time, the call goes back to the agent."""
        self.page = ""
        if self._missing is None:
            self._missing = self._call.spawn(self._hand_back_unless_back(), "holder missing")

    async def _hand_back_unless_back(self) -> None:
        await asyncio.sleep(settings.STAFF_HOLD_GRACE_S)
        self._missing = None
        if self.holder is None or self.page:
            return
        call, staff = self._call, self.holder["username"]
        if not call.has_agent:
            # Nobody is left on the customer's line, and no agent can take it: it ends.
            log.info("call %s: %s's page is gone and no agent is configured; ending it",
                     call.call_id, staff)  # fmt: skip
            call.spawn(call.end(HOLDER_LEFT, tell=ce.Notice(HOLDER_LEFT, HOLDER_LEFT_MESSAGE)),
                       "holder left")  # fmt: skip
            return
        log.info("call %s: %s's page is gone; back to the agent", call.call_id, staff)
        self._hand_back(PAGE_CLOSED_NOTE)
        self._record.add_event("staff_events", {
            "kind": "hand_back", "staff": staff, "at": utcnow(), "text": PAGE_CLOSED_NOTE,
        })  # fmt: skip
        call.publish_state()

    # --- taking over and handing back -----------------------------------------------------

    def hold(
        self, username: str, name: str, page: str = "", *, since: datetime | None = None
    ) -> None:
        """`username` holds the call from now on, from their `page` (its channel; "" until
        known): the model hears and says nothing, their voice goes to the caller. `since`:
        when they took it, for a call that moved while held (else now)."""
        now = time.monotonic()
        held_s = max(0.0, (utcnow() - since).total_seconds()) if since else 0.0
        self.holder = {"username": username, "name": name}
        self._held_since = now - held_s
        self._record.set(held_since=since or utcnow())
        if page:
            self._found(page)
        else:
            self._gone()
        self._voice = StreamResampler(16_000, 24_000)
        self._gate = RealTimeGate(PCM16K_BYTES_PER_S, AUDIO_BURST_S, now)
        self._call.model_aside(True)
        self._cancel_escalation_wait()

    def take_over(self, username: str, name: str, page: str = "") -> None:
        """`username` takes the call over: the model stops at once and is told to keep quiet;
        the caller is told who they talk to now (a phone caller hears a chime)."""
        call = self._call
        self.hold(username, name, page)
        if self.escalation is not None:
            self._escalation_joined = True
            self._note_joined(self.escalation, username)
        call.cut_agent()  # whatever of the model's answer is playing stops now
        call.note(instructions.taken_over(self.holder_name), respond=False)
        call.send(self.agent_changed(), staff_only={"by": username})  # "You" on their page
        if call.channel == "phone":
            # A phone has no screen: a short chime says someone new is on the line.
            call.send_audio(instructions.JOINED_CHIME)
            call.send(ce.TurnComplete())

    def placed_callback(self, username: str, name: str) -> None:
        """The call is a callback `username` placed, answered: theirs from its start (their
        page, waiting for the answer, finds it), on the record as their take-over."""
        self.take_over(username, name)
        self._record.add_event("staff_events", {
            "kind": "take_over", "staff": username, "at": utcnow(),
            "text": staff_protocol.PLACED_CALLBACK,
        })  # fmt: skip
        self._call.publish_state()

    def _hand_back(self, staff_note: str, *, by: dict[str, str] | None = None) -> None:
        """The call goes back to the model, with `staff_note` from the holder, or from `by`
        ({username, name}), a colleague handing it back for a holder who cannot."""
        assert self.holder is not None
        name, holder = self.holder_name, self.holder["username"]
        held_for = time.monotonic() - self._held_since
        self.holder, self._voice = None, None
        self._found("")
        call = self._call
        call.model_aside(False)
        # Staff pages write the line as the call's record does: who handed back, and the note.
        call.send(ce.AgentChanged(AGENT), {"staff": holder, "note": staff_note,
                                           **({"by": by["username"]} if by else {})})  # fmt: skip
        call.note(instructions.handed_back(
            name, held_for, staff_note, by_name=(by["name"] or by["username"]) if by else None
        ))  # fmt: skip

    # --- warm escalation (contract section 8) ---------------------------------------------

    def escalated(self, ticket_id: str) -> None:
        """The model escalated: a colleague is fetched while it keeps the caller company; if
        nobody joins within ESCALATION_WAIT_S it offers a callback instead. Asked again, the
        model gets the same ticket (open_escalation) and nothing starts over; a new ticket
        (the first was resolved meanwhile) is waited for, and joined, as the first was."""
        if ticket_id == self.escalation:
            return
        self._cancel_escalation_wait()
        self.escalation, self._escalation_joined = ticket_id, False
        self._call.note(instructions.colleague_coming(), respond=False)
        self._wait_for_colleague(settings.ESCALATION_WAIT_S)
        self._call.publish_state()

    def escalation_moved_in(self, ticket: LiveEscalation) -> None:
        """The call moved here while a colleague was being fetched: still so, for what is
        left of the wait (the resumed model remembers it said one is coming). Once someone
        joined, or the wait is over (the callback was offered), there is nothing to wait for."""
        self.escalation = ticket.ticket_id
        self._escalation_joined = ticket.joined
        left_s = settings.ESCALATION_WAIT_S - (utcnow() - ticket.opened_at).total_seconds()
        if not ticket.joined and self.holder is None and left_s > 0:
            self._wait_for_colleague(left_s)

    def escalation_resolved(self, ticket_id: str) -> None:
        """Staff resolved the ticket of the warm escalation in progress: the live pages no
        longer offer to join for it. The model is not told: should nobody have joined, it
        still offers the customer a callback when the wait is over."""
        if ticket_id == self.escalation:
            self.escalation = None
            self._call.publish_state()

    def _wait_for_colleague(self, wait_s: float) -> None:
        """For `wait_s` the caller waits for a colleague (a silence is not them gone), then
        the model offers a callback."""
        self._watchdog.wait_for_colleague(time.monotonic() + wait_s)
        self._escalation_wait = self._call.spawn(self._offer_callback_later(wait_s),
                                                 "escalation wait")  # fmt: skip

    async def _offer_callback_later(self, after_s: float) -> None:
        await asyncio.sleep(after_s)
        if self.holder is None:
            self._call.note(instructions.offer_callback(identified=self._call.identified))

    def _note_joined(self, ticket_id: str, username: str) -> None:
        """The ticket notes who joined (support/escalations.py), in a task of its own rather
        than one of the call's: the call may end before the database answers (ended during a
        freeze), and a database operation is never cancelled half-way (which wedged PyMongo's
        pool in a freeze: support/mongo.py)."""
        in_background(self._joined(ticket_id, username),
                      name=f"{self._call.call_id} escalation joined")  # fmt: skip

    async def _joined(self, ticket_id: str, username: str) -> None:
        """Note who joined; while the database does not answer, asked again (joining twice
        changes nothing) for JOIN_RETRY_S: the briefings say who joined from it, and a call
        that moves to another process reads from it that nobody is to be waited for."""
        call_id, join_id = self._call.call_id, uuid.uuid4().hex
        try:
            await join_live_escalation(ticket_id, username, join_id)
            return
        except PyMongoError as error:
            raise_if_cancelled()  # a driver that swallowed a cancellation
            log.warning("call %s: could not note who joined ticket %s (%s); retrying",
                        call_id, ticket_id, error)  # fmt: skip
        try:
            await mongo.once_answering(lambda: join_live_escalation(ticket_id, username, join_id),
                                       JOIN_RETRY_S)  # fmt: skip
        except PyMongoError as error:
            log.error("call %s: gave up noting on ticket %s that %s joined: %s",
                      call_id, ticket_id, username, error)  # fmt: skip
            return
        log.info("call %s: noted who joined ticket %s once the database was back",
                 call_id, ticket_id)  # fmt: skip

    def _cancel_escalation_wait(self) -> None:
        self._watchdog.wait_for_colleague(0.0)
        if self._escalation_wait is not None:
            self._escalation_wait.cancel()
