"""Preference task: rank 2..8 responses to one dialogue prompt.

Each sample sees the responses in a different order (see `permutation`) so a
model's habit of preferring "Response A" cancels out over samples instead of
deciding the label. Answers name displayed letters; parsing maps them back to
the original response indices, so every label is `{"ranking": [best, ..., worst]}`
over original indices. Samples are combined by pairwise majority (Copeland) or
Borda count; the ranking math lives in `llmlabel.tasks.ranking`.
"""

from __future__ import annotations

import string
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from llmlabel.domain import Consensus, Sample
from llmlabel.errors import DefinitionError, InputError, LabelValidationError, SampleError
from llmlabel.guidelines import Guideline
from llmlabel.tasks.base import Task, validation_errors
from llmlabel.tasks.ranking import (
    aggregate_rankings,
    is_permutation,
    pairwise_agreement,
    permutation,
    permutation_cycle,
)

__all__ = [
    "PreferenceInput",
    "PreferenceLabel",
    "PreferenceOptions",
    "PreferenceTask",
    "permutation",
]

MAX_RESPONSES = 8
LETTERS = string.ascii_uppercase[:MAX_RESPONSES]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


NonBlank = Annotated[str, AfterValidator(_not_blank)]


class PreferenceInput(BaseModel):
    """The fields a preference item must have; ids, gold ranking and metadata are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    prompt: NonBlank
    responses: list[NonBlank] = Field(min_length=2, max_length=MAX_RESPONSES)


class PreferenceLabel(BaseModel):
    """A final ranking: original response indices, best first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ranking: list[int] = Field(min_length=2, max_length=MAX_RESPONSES)


class PreferenceOptions(BaseModel):
    """Guideline `options` this task understands."""

    model_config = ConfigDict(extra="forbid")

    aggregation: Literal["copeland", "borda"] = "copeland"
    # Largest number of responses this version ranks. With 2 the model answers
    # {"better": "A"|"B"}, a schema a tiny model cannot get wrong by listing extra
    # or repeated letters; above 2 it answers a full "ranking" list.
    max_responses: int = Field(MAX_RESPONSES, ge=2, le=MAX_RESPONSES)
    # Long dialogues are cut from the front (the last turns decide the comparison)
    # so small-context local models still see both responses; None keeps all.
    max_dialogue_chars: int | None = Field(None, ge=200)


def _as_input(item: BaseModel) -> PreferenceInput:
    """Narrow the base class's item type; anything else is a caller bug."""
    if not isinstance(item, PreferenceInput):
        raise TypeError(f"expected PreferenceInput, got {type(item).__name__}")
    return item


