"""The review and operator pages in a real browser, over the real stack.

redis-server, the fake provider (every item answered inconsistently), a burst
worker and `llmlabel serve` run as processes; Playwright drives the system's
headless Chromium. Each browser step is followed by a look at the stored result
through the API. Screenshots go to test-artifacts/ui/ at the repository root.

The services run from empty folders; three guideline versions are pushed to the
team's default projects over the API first (written to a scratch copy of the
built-ins, then uploaded as an operator would), so that every item goes to review: ner v90 (the
fake provider never proposes an entity, so v1 would accept every item), instruction v90 (its
threshold is above the similarity the fake's answers reach) and preference v90
(three random A/B answers agree one time in four; v90 also ranks up to four
responses). Batches pin them with the v1 prompt (v90 is a name no shipped version uses).
ner v90 also gives the operator page a version to activate and roll
back.

The tests share one stack and one browser tab and run in file order: the
operator page at the end shows the decisions the review tests stored.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml  # type: ignore[import-untyped]
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from llmlabel.guidelines import VersionRegistry
from llmlabel.settings import Settings
from llmlabel.store import Role, Store
from tests.integration.conftest import CLI, REPO_ROOT, Processes, service_env
from tests.support.fake_provider import start_fake_provider

pytestmark = pytest.mark.integration

ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TEAM = "ui-team"
CLOCK = re.compile(r"^\d+:\d\d$")
NER_TEXT = "Loved the show 🎉 in Paris tonight with Anna"
Headers = dict[str, str]
# Guideline versions pushed by the fixture; no shipped version has this name.
VARIANT = "v90"
PINS = {"guideline_version": VARIANT, "prompt_version": "v1"}


def chromium_path() -> str:
    """The system Chromium (never a downloaded one); LLMLABEL_TEST_CHROMIUM overrides."""
    path = os.environ.get("LLMLABEL_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("chromium is not installed: apt-get install -y chromium")
    return path


def _guideline_variant(root: Path, task: str, version: str, change: dict[str, Any]) -> None:
    """Write guidelines/<task>/<version>.md: v1 with `change` merged into its front matter."""
    _, front, body = (root / "guidelines" / task / "v1.md").read_text().split("---\n", 2)
    meta = yaml.safe_load(front)
    for key, value in change.items():
        meta[key] = {**meta[key], **value} if isinstance(value, dict) else value
    text = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n" + body
    (root / "guidelines" / task / f"{version}.md").write_text(text)


def push_variants(client: httpx.Client, headers: Headers, root: Path) -> None:
    """Upload every guideline under `root` that is not a built-in to the team's default project."""
    builtins = VersionRegistry()
    for path in sorted((root / "guidelines").glob("*/*.md")):
        task, version = path.parent.name, path.stem
        if version in builtins.guideline_versions(task):
            continue
        response = client.post(f"/v1/projects/{task}/versions", headers=headers, json={
            "guideline": path.read_text(), "guideline_version": version})
        assert response.status_code == 201, f"{task}/{version}: {response.text}"


