"""Fixtures for the voice page in a real browser: Debian's Chromium driven by Playwright, a
real daphne serving the page and the bridge, and the fake Gemini Live API behind it.

    Chromium (fake mic: a spoken WAV) ──▶ daphne subprocess ──▶ FakeLiveServer (this loop)

One server, one fake and one browser serve a whole module (starting them takes seconds);
each test gets a fresh browser context and sets the fake agent's script with `agent.script`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Error, Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from realtime.tests.fake_live import FakeLiveServer, FakeSession, Script
from support.models import Customer, Order, OrderItem, RefundTier
from voiceproject.tests.chromium import launched_chromium
from voiceproject.tests.live_server import BASE_DIR, DaphneServer

ARTIFACTS = BASE_DIR / "test-artifacts" / "voice"
SPOKEN = "Hello, where is my biryani? It was supposed to arrive an hour ago, and I am hungry."

# Give Chromium a microphone: the WAV below, looped. Whether the page may use it is each
# context's permission (granted by `voice_page`, not by a flag, so that a test can also be
# refused).
FAKE_MICROPHONE_ARGS = ["--use-fake-device-for-media-stream"]

# Contract section 6, in paise.
CONTRACT_TIERS = [
    ("Platinum", 1_000_000, 100),
    ("Gold", 500_000, 75),
    ("Silver", 200_000, 50),
    ("Bronze", 0, 30),
]


# --- The microphone's speech -----------------------------------------------------------------


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentence from espeak-ng as 48 kHz mono PCM16, trimmed of leading and trailing silence
    so that Chromium's loop of it is continuous speech (no pause long enough to end a turn)."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install espeak-ng sox)")
    folder = tmp_path_factory.mktemp("speech")
    raw, wav = folder / "raw.wav", folder / "speech-48k.wav"
    subprocess.run(["espeak-ng", "-s", "160", "-w", str(raw), SPOKEN], check=True)
    subprocess.run(
        [
            "sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(wav),
            "silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse",
        ],
        check=True,
    )
    return wav


# --- The fake agent ----------------------------------------------------------------------------


@dataclass
class FakeAgent:
    """The fake Live API for a module, with the script of the current test.

    `script` runs for every new Live API connection (a resumed one included); None keeps the
    connection open and silent.
    """

    live: FakeLiveServer
    script: Script | None = None
    sessions_before: int = field(default=0)

    def reset(self) -> None:
        self.script = None
        self.sessions_before = len(self.live.sessions)

    async def session(self, index: int = 0, timeout: float = 5.0) -> FakeSession:
        """This test's Live API connection number `index`."""
        return await self.live.wait_for_session(self.sessions_before + index, timeout=timeout)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake_agent() -> AsyncIterator[FakeAgent]:
    async with FakeLiveServer() as live:
        agent = FakeAgent(live)

        @live.on_session
        async def run_the_tests_script(session: FakeSession) -> None:
            if agent.script is not None:
                await agent.script(session)

        yield agent


@pytest.fixture
def agent(fake_agent: FakeAgent) -> Iterator[FakeAgent]:
    fake_agent.reset()
    errors_before = len(fake_agent.live.script_errors)
    yield fake_agent
    # A failing script would otherwise only surface when the module's fake shuts down.
    errors = fake_agent.live.script_errors[errors_before:]
    if errors:
        raise errors[0]


# --- The server and the browser ----------------------------------------------------------------


@dataclass
class VoiceServers:
    """The module's daphne servers, both on the test database in demo mode."""

    with_agent: DaphneServer  # the fake as its Live API
    _without_agent: Future[DaphneServer]  # no GEMINI_API_KEY

    def without_agent(self) -> DaphneServer:
        return self._without_agent.result()


