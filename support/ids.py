"""Short public ids (`CMP-7KQ2XD`) that a caller can read aloud and an agent can repeat.

The alphabet leaves out 0/O and 1/I/L, which sound or look alike. Six characters of 31 give
about 887 million ids per prefix; the unique indexes catch the rare clash and the caller
draws again.
"""

from __future__ import annotations

import secrets
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 6
ATTEMPTS = 3


def new_id(prefix: str) -> str:
    """A fresh random id such as `TKT-4HX9PM` (not guaranteed unique: insert and retry)."""
    return prefix + "-" + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


async def insert_with_fresh_id(
    collection: AsyncCollection[Document], field: str, prefix: str, doc: Document
) -> str:
    """Insert `doc` under a new random id in `field` (a unique index), drawing again on a
    clash; answers the id. A clash on the last of ATTEMPTS draws propagates, and so does one
    on another unique index of the collection (no other id would help)."""
    for _ in range(ATTEMPTS - 1):
        try:
            return await _insert_with_new_id(collection, field, prefix, doc)
        except DuplicateKeyError as clash:
            if not clash_on(clash, field):
                raise
    return await _insert_with_new_id(collection, field, prefix, doc)


def clash_on(clash: DuplicateKeyError, field: str) -> bool:
    """Whether `clash` is on a unique index whose keys include `field` (by the key pattern
    the server reports, else by the field named in its message)."""
    details = clash.details or {}
    keys = details.get("keyPattern") or details.get("keyValue")
    if keys:
        return field in keys
    return field in str(details.get("errmsg", clash))


async def _insert_with_new_id(
    collection: AsyncCollection[Document], field: str, prefix: str, doc: Document
) -> str:
    public_id = new_id(prefix)
    await collection.insert_one({field: public_id, **doc})
    return public_id
