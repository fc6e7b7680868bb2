"""Request and response bodies of the project routes (`/v1/projects`).

The interface is fixed (other tools depend on it): a project is created from
`{"name", "task", "guideline", "prompt"}` texts, answers carry `name`, `task`,
`guideline_version` and `prompt_version` (the active pair), and versions are
pushed as `{"guideline"}` and/or `{"prompt"}` texts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llmlabel.review_priority import ReviewOrder
from llmlabel.store.models import AuditEvent
from llmlabel.store.project_models import Kind, ProjectInfo, VersionInfo

__all__ = [
    "ActivatePair",
    "DiffPublic",
    "HistoryPublic",
    "ModelProfilePublic",
    "ModelProfiles",
    "ProjectCreate",
    "ProjectList",
    "ProjectPublic",
    "ProjectUpdate",
    "VersionList",
    "VersionPublic",
    "VersionsPush",
    "VersionsPushed",
]

_MAX_TEXT = 200_000
"""Characters in one guideline or prompt text, at most (a guideline is a document, not a dataset)."""


class ProjectCreate(BaseModel):
    """A new project and its first guideline and prompt (same formats as the built-in files)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="Unique in your team")
    task: str = Field(description="Task type: ner, safety, preference, instruction, classification")
    guideline: str = Field(
        min_length=1, max_length=_MAX_TEXT, description="Markdown with YAML front matter"
    )
    prompt: str = Field(
        min_length=1, max_length=_MAX_TEXT, description="YAML with `system` and `user` templates"
    )
    guideline_version: str | None = Field(None, description="Default: v1")
    prompt_version: str | None = Field(None, description="Default: v1")
    model_profile: str | None = Field(
        None, description="A model profile the operator configured (GET /v1/model-profiles)"
    )
    description: str = Field("", max_length=2000)


class ProjectUpdate(BaseModel):
    """A project's settings an operator changes in place (audited)."""

    model_config = ConfigDict(extra="forbid")

    review_order: ReviewOrder = Field(
        description="`age`: oldest first; `value`: expected value of a review first (low "
        "confidence, split samples, raised flags, near-duplicates spread out), aging so "
        "nothing starves. Applies to items queued from now on"
    )


class ProjectPublic(BaseModel):
    """A project as clients read it; `guideline_version`/`prompt_version` are the active pair."""

    name: str
    task: str
    guideline_version: str
    prompt_version: str
    pinned: bool = Field(description="False while a default project follows the built-ins")
    default: bool = Field(description="The team's default project of its task type")
    model_profile: str | None
    description: str
    created_at: float
    created_by: str
    guideline_versions: list[str]
    prompt_versions: list[str]
    review_order: ReviewOrder = Field(
        description="How review claims pick the project's items: `age` (oldest first) or "
        "`value` (low confidence, split samples and raised flags first; nothing starves)"
    )

    @classmethod
    def of(cls, info: ProjectInfo) -> ProjectPublic:
        """The public view of a stored project."""
        return cls(
            name=info.name, task=info.task, guideline_version=info.active.guideline_version,
            prompt_version=info.active.prompt_version, pinned=info.active.pinned,
            default=info.default, model_profile=info.model_profile,
            description=info.description, created_at=info.created_at,
            created_by=info.created_by, guideline_versions=info.guideline_versions,
            prompt_versions=info.prompt_versions, review_order=info.review_order,
        )


class ProjectList(BaseModel):
    """The team's projects in creation order."""

    projects: list[ProjectPublic]


class VersionsPush(BaseModel):
    """A new guideline and/or prompt version (named by the service unless named here)."""

    model_config = ConfigDict(extra="forbid")

    guideline: str | None = Field(None, min_length=1, max_length=_MAX_TEXT)
    prompt: str | None = Field(None, min_length=1, max_length=_MAX_TEXT)
    guideline_version: str | None = None
    prompt_version: str | None = None


class VersionsPushed(BaseModel):
    """The versions a push stored, or found (same content as an existing version)."""

    project: str
    guideline_version: str | None
    prompt_version: str | None
    guideline_hash: str | None
    prompt_hash: str | None
    created: dict[str, bool] = Field(description="Per kind: true if new, false if it existed")


class VersionPublic(VersionInfo):
    """One version: its text, content hash and provenance."""

    project: str
    text: str
    active: bool


class VersionList(BaseModel):
    """Every version of a project, oldest first, with hashes."""

    project: str
    guidelines: list[VersionInfo]
    prompts: list[VersionInfo]


class DiffPublic(BaseModel):
    """A unified diff between two versions of one kind."""

    project: str
    kind: Kind
    from_version: str = Field(serialization_alias="from")
    to_version: str = Field(serialization_alias="to")
    from_hash: str
    to_hash: str
    diff: str = Field(description="Unified diff ('' when the texts are equal)")


class ActivatePair(BaseModel):
    """The pair to activate; a part not named stays as it is."""

    model_config = ConfigDict(extra="forbid")

    guideline_version: str | None = None
    prompt_version: str | None = None


class HistoryPublic(BaseModel):
    """A project's audited history, newest first."""

    project: str
    history: list[AuditEvent]


class ModelProfilePublic(BaseModel):
    """A model profile a project may choose (never its base URL or key)."""

    name: str
    backend: Literal["openai", "anthropic", "local"]
    model: str
    price_input_per_mtok: float
    price_output_per_mtok: float


class ModelProfiles(BaseModel):
    """The model profiles configured on this server."""

    profiles: list[ModelProfilePublic]
