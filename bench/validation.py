"""The cost of the one validation path: strict submit parsing next to a bare json.loads.

    python bench/validation.py [--items 100000]

In-process, no server. A JSON submit body of classification-sized items (and,
for the worst case, items with a nested `meta` object) is parsed three ways in
one run, each the best of 3: `json.loads` alone; `llmlabel.validation.loads`
(strict: NaN/Infinity refused, but no per-value walk); and `parse_json_batch`,
what the API runs (strict parse, then every value of every item walked for
depth, NaN and lone surrogates in values and keys, sizes, ids). Prints seconds
and the ratio to json.loads.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from llmlabel.api.submission import Limits, parse_json_batch
from llmlabel.validation import loads


def best_of(runs: int, call: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def body(n: int, nested: bool) -> bytes:
    items = []
    for i in range(n):
        item: dict[str, Any] = {"id": f"item-{i}", "text": f"customer message {i}: the parcel "
                                "arrived two days late and the box was damaged"}
        if nested:
            item["meta"] = {"source": "crm", "tags": ["a", "b", {"k": [1, 2, 3]}], "score": 0.5}
        items.append(item)
    return json.dumps({"task": "classification", "items": items,
                       "metadata": {"run": 7}}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    limits = Limits(max_body_bytes=10**10, max_batch_items=10**7, max_item_bytes=10**6)
    print(f"{'body':<28}{'MB':>6}{'json.loads':>12}{'strict loads':>14}{'parse_json_batch':>18}")
    for nested in (False, True):
        data = body(args.items, nested)
        plain = best_of(3, lambda data=data: json.loads(data))
        strict = best_of(3, lambda data=data: loads(data, check=False))
        full = best_of(3, lambda data=data: parse_json_batch(data, limits))
        name = f"{args.items:,} items" + (" + nested meta" if nested else "")
        print(f"{name:<28}{len(data) / 1e6:>6.1f}{plain:>11.3f}s{strict:>11.3f}s "
              f"({strict / plain:.2f}x){full:>9.3f}s ({full / plain:.2f}x)")


if __name__ == "__main__":
    main()
