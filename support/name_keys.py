"""Customers found by name through an index: each customer's `name_keys` holds the prefixes
(from one letter) of the words of their name, lower-cased and without accents, under a
multikey index. A search reads the customers holding its longest word as a key, one indexed
equality, instead of evaluating a regular expression on every customer (SecantusDB uses no
index for a regex, which cost ~250 ms at 10,000 customers).

Every writer keeps the keys: `Customer.save()`, and after `write_support_data` (the importer:
load_support_data and seed_demo) `fill_name_keys` for the customers it wrote. Migration 0009
filled them for the customers already there; a change to what the keys are needs a migration
that fills them again (as 0013 does).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from pymongo import UpdateOne

from support.mongo import find_in

MIN_KEY = 1  # initials too: "a s" finds A. K. Singh through the index
MAX_KEY = 24


def words(text: str) -> list[str]:
    """The words of `text`, lower-cased, accents removed: "Zoë D'Souza" -> zoe, d, souza."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in plain if not unicodedata.combining(char))
    # Letters, digits, and the vowel signs of Indian scripts: marks, which \w leaves out
    # ("प्रिया" would be "पर" and "य", and match "परम यादव").
    return "".join(char if _in_word(char) else " " for char in plain.casefold()).split()


def _in_word(char: str) -> bool:
    return char.isalnum() or unicodedata.category(char).startswith("M")


# Marks within a name that people leave out when they type it: "dsouza" for D'Souza.
_JOINERS = str.maketrans("", "", "'’ʼ‘-‐‑")


def name_words(name: str) -> list[str]:
    """The words of `name`, and those its apostrophes and hyphens join: "Mary-Jane D'Souza" ->
    mary, jane, d, souza, maryjane, dsouza."""
    found = words(name)
    return found + [word for word in words(name.translate(_JOINERS)) if word not in found]


def name_keys(name: str) -> list[str]:
    """Every prefix of every word of `name` (`name_words`), MIN_KEY to MAX_KEY characters
    long, sorted."""
    keys = {word[:length] for word in name_words(name)
            for length in range(MIN_KEY, min(len(word), MAX_KEY) + 1)}  # fmt: skip
    return sorted(keys)


def matches(name: str, term_words: Iterable[str]) -> bool:
    """True when each of `term_words` starts some word of `name` (words already normalised)."""
    known = name_words(name)
    return all(any(word.startswith(term) for word in known) for term in term_words)


def fill_name_keys(db: Any, user_ids: Iterable[int] | None = None) -> int:
    """Write `name_keys` for these customers (all of them when None); returns how many changed."""
    fields = {"name": 1, "name_keys": 1}
    customers = (db.customers.find({}, fields) if user_ids is None
                 else find_in(db.customers, "user_id", user_ids, fields))  # fmt: skip
    requests = [
        UpdateOne({"_id": doc["_id"]}, {"$set": {"name_keys": name_keys(doc.get("name", ""))}})
        for doc in customers
        if doc.get("name_keys") != name_keys(doc.get("name", ""))
    ]
    if not requests:
        return 0
    return int(db.customers.bulk_write(requests, ordered=False).modified_count)
