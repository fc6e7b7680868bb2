"""Named-entity recognition: the LLM quotes entities, the task finds their offsets.

The model never emits offsets (small models count characters badly); it quotes
each entity and, when the quote repeats, which occurrence it means. Offsets are
found here by exact, then case-insensitive, substring search. A quote that is
not in the text makes the sample invalid; a repeated quote that cannot be pinned
down is kept aside as ambiguous and sends the item to review. Nothing is guessed.

The ontology is flat (WNUT-17 style): spans in one label never overlap. When a
sample's spans overlap, the longest is kept (WNUT annotates the maximal name,
and small models often add a fragment of it, e.g. "Harry" next to "Harry
Potter"); one span with two different labels is a contradiction and makes the
sample invalid.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from llmlabel.domain import Consensus, Sample
from llmlabel.errors import LabelValidationError, SampleError
from llmlabel.guidelines import Guideline
from llmlabel.tasks.base import Task, validation_errors
from llmlabel.tasks.voting import PRF, set_prf

__all__ = ["NerInput", "NerTask", "check_tokens", "find_quote"]


class NerInput(BaseModel):
    """What NER reads from an item: the text and, if the dataset has them, its tokens."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1)
    tokens: list[str] | None = None

    @field_validator("text")
    @classmethod
    def _has_words(cls, text: str) -> str:
        # Whitespace alone has no token to tag: no export format could hold the item.
        if not text.strip():
            raise ValueError("must contain a non-whitespace character")
        return text

    @field_validator("tokens")
    @classmethod
    def _tokens_fit_text(cls, tokens: list[str] | None, info: ValidationInfo) -> list[str] | None:
        # Checked at submit so every export format can write the item: CoNLL writes
        # one line per token, and a token that is not in the text (or text left out of
        # every token) would lose entities or fail the export midway.
        text = info.data.get("text")
        if tokens is None or not isinstance(text, str):
            return tokens
        check_tokens(text, tokens)
        return tokens

    def token_starts(self) -> list[int] | None:
        """Character offset of each token, when `text` is the tokens joined by single spaces."""
        if self.tokens is None or " ".join(self.tokens) != self.text:
            return None
        starts, pos = [], 0
        for token in self.tokens:
            starts.append(pos)
            pos += len(token) + 1
        return starts


def check_tokens(text: str, tokens: list[str]) -> None:
    """Raise ValueError unless `tokens`, in order and separated only by whitespace, are `text`."""
    cursor = 0
    for index, token in enumerate(tokens):
        if not token or any(ch.isspace() for ch in token):
            raise ValueError(f"token {index} ({token!r}) must be non-empty and hold no whitespace")
        while cursor < len(text) and text[cursor].isspace():
            cursor += 1
        if not text.startswith(token, cursor):
            raise ValueError(
                f"token {index} ({token!r}) does not match the text at offset {cursor} "
                f"({text[cursor:cursor + 20]!r}): tokens must spell out the text in order"
            )
        cursor += len(token)
    rest = text[cursor:].lstrip()
    if rest:
        start = len(text) - len(rest)
        raise ValueError(f"the text from offset {start} ({rest[:20]!r}) is in no token")


class _Mention(BaseModel):
    """One entity as the LLM wrote it."""

    model_config = ConfigDict(extra="ignore")

    text: StrictStr
    label: StrictStr
    occurrence: StrictInt | None = Field(None, ge=1)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    entities: list[_Mention]


class _EntityBase(BaseModel):
    """A span in label form; the subclass built per guideline adds the `label` enum."""

    model_config = ConfigDict(extra="forbid")

    start: StrictInt = Field(ge=0)
    end: StrictInt = Field(ge=1)
    text: str | None = None
    token_start: StrictInt | None = Field(None, ge=0)
    token_end: StrictInt | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> _EntityBase:
        if self.start >= self.end:
            raise ValueError(f"start ({self.start}) must be less than end ({self.end})")
        return self


@dataclass(frozen=True, slots=True, order=True)
class _Span:
    start: int
    end: int
    label: str

    def overlaps(self, other: _Span) -> bool:
        return self.start < other.end and other.start < self.end


def _word_bounded(text: str, start: int, end: int) -> bool:
    """Whether a match does not cut a word in two at either edge."""
    left = start == 0 or not (text[start - 1].isalnum() and text[start].isalnum())
    right = end == len(text) or not (text[end - 1].isalnum() and text[end].isalnum())
    return left and right


_APOSTROPHES = "'\u2019\u2018`"


