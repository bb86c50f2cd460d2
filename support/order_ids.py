"""What an order id is (contract sections 5 and 6), in one place, with no I/O.

Order ids are whatever the business's data holds: `ORD-1196`, `ORD-7-B`, `5012345678`,
`SW/2026/000123`. The importer, the agent's tools and the tools' declarations all use this
one definition, so every order that can be loaded can be found and refunded by the agent.

An id is only ever used as an equality value in a query, never as an operator, a regular
expression or code, so any printable text is safe; what is refused is what no id contains:
control characters, line breaks, anything longer than 32 characters, and non-text values
(`{"$ne": null}` arrives from the model as an object and never gets this far).

Spoken ids come back from the model as they were heard: "ord 1196", "Ord-1196". They match
an order case-insensitively and ignoring spaces (`spoken_key`).

The model, lacking an id, sometimes passes a stand-in for none ("N/A", "none":
`support.tools.registry.stands_for_nothing`). It is still looked up first, as the data may
hold an order so numbered; only when it names none of the customer's orders do the tools take
it as no id given.
"""

from __future__ import annotations

import unicodedata

MAX_LENGTH = 32
# As the model passes it, an id may be spelled out with spaces ("4 0 8 1 7 ..."): spaces do not
# count against MAX_LENGTH, up to this many characters in all.
SPOKEN_MAX_LENGTH = 100
DESCRIPTION = "The order id as the customer gives it or as a tool returned it, like ORD-1001."


class InvalidOrderId(ValueError):
    """Not an order id; the message says why, in words a caller (or the model) can act on."""


def clean(value: object, *, spoken: bool = False) -> str:
    """The id, stripped of surrounding spaces; raises InvalidOrderId for anything else.
    `spoken`: as the model heard it, where spaces inside do not count (SPOKEN_MAX_LENGTH)."""
    if not isinstance(value, str):
        raise InvalidOrderId("An order id must be text.")
    value = value.strip()
    if not value:
        raise InvalidOrderId("An order id must not be empty.")
    # Measured on the id as given: case folding only matches ("ß" folds to "ss", "İ" to two).
    length = len("".join(value.split())) if spoken else len(value)
    if length > MAX_LENGTH or len(value) > SPOKEN_MAX_LENGTH:
        raise InvalidOrderId(f"An order id has at most {MAX_LENGTH} characters.")
    # Control characters, line breaks, lone surrogates... A spoken id's spaces are ignored,
    # whichever they are (a no-break space is not printable to Python, "ORD\u00a01001").
    if not (_without_spaces(value) if spoken else value).isprintable():
        raise InvalidOrderId("An order id must be printable text.")
    return value


def _without_spaces(value: str) -> str:
    return "".join(char for char in value if unicodedata.category(char) != "Zs")


def clean_spoken(value: object) -> str:
    """`clean` for an id the model passes (the agent's tools)."""
    return clean(value, spoken=True)


def spoken_key(order_id: str) -> str:
    """An id as it may be heard: case folded, spaces removed ("Ord - 1196" -> "ord-1196")."""
    return "".join(order_id.split()).casefold()


_SEPARATORS = str.maketrans("", "", "-/_.")


def _bare_key(order_id: str) -> str:
    # Speech often loses separators too ("ORD 1196" for ORD-1196): a last resort.
    return spoken_key(order_id).translate(_SEPARATORS)


def matching(spoken: str, candidates: list[str]) -> str | None:
    """The one candidate id that `spoken` names, or None.

    An exact match first; then ignoring case and spaces (the contract's rule); then, only if
    that finds nothing, ignoring separators as well. A form that fits several ids names none.
    """
    if spoken in candidates:
        return spoken
    for key in (spoken_key, _bare_key):
        wanted = key(spoken)
        found = [candidate for candidate in candidates if key(candidate) == wanted]
        if found:
            return found[0] if len(found) == 1 else None
    return None
