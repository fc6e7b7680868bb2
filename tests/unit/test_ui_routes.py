"""The UI router over a stand-in Store: pages, assets, whoami, guideline text, agreement."""

from __future__ import annotations

import re
import time
from typing import cast

import pytest
from fastapi.testclient import TestClient

from llmlabel.api.app import create_app
from llmlabel.api.routes.ui import _asset
from llmlabel.domain import ItemState, Sample, Usage
from llmlabel.errors import NotFoundError
from llmlabel.settings import Settings
from llmlabel.store import Store
from llmlabel.store.models import BatchInfo, ItemView, Principal, Role
from tests.support.memory_projects import MemoryProjects

SETTINGS = Settings(_env_file=None, redis_url="redis://127.0.0.1:1/0")  # type: ignore[call-arg]
KEYS = {f"{role.value}-key": Principal(key_id=f"id-{role.value}", team="t1", role=role,
                                       name=f"{role.value} bot") for role in Role}


def pref(index: int, state: ItemState, ranking: list[int], source: str,
         sample_rankings: list[list[int]]) -> ItemView:
    return ItemView(
        item_id=f"b1:{index}", id=f"p{index}", batch_id="b1", task="preference", state=state,
        input={"prompt": "Human: hi", "responses": ["hello", "go away"]},
        label={"ranking": ranking}, source=source,  # type: ignore[arg-type]
        samples=[Sample(index=i, raw="{}", label={"ranking": r})
                 for i, r in enumerate(sample_rankings)],
        guideline_version="v1", prompt_version="v1", updated_at=time.time(),
    )


class StandInStore(MemoryProjects):
    """The Store calls the UI routes make: authenticate, list batches, list items by state."""

    def __init__(self) -> None:
        super().__init__()
        self.items = [
            pref(0, ItemState.APPROVED, [0, 1], "llm", [[0, 1], [0, 1]]),
            # The LLM's samples said 0 first; the reviewer put 1 first.
            pref(1, ItemState.FIXED, [1, 0], "human", [[0, 1], [0, 1], [1, 0]]),
            pref(2, ItemState.NEEDS_REVIEW, [0, 1], "llm", [[0, 1]]),
        ]
        self.listed: list[tuple[str, ItemState | None]] = []

    def authenticate(self, key: str) -> Principal | None:
        return KEYS.get(key)

    def list_batches(self, team: str, *, limit: int = 50) -> list[BatchInfo]:
        counts = {s.value: sum(i.state is s for i in self.items) for s in ItemState}
        return [BatchInfo(id="b1", team=team, task="preference", guideline_version="v1",
                          prompt_version="v1", created_at=time.time(), total=3, counts=counts,
                          done=2, progress=2 / 3, usage=Usage(), state="running", labeled=True)]

    def list_items(self, team: str, batch_id: str, *, state: ItemState | None, offset: int,
                   limit: int) -> list[ItemView]:
        self.listed.append((batch_id, state))
        return [i for i in self.items if i.state is state][offset:offset + limit]


@pytest.fixture
def store() -> StandInStore:
    return StandInStore()


@pytest.fixture
def client(store: StandInStore) -> TestClient:
    return TestClient(create_app(SETTINGS, store=cast(Store, store)))


def auth(role: Role = Role.REVIEWER) -> dict[str, str]:
    return {"Authorization": f"Bearer {role.value}-key"}


def test_root_and_ui_redirect_to_the_review_page(client: TestClient) -> None:
    for path in ("/", "/ui"):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (307, "/ui/review")


