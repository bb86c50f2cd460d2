"""The database refuses what the contract says is unique, whoever writes it."""

from __future__ import annotations

import pytest
from pymongo.errors import DuplicateKeyError

from support import mongo

pytestmark = pytest.mark.django_db


def test_two_customers_cannot_share_a_user_id() -> None:
    customers = mongo.sync_db().customers
    customers.insert_one({"user_id": 1, "name": "Asha", "phone": "+919800000001"})
    with pytest.raises(DuplicateKeyError):
        customers.insert_one({"user_id": 1, "name": "Ravi", "phone": "+919800000002"})


def test_two_customers_cannot_share_a_phone_number() -> None:
    customers = mongo.sync_db().customers
    customers.insert_one({"user_id": 1, "name": "Asha", "phone": "+919800000001"})
    with pytest.raises(DuplicateKeyError):
        customers.insert_one({"user_id": 2, "name": "Ravi", "phone": "+919800000001"})


@pytest.mark.parametrize(
    ("collection", "field"),
    [
        ("orders", "order_id"),
        ("refunds", "refund_id"),
        ("refunds", "order_id"),
        ("complaints", "complaint_id"),
        ("escalations", "ticket_id"),
        ("calls", "call_id"),
    ],
)
def test_ids_are_unique(collection: str, field: str) -> None:
    mongo.sync_db()[collection].insert_one({field: "X-1"})
    with pytest.raises(DuplicateKeyError):
        mongo.sync_db()[collection].insert_one({field: "X-1"})


@pytest.mark.parametrize(
    "collection",
    ["orders", "refunds", "complaints", "escalations", "calls", "goodwill", "callbacks"],
)
def test_a_customers_documents_are_found_by_one_index_that_leads_with_user_id(
    collection: str,
) -> None:
    """Lookups by customer use a compound index (`*_customer_recent` and the like); a plain
    `user_id` index beside it would only cost every write."""
    keys = [
        [field for field, _ in index["key"]]
        for index in mongo.sync_db()[collection].index_information().values()
    ]
    assert any(len(key) > 1 and key[0] == "user_id" for key in keys)
    assert ["user_id"] not in keys


def test_a_call_cannot_have_two_live_tickets() -> None:
    """Its warm escalation is one (support/escalations.py); tickets no longer live are many."""
    escalations = mongo.sync_db().escalations
    escalations.insert_one({"ticket_id": "TKT-1", "call_id": "call-1", "live": False})
    escalations.insert_one({"ticket_id": "TKT-2", "call_id": "call-1", "live": True,
                            "live_call_id": "call-1"})  # fmt: skip
    escalations.insert_one({"ticket_id": "TKT-3", "call_id": "call-1", "live": False})
    with pytest.raises(DuplicateKeyError):
        escalations.insert_one({"ticket_id": "TKT-4", "call_id": "call-1", "live": True,
                                "live_call_id": "call-1"})  # fmt: skip
