"""Redis as the layer between processes: the settings that select it, and sends that never
crash their caller (voiceproject/messaging.py), against a real redis-server; and the back
office while the cache's Redis is away (voiceproject/cache.py, voiceproject/sessions.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer
from daphne.cli import CommandLineInterface
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client

from support.models import Customer
from voiceproject import channel_layer, messaging
from voiceproject.embedded_db import free_port
from voiceproject.messaging import send_to_channel, send_to_group
from voiceproject.redis_server import LocalRedis
from voiceproject.settings import (
    BASE_DIR,
    CACHED_SESSION_ENGINE,
    REDIS_CACHE_BACKEND,
    redis_channel_layer,
)

SETTINGS_PRINTER = (
    "import json; from django.conf import settings; "
    "print(json.dumps({'layer': settings.CHANNEL_LAYERS['default'], "
    "'cache': settings.CACHES['default']}))"
)


REDIS_VARIABLES = {"CHANNEL_LAYERS_URL", "REDIS_URL", "VOICE_WORKERS"}


def settings_with(**env: str) -> dict[str, Any]:
    """The channel layer and cache a process gets from the test environment plus `env`, without
    any other Redis variable (a fresh interpreter: settings are read once, at start)."""
    inherited = {k: v for k, v in os.environ.items() if k not in REDIS_VARIABLES}
    result = subprocess.run(
        [sys.executable, "-c", SETTINGS_PRINTER],
        env={**inherited, "DJANGO_SETTINGS_MODULE": "voiceproject.tests.settings", **env},
        cwd=BASE_DIR, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(result.stdout))


def test_redis_urls_select_the_tuned_channel_layer_and_djangos_redis_cache() -> None:
    chosen = settings_with(
        CHANNEL_LAYERS_URL="redis://redis.internal:6379/0",
        REDIS_URL="redis://redis.internal:6379/1?socket_timeout=5",
    )

    layer, cache = chosen["layer"], chosen["cache"]
    assert layer["BACKEND"] == "voiceproject.channel_layer.SteadyRedisChannelLayer"
    assert layer["CONFIG"]["hosts"] == [
        {"address": "redis://redis.internal:6379/0", "socket_timeout": 10,
         "socket_connect_timeout": 2}
    ]  # fmt: skip
    assert (layer["CONFIG"]["capacity"], layer["CONFIG"]["expiry"]) == (1000, 10)
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == "redis://redis.internal:6379/1"
    # Our short connect timeout, and the URL's own option winning over our default.
    assert cache["OPTIONS"] == {"socket_connect_timeout": 2, "socket_timeout": 5}


def test_without_redis_urls_one_process_keeps_everything_in_memory() -> None:
    chosen = settings_with()

    assert chosen["layer"] == {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    assert chosen["cache"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


def test_group_memberships_outlive_daphnes_longest_websocket() -> None:
    chosen = settings_with(CHANNEL_LAYERS_URL="redis://redis.internal:6379/0")
    daphne_defaults = CommandLineInterface().parser.parse_args(["voiceproject.asgi:application"])

    assert chosen["layer"]["CONFIG"]["group_expiry"] >= daphne_defaults.websocket_timeout


def test_the_redis_cache_counts_in_redis(redis_server: LocalRedis, settings: Any) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_server.url(1),
        },
    }
    shared = caches["shared"]

    shared.add("login-fail:demo", 0, 60)
    shared.incr("login-fail:demo")
    shared.incr("login-fail:demo")

    assert shared.get("login-fail:demo") == 2
    with redis.Redis.from_url(redis_server.url(1)) as direct:
        assert any(b"login-fail:demo" in key for key in direct.scan_iter("*login-fail*"))


# --- Sends that never crash the sender ------------------------------------------------------


@pytest.fixture
async def redis_layer(redis_server: LocalRedis, settings: Any) -> AsyncIterator[BaseChannelLayer]:
    """The real RedisChannelLayer as configured for production, with room for only three
    unread messages per channel."""
    config = redis_channel_layer([redis_server.url(0)])
    config["CONFIG"]["capacity"] = 3
    settings.CHANNEL_LAYERS = {"default": config}
    layer = get_channel_layer()
    assert layer is not None
    yield layer
    await layer.close_pools()  # type: ignore[attr-defined]


@pytest.fixture
def unreachable_layer(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }


async def fill(layer: BaseChannelLayer, channel: str) -> None:
    for n in range(3):
        await layer.send(channel, {"type": "staff.whisper", "n": n})


async def test_a_message_reaches_another_consumer_through_redis(
    redis_layer: BaseChannelLayer,
) -> None:
    channel = await redis_layer.new_channel()

    assert await send_to_channel(channel, {"type": "staff.whisper", "text": "offer a voucher"})

    received = await asyncio.wait_for(redis_layer.receive(channel), 5)
    assert received == {"type": "staff.whisper", "text": "offer a voucher"}


async def test_a_consumer_idle_for_longer_than_redis_reads_may_take_keeps_waiting(
    redis_layer: BaseChannelLayer,
) -> None:
    # A staff queue page waits for minutes between escalations: its consumer blocks in the
    # layer's receive(), one 5 s blocking pop after another, which must not time out.
    channel = await redis_layer.new_channel()
    waiting = asyncio.create_task(redis_layer.receive(channel))
    await asyncio.sleep(6)
    assert not waiting.done()

    await send_to_channel(channel, {"type": "escalation.opened"})

    assert (await asyncio.wait_for(waiting, 5)) == {"type": "escalation.opened"}


async def test_a_channel_nobody_reads_drops_the_message_and_says_so_once(
    redis_layer: BaseChannelLayer, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await redis_layer.new_channel()
    await fill(redis_layer, channel)

    with caplog.at_level(logging.WARNING, logger="voiceproject.messaging"):
        first = await send_to_channel(channel, {"type": "staff.end_call"}, patience_s=0.2)
        second = await send_to_channel(channel, {"type": "staff.end_call"}, patience_s=0)

    assert (first, second) == (False, False)
    [warning] = caplog.records
    assert channel in warning.getMessage() and "full" in warning.getMessage()


async def test_a_full_channel_whose_reader_catches_up_gets_the_message(
    redis_layer: BaseChannelLayer,
) -> None:
    channel = await redis_layer.new_channel()
    await fill(redis_layer, channel)

    async def reader_back_after_a_pause() -> list[dict[str, Any]]:
        await asyncio.sleep(0.2)
        return [await redis_layer.receive(channel) for _ in range(4)]

    reader = asyncio.create_task(reader_back_after_a_pause())
    delivered = await send_to_channel(channel, {"type": "staff.take_over"}, patience_s=2)

    assert delivered
    received = await asyncio.wait_for(reader, 5)
    assert received[-1] == {"type": "staff.take_over"}


async def test_audio_for_a_stalled_reader_is_dropped_at_once(
    redis_layer: BaseChannelLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = await redis_layer.new_channel()
    await fill(redis_layer, channel)
    tries: list[str] = []
    send = redis_layer.send

    async def counted_send(to: str, message: dict[str, Any]) -> None:
        tries.append(to)
        await send(to, message)

    # "At once" is one try and no retry, counted rather than timed: a Redis round trip on a
    # loaded CI machine can take longer than any bound that would tell a retry apart.
    monkeypatch.setattr(redis_layer, "send", counted_send)
    delivered = await send_to_channel(channel, {"type": "call.audio", "pcm": b"\x00" * 640},
                                      patience_s=0)  # fmt: skip

    assert not delivered
    assert tries == [channel]


async def test_an_unreachable_redis_loses_the_message_not_the_sender(
    unreachable_layer: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="voiceproject.messaging"):
        to_channel = await send_to_channel("call.c-1", {"type": "staff.whisper"}, patience_s=0.3)
        to_group = await send_to_group("escalations", {"type": "escalation.opened"},
                                       patience_s=0.3)  # fmt: skip

    assert (to_channel, to_group) == (False, False)
    assert [r.getMessage().split(" dropped")[0] for r in caplog.records] == [
        "channel layer: 1 message(s) to call.c-1",
        "channel layer: 1 message(s) to group escalations",
    ]


async def test_a_send_to_a_stalled_redis_is_dropped_and_the_log_says_it_timed_out(
    redis_layer: BaseChannelLayer, redis_server: LocalRedis, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await redis_layer.new_channel()
    assert redis_server.process is not None
    redis_server.process.send_signal(signal.SIGSTOP)
    try:
        with caplog.at_level(logging.WARNING, logger="voiceproject.messaging"):
            delivered = await send_to_channel(channel, {"type": "staff.whisper"}, patience_s=0.3)
    finally:
        redis_server.process.send_signal(signal.SIGCONT)

    assert delivered is False
    [warning] = caplog.records
    assert warning.getMessage().endswith("dropped: TimeoutError (Redis did not answer in time)")


async def test_a_group_message_reaches_every_member(redis_layer: BaseChannelLayer) -> None:
    pages = [await redis_layer.new_channel() for _ in range(2)]
    for page in pages:
        await redis_layer.group_add("escalations", page)

    assert await send_to_group("escalations", {"type": "escalation.opened", "ticket": {}})

    for page in pages:
        message = await asyncio.wait_for(redis_layer.receive(page), 5)
        assert message["type"] == "escalation.opened"


@pytest.mark.parametrize("channel", ["staff-actions", None], ids=["named", "a process's own"])
async def test_a_send_in_one_round_trip_keeps_channels_redis_rules(
    redis_layer: BaseChannelLayer, redis_server: LocalRedis, channel: str | None
) -> None:
    """voiceproject/channel_layer.py sends with one script what channels_redis sends with four
    commands: a message older than the layer's expiry is dropped, the channel's key expires
    with it, a full channel refuses, and the reader gets every message in order."""
    redis_layer.expiry = 60
    channel = channel or await redis_layer.new_channel()
    await redis_layer.send(channel, {"type": "staff.whisper", "text": "stale"})
    client = redis.Redis.from_url(redis_server.url(0))
    [key] = client.keys("*staff-actions*" if "!" not in channel else "*specific*")
    # Sent two expiries ago, as far as Redis knows (a message is dated by its score). Not
    # waited for: an expiry short enough to wait out lets the key itself expire between the
    # sends and the reads below whenever a busy machine stalls the test for a second.
    [stale] = client.zrange(key, 0, -1)
    assert isinstance(stale, bytes)
    client.zadd(key, {stale: time.time() - 2 * redis_layer.expiry}, xx=True)
    client.persist(key)  # each send below gives the key its expiry again

    sent = [{"type": "staff.whisper", "text": text} for text in ("one", "two", "three")]
    for message in sent:
        await redis_layer.send(channel, message)
    with pytest.raises(ChannelFull):
        await redis_layer.send(channel, {"type": "staff.whisper", "text": "four"})

    assert redis_layer.expiry - 10 < client.ttl(key) <= redis_layer.expiry
    received = [await asyncio.wait_for(redis_layer.receive(channel), 5) for _ in sent]
    assert received == sent


async def test_a_send_and_a_read_of_a_waiting_message_take_one_round_trip_each(
    redis_layer: BaseChannelLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the layer is for: channels_redis takes four round trips for each."""
    round_trips: list[str] = []
    execute = redis.asyncio.Redis.execute_command

    async def counted(client: Any, *args: Any, **options: Any) -> Any:
        round_trips.append(str(args[0]))
        return await execute(client, *args, **options)

    monkeypatch.setattr(redis.asyncio.Redis, "execute_command", counted)
    channel = await redis_layer.new_channel()

    await redis_layer.send(channel, {"type": "staff.whisper", "text": "offer a voucher"})
    sent, round_trips[:] = list(round_trips), []
    received = await asyncio.wait_for(redis_layer.receive(channel), 5)

    assert received == {"type": "staff.whisper", "text": "offer a voucher"}
    assert (sent, round_trips) == (["EVAL"], ["EVAL"])


