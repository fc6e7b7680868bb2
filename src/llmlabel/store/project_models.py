"""Pydantic models of projects and their versions, as the store keeps and returns them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from llmlabel.review_priority import ReviewOrder

__all__ = [
    "KINDS",
    "ActivePair",
    "Kind",
    "ProjectInfo",
    "VersionInfo",
    "VersionRef",
]

Kind = Literal["guideline", "prompt"]
KINDS: tuple[Kind, ...] = ("guideline", "prompt")


@dataclass(frozen=True, slots=True)
class VersionRef:
    """The identity of one version: whose, which kind, its name and its content hash.

    Things measured per version (evaluations, calibration fits) key on `key`.
    """

    team: str
    project: str
    kind: Kind
    version: str
    sha256: str

    @property
    def key(self) -> str:
        """`project/kind/version@sha256`: unique within a team, stable forever."""
        return f"{self.project}/{self.kind}/{self.version}@{self.sha256}"


class VersionInfo(BaseModel):
    """One stored version of a project's guideline or prompt (its text lives apart, by hash)."""

    kind: Kind
    version: str
    sha256: str
    created_at: float
    created_by: str
    # "builtin": imported from the definitions shipped in the package; "api": created by a user.
    source: Literal["builtin", "api"] = "api"


class ActivePair(BaseModel):
    """The guideline and prompt versions a project's new batches use unless they pin others."""

    guideline_version: str
    prompt_version: str
    # False while a default project follows the package's latest built-in versions.
    pinned: bool


class ProjectInfo(BaseModel):
    """A team's project: task type, model profile, active versions and version names."""

    team: str
    name: str
    task: str
    model_profile: str | None = None
    description: str = ""
    # The team's default project of its task type (named after it, made from the built-ins).
    default: bool = False
    created_at: float
    created_by: str
    active: ActivePair
    guideline_versions: list[str] = Field(default_factory=list)
    prompt_versions: list[str] = Field(default_factory=list)
    # How the project's items leave the review queue (llmlabel.review_priority).
    review_order: ReviewOrder = ReviewOrder.AGE
