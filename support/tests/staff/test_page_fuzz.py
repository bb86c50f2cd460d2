"""A bounded fuzz of the back office over HTTP: every staff and admin route, read with hostile
query strings and path parts, and posted hostile forms, by a superuser (who reaches every
page). No answer is a server error (500).

Routes come from the URLconf, so a new page is fuzzed from the day it exists. Values come from
the tests' hostile frames and from edges of what the pages parse: numbers past 64 bits or of
thousands of digits, impossible dates, money that Decimal cannot hold, lone surrogates sent
as the invalid UTF-8 a hostile client would send. Path parts are sometimes real ids, to reach
the code behind them. Seconds in CI; `PAGE_FUZZ_REQUESTS=4000 PAGE_FUZZ_SEED=...` for a long
run (about a minute). A failure prints its seed.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from realtime.tests.hostile_frames import nasty
from support.models import Escalation
from support.tests.staff.conftest import client_for, make_complaint

pytestmark = pytest.mark.django_db

REQUESTS = int(os.environ.get("PAGE_FUZZ_REQUESTS", "400"))
SEED = int(os.environ.get("PAGE_FUZZ_SEED", "20261206"))

EDGES = [
    "9" * 5000, "0" * 5000 + "2", "18446744073709551616", "-9223372036854775809", "-1", "0",
    "1e999999", "1e-999999999", "NaN", "-Infinity", "9999-99-99", "0001-01-01", "9999-12-31",
    "10000-01-01", "2026-02-30", "2026-12-06T25:00", "%", "%%", "..", "../", "?", "&", "#",
    "[", "(", "*", ".*", "\\", "١٢٣", "²", "on", "1", "true", "[]", "{}", "null",
]  # fmt: skip
# Query parameters the staff pages and the admin's lists read.
PARAMETERS = [
    "page", "q", "since", "until", "customer", "customer_id", "channel", "outcome", "end_reason",
    "mine", "rows", "status", "o", "p", "e", "all", "_changelist_filters", "_to_field", "_popup",
    "status__exact", "priority__exact", "created_at__gte", "started_at__lt", "tier",
]  # fmt: skip
SKIPPED = re.compile(r"logout|password|jsi18n")  # would sign the fuzzing superuser out


def hostile(rng: random.Random) -> str:
    return rng.choice(EDGES) if rng.random() < 0.6 else str(nasty(rng))


def encoded(text: str) -> str:
    """Percent-encoded as bytes: a lone surrogate becomes the invalid UTF-8 a client may send."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[str]:
    """Every route of the URLconf as written (`staff/tickets/<str:ticket_id>/`)."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and not route.startswith("^"):  # not a regex route
            yield route


def fill(route: str, rng: random.Random, real_ids: list[str]) -> str:
    def part(match: re.Match[str]) -> str:
        if match[1] == "int":
            return rng.choice(["1", "301", "9" * 30, "9" * 5000, "0" * 40])
        return encoded(rng.choice(real_ids) if rng.random() < 0.4 else hostile(rng))

    return "/" + re.sub(r"<(?:(\w+):)?\w+>", part, route)


def form_fields(body: str) -> set[str]:
    return set(re.findall(r'name="([^"]+)"', body)) - {"csrfmiddlewaretoken"}


@pytest.fixture
def everything(priya_ticket: Escalation) -> list[str]:
    """A customer with an order, a call and a ticket, a complaint, and the ids of one of each
    record the admin lists, to put in paths."""
    make_complaint("CMP-AAAAAA", customer=priya_ticket.customer)
    ids = ["301", "TKT-AAAAAA", "call-priya-1", "ORD-3001", "CMP-AAAAAA"]
    for model in admin.site._registry:
        first = model._default_manager.order_by().first()
        if first is not None:
            ids.append(str(first.pk))
    return ids


def test_no_staff_or_admin_page_answers_hostile_input_with_a_server_error(
    arjun: User, everything: list[str]
) -> None:
    arjun.is_superuser = True
    arjun.save()
    client: Client = client_for(arjun)
    client.raise_request_exception = False
    rng = random.Random(SEED)
    every_route = [route for route in routes() if not SKIPPED.search(route)]
    fields_seen = {"note", "text", "amount", "reason", "order_id", "assignee", "kind"}
    errors: list[str] = []
    for _ in range(REQUESTS):
        url = fill(rng.choice(every_route), rng, everything)
        if rng.random() < 0.5:
            query = "&".join(f"{name}={encoded(hostile(rng))}"
                             for name in rng.sample(PARAMETERS, rng.randrange(1, 4)))  # fmt: skip
            response = client.get(f"{url}?{query}")
            if response.status_code == 200 and not response.streaming:
                fields_seen |= form_fields(response.content.decode(errors="replace"))
            sent = query
        else:
            names = rng.sample(sorted(fields_seen), min(len(fields_seen), rng.randrange(1, 8)))
            sent = "&".join(f"{encoded(name)}={encoded(hostile(rng))}" for name in names)
            response = client.generic("POST", url, sent, "application/x-www-form-urlencoded")
        if response.status_code == 500:  # 503 is said on purpose (Twilio not configured)
            errors.append(f"{response.request['REQUEST_METHOD']} {url[:120]} {sent[:200]}")
    assert not errors, f"server errors (PAGE_FUZZ_SEED={SEED}):\n" + "\n".join(errors[:20])
