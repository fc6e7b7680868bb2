"""Agreement between raters: Cohen's kappa, Krippendorff's alpha, span F1, pairwise accuracy.

Pure functions over plain labels. `agreement_summary` puts them together per
task for the usual question "how often does the LLM agree with the reviewer?",
and the reviewer-vs-reviewer question (items reviewed more than once) is
`krippendorff_alpha_nominal`.

Undefined values are None, never NaN: a NaN would poison every mean it joins,
and a made-up 0 or 1 would be read as a finding. Kappa and alpha are undefined
when chance agreement is total (every rating in one category): agreement is
then perfect but carries no information beyond the base rate.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmlabel.errors import InputError


def _load_similarity() -> tuple[Callable[[str, str], float] | None, str]:
    """The instruction task's text similarity and its name, when the tasks package imports."""
    try:
        from llmlabel.tasks.similarity import SIMILARITY_METRIC as name
        from llmlabel.tasks.similarity import similarity
    except ImportError:  # tasks are optional here: agreement must work without them
        return None, "token_f1"
    return similarity, name


_similarity, SIMILARITY_METRIC = _load_similarity()

__all__ = [
    "SIMILARITY_METRIC",
    "AgreementSummary",
    "SpanCounts",
    "agreement_summary",
    "cohen_kappa",
    "krippendorff_alpha_nominal",
    "micro_span_counts",
    "observed_agreement",
    "pairwise_accuracy",
    "span_counts",
    "span_f1",
    "text_similarity",
]

LabelPair = tuple[dict[str, Any] | None, dict[str, Any] | None]


# -- categorical ---------------------------------------------------------------


def _paired(a: Sequence[Hashable], b: Sequence[Hashable]) -> None:
    if len(a) != len(b):
        raise InputError(f"raters rated different numbers of items ({len(a)} and {len(b)})")
    if not a:
        raise InputError("agreement needs at least one rated item")


def observed_agreement(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Share of items on which two raters gave the same category."""
    _paired(a, b)
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters over the same items: (po - pe) / (1 - pe).

    po is the observed agreement, pe the agreement expected if each rater drew
    categories independently at their own rates. When pe == 1 both raters used
    one and the same category for every item; kappa is 0/0 there and this
    returns None (see `observed_agreement` for the plain rate, which is 1.0).
    """
    _paired(a, b)
    n = len(a)
    po = observed_agreement(a, b)
    count_a, count_b = Counter(a), Counter(b)
    pe = sum(count_a[c] * count_b[c] for c in count_a) / (n * n)
    if pe >= 1.0:
        return None
    return (po - pe) / (1.0 - pe)


def krippendorff_alpha_nominal(units: Iterable[Sequence[Hashable | None]]) -> float | None:
    """Krippendorff's alpha for nominal data; each unit lists its ratings, None for missing.

    Only units with two or more ratings count (a lone rating has nothing to agree
    with). From the coincidence matrix o_ck, where each unit adds 1/(m_u - 1) for
    every ordered pair of its m_u ratings: alpha = 1 - (n - 1) * sum_{c!=k} o_ck
    / sum_{c!=k} n_c * n_k, with n_c the row sums and n their total. None when
    fewer than two pairable ratings exist or all of them share one category.
    """
    coincidences: defaultdict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for unit in units:
        values = [v for v in unit if v is not None]
        m = len(values)
        if m < 2:
            continue
        for i, j in itertools.permutations(range(m), 2):
            coincidences[(values[i], values[j])] += 1.0 / (m - 1)
    totals: defaultdict[Hashable, float] = defaultdict(float)
    for (c, _k), weight in coincidences.items():
        totals[c] += weight
    n = sum(totals.values())
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if n < 2 or expected == 0:
        return None
    disagreement = sum(w for (c, k), w in coincidences.items() if c != k)
    return 1.0 - (n - 1) * disagreement / expected


# -- spans ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpanCounts:
    """Exact-match span counts of a prediction against a reference, and their P/R/F1.

    With no span on either side, precision, recall and F1 are 1.0: two raters
    who both say "no entity" agree completely.
    """

    tp: int
    fp: int
    fn: int

    def __add__(self, other: SpanCounts) -> SpanCounts:
        return SpanCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return 1.0 if self.tp + self.fp == 0 else self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float:
        return 1.0 if self.tp + self.fn == 0 else self.tp / (self.tp + self.fn)

    @property
    def f1(self) -> float:
        if self.tp + self.fp + self.fn == 0:
            return 1.0
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)


