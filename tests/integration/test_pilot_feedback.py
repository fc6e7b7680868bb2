"""Pilot batches end to end, and their guideline feedback report, worked out by hand.

The fake provider answers NER with no entities at full agreement, so a normal
batch is auto-accepted whole; the same items as a pilot all go to review, and
with a pilot share of 1 every decided item goes to a second reviewer too.
Alice (first reviewer) and Bob (second) then decide chosen labels on texts
"Alice visited Paris on day i": person (0, 5), location (14, 19).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from llmlabel.store import Role, Store
from tests.integration.conftest import Processes, provider, service_env
from tests.integration.test_ui_review import CHROMIUM_ARGS, PageErrors, chromium_path

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

Headers = dict[str, str]
TEAM = "pilots"
PERSON = {"start": 0, "end": 5, "label": "person"}
LOCATION = {"start": 14, "end": 19, "label": "location"}
# Per claim order: Alice's decision, then Bob's second decision (None: approve).
PLAN: list[tuple[str, list[dict[str, Any]] | None, list[dict[str, Any]] | None]] = [
    ("fix", [PERSON], [PERSON]),
    ("fix", [PERSON, LOCATION], [PERSON]),
    ("fix", [LOCATION], None),
    ("approve", None, None),
    ("approve", None, [PERSON]),
    ("reject", None, None),
]


@pytest.fixture(scope="module")
def env(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    # A fake provider of its own, agreeing on every item (the session one disagrees on a
    # share that depends on what it served before), so a plain batch is accepted whole.
    with provider(latency_ms=5, latency_jitter_ms=0) as url:
        yield service_env(redis_server, url, tmp_path_factory.mktemp("var"),
                          double_review_share=0.0, gold_share=0.0)


@pytest.fixture(scope="module")
def client(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    procs = Processes(Path(tmp_path_factory.mktemp("logs")))
    try:
        with httpx.Client(base_url=procs.api(env), timeout=30) as http:
            yield http
    finally:
        procs.stop_all()


@pytest.fixture
def key(store: Store) -> Callable[..., Headers]:
    def make(role: Role, name: str, team: str = TEAM) -> Headers:
        return {"Authorization": f"Bearer {store.create_api_key(team=team, role=role, name=name)}"}

    return make


def claim(client: httpx.Client, headers: Headers, batch_id: str) -> dict[str, Any]:
    response = client.post("/v1/review/claim", params={"batch_id": batch_id}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def decide(client: httpx.Client, headers: Headers, claimed: dict[str, Any], action: str,
           entities: list[dict[str, Any]] | None = None) -> None:
    body: dict[str, Any] = {"lease_token": claimed["lease_token"], "action": action}
    if entities is not None:
        body["label"] = {"entities": entities}
    response = client.post(f"/v1/review/items/{claimed['item_id']}/decision", json=body,
                           headers=headers)
    assert response.status_code == 200, response.text


def test_a_pilot_reviews_everything_twice_and_reports_where_people_disagree(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes, env: dict[str, str],
    store: Store,
) -> None:
    submitter, operator = key(Role.SUBMITTER, "sub"), key(Role.OPERATOR, "op")
    alice, bob = key(Role.REVIEWER, "alice"), key(Role.REVIEWER, "bob")
    items = [{"id": f"n{i}", "text": f"Alice visited Paris on day {i}"} for i in range(6)]
    plain = client.post("/v1/batches", json={"task": "ner", "items": items}, headers=submitter)
    pilot = client.post("/v1/batches", headers=submitter, json={
        "task": "ner", "items": items, "pilot": True, "double_review_share": 1.0})
    default_share = client.post("/v1/batches", headers=submitter, json={
        "task": "ner", "items": items[:1], "pilot": True})
    assert pilot.status_code == plain.status_code == default_share.status_code == 201, pilot.text
    assert (pilot.json()["pilot"], pilot.json()["double_review_share"]) == (True, 1.0)
    assert (plain.json()["pilot"], plain.json()["double_review_share"]) == (False, None)
    assert default_share.json()["double_review_share"] == 0.3
    processes.run_burst(env, name="w-pilot")

    plain_id = plain.json()["id"]
    plain_counts = client.get(f"/v1/batches/{plain_id}", headers=submitter).json()
    # The version has a target precision, so the blind audit sends a random ~2 % of the
    # labels the threshold accepted to review as well (the draw depends on the item id).
    records = [store.label_record(TEAM, f"{plain_id}:{i}") for i in range(6)]
    audited = sum(1 for r in records if r is not None and r.audited)
    assert plain_counts["counts"]["auto_accepted"] + audited == 6, "the threshold accepts them"
    assert plain_counts["counts"]["needs_review"] == audited
    batch_id = pilot.json()["id"]
    view = client.get(f"/v1/batches/{batch_id}", headers=submitter).json()
    assert view["pilot"] is True
    assert (view["counts"]["needs_review"], view["counts"]["auto_accepted"]) == (6, 0)

    firsts = [claim(client, alice, batch_id) for _ in PLAN]
    assert all(c["reason"].startswith("pilot batch, confidence") for c in firsts)
    assert all("threshold" not in c["reason"] for c in firsts), "reviewers never see the cutoff"
    for claimed, (action, entities, _) in zip(firsts, PLAN, strict=True):
        decide(client, alice, claimed, action, entities)
    # Share 1: every decided item waits for a second reviewer (never Alice herself).
    seconds = {c["item_id"]: c for c in (claim(client, bob, batch_id) for _ in PLAN)}
    assert set(seconds) == {c["item_id"] for c in firsts}
    assert client.post("/v1/review/claim", params={"batch_id": batch_id},
                       headers=bob).status_code == 204
    for first, (_, _, entities) in zip(firsts, PLAN, strict=True):
        decide(client, bob, seconds[first["item_id"]], "approve" if entities is None else "fix",
               entities)

    response = client.get(f"/v1/batches/{batch_id}/feedback", headers=submitter)
    assert response.status_code == 200, response.text
    feedback = response.json()
    assert (feedback["pilot"], feedback["total"], feedback["waiting"]) == (True, 6, 0)
    report = feedback["report"]
    assert (report["reviewed"], report["approved"], report["fixed"], report["rejected"]) == (
        6, 2, 3, 1)
    assert report["fix_rate"] == pytest.approx(3 / 5)
    assert report["reviewed_twice"] == 6
    rows = {r["row"]: r for r in report["rows"]}
    assert set(rows) == {"person", "location"}, "the LLM gave no span: only people's spans count"
    # person: Alice added Alice on claims 0 and 1; location: Paris on claims 1 and 2.
    for name, ids in (("person", [0, 1]), ("location", [1, 2])):
        row = rows[name]
        assert (row["judged"], row["changed"], row["fix_rate"]) == (2, 2, 1.0)
        [confusion] = row["confusions"]
        assert (confusion["llm"], confusion["people"], confusion["count"]) == ("no span", name, 2)
        assert {e["item_id"] for e in confusion["examples"]} == {firsts[i]["item_id"] for i in ids}
        assert {e["detail"] for e in confusion["examples"]} == {
            "Alice" if name == "person" else "Paris"}
    # Reviewer pairs: the 5 items Alice labeled (the rejection has no label).
    # person spans, Alice S S - - -, Bob S S - - S: 4/5 equal; o_SS=4, o_EE=4,
    # o_SE=o_ES=1, n_S=n_E=5, n=10: alpha = 1 - 9 * 2 / (2 * 5 * 5) = 0.64.
    # location, Alice - L L - -, Bob - - - - -: 3/5 equal; o_EE=6, o_LE=o_EL=2,
    # n_E=8, n_L=2: alpha = 1 - 9 * 4 / (2 * 8 * 2) = -0.125.
    person, location = rows["person"]["reviewers"], rows["location"]["reviewers"]
    assert (person["n_pairs"], person["agreement"]) == (5, pytest.approx(4 / 5))
    assert person["alpha"] == pytest.approx(0.64)
    assert (location["agreement"], location["alpha"]) == (pytest.approx(3 / 5), pytest.approx(-0.125))
    # Whole labels equal on claims 0 and 3 only.
    assert report["reviewers"]["agreement"] == pytest.approx(2 / 5)

    # The standing report of the version holds the same reviewed items (operator only).
    standing = client.get("/v1/projects/ner/feedback", headers=operator)
    assert standing.status_code == 200, standing.text
    assert standing.json()["guideline_version"] == view["guideline_version"]
    assert standing.json()["report"]["rows"] == report["rows"]
    same_prompt = client.get("/v1/projects/ner/feedback", headers=operator,
                             params={"prompt_version": view["prompt_version"]}).json()
    assert same_prompt["report"]["rows"] == report["rows"] and same_prompt["batches_scanned"] == 3
    assert client.get("/v1/projects/ner/feedback", headers=alice).status_code == 403
    assert client.get("/v1/projects/ner/feedback", headers=submitter).status_code == 403

    # Another team sees neither the batch nor its reviews.
    outsider = key(Role.OPERATOR, "other-op", team="elsewhere")
    missing = client.get(f"/v1/batches/{batch_id}/feedback", headers=outsider)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    theirs = client.get("/v1/projects/ner/feedback", headers=outsider)
    assert theirs.status_code == 200 and theirs.json()["report"]["reviewed"] == 0

    # The operator page shows the same report: the pilot batch, then the version's.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_context(base_url=str(client.base_url),
                                   viewport={"width": 1400, "height": 1000}).new_page()
        errors = PageErrors()
        errors.watch(page)
        page.set_default_timeout(15_000)
        page.goto("/ui/operator")
        page.fill("#api-key", operator["Authorization"].removeprefix("Bearer "))
        page.click("#signin-submit")
        expect(page.locator(f"#batches tr[data-batch='{batch_id}'] .pill-pilot")).to_have_text("pilot")
        page.select_option("#feedback-source", f"batch:{batch_id}")
        expect(page.locator("#feedback-summary")).to_contain_text(
            "6 reviewed (2 approved, 3 fixed, 1 rejected) · fix rate 60.0%")
        person_row = page.locator("#feedback-table tr[data-row='person']")
        expect(person_row.locator(".fix-rate")).to_have_text("100%")
        expect(person_row).to_contain_text("no span → person ×2")
        expect(person_row).to_contain_text("“Alice”")
        expect(person_row).to_contain_text("0.64")
        page.select_option("#feedback-source", "project:ner")
        expect(page.locator("#feedback-summary")).to_contain_text("6 reviewed")
        expect(page.locator("#feedback-summary")).to_contain_text("3 batches")
        browser.close()
    assert not list(errors), list(errors)