def _tail(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return "[...]\n" + text[-limit:]


class PreferenceTask(Task):
    """Rank responses to a prompt; permuted display order per sample cancels position bias."""

    name: ClassVar[str] = "preference"
    input_model: ClassVar[type[BaseModel]] = PreferenceInput

    def __init__(self, guideline: Guideline) -> None:
        super().__init__(guideline)
        try:
            self.options = PreferenceOptions.model_validate(guideline.options)
        except ValidationError as exc:
            errors = validation_errors(exc)
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            raise DefinitionError(
                f"preference guideline options: {detail}",
                part="guideline", field=f"options.{errors[0]['field']}".rstrip("."),
            ) from exc

    @property
    def _pairwise_only(self) -> bool:
        return self.options.max_responses == 2

    # -- input ---------------------------------------------------------------

    def validate_input(self, item: dict[str, Any]) -> BaseModel:
        """Also refuse more responses than this guideline version ranks."""
        parsed = _as_input(super().validate_input(item))
        if len(parsed.responses) > self.options.max_responses:
            raise InputError(
                f"responses: this guideline version ranks at most "
                f"{self.options.max_responses} responses, got {len(parsed.responses)}",
                field="responses",
            )
        return parsed

    # -- prompting -----------------------------------------------------------

    def answer_schema(self) -> dict[str, Any]:
        letters = list(LETTERS[: self.options.max_responses])
        rationale = {"type": "string", "description": "One short sentence on why."}
        if self._pairwise_only:
            return {
                "type": "object",
                "properties": {
                    "better": {"type": "string", "enum": letters},
                    "rationale": rationale,
                },
                "required": ["better"],
            }
        return {
            "type": "object",
            "properties": {
                "ranking": {
                    "type": "array",
                    "items": {"type": "string", "enum": letters},
                    "minItems": 2,
                    "maxItems": len(letters),
                    "description": "Letters of all responses, best first.",
                },
                "rationale": rationale,
            },
            "required": ["ranking"],
        }

    def variants(self, item: BaseModel, k: int, start: int = 0) -> list[int]:
        """Variants of samples start..start+k-1: sample i uses display order i of the cycle.

        Because the variant depends only on the sample index, adaptive rounds
        (first `initial` samples, then `step` more from `start`) keep cycling
        through the balanced set of orders instead of restarting it. Variant
        numbers are reduced modulo the cycle, so samples that see the same order
        share a variant and the labeler can draw them in one call with `n`.
        """
        cycle = len(permutation_cycle(len(_as_input(item).responses)))
        return [(start + offset) % cycle for offset in range(k)]

    def prompt_variables(self, item: BaseModel, variant: int) -> dict[str, Any]:
        pair = _as_input(item)
        order = permutation(len(pair.responses), variant)
        return {
            "prompt": _tail(pair.prompt, self.options.max_dialogue_chars),
            "responses": [
                {"letter": LETTERS[shown], "text": pair.responses[original]}
                for shown, original in enumerate(order)
            ],
            "letters": list(LETTERS[: len(pair.responses)]),
        }

    # -- one sample ----------------------------------------------------------

    def label_answer(self, item: BaseModel, label: dict[str, Any]) -> dict[str, Any]:
        """A pair's ranking as the letter of the better response in display order (variant 0)."""
        ranking = label.get("ranking") or []
        return {"better": "AB"[ranking[0]]} if len(ranking) == 2 and ranking[0] in (0, 1) else {}

    def parse_answer(self, item: BaseModel, answer: dict[str, Any], variant: int) -> dict[str, Any]:
        """Letters (display order of this variant) -> original indices, best first.

        A ranking that leaves out exactly one response is completed with it in
        last place, which is unambiguous (for a pair, naming the better one is
        the whole ranking); anything shorter is refused.
        """
        n = len(_as_input(item).responses)
        letters = self._answer_letters(answer)
        shown = [self._letter_position(letter, n) for letter in letters]
        if len(set(shown)) != len(shown):
            raise SampleError(f"ranking repeats a response: {letters}")
        if len(shown) == n - 1:
            shown.append(next(p for p in range(n) if p not in shown))
        if len(shown) != n:
            raise SampleError(f"ranking lists {len(shown)} of {n} responses")
        order = permutation(n, variant)
        return {"ranking": [order[p] for p in shown]}

    @staticmethod
    def _answer_letters(answer: dict[str, Any]) -> list[Any]:
        if "ranking" in answer:
            ranking = answer["ranking"]
            if not isinstance(ranking, list):
                raise SampleError("ranking is not a list")
            return ranking
        if "better" in answer:
            return [answer["better"]]
        raise SampleError("answer has neither 'ranking' nor 'better'")

    @staticmethod
    def _letter_position(letter: Any, n: int) -> int:
        if isinstance(letter, str):
            cleaned = letter.strip().upper().removeprefix("RESPONSE").strip()
            if len(cleaned) == 1 and cleaned in LETTERS[:n]:
                return LETTERS.index(cleaned)
        raise SampleError(f"unknown response letter {letter!r} (shown: {', '.join(LETTERS[:n])})")

    # -- many samples --------------------------------------------------------

    def aggregate(self, item: BaseModel, samples: list[Sample]) -> Consensus:
        """Copeland (or Borda) consensus; confidence = mean pairwise agreement with it.

        A tie for first place is broken by lower original index, caps the
        confidence at 0.5 (the winner is a coin flip) and asks for review.
        Position bias is the share of valid samples that put the response shown
        first on top: 0.5 means none, 1.0 means the model always picks "A".
        """
        n = len(_as_input(item).responses)
        valid = [s for s in samples if s.label is not None]
        first_positions: list[dict[str, Any]] = []
        for sample in samples:
            position = None
            if sample.label is not None:
                position = permutation(n, sample.variant).index(sample.label["ranking"][0])
            first_positions.append(
                {"index": sample.index, "variant": sample.variant, "first_position": position}
            )
        if not valid:
            return Consensus(
                label=None,
                confidence=0.0,
                detail={"n_valid": 0, "first_positions": first_positions, "position_bias": None},
            )
        rankings = [list(s.label["ranking"]) for s in valid if s.label is not None]
        result = aggregate_rankings(rankings, n, method=self.options.aggregation)
        agreements = [pairwise_agreement(r, result.ranking) for r in rankings]
        confidence = sum(agreements) / len(agreements)
        review_reasons: list[str] = []
        if result.top_tied:
            confidence = min(confidence, 0.5)
            review_reasons.append(
                "tied for first place: responses "
                + ", ".join(str(i) for i in result.tied_groups[0])
            )
        valid_positions = [
            p["first_position"] for p in first_positions if p["first_position"] is not None
        ]
        position_bias = sum(1 for p in valid_positions if p == 0) / len(valid_positions)
        detail = {
            "method": self.options.aggregation,
            "n_valid": len(valid),
            "scores": result.scores,
            "pairwise_wins": result.wins,
            "ties": result.tied_groups,
            "agreement": agreements,
            "kendall_tau_mean": result.kendall_tau_mean,
            "first_positions": first_positions,
            "position_bias": position_bias,
        }
        return Consensus(
            label={"ranking": result.ranking},
            confidence=confidence,
            detail=detail,
            review_reasons=review_reasons,
            # 1 when the pick does not depend on which response is shown first, 0 when it
            # always follows the display order.
            signals={"order_stability": 1.0 - abs(2.0 * position_bias - 1.0)},
            answer_keys=[",".join(map(str, r)) for r in rankings],
        )

    # -- labels from people --------------------------------------------------

    def label_model(self) -> type[BaseModel]:
        return PreferenceLabel

    def validate_label(self, item: BaseModel, label: dict[str, Any]) -> dict[str, Any]:
        """The label model, plus: the ranking is a permutation of this item's responses."""
        checked = super().validate_label(item, label)
        n = len(_as_input(item).responses)
        if not is_permutation(checked["ranking"], n):
            message = f"must list each of the {n} response indices 0..{n - 1} exactly once"
            raise LabelValidationError(
                f"label does not fit the task: ranking: {message}",
                errors=[{"field": "ranking", "message": message}],
            )
        return checked

    # -- evaluation ----------------------------------------------------------

    def gold_label(self, item: dict[str, Any]) -> dict[str, Any] | None:
        ranking = item.get("ranking")
        return {"ranking": list(ranking)} if ranking else None

    def is_correct(self, label: dict[str, Any] | None, gold: dict[str, Any]) -> bool:
        """Top-1 agreement (for a pair this is the whole ranking)."""
        if not label or not label.get("ranking"):
            return False
        return bool(label["ranking"][0] == gold["ranking"][0])

    def quality(
        self, pairs: list[tuple[dict[str, Any] | None, dict[str, Any]]]
    ) -> dict[str, float]:
        """Top-1 accuracy, pairwise accuracy and coverage; a missing label counts as wrong."""
        if not pairs:
            return {"accuracy": 0.0, "pairwise_accuracy": 0.0, "coverage": 0.0, "n": 0.0}
        top1 = sum(self.is_correct(pred, gold) for pred, gold in pairs)
        pairwise = sum(
            pairwise_agreement(pred["ranking"], gold["ranking"]) if pred else 0.0
            for pred, gold in pairs
        )
        covered = sum(1 for pred, _ in pairs if pred)
        return {
            "accuracy": top1 / len(pairs),
            "pairwise_accuracy": pairwise / len(pairs),
            "coverage": covered / len(pairs),
            "n": float(len(pairs)),
        }
