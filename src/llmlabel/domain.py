"""Typed values that cross module boundaries: messages, samples, usage, labels, states.

Pure data: nothing here knows of Redis, HTTP or a provider SDK.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "TERMINAL_STATES",
    "Choice",
    "Completion",
    "Consensus",
    "ItemState",
    "LabelRecord",
    "Message",
    "PartialLabel",
    "Route",
    "Sample",
    "Usage",
]


class Message(BaseModel):
    """One chat message in provider-neutral form; backends translate it to SDK shapes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str
    # Marks the end of the stable prefix (guideline, few-shot) that providers may cache.
    cache: bool = False


class Usage(BaseModel):
    """Tokens and cost of one or more provider calls."""

    model_config = ConfigDict(extra="forbid")

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    # Calls answered from llmlabel's own result cache instead of the provider (free;
    # not in `calls`, which counts provider calls only).
    cache_hits: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            calls=self.calls + other.calls,
            cache_hits=self.cache_hits + other.cache_hits,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 10),
        )


class Choice(BaseModel):
    """One generated answer: its raw text and, when the provider returns them, logprobs."""

    text: str
    mean_logprob: float | None = None
    finish_reason: str | None = None


class Completion(BaseModel):
    """What one backend call returns: n choices and the call's usage."""

    choices: list[Choice]
    usage: Usage
    model: str
    # True when served from the result cache (no provider call was made; usage is free).
    cache_hit: bool = False


class Sample(BaseModel):
    """One LLM sample after parsing: a label dict, or the reason it was unusable."""

    index: int
    variant: int = 0
    raw: str
    label: dict[str, Any] | None = None
    error: str | None = None
    mean_logprob: float | None = None
    verbalized_confidence: float | None = None

    @property
    def valid(self) -> bool:
        return self.label is not None


class Consensus(BaseModel):
    """A task's aggregate of samples: one label, a confidence in [0, 1] and the detail."""

    label: dict[str, Any] | None
    confidence: float = Field(ge=0.0, le=1.0)
    # Per-field / per-span agreement, shown to reviewers and used by risk rules.
    detail: dict[str, Any] = Field(default_factory=dict)
    # Reasons the task itself wants a human to look (ambiguous quote, raised flag, ...).
    review_reasons: list[str] = Field(default_factory=list)
    # Hashable summary of each valid sample's answer, for the adaptive stopping rule.
    answer_keys: list[str] = Field(default_factory=list)
    # Task-specific agreement measures in [0, 1], recorded as extra confidence signals.
    signals: dict[str, float] = Field(default_factory=dict)


class Route(StrEnum):
    ACCEPT = "accept"
    REVIEW = "review"


class LabelRecord(BaseModel):
    """Everything the labeling core produces for one item; stored and exported as is."""

    id: str
    task: str
    # The project whose versions made the label (None: labeled outside the service).
    project: str | None = None
    label: dict[str, Any] | None
    confidence: float
    route: Route
    reason: str
    detail: dict[str, Any] = Field(default_factory=dict)
    samples: list[Sample] = Field(default_factory=list)
    samples_used: int
    signals: dict[str, float | None] = Field(default_factory=dict)
    guideline_version: str
    guideline_hash: str
    prompt_version: str
    prompt_hash: str
    backend: str
    model: str
    usage: Usage = Field(default_factory=Usage)
    # Wall time to label the item (all samples), for the latency metrics.
    duration_s: float = 0.0
    error: str | None = None
    # The threshold that routed this label and the calibration fit it came from (None:
    # the version's configured threshold, no fit). Audited: accepted, but also sent to
    # review blind; never shown to reviewers.
    threshold: float | None = None
    fit_id: str | None = None
    audited: bool = False
    # Accepted by routing but sent to review because its batch is a pilot (every item
    # of a pilot is reviewed); counted as accepted by the calibration counters.
    pilot: bool = False
    # Few-shot examples chosen for this item from the project's pool (ids, in prompt
    # order) and the pool snapshot they came from: the same snapshot, version and item
    # give the same prompt (see fewshot.py).
    examples: list[str] = Field(default_factory=list)
    pool_snapshot: str | None = None


class PartialLabel(BaseModel):
    """Samples an item had drawn when a budget stopped it; labeling resumes from here.

    `round_end` is the sample count the interrupted round was drawing towards, so
    the resumed run first completes that round (the missing indices), then goes on.
    """

    model_config = ConfigDict(extra="forbid")

    samples: list[Sample] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    round_end: int = 0


class ItemState(StrEnum):
    QUEUED = "queued"
    LABELING = "labeling"
    # Not labeled because a budget cap would be passed; resumes when the cap is raised.
    PAUSED = "paused"
    AUTO_ACCEPTED = "auto_accepted"
    NEEDS_REVIEW = "needs_review"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    FIXED = "fixed"
    REJECTED = "rejected"
    FAILED = "failed"


TERMINAL_STATES = frozenset(
    {ItemState.AUTO_ACCEPTED, ItemState.APPROVED, ItemState.FIXED, ItemState.REJECTED, ItemState.FAILED}
)
"""States after which labeling is done (needs_review/in_review wait for a human)."""
