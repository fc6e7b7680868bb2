"""Versioned guidelines and prompt templates, loaded from files and identified by content hash.

Layout: `guidelines/<task>/<version>.md` (YAML front matter + guideline text) and
`prompts/<task>/<version>.yaml` (`system` and `user` Jinja2 templates). A version
is its name plus the sha256 of its file; `check_pinned` refuses a name whose
content no longer matches the hash recorded when labels first used it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmlabel.errors import GuidelineError, UnknownVersionError, VersionConflictError

__all__ = [
    "FewShotExample",
    "Guideline",
    "PromptTemplate",
    "RoutingPolicy",
    "SamplingPolicy",
    "VersionRegistry",
    "default_root",
]


class SamplingPolicy(BaseModel):
    """How many samples to draw: `initial` first, then `step` more up to `max` while unsettled."""

    model_config = ConfigDict(extra="forbid")

    initial: int = Field(3, ge=1, le=32)
    max: int = Field(7, ge=1, le=64)
    step: int = Field(2, ge=1, le=16)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    # Stop once P(drawing up to `max` leaves the leading answer in the lead) reaches this.
    stop_probability: float = Field(0.95, gt=0.5, lt=1.0)
    adaptive: bool = True
    max_tokens: int = Field(512, ge=16, le=8192)


class RoutingPolicy(BaseModel):
    """Accept a consensus at or above `threshold`; risk rules can force review regardless."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(0.8, ge=0.0, le=1.0)
    # Fewer valid samples than this sends the item to review whatever its confidence.
    min_valid_samples: int = Field(2, ge=1)
    # Task review reasons (e.g. a safety flag the consensus dropped) force review.
    task_reasons_force_review: bool = True
    # Calibration: fit `threshold` so the labels it accepts reach this precision (lower
    # 95 % bound); None keeps the configured threshold. The API can change it per version.
    target_precision: float | None = Field(None, gt=0.5, lt=1.0)
    # Share of auto-accepted items also sent to review, blind, to measure their precision
    # (drawn while the version has a target precision: the audit feeds calibration).
    audit_share: float = Field(0.02, ge=0.0, le=0.5)
    # Fewer judged items than this at or above a threshold: the fit keeps `threshold`.
    min_evidence: int = Field(30, ge=1)
    # Refit after this many new judgments (gold, reviews, audits); 0 = only on demand.
    refit_every: int = Field(50, ge=0)


class FewShotExample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any]
    output: dict[str, Any]
    note: str | None = None


class Guideline(BaseModel):
    """One guideline version: ontology, policies, few-shot examples and the text itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    version: str
    description: str = ""
    labels: list[str] = Field(default_factory=list)
    label_descriptions: dict[str, str] = Field(default_factory=dict)
    routing: RoutingPolicy = Field(default_factory=RoutingPolicy)
    sampling: SamplingPolicy = Field(default_factory=SamplingPolicy)
    few_shot: list[FewShotExample] = Field(default_factory=list)
    # Task-specific knobs (e.g. preference `aggregation: borda`, instruction `mode: rate`).
    options: dict[str, Any] = Field(default_factory=dict)
    text: str
    content_hash: str


class PromptTemplate(BaseModel):
    """One prompt version: Jinja2 templates for the system and user messages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    version: str
    system: str
    user: str
    content_hash: str


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _split_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        raise GuidelineError(f"{path}: a guideline starts with YAML front matter between '---' lines")
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        raise GuidelineError(f"{path}: front matter is not closed by a '---' line")
    try:
        meta = yaml.safe_load(parts[0][3:]) or {}
    except yaml.YAMLError as exc:
        raise GuidelineError(f"{path}: front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise GuidelineError(f"{path}: front matter must be a mapping")
    return meta, parts[1].lstrip("-").strip()


def _format_validation(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def load_guideline(path: Path) -> Guideline:
    data = path.read_bytes()
    meta, body = _split_front_matter(data.decode("utf-8"), path)
    meta.setdefault("task", path.parent.name)
    meta.setdefault("version", path.stem)
    if meta["task"] != path.parent.name or meta["version"] != path.stem:
        raise GuidelineError(f"{path}: task/version in front matter must match the file's place")
    try:
        return Guideline(**meta, text=body, content_hash=_sha256(data))
    except ValidationError as exc:
        raise GuidelineError(f"{path}: {_format_validation(exc)}") from exc


def load_prompt(path: Path) -> PromptTemplate:
    data = path.read_bytes()
    try:
        meta = yaml.safe_load(data) or {}
    except yaml.YAMLError as exc:
        raise GuidelineError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise GuidelineError(f"{path}: a prompt file is a mapping with 'system' and 'user'")
    try:
        return PromptTemplate(
            task=path.parent.name, version=path.stem, content_hash=_sha256(data), **meta
        )
    except (ValidationError, TypeError) as exc:
        detail = _format_validation(exc) if isinstance(exc, ValidationError) else str(exc)
        raise GuidelineError(f"{path}: {detail}") from exc


def default_root() -> Path:
    """The folder holding guidelines/ and prompts/: the working directory, else the source tree."""
    cwd = Path.cwd()
    if (cwd / "guidelines").is_dir():
        return cwd
    return Path(__file__).resolve().parents[2]


class VersionRegistry:
    """All guideline and prompt versions under one root, loaded and hashed on demand."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_root()

    def tasks(self) -> list[str]:
        base = self.root / "guidelines"
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def guideline_versions(self, task: str) -> list[str]:
        return sorted(p.stem for p in (self.root / "guidelines" / task).glob("*.md"))

    def prompt_versions(self, task: str) -> list[str]:
        return sorted(p.stem for p in (self.root / "prompts" / task).glob("*.yaml"))

    def guideline(self, task: str, version: str | None = None) -> Guideline:
        version = version or self._latest(self.guideline_versions(task), task, "guideline")
        path = self.root / "guidelines" / task / f"{version}.md"
        if not path.is_file():
            raise UnknownVersionError(
                f"no guideline version {version!r} for task {task!r} "
                f"(have: {', '.join(self.guideline_versions(task)) or 'none'})"
            )
        return load_guideline(path)

    def prompt(self, task: str, version: str | None = None) -> PromptTemplate:
        version = version or self._latest(self.prompt_versions(task), task, "prompt")
        path = self.root / "prompts" / task / f"{version}.yaml"
        if not path.is_file():
            raise UnknownVersionError(
                f"no prompt version {version!r} for task {task!r} "
                f"(have: {', '.join(self.prompt_versions(task)) or 'none'})"
            )
        return load_prompt(path)

    @staticmethod
    def _latest(versions: list[str], task: str, kind: str) -> str:
        if not versions:
            raise UnknownVersionError(f"no {kind} versions for task {task!r}")
        # v1 < v2 < v10: compare the numeric part when names are vN.
        return max(versions, key=lambda v: (len(v), v))


def check_pinned(kind: str, task: str, version: str, content_hash: str, pinned: str | None) -> None:
    """Refuse a version whose content changed since labels first used it."""
    if pinned is not None and pinned != content_hash:
        raise VersionConflictError(
            f"{kind} {task}/{version} changed after labels used it "
            f"(recorded sha256 {pinned[:12]}, file now {content_hash[:12]}); "
            f"save the change as a new version instead of editing {version}"
        )
