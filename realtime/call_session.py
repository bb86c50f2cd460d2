"""One call: wires a caller (browser or phone) to the model and the tools.

    caller audio  -> CallSession.caller_audio() -> LiveClient (sent at once, or a bounded
                                                                 buffer while it cannot be)
    Gemini events -> CallSession._on_live_event() -> outbound queue -> Caller.deliver()
    toolCall      -> ToolDispatcher -> support.tools.run_tool -> toolResponse + `tool` events

The caller side is anything with `async deliver(item)` and `async hang_up()`: the consumers
translate the items below into their own wire format. Everything a call owns (tasks, queues,
the upstream socket, the record) is released by `close()`, which is idempotent and bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from postcall.cost import modality_counts
from postcall.observer import CallObserver
from realtime import live_protocol as lp
from realtime.call_record import CallRecord
from realtime.instructions import system_instruction
from realtime.live_client import Failed, LiveClient, Ready, Reconnecting, Resumed
from realtime.tool_dispatch import ToolDispatcher, ToolHooks, ToolOutcome
from support import mongo
from support.events import announce_escalation
from support.tools import ToolContext, function_declarations, run_tool

log = logging.getLogger(__name__)

OUTBOUND_AUDIO_LIMIT = 100  # agent audio chunks waiting for a slow caller (~2-4 s)
TEARDOWN_TIMEOUT_S = 1.0


# --- What the session hands to the caller side ------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentAudio:
    pcm24k: bytes


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A JSON-able event of contract section 3: `kind` is its `type`."""

    kind: str
    fields: dict[str, Any]


class Caller(Protocol):
    async def deliver(self, item: AgentAudio | CallEvent) -> None: ...

    async def hang_up(self) -> None: ...


@dataclass(frozen=True)
class Customer:
    user_id: int
    first_name: str


def _event(kind: str, **fields: Any) -> CallEvent:
    return CallEvent(kind, fields)


def _scheduling_for(model: str) -> lp.Scheduling | None:
    """How the model should fit a tool's answer into the conversation.

    WHEN_IDLE: speak about the result once the current sentence is done, rather than cutting
    itself off. 3.1 models call tools synchronously and take no scheduling.
    """
    return None if "gemini-3.1" in model else "WHEN_IDLE"


