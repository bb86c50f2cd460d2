"""A call's cost from the usage the Live API reported, priced per modality."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from django.conf import settings

from postcall.cost import UnknownModel, call_cost, modality_counts, usd_by_modality
from realtime import live_protocol as lp

# A real gemini-3.8-live receipt (reference: gemini-live.md section 4): its details leave 25
# prompt tokens unaccounted for.
RECEIPT = {
    "usageMetadata": {
        "promptTokenCount": 522, "responseTokenCount": 42, "totalTokenCount": 564,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 332},
                                {"modality": "AUDIO", "tokenCount": 165}],
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 42}],
        "thoughtsTokenCount": 136,
    }
}  # fmt: skip


def summed_usage(*frames: Mapping[str, object]) -> dict[str, int]:
    """What calls.usage holds after these frames: the four counts plus the modality ones."""
    usage: dict[str, int] = {}
    for frame in frames:
        [event] = lp.parse_server_message(json.dumps(frame))
        assert isinstance(event, lp.Usage)
        counts = {
            "prompt_token_count": event.prompt_token_count,
            "response_token_count": event.response_token_count,
            "total_token_count": event.total_token_count,
            "thoughts_token_count": event.thoughts_token_count,
            **modality_counts(event.details),
        }
        for key, value in counts.items():
            usage[key] = usage.get(key, 0) + value
    return usage


def test_the_modality_details_become_flat_counters() -> None:
    usage = summed_usage(RECEIPT, RECEIPT)
    assert usage["prompt_text_token_count"] == 664
    assert usage["prompt_audio_token_count"] == 330
    assert usage["response_audio_token_count"] == 84


def test_each_modality_is_priced_at_its_own_rate() -> None:
    usd = usd_by_modality(summed_usage(RECEIPT), settings.DEFAULT_LIVE_PRICES["gemini-3.8-live"])
    assert usd == pytest.approx({
        "input_text": 332 * 0.75e-6,
        "input_audio": 165 * 3e-6,
        "input_unattributed": 25 * 3e-6,  # the gap, at the dearest input rate
        "output_audio": 42 * 12e-6,
        "output_thinking": 136 * 4.5e-6,
    })  # fmt: skip


def test_a_call_cost_is_in_paise_of_the_configured_currency() -> None:
    cost = call_cost(
        summed_usage(RECEIPT), model="models/gemini-3.8-live",
        prices=settings.DEFAULT_LIVE_PRICES, currency="INR", per_usd=88.5,
    )  # fmt: skip
    assert cost["usd"] == pytest.approx(0.001935)
    assert cost["amount"] == 17  # 0.001935 × 88.5 = ₹0.171
    assert cost["currency"] == "INR" and cost["model"] == "gemini-3.8-live"
    assert cost["by_modality"]["output_thinking"] == 5


def test_usage_without_details_is_priced_at_the_dearest_rate() -> None:
    usage = {"prompt_token_count": 1_000_000, "response_token_count": 1_000_000}
    cost = call_cost(usage, model="gemini-3.8-live", prices=settings.DEFAULT_LIVE_PRICES,
                     currency="USD", per_usd=1.0)  # fmt: skip
    assert cost["amount"] == 1500  # $3 + $12, in cents


def test_a_model_without_a_price_is_refused() -> None:
    with pytest.raises(UnknownModel):
        call_cost({}, model="gemini-9", prices=settings.DEFAULT_LIVE_PRICES,
                  currency="INR", per_usd=88.5)  # fmt: skip


def test_the_parts_of_a_cost_add_up_to_its_total() -> None:
    """The call page lists the parts above the total: each rounded alone, they came to ₹0.16
    under a total of ₹0.17 for this receipt."""
    cost = call_cost(summed_usage(RECEIPT), model="gemini-3.8-live",
                     prices=settings.DEFAULT_LIVE_PRICES, currency="INR", per_usd=88.5)  # fmt: skip
    assert cost["amount"] == 17
    assert sum(cost["by_modality"].values()) == 17
    # The paisa the total's rounding adds goes to the part nearest to a whole one more.
    assert cost["by_modality"] == {"input_audio": 4, "input_text": 2, "input_unattributed": 1,
                                   "output_audio": 5, "output_thinking": 5}  # fmt: skip


def test_parts_each_under_a_paisa_still_add_up_to_the_total() -> None:
    # Two parts of 0.6 paise each: rounded alone, 1 + 1 under a total of 1.
    usage = {"prompt_token_count": 226, "response_token_count": 56}  # $0.000678, $0.000672
    cost = call_cost(usage, model="gemini-3.8-live", prices=settings.DEFAULT_LIVE_PRICES,
                     currency="INR", per_usd=8.85)  # fmt: skip
    assert sum(cost["by_modality"].values()) == cost["amount"]
