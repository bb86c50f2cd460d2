"""Throttle repeated failed logins on the admin login (which /staff/ also uses).

Failures are counted in Django's cache per username+client IP (5 allowed) and per client IP
(20 allowed, against trying many usernames) for LOCKOUT_SECONDS from the first failure. The
default cache is LocMemCache, which is per process: with several server processes each counts
on its own, so configure a shared cache (Redis) there. django-axes was not used because its
attempt tables would need their own MongoDB migrations, and the database cache backend does
not work on MongoDB.
"""

from __future__ import annotations

import hashlib

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest

USER_FAILURE_LIMIT = 5
IP_FAILURE_LIMIT = 20
LOCKOUT_SECONDS = 15 * 60
LOCKED_MESSAGE = (
    "Too many failed login attempts. Wait 15 minutes and try again, "
    "or ask a support lead to reset your password."
)


def client_ip(request: HttpRequest | None) -> str:
    # daphne --proxy-headers puts the caller's address here; X-Forwarded-For is not trusted.
    return (request.META.get("REMOTE_ADDR") if request else None) or "unknown"


def _keys(username: str, ip: str) -> tuple[str, str]:
    # Hashed so any username is a safe cache key (memcached refuses spaces and long keys).
    user = hashlib.sha256(f"{username.strip().lower()}|{ip}".encode()).hexdigest()
    return f"login-fail:user:{user}", f"login-fail:ip:{hashlib.sha256(ip.encode()).hexdigest()}"


def is_locked(username: str, ip: str) -> bool:
    user_key, ip_key = _keys(username, ip)
    return (
        cache.get(user_key, 0) >= USER_FAILURE_LIMIT or cache.get(ip_key, 0) >= IP_FAILURE_LIMIT
    )


def record_failure(username: str, ip: str) -> None:
    for key in _keys(username, ip):
        # add() starts the window only on the first failure; incr() is atomic in the cache.
        cache.add(key, 0, LOCKOUT_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, LOCKOUT_SECONDS)


def clear(username: str, ip: str) -> None:
    cache.delete(_keys(username, ip)[0])


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login form, refusing (even a right password) once the limit is reached."""

    def clean(self) -> dict[str, object]:
        username = str(self.cleaned_data.get("username") or "")
        ip = client_ip(self.request)
        if is_locked(username, ip):
            raise ValidationError(LOCKED_MESSAGE, code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError:
            record_failure(username, ip)
            raise
        clear(username, ip)
        return cleaned
