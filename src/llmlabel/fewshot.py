"""Similar-example few-shot: a project's example pool and the choice of examples per item.

Pure: the pool arrives as values (the store loads it, workers cache it per
snapshot). Similarity is character n-gram TF-IDF with cosine scores, so no
model is downloaded and a few thousand examples index in milliseconds. The
choice is a function of (snapshot, item, k) alone: ties break by example id,
so the same version, pool snapshot and item always give the same prompt.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "PoolExample",
    "PoolSnapshot",
    "example_text",
    "make_snapshot",
    "select_examples",
]

# Character n-gram sizes (word-boundary padded) and how much of a text is indexed:
# enough to match on topic and wording, bounded so a long document costs no more.
_NGRAMS = (3, 4, 5)
_MAX_CHARS = 2000

Source = Literal["approve", "fix", "gold"]


class PoolExample(BaseModel):
    """One candidate example: an input and its final (human-checked) label.

    `edited` comes first in the stored JSON: the Lua scripts look at the text's
    start to leave an operator's edit alone when the item is decided again.
    `pinned` / `excluded` are the operator's flags (kept apart in the store).
    """

    model_config = ConfigDict(extra="forbid")

    edited: bool = False
    id: str
    source: Source
    task: str
    item_id: str | None = None
    input: dict[str, Any]
    label: dict[str, Any]
    at: float
    pinned: bool = False
    excluded: bool = False

    def stored_json(self) -> str:
        """The store's form: without the flags, `edited` first."""
        return self.model_dump_json(exclude={"pinned", "excluded"})


Fields = tuple[str, ...] | None


def example_text(value: Any, fields: Fields = None) -> str:
    """The text an input is compared by: its strings in key order, lowercased, spaces folded.

    `fields` (the task's input fields) keeps ids, gold labels and metadata an item
    may carry out of the comparison; None compares every string.
    """
    if fields is not None and isinstance(value, dict):
        value = {key: value[key] for key in fields if key in value}
    parts: list[str] = []
    _collect(value, parts)
    return " ".join(" ".join(parts).lower().split())[:_MAX_CHARS]


def _collect(value: Any, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(value)
    elif isinstance(value, dict):
        for key in sorted(value):
            _collect(value[key], parts)
    elif isinstance(value, list):
        for entry in value:
            _collect(entry, parts)


def _ngrams(text: str) -> Counter[str]:
    grams: Counter[str] = Counter()
    for word in text.split():
        padded = f" {word} "
        for n in _NGRAMS:
            grams.update(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
    return grams


def _weights(grams: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    """Sublinear tf x idf, L2-normalised; n-grams the pool never saw carry no weight."""
    vec = {g: (1.0 + math.log(c)) * idf[g] for g, c in grams.items() if g in idf}
    norm = math.sqrt(sum(w * w for w in vec.values()))
    return {g: w / norm for g, w in vec.items()} if norm else {}


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    """The pool as a worker saw it: examples in id order and the id of that state."""

    examples: tuple[PoolExample, ...]
    snapshot_id: str
    # Per compared-fields tuple: (idf, postings); filled on first use (see `_postings`).
    _index: dict[Fields, Any] = field(default_factory=dict, compare=False, repr=False)

    def _postings(
        self, fields: Fields
    ) -> tuple[dict[str, float], dict[str, list[tuple[int, float]]]]:
        """(idf, n-gram -> [(example position, weight)]) over the usable examples, built once."""
        if fields not in self._index:
            usable = [e for e in self.examples if not e.excluded]
            docs = [_ngrams(example_text(e.input, fields)) for e in usable]
            df: Counter[str] = Counter(g for grams in docs for g in grams)
            total = len(docs)
            idf = {g: math.log((1 + total) / (1 + d)) + 1.0 for g, d in df.items()}
            postings: dict[str, list[tuple[int, float]]] = {}
            positions = {e.id: i for i, e in enumerate(self.examples)}
            for example, grams in zip(usable, docs, strict=True):
                at = positions[example.id]
                for gram, weight in _weights(grams, idf).items():
                    postings.setdefault(gram, []).append((at, weight))
            self._index[fields] = (idf, postings)
        found: tuple[dict[str, float], dict[str, list[tuple[int, float]]]] = self._index[fields]
        return found

    def scores(self, item_input: dict[str, Any], fields: Fields = None) -> dict[int, float]:
        """Cosine similarity of the item to each usable example (by position) sharing an n-gram."""
        idf, postings = self._postings(fields)
        query = _weights(_ngrams(example_text(item_input, fields)), idf)
        scores: dict[int, float] = {}
        for gram in sorted(query):  # a fixed order: float sums come out the same every run
            for at, weight in postings.get(gram, ()):
                scores[at] = scores.get(at, 0.0) + query[gram] * weight
        return scores


def make_snapshot(examples: Iterable[PoolExample]) -> PoolSnapshot:
    """A snapshot whose id is the sha256 of what selection reads (ids, inputs, labels, flags)."""
    ordered = tuple(sorted(examples, key=lambda e: e.id))
    canonical = json.dumps(
        [[e.id, e.input, e.label, e.pinned, e.excluded] for e in ordered],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return PoolSnapshot(examples=ordered, snapshot_id=f"pool-{digest[:16]}")


def select_examples(
    snapshot: PoolSnapshot, item_input: dict[str, Any], k: int, fields: Fields = None
) -> Sequence[PoolExample]:
    """Up to `k` examples for one item: pinned first, then by similarity; never excluded ones.

    An unpinned example sharing no n-gram with the item is not chosen (it costs
    tokens and shows nothing alike).

    An example with the item's very text (in `fields`) is skipped: it would hand the model
    its answer (and would leak gold labels into a gold evaluation).
    """
    if k <= 0 or not snapshot.examples:
        return ()
    scores = snapshot.scores(item_input, fields)
    own = example_text(item_input, fields)
    ranked = sorted(
        (not e.pinned, -round(scores.get(at, 0.0), 9), e.id, at)
        for at, e in enumerate(snapshot.examples)
        if not e.excluded and (e.pinned or scores.get(at, 0.0) > 0)
        and example_text(e.input, fields) != own
    )
    return tuple(snapshot.examples[at] for *_, at in ranked[:k])
