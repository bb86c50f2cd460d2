"""Refund tiers in the admin: leads only, the whole set validated, history kept, used at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from support import mongo
from support.admin import tier_set_errors
from support.models import Customer, RefundTier
from support.tools import ToolContext, run_tool

pytestmark = pytest.mark.django_db


def tier(name: str) -> RefundTier:
    return RefundTier.objects.get(name=name)


def edit(client: Client, tier_name: str, **changes: Any) -> Any:
    current = tier(tier_name)
    data = {
        "name": current.name,
        "min_lifetime_spend": f"{current.min_lifetime_spend / 100:.2f}",
        "percent": current.percent,
        **changes,
    }
    return client.post(f"/admin/support/refundtier/{current.pk}/change/", data)


def errors_of(response: Any) -> list[str]:
    assert response.status_code == 200, "expected the form again, with errors"
    return [str(e) for e in response.context["adminform"].form.non_field_errors()] + [
        str(e) for field in response.context["adminform"].form.errors.values() for e in field
    ]


def test_lead_edits_a_tier_in_rupees(lead: Client, tiers: Any) -> None:
    response = edit(lead, "Gold", min_lifetime_spend="6,000", percent=80)

    assert response.status_code == 302
    gold = tier("Gold")
    assert (gold.min_lifetime_spend, gold.percent) == (600_000, 80)


def test_a_threshold_changed_reads_in_words_and_rupees_in_the_history(
    lead: Client, tiers: Any
) -> None:
    edit(lead, "Gold", min_lifetime_spend="6,000")

    entry = LogEntry.objects.get(object_id=str(tier("Gold").pk))
    assert entry.get_change_message().startswith("Changed lifetime spend from: ₹")
    assert "min_lifetime_spend" not in entry.get_change_message()


def test_the_change_is_in_the_admin_history(lead: Client, tiers: Any) -> None:
    edit(lead, "Gold", percent=80)

    entry = LogEntry.objects.get(object_id=str(tier("Gold").pk))
    assert entry.user.username == "arjun"  # type: ignore[attr-defined]  # stubs leak a TypeVar here
    assert entry.get_change_message() == "Changed percent: 75% → 80%."
    history = lead.get(f"/admin/support/refundtier/{tier('Gold').pk}/history/")
    assert "Changed percent: 75% → 80%." in history.content.decode()
    assert "arjun" in history.content.decode()


def test_agent_can_read_but_not_change_tiers(agent: Client, tiers: Any) -> None:
    assert agent.get("/admin/support/refundtier/").status_code == 200
    assert agent.get("/admin/support/refundtier/add/").status_code == 403

    response = edit(agent, "Gold", percent=99)

    assert response.status_code == 403
    assert tier("Gold").percent == 75


def test_guest_cannot_see_tiers(guest_client: Client, tiers: Any) -> None:
    assert guest_client.get("/admin/support/refundtier/").status_code == 302
    assert edit(guest_client, "Gold", percent=99).status_code == 302
    assert tier("Gold").percent == 75


@pytest.mark.parametrize(
    "name, changes, message",
    [
        ("Gold", {"name": "silver"}, 'Two tiers are named "silver": tier names must be unique.'),
        ("Gold", {"percent": 101}, 'Tier "Gold": the refund must be between 0 and 100 percent.'),
        ("Gold", {"percent": -5}, 'Tier "Gold": the refund must be between 0 and 100 percent.'),
        ("Gold", {"min_lifetime_spend": "-1"},
         'Tier "Gold": the lifetime spend threshold cannot be negative.'),
        ("Gold", {"min_lifetime_spend": "2000"},
         'Tiers "Silver" and "Gold" both start at ₹2,000.00: each tier needs its own threshold.'),
        ("Bronze", {"min_lifetime_spend": "100"},
         "One tier must start at ₹0.00, so that every customer has a tier."),
        ("Gold", {"min_lifetime_spend": "12.345"}, "Enter an amount in rupees, like 5000 or "
         "2500.50 ('12.345' has more than paise precision)."),
        ("Gold", {"min_lifetime_spend": "1e999999"}, "Enter an amount in rupees, like 5000 or "
         "2500.50 ('1e999999' is more than ₹10,00,00,00,000.00)."),
    ],
)  # fmt: skip
def test_an_invalid_tier_set_is_rejected_with_a_clear_message(
    name: str, changes: dict[str, Any], message: str, lead: Client, tiers: Any
) -> None:
    before = sorted(RefundTier.objects.values_list("name", "min_lifetime_spend", "percent"))

    response = edit(lead, name, **changes)

    assert message in errors_of(response)
    assert sorted(RefundTier.objects.values_list("name", "min_lifetime_spend", "percent")) == before


def test_adding_a_tier_is_checked_against_the_others(lead: Client, tiers: Any) -> None:
    duplicate = lead.post("/admin/support/refundtier/add/",
                          {"name": "Diamond", "min_lifetime_spend": "10000", "percent": 100})
    added = lead.post("/admin/support/refundtier/add/",
                      {"name": "Diamond", "min_lifetime_spend": "50000",
                       "percent": 100})  # fmt: skip

    assert 'Tiers "Platinum" and "Diamond" both start at ₹10,000.00' in errors_of(duplicate)[0]
    assert added.status_code == 302 and RefundTier.objects.count() == 5


def test_the_zero_tier_cannot_be_deleted(lead: Client, tiers: Any) -> None:
    bronze, gold = tier("Bronze"), tier("Gold")

    refused = lead.post(f"/admin/support/refundtier/{bronze.pk}/delete/", {"post": "yes"},
                        follow=True)  # fmt: skip
    lead.post(f"/admin/support/refundtier/{gold.pk}/delete/", {"post": "yes"})

    assert any("Cannot delete Bronze: One tier must start at ₹0.00" in str(m)
               for m in refused.context["messages"])  # fmt: skip
    assert sorted(RefundTier.objects.values_list("name", flat=True)) == [
        "Bronze", "Platinum", "Silver"
    ]


def test_tier_set_rules_are_a_pure_function() -> None:
    assert tier_set_errors([("Bronze", 0, 30), ("Gold", 500_000, 75)]) == []
    assert len(tier_set_errors([("A", 10, 150), ("a", 10, -1)])) == 5


def test_a_tier_edit_changes_the_next_refund(lead: Client, tiers: Any, asha: Customer) -> None:
    # Asha's lifetime spend is ₹2,500: Silver. The refund tool reads the tiers on every call.
    edit(lead, "Silver", percent=60)

    result = asyncio.run(
        run_tool("initiate_refund", {"order_id": "ORD-1001", "reason": "cold"},
                 ToolContext(user_id=101, call_id="call-tier-test", channel="web"))
    )  # fmt: skip

    assert result["ok"] is True, result
    assert (result["tier"], result["percent"], result["amount"]) == ("Silver", 60, "202.50")


def test_the_tier_edit_is_what_the_collection_holds(lead: Client, tiers: Any) -> None:
    edit(lead, "Silver", percent=60)

    stored = mongo.sync_db()["refund_tiers"].find_one({"name": "Silver"}, {"_id": 0})
    assert stored == {"name": "Silver", "min_lifetime_spend": 200_000, "percent": 60}
