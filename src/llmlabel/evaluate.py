"""Evaluation against gold labels: quality, review rate and how well confidence ranks errors.

Pure functions over LabelRecords and gold labels; the CLI does the I/O.
"""

from __future__ import annotations

from statistics import fmean
from typing import Any

from pydantic import BaseModel

from llmlabel.domain import LabelRecord, Route
from llmlabel.position_bias import PositionBias, position_bias
from llmlabel.tasks import Task

__all__ = ["EvalReport", "auroc", "errors_in_lowest", "evaluate_records"]

LOWEST_SHARE = 0.2
"""Share of least-confident items in which we count how many of the errors fall."""


class EvalReport(BaseModel):
    task: str
    n: int
    quality: dict[str, float]
    review_rate: float
    auroc: dict[str, float | None]
    errors_in_lowest_20pct: dict[str, float | None]
    samples_per_item: float
    accuracy: float
    failed: int = 0
    cost_usd: float = 0.0
    tokens: int = 0
    guideline_version: str = ""
    prompt_version: str = ""
    model: str = ""
    position_bias: PositionBias | None = None
    """Preference only: how far choices follow the display order (see position_bias.py)."""


def auroc(scores: list[float], correct: list[bool]) -> float | None:
    """Area under the ROC curve of `scores` separating correct (positive) from wrong items.

    Mann-Whitney form with ties counted half; None when only one class is present.
    """
    pos = [s for s, c in zip(scores, correct, strict=True) if c]
    neg = [s for s, c in zip(scores, correct, strict=True) if not c]
    if not pos or not neg:
        return None
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def errors_in_lowest(scores: list[float], correct: list[bool], share: float = LOWEST_SHARE) -> float | None:
    """Share of the wrong items that fall among the `share` least-confident items.

    A random ranking gives about `share`; a useful signal gives much more. Ties at the
    cut are broken by input order (stable sort), so the figure is deterministic.
    """
    wrong = sum(1 for c in correct if not c)
    if wrong == 0 or not scores:
        return None
    cut = max(1, round(len(scores) * share))
    order = sorted(range(len(scores)), key=lambda i: scores[i])[:cut]
    return sum(1 for i in order if not correct[i]) / wrong


def evaluate_records(
    task: Task, pairs: list[tuple[LabelRecord, dict[str, Any]]], *, failed: int = 0
) -> EvalReport:
    """Score labeled items against their gold labels."""
    quality = task.quality([(record.label, gold) for record, gold in pairs])
    correct = [task.is_correct(record.label, gold) for record, gold in pairs]
    signal_names = sorted({name for record, _ in pairs for name in record.signals})
    aurocs: dict[str, float | None] = {}
    lowest: dict[str, float | None] = {}
    for name in signal_names:
        # Items without this signal are scored 0 (least confident) so every item counts.
        scores = [record.signals.get(name) or 0.0 for record, _ in pairs]
        has_signal = any(record.signals.get(name) is not None for record, _ in pairs)
        aurocs[name] = auroc(scores, correct) if has_signal else None
        lowest[name] = errors_in_lowest(scores, correct) if has_signal else None
    records = [record for record, _ in pairs]
    first = records[0] if records else None
    return EvalReport(
        task=task.name,
        n=len(pairs),
        quality=quality,
        review_rate=fmean(r.route == Route.REVIEW for r in records) if records else 0.0,
        auroc=aurocs,
        errors_in_lowest_20pct=lowest,
        samples_per_item=fmean(r.samples_used for r in records) if records else 0.0,
        accuracy=fmean(correct) if correct else 0.0,
        failed=failed,
        cost_usd=round(sum(r.usage.cost_usd for r in records), 6),
        tokens=sum(r.usage.prompt_tokens + r.usage.completion_tokens for r in records),
        guideline_version=first.guideline_version if first else "",
        prompt_version=first.prompt_version if first else "",
        model=first.model if first else "",
        position_bias=position_bias(records) if task.name == "preference" else None,
    )