def _span_set(label: dict[str, Any] | None) -> set[tuple[int, int, str]]:
    if label is None:
        return set()
    return {(int(e["start"]), int(e["end"]), str(e["label"])) for e in label.get("entities", [])}


def span_counts(pred: dict[str, Any] | None, ref: dict[str, Any] | None) -> SpanCounts:
    """tp/fp/fn of `pred`'s entities against `ref`'s, matching (start, end, label) exactly."""
    p, r = _span_set(pred), _span_set(ref)
    return SpanCounts(len(p & r), len(p - r), len(r - p))


def span_f1(pred: dict[str, Any] | None, ref: dict[str, Any] | None) -> float:
    """Exact-match span F1 between two NER labels (symmetric in its arguments)."""
    return span_counts(pred, ref).f1


def micro_span_counts(pairs: Iterable[tuple[dict[str, Any] | None, dict[str, Any] | None]]) -> SpanCounts:
    """Span counts summed over many (pred, ref) label pairs: micro P/R/F1."""
    return sum((span_counts(p, r) for p, r in pairs), SpanCounts(0, 0, 0))


# -- rankings and texts --------------------------------------------------------


def _concordance(a: Sequence[int], b: Sequence[int]) -> tuple[int, int]:
    """(pairs ordered alike, pairs compared) over the responses both rankings place."""
    pos_a = {item: i for i, item in enumerate(a)}
    pos_b = {item: i for i, item in enumerate(b)}
    common = [item for item in a if item in pos_b]
    same = total = 0
    for x, y in itertools.combinations(common, 2):
        total += 1
        same += (pos_a[x] < pos_a[y]) == (pos_b[x] < pos_b[y])
    return same, total


