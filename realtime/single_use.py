"""Single-use tokens: the first use wins, everywhere, once.

A session token opens one call; a Twilio stream token one stream. Each token carries a
random nonce; `claim` inserts it into `used_tokens` under a unique `_id`, so of any number
of uses at once, on any number of processes, exactly one succeeds. Entries expire through a
TTL index (support migration 0006) after the token itself has expired.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pymongo
from pymongo.errors import DuplicateKeyError

from support import mongo

CLAIM_TIMEOUT_S = 3.0


async def claim(kind: str, nonce: str, valid_for_s: float) -> bool:
    """True for the first use of (`kind`, `nonce`), False for any later one.

    Raises PyMongoError when the database cannot be reached (refuse the use then).
    """
    expires_at = datetime.now(UTC) + timedelta(seconds=valid_for_s)
    try:
        with pymongo.timeout(CLAIM_TIMEOUT_S):
            await mongo.async_db().used_tokens.insert_one(
                {"_id": f"{kind}:{nonce}", "expires_at": expires_at}
            )
    except DuplicateKeyError:
        return False
    return True


async def give_back(kind: str, nonce: str) -> None:
    """Undo a `claim` whose use failed on our side (the database away before the call could
    open): the token works again until it expires. Best effort: raises PyMongoError."""
    with pymongo.timeout(CLAIM_TIMEOUT_S):
        await mongo.async_db().used_tokens.delete_one({"_id": f"{kind}:{nonce}"})
