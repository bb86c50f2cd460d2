"""Who is calling: the one customer lookup of the voice path (browser and phone alike).

A caller should not wait on a dead database for long, so the lookup is bounded by the
driver's own timeout (`pymongo.timeout`), never by cancelling the driver from outside: an
operation cancelled half-way can leave PyMongo's connection pool wedged after an outage.
"""

from __future__ import annotations

from dataclasses import dataclass

import pymongo

from support import mongo

LOOKUP_TIMEOUT_S = 3.0
# The largest user_id MongoDB stores as an integer; anything bigger names nobody.
MAX_USER_ID = 2**63 - 1


@dataclass(frozen=True)
class CustomerRef:
    user_id: int
    name: str
    phone: str = ""

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name else ""


async def find_customer(*, user_id: int | None = None, phone: str = "") -> CustomerRef | None:
    """The customer with this user_id, or with this phone number; None if there is none.

    Raises PyMongoError (a timeout among them) when the database cannot answer in time.
    """
    if user_id is not None:
        if not 0 < user_id <= MAX_USER_ID:
            return None
        query: dict[str, object] = {"user_id": user_id}
    elif phone:
        query = {"phone": phone}
    else:
        return None
    with pymongo.timeout(LOOKUP_TIMEOUT_S):
        document = await mongo.async_db().customers.find_one(
            query, {"_id": 0, "user_id": 1, "name": 1, "phone": 1}
        )
    if document is None:
        return None
    return CustomerRef(
        user_id=int(document["user_id"]),
        name=str(document.get("name") or ""),
        phone=str(document.get("phone") or ""),
    )


async def staff_first_name(username: str) -> str:
    """What a customer hears a staff member called: their first name, else their username."""
    from django.contrib.auth.models import User

    user = await User.objects.filter(username=username).only("first_name").afirst()
    return str(getattr(user, "first_name", "") or username)
