"""Position bias of preference samples: hand-built models, the eval report and `llmlabel eval --json`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmlabel.domain import LabelRecord, Route, Sample
from llmlabel.evaluate import evaluate_records
from llmlabel.guidelines import VersionRegistry
from llmlabel.position_bias import position_bias
from llmlabel.tasks import build_task
from llmlabel.tasks.ranking import permutation
from tests.unit.test_cli_eval_calibrate import invoke

# A model as a function of the display order it is shown: the ranking it answers (original indices).
Model = Callable[[tuple[int, ...]], list[int]]


def always_first(order: tuple[int, ...]) -> list[int]:
    return list(order)


def always_response_0(order: tuple[int, ...]) -> list[int]:
    return sorted(order)


def record(item_id: str, n: int, model: Model, k: int, task: str = "preference",
           broken: tuple[int, ...] = ()) -> LabelRecord:
    samples = []
    for index in range(k):
        ranking = model(permutation(n, index))
        label = None if index in broken else {"ranking": ranking}
        samples.append(Sample(index=index, variant=index, raw="{}", label=label,
                              error="unparsable" if label is None else None))
    return LabelRecord(
        id=item_id, task=task, label={"ranking": model(permutation(n, 0))}, confidence=1.0,
        route=Route.ACCEPT, reason="test", samples=samples, samples_used=k,
        guideline_version="v1", guideline_hash="h", prompt_version="v1", prompt_hash="h",
        backend="openai", model="m",
    )


def test_a_model_that_always_picks_the_first_shown_response() -> None:
    bias = position_bias([record(f"i{j}", 2, always_first, 4) for j in range(3)])
    assert (bias.n_samples, bias.first_shown_share, bias.chance_first_shown) == (12, 1.0, 0.5)
    # Each item: samples 0, 2 see (0, 1) and 1, 3 see (1, 0): 4 cross-order pairs, none agree.
    assert (bias.n_items, bias.n_order_pairs, bias.order_consistency) == (3, 12, 0.0)


def test_an_order_blind_model_is_at_chance_and_fully_consistent() -> None:
    bias = position_bias([record("a", 2, always_response_0, 4), record("b", 3, always_response_0, 6)])
    # 2 responses: response 0 shown first in 2 of 4 orders; 3 responses: in 2 of the 6 orders.
    assert bias.first_shown_share == pytest.approx((2 + 2) / 10)
    assert bias.chance_first_shown == pytest.approx((4 * 0.5 + 6 / 3) / 10)
    assert bias.order_consistency == 1.0
    assert bias.n_order_pairs == 4 + 15  # a: 2x2 pairs across orders; b: 6 distinct orders


def test_unparsable_samples_and_single_orders_count_for_nothing() -> None:
    bias = position_bias([record("a", 2, always_first, 3, broken=(1,))])
    # Samples 0 and 2 both saw order (0, 1): no pair across orders.
    assert (bias.n_samples, bias.n_order_pairs, bias.order_consistency, bias.n_items) == (2, 0, None, 0)
    empty = position_bias([])
    assert (empty.n_samples, empty.first_shown_share, empty.chance_first_shown) == (0, None, None)


def test_the_eval_report_carries_it_for_preference_only(repo_root: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo_root)
    registry = VersionRegistry()
    preference = build_task(registry.guideline("preference"))
    records = [record("a", 2, always_first, 4)]
    report = evaluate_records(preference, [(records[0], {"ranking": [0, 1]})])
    assert report.position_bias is not None and report.position_bias.first_shown_share == 1.0
    safety = build_task(registry.guideline("safety"))
    flags = {"flags": {}}
    safe = record("s", 2, always_first, 1, task="safety").model_copy(update={"label": flags})
    assert evaluate_records(safety, [(safe, flags)]).position_bias is None


def test_llmlabel_eval_json_and_table_show_position_bias(tmp_path: Path, repo_root: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo_root)
    items: list[dict[str, Any]] = [
        {"id": f"p{j}", "prompt": "Human: hi?", "responses": ["hello", "go away"], "ranking": [0, 1]}
        for j in range(4)]
    saved = [record(item["id"], 2, always_first, 4) for item in items]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    (tmp_path / "saved.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in saved))
    args = ["eval", "--task", "preference", "--in", str(tmp_path / "items.jsonl"),
            "--rescore", str(tmp_path / "saved.jsonl"), "--backend", "openai"]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    bias = json.loads(result.output)["position_bias"]
    assert (bias["first_shown_share"], bias["chance_first_shown"]) == (1.0, 0.5)
    assert (bias["order_consistency"], bias["n_samples"]) == (0.0, 16)
    table = invoke(*args)
    assert table.exit_code == 0, table.output
    assert "first-shown share" in table.output and "order consistency" in table.output
