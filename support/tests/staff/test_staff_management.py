"""Managing staff: the admin's user and group pages, leads managing agents, `add_staff`."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError
from django.db.models import QuerySet
from django.test import Client

from support.tests.staff.conftest import AGENT, LEAD, PASSWORD, client_for
from voiceproject.embedded_db import free_port
from voiceproject.tests.live_server import BASE_DIR

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db: Any) -> User:
    return User.objects.create_superuser("root", "root@example.com", PASSWORD)


# --- The permission/content-type crash (regression) -------------------------------------------


def test_superuser_opens_the_admins_user_and_group_pages(
    root: User, meera: User, staff_groups: dict[str, Group]
) -> None:
    admin = client_for(root)
    agents = staff_groups[AGENT]

    pages = [
        "/admin/auth/user/", "/admin/auth/user/add/", f"/admin/auth/user/{meera.pk}/change/",
        "/admin/auth/group/", "/admin/auth/group/add/", f"/admin/auth/group/{agents.pk}/change/",
    ]  # fmt: skip
    for page in pages:
        response = admin.get(page)
        assert response.status_code == 200, page
    body = admin.get(f"/admin/auth/group/{agents.pk}/change/").content.decode()
    assert "support | escalation | Can change escalation" in body


def test_a_search_of_the_groups_longer_than_any_name_finds_none_without_an_error(
    root: User, staff_groups: dict[str, Group]
) -> None:
    """The name is looked for as a pattern, which the embedded database refuses over 1,000
    characters: the list answered 500."""
    admin = client_for(root)

    long = admin.get("/admin/auth/group/", {"q": "agent" * 201})
    short = admin.get("/admin/auth/group/", {"q": "agent"})

    assert long.status_code == 200 and staff_groups[AGENT].name not in long.content.decode()
    assert staff_groups[AGENT].name in short.content.decode()


def test_permissions_come_with_their_content_types(staff_groups: dict[str, Group]) -> None:
    # The admin's permission widgets read them so: a join ordered by the joined table.
    perms = list(Permission.objects.select_related("content_type")[:5])

    assert perms and all(p.content_type.app_label for p in perms)
    labels = set(Permission.objects.values_list("content_type__app_label", flat=True))
    assert {"support", "auth"} <= labels


# --- Leads manage the team in the admin -------------------------------------------------------


def add_form(**fields: Any) -> dict[str, Any]:
    return {"username": "kiran", "first_name": "Kiran", "last_name": "Rao",
            "email": "kiran@example.com", "role": AGENT, "password1": "a-long-Pass-word-42",
            "password2": "a-long-Pass-word-42", **fields}  # fmt: skip


def test_lead_adds_an_agent_who_can_then_log_in(lead: Client) -> None:
    assert lead.get("/admin/auth/user/").status_code == 200

    response = lead.post("/admin/auth/user/add/", add_form())

    assert response.status_code == 302, response.content.decode()[:2000]
    kiran = User.objects.get(username="kiran")
    assert (kiran.is_staff, kiran.is_superuser, kiran.get_full_name()) == (True, False, "Kiran Rao")
    assert [g.name for g in kiran.groups.all()] == [AGENT]
    assert Client().login(username="kiran", password="a-long-Pass-word-42")


def test_a_lead_cannot_grant_superuser_staff_admin_or_raw_permissions(lead: Client) -> None:
    any_perm = Permission.objects.get(codename="delete_user")
    lead.post("/admin/auth/user/add/", add_form(
        is_superuser="on", user_permissions=[any_perm.pk], groups=[],
    ))  # fmt: skip
    kiran = User.objects.get(username="kiran")
    assert not kiran.is_superuser and not kiran.user_permissions.exists()

    form = {"username": "kiran", "first_name": "Kiran", "last_name": "Rao", "email": "",
            "is_active": "on", "role": AGENT, "is_superuser": "on",
            "user_permissions": [any_perm.pk]}  # fmt: skip
    lead.post(f"/admin/auth/user/{kiran.pk}/change/", form)

    kiran.refresh_from_db()
    assert not kiran.is_superuser and not kiran.user_permissions.exists()


def test_a_username_like_another_but_for_a_dot_is_a_new_one(lead: Client, meera: User) -> None:
    User.objects.create_user("kxran")

    response = lead.post("/admin/auth/user/add/", add_form(username="k.ran"))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.filter(username="k.ran").exists()


@pytest.mark.parametrize("username", ["kiran[", "(kiran", "kiran*", "?"])
def test_a_username_with_characters_no_username_takes_is_refused_beside_the_field(
    lead: Client, username: str
) -> None:
    response = lead.post("/admin/auth/user/add/", add_form(username=username))

    assert response.status_code == 200
    assert "Enter a valid username" in response.content.decode()
    assert not User.objects.filter(username=username).exists()


@pytest.mark.parametrize("term", ["meer", "Meera", "meera@example.com", "a.b " * 60])
def test_a_search_of_the_team_finds_a_colleague_by_username_or_email(
    lead: Client, meera: User, term: str
) -> None:
    User.objects.create_user("a.b", "a.b@example.com", is_staff=True)

    response = lead.get("/admin/auth/user/", {"q": term})

    found = {user.username for user in response.context["cl"].result_list}
    assert found == ({"a.b"} if term.startswith("a.b") else {"meera"})


def _queries_for(client: Client, path: str) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def test_the_team_list_reads_everyones_role_in_a_fixed_number_of_queries(
    lead: Client, meera: User, staff_groups: dict[str, Group]
) -> None:
    """One join of the groups per member listed (~100 ms each on SecantusDB) made a team of
    fifty take seconds to list."""
    _queries_for(lead, "/admin/auth/user/")  # the first also fills caches (content types)
    few = _queries_for(lead, "/admin/auth/user/")
    for n in range(20):
        User.objects.create_user(f"agent{n}", is_staff=True).groups.add(staff_groups[AGENT])

    many = _queries_for(lead, "/admin/auth/user/")
    body = lead.get("/admin/auth/user/").content.decode()

    assert len(many) == len(few)
    assert not [sql for sql in many if "'$lookup'" in sql and "auth_group" in sql]
    assert body.count(f"<td class=\"field-role\">{AGENT}</td>") == 21  # meera and the twenty


@pytest.mark.parametrize("term", ["A" * 5000, "." * 600, "meera " * 60])
def test_a_search_of_the_team_longer_than_any_name_finds_nobody(
    lead: Client, meera: User, term: str
) -> None:
    response = lead.get("/admin/auth/user/", {"q": term})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_the_lead_add_page_offers_names_role_and_password_only(lead: Client) -> None:
    body = lead.get("/admin/auth/user/add/").content.decode()

    assert 'name="role"' in body and "Support lead: also manages agents" in body
    for field in ("is_superuser", "is_staff", "user_permissions", "groups", "usable_password"):
        assert f'name="{field}"' not in body


def test_a_lead_makes_an_agent_a_lead_and_deactivates_them(lead: Client, meera: User) -> None:
    form = {"username": "meera", "first_name": "Meera", "last_name": "", "email": "",
            "is_active": "on", "role": LEAD}  # fmt: skip
    assert lead.post(f"/admin/auth/user/{meera.pk}/change/", form).status_code == 302
    assert [g.name for g in meera.groups.all()] == [LEAD]

    lead.post(f"/admin/auth/user/{meera.pk}/change/", {**form, "is_active": ""})

    meera.refresh_from_db()
    assert not meera.is_active
    assert not Client().login(username="meera", password=PASSWORD)


def test_a_lead_cannot_deactivate_themselves(lead: Client, arjun: User) -> None:
    form = {"username": "arjun", "first_name": "", "last_name": "", "email": "", "role": LEAD}

    response = lead.post(f"/admin/auth/user/{arjun.pk}/change/", form)

    assert "You cannot deactivate yourself" in response.content.decode()
    arjun.refresh_from_db()
    assert arjun.is_active


def test_a_lead_resets_an_agents_password(lead: Client, meera: User) -> None:
    new = "another-Long-pass-77"
    response = lead.post(f"/admin/auth/user/{meera.pk}/password/",
                         {"password1": new, "password2": new})  # fmt: skip

    assert response.status_code == 302
    assert Client().login(username="meera", password=new)


def test_a_lead_cannot_change_a_superuser(lead: Client, root: User) -> None:
    page = lead.get(f"/admin/auth/user/{root.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()

    form = {"username": "root", "is_active": "", "role": AGENT}
    assert lead.post(f"/admin/auth/user/{root.pk}/change/", form).status_code == 403
    assert lead.post(f"/admin/auth/user/{root.pk}/password/",
                     {"password1": "x-Long-pass-123", "password2": "x-Long-pass-123"}
                     ).status_code == 403  # fmt: skip
    root.refresh_from_db()
    assert root.is_active and root.check_password(PASSWORD)


def test_someone_who_may_add_users_but_is_no_lead_cannot_make_a_lead(
    staff_groups: dict[str, Group], meera: User
) -> None:
    meera.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="auth", codename__in=["view_user", "add_user", "change_user"]
    ))  # fmt: skip
    agent = client_for(meera)

    response = agent.post("/admin/auth/user/add/", add_form(role=LEAD))

    assert "Select a valid choice" in response.content.decode()
    assert not User.objects.filter(username="kiran").exists()


def test_agents_cannot_open_the_team_pages(agent: Client) -> None:
    assert agent.get("/admin/auth/user/").status_code == 403


# --- add_staff and createsuperuser ------------------------------------------------------------


def test_add_staff_prints_a_password_that_logs_in(staff_groups: dict[str, Group]) -> None:
    out = io.StringIO()
    call_command("add_staff", "kiran", "--first-name", "Kiran", stdout=out)

    password = out.getvalue().split("Password (shown once, give it to them): ")[1].strip()
    kiran = User.objects.get(username="kiran")
    assert kiran.is_staff and [g.name for g in kiran.groups.all()] == [AGENT]
    assert Client().login(username="kiran", password=password)


def test_add_staff_lead_with_a_password_from_stdin(
    staff_groups: dict[str, Group], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-Pass-word-42\n"))
    out = io.StringIO()

    call_command("add_staff", "asha", "--lead", "--password-stdin", stdout=out)

    assert "Password" not in out.getvalue()
    assert [g.name for g in User.objects.get(username="asha").groups.all()] == [LEAD]
    assert Client().login(username="asha", password="a-long-Pass-word-42")


@pytest.mark.parametrize(
    "stdin, error", [("123\n", "That password is refused"), ("\n", "No password")]
)
def test_add_staff_refuses_a_weak_or_missing_password(
    stdin: str, error: str, staff_groups: dict[str, Group], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))

    with pytest.raises(CommandError, match=error):
        call_command("add_staff", "asha", "--password-stdin")
    assert not User.objects.filter(username="asha").exists()


def test_add_staff_that_cannot_give_the_role_leaves_nobody_half_added(
    staff_groups: dict[str, Group], monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_gone(*args: Any, **kwargs: Any) -> None:
        raise DatabaseError("the database went away")

    monkeypatch.setattr(QuerySet, "bulk_create", database_gone)  # how groups.add() writes
    with pytest.raises(CommandError, match="refused the operation"):
        call_command("add_staff", "kiran", stdout=io.StringIO())

    assert not User.objects.filter(username="kiran").exists()  # so it can be run again


def test_add_staff_refuses_an_existing_username(meera: User) -> None:
    with pytest.raises(CommandError, match="meera already exists"):
        call_command("add_staff", "meera")


@pytest.mark.parametrize(
    "args, error",
    [
        (["", "--lead"], "username: This field cannot be blank."),
        (["asha verma"], "username: Enter a valid username."),
        (["a" * 151], "username: Ensure this value has at most 150 characters"),
        (["asha", "--email", "asha at example"], "email: Enter a valid email address."),
    ],
)
def test_add_staff_refuses_a_username_or_email_nobody_could_log_in_with(
    args: list[str], error: str, staff_groups: dict[str, Group]
) -> None:
    with pytest.raises(CommandError, match=re.escape(error)):
        call_command("add_staff", *args, stdout=io.StringIO())
    assert not User.objects.exists()


def test_createsuperuser_works_with_debug_off_when_configured(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = False
    settings.SECRET_KEY = "a-real-deployment-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    settings.ALLOWED_HOSTS = ["support.example.com"]
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-Pass-word-42")

    call_command("createsuperuser", "--noinput", "--username", "owner",
                 "--email", "owner@example.com", skip_checks=False, stdout=io.StringIO())

    assert User.objects.get(username="owner").is_superuser


def test_add_staff_with_the_database_out_of_reach_says_so_in_one_line() -> None:
    # A real manage.py against a port nothing listens on (the client gives up after 0.3 s).
    ran = subprocess.run(
        [sys.executable, "manage.py", "add_staff", "kiran"],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DEBUG": "True", "MONGODB_URI":
             f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=300"},
    )  # fmt: skip

    assert ran.returncode == 1
    assert ran.stderr.startswith("CommandError: The database could not be reached (127.0.0.1:")
    assert "Traceback" not in ran.stderr and len(ran.stderr.splitlines()) == 1
