"""What staff did on a call, as the live call view paints it when it opens: to its reader their
own actions say "You", as the lines the page's script adds once it is open say them
(static/livestaff/call.js: "You took over the call.", "You: …"); colleagues are named. The
call's record (/staff/calls/<call_id>/), read by anyone, names everyone in the third person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils.html import strip_tags

from livestaff.protocol import PLACED_CALLBACK
from livestaff.tests.conftest import AGENT, LEAD
from support.models import Call, TranscriptLine
from support.mongo import sync_db

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def plain_static_files(settings: Any) -> None:
    # Tests run with DEBUG off, whose manifest storage needs collectstatic; pages need URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def signed_in(username: str, group: Group, first_name: str, last_name: str) -> Client:
    user = User.objects.create_user(username, is_staff=True, first_name=first_name,
                                    last_name=last_name)  # fmt: skip
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def arjun(groups: dict[str, Group]) -> Client:
    """The lead who placed the callback: he holds the call from its start."""
    return signed_in("arjun", groups[LEAD], "Arjun", "Mehta")


@pytest.fixture
def meera(groups: dict[str, Group]) -> Client:
    """A colleague watching the same call."""
    return signed_in("meera", groups[AGENT], "Meera", "Iyer")


@pytest.fixture
def callback_call(db: Any) -> None:
    """A callback Arjun placed, answered: his from its start; he whispers, Meera whispers."""
    started = datetime.now(UTC) - timedelta(minutes=2)
    Call.objects.create(
        call_id="call-cb", customer=None, channel="phone", started_at=started,
        transcript=[TranscriptLine(role="user", text="Hello?", at=started + timedelta(seconds=2))],
    )  # fmt: skip
    sync_db().calls.update_one({"call_id": "call-cb"}, {"$set": {"staff_events": [
        {"kind": "take_over", "staff": "arjun", "text": PLACED_CALLBACK, "at": started},
        {"kind": "whisper", "staff": "arjun", "text": "Note the new address.",
         "at": started + timedelta(seconds=5)},
        {"kind": "whisper", "staff": "meera", "text": "She called yesterday too.",
         "at": started + timedelta(seconds=8)},
        {"kind": "hand_back", "staff": "arjun", "text": "Address noted",
         "at": started + timedelta(seconds=30)},
    ]}})  # fmt: skip


def conversation_of(client: Client, path: str) -> str:
    body = client.get(path).content.decode()
    start = body.index('<ol class="conversation"')
    return " ".join(strip_tags(body[start:body.index("</ol>", start)]).split())


def test_the_holder_reads_what_they_did_as_you_on_the_live_view(
    arjun: Client, meera: Client, callback_call: None
) -> None:
    lines = conversation_of(arjun, "/staff/live/call-cb/")

    assert "You took over the call (a callback you placed)." in lines
    assert "You: Note the new address." in lines  # as the page adds a whisper of his
    assert "Meera Iyer: She called yesterday too." in lines  # and a colleague's
    assert "You handed back to the agent: Address noted" in lines
    assert "Arjun Mehta" not in lines and "they placed" not in lines


def test_a_colleague_reads_the_holder_by_name_on_the_live_view(
    arjun: Client, meera: Client, callback_call: None
) -> None:
    lines = conversation_of(meera, "/staff/live/call-cb/")

    assert "Arjun Mehta took over the call (a callback they placed)." in lines
    assert "Arjun Mehta: Note the new address." in lines
    assert "You: She called yesterday too." in lines  # her own whisper
    assert "Arjun Mehta handed back to the agent: Address noted" in lines
    assert "You took over" not in lines


def test_the_call_page_names_everyone_in_the_third_person(
    arjun: Client, meera: Client, callback_call: None
) -> None:
    lines = conversation_of(arjun, "/staff/calls/call-cb/")

    assert "Arjun Mehta took over the call (a callback they placed)." in lines
    assert "Arjun Mehta whispered to the agent: Note the new address." in lines
    assert "Meera Iyer whispered to the agent: She called yesterday too." in lines
    assert "You" not in lines
