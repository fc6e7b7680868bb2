"""What a review of an item is worth, for a project's `value` review order (pure, no Redis).

A project's `review_order` is `age` (oldest first, the default) or `value`. In
`value` order an item's queue place is its waiting-since time moved earlier by a
head start: `boost_s = value * horizon_s`, where `value` in [0, 1] adds up three
explainable parts of the label record:

- uncertainty (weight 0.5): `1 - confidence`, the samples' agreement score;
- disagreement (0.3): 1 when the usable samples split, 0.5 when they agree but
  some samples were unusable (a format glitch, a one-off), 0 otherwise;
- risk (0.2): 1 when a safety flag was raised, 0.5 when only a minority of
  samples raised one.

Age stays the tie-breaker, and aging is built in: a claim takes the lowest
`waiting_since - boost_s` (plus the diversity penalty below), so an item that
joined at `t` is ahead of every item joining after `t + horizon_s +
penalty_s`. It is therefore claimed before any of those: nothing starves.

Diversity: each item gets a near-duplicate bucket, a two-row MinHash of its
text's word 3-shingles (two texts share it with probability about J^2 for
Jaccard similarity J), and a claim adds `penalty_s` to the place of items
whose bucket matches one of the reviewer's recent claims.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from llmlabel.domain import LabelRecord
from llmlabel.tasks.similarity import tokenize

__all__ = [
    "RECENT_CLAIMS",
    "ReviewOrder",
    "ReviewValue",
    "near_duplicate_bucket",
    "review_value",
]

RECENT_CLAIMS = 10
"""How many of a reviewer's last claims the diversity penalty looks back on."""

_WEIGHTS = {"uncertainty": 0.5, "disagreement": 0.3, "risk": 0.2}
_SHINGLE = 3
_SALTS = (b"rq-a", b"rq-b")


class ReviewOrder(StrEnum):
    """How a project's items leave the review queue."""

    AGE = "age"
    VALUE = "value"


@dataclass(frozen=True, slots=True)
class ReviewValue:
    """An item's review value in [0, 1], its parts (each in [0, 1]) and its bucket."""

    value: float
    uncertainty: float
    disagreement: float
    risk: float
    bucket: str

    def boost_s(self, horizon_s: float) -> float:
        """The head start in the queue, in seconds of waiting."""
        return round(self.value * horizon_s, 3)


def review_value(record: LabelRecord, item_input: dict[str, Any]) -> ReviewValue:
    """Score a label record that goes to review (see the module docstring)."""
    uncertainty = min(1.0, max(0.0, 1.0 - record.confidence))
    parts = {
        "uncertainty": uncertainty,
        "disagreement": _disagreement(record),
        "risk": _risk(record),
    }
    value = sum(_WEIGHTS[name] * part for name, part in parts.items())
    return ReviewValue(
        value=round(min(1.0, value), 4),
        bucket=near_duplicate_bucket(item_input),
        **{name: round(part, 4) for name, part in parts.items()},
    )


def _disagreement(record: LabelRecord) -> float:
    samples = record.samples
    valid = [s for s in samples if s.valid]
    if not samples:
        return 0.0
    if not valid or record.label is None:
        return 0.5  # nothing usable: a malformed answer, not a split judgment
    if len(valid) > 1 and record.confidence < 1.0:
        return 1.0
    return 0.5 if len(valid) < len(samples) else 0.0


def _risk(record: LabelRecord) -> float:
    flags = (record.label or {}).get("flags")
    if isinstance(flags, dict) and any(v is True for v in flags.values()):
        return 1.0
    shares = record.detail.get("positive_share")
    if isinstance(shares, dict) and any(
        isinstance(v, int | float) and v > 0 for v in shares.values()
    ):
        return 0.5
    return 0.0


def _texts(value: Any) -> Iterator[str]:
    """Every string in an item's input, in key order (ids excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key in sorted(value):
            if key != "id":
                yield from _texts(value[key])
    elif isinstance(value, list):
        for entry in value:
            yield from _texts(entry)


def near_duplicate_bucket(item_input: dict[str, Any]) -> str:
    """A short bucket id that near-duplicate texts share (two-row MinHash of word 3-shingles)."""
    words = tokenize(" ".join(_texts(item_input)))
    if not words:
        words = [json.dumps(item_input, sort_keys=True)]
    n = min(_SHINGLE, len(words))
    shingles = {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}
    mins = (
        min(hashlib.blake2b(s, digest_size=4, key=salt).hexdigest() for s in shingles)
        for salt in _SALTS
    )
    return "".join(mins)
