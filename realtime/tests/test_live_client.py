"""The Live API client on its own: buffering before setup, giving up, fatal closes, refusals
and losses mid-call."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from realtime import live_protocol as lp
from realtime.call_session import TEARDOWN_TIMEOUT_S
from realtime.live_client import Failed, LiveClient, Ready, Reconnecting, Resumed, RetryPolicy
from realtime.tests.fake_live import FakeLiveServer, FakeSession

QUICK = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02, setup_timeout_s=2)


def setup_for(model: str = "gemini-3.8-live") -> Any:
    def build(handle: str | None) -> dict[str, Any]:
        return lp.build_setup(
            model=model, voice="Kore", system_instruction="Be brief.",
            function_declarations=[], resumption_handle=handle,
        )  # fmt: skip

    return build


def client(url: str, events: list[object], model: str = "gemini-3.8-live") -> LiveClient:
    return LiveClient(
        url=url, api_key="test-key", build_setup=setup_for(model),
        on_event=events.append, retry=QUICK,
    )  # fmt: skip


async def test_audio_before_setup_is_buffered_up_to_two_seconds_oldest_dropped(
    fake_live: FakeLiveServer,
) -> None:
    events: list[object] = []
    live = client(fake_live.url, events)
    seconds = [bytes([n]) * 32_000 for n in range(3)]  # three seconds, each a distinct byte
    for second in seconds:
        live.send_audio(second)
    assert live.dropped_audio_bytes == 32_000

    task = asyncio.create_task(live.run())
    session = await fake_live.wait_for_session()
    assert await session.wait_for_audio(nbytes=64_000) == seconds[1] + seconds[2]
    assert isinstance(events[0], Ready)
    await live.close()
    await task


async def test_an_audio_stream_end_follows_the_audio_it_ends_even_when_that_audio_waited(
    fake_live: FakeLiveServer,
) -> None:
    live = client(fake_live.url, [])
    live.send_audio(b"\x01\x00" * 800)  # the customer speaks before the model listens...
    live.send_audio(b"\x02\x00" * 800)
    live.send_audio_stream_end()  # ... pauses ...
    live.send_audio(b"\x03\x00" * 800)  # ... and speaks again
    task = asyncio.create_task(live.run())
    session = await fake_live.wait_for_session()
    await session.wait_for_audio(nbytes=4_800)
    await live.close()
    await task

    sent = ["end" if "audioStreamEnd" in m["realtimeInput"] else "audio"
            for m in session.messages if "realtimeInput" in m]  # fmt: skip
    assert sent == ["audio", "end", "audio"]
    assert session.audio_chunks[0] == b"\x01\x00" * 800 + b"\x02\x00" * 800


async def test_words_typed_while_the_session_resumes_reach_the_model_in_the_callers_order(
    fake_live: FakeLiveServer,
) -> None:
    """What the caller says and types while the session is resumed waits for it together;
    the model must not read her typed words before the speech they follow."""

    @fake_live.on_session
    async def agent(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("handle-1")
            await session.drop()

    spoken, spoken_after = b"\x01\x00" * 800, b"\x02\x00" * 800

    def during_the_resume(event: object) -> None:
        if isinstance(event, Reconnecting):
            live.send_audio(spoken)  # "my order never came, it was..."
            live.send_text("ORD-1001")  # ... she types the order id ...
            live.send_audio(spoken_after)  # "... can you check?"

    live = LiveClient(
        url=fake_live.url, api_key="test-key", build_setup=setup_for(),
        on_event=during_the_resume, retry=QUICK,
    )  # fmt: skip
    task = asyncio.create_task(live.run())
    resumed = await fake_live.wait_for_session(1)
    assert await resumed.wait_for_text() == "ORD-1001"
    await resumed.wait_for_audio(nbytes=len(spoken + spoken_after))
    await live.close()
    await task

    assert resumed.resumed_handle == "handle-1"
    sent = ["text" if "text" in m["realtimeInput"] else "audio"
            for m in resumed.messages if "realtimeInput" in m]  # fmt: skip
    assert sent == ["audio", "text", "audio"]
    assert resumed.audio_chunks == [spoken, spoken_after]


async def test_nothing_is_sent_before_setup_complete(fake_live: FakeLiveServer) -> None:
    live = client(fake_live.url, [])
    live.send_text("hello")
    task = asyncio.create_task(live.run())
    session = await fake_live.wait_for_session()
    assert await session.wait_for_text() == "hello"
    assert "setup" in str(session.frames[0])[:20]
    await live.close()
    await task


async def test_an_unreachable_api_gives_up_after_the_retry_cap() -> None:
    events: list[object] = []
    # Port 1 on loopback refuses connections.
    await client("ws://127.0.0.1:1/ws/x", events).run()
    assert events == [Failed("upstream_unavailable", events[0].detail)]  # type: ignore[attr-defined]


async def test_an_unknown_model_fails_at_once_without_retrying(fake_live: FakeLiveServer) -> None:
    events: list[object] = []
    await client(fake_live.url, events, model="gemini-0.1-imaginary").run()
    assert len(events) == 1 and isinstance(events[0], Failed)
    assert events[0].reason == "not_permitted"
    assert len(fake_live.sessions) == 1


async def test_a_handle_still_held_elsewhere_gives_way_to_a_fresh_session(
    fake_live: FakeLiveServer,
) -> None:
    """A call moved from a frozen process: its session is still open there, so resuming it is
    refused again and again. The caller is better served by a fresh session (which the call
    briefs with the conversation so far) than by none."""

    @fake_live.on_session
    async def agent(session: Any) -> None:
        if session.index == 0:
            await session.send_resumption_update("handle-held")

    first_events: list[object] = []
    first = client(fake_live.url, first_events)
    holding = asyncio.create_task(first.run())
    session = await fake_live.wait_for_session()
    async with asyncio.timeout(5):
        while first.handle != "handle-held":
            await asyncio.sleep(0.01)

    events: list[object] = []
    moved = LiveClient(
        url=fake_live.url, api_key="test-key", build_setup=setup_for(), on_event=events.append,
        retry=QUICK, handle="handle-held", resuming=True,
    )  # fmt: skip
    carrying = asyncio.create_task(moved.run())
    fresh = await fake_live.wait_for_session(QUICK.max_attempts + 1)

    assert fresh.resumed_handle is None
    async with asyncio.timeout(5):
        while not any(isinstance(event, Resumed) for event in events):
            await asyncio.sleep(0.01)
    assert [e for e in events if isinstance(e, Resumed)] == [Resumed(with_handle=False)]
    assert not any(isinstance(event, Failed) for event in events)
    assert not session.closed  # the first process never let go of its own
    for live, task in ((moved, carrying), (first, holding)):
        await live.close()
        await task


async def test_a_fresh_session_is_briefed_before_it_hears_the_caller(
    fake_live: FakeLiveServer,
) -> None:
    """A session that could not be resumed starts afresh, and the call briefs it with the
    conversation so far. A word the caller says as it comes up, before the writer has sent
    that briefing, must wait for it: heard first, out of context, the model would answer it
    as the start of a new call."""

    @fake_live.on_session
    async def agent(session: FakeSession) -> None:
        if session.index == 0:
            await session.drop()  # no handle was given: the next session is a fresh one

    word = b"\x05\x00" * 320
    saying: list[asyncio.Task[None]] = []

    def on_event(event: object) -> None:
        if isinstance(event, Resumed):
            live.brief("So far: the caller asked about ORD-1001.", respond=False)
            saying.append(asyncio.create_task(live.forward_audio(word)))  # she speaks on

    live = LiveClient(
        url=fake_live.url, api_key="test-key", build_setup=setup_for(), on_event=on_event,
        retry=QUICK,
    )  # fmt: skip
    task = asyncio.create_task(live.run())
    fresh = await fake_live.wait_for_session(1)
    await fresh.wait_for_audio(nbytes=len(word))
    await live.close()
    await task

    assert fresh.resumed_handle is None
    sent = ["note" if "clientContent" in m else "audio"
            for m in fresh.messages if "clientContent" in m or "realtimeInput" in m]  # fmt: skip
    assert sent == ["note", "audio"]


async def test_closing_while_the_model_speaks_closes_the_session_cleanly(
    fake_live: FakeLiveServer,
) -> None:
    """The model streams its answer faster than it plays: unread, it fills websockets' queue,
    which then stops reading, and the server's close frame would wait behind it until the
    close gave up, the session left open on the server (a call moving on could not resume it
    at once)."""
    chunk = b"\x01\x00" * 480

    @fake_live.on_session
    async def agent(session: FakeSession) -> None:
        while not session.closed:  # a long answer, in bursts as the server sends them
            for _ in range(100):
                await session.send_audio(chunk, chunk_ms=20)
            await asyncio.sleep(0.01)

    events: list[object] = []
    async with LongWay(fake_live.url, delay_s=0.1) as url:  # Google is some way off
        live = client(url, events)
        task = asyncio.create_task(live.run())
        session = await fake_live.wait_for_session()
        async with asyncio.timeout(5):
            while sum(isinstance(event, lp.AudioChunk) for event in events) < 100:
                await asyncio.sleep(0.01)

        upstream = live._ws
        assert upstream is not None

        await live.close()
        await task

    assert upstream.close_code == 1000  # the server's close frame was read: a clean close
    assert await session.wait_closed() == (1000, "")


class LongWay:
    """A TCP relay to the server of `url`, whose bytes reach the client `delay_s` late: the
    server sends on meanwhile, as a far one does. Entered, it answers the URL through it."""

    def __init__(self, url: str, delay_s: float) -> None:
        self._target = urlsplit(url)
        self._delay_s = delay_s
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return self._target._replace(netloc=f"127.0.0.1:{port}").geturl()

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
                     ) -> None:  # fmt: skip
        server_in, server_out = await asyncio.open_connection(
            self._target.hostname, self._target.port
        )
        for pipe in (self._pipe(client_in, server_out, 0.0),
                     self._pipe(server_in, client_out, self._delay_s)):  # fmt: skip
            self._tasks.add(asyncio.create_task(pipe))

    @staticmethod
    async def _pipe(
        source: asyncio.StreamReader, sink: asyncio.StreamWriter, delay_s: float
    ) -> None:
        loop = asyncio.get_running_loop()
        late: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def take() -> None:
            while data := await source.read(65_536):
                late.put_nowait((loop.time() + delay_s, data))
            late.put_nowait((loop.time() + delay_s, b""))

        taking = asyncio.create_task(take())
        try:
            while True:
                due, data = await late.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    break
                sink.write(data)
                await sink.drain()
        finally:
            taking.cancel()
            sink.close()


async def until(events: list[object], kind: type) -> None:
    async with asyncio.timeout(5):
        while not any(isinstance(event, kind) for event in events):
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("code", [1007, 1008])
async def test_a_refusal_after_the_setup_was_accepted_is_resumed_not_fatal(
    fake_live: FakeLiveServer, code: int
) -> None:
    # 1008 mid-session is reported as a server hiccup ("Requested entity was not found" after
    # a tool response, "The operation was aborted"); it answers no setup of ours.
    @fake_live.on_session
    async def refuses_once(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("h-1")
            await session.close(code, "Requested entity was not found.")

    events: list[object] = []
    live = client(fake_live.url, events)
    task = asyncio.create_task(live.run())
    await until(events, Resumed)

    assert [type(e) for e in events if not isinstance(e, lp.ResumptionUpdate)] == [
        Ready, Reconnecting, Resumed,
    ]  # fmt: skip
    assert (await fake_live.wait_for_session(1)).resumed_handle == "h-1"
    await live.close()
    await task


async def test_refusals_over_and_over_are_fatal(fake_live: FakeLiveServer) -> None:
    @fake_live.on_session
    async def refuses(session: FakeSession) -> None:
        await session.close(1008, "Requested entity was not found.")

    events: list[object] = []
    await client(fake_live.url, events).run()

    assert isinstance(events[-1], Failed) and events[-1].reason == "not_permitted"
    assert len(fake_live.sessions) == QUICK.max_attempts + 1


async def test_a_session_lost_mid_call_that_is_not_back_in_time_is_given_up_on(
    fake_live: FakeLiveServer,
) -> None:
    fake_live.stall_setups(from_session=1)

    @fake_live.on_session
    async def drops(session: FakeSession) -> None:
        await session.send_resumption_update("h-1")
        await session.drop()

    events: list[object] = []
    patient = RetryPolicy(max_attempts=50, base_delay_s=0.01, max_delay_s=0.02,
                          setup_timeout_s=0.2, reconnect_deadline_s=1.0)  # fmt: skip
    live = LiveClient(url=fake_live.url, api_key="test-key", build_setup=setup_for(),
                      on_event=events.append, retry=patient)  # fmt: skip
    async with asyncio.timeout(3):
        await live.run()

    kinds = [type(e) for e in events if not isinstance(e, lp.ResumptionUpdate)]
    assert kinds == [Ready, Reconnecting, Failed]
    assert events[-1] == Failed("upstream_unavailable", events[-1].detail)  # type: ignore[attr-defined]
    for session in fake_live.sessions:
        await session.wait_closed(timeout=2)


# --- goAway, refused handles, answers in flight ---------------------------------------------


async def test_a_go_away_during_a_tool_call_waits_for_its_answer_and_the_handle_after_it(
    fake_live: FakeLiveServer,
) -> None:
    """The server cannot resume a session while a call awaits its answer: resumed from the
    handle before the call, the model would have forgotten asking (and the answer, sent on the
    resumed session, would be refused). The client rotates once the answer is in and the
    server has given a new handle, well inside the goAway's time."""

    @fake_live.on_session
    async def agent(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("before-the-call")
            await session.send_resumption_update(None, resumable=False)
            await session.send_tool_call([{"name": "check_order_status", "id": "fc-1"}])
            await session.send_go_away("10s")
            await session.wait_for_tool_response()  # still on this connection
            await session.send_resumption_update("after-the-answer")

    def answer_in_a_moment(event: object) -> None:
        events.append(event)
        if isinstance(event, lp.ToolCall):
            asyncio.get_running_loop().call_later(0.2, live.send_tool_response, answer)

    answer = lp.tool_response_message([lp.FunctionResponse("fc-1", "check_order_status", {})])
    events: list[object] = []
    live = LiveClient(
        url=fake_live.url, api_key="test-key", build_setup=setup_for(),
        on_event=answer_in_a_moment, retry=QUICK,
    )  # fmt: skip
    task = asyncio.create_task(live.run())
    resumed = await fake_live.wait_for_session(1)

    assert [r["id"] for r in fake_live.sessions[0].tool_responses] == ["fc-1"]
    assert resumed.resumed_handle == "after-the-answer"
    await live.close()
    await task


async def test_a_go_away_after_the_answer_was_generated_waits_for_the_turn_to_end(
    fake_live: FakeLiveServer,
) -> None:
    """`generationComplete` comes before the turn's end, whose frame carries the turn's usage
    (billed whether read or not), and before the handle that covers the turn."""

    @fake_live.on_session
    async def agent(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("before-the-turn")
            await session.send_resumption_update(None, resumable=False)
            await session.send_audio(b"\x01\x00" * 480)
            await session.send_generation_complete()
            await session.send_go_away("10s")
            await asyncio.sleep(0.2)  # the server paces the turn's end to its playback
            await session.send_turn_complete(usage={"totalTokenCount": 564})
            await session.send_resumption_update("after-the-turn")

    events: list[object] = []
    live = client(fake_live.url, events)
    task = asyncio.create_task(live.run())
    resumed = await fake_live.wait_for_session(1)

    assert [e.total_token_count for e in events if isinstance(e, lp.Usage)] == [564]
    assert resumed.resumed_handle == "after-the-turn"
    await live.close()
    await task


async def test_a_go_away_without_a_resumable_moment_rotates_before_the_deadline() -> None:
    """A call the model waits on that is never answered: the client still leaves before the
    server cuts the connection (1011 "Deadline expired"), resuming from the last handle."""
    async with FakeLiveServer(connection_lifetime_s=3.0, go_away_time_left_s=2.5) as fake:

        @fake.on_session
        async def agent(session: FakeSession) -> None:
            if session.index == 0:
                await session.send_resumption_update("h-1")
                await session.send_tool_call([{"name": "check_order_status"}])  # unanswered

        live = client(fake.url, [])
        task = asyncio.create_task(live.run())
        resumed = await fake.wait_for_session(1, timeout=3)

        assert resumed.resumed_handle == "h-1"
        assert not fake.sessions[0].closed_by_fake  # the client left first
        await live.close()
        await task


async def test_a_tool_answer_not_sent_before_the_connection_closed_is_handed_back(
    fake_live: FakeLiveServer,
) -> None:
    """The resumed session never made the call: the answer, sent on it, would be refused
    (1007, one more reconnection), and the model would never learn the result."""

    @fake_live.on_session
    async def agent(session: FakeSession) -> None:
        if session.index == 0:
            await session.send_resumption_update("h-1")
            await session.send_tool_call([{"name": "check_order_status", "id": "fc-1"}])
            await session.close(1011, "Internal error encountered.")

    answer = lp.FunctionResponse("fc-1", "check_order_status", {"orders": []})

    def answer_at_once(event: object) -> None:
        events.append(event)
        if isinstance(event, lp.ToolCall):
            live.send_tool_response(lp.tool_response_message([answer]))

    events: list[object] = []
    live = LiveClient(
        url=fake_live.url, api_key="test-key", build_setup=setup_for(),
        on_event=answer_at_once, retry=QUICK,
    )  # fmt: skip
    task = asyncio.create_task(live.run())
    await until(events, Resumed)
    resumed = await fake_live.wait_for_session(1)
    live.send_note("still there?", respond=False)  # notes are for whichever session is up
    await resumed.wait_for_note()

    [reconnecting] = [e for e in events if isinstance(e, Reconnecting)]
    assert reconnecting.unanswered == (answer,)
    assert resumed.tool_responses == [] and not resumed.closed
    assert len(fake_live.sessions) == 2
    await live.close()
    await task


async def test_a_refused_handle_gives_way_to_a_fresh_session(fake_live: FakeLiveServer) -> None:
    """A handle expired (they last two hours) or unknown: the setup naming it is refused
    (1007), where the same setup without it is not. A fresh session, which the call briefs
    with the conversation so far, serves the caller better than an ended call."""
    events: list[object] = []
    live = LiveClient(
        url=fake_live.url, api_key="test-key", build_setup=setup_for(), on_event=events.append,
        retry=QUICK, handle="expired-handle", resuming=True,
    )  # fmt: skip
    task = asyncio.create_task(live.run())
    await until(events, Resumed)

    assert events == [Resumed(with_handle=False)]
    refused, fresh = fake_live.sessions
    assert refused.close_code == 1007 and fresh.resumed_handle is None and fresh.open
    await live.close()
    await task


async def test_a_setup_refused_without_a_handle_is_still_fatal(fake_live: FakeLiveServer) -> None:
    events: list[object] = []
    live = LiveClient(
        url=fake_live.url, api_key="test-key", build_setup=setup_for("gemini-0.1-imaginary"),
        on_event=events.append, retry=QUICK, handle="h-1", resuming=True,
    )  # fmt: skip
    await live.run()

    assert [type(e) for e in events] == [Failed] and events[0].reason == "not_permitted"  # type: ignore[attr-defined]
    named = [json.loads(s.frames[0])["setup"]["sessionResumption"] for s in fake_live.sessions]
    assert named == [{"handle": "h-1"}, {}]  # tried once without it, refused all the same


# --- a Live API that stops answering ---------------------------------------------------------


class LiveApiInAThread:
    """The fake Live API served from an event loop of its own thread, which `freeze` blocks:
    a Live API that stops answering altogether (no close frame, no end of TCP) while its
    connections stay up. Entered, it serves at `url`."""

    def __init__(self) -> None:
        self.url = ""
        self.fake = FakeLiveServer()
        self._up = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    async def _serve(self) -> None:
        async with self.fake as fake:
            self.url, self._loop, self._stop = fake.url, asyncio.get_running_loop(), asyncio.Event()
            self._up.set()
            await self._stop.wait()

    def __enter__(self) -> LiveApiInAThread:
        self._thread.start()
        assert self._up.wait(5), "the fake Live API did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def freeze(self, seconds: float) -> None:
        """Block the server's event loop for `seconds`, from now."""
        assert self._loop is not None
        frozen = threading.Event()

        def block() -> None:
            frozen.set()
            time.sleep(seconds)

        self._loop.call_soon_threadsafe(block)
        assert await asyncio.to_thread(frozen.wait, 5)


@pytest.fixture
def live_api_in_a_thread() -> Iterator[LiveApiInAThread]:
    with LiveApiInAThread() as api:
        yield api


async def stopped_in_time(task: asyncio.Task[None]) -> bool:
    """Cancel `task` as a call's teardown does: True if it stops within that bound."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=TEARDOWN_TIMEOUT_S)
    return task in done


async def test_a_live_api_that_stops_answering_holds_up_no_end_of_the_call(
    live_api_in_a_thread: LiveApiInAThread,
) -> None:
    """The call closes the session (its own bound on that), then stops the client's task
    (another): waiting for the socket's close all over again, the task outlived it."""
    events: list[object] = []
    live = client(live_api_in_a_thread.url, events)
    task = asyncio.create_task(live.run())
    await until(events, Ready)
    upstream = live._ws
    assert upstream is not None
    await live_api_in_a_thread.freeze(3.0)

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(TEARDOWN_TIMEOUT_S):
            await live.close()

    assert await stopped_in_time(task)
    assert upstream.transport.is_closing()  # let go of, not left for the keepalive to find


async def test_a_live_api_that_stops_answering_as_the_session_opens_holds_up_no_end(
    live_api_in_a_thread: LiveApiInAThread,
) -> None:
    """The caller hangs up while the setup waits for an answer that never comes."""
    live_api_in_a_thread.fake.stall_setups()
    live = client(live_api_in_a_thread.url, [])
    task = asyncio.create_task(live.run())
    async with asyncio.timeout(5):
        while not (live_api_in_a_thread.fake.sessions and
                   live_api_in_a_thread.fake.sessions[0].frames):  # fmt: skip
            await asyncio.sleep(0.01)  # the setup was read, and is not answered
    await live_api_in_a_thread.freeze(3.0)

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(TEARDOWN_TIMEOUT_S):
            await live.close()

    assert await stopped_in_time(task)
