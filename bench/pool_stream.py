"""The example pool on a simulated stream: label, review the unsure ones, label the rest twice.

Per task, the first --limit dev items are split: the first part (--first share) is
labeled with the built-in guideline; its items routed to review are "reviewed" by a
simulated reviewer who gives the gold label (approve when the LLM was right, fix when
not), and enter the pool. The rest is then labeled twice in one run, side by side:
without the pool, and with `similar_examples: {k: K}` over that pool. Printed per
arm: quality, AUROC of the routing confidence, review rate, accepted precision, the
examples shown and the prompt tokens per item and per call (the per-call difference is
what the pool adds to each prompt; per item it also depends on how many samples are drawn).

    python bench/pool_stream.py --datasets DIR --tasks ner safety --limit 16 --backend local

(wrap it in the machine's CPU lock when others share it). Cost: with the default local
model on one core a safety item takes about a minute (3-5 samples of a ~600-token
prompt), so --limit 10 over one task is already ~15 CPU-minutes; --fixed-k 1 cuts the
samples but leaves consistency with nothing to measure (AUROC needs k >= 2).

In-process (no Redis, no service): the selection is the same pure module the
workers use (`llmlabel.fewshot`), the labeler the same `Labeler`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from statistics import fmean
from typing import Any

from llmlabel.cli.labeling import make_labeler
from llmlabel.domain import LabelRecord, Route
from llmlabel.evaluate import auroc
from llmlabel.fewshot import PoolExample, PoolSnapshot, make_snapshot
from llmlabel.guidelines import SimilarExamples
from llmlabel.labeler import Labeler
from llmlabel.tasks import Task, build_task

QUALITY = {"ner": "f1", "safety": "exact_match", "preference": "accuracy",
           "instruction": "accuracy", "classification": "accuracy"}


def task_input(task: Task, item: dict[str, Any]) -> dict[str, Any]:
    """What a submitter would send: the id and the task's fields, no gold or metadata."""
    view = task.validate_input(item).model_dump(mode="json", exclude_none=True)
    return {"id": item["id"], **view}


