"""Throttle repeated failed logins on the admin login (which /staff/ also uses), and the old
password the admin's password change asks a signed-in session for (else a stolen session
cookie could guess its way to the password itself, and keep the account after a sign-out).

Two counts in Django's cache, each for LOCKOUT_SECONDS from its first failure:

* per account (5 failures), whatever address they come from: a locked account stays locked
  for every address, and even the right password is refused until the lock ends;
* per client address (20 failed attempts, refusals included), against one address trying
  many accounts. Only when the address can be trusted (`voiceproject.proxies`): a request
  whose address the proxies do not vouch for counts against its account alone.

The counts live in the default cache: LocMemCache, per process, unless REDIS_URL makes it
Redis, shared by every process (with several processes and no Redis, each counts on its own).
While that Redis is away nobody can sign in (a message says to try again shortly): failures
that cannot be counted must not be unlimited. Staff already signed in carry on.
django-axes was not used because its attempt tables would need their own MongoDB migrations,
and the database cache backend does not work on MongoDB.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable

from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from voiceproject.messaging import REDIS_AWAY
from voiceproject.rate_limits import count_one

log = logging.getLogger(__name__)

ACCOUNT_FAILURE_LIMIT = 5
ADDRESS_FAILURE_LIMIT = 20
LOCKOUT_SECONDS = 15 * 60
LOCKED_MESSAGE = (
    "Too many failed login attempts. Wait 15 minutes and try again, "
    "or ask a support lead to reset your password."
)
UNAVAILABLE_MESSAGE = "Signing in is unavailable for a moment. Please try again shortly."


def client_address(request: HttpRequest | None) -> str | None:
    """The caller's address, or None when no trusted proxy vouches for one."""
    return (request.META.get("REMOTE_ADDR") if request else None) or None


def _key(kind: str, value: str) -> str:
    # Hashed so any username is a safe cache key (memcached refuses spaces and long keys).
    return f"login-fail:{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def _account_key(username: str) -> str:
    return _key("account", username.strip().lower())


def take_attempt(username: str, address: str | None) -> bool:
    """Count an attempt on the account (and its address) before its password is checked, and
    answer whether it may be checked: within the limits, counting it. Counted first, in one
    atomic step each, so that attempts sent all at once are each counted before any is tried
    (a check of the counts, then a count after a wrong password, let a burst through whole).
    A right password gives its count back (`succeeded`). The address is counted first: one
    past its limit is refused without a count for the account, else each made-up username it
    tried would add one to the cache, and enough of them would push a locked account's count
    out of a per-process cache, which drops its least used entries when full. Raises
    REDIS_AWAY."""
    at_address = 0 if address is None else count_one(_key("address", address), LOCKOUT_SECONDS)
    if at_address > ADDRESS_FAILURE_LIMIT:
        return False
    return count_one(_account_key(username), LOCKOUT_SECONDS) <= ACCOUNT_FAILURE_LIMIT


def succeeded(username: str, address: str | None) -> None:
    """A right password: the account's failures are forgotten, and the address is not
    charged for the attempt (its count is of failures)."""
    cache.delete(_account_key(username))
    if address is not None:
        with contextlib.suppress(ValueError):  # its window ended meanwhile
            cache.decr(_key("address", address))


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login form, refusing (even a right password) once a limit is reached."""

    def clean(self) -> dict[str, object]:
        username = str(self.cleaned_data.get("username") or "")
        address = client_address(self.request)
        try:
            if not take_attempt(username, address):
                raise ValidationError(LOCKED_MESSAGE, code="throttled")
        except REDIS_AWAY as error:
            # The failures cannot be counted: no password is tried meanwhile (refused, not a
            # 500), or a Redis outage would switch off the lockout.
            log.warning("login refused: the failed-login counts are unavailable (%r)", error)
            raise ValidationError(UNAVAILABLE_MESSAGE, code="throttle_unavailable") from None
        cleaned = super().clean()  # a wrong password stays counted
        _counting(succeeded, username, address)
        return cleaned


class ThrottledPasswordChangeForm(AdminPasswordChangeForm):
    """The admin's password change: a wrong old password is a failed login on the account (the
    form has no request, so no address), and a locked account's old password is not checked."""

    def clean_old_password(self) -> str:
        username = self.user.get_username()
        try:
            if not take_attempt(username, None):
                raise ValidationError(LOCKED_MESSAGE, code="throttled")
        except REDIS_AWAY as error:
            log.warning("password change refused: the failed-login counts are unavailable (%r)",
                        error)  # fmt: skip
            raise ValidationError(UNAVAILABLE_MESSAGE, code="throttle_unavailable") from None
        old = str(super().clean_old_password())  # a wrong one stays counted
        _counting(succeeded, username, None)
        return old


def _counting(count: Callable[..., None], *args: str | None) -> None:
    """`count` the attempt; a cache gone away since it was counted loses only this."""
    try:
        count(*args)
    except REDIS_AWAY as error:
        log.warning("a login attempt could not be counted (%r)", error)
