"""Models of gold items (known labels), gold review leases, reviewer scores and evaluations."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmlabel.evaluate import EvalReport

__all__ = ["GoldCreate", "GoldEvaluation", "GoldItem", "GoldLease", "GoldScore"]


class GoldCreate(BaseModel):
    """One gold item to store; the API validates input and label with the task first."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        None, max_length=256, description="Your id for the item (shown to reviewers)"
    )
    input: dict[str, Any] = Field(description="The item, as in a batch")
    label: dict[str, Any] = Field(description="The known label, in the task's label form")

    @field_validator("id")
    @classmethod
    def _encodable(cls, value: str | None) -> str | None:
        # Stored as a plain Redis field: it must be valid UTF-8 (no lone surrogates).
        if value is not None:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
        return value


class GoldItem(BaseModel):
    """A stored gold item. `gold_id` is shaped like an item id: it is what reviewers see."""

    gold_id: str
    id: str
    task: str
    input: dict[str, Any]
    label: dict[str, Any]
    guideline_version: str = Field(description="The version the label was validated against")
    project: str | None = Field(
        None, description="The project whose ontology the label fits (None: the default one)"
    )
    created_at: float
    created_by: str


class GoldLease(BaseModel):
    """A reviewer's lease on a gold item standing in the review queue."""

    token: str
    item_id: str
    task: str
    reviewer: str
    # The LLM label the reviewer was shown (what "approve" agrees with), and its versions.
    label: dict[str, Any] | None
    guideline_version: str | None
    prompt_version: str | None
    until: float
    project: str | None = None


class GoldScore(BaseModel):
    """A reviewer's decisions on gold items of one task, and how many matched the known label."""

    reviewer: str
    task: str
    n: int
    correct: int


class GoldEvaluation(BaseModel):
    """One run of a guideline/prompt version over the team's gold items of a task."""

    id: str
    task: str
    project: str | None = None
    guideline_version: str
    prompt_version: str
    guideline_hash: str | None = None
    prompt_hash: str | None = None
    state: Literal["queued", "running", "done", "failed"]
    n_gold: int
    created_at: float
    created_by: str
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    report: EvalReport | None = None
    attempts: int = Field(0, description="Runs started; a worker lost mid-run is re-run up to "
                          "LLMLABEL_MAX_LABEL_ATTEMPTS runs in all")
