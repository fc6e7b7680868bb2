"""The operator page shows gold scores, reviewer-vs-reviewer agreement and evaluations (real stack,
real browser).

Gold and second reviews are both on (shares 1): Alice gets the two gold items
first and fixes them to their known labels (2 of 2 right), Bob rejects them
(0 of 2); Alice's fix of a real item then goes to Bob as a second review, and
Bob gives the same label (one item reviewed twice, same label: 100%).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from llmlabel.store import Role, Store
from tests.conftest import load_dev_items
from tests.integration.conftest import Processes, service_env
from tests.integration.test_ui_review import CHROMIUM_ARGS, PageErrors, chromium_path

pytestmark = pytest.mark.integration

CATEGORIES = ["sexual", "hate", "violence", "harassment", "self-harm", "sexual/minors",
              "hate/threatening", "violence/graphic"]


def flags(*raised: str) -> dict[str, Any]:
    return {"flags": {c: c in raised for c in CATEGORIES}, "rationale": None}


GOLD = [{"input": {"text": "Where is the station?"}, "label": flags()},
        {"input": {"text": "I will hurt you."}, "label": flags("violence", "harassment")}]


@pytest.fixture
def api(redis_url: str, fake_provider: str, tmp_path: Path, processes: Processes) -> Iterator[tuple[str, dict[str, str]]]:
    env = service_env(redis_url, fake_provider, tmp_path / "var", gold_share=1.0,
                      double_review_share=1.0)
    yield processes.api(env), env


def claim(client: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/v1/review/claim", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def decide(client: httpx.Client, headers: dict[str, str], claimed: dict[str, Any], action: str,
           label: dict[str, Any] | None = None) -> None:
    body = {"lease_token": claimed["lease_token"], "action": action, "label": label}
    response = client.post(f"/v1/review/items/{claimed['item_id']}/decision",
                           json={k: v for k, v in body.items() if v is not None}, headers=headers)
    assert response.status_code == 200, response.text


def test_operator_page_shows_gold_scores_and_reviewer_agreement(
    api: tuple[str, dict[str, str]], store: Store, processes: Processes
) -> None:
    base, env = api
    keys = {name: store.create_api_key(team="ops", role=role, name=name)
            for name, role in [("op", Role.OPERATOR), ("sub", Role.SUBMITTER),
                               ("alice", Role.REVIEWER), ("bob", Role.REVIEWER)]}
    auth = {name: {"Authorization": f"Bearer {key}"} for name, key in keys.items()}
    with httpx.Client(base_url=base, timeout=30) as client:
        uploaded = client.post("/v1/gold", json={"task": "safety", "items": GOLD}, headers=auth["op"])
        known = {g["gold_id"]: g["label"] for g in uploaded.json()["items"]}
        items = [{"id": f"m{i}", "text": f"message {i} about the weather and trains"} for i in range(30)]
        client.post("/v1/batches", json={"task": "safety", "items": items}, headers=auth["sub"])
        processes.run_burst(env, name="w-page")
        for _ in known:
            gold = claim(client, auth["alice"])
            decide(client, auth["alice"], gold, "fix", known[gold["item_id"]])
            decide(client, auth["bob"], claim(client, auth["bob"]), "reject")
        real = claim(client, auth["alice"])
        assert real["item_id"] not in known
        decide(client, auth["alice"], real, "fix", flags("hate"))
        second = claim(client, auth["bob"])
        assert second["item_id"] == real["item_id"]
        decide(client, auth["bob"], second, "fix", flags("hate"))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_context(base_url=base).new_page()
        errors = PageErrors()
        errors.watch(page)
        page.set_default_timeout(10_000)
        page.goto("/ui/operator")
        page.fill("#api-key", keys["op"])
        page.click("#signin-submit")
        expect(page.locator("#gold-reviewers tr[data-reviewer='alice']")).to_contain_text("100%")
        expect(page.locator("#gold-reviewers tr[data-reviewer='bob']")).to_contain_text("0%")
        expect(page.locator("#gold-llm tr[data-task='safety']")).to_contain_text("g v2 · p v2")
        row = page.locator("#agreement-table tr[data-task='safety'] .reviewers")
        expect(row).to_contain_text("same label 100%")
        expect(row).to_contain_text("1 pairs")
        browser.close()
    assert not errors, errors


def test_operator_page_shows_evaluations_with_position_bias(
    api: tuple[str, dict[str, str]], store: Store, processes: Processes
) -> None:
    base, env = api
    key = store.create_api_key(team="ops", role=Role.OPERATOR, name="op")
    auth = {"Authorization": f"Bearer {key}"}
    gold = [{"id": item["id"], "input": {"prompt": item["prompt"], "responses": item["responses"]},
             "label": {"ranking": item["ranking"]}} for item in load_dev_items("preference", 4)]
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.post("/v1/gold", json={"task": "preference", "items": gold},
                           headers=auth).status_code == 201
        queued = client.post("/v1/tasks/preference/versions/v1/evaluate",
                             json={"prompt_version": "v1"}, headers=auth)
        assert queued.status_code == 202, queued.text
        processes.run_burst(env, name="w-eval-page")
        [evaluation] = client.get("/v1/tasks/preference/evaluations",
                                  headers=auth).json()["evaluations"]
    assert evaluation["state"] == "done", evaluation
    bias = evaluation["report"]["position_bias"]
    assert bias["n_samples"] >= 4 * 2 and bias["n_order_pairs"] > 0  # the route carries it

    def pct(value: float) -> str:
        return f"{math.floor(value * 100 + 0.5)}%"  # as JS toFixed(0) rounds halves: up

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_context(base_url=base).new_page()
        errors = PageErrors()
        errors.watch(page)
        page.set_default_timeout(10_000)
        page.goto("/ui/operator")
        page.fill("#api-key", key)
        page.click("#signin-submit")
        cell = page.locator(
            f"#evaluations-table tr[data-evaluation='{evaluation['id']}'] .position-bias")
        expect(cell).to_contain_text(f"first shown {pct(bias['first_shown_share'])} "
                                     f"(chance {pct(bias['chance_first_shown'])})")
        expect(cell).to_contain_text(f"same winner across orders {pct(bias['order_consistency'])}")
        browser.close()
    assert not errors, errors
