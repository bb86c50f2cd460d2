"""What a call cost: the Live API's reported usage times a price table. Pure.

The Live API bills every turn for the whole context so far, so the usage to price is the sum
of every `usageMetadata` of the call (what `calls.usage` holds). Its per-modality details are
summed into flat counters by `modality_counts` as they arrive (`prompt_audio_token_count`,
`response_audio_token_count`, ...); tokens the details do not account for (the API's totals
and details can differ by a few dozen tokens) are priced at the highest rate of their
direction, so a cost errs high rather than low. Thinking tokens are billed as output text.

Prices are USD per million tokens (settings.LIVE_PRICES); the amount is converted into the
configured currency and stored in its minor unit (paise for INR), like all money here.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# usageMetadata detail lists -> the direction they are billed in.
DETAIL_LISTS = {
    "promptTokensDetails": "prompt",
    "toolUsePromptTokensDetails": "prompt",
    "responseTokensDetails": "response",
}
MODALITIES = ("TEXT", "AUDIO", "IMAGE", "VIDEO")

Prices = Mapping[str, Mapping[str, Mapping[str, float]]]


class UnknownModel(Exception):
    """No price for this model in LIVE_PRICES."""


def modality_counts(details: Mapping[str, Any]) -> dict[str, int]:
    """Flat per-modality counters of one `usageMetadata` (camelCase, as live_protocol.Usage
    keeps it), to be summed over the call: `{"prompt_audio_token_count": 165, ...}`."""
    counts: dict[str, int] = {}
    for key, direction in DETAIL_LISTS.items():
        for entry in details.get(key) or []:
            modality = str(entry.get("modality", "")).upper()
            if modality in MODALITIES:
                field = f"{direction}_{modality.lower()}_token_count"
                counts[field] = counts.get(field, 0) + int(entry.get("tokenCount", 0) or 0)
    tool_use = int(details.get("toolUsePromptTokenCount", 0) or 0)
    if tool_use:
        counts["tool_use_prompt_token_count"] = tool_use
    return counts


def usd_by_modality(
    usage: Mapping[str, int], prices: Mapping[str, Mapping[str, float]]
) -> dict[str, float]:
    """USD per `{direction}_{modality}` (e.g. `input_audio`) for a call's summed usage."""
    cost: dict[str, float] = {}

    def add(key: str, tokens: int, usd_per_million: float) -> None:
        if tokens > 0:
            cost[key] = cost.get(key, 0.0) + tokens * usd_per_million / 1e6

    for direction, billed_as in (("prompt", "input"), ("response", "output")):
        rates = prices[billed_as]
        detailed = 0
        for modality in MODALITIES:
            tokens = int(usage.get(f"{direction}_{modality.lower()}_token_count", 0))
            detailed += tokens
            if tokens:
                add(f"{billed_as}_{modality.lower()}", tokens, _rate(rates, modality))
        total = int(usage.get(f"{direction}_token_count", 0))
        if direction == "prompt":
            total += int(usage.get("tool_use_prompt_token_count", 0))
        add(f"{billed_as}_unattributed", total - detailed, max(rates.values()))
    add("output_thinking", int(usage.get("thoughts_token_count", 0)), prices["output"]["TEXT"])
    return cost


def _rate(rates: Mapping[str, float], modality: str) -> float:
    # A modality the table lacks (video on an audio-only model) is priced as the dearest one.
    return rates.get(modality, max(rates.values()))


def call_cost(
    usage: Mapping[str, int], *, model: str, prices: Prices, currency: str, per_usd: float
) -> dict[str, Any]:
    """`{currency, amount, by_modality, usd, model}` for a call's summed usage; amounts in the
    currency's minor unit (paise), rounded half up. Raises UnknownModel without a price."""
    table = price_table(model, prices)
    if table is None:
        raise UnknownModel(f"no price for {model!r} in LIVE_PRICES")
    usd = usd_by_modality(usage, table)
    amount = minor_units(sum(usd.values()), per_usd)
    return {
        "currency": currency,
        "amount": amount,
        "by_modality": apportioned(amount, usd, per_usd),
        "usd": round(sum(usd.values()), 6),
        "model": model.removeprefix("models/"),
    }


def price_table(model: str, prices: Prices) -> Mapping[str, Mapping[str, float]] | None:
    """The prices of `model` (a bare id, or `models/...` as the Live API names it), or None
    when `prices` has none."""
    return prices.get(model.removeprefix("models/"))


def minor_units(usd: float, per_usd: float) -> int:
    """`usd` US dollars in the configured currency's minor unit at `per_usd`, rounded half up."""
    return int(_exact_minor(usd, per_usd).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _exact_minor(usd: float, per_usd: float) -> Decimal:
    return Decimal(repr(usd)) * Decimal(repr(per_usd)) * 100


def apportioned(amount: int, usd: Mapping[str, float], per_usd: float) -> dict[str, int]:
    """`amount` (the call's total in minor units) split over the parts of `usd`, in key order,
    so that the parts add up to it: each part its whole minor units, and the units the
    rounding of the total leaves over to the parts with the largest fractions. (Each part
    rounded alone, the call page's rows and its total disagreed by a paisa or two.)"""
    exact = {key: _exact_minor(value, per_usd) for key, value in sorted(usd.items())}
    parts = {key: int(value) for key, value in exact.items()}  # whole units, rounded down
    left = max(0, amount - sum(parts.values()))
    for key in sorted(exact, key=lambda key: exact[key] - parts[key], reverse=True)[:left]:
        parts[key] += 1
    return parts
