"""Projects and versions against a real Redis: the store, then the service on top of it."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from llmlabel.errors import (
    ConflictError,
    DefinitionError,
    InputError,
    NotFoundError,
    UnknownVersionError,
    VersionConflictError,
)
from llmlabel.guidelines import VersionRegistry, content_hash, latest_version
from llmlabel.projects import LabelerFactory, Projects, VersionPin
from llmlabel.ratelimit import RateLimiter
from llmlabel.settings import Settings
from llmlabel.store import Store
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SPAM = """---
description: Is a message spam?
labels: [spam, ham, unsure]
few_shot:
  - input: {text: "WIN A FREE CRUISE, reply now"}
    output: {label: spam, confidence: 0.9}
---
Label each message spam, ham (a real message) or unsure.
"""
PROMPT = (REPO_ROOT / "prompts/classification/v1.yaml").read_text()


def versions(g: str = SPAM, p: str = PROMPT) -> dict[str, object]:
    """Keyword arguments of create_project for a v1 pair."""
    return {"versions": [("guideline", "v1", content_hash(g), g), ("prompt", "v1", content_hash(p), p)],
            "active": ("v1", "v1")}


def test_create_read_and_refuse_a_second_project_of_the_name(store: Store) -> None:
    info = store.create_project("a", "spam", task="classification", **versions(),  # type: ignore[arg-type]
                                actor="a/op", model_profile="fast")
    assert (info.name, info.task, info.model_profile) == ("spam", "classification", "fast")
    assert (info.active.guideline_version, info.active.prompt_version) == ("v1", "v1")
    assert store.version_text("a", "guideline", content_hash(SPAM)) == SPAM
    with pytest.raises(ConflictError, match="already has a project"):
        store.create_project("a", "spam", task="classification", **versions(),  # type: ignore[arg-type]
                             actor="a/op")
    # Another team: no such project, and not even the content.
    with pytest.raises(NotFoundError):
        store.get_project("b", "spam")
    with pytest.raises(NotFoundError):
        store.version_text("b", "guideline", content_hash(SPAM))
    assert [p.name for p in store.list_projects("a")] == ["spam"]
    assert store.list_projects("b") == []


def test_versions_are_named_deduplicated_and_immutable(store: Store) -> None:
    store.create_project("a", "spam", task="classification", **versions(), actor="op")  # type: ignore[arg-type]
    g2 = SPAM + "Be strict.\n"
    added = store.add_versions("a", "spam", {"guideline": (content_hash(g2), g2, None)}, actor="op")
    assert added == {"guideline": ("v2", True)}
    again = store.add_versions("a", "spam", {"guideline": (content_hash(g2), g2, "v9")}, actor="op")
    assert again == {"guideline": ("v2", False)}, "same content returns the existing version"
    g3, p2 = SPAM + "Be lenient.\n", PROMPT + "\n# v2\n"
    size = store.redis.dbsize()
    with pytest.raises(VersionConflictError, match="immutable"):
        store.add_versions("a", "spam", {"prompt": (content_hash(p2), p2, None),
                                         "guideline": (content_hash(g3), g3, "v2")}, actor="op")
    assert store.redis.dbsize() == size, "a refused push writes nothing, not even the other part"
    named = store.add_versions("a", "spam", {"guideline": (content_hash(g3), g3, "v10")},
                               actor="op")
    assert named == {"guideline": ("v10", True)}
    g4 = SPAM + "Fourth.\n"
    assert store.add_versions("a", "spam", {"guideline": (content_hash(g4), g4, None)},
                              actor="op") == {"guideline": ("v11", True)}
    assert store.get_project("a", "spam").guideline_versions == ["v1", "v2", "v10", "v11"]
    info = store.version_info("a", "spam", "guideline", "v2")
    assert info.sha256 == content_hash(g2) and info.created_by == "op"
    with pytest.raises(NotFoundError, match="known: v1, v2, v10, v11"):
        store.version_info("a", "spam", "guideline", "v3")


def test_concurrent_pushes_get_distinct_names(store: Store) -> None:
    store.create_project("a", "spam", task="classification", **versions(), actor="op")  # type: ignore[arg-type]
    names: list[str] = []

    def push(i: int) -> None:
        text = SPAM + f"rule {i}\n"
        [(name, _)] = store.add_versions(
            "a", "spam", {"guideline": (content_hash(text), text, None)}, actor="op").values()
        names.append(name)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(names, key=lambda n: int(n[1:])) == [f"v{i}" for i in range(2, 10)]


def test_activate_rollback_and_history(store: Store) -> None:
    store.create_project("a", "spam", task="classification", **versions(), actor="op")  # type: ignore[arg-type]
    g2 = SPAM + "Be strict.\n"
    store.add_versions("a", "spam", {"guideline": (content_hash(g2), g2, None)}, actor="op")
    with pytest.raises(NotFoundError, match="no prompt version 'v5'"):
        store.activate_project("a", "spam", guideline_version="v2", prompt_version="v5",
                               actor="op")
    info = store.activate_project("a", "spam", guideline_version="v2", prompt_version="v1",
                                  actor="op2")
    assert (info.active.guideline_version, info.active.pinned) == ("v2", True)
    back = store.rollback_project("a", "spam", actor="op")
    assert back.active.guideline_version == "v1"
    with pytest.raises(ConflictError, match="no earlier"):
        store.rollback_project("a", "spam", actor="op")
    history = store.project_history("a", "spam")
    assert [e.action for e in history] == [
        "version.rollback", "version.activate", "version.create", "project.create"]
    assert history[1].actor == "op2"
    assert history[0].after == {"project": "spam", "guideline_version": "v1", "prompt_version": "v1"}
    assert [e.action for e in store.audit_events("a")][:2] == ["version.rollback", "version.activate"]
    assert store.audit_events("b") == []
    with pytest.raises(NotFoundError):
        store.project_history("b", "spam")


# -- the service --------------------------------------------------------------------------


@pytest.fixture
def builtins(tmp_path: Path) -> Path:
    """A copy of the built-in definitions the test can add a release's new version to."""
    for folder in ("guidelines", "prompts"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    return tmp_path


@pytest.fixture
def service(store: Store, builtins: Path) -> Callable[[], Projects]:
    """A fresh Projects service (as after a restart) over the store and the built-ins copy."""
    return lambda: Projects(store, store.settings, builtins=VersionRegistry(builtins))


def test_default_project_is_made_from_the_builtins_and_follows_them_until_pinned(
    service: Callable[[], Projects], builtins: Path, store: Store
) -> None:
    shipped = VersionRegistry(builtins).guideline_versions("ner")
    latest = latest_version(shipped)
    assert latest is not None
    first = service().resolve("a", task="ner")
    assert (first.project.name, first.project.default, first.project.active.pinned) == (
        "ner", True, False)
    assert first.project.guideline_versions == shipped, "every built-in version, in order"
    text = (builtins / f"guidelines/ner/{latest}.md").read_text()
    assert (first.guideline.version, first.guideline_hash) == (latest, content_hash(text))
    # A release ships a newer ner guideline: the next process imports it and, unpinned, follows it.
    newer, newest = f"v{int(latest[1:]) + 1}", f"v{int(latest[1:]) + 2}"
    (builtins / f"guidelines/ner/{newer}.md").write_text(text + "\nA newer rule.\n")
    after = service().resolve("a", task="ner")
    assert after.guideline.version == newer
    assert store.project_history("a", "ner")[0].action == "version.follow_builtin"
    # Pinned by an operator, a later release changes nothing.
    projects = service()
    projects.activate("a", "a/op", "ner", guideline_version=latest)
    (builtins / f"guidelines/ner/{newest}.md").write_text(text + "\nThe newest rule.\n")
    pinned = service().resolve("a", task="ner")
    assert pinned.guideline.version == latest
    assert newest in store.get_project("a", "ner").guideline_versions
    # Team b's default project is its own.
    assert service().resolve("b", task="ner").guideline.version == newest


def test_create_push_activate_check_everything_first(
    service: Callable[[], Projects], store: Store
) -> None:
    projects = service()
    projects.create("a", "a/op", name="spam", task="classification", guideline=SPAM, prompt=PROMPT)
    size = store.redis.dbsize()
    bad = SPAM.replace("labels: [spam, ham, unsure]", "labels: [spam, ham")
    with pytest.raises(DefinitionError) as caught:
        projects.push("a", "a/op", "spam", guideline=bad)
    assert (caught.value.part, caught.value.line) == ("guideline", 4)
    broken_prompt = PROMPT.replace("{{ text }}", "{{ body }}")
    with pytest.raises(DefinitionError) as caught:
        projects.push("a", "a/op", "spam", prompt=broken_prompt)
    assert (caught.value.part, caught.value.field) == ("prompt", "user")
    with pytest.raises(InputError, match="reserved"):
        projects.create("a", "a/op", name="ner", task="classification", guideline=SPAM,
                        prompt=PROMPT)
    with pytest.raises(InputError, match="model profile 'gpu'"):
        projects.create("a", "a/op", name="x", task="classification", guideline=SPAM,
                        prompt=PROMPT, model_profile="gpu")
    assert store.redis.dbsize() == size, "refused input stores nothing"
    added = projects.push("a", "a/op", "spam", prompt=PROMPT.replace("Text:", "Message:"))
    assert added.created and added.versions["prompt"][0].version == "v2"
    activated = projects.activate("a", "a/op", "spam", prompt_version="v2")
    assert (activated.active.guideline_version, activated.active.prompt_version) == ("v1", "v2")
    with pytest.raises(UnknownVersionError, match="v7"):
        projects.activate("a", "a/op", "spam", guideline_version="v7")
    diff = projects.diff("a", "spam", "prompt", "v1", "v2")
    assert "-  Text: {{ text }}" in diff.diff and "+  Message: {{ text }}" in diff.diff


def test_worker_labeler_loads_versions_by_hash_from_the_store(
    service: Callable[[], Projects], store: Store, make_settings: Callable[..., Settings]
) -> None:
    projects = service()
    projects.create("a", "a/op", name="spam", task="classification", guideline=SPAM, prompt=PROMPT)
    resolved = projects.resolve("a", project="spam")
    factory = LabelerFactory(store, make_settings(backend="openai", api_key="k"))
    pin = VersionPin(team="a", task="classification", guideline_version="v1", prompt_version="v1",
                     guideline_hash=resolved.guideline_hash, prompt_hash=resolved.prompt_hash,
                     project="spam")
    limiters: dict[str, RateLimiter] = {}
    labeler = factory.labeler(pin, limiters=limiters)
    assert labeler.guideline.labels == ["spam", "ham", "unsure"]
    assert (labeler.project, labeler.guideline.content_hash) == ("spam", content_hash(SPAM))
    assert list(limiters) == ["default"]
    # Another team cannot label with team a's content, even knowing the hash.
    with pytest.raises(NotFoundError):
        factory.labeler(replace(pin, team="b"), limiters=limiters)