def _spacing_pattern(quote: str) -> str:
    """A regex for `quote` that ignores whitespace and apostrophe style.

    Tokenized text ("Lee ' s", "@ TheRebelTV") is quoted by models the way it is
    written ("Lee's", "@TheRebelTV"); the characters must still all match in order,
    so this normalizes spelling-neutral differences and guesses nothing.
    """
    parts = []
    for char in "".join(quote.split()):
        parts.append(f"[{re.escape(_APOSTROPHES)}]" if char in _APOSTROPHES else re.escape(char))
    return r"\s*".join(parts)


def find_quote(text: str, quote: str) -> list[tuple[int, int]]:
    """Every (start, end) where `quote` occurs: exact matches, else case-insensitive ones,
    else matches that differ only in whitespace or apostrophe style.

    Matches that do not cut a word are preferred ("Ann" should not match inside
    "Annual" when a standalone "Ann" exists); inside-word matches count only
    when there is no other.
    """
    patterns = [re.escape(quote), re.escape(quote), _spacing_pattern(quote)]
    for pattern_text, flags in zip(patterns, (0, re.IGNORECASE, re.IGNORECASE), strict=True):
        pattern = re.compile(pattern_text, flags)
        hits: list[tuple[int, int]] = []
        match = pattern.search(text)
        while match:
            hits.append((match.start(), match.end()))
            match = pattern.search(text, match.start() + 1)
        if hits:
            return [h for h in hits if _word_bounded(text, *h)] or hits
    return []


def _resolve(
    text: str, mentions: list[_Mention], labels: dict[str, str]
) -> tuple[list[_Span], list[dict[str, Any]]]:
    """Spans for the mentions of one sample, plus the mentions too ambiguous to place."""
    placed: list[_Span] = []
    pending: dict[str, list[str]] = {}
    hits_of: dict[str, list[tuple[int, int]]] = {}
    for mention in mentions:
        quote = mention.text.strip()
        if not quote:
            raise SampleError("an entity has an empty quote")
        label = labels.get(mention.label.strip().lower())
        if label is None:
            allowed = ", ".join(labels.values())
            raise SampleError(f"unknown label {mention.label!r} (allowed: {allowed})")
        if quote not in hits_of:
            hits_of[quote] = find_quote(text, quote)
        hits = hits_of[quote]
        if not hits:
            raise SampleError(f"quote {quote!r} is not in the text")
        if mention.occurrence is not None:
            if mention.occurrence > len(hits):
                raise SampleError(
                    f"quote {quote!r} has no occurrence {mention.occurrence} "
                    f"(it occurs {len(hits)} times)"
                )
            placed.append(_Span(*hits[mention.occurrence - 1], label))
        elif len(hits) == 1:
            placed.append(_Span(*hits[0], label))
        else:
            pending.setdefault(quote, []).append(label)
    # A repeated quote without `occurrence` is placed only when the reading is forced:
    # all its mentions share one label, and the occurrences not inside an entity placed
    # above are just one (the rest sit inside a longer name) or exactly as many as the
    # mentions (e.g. "Neville" listed twice for two "Neville"s). Otherwise: ambiguous.
    fixed = list(placed)
    ambiguous: list[dict[str, Any]] = []
    for quote, quote_labels in pending.items():
        free = [h for h in hits_of[quote] if not any(_Span(*h, "").overlaps(p) for p in fixed)]
        distinct = list(dict.fromkeys(quote_labels))
        if not free:
            continue  # every occurrence lies inside a longer entity: the longest-span rule drops it
        if len(distinct) == 1 and len(free) in (1, len(quote_labels)):
            placed.extend(_Span(*h, distinct[0]) for h in free)
        else:
            ambiguous.extend(
                {"text": quote, "label": lab, "occurrences": len(free)} for lab in distinct
            )
    return _flatten(text, placed), ambiguous


def _flatten(text: str, spans: list[_Span]) -> list[_Span]:
    """Drop duplicates, refuse a span with two labels, keep the longest of overlapping spans."""
    unique = sorted(set(spans))
    by_range: dict[tuple[int, int], list[str]] = {}
    for span in unique:
        by_range.setdefault((span.start, span.end), []).append(span.label)
    for (start, end), names in by_range.items():
        if len(names) > 1:
            raise SampleError(f"{text[start:end]!r} is labeled both {' and '.join(names)}")
    kept: list[_Span] = []
    for span in sorted(unique, key=lambda s: (s.start - s.end, s.start)):
        if not any(span.overlaps(k) for k in kept):
            kept.append(span)
    return sorted(kept)


