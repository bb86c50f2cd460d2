"""`/ws/staff/calls/<call_id>`: a staff member on a live call (contract section 8).

Thin by design: check who may do what (`support.monitor_call` to watch, listen and whisper,
`support.take_over_call` to take over, hand back and end), then pass each action to the
process carrying the call, through its channel (continuity/process.py), wherever that is.
What the call publishes comes back through the call's group and this page's own channel
(livestaff/link.py). Mounted behind BoundedAuthMiddlewareStack (voiceproject/socket_auth.py)
and the allowed-hosts origin check.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable
from typing import Any
from urllib.parse import parse_qs

import pymongo
from channels.exceptions import StopConsumer
from django.conf import settings
from django.db import DatabaseError
from pymongo.errors import PyMongoError

from continuity.calls import find_call
from livestaff import presenting, protocol
from livestaff.link import LIVE_CALLS_GROUP, TOO_MANY_LISTENERS, StaffVoice, call_group
from postcall import logs
from realtime.call_controls import TokenBucket
from support.mongo import failure_line
from support.staff.sockets import (
    FORBIDDEN,
    MISSED,
    PermissionWatch,
    StaffGroupListener,
    staff_permissions,
)
from voiceproject.consumers import LeanWebsocketConsumer
from voiceproject.messaging import send_to_channel
from voiceproject.page_timeout import database_unavailable
from voiceproject.socket_auth import TRY_AGAIN
from voiceproject.tasks import stop

log = logging.getLogger(__name__)

NOT_LIVE = 4410
CARRIER_FRESH_S = 2.0  # while taking over, where the call is, re-read this often
STATE_ASK_AGAIN_S = 1.0  # a lost `state` is asked for again at most this often
# How long an action waits for the database to say what its user may do now, before it goes
# by what it said last (`_permissions_for_action`).
PERMISSIONS_CHECK_S = 2.0
LIVE_PERMISSIONS = (protocol.MONITOR, protocol.TAKE_OVER)
# A page's actions (whispers, listen...): a person clicks and types far slower; a script
# flooding the model with whispers, or the call's audit with events, is refused. All the pages
# of one staff member on one call served by this process draw on one allowance: a script
# opening more sockets gets no more through.
ACTIONS_PER_S = 2.0
ACTIONS_BURST = 10
_allowances: weakref.WeakValueDictionary[tuple[str, str], TokenBucket] = (
    weakref.WeakValueDictionary()
)  # (username, call_id): kept while a page of theirs on the call is open
UNREACHABLE = (
    "The call could not be reached just now. If nothing changes in a moment, try again."
)


def _permissions(scope: Any, *, fresh: bool = False) -> Awaitable[set[str]]:
    """What the socket's user may do on a live call; `fresh`: as the database says now (and
    nothing once the session the socket was opened with has ended)."""
    return staff_permissions(scope, LIVE_PERMISSIONS, fresh=fresh)


def _allowance(username: str, call_id: str) -> TokenBucket:
    """The actions allowance `username`'s pages on `call_id` share in this process."""
    allowance = _allowances.get((username, call_id))
    if allowance is None:
        allowance = TokenBucket(ACTIONS_PER_S, ACTIONS_BURST, time.monotonic())
        _allowances[(username, call_id)] = allowance
    return allowance


