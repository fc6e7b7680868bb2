"""Instruction task: write the response to an instruction (+ context) and categorize it.

Mode `generate` (default): each sample is `{"category", "response"}`; the
consensus response is the medoid sample, the one closest on average (ROUGE-L
F1) to the other samples; the category is a majority vote, and the confidence
is the medoid's mean similarity times the share of samples naming that category
(three samples saying generation / qa / other are not agreement, however alike
their text). Mode `rate` (guideline `options.mode: rate`):
every item carries a `response` and each sample rates it `{"quality": 1..5,
"issues": [...]}`; the consensus is the median rating.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from llmlabel.domain import Consensus, Sample
from llmlabel.errors import DefinitionError, InputError, SampleError
from llmlabel.guidelines import Guideline
from llmlabel.tasks.base import Task, validation_errors
from llmlabel.tasks.similarity import SIMILARITY_METRIC, medoid, similarity

__all__ = [
    "CORRECT_SIMILARITY",
    "SINGLE_SAMPLE_CONFIDENCE",
    "InstructionInput",
    "InstructionOptions",
    "InstructionTask",
    "RatingLabel",
]

CORRECT_SIMILARITY = 0.3
"""ROUGE-L F1 at or above which a generated response counts as matching the human one.

Human and model answers to open instructions share wording only loosely; 0.3
separates "answers the same thing" from "answers something else" on
self-instruct-style data better than the stricter 0.5 used for summaries.
"""

SAME_ANSWER_SIMILARITY = 0.5
"""ROUGE-L F1 to the medoid at or above which a sample counts as the same answer when
adaptive sampling counts votes (free text is almost never identical)."""

SINGLE_SAMPLE_CONFIDENCE = 0.5
"""Confidence when only one sample is valid: it agrees with nothing, so neither sure nor refuted."""

RATING_SCALE = (1, 5)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


NonBlank = Annotated[str, AfterValidator(_not_blank)]


class InstructionInput(BaseModel):
    """Fields the task reads; ids, gold category and source metadata are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    instruction: NonBlank
    context: str = ""
    response: str | None = None


class RatingLabel(BaseModel):
    """A quality rating of an existing (instruction, response) pair."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quality: int = Field(ge=RATING_SCALE[0], le=RATING_SCALE[1])
    issues: list[str] = Field(default_factory=list)


class InstructionOptions(BaseModel):
    """Guideline `options` this task understands."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["generate", "rate"] = "generate"
    # Long contexts are cut (keeping the start) so small local models keep room to answer.
    max_context_chars: int | None = Field(None, ge=200)


def _as_input(item: BaseModel) -> InstructionInput:
    """Narrow the base class's item type; anything else is a caller bug."""
    if not isinstance(item, InstructionInput):
        raise TypeError(f"expected InstructionInput, got {type(item).__name__}")
    return item


