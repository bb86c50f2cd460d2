"""`/ws/voice`: the browser's microphone and speaker, bridged to a CallSession.

Thin by design: decode a frame (browser_protocol), hand it to the session, and translate
what the session delivers back into frames. The call itself lives in realtime/call_session.py.
`?resume=R` re-attaches a page to its call, here or taken over from another process
(contract section 7); a socket that drops without `end` leaves the call waiting for it.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from django.conf import settings
from pymongo.errors import PyMongoError

from continuity import calls as stored_calls
from continuity import process
from continuity import tokens as resume_tokens
from realtime import browser_protocol as bp
from realtime import caller_events as ce
from realtime import single_use, tokens
from realtime.audio_consumer import AudioConsumer
from realtime.call_session import CallRefused, CallSession
from support.customers import MAX_USER_ID, find_customer
from voiceproject.draining import is_draining
from voiceproject.numbers import digits_up_to

log = logging.getLogger(__name__)

UNAUTHORIZED = 4401
CUSTOMER_NOT_FOUND = 4404
REPLACED = 4409  # a newer socket carries the call now
CALL_OVER = 4410  # a resume token for a call that ended
TOO_MANY_CALLS = 4429
MOVING = 4502  # this process is stopping: reconnect (the balancer picks another)
AGENT_NOT_CONFIGURED = 4503
SERVER_UNAVAILABLE = 4500  # autobahn lets an application close only with 1000 or 3000-4999


class Refusal(Exception):
    """The call cannot open: said to the page as an event, then the socket closes with `code`."""

    def __init__(self, code: int, event: ce.CallerEvent, *also: ce.CallerEvent) -> None:
        super().__init__(code)
        self.code = code
        self.events = (*also, event)


class VoiceConsumer(AudioConsumer):
    session: CallSession | None = None
    _used_token: str | None = None  # the nonce of the session token this connection used up
    # The page holds a resume token for its call: it was told `ready`, or came back with one.
    _can_come_back = False

    async def connect(self) -> None:
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        try:
            if is_draining():
                raise Refusal(MOVING, ce.Reconnect())
            resume = query.get("resume", [""])[0]
            self._can_come_back = bool(resume)
            self.session = await (self._resume_call(resume) if resume else self._open_call())
        except Refusal as refusal:
            # Each refusal is also said in an event: a busy browser may only see 1006 if it
            # is slow to finish the close handshake, and the page should still know why.
            for event in refusal.events:
                await self.send(text_data=bp.encode(event))
            await self.close(refusal.code)

    async def _resume_call(self, token: str) -> CallSession:
        """The call the resume token names, carried on here with this socket."""
        over = Refusal(CALL_OVER, ce.Ended("call_over"))
        try:
            claim = resume_tokens.verify(token)
        except resume_tokens.ExpiredResumeToken:
            raise over from None  # genuine, for a call long over (contract section 7)
        except resume_tokens.InvalidResumeToken as error:
            log.info("voice: refused a resume: %s", error)
            raise Refusal(UNAUTHORIZED, ce.Ended("unauthorized")) from None
        local = CallSession.here(claim.call_id)
        if local is not None:
            if local.record_user_id != claim.user_id:
                raise over
            await local.attach(self)
            return local
        if not await CallSession.settled(call_id=claim.call_id):
            raise Refusal(MOVING, ce.Reconnect())  # still ending or moving here: try again
        claimed = False
        try:
            call = await stored_calls.find_call(call_id=claim.call_id, with_sizes=True)
            if call is None or call.ended or call.user_id != claim.user_id:
                raise over
            if not await stored_calls.take_over(call):
                # Ended, or another process took it meanwhile (or another socket of the
                # page's here): the page's next try finds out.
                raise Refusal(MOVING, ce.Reconnect())
            claimed = True
            # As the old carrier left it: its last handle, holder and lines were written as
            # it let go, after the first read.
            call = await stored_calls.find_call(call_id=claim.call_id, with_sizes=True) or call
            customer = await find_customer(user_id=call.user_id) if call.user_id else None
        except PyMongoError as error:
            log.warning("voice: resume failed, database unavailable: %s", error)
            if claimed:  # not starting here after all: the page's next try may take it up
                process.unclaim(claim.call_id)
            raise Refusal(MOVING, ce.Reconnect()) from None
        session = CallSession(caller=self, customer=customer, channel=call.channel, resuming=call)
        try:
            await session.start()
        except PyMongoError as error:
            # Nothing started; this process carries the call, so the page's next try takes
            # it up here or anywhere (continuity.calls.take_over).
            log.warning("voice: resume failed, database unavailable: %s", error)
            process.unclaim(claim.call_id)
            raise Refusal(MOVING, ce.Reconnect()) from None
        return session

    async def _open_call(self) -> CallSession:
        user_id = await self._requested_customer()
        try:
            customer = await find_customer(user_id=user_id)
        except PyMongoError as error:
            log.warning("voice: customer lookup failed: %s", error)
            await self._give_back_token()  # "try again shortly" must be true of the link too
            raise Refusal(SERVER_UNAVAILABLE, ce.Ended("unavailable"), ce.Notice(
                "unavailable", "We can't reach our records right now; please try again shortly."
            )) from None  # fmt: skip
        if customer is None:
            raise Refusal(CUSTOMER_NOT_FOUND, ce.Ended("customer_not_found"))
        if not settings.GEMINI_API_KEY:
            log.error("voice: call refused: no GEMINI_API_KEY is configured")
            raise Refusal(
                AGENT_NOT_CONFIGURED,
                ce.Ended("agent_not_configured"),
                ce.Notice(
                    "agent_not_configured",
                    "Our voice assistant is not available right now. Please try again later.",
                ),
            )
        session = CallSession(caller=self, customer=customer, channel="web")
        try:
            await session.start()
        except CallRefused as refused:
            await self._give_back_token()  # for when the customer has ended another call
            raise Refusal(
                TOO_MANY_CALLS, ce.Ended(refused.code), ce.Notice(refused.code, refused.message)
            ) from None
        except PyMongoError as error:
            log.warning("voice: could not open the call record: %s", error)
            await self._give_back_token()
            raise Refusal(SERVER_UNAVAILABLE, ce.Ended("unavailable")) from None
        return session

    async def _give_back_token(self) -> None:
        """The session token this connection used up, usable again: the call failed on our
        side before it began (the host application's link would otherwise be spent)."""
        if self._used_token is None:
            return
        try:
            await single_use.give_back("voice", self._used_token)
        except PyMongoError as error:
            log.warning("voice: could not give the session token back: %s", error)

    async def _requested_customer(self) -> int:
        """The customer the connection may talk as: a token's (used up here), or in demo
        mode `?user_id=`. Raises Refusal."""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        token = query.get("token", [""])[0]
        if token:
            try:
                session_token = tokens.verify(token)
            except tokens.InvalidToken as error:
                log.info("voice: refused a connection: %s", error)
                raise Refusal(UNAUTHORIZED, ce.Ended("unauthorized")) from None
            try:
                first_use = await single_use.claim(
                    "voice", session_token.nonce, settings.VOICE_SESSION_TOKEN_TTL
                )
            except PyMongoError:
                raise Refusal(SERVER_UNAVAILABLE, ce.Ended("unavailable")) from None
            if not first_use:
                log.info("voice: refused a session token used before")
                raise Refusal(UNAUTHORIZED, ce.Ended("token_used"))
            self._used_token = session_token.nonce
            return session_token.user_id
        demo_user = query.get("user_id", [""])[0]
        if settings.VOICE_DEMO_MODE and demo_user.isascii() and demo_user.isdigit():
            user_id = digits_up_to(demo_user, MAX_USER_ID + 1)
            if user_id > MAX_USER_ID:
                raise Refusal(CUSTOMER_NOT_FOUND, ce.Ended("customer_not_found"))
            return user_id
        raise Refusal(UNAUTHORIZED, ce.Ended("unauthorized"))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        session = self.session
        if session is None or not session.carried_by(self):
            return
        problem: bp.BadFrame | ce.Notice | None = None
        if bytes_data is not None:
            audio, problem = bp.decode_binary(bytes_data)
            if audio is not None:
                await session.caller_audio(audio.pcm16)
        else:
            message = bp.decode_text(text_data or "")
            match message:
                case bp.CallerText(text=text):
                    problem = session.caller_text(text)
                case bp.AudioEnd():
                    session.caller_audio_end()
                case bp.HangUp():
                    await session.end("caller_hung_up")
                    return
                case bp.BadFrame():
                    problem = message
        if problem is not None:
            await self.send(text_data=bp.error(problem.code, problem.message))

    async def teardown(self, reason: str) -> None:
        if self.session is None:
            return
        if self.session.attached and not self.session.carried_by(self):
            return  # replaced by another socket, which carries the call on
        if reason == "caller_left" and self._can_come_back:
            self.session.detach(self)  # the page may come back within the grace period
        else:
            # A page gone before it was told `ready` holds no resume token: it cannot come back
            # to the call, so waiting for it would only keep the model's session and the
            # customer's call open (the page's End call while its socket still connects
            # can only close it).
            await self.session.close(reason)

    # --- the session's Caller side ----------------------------------------------------------

    async def deliver(self, item: ce.Delivery) -> None:
        if isinstance(item, ce.Ready):
            self._can_come_back = True
        unavailable = isinstance(item, ce.Ended) and item.reason == "agent_unavailable"
        if unavailable and not self._can_come_back:
            # The model never answered (no `ready`): the page says "please try again
            # shortly", which must be true of its one-use link too.
            await self._give_back_token()
        try:
            if isinstance(item, ce.AgentAudio):
                await self.send(bytes_data=item.pcm24k)
            else:
                await self.send(text_data=bp.encode(item))
        except Disconnected as gone:  # daphne's: the socket closed under us (Caller.deliver)
            raise ConnectionResetError("the page's socket is closed") from gone

    async def hang_up(self) -> None:
        await self.close(1000)

    async def let_go(self) -> None:
        self.session = None  # another socket (or process) carries the call: hands off it
        if not self._can_come_back:
            # Let go before `ready` (its process drains): the page opens its call again
            # through the balancer, as after a refusal (`reconnect`, then this close), with
            # its link usable again: the call never began for it.
            await self._give_back_token()
            await self.close(MOVING)
            return
        await self.close(REPLACED)

    async def finish_before_moving(self) -> bool:
        return False  # a page has nothing to finish: it reconnects to wherever the call goes

    def unheard(self) -> bool:
        return False  # what the session had not sent yet, it counts itself (its Outbox)
