"""After a call over the bridge (the fake Live API upstream, the real database): turns with
their latency, outcome, duration, cost, the recording, and the operators' metrics."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import av
import numpy as np
import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.test import AsyncClient, Client, override_settings
from pymongo.errors import PyMongoError

from bench.quiet_gc import collector_paused as paused
from livestaff.tests.conftest import groups  # noqa: F401  (the staff groups, by name)
from livestaff.tests.test_staff_on_a_call import LEAD_GROUP, StaffPage
from postcall import metrics, opus, store, summary
from postcall.observer import CallObserver
from realtime import live_client
from realtime.tests.fake_live import FakeLiveServer, FakeSession
from realtime.tests.voice_harness import BrowserCall
from support import mongo
from support.models import Customer
from voiceproject.asgi import application
from voiceproject.tests.signals import dominant_hz, tone_pcm

pytestmark = pytest.mark.django_db(transaction=True)

FRAME = 1280  # the browser's 40 ms frames
FADE_S = 0.05  # how much earlier than its last frame the detector may hear espeak's words end
USAGE = {
    "promptTokenCount": 522, "responseTokenCount": 42, "totalTokenCount": 564,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 332},
                            {"modality": "AUDIO", "tokenCount": 165}],
    "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 42}],
    "thoughtsTokenCount": 136,
}  # fmt: skip


def agent_voice(seconds: float) -> bytes:
    samples = np.random.default_rng(2).normal(0, 4000, int(seconds * 24_000))
    return samples.astype("<i2").tobytes()


@pytest.fixture
async def live(settings: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeLiveServer]:
    async with FakeLiveServer() as fake:
        settings.GEMINI_API_KEY = "test-key"
        settings.GEMINI_LIVE_URL = fake.url
        monkeypatch.setattr(
            live_client, "DEFAULT_RETRY", live_client.RetryPolicy(max_attempts=1, setup_timeout_s=3)
        )
        yield fake


@pytest.fixture
def asha(transactional_db: Any) -> Customer:
    return Customer.objects.create(user_id=101, name="Asha Verma", phone="+919800000101")


async def ended_call(call_id: str, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            call = await mongo.async_db().calls.find_one({"call_id": call_id})
            # The summary is scheduled once the outcome is written: this read may see the
            # outcome before the ending task got that far.
            if call and "outcome" in call and "summary" in call:
                await summary.pending()
                return await mongo.async_db().calls.find_one({"call_id": call_id}) or {}
            await asyncio.sleep(0.02)


async def say_in_real_time(call: BrowserCall, pcm: bytes) -> list[float]:
    """Send 40 ms frames on a fixed schedule, as a microphone does; when each was sent."""
    start = time.monotonic()
    sent = []
    for n, offset in enumerate(range(0, len(pcm), FRAME)):
        await asyncio.sleep(max(0.0, start + n * 0.04 - time.monotonic()))
        await call.communicator.send_to(bytes_data=pcm[offset : offset + FRAME])
        sent.append(time.monotonic())
    return sent


@pytest.fixture
def collector_paused() -> Iterator[None]:
    """The fake, the bridge and pytest share one process here: a full garbage collection of
    pytest's objects (tens of ms) would land inside the figures being checked."""
    with paused():
        yield


