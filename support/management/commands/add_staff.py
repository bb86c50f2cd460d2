"""`manage.py add_staff USERNAME [--lead]`: a support agent (or lead) who can log in at /admin/."""

from __future__ import annotations

import secrets
import sys
from typing import Any

from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from pymongo.errors import PyMongoError

from support import mongo
from support.staff.team import AGENT_GROUP, LEAD_GROUP


def generated_password() -> str:
    """Four groups of five letters and digits: about 100 bits, easy to read out and type."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


class Command(BaseCommand):
    help = (
        "Add a member of the support team: a staff user in the Support agent group (or, with "
        "--lead, the Support lead group). Prints a generated password once, or reads one line "
        "from standard input with --password-stdin. Leads can then add more people in the "
        "admin (Users)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--lead", action="store_true",
                            help="a support lead (manages agents, tiers, goodwill)")
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--password-stdin", action="store_true",
                            help="read the password from standard input instead of generating one")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._add(**options)
        except DatabaseError as error:
            # Django's error carries no text; pymongo's, its cause, says what happened.
            cause = error.__cause__
            raise CommandError(mongo.failure_line(cause) if isinstance(cause, PyMongoError)
                               else f"The database refused the operation: {error}") from None

    def _add(self, *, username: str, lead: bool, email: str, first_name: str, last_name: str,
             password_stdin: bool, **options: Any) -> None:  # fmt: skip
        role = LEAD_GROUP if lead else AGENT_GROUP
        group = Group.objects.filter(name=role).first()
        if group is None:
            raise CommandError(f'The "{role}" group is missing: run `manage.py migrate` first.')
        if User.objects.filter(username=username).exists():
            raise CommandError(
                f"{username} already exists. Reset their password with "
                f"`manage.py changepassword {username}` or in the admin."
            )
        user = User(username=username, email=email, first_name=first_name, last_name=last_name,
                    is_staff=True)  # fmt: skip
        try:
            # As the admin's add page would: a blank or malformed username cannot log in.
            user.full_clean(exclude=["password"], validate_unique=False)
        except ValidationError as error:
            problems = "; ".join(f"{field}: {' '.join(messages)}"
                                 for field, messages in error.message_dict.items())  # fmt: skip
            raise CommandError(f"Cannot add {username!r}: {problems}") from None
        password = self._password(user, password_stdin)
        user.set_password(password)
        user.save()
        try:
            user.groups.add(group)
        except DatabaseError:
            # Not left half-added (a staff login of no group, and "already exists" on a retry).
            User.objects.filter(pk=user.pk).delete()
            raise
        self.stdout.write(f"Added {username} ({role}). Log in at /admin/.")
        if not password_stdin:
            self.stdout.write(f"Password (shown once, give it to them): {password}")

    def _password(self, user: User, from_stdin: bool) -> str:
        if not from_stdin:
            return generated_password()
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("No password on standard input.")
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError("That password is refused: " + " ".join(error.messages)) from None
        return password
