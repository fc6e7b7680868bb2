"""Agreement between two reviewers of the same items: Krippendorff's alpha per measure, and equality.

Pure functions over (first reviewer label, second reviewer label) pairs of
items reviewed twice. Alpha is nominal (`agreement.krippendorff_alpha_nominal`),
over values chosen per task so that a value is one judgment:

    safety          alpha/<category>  each flag (true/false; null flags skipped)
    classification  alpha/label       the label (single-label), or alpha/<label>
                                      presence of each label (multi-label)
    ner             alpha/spans       the whole set of (start, end, label) spans,
                                      i.e. the NER task's is_correct equality
    preference      alpha/best        the response ranked first (is_correct's top-1)
    instruction     alpha/category    the category (generate mode), alpha/quality
                                      the rating (rate mode); responses are free
                                      text and have no nominal value

`agreement` is the share of pairs the task itself counts as the same label,
`Task.is_correct(second, first)` (first reviewer as reference; for instruction
responses that is the similarity threshold), or plain equality without a task.
A rejection has no label: such pairs are counted in `n_skipped` only.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmlabel.agreement import krippendorff_alpha_nominal
from llmlabel.tasks import Task

__all__ = ["ReviewerAgreement", "reviewer_agreement"]

Label = dict[str, Any]
Unit = tuple[Hashable | None, Hashable | None]


class ReviewerAgreement(BaseModel):
    """How two reviewers of the same items agree, for one task (and version)."""

    model_config = ConfigDict(extra="forbid")

    task: str
    n_items: int = Field(description="items reviewed by two reviewers")
    n_pairs: int = Field(description="items where both reviewers gave a label (no rejection)")
    n_skipped: int = Field(description="items where either reviewer rejected")
    agreement: float | None = Field(description="share of pairs the task counts as the same label")
    alpha: dict[str, float | None] = Field(description="Krippendorff's alpha (nominal) per measure")


def _alpha(units: list[Unit]) -> float | None:
    return krippendorff_alpha_nominal(units)


def _safety(pairs: list[tuple[Label, Label]]) -> dict[str, float | None]:
    names = list(
        dict.fromkeys(c for pair in pairs for label in pair for c in label.get("flags", {}))
    )
    out: dict[str, float | None] = {}
    for name in names:
        units: list[Unit] = []
        for a, b in pairs:
            x, y = a.get("flags", {}).get(name), b.get("flags", {}).get(name)
            units.append((x if isinstance(x, bool) else None, y if isinstance(y, bool) else None))
        out[f"alpha/{name}"] = _alpha(units)
    return out


def _classes(label: Label) -> set[str]:
    return {label["label"]} if "label" in label else set(label.get("labels", []))


def _classification(pairs: list[tuple[Label, Label]]) -> dict[str, float | None]:
    if all("label" in a and "label" in b for a, b in pairs):
        return {"alpha/label": _alpha([(a["label"], b["label"]) for a, b in pairs])}
    names = sorted({c for a, b in pairs for c in _classes(a) | _classes(b)})
    return {
        f"alpha/{name}": _alpha([(name in _classes(a), name in _classes(b)) for a, b in pairs])
        for name in names
    }


def _spans(label: Label) -> tuple[tuple[int, int, str], ...]:
    return tuple(
        sorted((int(e["start"]), int(e["end"]), str(e["label"])) for e in label.get("entities", []))
    )


def _ner(pairs: list[tuple[Label, Label]]) -> dict[str, float | None]:
    return {"alpha/spans": _alpha([(_spans(a), _spans(b)) for a, b in pairs])}


def _best(label: Label) -> int | None:
    ranking = label.get("ranking") or []
    return int(ranking[0]) if ranking else None


def _preference(pairs: list[tuple[Label, Label]]) -> dict[str, float | None]:
    return {"alpha/best": _alpha([(_best(a), _best(b)) for a, b in pairs])}


def _instruction(pairs: list[tuple[Label, Label]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name in ("category", "quality"):
        if any(name in a and name in b for a, b in pairs):
            out[f"alpha/{name}"] = _alpha([(a.get(name), b.get(name)) for a, b in pairs])
    return out


_PER_TASK = {
    "safety": _safety,
    "classification": _classification,
    "ner": _ner,
    "preference": _preference,
    "instruction": _instruction,
}


def reviewer_agreement(
    task_name: str, pairs: Iterable[tuple[Label | None, Label | None]], task: Task | None = None
) -> ReviewerAgreement:
    """Agreement of (first, second) reviewer labels of items reviewed twice."""
    kept: list[tuple[Label, Label]] = []
    skipped = 0
    for first, second in pairs:
        if first is None or second is None:
            skipped += 1
        else:
            kept.append((first, second))
    same = [
        task.is_correct(second, first) if task is not None else second == first
        for first, second in kept
    ]
    compute = _PER_TASK.get(task_name)
    return ReviewerAgreement(
        task=task_name,
        n_items=len(kept) + skipped,
        n_pairs=len(kept),
        n_skipped=skipped,
        agreement=sum(same) / len(same) if same else None,
        alpha=compute(kept) if compute is not None and kept else {},
    )
