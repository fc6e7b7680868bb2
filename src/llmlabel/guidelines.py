"""Guideline and prompt versions parsed from their text, identified by the text's sha256.

A guideline is markdown with YAML front matter (ontology, routing and sampling
policies, few-shot examples); a prompt is a YAML mapping with `system` and `user`
Jinja2 templates. Both arrive as text (over the API, from the store, or read
from the package's built-in files by `VersionRegistry`), so nothing here knows
a path: every error is a `DefinitionError` naming the part, the field and the
1-based line of the text at fault.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmlabel.errors import DefinitionError, UnknownVersionError

# libyaml's loader when the wheel has it: the pure-Python one takes ~20 ms for a guideline.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = [
    "FewShotExample",
    "Guideline",
    "PromptTemplate",
    "RoutingPolicy",
    "SamplingPolicy",
    "SimilarExamples",
    "VersionRegistry",
    "block_start_line",
    "content_hash",
    "definition_line",
    "field_line",
    "latest_version",
    "parse_guideline",
    "parse_prompt",
    "shipped_root",
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


class SimilarExamples(BaseModel):
    """Few-shot examples chosen per item from the project's example pool (`fewshot.py`).

    They follow the fixed `few_shot` block, so the cached prefix stays the same.
    """

    model_config = ConfigDict(extra="forbid")

    k: int = Field(3, ge=1, le=16)
    method: Literal["char_tfidf"] = "char_tfidf"


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
    similar_examples: SimilarExamples | None = None
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


def content_hash(text: str) -> str:
    """The sha256 (hex) of a version's text as UTF-8: its identity everywhere."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- locating fields in YAML ---------------------------------------------------------


def _yaml_line(node: yaml.Node, path: Sequence[str]) -> int | None:
    """0-based line of the deepest key (or list entry) of `path` found under `node`."""
    line: int | None = None
    for part in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    line, child = key.start_mark.line, value
                    break
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            child = node.value[int(part)]
            line = child.start_mark.line
        if child is None:
            break
        node = child
    return line


def field_line(yaml_text: str, field: str | None, *, offset: int = 0) -> int | None:
    """1-based line of a dotted field (`sampling.initial`, `few_shot.0.input`) in YAML text.

    `offset` is the number of lines before the YAML starts. None when the text
    does not parse or has no such key.
    """
    if not field:
        return None
    try:
        root = yaml.compose(yaml_text, Loader=_LOADER)
    except yaml.YAMLError:
        return None
    if root is None:
        return None
    line = _yaml_line(root, field.split("."))
    return None if line is None else line + 1 + offset


def block_start_line(yaml_text: str, key: str) -> int | None:
    """1-based line of the first line of a top-level key's string value (for template lines)."""
    try:
        root = yaml.compose(yaml_text, Loader=_LOADER)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    for key_node, value in root.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            block = isinstance(value, yaml.ScalarNode) and value.style in ("|", ">")
            # A block scalar's text starts on the line after its '|' indicator.
            start: int = value.start_mark.line
            return start + 1 + (1 if block else 0)
    return None


def definition_line(part: str, text: str, field: str | None) -> int | None:
    """1-based line of `field` in a guideline's front matter or in a prompt (None if not found)."""
    if part == "prompt":
        return field_line(text, field)
    try:
        meta_text, _ = _split_front_matter(text)
    except DefinitionError:
        return None
    return field_line(meta_text, field)


def _yaml_error(exc: yaml.YAMLError, part: str, offset: int) -> DefinitionError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 + offset if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {line}" if line is not None else ""
    return DefinitionError(f"{part}: not valid YAML{where}: {problem}", part=part, line=line)


def _validation_error(
    exc: ValidationError, part: str, yaml_text: str, offset: int
) -> DefinitionError:
    problems: list[dict[str, Any]] = []
    located: list[tuple[str | None, int | None]] = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or None
        line = field_line(yaml_text, field, offset=offset)
        located.append((field, line))
        problems.append({"part": part, "field": field, "line": line, "message": error["msg"]})
    text = "; ".join(
        f"{p['field']}" + (f" (line {p['line']})" if p["line"] else "") + f": {p['message']}"
        for p in problems
    )
    field, line = located[0]
    return DefinitionError(f"{part}: {text}", part=part, field=field, line=line, problems=problems)


# -- parsing -------------------------------------------------------------------------


def _split_front_matter(text: str) -> tuple[str, str]:
    """(front matter YAML, body) of a guideline.

    The YAML keeps the rest of the opening '---' line, so its line numbers are
    the text's line numbers (offset 0).
    """
    if not text.startswith("---"):
        raise DefinitionError(
            "guideline: a guideline starts with YAML front matter between '---' lines",
            part="guideline",
            line=1,
        )
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        raise DefinitionError(
            "guideline: front matter is not closed by a '---' line", part="guideline", line=1
        )
    return parts[0][3:], parts[1].lstrip("-").strip()


