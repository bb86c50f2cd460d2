"""Asha's callback, dialled by Arjun and answered, for the callback browser tests: Twilio's
side of her answer, over a real daphne, and the page Arjun holds the call from."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.utils import timezone
from playwright.async_api import Browser, Page

from callbacks.models import Callback
from callbacks.tests.conftest import make_callback, today_at
from continuity.tests.callers import PHONE_ENV, Line
from livestaff.tests.test_live_calls_browser import DESK, person
from realtime.phone import outbound, security
from support.models import Customer
from voiceproject.tests.live_server import DaphneServer

CALL_SID = "CA" + "7" * 32
ASHA_PHONE = "+919800000101"

# Twilio set up for calling out too: the calling page offers "Call again" only then.
DIALLING_ENV = {**PHONE_ENV, "TWILIO_ACCOUNT_SID": "AC" + "5" * 32,
                "TWILIO_FROM_NUMBER": "+911140001234"}  # fmt: skip


def dialled_callback(asha: Customer) -> None:
    """Asha's callback, dialled by Arjun: Twilio's REST API gave the call CALL_SID."""
    make_callback(asha, today_at(15, 30, days=1), callback_id="CBK-ASHA01")
    Callback.objects.filter(callback_id="CBK-ASHA01").update(call_sid=CALL_SID, assignee="arjun")


async def call_of(callback_id: str) -> str:
    """The call the answered callback became, once the server has linked them."""
    async with asyncio.timeout(15):
        while True:
            found = await Callback.objects.filter(callback_id=callback_id).afirst()
            if found is not None and found.answered_call_id.startswith("CALL-"):
                return found.answered_call_id
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def asha_answers(server: DaphneServer) -> AsyncIterator[tuple[Line, str]]:
    """Asha picks up the callback Arjun dialled: Twilio opens its Media Stream, with the
    stream token of a callback we placed. Gives her line and the call it became; then closes
    her line and prints daphne's output (pytest shows it when the test failed)."""
    token = security.mint_callback_token(security.CallbackStream("CBK-ASHA01", ASHA_PHONE,
                                                                 "arjun"))  # fmt: skip
    line = await Line.answer(server, CALL_SID, ASHA_PHONE, {
        "token": token, outbound.KIND: outbound.CALLBACK, outbound.CALLBACK_ID: "CBK-ASHA01",
    })  # fmt: skip
    try:
        yield line, await call_of("CBK-ASHA01")
    finally:
        if line.ws is not None:
            await line.ws.close()
        print("daphne:", server.output(), sep="\n")


async def arjuns_page(
    server: DaphneServer, browsers: tuple[Browser, Browser], cookies: dict[str, str],
    problems: list[str],
) -> Page:  # fmt: skip
    """Arjun's page, a desk's width in the staff's Chromium, signed in, on no address yet; its
    console errors and failed requests are put in `problems`."""
    _, arjun = await person(browsers[1], server, DESK, problems, cookies["arjun"])
    return arjun


async def ringing(
    asha: Customer, server: DaphneServer, browsers: tuple[Browser, Browser],
    cookies: dict[str, str], problems: list[str],
) -> Page:  # fmt: skip
    """Asha's callback, dialled by Arjun a moment ago and not answered yet, and `arjuns_page`
    on the page "Call now" took him to."""
    await sync_to_async(dialled_callback)(asha)
    await Callback.objects.filter(callback_id="CBK-ASHA01").aupdate(dialled_at=timezone.now())
    arjun = await arjuns_page(server, browsers, cookies, problems)
    await arjun.goto(f"{server.url}/staff/callbacks/CBK-ASHA01/calling")
    return arjun


@contextlib.asynccontextmanager
async def arjun_dialled_and_asha_answered(
    asha: Customer, server: DaphneServer, browsers: tuple[Browser, Browser],
    cookies: dict[str, str], problems: list[str],
) -> AsyncIterator[tuple[Line, str, Page]]:  # fmt: skip
    """`asha_answers` the callback Arjun dialled, and `arjuns_page`."""
    await sync_to_async(dialled_callback)(asha)
    async with asha_answers(server) as (line, call_id):
        yield line, call_id, await arjuns_page(server, browsers, cookies, problems)
