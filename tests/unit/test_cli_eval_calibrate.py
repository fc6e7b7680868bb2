"""`llmlabel eval --calibrate GOLD --target-precision P --json` on saved samples (--rescore)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
from typer.testing import CliRunner

import llmlabel.cli.labeling  # noqa: F401  (registers the command on `app`)
from llmlabel.cli import app
from llmlabel.domain import LabelRecord, Route, Sample

runner = CliRunner()


def invoke(*args: str) -> Any:
    argv = list(args) if isinstance(typer.main.get_command(app), typer.core.TyperGroup) else list(args[1:])
    return runner.invoke(app, argv, env={"COLUMNS": "300", "OPENAI_API_KEY": "sk-test"})


def _record(item_id: str, votes: list[str]) -> LabelRecord:
    samples = [
        Sample(index=i, raw=json.dumps({"label": v}), label={"label": v}) for i, v in enumerate(votes)
    ]
    return LabelRecord(
        id=item_id, task="classification", label={"label": votes[0]}, confidence=0.0,
        route=Route.REVIEW, reason="saved", samples=samples, samples_used=len(samples),
        guideline_version="v2", guideline_hash="h", prompt_version="v2", prompt_hash="h",
        backend="openai", model="saved",
    )


def _sets(prefix: str) -> tuple[list[dict[str, Any]], list[LabelRecord]]:
    """40 unanimous items, all right; 20 split 3-2, half of them right."""
    items, records = [], []
    for n in range(60):
        item_id = f"{prefix}{n}"
        unanimous = n < 40
        right = unanimous or n % 2 == 0
        items.append({"id": item_id, "text": f"text {n}", "label": "positive" if right else "negative"})
        votes = ["positive"] * 5 if unanimous else ["positive"] * 3 + ["negative"] * 2
        records.append(_record(item_id, votes))
    return items, records


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo_root: Path) -> dict[str, Path]:
    monkeypatch.chdir(repo_root)
    cal_items, cal_records = _sets("cal-")
    rep_items, rep_records = _sets("rep-")
    paths = {"gold": tmp_path / "gold.jsonl", "items": tmp_path / "items.jsonl", "saved": tmp_path / "saved.jsonl"}
    paths["gold"].write_text("".join(json.dumps(i) + "\n" for i in cal_items))
    paths["items"].write_text("".join(json.dumps(i) + "\n" for i in rep_items))
    paths["saved"].write_text("".join(r.model_dump_json() + "\n" for r in cal_records + rep_records))
    return paths


def test_calibrated_eval_reports_at_the_fitted_threshold(files: dict[str, Path]) -> None:
    result = invoke("eval", "--task", "classification", "--in", str(files["items"]),
                    "--calibrate", str(files["gold"]), "--target-precision", "0.9",
                    "--rescore", str(files["saved"]), "--backend", "openai", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    # 40 of 40 unanimous right: lower bound 40 / (40 + z²) = 0.912 >= 0.9; the 3-2 items are
    # half wrong, so the fit accepts the unanimous ones only
    assert payload["threshold_source"] == "calibrated"
    assert payload["calibration_status"] == "calibrated"
    assert payload["accepted_n"] == 40
    assert payload["accepted_precision"] == 1.0
    assert payload["review_rate"] == pytest.approx(20 / 60)
    assert payload["n"] == 60 and payload["calibration_evidence"] == 60
    # the fitted score sits beside the raw signals, with its AUROC
    assert "fitted" in payload["auroc"] and "consistency" in payload["auroc"]
    assert payload["distinct_values"]["consistency"] == 2
    assert payload["configured_threshold"]["accepted_n"] == 40  # 0.6 < 0.8 < 1.0 here too
    assert "adaptive_replay" in payload  # --rescore replays adaptive sampling as well
    assert payload["calibration"]["curve"][0]["accepted_n"] == 40


def test_too_little_gold_keeps_the_configured_threshold(files: dict[str, Path], tmp_path: Path) -> None:
    gold = tmp_path / "small.jsonl"
    gold.write_text("".join(files["gold"].read_text().splitlines(keepends=True)[:10]))
    result = invoke("eval", "--task", "classification", "--in", str(files["items"]),
                    "--calibrate", str(gold), "--target-precision", "0.9",
                    "--rescore", str(files["saved"]), "--backend", "openai", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["threshold_source"] == "configured"
    assert payload["calibration_status"] == "uncalibrated"
    assert payload["threshold"] == 0.8


def test_calibrate_and_report_sets_must_be_disjoint(files: dict[str, Path]) -> None:
    result = invoke("eval", "--task", "classification", "--in", str(files["gold"]),
                    "--calibrate", str(files["gold"]), "--target-precision", "0.9",
                    "--rescore", str(files["saved"]), "--backend", "openai", "--json")
    assert result.exit_code != 0
    assert "disjoint" in str(result.exception) + result.output