async def test_a_message_whose_read_lost_its_answer_comes_next_and_none_comes_twice(
    redis_layer: BaseChannelLayer, redis_server: LocalRedis
) -> None:
    """A process's own channel is read in one round trip that keeps the message in flight
    until the next read (voiceproject/channel_layer.py). A read cancelled while Redis's answer
    was on the way (a page closing) must not lose the message it took, for another consumer of
    the process, and what was delivered must not come again."""
    layer: Any = redis_layer
    channel = await layer.new_channel()
    messages = [{"type": "staff.whisper", "n": n} for n in range(3)]
    for message in messages[:2]:
        await layer.send(channel, message)
    assert await layer.receive(channel) == messages[0]  # taken while the next one waited

    # A read whose answer never arrived: Redis ran it and took the next message, this process
    # never saw it (and still names the first one, delivered, for Redis to forget).
    key = layer.prefix + layer.non_local_name(channel)
    delivered = layer._delivered[key]
    redis.Redis.from_url(redis_server.url(0)).eval(
        channel_layer._TAKE, 2, key, layer._backup_channel_name(key), delivered, 10
    )  # fmt: skip
    await layer.send(channel, messages[2])

    received = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(2)]
    assert received == messages[1:]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.5)


def test_drops_are_logged_at_most_every_few_seconds_per_target(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(messaging.time, "monotonic", lambda: clock[0])
    drops = messaging._DropLog()

    with caplog.at_level(logging.WARNING, logger="voiceproject.messaging"):
        for _ in range(5):
            drops.dropped("call.c-2", OSError("refused"))
        clock[0] += messaging.LOG_EVERY_S
        drops.dropped("call.c-2", OSError("refused"))

    assert [r.getMessage() for r in caplog.records] == [
        "channel layer: 1 message(s) to call.c-2 dropped: refused",
        "channel layer: 5 message(s) to call.c-2 dropped: refused",
    ]


def test_the_drop_log_forgets_targets_long_quiet_so_it_does_not_grow_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A group per call: while Redis is away for hours, each call adds a target."""
    clock = [1000.0]
    monkeypatch.setattr(messaging.time, "monotonic", lambda: clock[0])
    drops = messaging._DropLog()

    for n in range(3 * messaging.TARGETS_KEPT):
        drops.dropped(f"live-call.CALL-{n}", OSError("refused"))
        clock[0] += 0.1

    assert len(drops._pending) <= messaging.TARGETS_KEPT + 1


# --- The back office while the cache's Redis is away ------------------------------------------


@pytest.fixture
def cache_away(settings: Any) -> None:
    """Production's cache and sessions on a Redis that refuses every connection."""
    settings.CACHES = {"default": {
        "BACKEND": REDIS_CACHE_BACKEND, "LOCATION": f"redis://127.0.0.1:{free_port()}/1",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }}  # fmt: skip
    settings.SESSION_ENGINE = CACHED_SESSION_ENGINE


@pytest.mark.django_db
def test_a_signed_in_lead_keeps_working_while_the_caches_redis_is_away(cache_away: None) -> None:
    lead = User.objects.create_superuser("arjun", "arjun@example.com", "not-used")
    client = Client()
    client.force_login(lead)  # the session is in the database, whatever the cache says

    paths = ("/staff/", "/staff/calls/", "/admin/support/call/")
    pages = {path: client.get(path).status_code for path in paths}
    signed_out = client.post("/admin/logout/")

    assert pages == dict.fromkeys(paths, 200)
    assert signed_out.status_code == 200
    assert client.get("/staff/").status_code == 302  # to the login page: signed out for good


@pytest.mark.django_db
def test_signing_in_while_the_caches_redis_is_away_is_refused_for_a_moment_not_an_error(
    cache_away: None,
) -> None:
    User.objects.create_user("arjun", password="correct horse battery staple", is_staff=True)

    page = Client().post("/admin/login/?next=/staff/", {
        "username": "arjun", "password": "correct horse battery staple",
    })  # fmt: skip

    assert page.status_code == 200
    assert "Signing in is unavailable for a moment" in page.content.decode()


@pytest.mark.django_db
def test_tokens_are_minted_while_the_caches_redis_is_away(cache_away: None, settings: Any) -> None:
    """The counts per address (voiceproject/rate_limits.py) skip a Redis that is away: customers
    can still start calls."""
    settings.VOICE_DEMO_MODE = True  # counted as a guess would be, and as a mint
    Customer.objects.create(user_id=7, name="Asha Rao", phone="+919800000007")

    minted = Client().post(
        "/api/voice/sessions", data='{"user_id": 7}', content_type="application/json"
    )

    assert minted.status_code == 200 and minted.json()["token"]


async def test_a_receive_whose_cancellation_redis_turned_into_a_timeout_still_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read cancelled as Redis's client timeout fires comes back as TimeoutError (the
    cancellation swallowed on the way): the layer takes that for Redis away and would retry
    for ever, so a process channel being stopped (a worker shutting down) never stopped."""
    layer = channel_layer.SteadyRedisChannelLayer(hosts=["redis://127.0.0.1:1/0"])

    async def read_then_time_out(self: Any, channel: str) -> dict[str, Any]:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise TimeoutError from None  # as a client-side timeout racing the cancel does
        return {}

    monkeypatch.setattr(channel_layer.RedisChannelLayer, "receive", read_then_time_out)
    reading = asyncio.create_task(layer.receive("specific.x!y"))
    await asyncio.sleep(0.05)
    reading.cancel()

    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await reading
