"""List prices of a few well-known models, used when a profile gives no pricing.

The figures are the providers' public list prices (USD per million tokens) at
the time of writing; they change, so treat them as a convenience default. Set
`LLMLABEL_PRICE_INPUT_PER_MTOK` / `LLMLABEL_PRICE_OUTPUT_PER_MTOK` (any non-zero
value) to override them; a profile with any non-zero price is used as is.
Anthropic's cache *writes* (1.25x input) are not modelled: they are billed as
plain input here, which slightly under-counts the first call of each prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ListPrice", "list_price"]


@dataclass(frozen=True, slots=True)
class ListPrice:
    """USD per million input, output and cached-input tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float


_PRICES: dict[str, ListPrice] = {
    "gpt-4o-mini": ListPrice(0.15, 0.60, 0.075),
    "gpt-4o": ListPrice(2.50, 10.00, 1.25),
    "gpt-4.1-nano": ListPrice(0.10, 0.40, 0.025),
    "gpt-4.1-mini": ListPrice(0.40, 1.60, 0.10),
    "gpt-4.1": ListPrice(2.00, 8.00, 0.50),
    "claude-3-5-haiku": ListPrice(0.80, 4.00, 0.08),
    "claude-haiku-4-5": ListPrice(1.00, 5.00, 0.10),
    "claude-3-5-sonnet": ListPrice(3.00, 15.00, 0.30),
    "claude-3-7-sonnet": ListPrice(3.00, 15.00, 0.30),
    "claude-sonnet-4": ListPrice(3.00, 15.00, 0.30),
    "claude-opus-4": ListPrice(15.00, 75.00, 1.50),
}


def list_price(model: str) -> ListPrice | None:
    """The list price of `model`, matched by the longest known prefix.

    Prefix matching covers dated snapshots and aliases (`gpt-4o-mini-2024-07-18`,
    `claude-3-5-haiku-latest`); the longest prefix wins so `gpt-4o-mini` is never
    billed as `gpt-4o`.
    """
    name = model.strip().lower()
    matches = [key for key in _PRICES if name.startswith(key)]
    if not matches:
        return None
    return _PRICES[max(matches, key=len)]
