"""The operator page's example pool in a real browser, over the real stack.

Two reviewed items stand in the pool of a project; the operator pins one,
excludes the other, tries a label outside the ontology (the server's error is
shown inline), saves a valid one and imports the project's gold. Each step is
checked through the API too.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from llmlabel.fewshot import PoolExample
from llmlabel.store import Role, Store
from tests.integration.conftest import Processes, service_env
from tests.integration.test_projects_page import PROMPT, SPAM
from tests.integration.test_ui_review import CHROMIUM_ARGS, PageErrors, chromium_path

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_operator_pins_excludes_edits_and_imports_gold(
    redis_url: str, fake_provider: str, tmp_path: Path, processes: Processes, store: Store
) -> None:
    env = service_env(redis_url, fake_provider, tmp_path / "var")
    base = processes.api(env, cwd=tmp_path)
    key = store.create_api_key(team="pages", role=Role.OPERATOR, name="op")
    auth = {"Authorization": f"Bearer {key}"}
    created = httpx.post(f"{base}/v1/projects", headers=auth, timeout=30, json={
        "name": "spam", "task": "classification", "guideline": SPAM, "prompt": PROMPT})
    assert created.status_code == 201, created.text
    store.put_pool_examples("pages", "test", "spam", [
        PoolExample(id=f"b_{'0' * 16}:{i}", source="fix", task="classification",
                    item_id=f"b_{'0' * 16}:{i}", input={"text": text}, label={"label": label},
                    at=float(i))
        for i, (text, label) in enumerate([("WIN cash now", "spam"), ("Lunch at noon?", "ham")])
    ], action="test.seed")
    gold = httpx.post(f"{base}/v1/gold", headers=auth, timeout=30, json={
        "project": "spam", "items": [{"input": {"text": "FREE money"}, "label": {"label": "spam"}}]})
    assert gold.status_code == 201, gold.text
    first, second = (f"b_{'0' * 16}:{i}" for i in range(2))

    def example(eid: str) -> dict[str, object]:
        got = httpx.get(f"{base}/v1/projects/spam/examples/{eid}", headers=auth, timeout=30)
        assert got.status_code == 200, got.text
        return got.json()  # type: ignore[no-any-return]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_context(base_url=base, viewport={"width": 1400, "height": 1000}).new_page()
        errors = PageErrors()
        errors.watch(page)
        page.set_default_timeout(15_000)
        page.goto("/ui/operator")
        page.fill("#api-key", key)
        page.click("#signin-submit")
        page.click("#examples-panel summary")
        rows = page.locator("#examples-table tbody tr")
        expect(rows).to_have_count(2)

        row = page.locator(f"#examples-table tr[data-example-id='{first}']")
        row.locator(".example-pin").click()
        expect(page.locator(f"#examples-table tr[data-example-id='{first}']")).to_have_class("pinned")
        assert example(first)["pinned"] is True
        page.locator(f"#examples-table tr[data-example-id='{second}'] .example-exclude").click()
        expect(page.locator(f"#examples-table tr[data-example-id='{second}']")).to_have_class("excluded")
        assert example(second)["excluded"] is True

        other = page.locator(f"#examples-table tr[data-example-id='{second}']")
        other.locator(".example-label").fill('{"label": "eggs"}')
        other.locator(".example-save").click()
        expect(other.locator(".example-errors li")).to_contain_text("label")
        assert example(second)["label"] == {"label": "ham"}, "nothing was stored"
        other.locator(".example-label").fill('{"label": "unsure"}')
        other.locator(".example-save").click()
        expect(page.locator(f"#examples-table tr[data-example-id='{second}'] td").nth(1)).to_have_text(
            "fix · edited")
        assert example(second)["label"] == {"label": "unsure"}

        page.click("#examples-import-gold")
        expect(rows).to_have_count(3)
        browser.close()
    # Chromium logs the 422 of the refused label (the error the page showed inline).
    unexpected = [e for e in errors if "status of 422" not in e]
    assert not unexpected, unexpected
