"""Short public ids (`CMP-7KQ2XD`) that a caller can read aloud and an agent can repeat.

The alphabet leaves out 0/O and 1/I/L, which sound or look alike. Six characters of 31 give
about 887 million ids per prefix; the unique indexes catch the rare clash and the caller
draws again.
"""

from __future__ import annotations

import secrets

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 6


def new_id(prefix: str) -> str:
    """A fresh random id such as `TKT-4HX9PM` (not guaranteed unique: insert and retry)."""
    return prefix + "-" + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
