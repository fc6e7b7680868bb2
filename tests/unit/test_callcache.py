"""The result cache at the backend-call seam: what makes two calls the same, and what a hit is."""

from __future__ import annotations

import shutil
from pathlib import Path

from llmlabel.backends.callcache import call_digest
from llmlabel.domain import Completion, Message
from llmlabel.guidelines import VersionRegistry
from llmlabel.labeler import Labeler
from llmlabel.spend import NullMeter
from llmlabel.tasks import build_task
from tests.unit.test_labeler import ScriptedBackend, sentiment


class DictCache:
    """An in-memory CallCache that counts lookups."""

    def __init__(self) -> None:
        self.entries: dict[str, Completion] = {}
        self.gets = 0

    async def get(self, digest: str) -> Completion | None:
        self.gets += 1
        return self.entries.get(digest)

    def put(self, digest: str, completion: Completion) -> None:
        self.entries[digest] = completion


class HitCountingMeter(NullMeter):
    def __init__(self) -> None:
        self.hits: list[str] = []

    async def record_hit(self, model: str) -> None:
        self.hits.append(model)


def labeler_at(root: Path, version: str, answers: list[str], model: str = "scripted") -> Labeler:
    registry = VersionRegistry(root)
    backend = ScriptedBackend(answers)
    backend.profile.model = model
    task = build_task(registry.guideline("classification", version))
    return Labeler(task=task, prompt=registry.prompt("classification", "v1"), backend=backend)


async def test_a_repeated_item_is_a_free_hit_and_the_ledger_is_told(repo_root: Path) -> None:
    cache, meter = DictCache(), HitCountingMeter()
    first = labeler_at(repo_root, "v1", [sentiment("positive")] * 3)
    record = await first.label("a", {"id": "a", "text": "I love it"}, cache=cache)
    assert record.usage.calls == 1 and record.usage.cache_hits == 0 and len(cache.entries) == 1
    again = labeler_at(repo_root, "v1", [])  # an empty script: any provider call would fail
    hit = await again.label("b", {"id": "b", "text": "I love it"}, cache=cache, meter=meter)
    assert hit.label == record.label and hit.samples_used == 3
    assert hit.usage.calls == 0 and hit.usage.cost_usd == 0 and hit.usage.cache_hits == 1
    assert meter.hits == ["scripted"]
    assert again.backend.calls == []  # type: ignore[attr-defined]


async def test_another_version_or_model_misses(repo_root: Path, tmp_path: Path) -> None:
    # A copy of the repository's versions with a v90 guideline that says one thing more.
    for part in ("guidelines", "prompts"):
        shutil.copytree(repo_root / part, tmp_path / part)
    v1 = tmp_path / "guidelines" / "classification" / "v1.md"
    v2 = v1.with_name("v90.md")
    v2.write_text(v1.read_text().replace("version: v1", "version: v90") + "\nBe brief.\n")
    cache = DictCache()
    item = {"id": "a", "text": "I love it"}
    await labeler_at(tmp_path, "v1", [sentiment("positive")] * 3).label("a", item, cache=cache)
    other_version = labeler_at(tmp_path, "v90", [sentiment("positive")] * 3)
    assert (await other_version.label("a", item, cache=cache)).usage.calls == 1
    other_model = labeler_at(tmp_path, "v1", [sentiment("positive")] * 3, model="bigger")
    assert (await other_model.label("a", item, cache=cache)).usage.calls == 1
    assert len(cache.entries) == 3


def test_the_sample_index_and_sampling_parameters_are_part_of_the_call() -> None:
    backend = ScriptedBackend([])
    msgs = [Message(role="user", content="x")]
    base = {"n": 3, "temperature": 0.7, "max_tokens": 64, "first_index": 0}
    digest = call_digest(backend, msgs, {"type": "object"}, **base)  # type: ignore[arg-type]
    assert digest == call_digest(backend, msgs, {"type": "object"}, **base)  # type: ignore[arg-type]
    for change in ({"first_index": 3}, {"temperature": 0.0}, {"max_tokens": 32}, {"n": 2}):
        assert call_digest(backend, msgs, {"type": "object"}, **{**base, **change}) != digest  # type: ignore[arg-type]
    assert call_digest(backend, msgs, {"type": "string"}, **base) != digest  # type: ignore[arg-type]
