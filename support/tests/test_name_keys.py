"""Customers found by the prefixes of the words of their name (support/name_keys.py)."""

from __future__ import annotations

import importlib
import io
import json
from types import SimpleNamespace
from typing import Any

import pytest

from support import mongo
from support.models import Customer
from support.name_keys import fill_name_keys, matches, name_keys, name_words, words


def test_words_are_lower_case_without_accents() -> None:
    assert words("Zoë D'Souza-Rao") == ["zoe", "d", "souza", "rao"]


def test_words_keep_the_vowel_signs_of_indian_scripts() -> None:
    # Their vowel signs are marks, not letters: a word is not cut at each one ("प्रिया" was
    # "पर" and "य"). The virama, like an accent, is dropped from the name and the term alike.
    assert words("प्रिया नायर, அருண்") == ["परिया", "नायर", "அருண"]
    assert "मीन" in name_keys("मीना")


def test_a_names_words_include_those_its_apostrophes_and_hyphens_join() -> None:
    assert name_words("Mary-Jane D’Souza") == ["mary", "jane", "d", "souza", "maryjane", "dsouza"]


def test_keys_are_every_prefix_of_each_word_from_its_initial() -> None:
    assert name_keys("Ravi Rao") == ["r", "ra", "rao", "rav", "ravi"]


def test_a_term_matches_when_each_word_starts_a_word_of_the_name() -> None:
    assert matches("Aarav Sharma", ["sh", "aar"])
    assert not matches("Aarav Sharma", ["sharman"])


@pytest.mark.django_db
def test_saving_a_customer_keeps_the_keys(db: Any) -> None:
    customer = Customer.objects.create(user_id=1, name="Asha Verma", phone="+919800000001")
    customer.name = "Asha Iyer"
    customer.save(update_fields=["name"])

    stored = mongo.sync_db().customers.find_one({"user_id": 1})
    assert stored is not None
    assert "iyer" in stored["name_keys"] and "verma" not in stored["name_keys"]


@pytest.mark.django_db
def test_fill_name_keys_writes_what_is_missing_or_stale(db: Any) -> None:
    customers = mongo.sync_db().customers
    customers.insert_one({"user_id": 7, "name": "Meera Joshi", "phone": "+919800000007"})

    assert fill_name_keys(mongo.sync_db(), [7]) == 1
    assert fill_name_keys(mongo.sync_db(), [7]) == 0
    stored = customers.find_one({"user_id": 7})
    assert stored is not None and "jos" in stored["name_keys"]


@pytest.mark.django_db
def test_customers_keyed_before_vowel_signs_were_kept_are_found_once_migrated(db: Any) -> None:
    from django.db import connection

    from support.staff.search import find_customers

    # As an earlier version stored them: the words cut at each vowel sign.
    mongo.sync_db().customers.insert_one({"user_id": 3, "name": "प्रिया नायर",
                                          "phone": "+919800000003", "name_keys": ["पर", "यर"]})
    migration = importlib.import_module("support.migrations.0013_refill_name_keys")

    migration.fill_existing(None, SimpleNamespace(connection=connection))

    assert [customer.user_id for customer in find_customers("प्रिया")] == [3]


@pytest.mark.django_db
def test_customers_loaded_from_a_file_are_found_by_name(db: Any) -> None:
    from pathlib import Path

    from django.core.management import call_command

    from support.staff.search import find_customers

    example = Path(__file__).resolve().parents[1] / "fixtures" / "example_support_data.json"
    call_command("load_support_data", str(example), stdout=io.StringIO())
    first = json.loads(example.read_text())["customers"][0]

    found = find_customers(first["name"].split()[-1][:3].lower())

    assert first["user_id"] in [customer.user_id for customer in found]