class StaffCallConsumer(LeanWebsocketConsumer):
    call_id = ""
    joined = False

    async def connect(self) -> None:
        user: Any = self.scope.get("user")
        self.permissions = await _permissions(self.scope)
        if protocol.MONITOR not in self.permissions:
            await self._refuse_for_good()
            return
        self.call_id = str(self.scope["url_route"]["kwargs"]["call_id"])
        logs.call_id.set(self.call_id)  # every line this page's handlers log names the call
        self.staff = {"username": user.get_username(), "name": user.first_name or ""}
        self.listening = self.holding = self.taking_over = False
        self._carrier: tuple[str, float] | None = None
        self._between = False  # the call is up, but no socket or process carries it just now
        self._unknown = False  # where the call is could not be read (the database away)
        # The page came back holding the call (`holding=1`), until the call's `state` says
        # whether it does: said again when the call moves in, if it was moving just then.
        self._back_holding = False
        self._state_id = ""  # of the call's latest `state` this page got (livestaff/link.py)
        self._state_asked_at = float("-inf")
        self._voice_out = StaffVoice(self.call_id, self.staff["username"], self.channel_name,
                                     lambda: self._carrier_now(fresh_s=CARRIER_FRESH_S))
        self._actions = _allowance(self.staff["username"], self.call_id)
        self._permission_watch = PermissionWatch(
            self.scope, LIVE_PERMISSIONS, self._permissions_now, seen=self.permissions,
            rejoin=lambda: self.channel_layer.group_add(call_group(self.call_id),
                                                        self.channel_name),
            missed=lambda: self.close(code=MISSED),
        )  # fmt: skip
        await self.accept()
        if await self._carrier_now() is None and not self._between:
            if self._unknown:  # not "it ended": the page tries again in a moment
                await self.close(code=TRY_AGAIN)
                return
            await self.send(text_data=protocol.error("not_live", "This call is not live."))
            await self.close(code=NOT_LIVE)
            return
        # A call between processes (its page reconnecting, or moving) is watched all the
        # same: the process taking it up tells this page (`live_moved`).
        await self.channel_layer.group_add(call_group(self.call_id), self.channel_name)
        self.joined = True
        self._permission_watch.start()
        self._still_here = asyncio.create_task(self._say_still_here(), name="staff page beats")
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        # `since`: when the record the page was painted from was written; the call sends
        # what came after it (a `backlog`), as the page cannot have shown it.
        since = query.get("since", [""])[0][:64]
        # `holding=1`: the page held the call and lost its socket (a blip, or its process
        # died and never told the call the page had gone): it holds the call from here now,
        # if it is still theirs, rather than from a socket that no longer exists.
        holding = query.get("holding") == ["1"] and protocol.TAKE_OVER in self.permissions
        self._back_holding = holding
        await self._act("watch", since=since, holding=holding)

    async def _refuse_for_good(self) -> None:
        """Signed out, or no longer allowed to watch: said with FORBIDDEN on an open socket.
        Refused before it opens, the browser would only see its handshake fail (1006), as
        in a network blip: a page back from one (its microphone still open, if it held the
        call) would try again for ever, never told why (static/livestaff/call.js)."""
        await self.accept()
        await self.close(code=FORBIDDEN)

    async def dispatch(self, message: dict[str, Any]) -> None:
        try:
            await super().dispatch(message)
        except StopConsumer:  # how a consumer ends normally
            raise
        except Exception:
            # Daphne closes the socket with 1011 and dispatches no disconnect: leave the call
            # as a closed page would (a call this page held goes back to the agent).
            log.exception("staff on call %s: a handler failed; the page is closed", self.call_id)
            await self.disconnect(1011)
            raise

    async def disconnect(self, code: int) -> None:
        if not self.joined:
            return
        self.joined = False
        self._permission_watch.stop()
        await stop(self._still_here)
        await self._voice_out.close()
        await self.channel_layer.group_discard(call_group(self.call_id), self.channel_name)
        if self.holding or self.taking_over or self.listening:
            # A page that goes must not leave the caller alone, nor be listed as listening
            # for the rest of the call: the call hands back if this page held it.
            await self._act("page_closed")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.joined:  # a frame sent as the socket opened, which it then closed
            return
        if bytes_data is not None:
            await self._voice(bytes_data)
            return
        action = protocol.decode(text_data or "")
        if isinstance(action, protocol.Refused):
            await self.send(text_data=protocol.error(action.code, action.message))
            return
        if not self._actions.allow(time.monotonic()):
            await self.send(text_data=protocol.error(
                "rate_limited", "Too many actions at once; wait a moment and try again."
            ))  # fmt: skip
            return
        self.permissions = await self._permissions_for_action()
        if protocol.PERMISSION[action.kind] not in self.permissions:
            await self.send(text_data=protocol.error(
                "forbidden", "You may not do that on a live call; ask a support lead."
            ))  # fmt: skip
            return
        listening, taking_over = self.listening, self.taking_over
        self.listening = {"listen": True, "unlisten": False}.get(action.kind, self.listening)
        # Until the call says who holds it, a take-over asked for counts as holding it.
        self.taking_over = {"take_over": True, "hand_back": False}.get(action.kind,
                                                                     self.taking_over)  # fmt: skip
        if not await self._act(action.kind, action.text):  # nothing changed: as it was
            self.listening, self.taking_over = listening, taking_over

    async def _permissions_for_action(self) -> set[str]:
        """What the user may do now, as the database says within PERMISSIONS_CHECK_S; when it
        does not answer (frozen, or away), what it said last (as the page opened, or at its
        last recheck): nobody can take a permission away in a database that does not answer,
        and a lead must still be able to take over or end a call meanwhile. The wait is
        bounded twice: the driver's own timeout ends the read (never cancelled from outside),
        and the page does not wait for the thread the checks share (another socket's check
        may hold it until the driver gives up)."""
        try:
            with pymongo.timeout(PERMISSIONS_CHECK_S):
                async with asyncio.timeout(PERMISSIONS_CHECK_S):
                    return await _permissions(self.scope, fresh=True)
        except TimeoutError:
            why = f"no answer within {PERMISSIONS_CHECK_S:g} s"
        except (DatabaseError, PyMongoError) as error:
            unavailable = database_unavailable(error)
            if unavailable is None:  # a bug, not the database away
                raise
            why = failure_line(unavailable)
        log.warning("staff on call %s: what %s may do could not be read, so it goes by what "
                    "was read last: %s", self.call_id, self.staff["username"], why)  # fmt: skip
        return self.permissions

    # --- to the call --------------------------------------------------------------------------

    async def _act(self, kind: str, text: str = "", **fields: Any) -> bool:
        """Pass the action to the call; False (and the page told why) when it did not go."""
        carrier = await self._carrier_now()
        message = {
            "type": "staff.action", "call_id": self.call_id, "kind": kind, "text": text,
            "staff": self.staff, "reply_to": self.channel_name, **fields,
        }  # fmt: skip
        if carrier is None:
            await self.send(text_data=protocol.error("not_live", (
                protocol.RECONNECTING_MESSAGE if self._between
                else UNREACHABLE if self._unknown else "This call is not live."
            )))  # fmt: skip
            return False
        if not await send_to_channel(carrier, message):
            # The call is live, but its server could not be reached (Redis away, or that
            # server stalled). Not "nothing was done": a stalled Redis may still deliver it
            # (within the layer's 10 s expiry) once it resumes.
            await self.send(text_data=protocol.error("not_live", UNREACHABLE))
            return False
        return True

    async def _voice(self, pcm: bytes) -> None:
        if not (self.holding or self.taking_over) or len(pcm) > protocol.MAX_AUDIO_FRAME:
            return
        # Whole samples only: frames travel joined, and an odd byte would shift all after it.
        pcm = pcm[: len(pcm) & ~1]
        if pcm:
            self._voice_out.put(pcm)  # sent on by its own task: never wait on the layer per frame

    async def _say_still_here(self) -> None:
        """While this page holds the call or listens to it, tell the call so now and then:
        one that stops hearing it takes the page for gone (protocol.HOLDER_SILENT_BEATS).
        Nothing to tell the page when it does not get through: its next try may."""
        while True:
            await asyncio.sleep(settings.STAFF_HOLDING_EVERY_S)
            if not (self.holding or self.listening):
                continue
            carrier = await self._carrier_now(fresh_s=CARRIER_FRESH_S)
            for kind, doing in (("holding", self.holding), ("listening", self.listening)):
                if carrier is not None and doing:
                    await send_to_channel(carrier, {
                        "type": "staff.action", "call_id": self.call_id, "kind": kind,
                        "text": "", "staff": self.staff, "reply_to": self.channel_name,
                    }, patience_s=1.0)  # fmt: skip

    async def _ask_for_state(self) -> None:
        """The call's audio names a `state` this page never got: it was lost on the way (see
        livestaff/link.py). Ask the call for it again, at most every STATE_ASK_AGAIN_S."""
        now = time.monotonic()
        if now - self._state_asked_at < STATE_ASK_AGAIN_S:
            return
        self._state_asked_at = now
        carrier = await self._carrier_now(fresh_s=CARRIER_FRESH_S)
        if carrier is not None:
            await send_to_channel(carrier, {
                "type": "staff.action", "call_id": self.call_id, "kind": "state", "text": "",
                "staff": self.staff, "reply_to": self.channel_name,
            })  # fmt: skip

    async def _permissions_now(self, permissions: set[str]) -> None:
        """The user's permissions changed while the page is open (PermissionWatch)."""
        self.permissions = permissions
        if protocol.TAKE_OVER not in permissions:
            self.taking_over = self._back_holding = False
            if self.holding:  # this page's hold, never a colleague's: no grace for it
                # (With no agent to hand it to, the call ends: `not_allowed` says why.)
                await self._act("hand_back", not_allowed=True)
        if protocol.MONITOR not in permissions:
            await self.close(code=FORBIDDEN)

    async def _carrier_now(self, fresh_s: float = 0.0) -> str | None:
        """The channel of the process carrying the call (None when it is not live)."""
        if self._carrier is not None and time.monotonic() - self._carrier[1] < fresh_s:
            return self._carrier[0]
        try:
            call = await find_call(call_id=self.call_id)
        except PyMongoError as error:
            # Where the call was last seen: a page leaving during a blip must still tell the
            # call (a call it held goes back to the agent), and a holder's voice go on.
            log.warning("staff on call %s: database unavailable: %s", self.call_id, error)
            self._unknown = self._carrier is None
            return None if self._carrier is None else self._carrier[0]
        self._unknown = False
        self._between = call is not None and not call.ended and call.carrier is None
        if call is None or call.ended or call.carrier is None:
            return None
        self._carrier = (call.carrier, time.monotonic())
        return call.carrier

    # --- from the call -----------------------------------------------------------------------

    async def live_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if event.get("type") == "state":
            self._state_id = str(event.get("state_id", ""))
            # This page holds the call (not only its person: another tab of theirs may).
            holder_page = event.get("holder_page")
            self.holding = holder_page == self.channel_name
            self._back_holding = False
            event = {k: v for k, v in event.items() if k not in ("holder_page", "state_id")}
            event["held_from"] = protocol.held_from(holder_page, self.channel_name)
            if event.get("mode") == "human":  # the take-over asked for was decided, either way
                self.taking_over = False
            if self.holding and protocol.TAKE_OVER not in self.permissions:
                # Granted after this person lost the permission (a take-over on its way).
                await self._act("hand_back", not_allowed=True)
        elif event.get("type") == "error" and event.get("code") == "taken":
            self.taking_over = False  # refused: a colleague holds the call
        elif event.get("type") == "error" and event.get("code") == TOO_MANY_LISTENERS:
            self.listening = False  # refused: the page neither listens nor says it does
        await self.send(text_data=protocol.encode(presenting.for_staff(event)))

    async def live_moved(self, message: dict[str, Any]) -> None:
        """The call moved to another process, which knows nothing of this page yet: say again
        that it watches, and whether it listens or holds the call (a holder's page that does
        not come back lets the call go back to the agent, livestaff/on_call.py).
        Holding as the call last said (or as the page said coming back), never a take-over
        merely asked: one refused as the call moved would take the call from the holder's tab
        talking; one granted is this page's anyway when no page of theirs holds it."""
        self._carrier = None
        await self._act("watch", listening=self.listening,
                        holding=self.holding or self._back_holding)  # fmt: skip

    async def call_not_here(self, message: dict[str, Any]) -> None:
        """An action of this page reached the process the call had just left: it is on its
        way to another (continuity/process.py)."""
        self._carrier = None
        kind = message.get("kind")
        if kind in ("watch", "page_closed", "holding", "listening", "state"):  # not theirs
            return
        # Nothing was done: not taken over, not listening (as a refused action leaves them).
        if kind == "take_over":
            self.taking_over = False
        elif kind == "listen":
            self.listening = False
        await self.send(text_data=protocol.error("not_live", protocol.RECONNECTING_MESSAGE))

    async def live_audio(self, message: dict[str, Any]) -> None:
        if message.get("state_id", self._state_id) != self._state_id:
            await self._ask_for_state()
        for frame in message["frames"]:  # several when the layer ran behind (livestaff/link.py)
            await self.send(bytes_data=frame)


class LiveCallsConsumer(StaffGroupListener):
    """`/ws/staff/live`: the live calls page, told of every change to any call in progress on
    any process (each call publishes its line, livestaff/link.py)."""

    group = LIVE_CALLS_GROUP
    needed = protocol.MONITOR
    watched = LIVE_PERMISSIONS

    async def live_call(self, message: dict[str, Any]) -> None:
        call = message["call"]  # a call's `state`, or {call_id, ended} once it is over
        call = call if call.get("ended") else presenting.with_now(call)
        await self.send(text_data=protocol.event("call", call=call))
