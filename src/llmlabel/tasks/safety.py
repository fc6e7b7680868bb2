"""Safety moderation: one boolean per category of the guideline, plus a short rationale.

Samples vote per category; an exact tie flags the category, since a false
"safe" is the costlier mistake. The risk rule is the guideline option
`flag_review`:

- `minority` (the default): review when some sample raised a flag the consensus
  dropped; a missed flag is the costly error, and that is where it hides. A flag
  the samples agree on is a label like any other: it is accepted when confidence
  clears the threshold, and calibration measures the precision of such labels.
- `any`: also review every item whose consensus raises a flag (a person sees
  all flagged content before it counts).
- `none`: no task rule; the confidence threshold alone decides.

v1 spells it `flag_forces_review: true` (= `minority`) or `false` (= `none`).

Gold labels may leave a category unknown (null), as the OpenAI moderation eval
set does; such cells are skipped when scoring, never counted as "not flagged".
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from llmlabel.domain import Consensus, Sample
from llmlabel.errors import DefinitionError, SampleError
from llmlabel.guidelines import Guideline
from llmlabel.tasks.base import Task
from llmlabel.tasks.voting import PRF, binary_vote, set_prf

__all__ = ["SafetyInput", "SafetyTask"]

Pair = tuple[dict[str, Any] | None, dict[str, Any]]


class SafetyInput(BaseModel):
    """What safety reads from an item: its text."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1)


FLAG_REVIEW_RULES = ("minority", "any", "none")


def _flag_review(guideline: Guideline) -> str:
    """The version's risk rule, from `flag_review` or v1's boolean `flag_forces_review`."""
    options = guideline.options
    where = f"safety/{guideline.version}: options"
    if "flag_review" in options:
        if "flag_forces_review" in options:
            raise DefinitionError(
                f"{where}: set flag_review or flag_forces_review, not both",
                part="guideline", field="options.flag_forces_review",
            )
        rule = options["flag_review"]
        if rule not in FLAG_REVIEW_RULES:
            raise DefinitionError(
                f"{where}.flag_review must be one of {', '.join(FLAG_REVIEW_RULES)}",
                part="guideline", field="options.flag_review",
            )
        return str(rule)
    forces = options.get("flag_forces_review", True)
    if not isinstance(forces, bool):
        raise DefinitionError(
            f"{where}.flag_forces_review must be true or false",
            part="guideline", field="options.flag_forces_review",
        )
    return "minority" if forces else "none"


