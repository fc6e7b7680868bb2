"""The result cache: a resubmitted batch costs no provider call; another model or an opt-out does.

Counted at the fake provider itself (its /stats), not from llmlabel's own usage.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from llmlabel.settings import Settings
from llmlabel.store import BatchCreate, Store
from tests.integration.conftest import Processes, principal, provider, service_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ITEMS = [{"id": f"c{i}", "text": f"Order {i} was {'late' if i % 3 else 'fine'}."} for i in range(12)]


def _submit(store: Store, *, cache: bool = True) -> str:
    info, _ = store.create_batch(
        principal(),
        BatchCreate(
            task="classification",
            items=ITEMS,
            guideline_version="v1",
            prompt_version="v1",
            cache=cache,
        ),
        idempotency_key=None,
        request_hash="h",
    )
    return info.id


def test_resubmitted_batch_is_served_from_the_cache(
    make_settings: Callable[..., Settings], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    store = Store.from_settings(make_settings())
    with provider(latency_ms=5, latency_jitter_ms=0, disagree_rate=0.4) as base_url:
        stats = base_url.removesuffix("/v1") + "/stats"

        def served() -> int:
            return int(httpx.get(stats, timeout=5).json()["ok"])

        env = service_env(redis_url, base_url, tmp_path)
        first = _submit(store)
        processes.run_burst(env, name="w1")
        paid = served()
        assert paid >= len(ITEMS)
        before = {i.id: i for i in store.iter_results("acme", first)}
        assert all(i.usage.calls >= 1 and i.usage.cache_hits == 0 for i in before.values())

        again = _submit(store)
        processes.run_burst(env, name="w2")
        assert served() == paid  # not one provider call
        after = {i.id: i for i in store.iter_results("acme", again)}
        assert {k: v.label for k, v in after.items()} == {k: v.label for k, v in before.items()}
        assert all(i.usage.calls == 0 and i.usage.cost_usd == 0 for i in after.values())
        # Every call the first batch paid for is a hit now, item by item.
        for key, item in after.items():
            assert item.usage.cache_hits == before[key].usage.calls, key
        hits = sum(i.usage.cache_hits for i in after.values())
        assert store.get_batch("acme", again).usage.cache_hits == hits
        assert store.llm_totals().cache_hits == hits
        assert store.check_counters("acme", again).ok

        # Opted out: every call is made again.
        opted_out = _submit(store, cache=False)
        processes.run_burst(env, name="w3")
        assert served() >= paid + len(ITEMS)
        assert all(i.usage.cache_hits == 0 for i in store.iter_results("acme", opted_out))

        # Another model is another call.
        before_model = served()
        other_model = _submit(store)
        processes.run_burst({**env, "LLMLABEL_MODEL": "fake-model-2"}, name="w4")
        assert served() >= before_model + len(ITEMS)
        relabeled = list(store.iter_results("acme", other_model))
        assert all(i.model == "fake-model-2" and i.usage.calls >= 1 for i in relabeled)