def parse_guideline(text: str, *, task: str, version: str) -> Guideline:
    """A guideline from its text; DefinitionError names the field and line at fault.

    The front matter may name its task (it must match); a `version` key is
    ignored: the service names versions, the content hash identifies them.
    """
    meta_text, rest = _split_front_matter(text)
    try:
        meta = yaml.load(meta_text, Loader=_LOADER) or {}
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, "guideline", 0) from None
    if not isinstance(meta, dict):
        raise DefinitionError(
            "guideline: front matter must be a mapping (key: value lines)", part="guideline", line=2
        )
    named = meta.pop("task", task)
    if named != task:
        line = field_line(meta_text, "task")
        raise DefinitionError(
            f"guideline: front matter names task {named!r}, but this is a {task!r} guideline",
            part="guideline",
            field="task",
            line=line,
        )
    meta.pop("version", None)
    try:
        return Guideline(
            **meta, task=task, version=version, text=rest, content_hash=content_hash(text)
        )
    except ValidationError as exc:
        raise _validation_error(exc, "guideline", meta_text, 0) from None
    except TypeError as exc:  # a non-string key in the mapping
        raise DefinitionError(f"guideline: {exc}", part="guideline") from None


def parse_prompt(text: str, *, task: str, version: str) -> PromptTemplate:
    """A prompt from its YAML text (`system` and `user` templates); DefinitionError otherwise."""
    try:
        meta = yaml.load(text, Loader=_LOADER) or {}
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, "prompt", 0) from None
    if not isinstance(meta, dict):
        raise DefinitionError(
            "prompt: a prompt is a YAML mapping with 'system' and 'user' templates",
            part="prompt",
            line=1,
        )
    try:
        return PromptTemplate(
            **{str(k): v for k, v in meta.items()},
            task=task,
            version=version,
            content_hash=content_hash(text),
        )
    except ValidationError as exc:
        raise _validation_error(exc, "prompt", text, 0) from None
    except TypeError as exc:  # e.g. a `task:` key colliding with the argument
        raise DefinitionError(f"prompt: {exc}", part="prompt") from None


def latest_version(versions: Sequence[str]) -> str | None:
    """The newest of version names: v1 < v2 < v10 (longer names sort later)."""
    return max(versions, key=lambda v: (len(v), v)) if versions else None


# -- built-in definitions --------------------------------------------------------------


def shipped_root() -> Traversable:
    """The built-in guidelines/ and prompts/ inside the installed package.

    In the repository they are symlinks to the top-level guidelines/ and
    prompts/ folders (the editable source); the wheel holds copies.
    """
    return resources.files("llmlabel").joinpath("shipped")


class VersionRegistry:
    """Guideline and prompt versions in `root/guidelines/<task>/` and `root/prompts/<task>/`.

    The default root is the package's built-in definitions; a folder can be given
    (tests, `llmlabel label` with local files). Files are read on demand.
    """

    def __init__(self, root: Path | Traversable | None = None) -> None:
        self.root: Path | Traversable = root if root is not None else shipped_root()

    def _dir(self, kind: str, task: str | None = None) -> Traversable:
        node = self.root.joinpath("guidelines" if kind == "guideline" else "prompts")
        return node.joinpath(task) if task is not None else node

    def _names(self, kind: str, task: str) -> list[str]:
        folder = self._dir(kind, task)
        suffix = ".md" if kind == "guideline" else ".yaml"
        if not folder.is_dir():
            return []
        return sorted(
            entry.name[: -len(suffix)]
            for entry in folder.iterdir()
            if entry.name.endswith(suffix) and entry.is_file()
        )

    def tasks(self) -> list[str]:
        base = self._dir("guideline")
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def guideline_versions(self, task: str) -> list[str]:
        return self._names("guideline", task)

    def prompt_versions(self, task: str) -> list[str]:
        return self._names("prompt", task)

    def text(self, kind: str, task: str, version: str | None = None) -> tuple[str, str]:
        """(version name, text) of a guideline or prompt version; None: the latest."""
        have = self._names(kind, task)
        version = version or latest_version(have)
        if version is None:
            raise UnknownVersionError(f"no built-in {kind} versions for task {task!r}")
        if version not in have:
            raise UnknownVersionError(
                f"no {kind} version {version!r} for task {task!r} "
                f"(have: {', '.join(have) or 'none'})"
            )
        suffix = ".md" if kind == "guideline" else ".yaml"
        data = self._dir(kind, task).joinpath(f"{version}{suffix}").read_bytes()
        return version, data.decode("utf-8")

    def guideline(self, task: str, version: str | None = None) -> Guideline:
        name, text = self.text("guideline", task, version)
        return parse_guideline(text, task=task, version=name)

    def prompt(self, task: str, version: str | None = None) -> PromptTemplate:
        name, text = self.text("prompt", task, version)
        return parse_prompt(text, task=task, version=name)
