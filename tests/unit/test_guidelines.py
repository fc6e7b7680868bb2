from __future__ import annotations

from pathlib import Path

import pytest

from llmlabel.errors import GuidelineError, UnknownVersionError, VersionConflictError
from llmlabel.guidelines import VersionRegistry, check_pinned

GUIDELINE = """---
labels: [positive, negative]
routing: {threshold: 0.7}
sampling: {initial: 2, max: 5}
---
Label the sentiment.
"""
PROMPT = "system: '{{ guideline }}'\nuser: '{{ text }}'\n"


def make_root(tmp_path: Path) -> Path:
    (tmp_path / "guidelines" / "classification").mkdir(parents=True)
    (tmp_path / "prompts" / "classification").mkdir(parents=True)
    (tmp_path / "guidelines" / "classification" / "v1.md").write_text(GUIDELINE)
    (tmp_path / "prompts" / "classification" / "v1.yaml").write_text(PROMPT)
    return tmp_path


def test_loads_front_matter_policies_and_hash(tmp_path: Path) -> None:
    registry = VersionRegistry(make_root(tmp_path))
    guideline = registry.guideline("classification", "v1")
    assert guideline.labels == ["positive", "negative"]
    assert guideline.routing.threshold == 0.7
    assert guideline.sampling.initial == 2
    assert guideline.text == "Label the sentiment."
    assert len(guideline.content_hash) == 64
    assert registry.prompt("classification").version == "v1"


def test_latest_version_orders_numerically(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    for name in ("v2", "v10"):
        (root / "guidelines" / "classification" / f"{name}.md").write_text(GUIDELINE)
    assert VersionRegistry(root).guideline("classification").version == "v10"


def test_changed_content_under_used_version_is_refused(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    registry = VersionRegistry(root)
    first = registry.guideline("classification", "v1")
    check_pinned("guideline", "classification", "v1", first.content_hash, first.content_hash)
    (root / "guidelines" / "classification" / "v1.md").write_text(GUIDELINE + "More rules.\n")
    changed = registry.guideline("classification", "v1")
    with pytest.raises(VersionConflictError, match="save the change as a new version"):
        check_pinned("guideline", "classification", "v1", changed.content_hash, first.content_hash)


def test_unknown_version_names_the_known_ones(tmp_path: Path) -> None:
    registry = VersionRegistry(make_root(tmp_path))
    with pytest.raises(UnknownVersionError, match="have: v1"):
        registry.guideline("classification", "v9")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "starts with YAML front matter"),
        ("---\nlabels: [a\n---\nx", "not valid YAML"),
        ("---\nrouting: {threshold: 3}\n---\nx", "routing.threshold"),
        ("---\nunknown_key: 1\n---\nx", "unknown_key"),
    ],
)
def test_malformed_guidelines_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    root = make_root(tmp_path)
    (root / "guidelines" / "classification" / "v1.md").write_text(text)
    with pytest.raises(GuidelineError, match=message):
        VersionRegistry(root).guideline("classification", "v1")


def test_shipped_guidelines_and_prompts_all_load(repo_root: Path) -> None:
    registry = VersionRegistry(repo_root)
    tasks = registry.tasks()
    assert {"ner", "safety", "preference", "instruction", "classification"} <= set(tasks)
    for task in tasks:
        assert registry.guideline(task).text
        assert registry.prompt(task).user