async def test_turn_latency_follows_the_live_apis_signals_and_counts_tool_time(
    asha: Customer, live: FakeLiveServer, collector_paused: None
) -> None:
    sent: dict[str, float] = {}  # when the script sent what (the bridge shares this clock)
    reply = agent_voice(0.4)

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.wait_for_audio(nbytes=FRAME)
        sent["end_of_speech"] = time.monotonic()
        await session.send({"voiceActivity": {"voiceActivityType": "ACTIVITY_END"}})
        # After the end: the bridge reads in order, so its caption on the page says the end
        # has been read.
        await session.send_transcript("user", "Where is my order?")
        await asyncio.sleep(0.15)  # the model thinks
        await session.send_tool_call([{"name": "check_order_status"}])
        await session.wait_for_tool_response()
        await asyncio.sleep(0.25)  # and answers
        sent["first_audio"] = time.monotonic()
        # Chunk by chunk as the model speaks. Sent in one go, the bridge could read the first
        # chunk only once the script had encoded and sent them all (it does not yield in
        # between): that time was in the figure (10-25 ms here, over 80 ms on a busy machine).
        await session.send_audio(reply, realtime=True)
        await session.send_transcript("agent", "It is on its way.")
        await session.send_turn_complete(usage=USAGE)

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.say(b"\x10\x00" * 640)
    await call.next_event("transcript")
    heard = {"end_of_speech": time.monotonic()}  # the bridge had read the end by then
    await call.wait_for_audio(nbytes=1)
    heard["first_audio"] = time.monotonic()
    await call.next_event("turn_complete")
    await call.leave()
    record = await ended_call(ready["call_id"])

    [turn] = record["turns"]
    assert turn["source"] == "live"
    tool_ms = record["tool_calls"][0]["ms"]
    scripted_ms = (sent["first_audio"] - sent["end_of_speech"]) * 1000
    assert scripted_ms >= 400  # 150 + 250 ms of scripted delays, plus the tool's round trip
    # The bridge timed each moment as it read it: after the script sent it, before the page
    # heard of it. Idle, the two bounds are a ms or two apart; a busy machine (one loop for the
    # fake, the bridge and the database client) puts its own delays between them, so the
    # bounds are what the script and the page saw, not a tolerance. Whole ms: 1 ms of rounding.
    earliest_ms = (sent["first_audio"] - heard["end_of_speech"]) * 1000
    latest_ms = (heard["first_audio"] - sent["end_of_speech"]) * 1000
    assert earliest_ms - 1 <= turn["first_audio_ms"] <= latest_ms + 1
    assert abs(turn["tools_ms"] - tool_ms) <= 3
    assert record["outcome"] == "resolved_info"
    assert record["duration_s"] >= 0.4
    assert record["usage"]["prompt_audio_token_count"] == 165
    assert record["cost"]["currency"] == "INR" and record["cost"]["amount"] == 17
    assert record["summary"]["source"] == "tool_results"  # no summary model in tests
    assert record["summary"]["text"] == "Information given: looked up the customer's orders."