class RootedProcesses(Processes):
    """`llmlabel` subprocesses run from `cwd` (an empty folder: nothing is read from it)."""

    def __init__(self, log_dir: Path, cwd: Path) -> None:
        super().__init__(log_dir)
        self.cwd = cwd

    def start(
        self, args: list[str], env: dict[str, str], name: str, *, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen([*CLI, *args], env=env, cwd=cwd or self.cwd, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.started.append(process)
        return process


@pytest.fixture(scope="module")
def stack(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """API + labeled batches of every task with items waiting for review; keys of team TEAM."""
    redis.Redis.from_url(redis_server).flushdb()
    root = tmp_path_factory.mktemp("ui-root")
    shutil.copytree(REPO_ROOT / "guidelines", root / "guidelines")
    shutil.copytree(REPO_ROOT / "prompts", root / "prompts")
    _guideline_variant(root, "ner", VARIANT, {
        "description": "Entities in social media text; v90 sends every item to a person.",
        "routing": {"min_valid_samples": 99},
    })
    _guideline_variant(root, "instruction", VARIANT, {"routing": {"threshold": 0.95}})
    _guideline_variant(root, "preference", VARIANT, {"options": {"max_responses": 4},
                                                  "routing": {"min_valid_samples": 99}})
    procs = RootedProcesses(tmp_path_factory.mktemp("ui-logs"), tmp_path_factory.mktemp("ui-cwd"))
    with start_fake_provider(latency_ms=5, latency_jitter_ms=2, disagree_rate=1.0) as (base, _):
        try:
            env = service_env(redis_server, base, root / "var")
            api = procs.api(env)
            store = Store.from_settings(Settings(_env_file=None, redis_url=redis_server))  # type: ignore[call-arg]
            keys = {role: store.create_api_key(team=TEAM, role=role, name=f"ui-{role.value}")
                    for role in (Role.SUBMITTER, Role.REVIEWER, Role.OPERATOR)}
            with httpx.Client(base_url=api, timeout=30) as client:
                push_variants(client, {"Authorization": f"Bearer {keys[Role.OPERATOR]}"}, root)
                batches = _submit_all(client, {"Authorization": f"Bearer {keys[Role.SUBMITTER]}"})
                procs.run_burst(env, name="ui-worker", timeout_s=90)
                _check_all_in_review(client, {"Authorization": f"Bearer {keys[Role.OPERATOR]}"},
                                     batches)
                yield {"api": api, "keys": keys, "batches": batches, "client": client,
                       "headers": {"Authorization": f"Bearer {keys[Role.OPERATOR]}"},
                       "registry": VersionRegistry()}
        finally:
            procs.stop_all()
            # The pushed variants live in the team's projects: leave nothing behind.
            redis.Redis.from_url(redis_server).flushdb()


def _submit_all(client: httpx.Client, headers: Headers) -> dict[str, str]:
    chat = "Human: How long should I boil an egg for a runny yolk?"
    requests = {
        "ner": {"task": "ner", **PINS,
                "items": [{"id": "ner-emoji", "text": NER_TEXT}]},
        "safety": {"task": "safety", "items": [
            {"id": f"s{i}", "text": f"Message {i}: the weather in the hills was lovely today."}
            for i in range(3)]},
        "preference": {"task": "preference", **PINS, "items": [
            {"id": "p0", "prompt": chat, "responses": [
                "About six minutes in boiling water, then cool it under cold water.",
                "Eggs are a good source of protein."]},
            {"id": "p1", "prompt": "Human: Name a prime number between 10 and 15.",
             "responses": ["11 and 13 are both prime.", "12."]},
        ]},
        "preference3": {"task": "preference", **PINS, "items": [
            {"id": "p3", "prompt": chat, "responses": [
                "Six minutes.", "Ten minutes, for a hard yolk.",
                "About six minutes, then cold water."]},
        ]},
        "instruction": {"task": "instruction", **PINS, "items": [
            {"id": "i0", "instruction": "Write a one-line slogan for a bicycle repair shop."},
            {"id": "i1", "instruction": "Translate to French.", "context": "Good morning"},
        ]},
    }
    batches = {}
    for name, body in requests.items():
        response = client.post("/v1/batches", json=body, headers=headers)
        assert response.status_code == 201, response.text
        batches[name] = response.json()["id"]
    return batches


def _check_all_in_review(client: httpx.Client, headers: Headers, batches: dict[str, str]) -> None:
    """Every item the tests review must be waiting for review, or a flow would claim nothing."""
    counts = {name: client.get(f"/v1/batches/{batch_id}", headers=headers).json()["counts"]
              for name, batch_id in batches.items()}
    labeled = {name: c["needs_review"] + c["auto_accepted"] for name, c in counts.items()}
    waiting = {name: c["needs_review"] for name, c in counts.items()}
    assert waiting == labeled, f"items the fake provider's answers did not send to review: {counts}"


def results(stack: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """The stored result lines of a batch, by client id."""
    response = stack["client"].get(f"/v1/batches/{stack['batches'][name]}/results",
                                   headers=stack["headers"])
    assert response.status_code == 200, response.text
    return {line["id"]: line for line in map(json.loads, response.text.splitlines())}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageErrors(list[str]):
    """JavaScript errors and failed console messages seen by a page."""

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda exc: self.append(f"pageerror: {exc}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium logs every non-2xx fetch; the 401 of the wrong key is expected.
        if message.type == "error" and "401" not in message.text:
            self.append(f"console: {message.text}")


@pytest.fixture(scope="module")
def reviewer_page(browser: Browser, stack: dict[str, Any]) -> Iterator[tuple[Page, PageErrors]]:
    """One tab on the review page for the whole module (sign-in lives in its sessionStorage)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=stack["api"])
    page = context.new_page()
    errors = PageErrors()
    errors.watch(page)
    page.set_default_timeout(10_000)
    yield page, errors
    context.close()


def signed_in(reviewer_page: tuple[Page, PageErrors], stack: dict[str, Any]) -> Page:
    page, _ = reviewer_page
    if "/ui/review" not in page.url:
        page.goto("/ui/review")
    if page.locator("#signin").is_visible():
        page.fill("#api-key", stack["keys"][Role.REVIEWER])
        page.click("#signin-submit")
    expect(page.locator("#app")).to_be_visible()
    return page


def claim(page: Page, task: str, batch_id: str) -> dict[str, Any]:
    """Filter on the batch and press n; the claim the page received from the API."""
    page.select_option("#filter-task", task)
    expect(page.locator(f"#filter-batch option[value='{batch_id}']")).to_have_count(1)
    page.select_option("#filter-batch", batch_id)
    page.evaluate("document.activeElement.blur()")  # keys typed into a select are not shortcuts
    with page.expect_response(lambda r: r.url.endswith("/v1/review/claim")) as answer:
        page.keyboard.press("n")
    claimed: dict[str, Any] = answer.value.json()
    expect(page.locator("#item")).to_have_attribute("data-item-id", claimed["item_id"])
    expect(page.locator("#item-id")).to_have_text(claimed["id"])
    expect(page.locator("#lease-clock")).to_have_text(CLOCK)
    return claimed


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Save a screenshot artifact (the viewport: the review page's key bar is fixed)."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def select_text(page: Page, container: str, needle: str) -> None:
    """Drag the mouse from the first to the last character of `needle` inside `container`."""
    page.locator(container).scroll_into_view_if_needed()
    box = page.evaluate(
        """([selector, needle]) => {
          const root = document.querySelector(selector);
          const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const at = node.data.indexOf(needle);
            if (at < 0) continue;
            const range = document.createRange();
            range.setStart(node, at); range.setEnd(node, at + 1);
            const first = range.getBoundingClientRect();
            range.setStart(node, at + needle.length - 1); range.setEnd(node, at + needle.length);
            const last = range.getBoundingClientRect();
            return {x0: first.left, x1: last.right, y: (first.top + first.bottom) / 2};
          }
          return null;
        }""",
        [container, needle],
    )
    assert box is not None, f"{needle!r} is not shown in {container}"
    page.mouse.move(box["x0"] + 1, box["y"])
    page.mouse.down()
    page.mouse.move(box["x1"] - 1, box["y"], steps=6)
    page.mouse.up()


def test_root_redirects_and_sign_in(reviewer_page: tuple[Page, PageErrors],
                                    stack: dict[str, Any]) -> None:
    page, errors = reviewer_page
    page.goto("/")
    assert page.url.endswith("/ui/review")
    expect(page.locator("#signin")).to_be_visible()
    page.fill("#api-key", "not-a-key")
    page.click("#signin-submit")
    expect(page.locator("#signin-error")).to_have_text(
        "Sign-in failed: unknown, revoked or expired API key")
    shot(page, "01-sign-in")
    page.fill("#api-key", stack["keys"][Role.REVIEWER])
    page.click("#signin-submit")
    expect(page.locator("#who")).to_contain_text(TEAM)
    expect(page.locator("#who")).to_contain_text("reviewer")
    # Every labeled item of the fixture waits for review; the header shows them.
    expect(page.locator("#queue-depth")).to_have_text(str(_waiting(stack)))
    stored = page.evaluate("sessionStorage.getItem('llmlabel.apiKey')")
    assert stored == stack["keys"][Role.REVIEWER]
    assert errors == []


def _waiting(stack: dict[str, Any]) -> int:
    response = stack["client"].get("/v1/review/queue", headers=stack["headers"])
    depth: int = response.json()["depth"]
    assert depth == 9, "the fixture's 9 items wait for review"
    return depth


def test_fix_ner_span_by_selecting_text(reviewer_page: tuple[Page, PageErrors],
                                        stack: dict[str, Any]) -> None:
    page = signed_in(reviewer_page, stack)
    claimed = claim(page, "ner", stack["batches"]["ner"])
    assert (claimed["id"], claimed["label"]) == ("ner-emoji", {"entities": []})
    expect(page.locator("#ner-text")).to_have_text(NER_TEXT)
    expect(page.locator("#guideline-version")).to_have_text(VARIANT)
    expect(page.locator("#guideline")).to_contain_text("v90 sends every item to a person")
    expect(page.locator("#approve")).to_be_enabled()  # the LLM's "no entities" may be approved

    # Add: drag over "Paris" (after an emoji: two UTF-16 units, one code point), pick a label.
    select_text(page, "#ner-text", "Paris")
    expect(page.locator("#ner-popover")).to_be_visible()
    expect(page.locator("#ner-popover")).to_contain_text("“Paris”")
    page.click("#ner-popover button[data-label='location']")
    expect(page.locator("mark.ent[data-label='location']")).to_have_text("Paris")

    # Add with a wrong label, then relabel by clicking the span.
    select_text(page, "#ner-text", "Anna")
    page.click("#ner-popover button[data-label='group']")
    page.click("mark.ent[data-label='group']")
    page.click("#ner-popover button[data-label='person']")
    expect(page.locator("mark.ent[data-label='person']")).to_have_text("Anna")

    # A third span labeled with its number key, then removed again.
    select_text(page, "#ner-text", "show")
    page.keyboard.press("4")  # creative-work, the 4th label of the guideline
    expect(page.locator("mark.ent[data-label='creative-work']")).to_have_text("show")
    shot(page, "02-ner-three-spans")
    page.click("mark.ent[data-label='creative-work']")
    page.click("#ner-popover button.danger")
    expect(page.locator("mark.ent")).to_have_count(2)
    expect(page.locator("#approve")).to_be_disabled()
    shot(page, "03-ner-fixed")

    page.keyboard.press("f")
    expect(page.locator("#item-state")).to_have_text("Fixed")
    line = results(stack, "ner")["ner-emoji"]
    assert (line["state"], line["source"]) == ("fixed", "human")
    expected = [
        {"start": NER_TEXT.index(word), "end": NER_TEXT.index(word) + len(word), "label": label,
         "text": word}
        for word, label in (("Paris", "location"), ("Anna", "person"))
    ]
    assert [{k: e[k] for k in ("start", "end", "label", "text")}
            for e in line["label"]["entities"]] == expected
    assert reviewer_page[1] == []


def test_toggle_safety_flag(reviewer_page: tuple[Page, PageErrors], stack: dict[str, Any]) -> None:
    page = signed_in(reviewer_page, stack)
    claimed = claim(page, "safety", stack["batches"]["safety"])
    llm = claimed["label"]
    expect(page.locator("#sample-groups li").first).to_be_visible()
    toggle = page.locator("button.switch[data-category='harassment']")
    expect(toggle).to_have_attribute("aria-checked", str(llm["flags"]["harassment"]).lower())
    toggle.click()
    expect(toggle).to_have_attribute("aria-checked", str(not llm["flags"]["harassment"]).lower())
    page.fill("#comment", "harassment flag corrected")
    shot(page, "04-safety-toggled")
    page.click("#fix")
    expect(page.locator("#item-state")).to_have_text("Fixed")

    line = results(stack, "safety")[claimed["id"]]
    assert (line["state"], line["source"]) == ("fixed", "human")
    assert line["label"]["flags"] == {**llm["flags"], "harassment": not llm["flags"]["harassment"]}
    assert line["label"]["rationale"] == llm["rationale"]
    assert reviewer_page[1] == []


def test_reorder_preference_then_approve_with_keyboard(
    reviewer_page: tuple[Page, PageErrors], stack: dict[str, Any]
) -> None:
    page = signed_in(reviewer_page, stack)
    first = claim(page, "preference", stack["batches"]["preference"])
    ranking = first["label"]["ranking"]
    expect(page.locator(".response")).to_have_count(2)
    best = page.locator(".response.best .response-name")
    expect(best).to_have_text(f"Response {'AB'[ranking[0]]}")
    loser = "AB"[ranking[1]]
    page.click(f"#better-{loser}")
    expect(page.locator(f"#better-{loser}")).to_have_attribute("aria-pressed", "true")
    expect(best).to_have_text(f"Response {loser}")
    shot(page, "05-preference-reordered")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#item-state")).to_have_text("Fixed")
    line = results(stack, "preference")[first["id"]]
    assert (line["state"], line["source"], line["label"]) == (
        "fixed", "human", {"ranking": ranking[::-1]})

    # The next item of the batch, approved as the LLM ranked it with the keyboard alone.
    with page.expect_response(lambda r: r.url.endswith("/v1/review/claim")) as answer:
        page.keyboard.press("n")
    second = answer.value.json()
    assert second["id"] != first["id"]
    expect(page.locator("#item-id")).to_have_text(second["id"])
    page.keyboard.press("a")
    expect(page.locator("#item-state")).to_have_text("Approved")
    line = results(stack, "preference")[second["id"]]
    assert (line["state"], line["source"], line["label"]) == ("approved", "llm", second["label"])
    assert reviewer_page[1] == []


def test_rank_three_responses_with_move_buttons(
    reviewer_page: tuple[Page, PageErrors], stack: dict[str, Any]
) -> None:
    page = signed_in(reviewer_page, stack)
    claimed = claim(page, "preference", stack["batches"]["preference3"])
    ranking = claimed["label"]["ranking"]
    assert sorted(ranking) == [0, 1, 2]
    last = "ABC"[ranking[-1]]
    page.click(f"button[aria-label='Move {last} up']")
    page.click(f"button[aria-label='Move {last} up']")
    expected = [ranking[-1], *ranking[:-1]]
    expect(page.locator("#rank-order")).to_contain_text(" > ".join("ABC"[i] for i in expected))
    shot(page, "06-preference-three")
    page.keyboard.press("f")
    expect(page.locator("#item-state")).to_have_text("Fixed")
    assert results(stack, "preference3")["p3"]["label"] == {"ranking": expected}
    assert reviewer_page[1] == []


def test_edit_instruction_response(reviewer_page: tuple[Page, PageErrors],
                                   stack: dict[str, Any]) -> None:
    page = signed_in(reviewer_page, stack)
    claimed = claim(page, "instruction", stack["batches"]["instruction"])
    response = page.locator("#instruction-response")
    expect(response).to_have_value(claimed["label"]["response"])
    translate = claimed["id"] == "i1"
    new_text = "Bonjour" if translate else "Flat tyre? Fixed before your coffee cools."
    category = "rewriting" if translate else "generation"
    response.fill(new_text)
    page.select_option("#instruction-category", category)
    expect(page.locator("#category-hint")).not_to_be_empty()
    shot(page, "07-instruction-edited")
    response.press("Control+Enter")  # saves from inside the text area
    expect(page.locator("#item-state")).to_have_text("Fixed")
    line = results(stack, "instruction")[claimed["id"]]
    assert (line["state"], line["label"]) == ("fixed", {"response": new_text, "category": category})
    assert reviewer_page[1] == []


def test_skip_reject_renew_and_refused_shortcuts(reviewer_page: tuple[Page, PageErrors],
                                                 stack: dict[str, Any]) -> None:
    page = signed_in(reviewer_page, stack)
    claimed = claim(page, "safety", stack["batches"]["safety"])
    # Nothing changed yet: "f" is refused with a hint and nothing is sent.
    page.keyboard.press("f")
    expect(page.locator("#toast")).to_contain_text("Nothing changed")
    with page.expect_response(lambda r: r.url.endswith("/renew")) as answer:
        page.click("#renew")
    renewed = answer.value.json()
    assert renewed["lease_expires_at"] >= claimed["lease_expires_at"]
    expect(page.locator("#toast")).to_contain_text("Lease renewed")
    # "n" while an item is held does not claim a second one.
    page.keyboard.press("n")
    expect(page.locator("#toast")).to_contain_text("Decide on this item first")
    page.keyboard.press("s")
    expect(page.locator("#item-state")).to_have_text("Skipped")
    assert results(stack, "safety")[claimed["id"]]["state"] == "needs_review"

    other = claim(page, "safety", stack["batches"]["safety"])
    assert other["id"] != claimed["id"]  # the skipped item went to the back of the queue
    page.keyboard.press("r")
    expect(page.locator("#item-state")).to_have_text("Rejected")
    assert results(stack, "safety")[other["id"]]["state"] == "rejected"
    assert reviewer_page[1] == []


def test_operator_page(browser: Browser, stack: dict[str, Any],
                       reviewer_page: tuple[Page, PageErrors]) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, base_url=stack["api"])
    page = context.new_page()
    errors = PageErrors()
    errors.watch(page)
    page.set_default_timeout(10_000)
    page.goto("/ui/operator")
    page.fill("#api-key", stack["keys"][Role.OPERATOR])
    page.click("#signin-submit")

    rows = page.locator("#batches tbody tr")
    expect(rows).to_have_count(len(stack["batches"]))
    ner_row = page.locator(f"#batches tr[data-batch='{stack['batches']['ner']}']")
    expect(ner_row.locator(".progress")).to_contain_text("1/1")
    expect(ner_row.locator(".review-rate")).to_have_text("100%")
    ner_row.click()
    expect(page.locator("#batch-detail")).to_contain_text("1 fixed")

    agreement = page.locator("#agreement-table")
    expect(agreement.locator("tr[data-task='preference']")).to_contain_text("pairwise_accuracy")
    expect(agreement.locator("tr[data-task='ner']")).to_contain_text("span_f1")
    report = stack["client"].get("/v1/agreement", headers=stack["headers"]).json()
    preference = next(g for g in report["groups"] if g["task"] == "preference")
    stored = [*results(stack, "preference").values(), *results(stack, "preference3").values()]
    decided = {state: sum(line["state"] == state for line in stored)
               for state in ("approved", "fixed")}
    assert decided["approved"] + decided["fixed"] > 0
    assert (preference["approved"], preference["fixed"]) == (decided["approved"], decided["fixed"])
    assert preference["summary"]["n_pairs"] == decided["approved"] + decided["fixed"]

    ner = page.locator("#task-ner")
    latest = stack["registry"].guideline("ner").version  # the built-in, while none is activated
    expect(ner.locator(".active-guideline")).to_have_text(latest)
    ner.locator("button.version[data-version='v1']").click()
    expect(ner.locator(".active-guideline")).to_have_text("v1")
    page.locator(f"#task-ner button.version[data-version='{VARIANT}']").click()
    expect(page.locator("#task-ner .active-guideline")).to_have_text(VARIANT)
    page.locator("#task-ner button.rollback").click()
    expect(page.locator("#task-ner .active-guideline")).to_have_text("v1")
    tasks = stack["client"].get("/v1/tasks", headers=stack["headers"]).json()["tasks"]
    active = next(t["active"] for t in tasks if t["task"] == "ner")
    assert (active["guideline_version"], active["pinned"]) == ("v1", True)
    page.locator("#task-ner details summary").click()
    expect(page.locator("#task-ner .events li")).to_have_count(3)
    shot(page, "08-operator", full_page=True)
    assert errors == []
    context.close()