async def label_all(labeler: Labeler, items: list[dict[str, Any]], stage: str,
                    pool: PoolSnapshot | None = None) -> list[LabelRecord]:
    """Label one at a time (the local model runs one call at a time anyway); progress on stderr."""
    records = []
    for n, item in enumerate(items, start=1):
        started = time.perf_counter()
        records.append(await labeler.label(item["id"], item, pool=pool))
        print(f"{stage} {n}/{len(items)}: {records[-1].route.value} "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return records


def simulated_review(task: Task, items: list[dict[str, Any]], gold: list[dict[str, Any]],
                     records: list[LabelRecord]) -> list[PoolExample]:
    """Items routed to review get their gold label: approved if the LLM had it, else fixed."""
    examples = []
    for item, label, record in zip(items, gold, records, strict=True):
        if record.route != Route.REVIEW:
            continue
        right = task.is_correct(record.label, label)
        examples.append(PoolExample(
            id=item["id"], source="approve" if right else "fix", task=task.name,
            item_id=item["id"], input=item, label=label, at=0.0))
    return examples


def summary(task: Task, records: list[LabelRecord], gold: list[dict[str, Any]]) -> dict[str, Any]:
    correct = [task.is_correct(r.label, g) for r, g in zip(records, gold, strict=True)]
    accepted = [c for r, c in zip(records, correct, strict=True) if r.route == Route.ACCEPT]
    quality = task.quality([(r.label, g) for r, g in zip(records, gold, strict=True)])
    return {
        "quality": quality.get(QUALITY.get(task.name, "accuracy")),
        "accuracy": fmean(correct) if correct else None,
        "auroc": auroc([r.confidence for r in records], correct),
        "review_rate": fmean(r.route == Route.REVIEW for r in records) if records else None,
        "accepted_n": len(accepted),
        "accepted_precision": fmean(accepted) if accepted else None,
        "examples_per_item": fmean(len(r.examples) for r in records) if records else 0.0,
        "prompt_tokens_per_item": fmean(r.usage.prompt_tokens for r in records) if records else 0.0,
        "samples_per_item": fmean(r.samples_used for r in records) if records else 0.0,
        # What the pool costs each call (an item may draw fewer samples with it).
        "prompt_tokens_per_call": (sum(r.usage.prompt_tokens for r in records)
                                   / max(1, sum(r.usage.calls for r in records))),
    }


def fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


async def run_task(args: argparse.Namespace, name: str) -> None:
    plain, _ = make_labeler(name, args.backend, args.model, args.base_url, None, None,
                            args.fixed_k)
    task = plain.task
    guideline = plain.guideline.model_copy(update={"similar_examples": SimilarExamples(k=args.k)})
    pooled = Labeler(task=build_task(guideline), prompt=plain.prompt, backend=plain.backend,
                     limiter=plain.limiter, fixed_k=args.fixed_k, project="bench")
    path = args.datasets / name / "dev.jsonl"
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()][: args.limit]
    gold = [task.gold_label(row) for row in rows]
    rows, gold = [r for r, g in zip(rows, gold, strict=True) if g is not None], [g for g in gold if g]
    items = [task_input(task, row) for row in rows]
    cut = max(1, round(len(items) * args.first))
    started = time.perf_counter()
    first = await label_all(plain, items[:cut], f"{name} first part")
    pool = make_snapshot(simulated_review(task, items[:cut], gold[:cut], first))
    print(f"{name}: {len(pool.examples)} of {cut} first-part items reviewed into the pool "
          f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    without = await label_all(plain, items[cut:], f"{name} rest without pool")
    with_pool = await label_all(pooled, items[cut:], f"{name} rest with pool", pool)
    elapsed = time.perf_counter() - started
    a, b = summary(task, without, gold[cut:]), summary(task, with_pool, gold[cut:])
    reviewed = summary(task, first, gold[:cut])
    print(f"\n## {name}: {len(items)} dev items, first {cut} labeled and reviewed "
          f"(review rate {fmt(reviewed['review_rate'])}, {len(pool.examples)} into the pool: "
          f"{sum(e.source == 'fix' for e in pool.examples)} fixed), rest {len(items) - cut} "
          f"labeled both ways; {plain.backend.model}, {plain.guideline.version}/"
          f"{plain.prompt.version}, k={args.k}, {elapsed:.0f} s")
    print(f"| | without pool | with pool (k={args.k}) |\n| --- | --- | --- |")
    q = QUALITY.get(name, "accuracy")
    for label, key in [(f"quality ({q})", "quality"), ("accuracy", "accuracy"),
                       ("AUROC (routing confidence)", "auroc"), ("review rate", "review_rate"),
                       ("accepted n", "accepted_n"), ("accepted precision", "accepted_precision"),
                       ("pool examples shown per item", "examples_per_item"),
                       ("samples per item", "samples_per_item"),
                       ("prompt tokens per item", "prompt_tokens_per_item"),
                       ("prompt tokens per call", "prompt_tokens_per_call")]:
        print(f"| {label} | {fmt(a[key])} | {fmt(b[key])} |")
    extra = b["prompt_tokens_per_item"] - a["prompt_tokens_per_item"]
    per_call = b["prompt_tokens_per_call"] - a["prompt_tokens_per_call"]
    print(f"extra prompt tokens with the pool: {extra:.1f} per item, {per_call:.1f} per call")
    sys.stdout.flush()
    await plain.backend.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, required=True, help="folder with TASK/dev.jsonl")
    parser.add_argument("--tasks", nargs="+", default=["ner", "safety", "preference", "instruction"])
    parser.add_argument("--limit", type=int, default=16, help="dev items per task")
    parser.add_argument("--first", type=float, default=0.5, help="share labeled then reviewed")
    parser.add_argument("--k", type=int, default=3, help="similar examples per item")
    parser.add_argument("--fixed-k", type=int, default=None,
                        help="samples per item instead of adaptive sampling (fewer: cheaper)")
    parser.add_argument("--backend", default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--base-url", default=None)
    args = parser.parse_args()
    print(" ".join(["python", "bench/pool_stream.py", *sys.argv[1:]]))

    async def run() -> None:
        for name in args.tasks:
            await run_task(args, name)

    asyncio.run(run())


if __name__ == "__main__":
    main()
