"""The operator page's projects section in a real browser, over the real stack.

An operator creates a project, tries a broken guideline (the server's error is
shown inline with its line), saves a fixed one, diffs it against the active
version, evaluates it on the project's gold items (a burst worker runs the job)
and activates it. Each step is checked through the API too.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from llmlabel.store import Role, Store
from tests.conftest import REPO_ROOT
from tests.integration.conftest import Processes, service_env
from tests.integration.test_ui_review import CHROMIUM_ARGS, PageErrors, chromium_path

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SPAM = """---
description: Is a message spam?
labels: [spam, ham, unsure]
few_shot:
  - input: {text: "WIN A FREE CRUISE!!! reply YES now"}
    output: {label: spam, confidence: 0.9}
---
Label each message spam, ham or unsure.
"""
BROKEN = SPAM.replace("labels:", "lables:")
STRICT = SPAM.replace("Label each message", "Be strict. Label each message")
PROMPT = (REPO_ROOT / "prompts/classification/v1.yaml").read_text()


def test_operator_creates_checks_diffs_evaluates_and_activates_a_version(
    redis_url: str, fake_provider: str, tmp_path: Path, processes: Processes, store: Store
) -> None:
    env = service_env(redis_url, fake_provider, tmp_path / "var")
    base = processes.api(env, cwd=tmp_path)
    key = store.create_api_key(team="pages", role=Role.OPERATOR, name="op")
    auth = {"Authorization": f"Bearer {key}"}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_context(base_url=base, viewport={"width": 1400, "height": 1000}).new_page()
        errors = PageErrors()
        errors.watch(page)
        page.set_default_timeout(15_000)
        page.goto("/ui/operator")
        page.fill("#api-key", key)
        page.click("#signin-submit")

        page.click("#project-new summary")
        page.fill("#project-name", "spam")
        page.select_option("#project-task", "classification")
        page.fill("#project-guideline", SPAM)
        page.fill("#project-prompt", PROMPT)
        page.click("#project-create")
        expect(page.locator("#project-active .active-guideline")).to_have_text("v1")
        expect(page.locator("#project-select")).to_have_value("spam")
        gold = httpx.post(f"{base}/v1/gold", headers=auth, timeout=30, json={
            "project": "spam", "items": [
                {"input": {"text": "FREE money, reply now"}, "label": {"label": "spam"}},
                {"input": {"text": "See you at 6"}, "label": {"label": "ham"}}]})
        assert gold.status_code == 201, gold.text

        page.fill("#version-guideline", BROKEN)
        page.click("#version-save")
        error = page.locator("#version-errors li[data-part='guideline'][data-line='3']")
        expect(error).to_contain_text("guideline line 3 · lables: Extra inputs are not permitted")
        versions = httpx.get(f"{base}/v1/projects/spam/versions", headers=auth).json()
        assert [v["version"] for v in versions["guidelines"]] == ["v1"], "nothing was stored"

        page.fill("#version-guideline", STRICT)
        page.click("#version-save")
        expect(page.locator("#version-saved")).to_have_text("Saved guideline v2.")
        expect(page.locator("#version-errors li")).to_have_count(0)
        page.click("#version-diff-button")
        expect(page.locator("#version-diff pre")).to_contain_text("+Be strict. Label each message")

        page.click("#version-evaluate")
        expect(page.locator("#version-evaluation")).to_contain_text("on 2 gold item(s)")
        processes.run_burst(env, name="w-eval", cwd=tmp_path)
        expect(page.locator("#evaluation-done")).to_contain_text("Gold accuracy")

        page.click("#version-activate")
        expect(page.locator("#project-active .active-guideline")).to_have_text("v2")
        project = httpx.get(f"{base}/v1/projects/spam", headers=auth).json()
        assert (project["guideline_version"], project["pinned"]) == ("v2", True)
        browser.close()
    # Chromium logs the 422 of the broken guideline (the error the page showed inline).
    unexpected = [e for e in errors if "status of 422" not in e]
    assert not unexpected, unexpected
    assert len(errors) == 1, errors