class CallSession:
    def __init__(self, *, caller: Caller, customer: Customer | None, channel: str) -> None:
        self.call_id = f"CALL-{uuid.uuid4().hex[:16]}"
        self.observer = CallObserver(call_id=self.call_id, channel=channel)
        self.customer = customer
        self._caller = caller
        self._record = CallRecord(
            call_id=self.call_id, user_id=self.record_user_id, channel=channel
        )
        self._tools = ToolDispatcher(
            ToolContext(user_id=self.record_user_id, call_id=self.call_id, channel=channel),
            ToolHooks(self._tool_started, self._tool_answered, self._tool_finished),
        )
        self._live = LiveClient(
            url=settings.GEMINI_LIVE_URL,
            api_key=settings.GEMINI_API_KEY,
            build_setup=self._setup,
            on_event=self._on_live_event,
        )
        self._outbound: deque[AgentAudio | CallEvent] = deque()
        self._outbound_audio = 0  # how many of those are AgentAudio
        self._outbound_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._captions: dict[str, str] = {"user": "", "agent": ""}
        self._end_reason = ""
        self._closed = asyncio.Event()
        self._closing = False
        self.dropped_agent_chunks = 0

    @property
    def record_user_id(self) -> int | None:
        return self.customer.user_id if self.customer else None

    # --- lifetime ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._record.open()
        await self.observer.started()
        self._tasks = [
            asyncio.create_task(self._live.run(), name=f"{self.call_id} live"),
            asyncio.create_task(self._deliver_outbound(), name=f"{self.call_id} outbound"),
        ]

    async def close(self, reason: str) -> None:
        """End the call (idempotent): stop the model, finish running tools, write the record."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        self._end_reason = self._end_reason or reason
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(TEARDOWN_TIMEOUT_S):
                await self._live.close()
        # The task running this close (a give-up, say) is left to finish by itself.
        others = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        # Tools already running finish (bounded by their own timeout) and are recorded.
        await self._tools.drain()
        self._flush_captions()
        try:
            await self._record.close(self._end_reason)
        finally:
            await self.observer.ended(self._end_reason, dropped_agent_chunks=self.dropped_agent_chunks, dropped_caller_bytes=self._live.dropped_audio_bytes)  # noqa: E501
            self._closed.set()

    async def end(self, reason: str, *, tell_caller: CallEvent | None = None) -> None:
        """End the call from our side: tell the caller why, then hang up."""
        self._end_reason = self._end_reason or reason
        with contextlib.suppress(ConnectionError, RuntimeError):
            if tell_caller is not None:
                await self._caller.deliver(tell_caller)
            await self._caller.deliver(_event("ended", reason=self._end_reason))
            await self._caller.hang_up()
        await self.close(reason)

    # --- from the caller ----------------------------------------------------------------------

    async def caller_audio(self, pcm16k: bytes) -> None:
        self.observer.caller_audio(pcm16k)
        await self._live.forward_audio(pcm16k)

    def caller_text(self, text: str) -> None:
        self.observer.caller_text()
        self._record.add_transcript("user", text)
        self._live.send_text(text)

    def caller_audio_end(self) -> None:
        self._live.send_audio_stream_end()

    # --- from the model ---------------------------------------------------------------------

    def _setup(self, handle: str | None) -> dict[str, Any]:
        return lp.build_setup(
            model=settings.GEMINI_LIVE_MODEL,
            voice=settings.GEMINI_VOICE,
            system_instruction=system_instruction(
                self.customer.first_name if self.customer else None
            ),
            function_declarations=function_declarations(),
            resumption_handle=handle,
        )

    def _on_live_event(self, event: object) -> None:
        self.observer.on_live_event(event)
        match event:
            case lp.AudioChunk(data=data):
                self._send_audio(data)
            case lp.Transcript():
                self._caption(event.role, event.text, event.finished)
            case lp.Interrupted():
                self._drop_agent_audio()
                self._flush_caption("agent")
                self._send(_event("interrupted"))
            case lp.TurnComplete():
                self._flush_captions()
                self._tools.new_turn()
                self._send(_event("turn_complete"))
            case lp.ToolCall(calls=calls):
                self._flush_caption("user")
                self._tools.handle(calls)
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
            case Ready():
                self._send(_event("ready", call_id=self.call_id))
            case Reconnecting():
                self._send(_event("reconnecting"))
            case Resumed():
                self._send(_event("resumed"))
            case Failed(reason=reason, detail=detail):
                log.warning("call %s: model session lost: %s %s", self.call_id, reason, detail)
                self._spawn(self._give_up(reason))

    async def _give_up(self, reason: str) -> None:
        """The model is gone for good: tell the caller, hand over to a human, end cleanly."""
        ticket = await self._tools_run_escalation(
            f"The voice agent became unavailable during the call ({reason})."
        )
        if ticket:
            self._send(_event("escalated", ticket_id=ticket))
            await self._announce_escalation(ticket)
        message = (
            "Sorry, our voice assistant is unavailable right now. "
            + (f"A colleague will follow up on ticket {ticket}." if ticket
               else "Please try again shortly.")
        )  # fmt: skip
        await self._wait_outbound_drained()
        await self.end(
            "agent_unavailable",
            tell_caller=_event("error", code="agent_unavailable", message=message),
        )

    async def _tools_run_escalation(self, reason: str) -> str | None:
        result = await run_tool(
            "escalate_to_human",
            {"reason": reason, "priority": "high"},
            ToolContext(user_id=self.record_user_id, call_id=self.call_id),
        )
        return str(result["ticket_id"]) if result.get("ok") else None

    # --- captions ---------------------------------------------------------------------------

    def _caption(self, role: str, text: str, finished: bool) -> None:
        if role == "agent":
            self._flush_caption("user")  # the agent answering closes the user's utterance
        self._captions[role] += text
        if finished:
            self._flush_caption(role)
        else:
            self._send(_event("transcript", role=role, text=self._captions[role], final=False))

    def _flush_caption(self, role: str) -> None:
        text = self._captions[role].strip()
        self._captions[role] = ""
        if text:
            self._record.add_transcript(role, text)
            self._send(_event("transcript", role=role, text=text, final=True))

    def _flush_captions(self) -> None:
        self._flush_caption("user")
        self._flush_caption("agent")

    # --- tools ------------------------------------------------------------------------------

    def _tool_started(self, name: str) -> None:
        self._send(_event("tool", name=name, status="started"))

    def _tool_answered(self, outcome: ToolOutcome, ids: list[str]) -> None:
        assert outcome.result is not None
        self._live.send_message(
            lp.tool_response_message(
                [
                    lp.FunctionResponse(id=i, name=outcome.name, response=outcome.result)
                    for i in ids
                ],
                scheduling=_scheduling_for(settings.GEMINI_LIVE_MODEL),
            )
        )

    def _tool_finished(self, outcome: ToolOutcome) -> None:
        result = outcome.result or {}
        self.observer.tool_finished(outcome.name, outcome.ms, bool(result.get("ok")) and not outcome.failed)  # noqa: E501
        self._record.add_tool_call(
            {
                "name": outcome.name,
                "args": outcome.args,
                "result": result,
                "ok": bool(result.get("ok")) and not outcome.failed,
                "started_at": outcome.started_at,
                "ms": outcome.ms,
                "call_ids": outcome.ids,
                "cancelled": sorted(outcome.cancelled_ids),
            }
        )
        if self._closing:
            return
        status = "failed" if outcome.failed else "done"
        self._send(_event("tool", name=outcome.name, status=status, result=result))
        if outcome.name == "escalate_to_human" and result.get("ok"):
            self._send(_event("escalated", ticket_id=result["ticket_id"]))
            self._spawn(self._announce_escalation(result["ticket_id"]))

    async def _announce_escalation(self, ticket_id: str) -> None:
        """Put the new ticket on every open staff queue page at once."""
        ticket = await mongo.async_db().escalations.find_one({"ticket_id": ticket_id}, {"_id": 0})
        if ticket is not None:
            await announce_escalation(ticket)

    # --- to the caller ----------------------------------------------------------------------

    def _send(self, item: AgentAudio | CallEvent) -> None:
        if self._closing:
            return
        self._outbound.append(item)
        self._outbound_ready.set()

    def _send_audio(self, pcm24k: bytes) -> None:
        if self._closing:
            return
        if self._outbound_audio >= OUTBOUND_AUDIO_LIMIT:
            # A caller that cannot keep up loses the oldest agent audio, not memory.
            for index, item in enumerate(self._outbound):
                if isinstance(item, AgentAudio):
                    del self._outbound[index]
                    self._outbound_audio -= 1
                    self.dropped_agent_chunks += 1
                    break
        self._outbound_audio += 1
        self._send(AgentAudio(pcm24k))

    def _drop_agent_audio(self) -> None:
        kept = [item for item in self._outbound if not isinstance(item, AgentAudio)]
        self._outbound.clear()
        self._outbound.extend(kept)
        self._outbound_audio = 0

    async def _deliver_outbound(self) -> None:
        while True:
            await self._outbound_ready.wait()
            self._outbound_ready.clear()
            while self._outbound:
                item = self._outbound.popleft()
                if isinstance(item, AgentAudio):
                    self._outbound_audio -= 1
                await self._caller.deliver(item)

    async def _wait_outbound_drained(self) -> None:
        for _ in range(50):
            if not self._outbound:
                return
            await asyncio.sleep(0.01)

    def _spawn(self, coro: Any) -> None:
        # Named for the call, like its other tasks, so a leak would be easy to spot.
        self._tasks.append(asyncio.create_task(coro, name=f"{self.call_id} {coro.__name__}"))