async def test_a_turn_after_the_live_session_resumed_is_timed_from_where_the_customer_stopped(
    asha: Customer, live: FakeLiveServer, collector_paused: None
) -> None:
    """The audio the page sent while the session was being resumed is sent first on the new
    connection: its speech offsets count that audio too."""
    sent_at: list[float] = []  # when each of the page's 40 ms frames was sent
    script: dict[str, Any] = {}
    offset_s = 0.2  # where in the resumed connection's stream the customer stopped speaking

    async def first(session: FakeSession) -> None:
        await session.wait_for_audio(seconds=0.4, timeout=10)
        await session.send_resumption_update("handle-1")
        await asyncio.sleep(0.05)
        await session.drop()

    async def resumed(session: FakeSession) -> None:
        script["audio"] = await session.wait_for_audio(seconds=offset_s + 0.6, timeout=10)
        await session.send({"voiceActivity": {"voiceActivityType": "ACTIVITY_START",
                                              "audioOffset": "0s"}})  # fmt: skip
        await session.send({"voiceActivity": {"voiceActivityType": "ACTIVITY_END",
                                              "audioOffset": f"{offset_s}s"}})  # fmt: skip
        await asyncio.sleep(0.2)
        script["first_audio"] = time.monotonic()
        await session.send_audio(agent_voice(0.2))
        await session.send_turn_complete()

    def frame(n: int) -> bytes:  # frame `n`, recognisable by its constant value
        return np.full(FRAME // 2, 8 * (n + 1), "<i2").tobytes()

    live.on_session(first, resumed)
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    stop = asyncio.Event()

    async def microphone() -> None:
        start = time.monotonic()
        n = 0
        while not stop.is_set():
            await asyncio.sleep(max(0.0, start + n * 0.04 - time.monotonic()))
            await call.communicator.send_to(bytes_data=frame(n))
            sent_at.append(time.monotonic())
            n += 1

    mic = asyncio.create_task(microphone())
    await call.next_event("turn_complete", timeout=15)
    stop.set()
    await mic
    await call.send({"type": "end"})
    record = await ended_call(ready["call_id"])

    # Which of the page's frames the resumed connection had `offset_s` into its stream: that
    # sample arrived with its frame, whose audio ended as it arrived.
    audio = np.frombuffer(script["audio"], "<i2")
    index = round(offset_s * 16_000)
    value = int(audio[index])
    frame_start = index
    while frame_start > 0 and audio[frame_start - 1] == value:
        frame_start -= 1
    speech_end = sent_at[value // 8 - 1] - (frame_start + FRAME // 2 - index) / 16_000
    waited_ms = (script["first_audio"] - speech_end) * 1000

    [turn] = record["turns"]
    assert turn["source"] == "live"
    # The bridge reads the reply a few ms after the script sent it, and each frame a little
    # after the page sent it (tens of ms on a loaded machine). Counting from the wrong place
    # in the stream is off by whole frames: half a second here.
    assert waited_ms - 100 <= turn["first_audio_ms"] <= waited_ms + 100


async def test_without_live_signals_the_servers_detector_times_the_turn_and_the_call_is_recorded(
    asha: Customer, live: FakeLiveServer, sentence: bytes, settings: Any, collector_paused: None
) -> None:
    settings.RECORD_CALLS = True
    pause = b"\x00" * (FRAME * 15)  # 0.6 s of silence after the words
    lead_in = b"\x00" * (FRAME * 10)  # the caller listens for 0.4 s first
    words = lead_in + sentence + b"\x00" * (-len(sentence) % FRAME)  # ends on a frame edge
    reply_after_s = 0.2
    reply = agent_voice(1.0)
    script: dict[str, float] = {}  # when the fake had the words, and sent its reply

    @live.on_session
    async def agent(session: FakeSession) -> None:
        # The words' first two frames: espeak's first may fade in under the threshold.
        await session.wait_for_audio(nbytes=len(lead_in) + 2 * FRAME, timeout=10)
        script["had_their_start"] = time.monotonic()
        await session.wait_for_audio(nbytes=len(words), timeout=10)
        script["had_the_words"] = time.monotonic()  # the bridge timed them before passing on
        await session.wait_for_audio(nbytes=len(words) + len(pause), timeout=10)
        await asyncio.sleep(reply_after_s)
        script["first_audio"] = time.monotonic()
        await session.send_audio(reply)
        await session.send_turn_complete()

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    said = await say_in_real_time(call, words + pause)
    await call.wait_for_audio(nbytes=1)
    heard_first_audio = time.monotonic()
    await call.next_event("turn_complete")
    await say_in_real_time(call, b"\x00" * FRAME * 25)  # a second of quiet, then hang up
    await call.send({"type": "end"})
    record = await ended_call(ready["call_id"])

    [turn] = record["turns"]
    assert turn["source"] == "detector"
    # The script's figure is the pause and then the reply's delay. The bridge timed the words'
    # end as it read them, after the test sent them and before the fake had them, and the
    # reply as it read it, after the fake sent it and before the page heard it. Idle, those
    # bounds are the script's figure within a few ms; a busy machine (one loop for all of
    # them) widens them, as it delays what the bridge reads. The detector sees 40 ms frames,
    # and espeak's last syllable fades under its threshold (FADE_S earlier at most).
    words_sent = said[len(words) // FRAME - 1]
    earliest_ms = (script["first_audio"] - script["had_the_words"]) * 1000
    latest_ms = (heard_first_audio - words_sent + FADE_S) * 1000
    assert earliest_ms - 1 <= turn["first_audio_ms"] <= latest_ms + 1
    # How long she spoke, bounded alike: the detector dates speech from the start of its
    # first loud frame, a 40 ms one.
    words_start_sent = said[len(lead_in) // FRAME] - 0.04
    shortest_ms = (words_sent - FADE_S - (script["had_their_start"] - 0.04)) * 1000
    longest_ms = (script["had_the_words"] - words_start_sent) * 1000
    assert shortest_ms - 1 <= turn["user_ms"] <= longest_ms + 1

    decoded = decode(await sync_to_async(recording_bytes)(ready["call_id"]))
    duration = decoded.shape[1] / 48_000
    assert abs(duration - record["duration_s"]) <= 0.1
    words_s = len(words) / 32_000
    reply_s = words_s + len(pause) / 32_000 + reply_after_s  # when the agent's reply starts
    # The customer's words on the left while the agent is silent, then the reverse
    # (Opus leaks a little between the channels).
    left, right = loudness(decoded[0], 0.5, words_s - 0.2), loudness(decoded[1], 0.5, words_s - 0.2)
    assert left > 10 * right
    left, right = (
        loudness(decoded[0], reply_s + 0.1, reply_s + 0.9),
        loudness(decoded[1], reply_s + 0.1, reply_s + 0.9),
    )
    assert right > 10 * left


async def test_the_recording_lasts_as_long_as_the_call_whatever_its_closing_write_takes(
    asha: Customer, settings: Any
) -> None:
    """The recording starts where the record does and ends at its `ended_at`, not after the
    record's closing write, which a busy database can hold up."""
    settings.RECORD_CALLS = True
    clock = [50.0]
    wall0 = dt.datetime.now(dt.UTC)
    observer = CallObserver(call_id="CALL-span", channel="web", clock=lambda: clock[0])
    clock[0] += 0.3  # the record is written
    await observer.started(started_at=wall0 + dt.timedelta(seconds=0.3))
    for _ in range(50):  # two seconds of the caller
        clock[0] += 0.04
        observer.caller_audio(tone_pcm(300, 0.04, 16_000))
    clock[0] += 0.5  # the record's closing write waits on the database
    await observer.ended("caller_hung_up", ended_at=wall0 + dt.timedelta(seconds=2.3))

    decoded = decode(await sync_to_async(recording_bytes)("CALL-span"))
    assert decoded.shape[1] / 48_000 == pytest.approx(2.0, abs=0.03)


def the_database_refuses_the_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(self: store.RecordingWriter) -> None:  # the recordings' files insert
        raise PyMongoError("recordings.files: not primary")

    monkeypatch.setattr(store.RecordingWriter, "open", refused)


def libopus_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # What `voiceproject.E017` stops at start-up; a server started without the checks still
    # takes calls.
    def missing() -> None:
        raise opus.OpusError("libopus is not installed (Debian: apt-get install libopus0)")

    monkeypatch.setattr(opus, "libopus", missing)


@pytest.mark.parametrize("failure", [the_database_refuses_the_recording, libopus_is_missing])
async def test_a_call_whose_recording_cannot_start_goes_on_unrecorded(
    asha: Customer,
    live: FakeLiveServer,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Callable[[pytest.MonkeyPatch], None],
) -> None:
    settings.RECORD_CALLS = True
    failure(monkeypatch)

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_audio(agent_voice(0.2))
        await session.send_turn_complete()

    in_progress = metrics.CALLS_IN_PROGRESS.labels("web")
    before = in_progress._value.get()
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete")
    await call.leave()
    record = await ended_call(ready["call_id"])

    assert record["end_reason"] == "caller_left" and record["outcome"] == "abandoned"
    assert in_progress._value.get() == before
    assert await sync_to_async(store.find_recordings)(ready["call_id"]) == []
    assert f"call {ready['call_id']}: not recorded" in caplog.text


def recording_bytes(call_id: str) -> bytes:
    grid = store.open_recording(call_id)
    assert grid is not None, "no recording"
    return grid.read()


def decode(ogg: bytes) -> np.ndarray[Any, np.dtype[np.float32]]:
    with av.open(io.BytesIO(ogg), "r") as container:
        frames = [f.to_ndarray() for f in container.decode(audio=0)]
    planar = np.concatenate(frames, axis=1) if frames[0].shape[0] == 2 else None
    if planar is None:  # interleaved
        planar = np.concatenate([f.reshape(-1, 2).T for f in frames], axis=1)
    return planar.astype(np.float32)


def loudness(channel: np.ndarray[Any, np.dtype[np.float32]], start_s: float, end_s: float) -> float:
    part = channel[int(start_s * 48_000) : int(end_s * 48_000)]
    return float(np.sqrt(np.mean(part**2)))


async def test_metrics_refuse_without_the_token_and_count_the_call(
    asha: Customer, live: FakeLiveServer, settings: Any
) -> None:
    settings.METRICS_TOKEN = "scrape-me"
    client = AsyncClient()
    assert (await client.get("/metrics")).status_code == 401
    assert (
        await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    ).status_code == 401

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send({"voiceActivity": {"voiceActivityType": "ACTIVITY_END"}})
        await session.send_audio(agent_voice(0.2))
        await session.send_turn_complete()

    in_progress = metrics.CALLS_IN_PROGRESS.labels("web")
    before = in_progress._value.get()
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    await call.next_event("turn_complete")
    during = in_progress._value.get()
    await call.leave()
    await ended_call(ready["call_id"])

    response = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert response.status_code == 200
    text = response.content.decode()
    assert 'voice_calls_ended_total{channel="web",outcome="abandoned"}' in text
    assert (during, in_progress._value.get()) == (before + 1, before)
    assert 'voice_calls_in_progress{channel="web"}' in text
    assert "voice_turn_latency_seconds_count" in text


async def test_metrics_are_not_there_until_a_token_or_a_network_is_set(settings: Any) -> None:
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []
    response = await AsyncClient().get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404
    # Anything but a scrape is not allowed here, off or on: not a form missing its CSRF token.
    posted = await AsyncClient(enforce_csrf_checks=True).post("/metrics")
    assert posted.status_code == 405


def test_metrics_answer_a_scraper_in_an_allowed_network_without_a_token(settings: Any) -> None:
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", ["10.0.0.0/8"]
    inside = Client(REMOTE_ADDR="10.1.2.3").get("/metrics")
    outside = Client(REMOTE_ADDR="192.0.2.7").get("/metrics")
    assert inside.status_code == 200 and b"voice_calls_in_progress" in inside.content
    assert outside.status_code == 401


def test_a_scraper_in_an_allowed_network_is_known_by_its_v4_address_on_a_v6_socket(
    settings: Any,
) -> None:
    """Served on `::` (HOST=::), a v4 peer's address reads ::ffff:a.b.c.d."""
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", ["10.0.0.0/8"]
    inside = Client(REMOTE_ADDR="::ffff:10.1.2.3").get("/metrics")
    outside = Client(REMOTE_ADDR="::ffff:192.0.2.7").get("/metrics")
    assert (inside.status_code, outside.status_code) == (200, 401)


@override_settings(SECURE_SSL_REDIRECT=True, METRICS_TOKEN="scrape-me",
                   ALLOWED_HOSTS=["voice.example.com", "10.0.0.7"])  # fmt: skip
def test_a_scraper_reaching_a_worker_directly_over_plain_http_gets_its_metrics() -> None:
    """Each process reports itself (no PROMETHEUS_MULTIPROC_DIR across containers or Cloud Run
    instances), so a scraper asks each worker, inside the deployment, where nothing speaks TLS:
    not redirected to an https address nothing serves."""
    scraper = Client(HTTP_HOST="10.0.0.7:8000", REMOTE_ADDR="10.0.0.9")

    scraped = scraper.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    page = scraper.get("/staff/")

    assert scraped.status_code == 200 and b"voice_calls_in_progress" in scraped.content
    assert page.status_code == 301  # the rest still goes to https


async def scraped_from(peer: str, forwarded_for: str | None = None) -> int:
    """GET /metrics through the whole ASGI application as daphne serves it, from `peer`, with
    the X-Forwarded-For a proxy would have written (None: straight to the worker)."""
    headers = [(b"host", b"10.0.0.7")]
    if forwarded_for is not None:
        headers.append((b"x-forwarded-for", forwarded_for.encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/metrics", "raw_path": b"/metrics", "root_path": "",
        "query_string": b"", "client": (peer, 41000), "server": ("10.0.0.7", 8000),
        "headers": headers,
    }  # fmt: skip
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(10)
    while (await communicator.receive_output(10)).get("more_body"):
        pass
    return int(start["status"])


@override_settings(TRUSTED_PROXY_COUNT=1, METRICS_TOKEN="", ALLOWED_HOSTS=["10.0.0.7"],
                   METRICS_ALLOWED_NETWORKS=["10.0.0.0/8"])  # fmt: skip
async def test_an_allowed_network_holds_the_balancers_client_or_whoever_asked_straight() -> None:
    """Behind a balancer (TRUSTED_PROXY_COUNT=1) the client is the one the balancer vouches
    for; a scraper asking a worker straight has no balancer to vouch: its own connection
    is the address. The balancer's own address, inside the network too, opens nothing."""
    assert await scraped_from("10.0.0.9") == 200  # straight from inside
    assert await scraped_from("192.0.2.7") == 401  # straight from outside
    assert await scraped_from("10.0.0.2", forwarded_for="10.0.0.9") == 200  # via the balancer
    assert await scraped_from("10.0.0.2", forwarded_for="192.0.2.7") == 401


async def test_metrics_refuse_a_token_that_is_not_ascii(settings: Any) -> None:
    settings.METRICS_TOKEN = "scrape-me"
    response = await AsyncClient().get("/metrics", headers={"Authorization": "Bearer scrapé-me"})
    assert response.status_code == 401


def test_a_tool_the_model_made_up_is_timed_under_one_label(settings: Any) -> None:
    """Labels are series the metrics keep for good: names a model invents must not add any."""
    settings.RECORD_CALLS = False
    observer = CallObserver(call_id="CALL-tools", channel="web")
    unknown = metrics.TOOL_SECONDS.labels("unknown", "false")
    before = unknown._sum.get()

    observer.tool_finished("check_order_status", 12, True)
    observer.tool_finished("drop_database_please", 3, False)

    assert unknown._sum.get() == pytest.approx(before + 0.003)
    assert "drop_database_please" not in metrics.render()[0].decode()


# --- a colleague on the call -----------------------------------------------------------------


def pitch_between(channel: np.ndarray[Any, np.dtype[np.float32]], start_s: float,
                  end_s: float) -> float:  # fmt: skip
    """The strongest frequency in a decoded channel (48 kHz) from `start_s` to `end_s`."""
    return dominant_hz(channel[int(start_s * 48_000) : int(end_s * 48_000)], 48_000)


async def test_a_colleague_who_takes_the_call_over_is_heard_on_the_agents_side_of_the_recording(
    asha: Customer, live: FakeLiveServer, groups: Any,  # noqa: F811  (fixture by name)
    settings: Any, collector_paused: None,
) -> None:
    """Both sides of a take-over, each on its own channel, at the time it was said; the
    customer's words still recorded while the model hears none of them; the call ends as a
    transfer, once."""
    settings.RECORD_CALLS = True
    transferred = metrics.CALLS_ENDED.labels("web", "transferred")
    before = transferred._value.get()
    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    call_id = ready["call_id"]
    await live.wait_for_session()
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.take_over()
    await call.next_event("agent_changed")

    await arjun.speak(tone_pcm(880, 1.0, 16_000))  # "Hello Asha, this is Arjun", at once
    # She listens, then answers.
    await say_in_real_time(call, b"\x00" * 48_000 + tone_pcm(440, 1.0, 16_000))
    await say_in_real_time(call, b"\x00" * 16_000)
    await call.send({"type": "end"})
    record = await ended_call(call_id)
    await arjun.leave()

    decoded = decode(await sync_to_async(recording_bytes)(call_id))
    assert abs(decoded.shape[1] / 48_000 - record["duration_s"]) <= 0.1
    # Where the take-over falls in the recording, as the call page lines the two up.
    [part] = await sync_to_async(store.find_recordings)(call_id)
    took = next(e["at"] for e in record["staff_events"] if e["kind"] == "take_over")
    held_from = (took - part["metadata"]["started_at"]).total_seconds()
    arjun_s, asha_s = held_from + 0.15, held_from + 1.5 + 0.2
    assert pitch_between(decoded[1], arjun_s, arjun_s + 0.6) == pytest.approx(880, abs=10)
    assert loudness(decoded[1], arjun_s, arjun_s + 0.6) > 10 * loudness(
        decoded[0], arjun_s, arjun_s + 0.6)  # fmt: skip
    assert pitch_between(decoded[0], asha_s, asha_s + 0.6) == pytest.approx(440, abs=10)
    assert record["outcome"] == "transferred"
    assert transferred._value.get() == before + 1


async def test_a_message_typed_to_a_colleague_is_no_turn_of_the_agents(
    asha: Customer, live: FakeLiveServer, groups: Any,  # noqa: F811  (fixture by name)
    collector_paused: None,
) -> None:
    """Asha types while Arjun holds the call, and neither says a word before he hands it
    back: the agent's answer after the hand-back was timed from her message, the whole hold
    counted as the agent keeping her waiting."""
    @live.on_session
    async def agent(session: FakeSession) -> None:
        while "Refund done." not in await session.wait_for_note(timeout=10):
            pass  # the greeting
        await session.send_audio(agent_voice(0.5))  # on with the customer
        await session.send_turn_complete()

    call = await BrowserCall.open()
    call_id = (await call.next_event("ready"))["call_id"]
    await live.wait_for_session()
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.take_over()
    await call.send({"type": "text", "text": "Is it sorted?"})  # to Arjun, who reads it
    await asyncio.sleep(1.5)  # he looks it up, saying nothing
    await arjun.send({"type": "hand_back", "note": "Refund done."})
    await call.wait_for_audio(nbytes=1)
    await call.send({"type": "end"})
    record = await ended_call(call_id)
    await arjun.leave()

    assert [turn for turn in record["turns"] if (turn["first_audio_ms"] or 0) >= 1000] == []


async def test_a_colleague_taking_over_mid_answer_is_recorded_where_they_spoke(
    asha: Customer, live: FakeLiveServer, groups: Any,  # noqa: F811  (fixture by name)
    settings: Any, collector_paused: None,
) -> None:
    """The model sends its answer faster than it is played; what the customer had not heard
    when a colleague took over was dropped, so it is not on the recording either: the
    colleague's words are where they said them, not seconds later after the unheard answer."""
    settings.RECORD_CALLS = True

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_audio(agent_voice(5.0))  # all at once: 5 s to play

    call = await BrowserCall.open()
    ready = await call.next_event("ready")
    call_id = ready["call_id"]
    await call.wait_for_audio(nbytes=1)
    await asyncio.sleep(0.5)  # half a second of the answer heard
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.take_over()
    await arjun.speak(tone_pcm(880, 1.0, 16_000))  # at once
    await say_in_real_time(call, b"\x00" * 64_000)  # she listens for two seconds
    await call.send({"type": "end"})
    record = await ended_call(call_id)
    await arjun.leave()

    decoded = decode(await sync_to_async(recording_bytes)(call_id))
    [part] = await sync_to_async(store.find_recordings)(call_id)
    took = next(e["at"] for e in record["staff_events"] if e["kind"] == "take_over")
    held_from = (took - part["metadata"]["started_at"]).total_seconds()
    arjun_s = held_from + 0.15
    assert pitch_between(decoded[1], arjun_s, arjun_s + 0.6) == pytest.approx(880, abs=10)
    # After his words, nothing on the agent's side: the rest of the model's answer is gone.
    after_s = held_from + 1.3
    assert loudness(decoded[1], after_s, after_s + 0.5) < loudness(
        decoded[1], arjun_s, arjun_s + 0.6) / 20  # fmt: skip


async def test_a_take_over_on_a_quiet_line_cuts_the_unheard_answer_from_the_recording(
    asha: Customer, live: FakeLiveServer, groups: Any,  # noqa: F811  (fixture by name)
    settings: Any, collector_paused: None,
) -> None:
    """Nobody says anything for a while after the take-over (her page sends nothing while she
    is quiet, his microphone is still opening): the answer the customer never heard is cut at
    the take-over all the same, not kept until the first voice after it."""
    settings.RECORD_CALLS = True

    @live.on_session
    async def agent(session: FakeSession) -> None:
        await session.send_audio(agent_voice(5.0))  # all at once: 5 s to play

    call = await BrowserCall.open()
    call_id = (await call.next_event("ready"))["call_id"]
    await call.wait_for_audio(nbytes=1)
    await asyncio.sleep(0.5)  # half a second of the answer heard
    arjun = await StaffPage.open(call_id, "arjun", LEAD_GROUP, "Arjun")
    await arjun.next_event("state")
    await arjun.take_over()
    await call.next_event("agent_changed")
    await asyncio.sleep(2.0)  # a quiet line: neither of them says anything
    await call.send({"type": "end"})
    record = await ended_call(call_id)
    await arjun.leave()

    decoded = decode(await sync_to_async(recording_bytes)(call_id))
    [part] = await sync_to_async(store.find_recordings)(call_id)
    took = next(e["at"] for e in record["staff_events"] if e["kind"] == "take_over")
    held_from = (took - part["metadata"]["started_at"]).total_seconds()
    heard = loudness(decoded[1], held_from - 0.4, held_from - 0.1)
    assert heard > 0  # the answer, as she heard it
    assert loudness(decoded[1], held_from + 0.3, held_from + 1.8) < heard / 20
