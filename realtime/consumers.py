"""`/ws/voice`: the browser's microphone and speaker, bridged to a CallSession.

Thin by design: decode a frame (browser_protocol), hand it to the session, and translate
what the session delivers back into frames. The call itself lives in realtime/call_session.py.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs

from django.conf import settings
from pymongo.errors import PyMongoError

from realtime import browser_protocol as bp
from realtime import tokens
from realtime.audio_consumer import AudioConsumer
from realtime.call_session import AgentAudio, CallEvent, CallSession, Customer
from support import mongo

log = logging.getLogger(__name__)

UNAUTHORIZED = 4401
CUSTOMER_NOT_FOUND = 4404
AGENT_NOT_CONFIGURED = 4503
SERVER_UNAVAILABLE = 1011
LOOKUP_TIMEOUT_S = 3.0  # a caller should not wait on a dead database for long


class VoiceConsumer(AudioConsumer):
    session: CallSession | None = None

    async def connect(self) -> None:
        await self.accept()
        user_id = self._requested_customer()
        # Each refusal is also said in an `ended` event: a busy browser may only see 1006
        # if it is slow to finish the close handshake, and the page should still know why.
        if user_id is None:
            await self.send(text_data=bp.ended("unauthorized"))
            await self.close(UNAUTHORIZED)
            return
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                customer = await _find_customer(user_id)
        except (PyMongoError, TimeoutError) as error:
            log.warning("voice: customer lookup failed: %s", error)
            await self.send(text_data=bp.error(
                "unavailable", "We can't reach our records right now; please try again shortly."
            ))
            await self.close(SERVER_UNAVAILABLE)
            return
        if customer is None:
            await self.send(text_data=bp.ended("customer_not_found"))
            await self.close(CUSTOMER_NOT_FOUND)
            return
        if not settings.GEMINI_API_KEY:
            await self.send(text_data=bp.error(
                "agent_not_configured",
                "The voice agent is not configured on this server yet (no GEMINI_API_KEY).",
            ))
            await self.send(text_data=bp.ended("agent_not_configured"))
            await self.close(AGENT_NOT_CONFIGURED)
            return
        self.session = CallSession(caller=self, customer=customer, channel="web")
        await self.session.start()

    def _requested_customer(self) -> int | None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        token = query.get("token", [""])[0]
        if token:
            try:
                return tokens.verify(token)
            except tokens.InvalidToken as error:
                log.info("voice: refused a connection: %s", error)
                return None
        demo_user = query.get("user_id", [""])[0]
        if settings.VOICE_DEMO_MODE and demo_user.isdigit():
            return int(demo_user)
        return None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        session = self.session
        if session is None:
            return
        if bytes_data is not None:
            audio, problem = bp.decode_binary(bytes_data)
            if audio is not None:
                await session.caller_audio(audio.pcm16)
        else:
            message = bp.decode_text(text_data or "")
            problem = message if isinstance(message, bp.BadFrame) else None
            match message:
                case bp.CallerText(text=text):
                    session.caller_text(text)
                case bp.AudioEnd():
                    session.caller_audio_end()
                case bp.HangUp():
                    await session.end("caller_hung_up")
                    return
        if problem is not None:
            await self.send(text_data=bp.error(problem.code, problem.message))

    async def disconnect(self, code: int) -> None:
        if self.session is not None:
            await self.session.close("caller_left")

    # --- the session's Caller side ----------------------------------------------------------

    async def deliver(self, item: AgentAudio | CallEvent) -> None:
        if isinstance(item, AgentAudio):
            await self.send(bytes_data=item.pcm24k)
        else:
            await self.send(text_data=bp.event(item.kind, **item.fields))

    async def hang_up(self) -> None:
        await self.close(1000)


async def _find_customer(user_id: int) -> Customer | None:
    document = await mongo.async_db().customers.find_one(
        {"user_id": user_id}, {"_id": 0, "user_id": 1, "name": 1}
    )
    if document is None:
        return None
    name = str(document.get("name") or "")
    return Customer(user_id=user_id, first_name=name.split()[0] if name else "")
