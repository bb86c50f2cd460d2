"""Repeated failed logins on the admin login (also the /staff/ login) are throttled."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client

from support.staff import throttle
from support.tests.staff.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/staff/"


def login(username: str, password: str, ip: str | None = "203.0.113.7") -> tuple[int, str]:
    """POST the login form from `ip` (None: an address no trusted proxy vouched for)."""
    client = Client(REMOTE_ADDR=ip) if ip else Client(REMOTE_ADDR="")
    response = client.post(LOGIN, {"username": username, "password": password})
    return response.status_code, response.content.decode()


def test_a_right_password_logs_in(meera: User) -> None:
    status, _ = login("meera", PASSWORD)

    assert status == 302


def test_five_failures_lock_the_account(meera: User) -> None:
    for _ in range(throttle.ACCOUNT_FAILURE_LIMIT):
        status, body = login("meera", "wrong")
        assert status == 200 and "Please enter the correct username and password" in body

    status, body = login("meera", PASSWORD)  # even the right password, now

    assert status == 200
    assert "Too many failed login attempts" in body


def test_guesses_sent_all_at_once_are_held_to_the_accounts_limit(
    meera: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve wrong passwords sent together, each taking a moment to check (as a password
    hash does): only five are checked, the rest refused as locked."""
    checked: list[str] = []
    lock = threading.Lock()

    def slow_wrong_password(form: AuthenticationForm) -> dict[str, Any]:
        with lock:
            checked.append(str(form.cleaned_data.get("password")))
        time.sleep(0.3)  # every guess of the burst is in flight together
        raise ValidationError("Please enter the correct username and password.")

    monkeypatch.setattr(AuthenticationForm, "clean", slow_wrong_password)
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda n: login("meera", f"guess-{n}"), range(12)))

    assert len(checked) == throttle.ACCOUNT_FAILURE_LIMIT
    assert sum("Too many failed login attempts" in body for _, body in answers) == 7


def test_a_locked_account_is_locked_from_every_address(meera: User) -> None:
    for n in range(throttle.ACCOUNT_FAILURE_LIMIT):
        login("meera", "wrong", ip=f"198.51.100.{n}")

    status, body = login("MEERA", PASSWORD, ip="192.0.2.44")

    assert status == 200 and "Too many failed login attempts" in body


def test_spelling_the_username_otherwise_counts_against_the_same_account(meera: User) -> None:
    """Case, spaces around it and compatibility forms (full-width letters, which the form folds
    with NFKC) are one account to the throttle, from as many addresses as you like."""
    spellings = ["MEERA", " meera ", "Meera\t", "\uff4d\uff45\uff45\uff52\uff41", "meera"]
    assert len(spellings) == throttle.ACCOUNT_FAILURE_LIMIT
    for n, spelling in enumerate(spellings):
        login(spelling, "wrong", ip=f"198.51.100.{n}")

    status, body = login("meera", PASSWORD, ip="192.0.2.45")

    assert status == 200 and "Too many failed login attempts" in body


def test_failures_from_an_unvouched_address_still_lock_the_account(meera: User) -> None:
    for _ in range(throttle.ACCOUNT_FAILURE_LIMIT):
        login("meera", "wrong", ip=None)

    assert "Too many failed login attempts" in login("meera", PASSWORD)[1]


def test_a_locked_account_leaves_other_accounts_alone(meera: User, arjun: User) -> None:
    for n in range(throttle.ACCOUNT_FAILURE_LIMIT):
        login("meera", "wrong", ip=f"198.51.100.{n}")

    assert login("arjun", PASSWORD, ip="198.51.100.1")[0] == 302


def test_many_usernames_from_one_address_are_throttled(meera: User) -> None:
    for n in range(throttle.ADDRESS_FAILURE_LIMIT):
        login(f"someone{n}", "wrong")

    status, body = login("meera", PASSWORD)

    assert "Too many failed login attempts" in body
    assert login("meera", PASSWORD, ip="198.51.100.9")[0] == 302


def test_made_up_usernames_from_a_throttled_address_do_not_unlock_an_account(
    meera: User, settings: Any
) -> None:
    """Each attempt on an unknown username from an address past its limit made a counter for
    that username before the address was looked at: a few hundred such attempts filled the
    process's cache, which then dropped its least recently used entries, Meera's lock with
    them. An address past its limit adds nothing to the cache."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "throttle-flood", "OPTIONS": {"MAX_ENTRIES": 30}}}
    for n in range(throttle.ACCOUNT_FAILURE_LIMIT + 1):
        login("meera", "wrong", ip=f"198.51.100.{n}")

    for n in range(60):  # 20 counted, then 40 past the address's limit: twice the cache
        login(f"made-up-{n}", "wrong", ip="192.0.2.66")

    assert "Too many failed login attempts" in login("meera", PASSWORD, ip="192.0.2.67")[1]


def test_retrying_a_locked_account_counts_against_the_address(meera: User, arjun: User) -> None:
    for _ in range(throttle.ADDRESS_FAILURE_LIMIT):
        login("meera", "wrong")

    assert "Too many failed login attempts" in login("arjun", PASSWORD)[1]


def test_an_unvouched_address_is_not_counted_as_one(meera: User) -> None:
    for n in range(throttle.ADDRESS_FAILURE_LIMIT):
        login(f"someone{n}", "wrong", ip=None)

    assert login("meera", PASSWORD, ip=None)[0] == 302


def test_a_success_forgets_earlier_failures(meera: User) -> None:
    for _ in range(throttle.ACCOUNT_FAILURE_LIMIT - 1):
        login("meera", "wrong")
    assert login("meera", PASSWORD)[0] == 302

    for _ in range(throttle.ACCOUNT_FAILURE_LIMIT - 1):
        login("meera", "wrong")
    assert login("meera", PASSWORD)[0] == 302


def test_a_non_staff_user_cannot_log_in_to_the_back_office(staff_groups: object) -> None:
    User.objects.create_user("guest", password=PASSWORD)

    status, body = login("guest", PASSWORD)

    assert status == 200 and "staff account" in body


# --- the password a signed-in session changes ---------------------------------------------------

CHANGE = "/admin/password_change/"


def change_password(client: Client, old: str) -> tuple[int, str]:
    response = client.post(CHANGE, {
        "old_password": old, "new_password1": "a brand new passphrase 77",
        "new_password2": "a brand new passphrase 77",
    })  # fmt: skip
    return response.status_code, response.content.decode()


def test_guessing_the_old_password_from_a_stolen_session_is_throttled(meera: User) -> None:
    """A copy of Meera's session cookie must not become her password: the "old password" of
    the admin's password change counts as a login attempt on her account."""
    stolen = Client(REMOTE_ADDR="203.0.113.66")
    stolen.force_login(meera)
    for n in range(throttle.ACCOUNT_FAILURE_LIMIT):
        status, body = change_password(stolen, f"guess {n}")
        assert status == 200 and "Your old password was entered incorrectly" in body

    status, body = change_password(stolen, PASSWORD)  # the right one, now

    assert status == 200 and "Too many failed login attempts" in body
    assert "Too many failed login attempts" in login("meera", PASSWORD, ip="192.0.2.46")[1]
    meera.refresh_from_db()
    assert meera.check_password(PASSWORD)


def test_meera_changes_her_password_knowing_the_old_one(meera: User) -> None:
    client = Client()
    client.force_login(meera)
    change_password(client, "a slip of the finger")

    status, _ = change_password(client, PASSWORD)

    assert status == 302
    meera.refresh_from_db()
    assert meera.check_password("a brand new passphrase 77")
    assert login("meera", "a brand new passphrase 77")[0] == 302
