"""`/ws/twilio`: a phone call's Media Stream, bridged to a CallSession.

Thin by design: parse Twilio's frame (twilio_protocol), transcode and hand it to the session,
and hand what the session delivers to the Playout, which owns the outbound audio. The guard
in front (guard.py) has already checked Twilio's signature; the `start` frame must then
carry the token the webhook minted for this very call, or the stream is closed.

    start               -> session.caller_stream (its SID, and when it was read: the 0 ms
                           of its media timestamps, before the call's setup holds them up)
    media (µ-law 8 kHz) -> ulaw_decode -> Resampler8kTo16k -> session.caller_audio (16 kHz,
                           with its stream's SID and timestamp: when it was said)
    dtmf                -> Keypad -> session.caller_text("The caller typed ...")
    mark (echoed)       -> playout.mark_played
    stop                -> the call ends (the caller hung up, or was transferred)

Frames that name another stream than `start` did are ignored, like malformed ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from autobahn.exception import Disconnected
from pymongo.errors import PyMongoError

from callbacks.booking import dialled_callback
from continuity import calls as stored_calls
from continuity import process
from realtime import caller_events as ce
from realtime import single_use
from realtime import twilio_protocol as tp
from realtime.audio import Resampler8kTo16k, pcm16_to_bytes, ulaw_decode
from realtime.audio_consumer import AudioConsumer
from realtime.call_record import closing_later
from realtime.call_session import NO_AGENT, CallRefused, CallSession
from realtime.phone import outbound, security, twilio_rest
from realtime.phone.keypad import Keypad
from realtime.phone.playout import Playout
from realtime.transfer import STREAM_ENDS_AS, TRANSFER_UNCONFIRMED, TRANSFERRED, Transfer
from support import mongo
from support.customers import find_customer, staff_first_name
from voiceproject import draining

log = logging.getLogger(__name__)

UNAUTHORIZED = 4401
UNSUPPORTED_MEDIA = 4415
TOO_MANY_CALLS = 4429
AGENT_NOT_CONFIGURED = 4503
SERVER_UNAVAILABLE = 4500  # autobahn lets an application close only with 1000 or 3000-4999
START_TIMEOUT_S = 10.0  # Twilio sends `start` right after `connected`
TRANSFER_WAIT_S = 15.0  # longest wait for the agent to finish saying it is passing the call on
# Hanging up waits for the agent's last words to play: for Twilio's echo of the mark after
# them, at most as long as they take to play (a goodbye comes in one burst, faster than it
# plays) and this margin, for Twilio's buffer and the network, and never beyond the cap
# (within CallSession.end's HANG_UP_WAIT_S).
HANG_UP_MARGIN_S = 0.5
HANG_UP_DRAIN_MAX_S = 10.0
# Less of the agent's words than this lost with a stream that drops is not worth saying again.
UNHEARD_MIN_S = 0.3
BAD_FRAMES_LOGGED = 5


class TwilioConsumer(AudioConsumer):
    session: CallSession | None = None
    playout: Playout | None = None

    async def connect(self) -> None:
        self._inbound = Resampler8kTo16k()
        self._call_sid = ""
        self._stream_sid = ""  # the one `start` named: frames naming another are refused
        self._stream_began = 0.0  # when its `start` was read (time.monotonic()): its 0 ms
        self._bad_frames = 0
        self._transfer: asyncio.Task[None] | None = None  # this stream making the transfer
        self._hearing: asyncio.Timeout | None = None  # the transfer's wait for the agent's words
        self._keypad = Keypad(self._keys_typed)
        await self.accept()
        self._start_deadline: asyncio.Task[None] | None = asyncio.create_task(
            self._close_unless_started()
        )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            event = tp.parse_message(text_data if text_data is not None else bytes_data or b"")
        except tp.TwilioProtocolError as error:
            self._ignore_bad_frame(error)
            return
        if (
            isinstance(event, tp.Media | tp.Mark | tp.Dtmf | tp.Stop)
            and event.stream_sid != self._stream_sid
        ):
            # Not this stream's (before `start`, or another's): a `stop` of it must not end
            # the call, nor its audio reach the agent.
            self._ignore_bad_frame(tp.TwilioProtocolError(
                f"{type(event).__name__.lower()} names stream {event.stream_sid!r}, "
                f"not this stream's {self._stream_sid!r}"))  # fmt: skip
            return
        session, playout = self.session, self.playout
        match event:
            case tp.Media(track="inbound", payload=payload, timestamp=ms) if session is not None:
                await session.caller_audio(
                    pcm16_to_bytes(self._inbound.process(ulaw_decode(payload))),
                    (self._stream_sid, ms),  # recorded where said, however late it came
                )
            case tp.Mark(name=name) if playout is not None:
                await playout.mark_played(name)
            case tp.Dtmf(digit=digit) if session is not None:
                self._keypad.press(digit)
            case tp.Start():
                await self._start(event)
            case tp.Stop():
                await self._finish(self._stream_ends_as() or "caller_hung_up")
                await self.close()

    async def teardown(self, reason: str) -> None:
        self._keypad.close()
        session = self.session
        # What the caller had still to hear goes with the stream (Twilio's buffer with it).
        unheard = self.unheard()
        # Whether Twilio may have moved the call on a request it had when this stream went.
        moved_maybe = self._transfer is not None
        if (reason == "caller_left" and session is not None and not session.ending
                and session.transfer == Transfer.SENT):  # fmt: skip
            # (Not once Twilio's `stop` has ended the call as transferred: the request's task
            # was stopped with it, and the stream would wait the REST timeout for nothing.)
            moved_maybe = True
            # The stream dropped before Twilio answered the transfer: Twilio moving the call,
            # or the line lost with the caller still on it (Twilio then asks /twilio/voice
            # again, whose new stream must find the call going on). Its answer tells which.
            if self.playout is not None:
                await self.playout.close()
            try:
                await session.transfer_answered(twilio_rest.rest_timeout_s())
            except asyncio.CancelledError:
                # The server stopped waiting for this closed stream first: the call waits as
                # for any dropped stream, and the answer, when it comes, decides.
                session.detach(self, unheard=unheard)
                raise
            if self._transfer is not None and session.transfer == Transfer.UNCONFIRMED:
                self._transfer.cancel()  # an answer too late to act on
            if self.session is None:  # a new stream took the call up meanwhile
                return
        if self._stream_ends_as() == TRANSFERRED:
            # Twilio moved the call to a person: the stream ending, with or without `stop`,
            # is the end of our part of it, and nothing comes back to carry it on.
            reason = TRANSFERRED
        if reason == "caller_left" and self.session is not None:
            # The stream dropped without Twilio's `stop`: the caller is still on the line and
            # Twilio asks /twilio/voice again (<Connect action>), whose new stream re-attaches.
            if moved_maybe and self._stream_ends_as() == TRANSFER_UNCONFIRMED:
                # Unless Twilio did move the call on the request: then none does.
                self.session.ends_as_if_left(TRANSFER_UNCONFIRMED)
            self.session.detach(self, unheard=unheard)
            if self.playout is not None:
                await self.playout.close()
            return
        await self._finish(reason)

    # --- the call's start and end -----------------------------------------------------------

    async def _start(self, start: tp.Start) -> None:
        if self.session is not None:
            log.warning("twilio: ignored a second start on call %s", self._call_sid)
            return
        # Twilio sends `start` as the stream begins, and its media timestamps count from then:
        # read now, before the work of setting the call up holds her first frames up.
        began = time.monotonic()
        token = start.custom_parameters.get("token", "")
        caller: security.StreamCaller | security.CallbackStream
        try:
            if outbound.is_callback_stream(start.custom_parameters):
                caller = security.verify_callback_token(token)  # a call we placed
            else:
                caller = security.verify_stream_token(token, start.call_sid)
        except security.InvalidStreamToken as error:
            log.warning("twilio: refused stream for call %s: %s", start.call_sid, error)
            await self.close(UNAUTHORIZED)
            return
        if (start.media_format.encoding, start.media_format.sample_rate) != ("audio/x-mulaw", 8000):
            log.error(
                "twilio: call %s streams %s, not 8 kHz µ-law", start.call_sid, start.media_format
            )
            await self.close(UNSUPPORTED_MEDIA)
            return
        self._cancel_start_deadline()
        self._call_sid, self._stream_sid = start.call_sid, start.stream_sid
        self._stream_began = began
        if draining.is_draining() and not isinstance(caller, security.CallbackStream):
            # Twilio asks /twilio/voice again when the stream closes; the balancer sends
            # that to a process that is not stopping. Not for a callback we dialled: nothing
            # would be on record there for Twilio's ask, and the customer who picked up would
            # be told we could not connect them. It starts here and moves like any call.
            await self.close()
            return
        self.playout = Playout(self._send_twilio, start.stream_sid)
        try:
            # The longest a stream token lives: the claim must outlast it.
            valid_s = max(security.TOKEN_MAX_AGE_S, security.CALLBACK_TOKEN_MAX_AGE_S)
            if not await single_use.claim("stream", caller.nonce, valid_s):
                log.warning("twilio: refused a replayed stream token for %s", start.call_sid)
                await self.close(UNAUTHORIZED)
                return
            self.session = await self._session_for(start.call_sid, caller)
        except CallRefused as refused:
            # Without GEMINI_API_KEY only a call a colleague holds goes on (CallSession.start).
            no_agent = refused.code == NO_AGENT
            if no_agent:
                log.error("twilio: call %s refused: no GEMINI_API_KEY", start.call_sid)
            else:
                log.warning("twilio: call %s refused: %s", start.call_sid, refused.message)
            await self.close(AGENT_NOT_CONFIGURED if no_agent else TOO_MANY_CALLS)
            return
        except PyMongoError as error:
            log.error("twilio: call %s refused: database unavailable: %s", start.call_sid, error)
            await self.close(SERVER_UNAVAILABLE)
            return
        if self.session is None:  # the call is over, or moving: Twilio asks again
            await self.close()
            return
        # A transfer the call's last stream did not make (it dropped, or its process drained):
        # made now, the caller having heard the agent say so there (Twilio says it too).
        self._make_transfer(hear_first=False)
        log.info("twilio: call %s is %s", start.call_sid, self.session.call_id)

    async def _session_for(
        self, call_sid: str, caller: security.StreamCaller | security.CallbackStream
    ) -> CallSession | None:
        """The call this stream carries: a new one, or the call of this CallSid going on
        (a stream that dropped, or a process that handed it over). None if it is over.
        Raises CallRefused or PyMongoError."""
        if isinstance(caller, security.CallbackStream):
            return await self._callback(call_sid, caller)
        local = CallSession.here_for_call_sid(call_sid)
        if local is not None:
            local.caller_stream(self._stream_sid, self._stream_began)
            await local.attach(self)
            return local
        if not await CallSession.settled(call_sid=call_sid):
            return None  # still ending or moving here: Twilio asks again
        stored = await stored_calls.find_call(call_sid=call_sid, with_sizes=True)
        if stored is not None:
            # Nor one ended here whose record's close still waits for the database: over too.
            if (stored.ended or closing_later(stored.call_id) is not None
                    or not await stored_calls.take_over(stored)):  # fmt: skip
                return None
            try:
                # As the old carrier left it (its last handle, holder and lines written as it
                # let go).
                stored = await stored_calls.find_call(call_sid=call_sid, with_sizes=True) or stored
                customer = await find_customer(user_id=stored.user_id) if stored.user_id else None
                session = CallSession(caller=self, customer=customer, channel="phone",
                                      call_sid=call_sid, resuming=stored)  # fmt: skip
                session.caller_stream(self._stream_sid, self._stream_began)
                await session.start()
            except (PyMongoError, CallRefused):
                # Not starting here (no database; or no agent, for a call nobody holds): the
                # next stream may take it.
                process.unclaim(stored.call_id)
                raise
            return session
        elif caller.outbound:
            # A call we placed with none on record: a callback whose own stream never began
            # it (the database away as it tried). Its number is ours, not a caller's: no
            # agent for it. Twilio asks again, and the caller is told we could not connect.
            log.warning("twilio: call %s we placed has no call to carry on", call_sid)
            return None
        else:
            customer = await find_customer(phone=caller.phone)
            session = CallSession(caller=self, customer=customer, channel="phone",
                                  call_sid=call_sid, verified=caller.verified)  # fmt: skip
        session.caller_stream(self._stream_sid, self._stream_began)
        await session.start()
        return session

    def _stream_ends_as(self) -> str:
        """How the call ends when this stream does, by where its transfer stands (whichever
        stream asked Twilio): "" if as the caller hanging up, or leaving."""
        return STREAM_ENDS_AS.get(self.session.transfer, "") if self.session is not None else ""

    async def _finish(self, reason: str) -> None:
        self._cancel_start_deadline()
        if self._transfer is not None:
            self._transfer.cancel()
        if self.session is not None:
            await self.session.close(reason)
        if self.playout is not None:
            await self.playout.close()

    async def _close_unless_started(self) -> None:
        await asyncio.sleep(START_TIMEOUT_S)
        log.warning("twilio: closed a stream that sent no start within %ss", START_TIMEOUT_S)
        await self.close(UNAUTHORIZED)

    def _cancel_start_deadline(self) -> None:
        if self._start_deadline is not None and self._start_deadline is not asyncio.current_task():
            self._start_deadline.cancel()
        self._start_deadline = None

    def _keys_typed(self, keys: str) -> None:
        if self.session is not None:
            self.session.caller_text(tp.dtmf_prompt(keys))  # a refusal is for screens only

    def _ignore_bad_frame(self, error: tp.TwilioProtocolError) -> None:
        # Twilio does not send bad frames; if something does, the call goes on regardless.
        self._bad_frames += 1
        if self._bad_frames <= BAD_FRAMES_LOGGED:
            log.warning("twilio: ignored a malformed frame on call %s: %s", self._call_sid, error)

    # --- the session's Caller side ----------------------------------------------------------

    async def deliver(self, item: ce.Delivery) -> None:
        playout = self.playout
        assert playout is not None  # made before the session
        match item:
            case ce.AgentAudio(pcm24k=pcm24k):
                playout.audio(pcm24k)
            case ce.TurnComplete():
                playout.end_turn()
            case ce.Interrupted():
                await playout.interrupt()
            case ce.Escalated():
                self._make_transfer(hear_first=True)
            case ce.Notice(message=message):
                log.warning("twilio: call %s: %s", self._call_sid, message)
            # Captions, tool progress and the rest are for screens; a phone has none.

    async def _callback(
        self, call_sid: str, stream: security.CallbackStream
    ) -> CallSession | None:
        """A customer answering the callback a staff member dialled: they are connected to
        that staff member (contract section 9), who holds the call as in a take-over."""
        dialled_since = datetime.now(UTC) - twilio_rest.DIAL_ANSWER_WINDOW
        callback = await dialled_callback(
            mongo.async_db(), stream.callback_id, call_sid, dialled_since
        )
        if callback is None:
            log.warning("twilio: no callback %s dialled as %s", stream.callback_id, call_sid)
            return None
        customer = await find_customer(user_id=int(callback["user_id"]))
        session = CallSession(
            caller=self, customer=customer, channel="phone", call_sid=call_sid,
            verified=True,  # we dialled the number on the account
            held_by={"username": stream.staff, "name": await staff_first_name(stream.staff)},
        )  # fmt: skip
        session.caller_stream(self._stream_sid, self._stream_began)
        await session.start()
        try:
            # `call_id` stays the call it was booked in; the dialler's page opens this one.
            await mongo.async_db().callbacks.update_one(
                {"callback_id": stream.callback_id}, {"$set": {"answered_call_id": session.call_id}}
            )
        except PyMongoError:
            # The stream is refused (the database is away): the call begun for it ends with
            # it, or it would go on with no stream, its model session open.
            await session.close("server_error")
            raise
        return session

    def unheard(self) -> bool:
        return self.playout is not None and self.playout.still_to_play_s() > UNHEARD_MIN_S

    async def let_go(self) -> None:
        """Another stream, or another process, carries the call on: close this stream, and
        Twilio asks /twilio/voice where to go next (the call's <Connect action>)."""
        self.session = None  # whatever this stream sends from now on is not the call's
        await self.close()

    async def hang_up(self) -> None:
        try:
            if self.playout is not None:
                bound_s = self.playout.still_to_play_s() + HANG_UP_MARGIN_S
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(bound_s, HANG_UP_DRAIN_MAX_S)):
                        await self.playout.played_out()
        finally:
            # Also when the session stops waiting first (its goodbye has a budget of its own):
            # a stream left open would keep the caller on a silent line.
            if self.playout is not None:
                await self.playout.close()
            await self.close()

    async def finish_before_moving(self) -> bool:
        """The process drains (CallSession._on_drain): a transfer asked for is made now, not
        lost with the process, nor left to the agent's words (Twilio says TRANSFER_SAY too),
        and its answer waited for while the drain leaves time to write the call down after
        it (twilio_rest.DRAIN_RESERVE_S). True if the call was transferred: it ends here, as
        Twilio moves it. False otherwise: the call moves on as any other (and the caller
        stays with the agent, if Twilio refused, or did not answer in time and did not move
        the call after all)."""
        self._make_transfer(hear_first=False)  # one asked that this stream had not heard of
        transfer = self._transfer
        if transfer is not None and not transfer.done():
            if self._hearing is not None and not self._hearing.expired():
                self._hearing.reschedule(asyncio.get_running_loop().time())
            await asyncio.wait({transfer}, timeout=twilio_rest.rest_timeout_s())
            if not transfer.done():
                # A request made before the drain may wait longer than it has left. Its
                # answer would come too late to act on: moved or not, nobody here will know.
                transfer.cancel()
                if self.session is not None and self.session.transfer == Transfer.SENT:
                    self.session.transfer_is(Transfer.UNCONFIRMED)
                    log.error("twilio: no answer to transferring call %s before this "
                              "process stops; the call moves on", self._call_sid)  # fmt: skip
        elif self.session is not None and self.session.transfer == Transfer.SENT:
            # Asked by the stream before this one (lost before Twilio answered): its answer.
            await self.session.transfer_answered(twilio_rest.rest_timeout_s())
        ends_as = self._stream_ends_as()
        if ends_as == TRANSFER_UNCONFIRMED and self.session is not None:
            # Moved by Twilio, or not: if no stream comes back for the call, it was.
            self.session.ends_as_if_left(TRANSFER_UNCONFIRMED)
        if ends_as != TRANSFERRED:
            return False
        # Twilio's `stop` may not come before the process stops: end the call now.
        await self._finish(TRANSFERRED)
        await self.close()
        return True

    def _make_transfer(self, *, hear_first: bool) -> None:
        """Make the transfer the call is to have (its agent escalated), unless this stream is
        making it already; `hear_first`: once the caller has heard the agent say so."""
        session, playout = self.session, self.playout
        if self._transfer is not None or session is None or playout is None:
            return
        if session.transfer == Transfer.ASKED:
            self._transfer = asyncio.create_task(
                self._transfer_to_human(playout, hear_first=hear_first)
            )

    async def _transfer_to_human(self, playout: Playout, *, hear_first: bool) -> None:
        if hear_first:
            # Let the caller hear the agent say it is passing them on, but not wait forever.
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TRANSFER_WAIT_S) as self._hearing:
                        await playout.next_turn_played()
            finally:
                self._hearing = None
        session = self.session
        if (session is None or not session.carried_by(self) or session.ending
                or session.transfer != Transfer.ASKED):  # fmt: skip
            # This stream dropped meanwhile (the one carrying the call now makes it), another
            # made it already, or the call was ended meanwhile (a colleague's End call).
            return
        if session.with_a_colleague:
            # A colleague joined the call meanwhile: the caller has the person they asked for.
            log.info("twilio: call %s not transferred: a colleague joined it", self._call_sid)
            session.transfer_is("")
            return
        if twilio_rest.rest_timeout_s() <= 0:
            # This process stops before Twilio could answer: the request is not made here,
            # and the stream taking the call up in the next process makes it.
            return
        # From the request on, the stream's end is the transfer's (STREAM_ENDS_AS).
        session.transfer_is(Transfer.SENT, answer_within_s=twilio_rest.REST_TIMEOUT_S)
        try:
            host = dict(self.scope.get("headers", [])).get(b"host", b"").decode("latin1")
            await twilio_rest.transfer_call(self._call_sid, security.voice_url(host))
        except twilio_rest.TwilioOutcomeUnknown as error:
            # Moved, or not: a `stop` from now on may be either the transfer or the caller
            # giving up on it, so it is recorded as neither.
            session.transfer_is(Transfer.UNCONFIRMED)
            log.error("twilio: %s; the caller stays with the agent unless it was moved", error)
            if not session.attached:  # its stream went meanwhile, not waiting (teardown)
                session.ends_as_if_left(TRANSFER_UNCONFIRMED)
        except twilio_rest.TwilioRestError as error:
            session.transfer_is(Transfer.REFUSED)
            log.error("twilio: %s; the caller stays with the agent", error)
        else:
            session.transfer_is(Transfer.CONFIRMED)
            if not session.attached:  # its stream went meanwhile, as Twilio moved the call
                await session.close(TRANSFERRED)

    async def _send_twilio(self, message: str) -> None:
        try:
            await self.send(text_data=message)
        except Disconnected as gone:  # daphne's: the socket closed under us (Caller.deliver)
            raise ConnectionResetError("Twilio's socket is closed") from gone