@pytest.fixture(scope="module")
def voice_servers(django_db_setup: Any, fake_agent: FakeAgent) -> Iterator[VoiceServers]:
    # They keep a call whose page is away 0.2 s (pytest.ini), and once one has carried a call
    # it sweeps the database for calls away longer than that (continuity/sweeper.py), seeing
    # no other server alive (each has a cache of its own): a server that keeps calls longer
    # belongs in a module without these (test_voice_page_resume.py), or its calls are ended.
    # Starting daphne takes seconds (mostly imports): the server without an agent starts in
    # the background while the first tests run.
    with (
        ThreadPoolExecutor(max_workers=2) as pool,
        DaphneServer(gemini_live_url=fake_agent.live.url) as with_agent,
        DaphneServer(env={"GEMINI_API_KEY": ""}) as without_agent,
    ):
        background = pool.submit(without_agent.start)
        with_agent.start()
        yield VoiceServers(with_agent, background)
        background.result()
        list(pool.map(DaphneServer.stop, [with_agent, without_agent]))


@pytest.fixture(scope="module")
def voice_server(voice_servers: VoiceServers) -> DaphneServer:
    return voice_servers.with_agent


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(speech_wav: Path) -> AsyncIterator[Browser]:
    async with launched_chromium(
        [*FAKE_MICROPHONE_ARGS, f"--use-file-for-fake-audio-capture={speech_wav}"]
    ) as browser:
        yield browser


# What Chromium logs for a send on Playwright's own routed socket once it closes (VoicePage).
ROUTED_SOCKET_CLOSING = "console error: WebSocket is already in CLOSING or CLOSED state."


@dataclass
class VoicePage:
    """The voice page in a fresh browser context, with what the browser complained about."""

    page: Page
    server: DaphneServer
    problems: list[str]

    @property
    def problems_with_a_routed_socket(self) -> list[str]:
        """`problems`, for a test that routes the page's socket (`page.route_web_socket`):
        Playwright forwards the page's sends to a native WebSocket of its own, which can be
        closing (the call ended) while the page's is still open; Chromium then logs
        ROUTED_SOCKET_CLOSING for Playwright's send, not the page's (which checks its socket
        is open: static/voice/connection.js)."""
        return [problem for problem in self.problems if problem != ROUTED_SOCKET_CLOSING]

    async def open(self) -> None:
        response = await self.page.goto(self.server.url + "/")
        assert response is not None and response.ok
        self.csp = response.headers.get("content-security-policy", "")

    async def debug(self, path: str = "") -> Any:
        return await self.page.evaluate(f"window.voiceDebug{path}")

    async def wait_for(self, expression: str, timeout: float = 10.0) -> None:
        """Until the JavaScript `expression` (over `window.voiceDebug` as `d`) is true."""
        try:
            # A function, not an expression: Playwright evaluates expressions with eval(),
            # which the page's CSP (rightly) forbids.
            await self.page.wait_for_function(
                f"() => {{ const d = window.voiceDebug; return {expression}; }}",
                timeout=timeout * 1000,
            )
        except PlaywrightTimeoutError:
            state = await self.debug()
            state.pop("events", None)
            message = f"not within {timeout}s: {expression}\nvoiceDebug: {state}"
            raise AssertionError(message) from None

    async def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)

    async def meter_moves(self) -> None:
        """Until the microphone meter shows a level: the fake microphone's speech is heard."""
        await self.wait_for("Number(document.getElementById('level').ariaValueNow) > 0", 3.0)

    async def meter_levels(self, samples: int = 6, every_ms: int = 50) -> list[int]:
        """The microphone meter as shown (0-100), read `samples` times `every_ms` apart: a
        live one shows the fake microphone's speech in most of them."""
        meter = self.page.get_by_role("meter", name="Microphone level")
        levels = []
        for _ in range(samples):
            levels.append(int(await meter.get_attribute("aria-valuenow") or 0))
            await self.page.wait_for_timeout(every_ms)
        return levels


def conversation(page: Page) -> Locator:
    """The call's captions: a list to read, not a live region (the call is heard already)."""
    return page.get_by_role("list", name="Conversation")


