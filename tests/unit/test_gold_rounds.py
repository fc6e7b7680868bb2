"""Gold labeling after a provider storm: failed calls get later rounds, bad input does not."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from llmlabel import gold_jobs
from llmlabel.errors import BackendError, InputError
from llmlabel.store.gold_models import GoldItem


def gold(n: int) -> GoldItem:
    return GoldItem(gold_id=f"g:{n}", id=f"g{n}", task="classification", input={"text": str(n)},
                    label={"label": "neutral"}, guideline_version="v1", created_at=0.0,
                    created_by="ops")


class FlakyLabeler:
    """Fails item g:1 at the provider twice, then labels it; g:2 is always bad input."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: Counter[str] = Counter()

    async def label(self, item_id: str, item: dict[str, Any], *, meter: Any) -> str:
        self.calls[item_id] += 1
        if item_id == "g:2":
            raise InputError("text: not a classification input")
        if item_id == "g:1" and self.calls[item_id] <= self.failures:
            raise BackendError("provider returned 503", status_code=503)
        return f"record of {item_id}"


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gold_jobs, "_ROUND_PAUSE_S", 0.0)


async def test_provider_failures_are_labeled_in_a_later_round() -> None:
    labeler = FlakyLabeler(failures=2)
    results = await gold_jobs._label_all(labeler, [gold(0), gold(1), gold(2)], 4, None)  # type: ignore[arg-type]
    outcomes = {g.gold_id: o for g, o in results}
    assert outcomes["g:0"] == "record of g:0" and outcomes["g:1"] == "record of g:1"
    assert str(outcomes["g:2"]).startswith("InputError")
    # g:1 took three rounds; the others one each (bad input is never tried again).
    assert labeler.calls == Counter({"g:0": 1, "g:1": 3, "g:2": 1})


async def test_rounds_are_bounded() -> None:
    labeler = FlakyLabeler(failures=10)
    results = await gold_jobs._label_all(labeler, [gold(1)], 4, None)  # type: ignore[arg-type]
    [(_, outcome)] = results
    assert str(outcome).startswith("BackendError")
    assert labeler.calls["g:1"] == 1 + gold_jobs._PROVIDER_ROUNDS