def _token_errors(item: NerInput, i: int, entity: dict[str, Any]) -> list[dict[str, Any]]:
    """Token indices a label gives must be in range and name the tokens its characters cover.

    They are derived from the character span when stored, so a wrong pair is a
    mistake to report, not something to drop silently.
    """
    given = {name: entity.get(name) for name in ("token_start", "token_end")}
    if all(value is None for value in given.values()):
        return []
    starts = item.token_starts()
    if starts is None:
        return [{"field": f"entities.{i}.{name}",
                 "message": "the item has no tokens (or its text is not its tokens joined by "
                            "spaces), so a span has no token indices"}
                for name, value in given.items() if value is not None]
    n = len(starts)
    expected = {"token_start": bisect_right(starts, entity["start"]) - 1,
                "token_end": bisect_left(starts, entity["end"])}
    ranges = {"token_start": (0, n - 1), "token_end": (1, n)}
    errors = []
    for name, value in given.items():
        if value is None:
            continue
        low, high = ranges[name]
        if not low <= value <= high:
            message = f"{value} is out of range {low}..{high} (the item has {n} tokens)"
        elif value != expected[name]:
            message = (f"{value} does not match the span {entity['start']}..{entity['end']}, "
                       f"which is tokens {expected['token_start']}..{expected['token_end']}")
        else:
            continue
        errors.append({"field": f"entities.{i}.{name}", "message": message})
    return errors


def _spans(label: dict[str, Any] | None) -> set[tuple[int, int, str]]:
    """(start, end, label) of every entity; None (no label) has none."""
    if label is None:
        return set()
    return {(e["start"], e["end"], e["label"]) for e in label.get("entities", [])}


def _answer_key(label: dict[str, Any]) -> str:
    """One sample's answer as a canonical string: sorted spans, then ambiguous quotes."""
    ambiguous = sorted((a["text"], a["label"]) for a in label.get("ambiguous", []))
    return json.dumps([sorted(_spans(label)), ambiguous])


