"""The second version of the pages in a real browser, over the real stack: number keys on
every task, keyboard-only NER, undo, a remapped shortcut, the list view (filters, sort,
open, bulk approve), the reviewer's history, the operator charts, gold upload and export.

Like test_ui_review.py: redis-server, the fake provider (every item answered
inconsistently), a burst worker and `llmlabel serve` run as processes; Playwright
drives the system's Chromium; every browser step is checked through the API.
Guideline variants (v90: v1 with "min_valid_samples: 99") send every item
to review. The tests share one tab and run in order.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from playwright.sync_api import Browser, Page, expect, sync_playwright

from llmlabel.settings import Settings
from llmlabel.store import Role, Store
from llmlabel.store import keys as store_keys
from tests.integration.conftest import REPO_ROOT, service_env
from tests.integration.test_ui_review import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    CLOCK,
    PageErrors,
    RootedProcesses,
    _guideline_variant,
    chromium_path,
    push_variants,
)
from tests.support.fake_provider import start_fake_provider

pytestmark = pytest.mark.integration

TEAM = "tools-team"
NER_TEXT = "Loved the show 🎉 in Paris tonight with Anna"
SAFETY = ["sexual", "hate", "violence", "harassment", "self-harm", "sexual/minors",
          "hate/threatening", "violence/graphic"]
ALL_TO_REVIEW = {"routing": {"min_valid_samples": 99}}
# A version name no shipped guideline uses; batches pin it with the v1 prompt.
VARIANT = "v90"
PINS = {"guideline_version": VARIANT, "prompt_version": "v1"}


@pytest.fixture(scope="module")
def stack(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """API + labeled batches of four tasks, every item waiting for review; keys of TEAM."""
    redis.Redis.from_url(redis_server).flushdb()
    root = tmp_path_factory.mktemp("tools-root")
    shutil.copytree(REPO_ROOT / "guidelines", root / "guidelines")
    shutil.copytree(REPO_ROOT / "prompts", root / "prompts")
    for task in ("ner", "classification", "instruction", "safety"):
        _guideline_variant(root, task, VARIANT, ALL_TO_REVIEW)
    procs = RootedProcesses(tmp_path_factory.mktemp("tools-logs"),
                            tmp_path_factory.mktemp("tools-cwd"))
    with start_fake_provider(latency_ms=5, latency_jitter_ms=2, disagree_rate=1.0) as (base, _):
        try:
            env = service_env(redis_server, base, root / "var", undo_window_s=300)
            api = procs.api(env)
            store = Store.from_settings(Settings(_env_file=None, redis_url=redis_server))  # type: ignore[call-arg]
            keys = {role: store.create_api_key(team=TEAM, role=role, name=f"tools-{role.value}")
                    for role in (Role.SUBMITTER, Role.REVIEWER, Role.OPERATOR)}
            auth = {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}
            bodies = {
                "safety": {"task": "safety", **PINS, "items": [
                    {"id": f"s{i}", "text": f"Message {i}: the trains ran late again today."}
                    for i in range(8)]},
                "ner": {"task": "ner", **PINS,
                        "items": [{"id": "ner-kbd", "text": NER_TEXT}]},
                "classification": {"task": "classification", **PINS, "items": [
                    {"id": "c0", "text": "The soup was cold and the waiter rude."}]},
                "instruction": {"task": "instruction", **PINS, "items": [
                    {"id": "i0", "instruction": "Write a haiku about rain."}]},
            }
            with httpx.Client(base_url=api, timeout=30) as client:
                push_variants(client, auth[Role.OPERATOR], root)
                batches = {}
                for name, body in bodies.items():
                    response = client.post("/v1/batches", json=body, headers=auth[Role.SUBMITTER])
                    assert response.status_code == 201, response.text
                    batches[name] = response.json()["id"]
                procs.run_burst(env, name="tools-worker", timeout_s=90)
                depth = client.get("/v1/review/queue", headers=auth[Role.OPERATOR]).json()["depth"]
                assert depth == 11, "every item of the fixture waits for review"
                yield {"api": api, "keys": keys, "auth": auth, "batches": batches, "client": client,
                       "store": store}
        finally:
            procs.stop_all()
            redis.Redis.from_url(redis_server).flushdb()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def tab(browser: Browser, stack: dict[str, Any]) -> Iterator[tuple[Page, PageErrors]]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=stack["api"],
                                  accept_downloads=True)
    page = context.new_page()
    errors = PageErrors()
    errors.watch(page)
    page.set_default_timeout(10_000)
    page.goto("/ui/review")
    page.fill("#api-key", stack["keys"][Role.REVIEWER])
    page.click("#signin-submit")
    expect(page.locator("#app")).to_be_visible()
    yield page, errors
    context.close()


def api_get(stack: dict[str, Any], path: str, role: Role = Role.OPERATOR, **params: Any) -> Any:
    response = stack["client"].get(path, params=params, headers=stack["auth"][role])
    assert response.status_code == 200, response.text
    return response.json()


def item(stack: dict[str, Any], item_id: str) -> dict[str, Any]:
    batch_id = item_id.rsplit(":", 1)[0]
    page = api_get(stack, f"/v1/batches/{batch_id}/items", limit=100)
    return next(i for i in page["items"] if i["item_id"] == item_id)


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def claim(page: Page, task: str, batch_id: str) -> dict[str, Any]:
    """Filter on the batch, press the claim key; the claim the page received."""
    if "/ui/review" not in page.url or page.url.endswith("?"):
        page.goto("/ui/review")
    page.select_option("#filter-task", task)
    expect(page.locator(f"#filter-batch option[value='{batch_id}']")).to_have_count(1)
    page.select_option("#filter-batch", batch_id)
    page.evaluate("document.activeElement.blur()")
    with page.expect_response(lambda r: r.url.endswith("/v1/review/claim")) as answer:
        page.keyboard.press("n")
    claimed: dict[str, Any] = answer.value.json()
    expect(page.locator("#item")).to_have_attribute("data-item-id", claimed["item_id"])
    expect(page.locator("#lease-clock")).to_have_text(CLOCK)
    return claimed


def test_safety_number_keys_undo_and_room_for_the_key_bar(
    tab: tuple[Page, PageErrors], stack: dict[str, Any]
) -> None:
    page, errors = tab
    claimed = claim(page, "safety", stack["batches"]["safety"])
    llm = claimed["label"]["flags"]
    page.keyboard.press("1")
    page.keyboard.press("3")
    for index, category in ((0, "sexual"), (2, "violence")):
        switch = page.locator(f"button.switch[data-category='{category}']")
        expect(switch).to_have_attribute("aria-checked", str(not llm[SAFETY[index]]).lower())
    # The fixed key bar leaves room: at the end of the page the rationale box is above it.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    gap = page.evaluate("""() => {
        const bar = document.querySelector('footer.keys').getBoundingClientRect();
        const box = document.querySelector('#safety-rationale').getBoundingClientRect();
        const buttons = document.querySelector('#current .actions').getBoundingClientRect();
        return Math.min(bar.top - box.bottom, bar.top - buttons.bottom);
    }""")
    assert gap >= 0, f"the key bar covers the page end by {-gap}px"
    shot(page, "10-safety-number-keys", full_page=True)
    page.keyboard.press("f")
    expect(page.locator("#item-state")).to_have_text("Fixed")
    stored = item(stack, claimed["item_id"])
    assert stored["state"] == "fixed"
    assert stored["label"]["flags"] == {**llm, "sexual": not llm["sexual"], "violence": not llm["violence"]}

    # Undo: the item comes back to this reviewer with the LLM's label, then is approved.
    with page.expect_response(lambda r: r.url.endswith("/undo")) as answer:
        page.keyboard.press("u")
    assert answer.value.status == 200
    expect(page.locator("#item-state")).to_have_text("")
    expect(page.locator("#lease-clock")).to_have_text(CLOCK)
    expect(page.locator("button.switch[data-category='sexual']")).to_have_attribute(
        "aria-checked", str(llm["sexual"]).lower())
    restored = item(stack, claimed["item_id"])
    assert (restored["state"], restored["label"]["flags"], restored["source"]) == ("in_review", llm, "llm")
    shot(page, "11-undone")
    page.keyboard.press("a")
    expect(page.locator("#item-state")).to_have_text("Approved")
    assert item(stack, claimed["item_id"])["state"] == "approved"
    audit = [json.loads(e) for e in stack["store"].redis.lrange(store_keys.team_audit(TEAM), 0, -1)]
    assert [e["action"] for e in audit if e["item_id"] == claimed["item_id"]] == [
        "review.approve", "review.undo", "review.fix"]
    assert errors == []


def test_number_keys_on_classification_and_instruction(
    tab: tuple[Page, PageErrors], stack: dict[str, Any]
) -> None:
    page, errors = tab
    claimed = claim(page, "classification", stack["batches"]["classification"])
    wanted = "neutral" if claimed["label"]["label"] != "neutral" else "negative"
    page.keyboard.press(str(["positive", "negative", "neutral"].index(wanted) + 1))
    expect(page.locator(f"input[value='{wanted}']")).to_be_checked()
    shot(page, "12-classification-number-key")
    page.keyboard.press("f")
    expect(page.locator("#item-state")).to_have_text("Fixed")
    assert item(stack, claimed["item_id"])["label"]["label"] == wanted

    claimed = claim(page, "instruction", stack["batches"]["instruction"])
    page.keyboard.press("3")  # rewriting, the guideline's third category
    expect(page.locator("#instruction-category")).to_have_value("rewriting")
    if claimed["label"]["category"] == "rewriting":
        page.keyboard.press("2")
        expect(page.locator("#instruction-category")).to_have_value("classification")
    expected = page.locator("#instruction-category").input_value()
    page.keyboard.press("f")
    expect(page.locator("#item-state")).to_have_text("Fixed")
    assert item(stack, claimed["item_id"])["label"]["category"] == expected
    assert errors == []


def test_keyboard_only_ner_span_creation(tab: tuple[Page, PageErrors], stack: dict[str, Any]) -> None:
    page, errors = tab
    claimed = claim(page, "ner", stack["batches"]["ner"])
    assert claimed["label"] == {"entities": []}
    press = page.keyboard.press
    for _ in range(5):  # Loved the show 🎉 in | Paris
        press("ArrowRight")
    press("Shift+ArrowRight")
    expect(page.locator("#ner-kbd-status")).to_contain_text("“Paris”")
    press("2")  # location
    expect(page.locator("mark.ent[data-label='location']")).to_have_text("Paris")
    for _ in range(3):  # tonight, with, | Anna
        press("ArrowRight")
    for _ in range(3):  # part of a word with Alt held: "Ann"
        press("Shift+Alt+ArrowRight")
    expect(page.locator("#ner-kbd-status")).to_contain_text("“Ann”")
    press("1")  # person
    expect(page.locator("mark.ent[data-label='person']")).to_have_text("Ann")
    press("Shift+Alt+ArrowRight")  # the rest of the word, labeled as a group, then deleted
    press("3")
    expect(page.locator("mark.ent")).to_have_count(3)
    press("Tab")
    press("Tab")
    press("Tab")
    expect(page.locator("mark.ent[data-label='group']")).to_be_focused()
    press("Backspace")  # the focus moves on to the span before it, "Ann"
    expect(page.locator("mark.ent")).to_have_count(2)
    expect(page.locator("mark.ent").nth(1)).to_be_focused()
    press("Shift+Tab")
    expect(page.locator("mark.ent").nth(0)).to_be_focused()
    press("Tab")  # back to "Ann": relabel it with a number, and back again
    press("3")
    expect(page.locator("mark.ent[data-label='group']")).to_have_text("Ann")
    press("1")
    expect(page.locator("mark.ent[data-label='person']")).to_have_text("Ann")
    shot(page, "13-ner-keyboard")
    page.evaluate("document.activeElement.blur()")
    press("f")
    expect(page.locator("#item-state")).to_have_text("Fixed")
    entities = item(stack, claimed["item_id"])["label"]["entities"]
    paris = NER_TEXT.index("Paris")
    anna = NER_TEXT.index("Anna")
    assert [(e["start"], e["end"], e["label"]) for e in entities] == [
        (paris, paris + 5, "location"), (anna, anna + 3, "person")]
    assert errors == []


def test_remapped_shortcut_is_remembered(tab: tuple[Page, PageErrors], stack: dict[str, Any]) -> None:
    page, errors = tab
    page.keyboard.press("?")
    overlay = page.locator("#shortcuts")
    expect(overlay).to_be_visible()
    expect(overlay).to_contain_text("Shift + Alt")
    page.click("#shortcuts button.change[data-action='approve']")
    page.keyboard.press("n")  # taken by "claim": refused
    expect(page.locator("#shortcuts-message")).to_contain_text("already does")
    page.keyboard.press("y")
    expect(page.locator("#shortcuts tr[data-action='approve'] kbd.bound")).to_have_text("y")
    shot(page, "14-shortcuts-overlay")
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()
    page.reload()
    expect(page.locator("#keys kbd[data-action='approve']")).to_have_text("y")
    expect(page.locator("#approve kbd")).to_have_text("y")
    claimed = claim(page, "safety", stack["batches"]["safety"])
    page.keyboard.press("a")
    expect(page.locator("#item-state")).to_have_text("")
    page.keyboard.press("y")
    expect(page.locator("#item-state")).to_have_text("Approved")
    assert item(stack, claimed["item_id"])["state"] == "approved"
    page.keyboard.press("?")
    page.click("#shortcuts-reset")
    page.keyboard.press("Escape")
    expect(page.locator("#keys kbd[data-action='approve']")).to_have_text("a")
    assert errors == []


def test_list_view_filters_sort_open_and_bulk_approve(
    tab: tuple[Page, PageErrors], stack: dict[str, Any]
) -> None:
    page, errors = tab
    page.goto("/ui/queue")
    rows = page.locator("#queue-table tbody tr")
    whole = api_get(stack, "/v1/review/items", Role.REVIEWER)
    expect(rows).to_have_count(whole["total"])
    page.select_option("#f-task", "safety")
    safety = api_get(stack, "/v1/review/items", Role.REVIEWER, task="safety")
    expect(rows).to_have_count(safety["total"])
    page.click("#queue-table th[data-sort='confidence'] button")
    page.click("#queue-table th[data-sort='confidence'] button")  # descending
    expect(page.locator("#queue-table th[data-sort='confidence']")).to_have_attribute("aria-sort", "descending")
    by_confidence = api_get(stack, "/v1/review/items", Role.REVIEWER, task="safety",
                            sort="confidence", order="desc")
    expect(rows.first).to_have_attribute("data-item-id", by_confidence["items"][0]["item_id"])
    shown = page.eval_on_selector_all("#queue-table tbody tr", "rows => rows.map(r => r.dataset.itemId)")
    assert shown == [r["item_id"] for r in by_confidence["items"]]
    label = safety["labels"][0]
    page.select_option("#f-label", label)
    with_label = api_get(stack, "/v1/review/items", Role.REVIEWER, task="safety", label=label)
    expect(rows).to_have_count(with_label["total"])
    page.select_option("#f-label", "")
    low = sorted(r["confidence"] for r in safety["items"])[len(safety["items"]) // 2]
    page.fill("#f-max", str(low))
    page.dispatch_event("#f-max", "change")
    in_range = api_get(stack, "/v1/review/items", Role.REVIEWER, task="safety", max_confidence=low)
    expect(rows).to_have_count(in_range["total"])
    assert in_range["total"] >= 1
    shot(page, "15-queue-list")

    # Bulk approve of the filtered set: the confirmation states the count, the API agrees.
    before = api_get(stack, f"/v1/batches/{stack['batches']['safety']}")["counts"]
    depth = api_get(stack, "/v1/review/queue")["depth"]
    n = sum(r["state"] == "needs_review" for r in in_range["items"])
    page.click("#bulk-approve")
    expect(page.locator("#bulk-confirm")).to_be_visible()
    expect(page.locator("#bulk-title")).to_have_text(f"Approve {n} item{'s' if n != 1 else ''}?")
    shot(page, "16-bulk-confirm")
    with page.expect_response(lambda r: r.url.endswith("/bulk-approve")) as answer:
        page.click("#bulk-yes")
    assert answer.value.json()["approved"] == n
    expect(page.locator("#toast")).to_contain_text(f"Approved {n} of {n}")
    after = api_get(stack, f"/v1/batches/{stack['batches']['safety']}")["counts"]
    assert after["approved"] == before["approved"] + n
    assert after["needs_review"] == before["needs_review"] - n
    assert api_get(stack, "/v1/review/queue")["depth"] == depth - n
    audit = [json.loads(e) for e in stack["store"].redis.lrange(store_keys.team_audit(TEAM), 0, n - 1)]
    assert {e["item_id"] for e in audit} == {r["item_id"] for r in in_range["items"]
                                              if r["state"] == "needs_review"}
    assert all(e["action"] == "review.approve" and e["after"]["bulk"] for e in audit)
    expect(page.locator("#history-table tbody tr")).to_have_count(
        len(api_get(stack, "/v1/review/history", Role.REVIEWER)["entries"]))
    shot(page, "17-history", full_page=True)

    assert errors == []


def test_undo_from_history(tab: tuple[Page, PageErrors], stack: dict[str, Any]) -> None:
    page, errors = tab
    page.goto("/ui/queue")
    entry = api_get(stack, "/v1/review/history", Role.REVIEWER)["entries"][0]
    assert entry["bulk"] and entry["undoable"]
    row = page.locator(f"#history-table tr[data-item-id='{entry['item_id']}']").first
    row.locator("button.undo").click()
    expect(page.locator("#toast")).to_contain_text("back in the queue")
    assert item(stack, entry["item_id"])["state"] == "needs_review"
    # Open its row from the list: the review page claims exactly that item.
    listed = page.locator(f"#queue-table tbody tr[data-item-id='{entry['item_id']}']")
    expect(listed).to_have_attribute("data-state", "needs_review")
    listed.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#item")).to_have_attribute("data-item-id", entry["item_id"])
    expect(page.locator("#lease-clock")).to_have_text(CLOCK)
    assert item(stack, entry["item_id"])["state"] == "in_review"
    page.keyboard.press("s")
    expect(page.locator("#item-state")).to_have_text("Skipped")

    # Undo of a single decision from the list: the review page resumes the item's new lease.
    page.goto("/ui/queue")
    single = next(e for e in api_get(stack, "/v1/review/history", Role.REVIEWER)["entries"]
                  if e["undoable"] and not e["bulk"])
    page.locator(f"#history-table tr[data-item-id='{single['item_id']}'] button.undo").click()
    expect(page.locator("#item")).to_have_attribute("data-item-id", single["item_id"])
    expect(page.locator("#lease-clock")).to_have_text(CLOCK)
    assert item(stack, single["item_id"])["state"] == "in_review"
    page.keyboard.press("a")
    expect(page.locator("#item-state")).to_have_text("Approved")
    assert errors == []


def test_operator_charts_gold_upload_and_export(
    browser: Browser, stack: dict[str, Any], tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=stack["api"],
                                  accept_downloads=True)
    page = context.new_page()
    errors = PageErrors()
    errors.watch(page)
    page.set_default_timeout(10_000)
    page.goto("/ui/operator")
    page.fill("#api-key", stack["keys"][Role.OPERATOR])
    page.click("#signin-submit")

    batches = api_get(stack, "/v1/batches", limit=20)["batches"]
    expect(page.locator("#chart-batch option")).to_have_count(len(batches))
    shown = page.locator("#chart-batch").input_value()
    timeline = api_get(stack, f"/v1/stats/batches/{shown}/timeline", buckets=12)
    expect(page.locator("#chart-timeline .mark")).to_have_count(3 * len(timeline["points"]))
    last = timeline["points"][-1]
    expect(page.locator("#chart-timeline .mark[data-series='labeled']").last).to_have_attribute(
        "data-value", str(last["labeled"]))
    expect(page.locator("#chart-review-rate .mark")).to_have_count(len(batches))
    expect(page.locator("#chart-cost .mark")).to_have_count(len(batches))
    agreement = api_get(stack, "/v1/stats/agreement", buckets=10)
    points = sum(1 for s in agreement["series"] for p in s["points"] if p["agreement"] is not None)
    assert points > 0
    expect(page.locator("#chart-agreement .mark")).to_have_count(points)
    queue = api_get(stack, "/v1/stats/queue")
    expect(page.locator("#chart-queue .mark")).to_have_count(len(queue["tasks"]))
    expect(page.locator("#queue-summary")).to_contain_text(f"{queue['depth']} waiting")
    page.locator("#charts-card").screenshot(path=str(ARTIFACTS / "18-operator-charts.png"))

    # Gold upload from a JSONL file: a bad line is named, a good file is stored.
    good = [{"input": {"text": "Where is the station?"}, "label": {"flags": dict.fromkeys(SAFETY, False), "rationale": None}},
            {"id": "g-threat", "input": {"text": "I will hurt you."},
             "label": {"flags": {**dict.fromkeys(SAFETY, False), "violence": True}, "rationale": None}}]
    bad_file = tmp_path / "bad.jsonl"
    bad_file.write_text(json.dumps(good[0]) + "\n{not json\n")
    page.select_option("#gold-task", "safety")
    page.set_input_files("#gold-file", str(bad_file))
    page.click("#gold-upload")
    expect(page.locator("#gold-result")).to_contain_text("line 2")
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps(good[0]) + "\n" + json.dumps({"input": {"text": "x"}, "label": {"flags": {"nope": True}}}) + "\n")
    page.set_input_files("#gold-file", str(wrong))
    page.click("#gold-upload")
    expect(page.locator("#gold-result")).to_contain_text("line 2")
    assert api_get(stack, "/v1/gold")["total"] == 0
    good_file = tmp_path / "gold.jsonl"
    good_file.write_text("".join(json.dumps(g) + "\n" for g in good))
    page.set_input_files("#gold-file", str(good_file))
    page.click("#gold-upload")
    expect(page.locator("#gold-uploaded")).to_contain_text("Stored 2 gold item(s) for safety")
    assert api_get(stack, "/v1/gold", task="safety")["total"] == 2

    # Download an export in a format of the chosen batch's task.
    page.select_option("#export-batch", stack["batches"]["safety"])
    page.select_option("#export-format", "csv")
    with page.expect_download() as download:
        page.click("#export-download")
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    expected = stack["client"].get(f"/v1/batches/{stack['batches']['safety']}/export",
                                   params={"format": "csv"}, headers=stack["auth"][Role.OPERATOR])
    assert saved.read_text() == expected.text and expected.text.count("\n") > 1
    # What the export left out (the item still waiting for review) is said, from its headers.
    skipped = json.loads(expected.headers["x-export-skipped"])
    counts = api_get(stack, f"/v1/batches/{stack['batches']['safety']}")["counts"]
    waiting = counts["needs_review"] + counts["in_review"]
    assert sum(skipped.values()) == waiting > 0
    expect(page.locator("#export-done")).to_contain_text(
        f"{expected.headers['x-export-written']} item(s) written; left out: {waiting} ")
    page.locator("#gold-upload-card").screenshot(path=str(ARTIFACTS / "19-operator-gold-upload.png"))
    page.locator("#export-card").screenshot(path=str(ARTIFACTS / "20-operator-export.png"))
    # Chromium logs the 422 of the upload with a wrong label; nothing else may fail.
    assert [e for e in errors if "status of 422" not in e] == []
    context.close()


def test_operator_key_revoke_calibration_charts_and_audit_log(browser: Browser, stack: dict[str, Any]) -> None:
    client, operator = stack["client"], stack["auth"][Role.OPERATOR]
    # A target precision makes the version's report (and refit) use the reviews made above.
    report = client.put("/v1/tasks/safety/versions/v90/calibration", json={"target_precision": 0.9},
                        headers=operator)
    assert report.status_code == 200, report.text
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=stack["api"])
    page = context.new_page()
    errors = PageErrors()
    errors.watch(page)
    page.set_default_timeout(10_000)
    page.goto("/ui/operator")
    page.fill("#api-key", stack["keys"][Role.OPERATOR])
    page.click("#signin-submit")

    # Calibration: the two charts have a mark per bin with an accuracy, per curve point and series.
    page.select_option("#calibration-task", "safety")
    page.select_option("#calibration-version", "v90")
    data = api_get(stack, "/v1/tasks/safety/versions/v90/calibration")
    bins = [b for b in data["reliability"] if b["accuracy"] is not None]
    assert bins and data["curve"], data
    expect(page.locator("#chart-reliability .mark")).to_have_count(len(bins))
    expect(page.locator("#chart-curve .mark")).to_have_count(2 * len(data["curve"]))
    expect(page.locator("#calibration-summary")).to_contain_text(f"{data['evidence_n']} judged labels")
    page.locator("#calibration-card").screenshot(path=str(ARTIFACTS / "21-operator-calibration.png"))

    # Keys: every key of the team is listed; a new one is shown once, then revoked.
    listed = api_get(stack, "/v1/keys")["keys"]
    expect(page.locator("#keys-table tbody tr")).to_have_count(len(listed))
    page.select_option("#key-role", "reviewer")
    page.fill("#key-name", "temp-reviewer")
    page.click("#key-create")
    plain = page.locator("#key-plain")
    expect(plain).to_have_value(re.compile(r"^llk_"))
    new_key = plain.input_value()
    assert client.get("/v1/whoami", headers={"Authorization": f"Bearer {new_key}"}).status_code == 200
    created = next(k for k in api_get(stack, "/v1/keys")["keys"] if k["name"] == "temp-reviewer")
    row = page.locator(f"#keys-table tr[data-key-id='{created['key_id']}']")
    expect(row.locator(".key-state")).to_have_text("active")
    row.locator("button.revoke").click()
    confirm = page.locator(f"#keys-table tr[data-key-id='{created['key_id']}'] button.revoke.confirm")
    expect(confirm).to_have_text("Confirm revoke")
    page.locator("#keys-card").screenshot(path=str(ARTIFACTS / "22-operator-keys.png"))
    confirm.click()
    expect(page.locator("#toast")).to_contain_text("Revoked temp-reviewer")
    expect(page.locator(f"#keys-table tr[data-key-id='{created['key_id']}']")).to_have_count(0)
    page.check("#keys-revoked")
    expect(page.locator(f"#keys-table tr[data-key-id='{created['key_id']}'] .key-state")).to_have_text("revoked")
    assert client.get("/v1/whoami", headers={"Authorization": f"Bearer {new_key}"}).status_code == 401
    revoked = api_get(stack, "/v1/keys", include_revoked="true")["keys"]
    assert next(k for k in revoked if k["key_id"] == created["key_id"])["state"] == "revoked"

    # The audit log, filtered by an action prefix and by actor, as the API answers it.
    page.fill("#audit-action", "review.undo")
    page.click("#audit-apply")
    undos = api_get(stack, "/v1/audit", action="review.undo", limit=50)["events"]
    assert undos
    expect(page.locator("#audit-table tbody tr")).to_have_count(len(undos))
    expect(page.locator("#audit-table tbody tr[data-action='review.undo']")).to_have_count(len(undos))
    page.fill("#audit-action", "review.")
    page.fill("#audit-actor", "tools-reviewer")
    page.click("#audit-apply")
    reviews = api_get(stack, "/v1/audit", action="review.", actor="tools-reviewer", limit=50)
    assert reviews["events"] and all(e["action"].startswith("review.") for e in reviews["events"])
    expect(page.locator("#audit-table tbody tr")).to_have_count(len(reviews["events"]))
    page.locator("#audit-card").screenshot(path=str(ARTIFACTS / "23-operator-audit.png"))
    assert errors == []
    context.close()