def collect_problems(page: Page, problems: list[str]) -> None:
    """Note the page's console errors and uncaught exceptions in `problems`."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    def on_page_error(error: Error) -> None:
        problems.append(f"page error: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)


@pytest_asyncio.fixture(loop_scope="module")
async def voice_page(browser: Browser, voice_server: DaphneServer) -> AsyncIterator[VoicePage]:
    """The page at a phone's width, with the microphone allowed."""
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, permissions=["microphone"]
    )
    page = await context.new_page()
    problems: list[str] = []
    collect_problems(page, problems)
    server_log_start = len(voice_server.output())
    yield VoicePage(page, voice_server, problems)
    await context.close()
    # Shown by pytest only when the test failed: what the server said meanwhile.
    print("daphne:", voice_server.output()[server_log_start:], sep="\n")


# --- The network between them ------------------------------------------------------------------


class Network:
    """The way from the browser to a server, through a relay the test controls: it can drop
    the page's WebSockets under way and turn new ones away or leave them unanswered, as a
    train in a tunnel does, while plain requests go through. Use `async with`; the page goes
    to `url`."""

    def __init__(self, server: DaphneServer) -> None:
        self.server = server
        self.websockets_blocked = False
        # New WebSockets' handshakes go unanswered (a network that lost its way, neither there
        # nor gone: the browser would wait on them for minutes).
        self.websockets_unanswered = False
        self._websockets: set[asyncio.StreamWriter] = set()
        self._relay: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._relay is not None
        return f"http://127.0.0.1:{self._relay.sockets[0].getsockname()[1]}"

    def drop_websockets(self) -> None:
        """Cut every WebSocket under way without a close handshake: the page sees 1006 and
        the server a connection gone, as when a phone loses its signal."""
        for writer in self._websockets:
            writer.transport.abort()
        self._websockets.clear()

    async def __aenter__(self) -> Network:
        self._relay = await asyncio.start_server(self._carry, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._relay is not None
        self.drop_websockets()
        self._relay.close()
        await self._relay.wait_closed()

    async def _carry(
        self, from_browser: asyncio.StreamReader, to_browser: asyncio.StreamWriter
    ) -> None:
        try:
            head = await from_browser.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            head = b""  # an idle keep-alive connection closed by the browser
        # A WebSocket handshake is always the first request on its own connection.
        websocket = b"upgrade: websocket" in head.lower()
        if not head or (websocket and self.websockets_blocked):
            to_browser.close()
            return
        if websocket and self.websockets_unanswered:
            with contextlib.suppress(ConnectionError):
                while await from_browser.read(65536):
                    pass  # never answered, until the browser gives up
            to_browser.close()
            return
        from_server, to_server = await asyncio.open_connection("127.0.0.1", self.server.port)
        if websocket:
            self._websockets |= {to_browser, to_server}
        to_server.write(head)
        await asyncio.gather(_pipe(from_browser, to_server), _pipe(from_server, to_browser))
        self._websockets -= {to_browser, to_server}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):  # one side went away: close the other
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


# --- The customer ------------------------------------------------------------------------------


def _order(customer: Customer, order_id: str, amount: int, delivered_hours_ago: float) -> None:
    now = datetime.now(UTC)
    Order.objects.create(
        order_id=order_id,
        customer=customer,
        restaurant="Biryani Blues",
        items=[OrderItem(name="Chicken Biryani", qty=1, price=amount)],
        amount=amount,
        status="delivered",
        placed_at=now - timedelta(hours=delivered_hours_ago + 0.5),
        delivered_at=now - timedelta(hours=delivered_hours_ago),
    )


@pytest.fixture
def asha(transactional_db: Any) -> Customer:
    """Asha Verma (#101), Platinum (₹12,337.50 spent): her ₹337.50 biryani, delivered 30
    minutes ago, is refundable in full."""
    RefundTier.objects.all().delete()
    RefundTier.objects.bulk_create(
        RefundTier(name=n, min_lifetime_spend=s, percent=p) for n, s, p in CONTRACT_TIERS
    )
    asha = Customer.objects.create(
        user_id=101, name="Asha Verma", phone="+919800000101", email="asha@example.com"
    )
    _order(asha, "ORD-1001", 33_750, delivered_hours_ago=0.5)
    _order(asha, "ORD-1002", 1_200_000, delivered_hours_ago=72)
    return asha
