"""The contract every task type fulfils; pure logic, no I/O.

A task turns an input item into prompt variables, one raw LLM answer into a
label (or a recorded sample error), many samples into one consensus with a
confidence, and scores a label against gold for evaluation.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from llmlabel.domain import Consensus, Sample
from llmlabel.errors import InputError, LabelValidationError, SampleError
from llmlabel.guidelines import Guideline

__all__ = ["Task", "extract_json", "validation_errors"]

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)

CONFIDENCE_FIELD = "confidence"
"""Every answer schema carries the model's verbalized confidence (0..1) as an extra field."""


def extract_json(raw: str) -> dict[str, Any]:
    """Parse the JSON object in a model answer, tolerating code fences and chatter around it."""
    text = raw.strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            raise SampleError("answer is not JSON") from None
        try:
            value = json.loads(text[start : end + 1])
        except json.JSONDecodeError as exc:
            raise SampleError(f"answer is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise SampleError("answer is JSON but not an object")
    return value


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as plain dicts naming the field path (for 422s and sample errors)."""
    return [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
    ]


class Task(ABC):
    """One task type, configured by a guideline version."""

    name: ClassVar[str]
    input_model: ClassVar[type[BaseModel]]
    """Fields the task reads from an item; other fields (ids, gold, metadata) are kept aside."""

    def __init__(self, guideline: Guideline) -> None:
        self.guideline = guideline

    # -- input ---------------------------------------------------------------

    def validate_input(self, item: dict[str, Any]) -> BaseModel:
        """The task's view of an item; raises InputError naming the first bad field."""
        try:
            return self.input_model.model_validate(item)
        except ValidationError as exc:
            first = validation_errors(exc)[0]
            raise InputError(f"{first['field']}: {first['message']}", field=first["field"]) from exc

    # -- prompting -----------------------------------------------------------

    @abstractmethod
    def answer_schema(self) -> dict[str, Any]:
        """JSON schema (object) the LLM must fill, without the confidence field."""

    def llm_schema(self) -> dict[str, Any]:
        """The answer schema plus the verbalized confidence every task asks for."""
        schema = json.loads(json.dumps(self.answer_schema()))
        schema.setdefault("properties", {})[CONFIDENCE_FIELD] = {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "How sure you are that this answer is right, from 0 to 1.",
        }
        schema.setdefault("required", []).append(CONFIDENCE_FIELD)
        return schema

    def variants(self, item: BaseModel, k: int, start: int = 0) -> list[int]:
        """Prompt variant for samples start..start+k-1 (preference permutes; others use 0).

        Variants depend only on the sample index, so rounds of adaptive sampling
        stay balanced across permutations.
        """
        return [0] * k

    @abstractmethod
    def prompt_variables(self, item: BaseModel, variant: int) -> dict[str, Any]:
        """Variables for the prompt template of this item in this variant."""

    # -- one sample ----------------------------------------------------------

    @abstractmethod
    def parse_answer(self, item: BaseModel, answer: dict[str, Any], variant: int) -> dict[str, Any]:
        """Turn one answer object into a label dict in canonical (variant-free) form.

        Raises SampleError with a short reason when the answer cannot be used.
        """

    def parse_sample(self, item: BaseModel, raw: str, *, index: int, variant: int,
                     mean_logprob: float | None = None) -> Sample:
        """Parse one raw answer; a bad answer becomes a Sample with `error`, never an exception."""
        sample = Sample(index=index, variant=variant, raw=raw, mean_logprob=mean_logprob)
        try:
            answer = extract_json(raw)
            confidence = answer.pop(CONFIDENCE_FIELD, None)
            if isinstance(confidence, (int, float)) and not isinstance(confidence, bool):
                sample.verbalized_confidence = min(1.0, max(0.0, float(confidence)))
            sample.label = self.parse_answer(item, answer, variant)
        except SampleError as exc:
            sample.error = str(exc)
        return sample

    def label_answer(self, item: BaseModel, label: dict[str, Any]) -> dict[str, Any]:
        """A final label written as the LLM answers (without confidence); tasks whose answer
        differs from their label (NER mentions vs offsets) override it."""
        return dict(label)

    def example_answer(self, item: BaseModel, label: dict[str, Any]) -> dict[str, Any] | None:
        """The assistant turn showing `label` as an example; None if it would not read back as it.

        The answer must parse to the same label, so an example never teaches a form
        the task would refuse or read differently.
        """
        answer = self.label_answer(item, label)
        try:
            if self.parse_answer(item, dict(answer), 0) != label:
                return None
        except SampleError:
            return None
        return {**answer, CONFIDENCE_FIELD: 0.9}

    # -- many samples --------------------------------------------------------

    @abstractmethod
    def aggregate(self, item: BaseModel, samples: list[Sample]) -> Consensus:
        """Consensus label, confidence, per-field detail and answer keys of the valid samples.

        With no valid sample the consensus label is None and the confidence 0.
        """

    # -- labels from people --------------------------------------------------

    @abstractmethod
    def label_model(self) -> type[BaseModel]:
        """Pydantic model of a final label under this guideline's ontology."""

    def validate_label(self, item: BaseModel, label: dict[str, Any]) -> dict[str, Any]:
        """Check a label (a reviewer's fix) against the label model; returns its canonical dict."""
        try:
            return self.label_model().model_validate(label).model_dump(mode="json")
        except ValidationError as exc:
            errors = validation_errors(exc)
            raise LabelValidationError(
                "label does not fit the task: "
                + "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                errors=errors,
            ) from exc

    # -- evaluation ----------------------------------------------------------

    @abstractmethod
    def gold_label(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """The human label carried by a dataset item, in label form (None if it has none)."""

    @abstractmethod
    def is_correct(self, label: dict[str, Any] | None, gold: dict[str, Any]) -> bool:
        """Whether a predicted label counts as right (used for AUROC of confidence signals)."""

    @abstractmethod
    def quality(self, pairs: list[tuple[dict[str, Any] | None, dict[str, Any]]]) -> dict[str, float]:
        """Task quality metrics over (prediction, gold) pairs, e.g. {'f1': ..}."""