class InstructionTask(Task):
    """Generate (or rate) the response to an instruction; medoid consensus."""

    name: ClassVar[str] = "instruction"
    input_model: ClassVar[type[BaseModel]] = InstructionInput

    def __init__(self, guideline: Guideline) -> None:
        super().__init__(guideline)
        try:
            self.options = InstructionOptions.model_validate(guideline.options)
        except ValidationError as exc:
            errors = validation_errors(exc)
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            raise DefinitionError(
                f"instruction guideline options: {detail}",
                part="guideline", field=f"options.{errors[0]['field']}".rstrip("."),
            ) from exc
        if self.options.mode == "generate" and not guideline.labels:
            raise DefinitionError(
                "instruction guideline: `labels` (the categories) is empty",
                part="guideline", field="labels",
            )
        self._label_model = self._build_label_model()

    @property
    def rating(self) -> bool:
        return self.options.mode == "rate"

    def _build_label_model(self) -> type[BaseModel]:
        if self.rating:
            return RatingLabel
        # The ontology is only known at runtime, so the Literal is built from data.
        category: Any = Literal[tuple(self.guideline.labels)]
        return create_model(
            "InstructionLabel",
            __config__=ConfigDict(extra="forbid", frozen=True),
            response=(NonBlank, ...),
            category=(category, ...),
        )

    # -- input ---------------------------------------------------------------

    def validate_input(self, item: dict[str, Any]) -> BaseModel:
        """In rate mode an item must carry the response to rate."""
        parsed = _as_input(super().validate_input(item))
        if self.rating and not (parsed.response or "").strip():
            raise InputError(
                "response: this guideline version rates a given response; the item has none",
                field="response",
            )
        return parsed

    # -- prompting -----------------------------------------------------------

    def answer_schema(self) -> dict[str, Any]:
        if self.rating:
            low, high = RATING_SCALE
            return {
                "type": "object",
                "properties": {
                    "quality": {"type": "integer", "minimum": low, "maximum": high},
                    "issues": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
                },
                "required": ["quality", "issues"],
            }
        # Category first: a one-word decision before the long response keeps it
        # from being swayed by however the response happened to turn out.
        return {
            "type": "object",
            "properties": {
                "category": {"type": "string", "enum": list(self.guideline.labels)},
                "response": {"type": "string"},
            },
            "required": ["category", "response"],
        }

    def prompt_variables(self, item: BaseModel, variant: int) -> dict[str, Any]:
        task_item = _as_input(item)
        context = task_item.context.strip()
        limit = self.options.max_context_chars
        if limit is not None and len(context) > limit:
            context = context[:limit] + " [...]"
        return {
            "instruction": task_item.instruction,
            "context": context,
            "response": (task_item.response or "").strip(),
            "mode": self.options.mode,
        }

    # -- one sample ----------------------------------------------------------

    def parse_answer(self, item: BaseModel, answer: dict[str, Any], variant: int) -> dict[str, Any]:
        return self._parse_rating(answer) if self.rating else self._parse_generation(answer)

    def _parse_generation(self, answer: dict[str, Any]) -> dict[str, Any]:
        response = answer.get("response")
        if not isinstance(response, str) or not response.strip():
            raise SampleError("response is missing or empty")
        category = answer.get("category")
        labels = self.guideline.labels
        if not isinstance(category, str) or category.strip().lower() not in labels:
            raise SampleError(f"unknown category {category!r} (allowed: {', '.join(labels)})")
        return {"response": response.strip(), "category": category.strip().lower()}

    @staticmethod
    def _parse_rating(answer: dict[str, Any]) -> dict[str, Any]:
        quality = answer.get("quality")
        # 4.0 is a fine 4; True is not a rating (bool is an int subclass).
        if isinstance(quality, float) and quality.is_integer():
            quality = int(quality)
        low, high = RATING_SCALE
        if not isinstance(quality, int) or isinstance(quality, bool) or not low <= quality <= high:
            raise SampleError(f"quality must be an integer {low}..{high}, got {quality!r}")
        issues = answer.get("issues", [])
        if not isinstance(issues, list) or not all(isinstance(i, str) for i in issues):
            raise SampleError("issues must be a list of strings")
        return {"quality": quality, "issues": [i.strip() for i in issues if i.strip()]}

    # -- many samples --------------------------------------------------------

    def aggregate(self, item: BaseModel, samples: list[Sample]) -> Consensus:
        """Medoid response + majority category, or median rating (see the module docstring).

        A single valid sample gets SINGLE_SAMPLE_CONFIDENCE: one answer carries
        no agreement evidence either way.
        """
        labels = [s.label for s in samples if s.label is not None]
        indices = [s.index for s in samples if s.label is not None]
        if not labels:
            return Consensus(label=None, confidence=0.0, detail={"n_valid": 0})
        if self.rating:
            return self._aggregate_ratings(labels, indices)
        return self._aggregate_generations(labels, indices)

    def _aggregate_generations(self, labels: list[dict[str, Any]], indices: list[int]) -> Consensus:
        responses = [label["response"] for label in labels]
        best, means = medoid(responses)
        confidence = means[best] if len(labels) > 1 else SINGLE_SAMPLE_CONFIDENCE
        votes = Counter(label["category"] for label in labels)
        top = max(votes.values())
        # Ties go to the medoid's category when it is among the leaders, else ontology order.
        leaders = [c for c in self.guideline.labels if votes.get(c) == top]
        category = labels[best]["category"] if labels[best]["category"] in leaders else leaders[0]
        agreement = votes[category] / len(labels)
        # One vote key per sample: same category and close enough to the medoid's text.
        keys = [
            f"{label['category']}|"
            + ("medoid" if similarity(text, responses[best]) >= SAME_ANSWER_SIMILARITY else str(i))
            for i, (label, text) in enumerate(zip(labels, responses, strict=True))
        ]
        return Consensus(
            label={"response": responses[best], "category": category},
            confidence=min(1.0, max(0.0, confidence * agreement)),
            detail={
                "n_valid": len(labels),
                "metric": SIMILARITY_METRIC,
                "medoid_sample": indices[best],
                "mean_similarity": dict(zip(map(str, indices), means, strict=True)),
                "category_votes": dict(votes),
                "category_agreement": agreement,
                "text_agreement": min(1.0, max(0.0, confidence)),
            },
            # Category in the key: equal text under different categories is not agreement.
            answer_keys=keys,
            signals={
                "category_agreement": agreement,
                "text_agreement": min(1.0, max(0.0, confidence)),
            },
        )

    @staticmethod
    def _aggregate_ratings(labels: list[dict[str, Any]], indices: list[int]) -> Consensus:
        """Median (lower middle) rating; confidence = mean closeness to it.

        A sample's closeness is 1 at the median, 0.5 one point off, 0 further
        away: exact agreement on a 5-point scale is too strict, +-1 too lenient.
        """
        qualities = [int(label["quality"]) for label in labels]
        median = statistics.median_low(qualities)
        closeness = [max(0.0, 1.0 - abs(q - median) / 2) for q in qualities]
        confidence = (
            sum(closeness) / len(closeness) if len(labels) > 1 else SINGLE_SAMPLE_CONFIDENCE
        )
        representative = next(label for label in labels if label["quality"] == median)
        return Consensus(
            label={"quality": median, "issues": list(representative["issues"])},
            confidence=confidence,
            detail={
                "n_valid": len(labels),
                "qualities": dict(zip(map(str, indices), qualities, strict=True)),
                "issues": {
                    str(i): label["issues"] for i, label in zip(indices, labels, strict=True)
                },
                "exact_agreement": qualities.count(median) / len(qualities),
            },
            answer_keys=[str(q) for q in qualities],
        )

    # -- labels from people --------------------------------------------------

    def label_model(self) -> type[BaseModel]:
        return self._label_model

    # -- evaluation ----------------------------------------------------------

    def gold_label(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """Generate: the human response (its category is kept but not scored); rate: `quality`."""
        if self.rating:
            quality = item.get("quality")
            return {"quality": int(quality), "issues": []} if quality is not None else None
        response = item.get("response")
        if not isinstance(response, str) or not response.strip():
            return None
        return {"response": response, "category": item.get("category")}

    def is_correct(self, label: dict[str, Any] | None, gold: dict[str, Any]) -> bool:
        """Generate: similarity >= CORRECT_SIMILARITY; rate: within one point of the gold rating."""
        if not label:
            return False
        if self.rating:
            return abs(int(label["quality"]) - int(gold["quality"])) <= 1
        return similarity(label["response"], gold["response"]) >= CORRECT_SIMILARITY

    def quality(
        self, pairs: list[tuple[dict[str, Any] | None, dict[str, Any]]]
    ) -> dict[str, float]:
        """Mean similarity (named by the metric) and share correct; a missing label scores 0."""
        if not pairs:
            return {"accuracy": 0.0, "coverage": 0.0, "n": 0.0}
        n = len(pairs)
        metrics = {
            "accuracy": sum(self.is_correct(pred, gold) for pred, gold in pairs) / n,
            "coverage": sum(1 for pred, _ in pairs if pred) / n,
            "n": float(n),
        }
        if self.rating:
            errors = [abs(pred["quality"] - gold["quality"]) for pred, gold in pairs if pred]
            if errors:
                metrics["quality_mae"] = sum(errors) / len(errors)
        else:
            scores = [
                similarity(pred["response"], gold["response"]) if pred else 0.0
                for pred, gold in pairs
            ]
            metrics[SIMILARITY_METRIC] = sum(scores) / n
        return metrics