class NerTask(Task):
    """Entity spans from quoted mentions, voted span by span across samples."""

    name = "ner"
    input_model = NerInput

    def __init__(self, guideline: Guideline) -> None:
        super().__init__(guideline)
        self._label_model: type[BaseModel] | None = None

    def _labels(self) -> dict[str, str]:
        """Lower-cased label -> label: models capitalize labels freely, which is not a new label."""
        return {label.lower(): label for label in self.guideline.labels}

    @staticmethod
    def _item(item: BaseModel) -> NerInput:
        return NerInput.model_validate(item, from_attributes=True)

    def _entity(self, item: NerInput, start: int, end: int, label: str) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "start": start, "end": end, "label": label, "text": item.text[start:end]
        }
        starts = item.token_starts()
        if starts is not None:
            entity["token_start"] = bisect_right(starts, start) - 1
            entity["token_end"] = bisect_left(starts, end)
        return entity

    # -- prompting -----------------------------------------------------------

    def answer_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "entities": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "text": {
                                "type": "string",
                                "description": "the entity exactly as written",
                            },
                            "label": {"type": "string", "enum": list(self.guideline.labels)},
                            "occurrence": {
                                "type": "integer",
                                "minimum": 1,
                                "description": "which occurrence, only if the text repeats it",
                            },
                        },
                        "required": ["text", "label"],
                        "additionalProperties": False,
                    },
                }
            },
            "required": ["entities"],
            "additionalProperties": False,
        }

    def prompt_variables(self, item: BaseModel, variant: int) -> dict[str, Any]:
        return {"text": self._item(item).text}

    # -- one sample ----------------------------------------------------------

    def label_answer(self, item: BaseModel, label: dict[str, Any]) -> dict[str, Any]:
        """Spans back into mentions: the quote and which occurrence of it."""
        text = self._item(item).text
        return {"entities": [
            {"text": (q := text[e["start"]:e["end"]]), "label": e["label"],
             "occurrence": text.count(q, 0, e["start"]) + 1} for e in label.get("entities", [])
        ]}

    def parse_answer(self, item: BaseModel, answer: dict[str, Any], variant: int) -> dict[str, Any]:
        try:
            parsed = _Answer.model_validate(answer)
        except ValidationError as exc:
            first = validation_errors(exc)[0]
            raise SampleError(f"{first['field']}: {first['message']}") from None
        ner_item = self._item(item)
        spans, ambiguous = _resolve(ner_item.text, parsed.entities, self._labels())
        label: dict[str, Any] = {
            "entities": [self._entity(ner_item, s.start, s.end, s.label) for s in spans]
        }
        if ambiguous:
            label["ambiguous"] = ambiguous
        return label

    # -- many samples --------------------------------------------------------

    def aggregate(self, item: BaseModel, samples: list[Sample]) -> Consensus:
        valid = [s.label for s in samples if s.label is not None]
        if not valid:
            return Consensus(label=None, confidence=0.0, detail={"valid_samples": 0})
        n = len(valid)
        votes: Counter[tuple[int, int, str]] = Counter()
        for label in valid:
            votes.update(_spans(label))
        ner_item = self._item(item)
        detail_spans, kept, shares = [], [], []
        for key in sorted(votes):
            share = votes[key] / n
            is_kept = votes[key] * 2 > n
            entity = self._entity(ner_item, *key)
            detail_spans.append({**entity, "votes": votes[key], "share": share, "kept": is_kept})
            if is_kept:
                kept.append(entity)
            # A dropped span with many votes makes the "not an entity" decision shaky.
            shares.append(share if is_kept else 1.0 - share)
        ambiguous = sorted(
            {(a["text"], a["label"]) for label in valid for a in label.get("ambiguous", [])}
        )
        return Consensus(
            label={"entities": kept},
            confidence=min(shares, default=1.0),
            detail={"valid_samples": n, "spans": detail_spans},
            signals={"span_agreement_mean": sum(shares) / len(shares) if shares else 1.0},
            review_reasons=[f"ambiguous quote {quote!r} ({lab})" for quote, lab in ambiguous],
            answer_keys=[_answer_key(label) for label in valid],
        )

    # -- labels from people --------------------------------------------------

    def label_model(self) -> type[BaseModel]:
        """Label form `{"entities": [{start, end, label, text, token_start?, token_end?}]}`."""
        if self._label_model is None:
            allowed: Any = Literal[tuple(self.guideline.labels)]
            entity: Any = create_model("NerEntity", __base__=_EntityBase, label=(allowed, ...))
            self._label_model = create_model(
                "NerLabel", __config__=ConfigDict(extra="forbid"), entities=(list[entity], ...)
            )
        return self._label_model

    def validate_label(self, item: BaseModel, label: dict[str, Any]) -> dict[str, Any]:
        """Check types and labels, then each span against the item text; fills text and tokens."""
        checked = super().validate_label(item, label)
        ner_item = self._item(item)
        errors: list[dict[str, Any]] = []
        spans: list[tuple[int, _Span]] = []
        for i, entity in enumerate(checked["entities"]):
            start, end = entity["start"], entity["end"]
            if end > len(ner_item.text):
                errors.append({
                    "field": f"entities.{i}.end",
                    "message": f"{end} is past the end of the text ({len(ner_item.text)} chars)",
                })
                continue
            actual = ner_item.text[start:end]
            if entity["text"] is not None and entity["text"] != actual:
                errors.append({
                    "field": f"entities.{i}.text",
                    "message": f"{entity['text']!r} is not the text at {start}..{end} ({actual!r})",
                })
            errors.extend(_token_errors(ner_item, i, entity))
            span = _Span(start, end, entity["label"])
            for j, other in spans:
                if span.overlaps(other) and span != other:
                    errors.append({"field": f"entities.{i}", "message": f"overlaps entities.{j}"})
            spans.append((i, span))
        if errors:
            summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            raise LabelValidationError(f"label does not fit the item: {summary}", errors=errors)
        unique = sorted({span for _, span in spans})
        return {"entities": [self._entity(ner_item, s.start, s.end, s.label) for s in unique]}

    # -- evaluation ----------------------------------------------------------

    def gold_label(self, item: dict[str, Any]) -> dict[str, Any] | None:
        entities = item.get("entities")
        if entities is None:
            return None
        keys = ("start", "end", "label", "text", "token_start", "token_end")
        gold = [{k: e[k] for k in keys if k in e} for e in entities]
        return {"entities": sorted(gold, key=lambda e: (e["start"], e["end"], e["label"]))}

    def is_correct(self, label: dict[str, Any] | None, gold: dict[str, Any]) -> bool:
        return _spans(label) == _spans(gold)

    def quality(
        self, pairs: list[tuple[dict[str, Any] | None, dict[str, Any]]]
    ) -> dict[str, float]:
        """Exact-span micro precision/recall/F1 and the share of items labeled exactly right."""
        total = PRF(0, 0, 0)
        for predicted, gold in pairs:
            total = total + set_prf(_spans(predicted), _spans(gold))
        exact = sum(self.is_correct(p, g) for p, g in pairs)
        return {
            "precision": total.precision,
            "recall": total.recall,
            "f1": total.f1,
            "exact_match": exact / len(pairs) if pairs else 0.0,
            "items": float(len(pairs)),
        }
