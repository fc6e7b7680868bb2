from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from llmlabel.errors import DefinitionError, UnknownVersionError
from llmlabel.guidelines import (
    VersionRegistry,
    content_hash,
    field_line,
    latest_version,
    parse_guideline,
    parse_prompt,
    shipped_root,
)

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


def test_parses_front_matter_policies_and_hash_from_text() -> None:
    guideline = parse_guideline(GUIDELINE, task="classification", version="v7")
    assert guideline.labels == ["positive", "negative"]
    assert guideline.routing.threshold == 0.7
    assert guideline.sampling.initial == 2
    assert guideline.text == "Label the sentiment."
    assert (guideline.task, guideline.version) == ("classification", "v7")
    assert guideline.content_hash == hashlib.sha256(GUIDELINE.encode()).hexdigest()
    prompt = parse_prompt(PROMPT, task="classification", version="v1")
    assert prompt.user == "{{ text }}" and prompt.content_hash == content_hash(PROMPT)


def test_registry_reads_files_and_hashes_their_bytes(tmp_path: Path) -> None:
    registry = VersionRegistry(make_root(tmp_path))
    guideline = registry.guideline("classification", "v1")
    path = tmp_path / "guidelines/classification/v1.md"
    assert guideline.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert registry.prompt("classification").version == "v1"


def test_latest_version_orders_numerically(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    for name in ("v2", "v10"):
        (root / "guidelines" / "classification" / f"{name}.md").write_text(GUIDELINE)
    assert VersionRegistry(root).guideline("classification").version == "v10"
    assert latest_version(["v1", "v10", "v9"]) == "v10"
    assert latest_version([]) is None


def test_unknown_version_names_the_known_ones(tmp_path: Path) -> None:
    registry = VersionRegistry(make_root(tmp_path))
    with pytest.raises(UnknownVersionError, match="have: v1"):
        registry.guideline("classification", "v9")


@pytest.mark.parametrize(
    ("text", "field", "line", "message"),
    [
        ("no front matter", None, 1, "starts with YAML front matter"),
        ("---\nlabels: [a\nx: 1\n---\nx", None, 3, "not valid YAML"),
        ("---\nlabels: [a]\nrouting: {threshold: 3}\n---\nx", "routing.threshold", 3,
         "less than or equal to 1"),
        ("---\nlabels: [a]\n\nunknown_key: 1\n---\nx", "unknown_key", 4, "Extra inputs"),
        ("---\ntask: ner\n---\nx", "task", 2, "names task 'ner'"),
        ("---\n- a\n---\nx", None, 2, "must be a mapping"),
        ("---\nlabels: [a]\nsampling:\n  initial: 2\n  max: zero\n---\nx", "sampling.max", 5,
         "valid integer"),
    ],
)
def test_bad_guidelines_name_field_and_line(
    text: str, field: str | None, line: int, message: str
) -> None:
    with pytest.raises(DefinitionError, match=message) as caught:
        parse_guideline(text, task="classification", version="v1")
    error = caught.value
    assert (error.part, error.field, error.line) == ("guideline", field, line)
    assert error.problems[0]["line"] == line


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("system: [1]\nuser: x\n", "system", 1),
        ("system: x\nuser: x\nextra: 1\n", "extra", 3),
        ("system: x\n  user: : :\n", None, 2),
        ("- a list\n", None, 1),
    ],
)
def test_bad_prompts_name_field_and_line(text: str, field: str | None, line: int) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_prompt(text, task="classification", version="v1")
    assert (caught.value.part, caught.value.field, caught.value.line) == ("prompt", field, line)


def test_field_line_finds_nested_keys_and_list_entries() -> None:
    text = "a: 1\nb:\n  c:\n    - x: 1\n    - y: 2\n"
    assert field_line(text, "b.c.1.y") == 5
    assert field_line(text, "b.c.0") == 4
    assert field_line(text, "missing") is None
    assert field_line(text, "b.missing") == 2  # the deepest key found


def test_shipped_definitions_cover_every_task_and_load() -> None:
    registry = VersionRegistry()
    assert registry.root == shipped_root()
    tasks = registry.tasks()
    assert {"ner", "safety", "preference", "instruction", "classification"} <= set(tasks)
    for task in tasks:
        assert registry.guideline(task).text
        assert registry.prompt(task).user


def test_shipped_definitions_are_the_repository_files(repo_root: Path) -> None:
    # The package's built-ins are the top-level folders (symlinked in the source tree).
    for task in VersionRegistry().tasks():
        for version in VersionRegistry().guideline_versions(task):
            _, text = VersionRegistry().text("guideline", task, version)
            assert text == (repo_root / "guidelines" / task / f"{version}.md").read_text()