@pytest.mark.parametrize("page,script", [("review", "review.js"), ("operator", "operator.js")])
def test_pages_are_html_with_a_strict_csp_and_their_module(
    client: TestClient, page: str, script: str
) -> None:
    response = client.get(f"/ui/{page}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert f'<script type="module" src="/ui/static/js/{script}">' in response.text
    # No inline script or style: the CSP would block them.
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    assert "style=" not in response.text


def test_every_asset_the_pages_reference_is_served(client: TestClient) -> None:
    referenced: set[str] = set()
    for page in ("review", "operator"):
        referenced |= set(re.findall(r'"(/ui/static/[^"]+)"', client.get(f"/ui/{page}").text))
    # Module imports inside the scripts are relative: follow them too.
    queue = [p for p in referenced if p.endswith(".js")]
    while queue:
        path = queue.pop()
        base = path.rsplit("/", 1)[0]
        for rel in re.findall(r'from "(\.{1,2}/[^"]+)"', client.get(path).text):
            parts = f"{base}/{rel}".split("/")
            resolved: list[str] = []
            for part in parts:
                if part == "..":
                    resolved.pop()
                elif part != ".":
                    resolved.append(part)
            target = "/".join(resolved)
            if target not in referenced:
                referenced.add(target)
                queue.append(target)
    assert {"/ui/static/css/app.css", "/ui/static/js/views/ner.js"} <= referenced
    for path in sorted(referenced):
        response = client.get(path)
        assert response.status_code == 200, path
        expected = "text/css" if path.endswith(".css") else (
            "image/svg+xml" if path.endswith(".svg") else "text/javascript")
        assert response.headers["content-type"].startswith(expected), path


def test_assets_answer_304_for_a_known_etag(client: TestClient) -> None:
    first = client.get("/ui/static/css/app.css")
    again = client.get("/ui/static/css/app.css", headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


@pytest.mark.parametrize("path", [
    "/ui/static/../templates/review.html",
    "/ui/static/%2e%2e/templates/review.html",
    "/ui/static/js/.hidden.js",
    "/ui/static/js/nope.js",
    "/ui/static/js",
    "/ui/static/js/review.py",
])
def test_assets_outside_static_or_of_other_types_are_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("role,review,operate", [
    (Role.REVIEWER, True, False), (Role.OPERATOR, False, True), (Role.ADMIN, True, True),
    (Role.SUBMITTER, False, False),
])
def test_whoami(client: TestClient, role: Role, review: bool, operate: bool) -> None:
    body = client.get("/v1/whoami", headers=auth(role)).json()
    assert body == {"key_id": f"id-{role.value}", "team": "t1", "role": role.value,
                    "name": f"{role.value} bot", "can_review": review, "can_operate": operate,
                    "can_read_batches": role is not Role.REVIEWER}


def test_whoami_needs_a_key(client: TestClient) -> None:
    assert client.get("/v1/whoami").status_code == 401


def test_guideline_text_has_ontology_and_instructions(client: TestClient) -> None:
    body = client.get("/v1/tasks/safety/guidelines/v1", headers=auth()).json()
    assert body["version"] == "v1"
    assert "harassment" in body["labels"] and body["label_descriptions"]["harassment"]
    assert body["text"].strip() and len(body["content_hash"]) == 64
    assert 0 < body["threshold"] <= 1


@pytest.mark.parametrize(
    "path", ["/v1/tasks/safety/guidelines/v404", "/v1/tasks/nope/guidelines/v1"]
)
def test_unknown_guideline_is_404(client: TestClient, path: str) -> None:
    response = client.get(path, headers=auth())
    assert response.status_code == 404
    assert "v1" in response.json()["detail"] or "nope" in response.json()["detail"]


def test_agreement_report_from_reviewed_items(client: TestClient, store: StandInStore) -> None:
    body = client.get("/v1/agreement", headers=auth(Role.OPERATOR)).json()
    assert (body["team"], body["batches_scanned"]) == ("t1", 1)
    [group] = body["groups"]
    assert (group["task"], group["reviewed"], group["approved"], group["fixed"]) == (
        "preference", 2, 1, 1)
    # Approved pair agrees; the fixed pair reverses the LLM's majority order.
    assert group["summary"]["metrics"]["pairwise_accuracy"] == 0.5
    assert {state for _, state in store.listed} == {
        ItemState.APPROVED, ItemState.FIXED, ItemState.REJECTED}


def test_agreement_filters_by_task(client: TestClient, store: StandInStore) -> None:
    body = client.get("/v1/agreement?task=ner", headers=auth()).json()
    assert (body["batches_scanned"], body["groups"]) == (0, [])
    assert store.listed == []


@pytest.mark.parametrize("parts", [("static", "..", "templates", "review.html"),
                                   ("static", ".", "css", "app.css"), ("static", "", "x.css")])
def test_asset_lookup_refuses_dot_and_empty_parts(parts: tuple[str, ...]) -> None:
    with pytest.raises(NotFoundError):
        _asset(*parts)
