"""Generic text classification: single-label or multi-label over the guideline's classes.

The simplest task type, and the template for new ones: an input model, an
answer schema, a strict parser, a vote, a label model and the metrics. The
ontology is the guideline's `labels`; `options.multi_label` (default false)
switches from one class per text to any subset of classes.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmlabel.domain import Consensus, Sample
from llmlabel.errors import DefinitionError, SampleError
from llmlabel.guidelines import Guideline
from llmlabel.tasks.base import Task
from llmlabel.tasks.voting import PRF, binary_vote, majority_vote, set_prf

__all__ = ["ClassificationInput", "ClassificationTask"]


class ClassificationInput(BaseModel):
    """What classification reads from an item: its text."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1)


class ClassificationTask(Task):
    """One class (majority vote) or a set of classes (vote per class) for a text."""

    name = "classification"
    input_model = ClassificationInput

    def __init__(self, guideline: Guideline) -> None:
        super().__init__(guideline)
        if not guideline.labels:
            raise DefinitionError(
                f"classification/{guideline.version}: `labels` lists no class",
                part="guideline", field="labels",
            )
        multi = guideline.options.get("multi_label", False)
        if not isinstance(multi, bool):
            raise DefinitionError(
                f"classification/{guideline.version}: options.multi_label must be true or false",
                part="guideline", field="options.multi_label",
            )
        self.multi_label = multi
        self.classes = tuple(guideline.labels)
        self._label_model: type[BaseModel] | None = None

    def _canonical(self, value: object) -> str:
        """The ontology class a model's answer names (case-insensitive), else SampleError."""
        if not isinstance(value, str):
            raise SampleError(f"class {value!r} is not a string")
        by_lower = {c.lower(): c for c in self.classes}
        found = by_lower.get(value.strip().lower())
        if found is None:
            raise SampleError(f"unknown label {value!r} (allowed: {', '.join(self.classes)})")
        return found

    def _ordered(self, classes: set[str]) -> list[str]:
        return [c for c in self.classes if c in classes]

    # -- prompting -----------------------------------------------------------

    def answer_schema(self) -> dict[str, Any]:
        enum: dict[str, Any] = {"type": "string", "enum": list(self.classes)}
        field: dict[str, Any]
        if self.multi_label:
            field = {"labels": {"type": "array", "items": enum, "uniqueItems": True}}
        else:
            field = {"label": enum}
        return {
            "type": "object",
            "properties": field,
            "required": list(field),
            "additionalProperties": False,
        }

    def prompt_variables(self, item: BaseModel, variant: int) -> dict[str, Any]:
        view = ClassificationInput.model_validate(item, from_attributes=True)
        return {"text": view.text}

    # -- one sample ----------------------------------------------------------

    def parse_answer(self, item: BaseModel, answer: dict[str, Any], variant: int) -> dict[str, Any]:
        if not self.multi_label:
            if "label" not in answer:
                raise SampleError("missing field 'label'")
            return {"label": self._canonical(answer["label"])}
        if "labels" not in answer:
            raise SampleError("missing field 'labels'")
        values = answer["labels"]
        if not isinstance(values, list):
            raise SampleError("field 'labels' is not a list")
        return {"labels": self._ordered({self._canonical(v) for v in values})}

    # -- many samples --------------------------------------------------------

    def aggregate(self, item: BaseModel, samples: list[Sample]) -> Consensus:
        valid = [s.label for s in samples if s.label is not None]
        if not valid:
            return Consensus(label=None, confidence=0.0, detail={"valid_samples": 0})
        if not self.multi_label:
            vote = majority_vote([label["label"] for label in valid], order=self.classes)
            # The winner's share is the confidence: a tie shows as 0.5 or lower by itself.
            return Consensus(
                label={"label": vote.winner},
                confidence=vote.share,
                detail={"valid_samples": len(valid), "votes": vote.counts, "tie": vote.tie},
                answer_keys=[label["label"] for label in valid],
            )
        # Per class, a tie includes the class: a reviewer then sees it rather than misses it.
        votes = {
            c: binary_vote((c in label["labels"] for label in valid), tie=True)
            for c in self.classes
        }
        return Consensus(
            label={"labels": [c for c, v in votes.items() if v.decision]},
            confidence=min(v.majority_share for v in votes.values()),
            detail={
                "valid_samples": len(valid),
                "positive_share": {c: v.positive_share for c, v in votes.items()},
            },
            answer_keys=[json.dumps(label["labels"]) for label in valid],
        )

    # -- labels from people --------------------------------------------------

    def label_model(self) -> type[BaseModel]:
        """`{"label": class}` or `{"labels": [class, ...]}` (deduplicated, ontology order)."""
        if self._label_model is not None:
            return self._label_model
        classes = self.classes

        def check(value: str) -> str:
            if value not in classes:
                raise ValueError(f"unknown label {value!r} (allowed: {', '.join(classes)})")
            return value

        if self.multi_label:

            class MultiLabel(BaseModel):
                model_config = ConfigDict(extra="forbid", frozen=True)
                labels: list[str]

                @field_validator("labels")
                @classmethod
                def _known(cls, values: list[str]) -> list[str]:
                    known = {check(v) for v in values}
                    return [c for c in classes if c in known]

            self._label_model = MultiLabel
        else:

            class SingleLabel(BaseModel):
                model_config = ConfigDict(extra="forbid", frozen=True)
                label: str

                @field_validator("label")
                @classmethod
                def _known(cls, value: str) -> str:
                    return check(value)

            self._label_model = SingleLabel
        return self._label_model

    # -- evaluation ----------------------------------------------------------

    def gold_label(self, item: dict[str, Any]) -> dict[str, Any] | None:
        single, multi = item.get("label"), item.get("labels")
        if self.multi_label:
            if isinstance(multi, list):
                return {"labels": self._ordered(set(multi))}
            return {"labels": [single]} if isinstance(single, str) else None
        if isinstance(single, str):
            return {"label": single}
        if isinstance(multi, list) and len(multi) == 1:
            return {"label": multi[0]}
        return None

    def is_correct(self, label: dict[str, Any] | None, gold: dict[str, Any]) -> bool:
        if label is None:
            return False
        if self.multi_label:
            return set(label["labels"]) == set(gold["labels"])
        return bool(label["label"] == gold["label"])

    def quality(
        self, pairs: list[tuple[dict[str, Any] | None, dict[str, Any]]]
    ) -> dict[str, float]:
        """Accuracy (single-label); micro precision/recall/F1 and exact match (multi-label)."""
        n = len(pairs)
        exact = sum(self.is_correct(p, g) for p, g in pairs) / n if n else 0.0
        if not self.multi_label:
            return {"accuracy": exact, "items": float(n)}
        total = PRF(0, 0, 0)
        for predicted, gold in pairs:
            total = total + set_prf(predicted["labels"] if predicted else [], gold["labels"])
        return {
            "precision": total.precision,
            "recall": total.recall,
            "f1": total.f1,
            "exact_match": exact,
            "items": float(n),
        }
