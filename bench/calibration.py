"""Calibration and adaptive sampling on saved fixed-k labels: halves, target 0.9, replay.

Step 1 (the heavy part, once per task; run it under the shared CPU lock):

    llmlabel eval --task T --in DEV.jsonl --limit N --backend local --model qwen2.5-1.5b \
        --fixed-k K --concurrency 1 --json --out LABELS_T.jsonl

Step 2 (this script, seconds): split the first N dev items in halves (first half
calibrates, second half is reported on), run `llmlabel eval --calibrate ... --rescore
LABELS_T.jsonl --json` on them, and print per task: distinct values per signal,
AUROC raw vs fitted, achieved precision and review rate at the target, adaptive vs
fixed-k samples per item with quality, AUROC and accepted precision side by side.

    python bench/calibration.py --datasets DIR --labels DIR [--target 0.9] [--tasks ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-c", "from llmlabel.cli import main; main()"]
QUALITY = {"ner": "f1", "safety": "exact_match", "preference": "accuracy", "instruction": "accuracy"}


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _run(task: str, dev: Path, labels: Path, target: float, work: Path) -> dict[str, Any]:
    saved_ids = {json.loads(line)["id"] for line in labels.open(encoding="utf-8") if line.strip()}
    items = [json.loads(line) for line in dev.open(encoding="utf-8") if line.strip()]
    items = [item for item in items if item["id"] in saved_ids]
    half = len(items) // 2
    gold, report = work / f"{task}.gold.jsonl", work / f"{task}.report.jsonl"
    gold.write_text("".join(json.dumps(i) + "\n" for i in items[:half]), encoding="utf-8")
    report.write_text("".join(json.dumps(i) + "\n" for i in items[half:]), encoding="utf-8")
    cmd = [*CLI, "eval", "--task", task, "--in", str(report), "--calibrate", str(gold),
           "--target-precision", str(target), "--rescore", str(labels), "--backend", "openai",
           "--json"]
    env = {**os.environ, "OPENAI_API_KEY": "unused-rescoring-only"}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{task}: {done.stderr.strip()}")
    payload: dict[str, Any] = json.loads(done.stdout)
    payload["_halves"] = (half, len(items) - half)
    return payload


def _print(task: str, p: dict[str, Any]) -> None:
    a = p["adaptive_replay"]
    cal, rep = p["_halves"]
    q = QUALITY.get(task, "accuracy")
    print(f"\n## {task}: calibrate on {cal}, report on {rep} ({p['model']}, "
          f"{p['guideline_version']}/{p['prompt_version']})")
    for name, side in (("fixed k", p), ("adaptive", a)):
        print(f"distinct values per signal (reported half, {name}): "
              + ", ".join(f"{k} {v}" for k, v in side["distinct_values"].items()))
    print("| | fixed k | adaptive (replayed) |\n| --- | --- | --- |")
    rows = [
        ("samples per item", p["samples_per_item"], a["samples_per_item"]),
        (f"quality {q}", p["quality"].get(q), a["quality"].get(q)),
        ("accuracy", p["accuracy"], a["accuracy"]),
        ("fit status", p["calibration_status"], a["calibration_status"]),
        ("routing score", p["score_signal"], a["score_signal"]),
        ("threshold", p["threshold"], a["threshold"]),
        ("accepted n", p["accepted_n"], a["accepted_n"]),
        ("accepted precision", p["accepted_precision"], a["accepted_precision"]),
        ("review rate", p["review_rate"], a["review_rate"]),
        ("at configured threshold: accepted n", p["configured_threshold"]["accepted_n"],
         a["configured_threshold"]["accepted_n"]),
        ("at configured threshold: precision", p["configured_threshold"]["accepted_precision"],
         a["configured_threshold"]["accepted_precision"]),
        ("ECE of the routing score (calibration half)", p["calibration"]["reliability"]["ece"],
         a["calibration"]["reliability"]["ece"]),
    ]
    for signal in p["auroc"]:
        rows.append((f"AUROC {signal}", p["auroc"][signal], a["auroc"].get(signal)))
        rows.append((f"errors in lowest 20% {signal}", p["errors_in_lowest_20pct"][signal],
                     a["errors_in_lowest_20pct"].get(signal)))
    for name, fixed, adaptive in rows:
        print(f"| {name} | {_fmt(fixed)} | {_fmt(adaptive)} |")
    share = a["samples_per_item"] / p["samples_per_item"] if p["samples_per_item"] else None
    print(f"adaptive / fixed-k samples: {_fmt(share)}; {p['calibration_reason']}")
    # the best point of the calibration-half curve, for when nothing reaches the target
    curve = p["calibration"]["curve"]
    best = max((c for c in curve if c["accepted_n"] >= 30), key=lambda c: c["precision_low"], default=None)
    if best:
        print(f"best lower bound with >= 30 accepted on the calibration half: "
              f"{best['precision_low']:.3f} (precision {best['precision']:.3f}, "
              f"{best['accepted_n']} accepted, threshold {best['threshold']:.3f})")


POLICIES = [  # (initial, step, stop_probability): the shipped v2 rule first
    (2, 1, 0.95), (2, 1, 0.9), (3, 1, 0.95), (2, 2, 0.95), (3, 2, 0.95),
]


def _policies(task: str, dev: Path, labels: Path) -> None:
    """Replay several stopping policies over the same fixed-k samples (all saved items)."""
    os.environ.setdefault("OPENAI_API_KEY", "unused-rescoring-only")
    from llmlabel.domain import LabelRecord
    from llmlabel.evaluate import evaluate_records
    from llmlabel.labeler import build_labeler
    from llmlabel.settings import Settings

    labeler = build_labeler(Settings(backend="openai"), task)
    items = {i["id"]: i for i in map(json.loads, dev.open(encoding="utf-8")) if i}
    records = [LabelRecord.model_validate_json(line) for line in labels.open(encoding="utf-8")]
    records = [r for r in records if r.error is None and r.id in items]
    golds = {r.id: labeler.task.gold_label(items[r.id]) for r in records}
    base = labeler.guideline
    q = QUALITY.get(task, "accuracy")
    fixed = [(labeler.record(r.id, labeler.task.validate_input(items[r.id]), r.samples, r.usage),
              golds[r.id]) for r in records]
    ref = evaluate_records(labeler.task, fixed)  # type: ignore[arg-type]
    print(f"policies replayed on {len(records)} {task} items (fixed k: {ref.samples_per_item:.2f} "
          f"samples, {q} {ref.quality.get(q, 0):.3f}, AUROC consistency "
          f"{_fmt(ref.auroc.get('consistency'))})")
    print("| initial | step | stop p | samples/item | share of fixed k | quality | AUROC consistency |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for initial, step, prob in POLICIES:
        sampling = base.sampling.model_copy(
            update={"initial": initial, "step": step, "stop_probability": prob}
        )
        labeler.guideline = base.model_copy(update={"sampling": sampling})
        replay = [(labeler.replay_adaptive(items[r.id], r), golds[r.id]) for r in records]
        rep = evaluate_records(labeler.task, replay)  # type: ignore[arg-type]
        print(f"| {initial} | {step} | {prob} | {rep.samples_per_item:.2f} | "
              f"{rep.samples_per_item / ref.samples_per_item:.2f} | {rep.quality.get(q, 0):.3f} | "
              f"{_fmt(rep.auroc.get('consistency'))} |")
    labeler.guideline = base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, required=True, help="folder with <task>/dev.jsonl")
    parser.add_argument("--labels", type=Path, required=True, help="folder with <task>.jsonl from step 1")
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--tasks", nargs="*", default=["ner", "safety", "preference", "instruction"])
    parser.add_argument("--json", action="store_true", help="also dump every payload")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            labels = args.labels / f"{task}.jsonl"
            if not labels.is_file():
                print(f"\n## {task}: no saved labels at {labels.name}; skipped")
                continue
            payload = _run(task, args.datasets / task / "dev.jsonl", labels, args.target, Path(tmp))
            _print(task, payload)
            _policies(task, args.datasets / task / "dev.jsonl", labels)
            if args.json:
                print(json.dumps(payload))


if __name__ == "__main__":
    main()