def pairwise_accuracy(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Share of response pairs two rankings order the same way; None with under two common items."""
    same, total = _concordance(a, b)
    return same / total if total else None


def _token_f1(a: str, b: str) -> float:
    words_a, words_b = a.lower().split(), b.lower().split()
    if not words_a and not words_b:
        return 1.0
    overlap = sum((Counter(words_a) & Counter(words_b)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(words_b), overlap / len(words_a)
    return 2 * precision * recall / (precision + recall)


def text_similarity(a: str, b: str) -> float:
    """The instruction task's similarity (SIMILARITY_METRIC), or token F1 without it."""
    return _similarity(a, b) if _similarity is not None else _token_f1(a, b)


# -- per task ------------------------------------------------------------------


class AgreementSummary(BaseModel):
    """Agreement of label pairs for one task; metric names depend on the task."""

    model_config = ConfigDict(extra="forbid")

    task: str
    n_pairs: int = Field(description="pairs where both labels exist")
    n_skipped: int = Field(description="pairs with a missing label on either side")
    metrics: dict[str, float | None]


def _categorical(prefix: str, a: list[Hashable], b: list[Hashable]) -> dict[str, float | None]:
    if not a:
        return {}
    return {f"kappa/{prefix}": cohen_kappa(a, b), f"agreement/{prefix}": observed_agreement(a, b)}


def _safety(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, float | None]:
    categories = list(dict.fromkeys(c for pair in pairs for label in pair for c in label.get("flags", {})))
    metrics: dict[str, float | None] = {}
    for cat in categories:
        # A null flag means "not judged": such items do not count for that category.
        both = [(x["flags"].get(cat), y["flags"].get(cat)) for x, y in pairs]
        judged = [(p, q) for p, q in both if isinstance(p, bool) and isinstance(q, bool)]
        metrics.update(_categorical(cat, [p for p, _ in judged], [q for _, q in judged]))
    return metrics


def _classes(label: dict[str, Any]) -> set[str]:
    return {label["label"]} if "label" in label else set(label.get("labels", []))


def _classification(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, float | None]:
    if all("label" in x and "label" in y for x, y in pairs):
        return _categorical("label", [x["label"] for x, _ in pairs], [y["label"] for _, y in pairs])
    names = sorted({c for x, y in pairs for c in _classes(x) | _classes(y)})
    metrics: dict[str, float | None] = {}
    for name in names:
        metrics.update(_categorical(name, [name in _classes(x) for x, _ in pairs],
                                    [name in _classes(y) for _, y in pairs]))
    metrics["agreement/exact"] = sum(_classes(x) == _classes(y) for x, y in pairs) / len(pairs)
    return metrics


def _preference(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, float | None]:
    same = total = 0
    for x, y in pairs:
        s, t = _concordance(x["ranking"], y["ranking"])
        same, total = same + s, total + t
    best = [x["ranking"][0] == y["ranking"][0] for x, y in pairs if x["ranking"] and y["ranking"]]
    return {"pairwise_accuracy": same / total if total else None,
            "agreement/best": sum(best) / len(best) if best else None}


def _instruction(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, float | None]:
    metrics: dict[str, float | None] = {}
    texts = [(x["response"], y["response"]) for x, y in pairs if "response" in x and "response" in y]
    if texts:
        metrics["similarity"] = sum(text_similarity(p, q) for p, q in texts) / len(texts)
    cats = [(x["category"], y["category"]) for x, y in pairs if "category" in x and "category" in y]
    metrics.update(_categorical("category", [p for p, _ in cats], [q for _, q in cats]))
    rated = [(x["quality"], y["quality"]) for x, y in pairs if "quality" in x and "quality" in y]
    if rated:
        metrics["agreement/quality"] = sum(p == q for p, q in rated) / len(rated)
        metrics["quality_mae"] = sum(abs(p - q) for p, q in rated) / len(rated)
    return metrics


def _ner(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, float | None]:
    counts = micro_span_counts(pairs)
    return {"span_precision": counts.precision, "span_recall": counts.recall, "span_f1": counts.f1}


_PER_TASK = {
    "safety": _safety,
    "classification": _classification,
    "preference": _preference,
    "instruction": _instruction,
    "ner": _ner,
}


def agreement_summary(task: str, pairs: Iterable[LabelPair]) -> AgreementSummary:
    """Agreement of (LLM label, reviewer label) pairs; the reviewer is the reference.

    - safety: `kappa/<category>` and `agreement/<category>` per flag (null flags skipped);
    - classification: `kappa/label`, or per-label presence kappa plus `agreement/exact`;
    - ner: micro `span_precision`, `span_recall`, `span_f1` (exact start, end, label);
    - preference: `pairwise_accuracy` (micro over response pairs) and `agreement/best`;
    - instruction: mean `similarity` of responses (SIMILARITY_METRIC), `kappa/category`,
      and for ratings `agreement/quality` and `quality_mae`.
    A pair where either label is None (failed item, rejected review) is skipped.
    """
    compute = _PER_TASK.get(task)
    if compute is None:
        raise InputError(f"no agreement measure for task {task!r} (known: {', '.join(sorted(_PER_TASK))})")
    kept: list[tuple[dict[str, Any], dict[str, Any]]] = []
    skipped = 0
    for llm_label, reviewer_label in pairs:
        if llm_label is None or reviewer_label is None:
            skipped += 1
        else:
            kept.append((llm_label, reviewer_label))
    metrics = compute(kept) if kept else {}
    return AgreementSummary(task=task, n_pairs=len(kept), n_skipped=skipped, metrics=metrics)
