"""The labeler end to end over a scripted in-process backend (no network, no Redis)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from llmlabel.backends.base import Backend, BackendProfile, Pricing
from llmlabel.domain import Choice, Completion, Message, Route, Usage
from llmlabel.errors import InputError
from llmlabel.guidelines import VersionRegistry
from llmlabel.labeler import Labeler
from llmlabel.tasks import build_task


class ScriptedBackend(Backend):
    """Answers from a list, one per choice, and records every call."""

    def __init__(self, answers: list[str]) -> None:
        super().__init__(
            BackendProfile(backend="openai", model="scripted", supports_n=True,
                           pricing=Pricing(input_per_mtok=1.0, output_per_mtok=2.0), max_retries=0)
        )
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    async def complete(self, messages: Sequence[Message], schema: dict[str, Any], *, n: int,
                       temperature: float, max_tokens: int) -> Completion:
        self.calls.append({"messages": list(messages), "n": n, "schema": schema})
        choices = [Choice(text=self.answers.pop(0)) for _ in range(n)]
        return Completion(choices=choices, usage=Usage(calls=1, prompt_tokens=100, completion_tokens=10 * n),
                          model="scripted")


def sentiment(label: str, confidence: float = 0.9) -> str:
    return json.dumps({"label": label, "confidence": confidence})


def make_labeler(repo_root: Path, answers: list[str], fixed_k: int | None = None) -> tuple[Labeler, ScriptedBackend]:
    registry = VersionRegistry(repo_root)
    backend = ScriptedBackend(answers)
    task = build_task(registry.guideline("classification", "v1"))
    labeler = Labeler(task=task, prompt=registry.prompt("classification", "v1"), backend=backend, fixed_k=fixed_k)
    return labeler, backend


async def test_unanimous_first_round_is_accepted_after_three_samples(repo_root: Path) -> None:
    labeler, backend = make_labeler(repo_root, [sentiment("positive")] * 3)
    record = await labeler.label("a", {"id": "a", "text": "I love it"})
    assert record.label == {"label": "positive"}
    assert record.route is Route.ACCEPT
    assert record.samples_used == 3
    assert [call["n"] for call in backend.calls] == [3]  # one call with n=3, prompt billed once
    assert record.usage.prompt_tokens == 100 and record.usage.completion_tokens == 30
    assert record.usage.cost_usd == pytest.approx((100 * 1.0 + 30 * 2.0) / 1e6)
    assert record.signals["verbalized"] == pytest.approx(0.9)
    assert record.guideline_version == "v1" and record.prompt_version == "v1"
    assert len(record.guideline_hash) == 64 and record.model == "scripted"
    # the item text reaches the last message; the guideline is in the system message
    assert "I love it" in backend.calls[0]["messages"][-1].content
    assert backend.calls[0]["messages"][0].role == "system"


async def test_disagreement_draws_more_and_goes_to_review(repo_root: Path) -> None:
    answers = [sentiment("positive"), sentiment("negative"), sentiment("neutral"),
               sentiment("positive"), sentiment("neutral")]
    labeler, backend = make_labeler(repo_root, answers)
    assert labeler.guideline.sampling.max == 5
    record = await labeler.label("b", {"id": "b", "text": "meh"})
    assert record.samples_used == 5  # split votes never settle: drawn up to the cap
    assert [call["n"] for call in backend.calls] == [3, 2]
    assert record.route is Route.REVIEW
    assert "threshold" in record.reason
    # positive and neutral tie at 2 of 5: the first in ontology order wins, at 2/5
    assert record.label == {"label": "positive"}
    assert record.confidence == pytest.approx(2 / 5)


async def test_invalid_samples_lower_confidence(repo_root: Path) -> None:
    answers = [sentiment("positive"), "not json"] + [sentiment("positive")] * 3
    labeler, _ = make_labeler(repo_root, answers)
    record = await labeler.label("c", {"id": "c", "text": "fine"})
    errors = [s.error for s in record.samples if s.error]
    assert errors and "JSON" in errors[0]
    # 2 of 3 agree (not unanimous: the unusable one counts against), then 4 of 5 at the cap
    assert record.samples_used == 5
    assert record.confidence == pytest.approx(4 / 5)


async def test_all_invalid_samples_go_to_review_without_label(repo_root: Path) -> None:
    labeler, _ = make_labeler(repo_root, ["nope"] * 5)
    record = await labeler.label("d", {"id": "d", "text": "x"})
    assert record.label is None and record.route is Route.REVIEW
    assert "no usable sample" in record.reason


async def test_fixed_k_draws_exactly_k(repo_root: Path) -> None:
    labeler, backend = make_labeler(repo_root, [sentiment("negative")] * 5, fixed_k=5)
    record = await labeler.label("e", {"id": "e", "text": "bad"})
    assert record.samples_used == 5 and [call["n"] for call in backend.calls] == [5]


async def test_bad_input_names_the_field(repo_root: Path) -> None:
    labeler, backend = make_labeler(repo_root, [])
    with pytest.raises(InputError) as excinfo:
        await labeler.label("f", {"id": "f", "txt": "typo"})
    assert excinfo.value.field == "text"
    assert backend.calls == []


def _fit(threshold: float | None, status: str = "calibrated") -> Any:
    from llmlabel.calibration import CalibrationFit, FitStatus, ThresholdFit, reliability_table

    return CalibrationFit(
        fit_id="fit-1",
        score_signal="consistency",
        score_model=None,
        threshold=ThresholdFit(
            status=FitStatus(status), threshold=threshold, configured_threshold=0.8,
            target_precision=0.9, min_evidence=30, evidence_n=40, evidence_correct=36, reason="test",
        ),
        curve=[],
        reliability=reliability_table([]),
        evidence_by_source={"gold": 40},
    )


async def test_a_calibrated_threshold_routes_and_is_recorded(repo_root: Path) -> None:
    answers = [sentiment("positive")] * 3 + [sentiment("negative")] * 2
    labeler, _ = make_labeler(repo_root, answers, fixed_k=5)
    labeler.calibration = _fit(0.55)
    record = await labeler.label("c", {"id": "c", "text": "fine"})
    # 3 of 5 agree: 0.6 is below the configured 0.8 but at or above the fitted 0.55
    assert record.confidence == pytest.approx(0.6)
    assert record.route is Route.ACCEPT
    assert record.threshold == 0.55 and record.fit_id == "fit-1"
    assert "calibrated threshold 0.55" in record.reason


async def test_an_unreachable_target_sends_everything_to_review(repo_root: Path) -> None:
    labeler, _ = make_labeler(repo_root, [sentiment("positive")] * 3)
    labeler.calibration = _fit(None, "unreachable")
    record = await labeler.label("d", {"id": "d", "text": "great"})
    assert record.confidence == 1.0
    assert record.route is Route.REVIEW
    assert record.threshold is None and record.fit_id == "fit-1"


async def test_an_uncalibrated_fit_leaves_the_configured_threshold(repo_root: Path) -> None:
    labeler, _ = make_labeler(repo_root, [sentiment("positive")] * 3)
    labeler.calibration = _fit(0.8, "uncalibrated")
    record = await labeler.label("e", {"id": "e", "text": "great"})
    assert record.route is Route.ACCEPT
    assert record.threshold == 0.8 and record.fit_id is None


async def test_audited_accepted_labels_go_to_review_too(repo_root: Path) -> None:
    from llmlabel.calibration import is_audited

    labeler, _ = make_labeler(repo_root, [sentiment("positive")] * 60)
    labeler.audit = True
    labeler.guideline = labeler.guideline.model_copy(
        update={"routing": labeler.guideline.routing.model_copy(update={"audit_share": 0.5})}
    )
    salt = labeler.guideline.content_hash
    audited = next(f"i{n}" for n in range(50) if is_audited(salt, f"i{n}", 0.5))
    kept = next(f"i{n}" for n in range(50) if not is_audited(salt, f"i{n}", 0.5))
    record = await labeler.label(audited, {"id": audited, "text": "great"})
    assert record.audited and record.route is Route.REVIEW
    assert record.reason.startswith("confidence 1.00 >= threshold")  # nothing tells the reviewer
    other = await labeler.label(kept, {"id": kept, "text": "great"})
    assert not other.audited and other.route is Route.ACCEPT


async def test_v2_stops_on_a_unanimous_pair_and_on_a_clear_majority(repo_root: Path) -> None:
    registry = VersionRegistry(repo_root)
    task = build_task(registry.guideline("classification", "v2"))
    answers = [sentiment("positive")] * 2 + [sentiment("positive"), sentiment("negative")]
    answers += [sentiment("positive"), sentiment("positive")]
    backend = ScriptedBackend(answers)
    labeler = Labeler(task=task, prompt=registry.prompt("classification", "v2"), backend=backend)
    first = await labeler.label("f", {"id": "f", "text": "nice"})
    assert first.samples_used == 2 and first.route is Route.ACCEPT
    second = await labeler.label("g", {"id": "g", "text": "ok"})
    # 1-1, then 2-1 (20 % risk), then 3-1 with one to go: cannot be caught
    assert second.samples_used == 4
    assert [call["n"] for call in backend.calls] == [2, 2, 1, 1]
    assert second.signals["samples"] == 4.0 and second.signals["valid_share"] == 1.0
    # v2 quotes the item as a JSON string
    assert '"ok"' in backend.calls[-1]["messages"][-1].content


async def test_a_pilot_sends_an_accepted_label_to_review_and_keeps_the_reason(
    repo_root: Path,
) -> None:
    labeler, _ = make_labeler(repo_root, [sentiment("positive")] * 6)
    record = await labeler.label("p", {"id": "p", "text": "I love it"}, pilot=True)
    assert (record.route, record.pilot, record.audited) == (Route.REVIEW, True, False)
    assert record.reason.startswith("pilot batch, confidence 1.00 >= threshold")
    plain = await labeler.label("q", {"id": "q", "text": "I love it"})
    assert (plain.route, plain.pilot) == (Route.ACCEPT, False)