class SafetyTask(Task):
    """Per-category flags voted across samples, with a review rule for minority flags."""

    name = "safety"
    input_model = SafetyInput

    def __init__(self, guideline: Guideline) -> None:
        super().__init__(guideline)
        if not guideline.labels:
            raise DefinitionError(
                f"safety/{guideline.version}: `labels` lists no category",
                part="guideline", field="labels",
            )
        self.categories = tuple(guideline.labels)
        self.flag_review = _flag_review(guideline)
        self._label_model: type[BaseModel] | None = None

    # -- prompting -----------------------------------------------------------

    def answer_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "flags": {
                    "type": "object",
                    "properties": {c: {"type": "boolean"} for c in self.categories},
                    "required": list(self.categories),
                    "additionalProperties": False,
                },
                "rationale": {"type": "string", "description": "one short sentence"},
            },
            "required": ["flags", "rationale"],
            "additionalProperties": False,
        }

    def prompt_variables(self, item: BaseModel, variant: int) -> dict[str, Any]:
        return {"text": SafetyInput.model_validate(item, from_attributes=True).text}

    # -- one sample ----------------------------------------------------------

    def parse_answer(self, item: BaseModel, answer: dict[str, Any], variant: int) -> dict[str, Any]:
        flags = answer.get("flags")
        if flags is None:
            raise SampleError("missing field 'flags'")
        if not isinstance(flags, dict):
            raise SampleError("field 'flags' is not an object")
        unknown = [k for k in flags if k not in self.categories]
        if unknown:
            raise SampleError(f"unknown category {unknown[0]!r}")
        for category in self.categories:
            if category not in flags:
                raise SampleError(f"missing category {category!r}")
            if not isinstance(flags[category], bool):
                raise SampleError(f"category {category!r} is not true or false")
        rationale = answer.get("rationale")
        if rationale is not None and not isinstance(rationale, str):
            raise SampleError("field 'rationale' is not a string")
        return {"flags": {c: flags[c] for c in self.categories}, "rationale": rationale}

    # -- many samples --------------------------------------------------------

    def aggregate(self, item: BaseModel, samples: list[Sample]) -> Consensus:
        valid = [s.label for s in samples if s.label is not None]
        if not valid:
            return Consensus(label=None, confidence=0.0, detail={"valid_samples": 0})
        n = len(valid)
        votes = {
            c: binary_vote((label["flags"][c] for label in valid), tie=True)
            for c in self.categories
        }
        flags = {c: v.decision for c, v in votes.items()}
        reasons = []
        if self.flag_review in ("minority", "any"):
            reasons = [
                f"{v.positives} of {n} samples flagged {c!r}"
                for c, v in votes.items()
                if v.positives and not v.decision
            ]
        if self.flag_review == "any":
            reasons += [f"flagged {c!r} (every flag is reviewed)" for c, f in flags.items() if f]
        # A rationale explains the consensus only if its sample reached the same flags.
        rationale = next((lab["rationale"] for lab in valid if lab["flags"] == flags), None)
        return Consensus(
            label={"flags": flags, "rationale": rationale},
            confidence=min(v.majority_share for v in votes.values()),
            detail={
                "valid_samples": n,
                "positive_share": {c: v.positive_share for c, v in votes.items()},
            },
            review_reasons=reasons,
            signals={
                "flag_agreement_mean": sum(v.majority_share for v in votes.values()) / len(votes),
                "flag_share_max": max(v.positive_share for v in votes.values()),
            },
            answer_keys=[
                json.dumps([c for c in self.categories if label["flags"][c]]) for label in valid
            ],
        )

    # -- labels from people --------------------------------------------------

    def label_model(self) -> type[BaseModel]:
        """`{"flags": {category: bool, ... every category}, "rationale": str | None}`."""
        if self._label_model is not None:
            return self._label_model
        categories = self.categories

        class SafetyLabel(BaseModel):
            model_config = ConfigDict(extra="forbid", frozen=True)

            flags: dict[str, StrictBool]
            rationale: str | None = None

            @field_validator("flags")
            @classmethod
            def _every_category(cls, flags: dict[str, bool]) -> dict[str, bool]:
                problems = [f"unknown category {k!r}" for k in flags if k not in categories]
                problems += [f"missing category {c!r}" for c in categories if c not in flags]
                if problems:
                    raise ValueError("; ".join(problems))
                return {c: flags[c] for c in categories}

        self._label_model = SafetyLabel
        return SafetyLabel

    # -- evaluation ----------------------------------------------------------

    def gold_label(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """The item's flags, keeping null (unknown) categories as None."""
        flags = item.get("flags")
        if not isinstance(flags, dict):
            return None
        return {"flags": {c: flags.get(c) for c in self.categories}, "rationale": None}

    def is_correct(self, label: dict[str, Any] | None, gold: dict[str, Any]) -> bool:
        """Every category the gold knows matches; unknown gold categories are not judged."""
        if label is None:
            return False
        return all(label["flags"][c] == g for c, g in gold["flags"].items() if g is not None)

    def quality(self, pairs: list[Pair]) -> dict[str, float]:
        """Per-category and micro precision/recall/F1 over known cells, and any-flagged accuracy.

        A missing prediction (None) counts as "nothing flagged". `any_flagged` only
        looks at categories the gold knows, so an unknown cell cannot make it wrong.
        """
        per_category = {c: PRF(0, 0, 0) for c in self.categories}
        any_right = 0
        for predicted, gold in pairs:
            pred_flags = predicted["flags"] if predicted else {}
            known = {c: g for c, g in gold["flags"].items() if g is not None}
            for c, g in known.items():
                hit = bool(pred_flags.get(c, False))
                per_category[c] = per_category[c] + set_prf([c] if hit else [], [c] if g else [])
            pred_any = any(pred_flags.get(c, False) for c in known)
            any_right += pred_any == any(known.values())
        metrics: dict[str, float] = {}
        total = PRF(0, 0, 0)
        for c, prf in per_category.items():
            total = total + prf
            metrics[f"precision:{c}"] = prf.precision
            metrics[f"recall:{c}"] = prf.recall
            metrics[f"f1:{c}"] = prf.f1
        n = len(pairs)
        exact = sum(self.is_correct(p, g) for p, g in pairs)
        metrics.update(
            precision=total.precision,
            recall=total.recall,
            f1=total.f1,
            any_flagged_accuracy=any_right / n if n else 0.0,
            exact_match=exact / n if n else 0.0,
            items=float(n),
        )
        return metrics
