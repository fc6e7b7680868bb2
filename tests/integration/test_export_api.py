"""GET /v1/batches/{id}/export against the real server: every format of every task, read back.

One batch per task (dev-set items; classification gets small texts) is labeled
by a burst worker against the fake provider. Each export is parsed with the
consumer's reader (json lines, csv, the CoNLL reader and the Label Studio
schema of the exports' unit tests) and compared with what the results stream
says should be in it: the items whose label is final (or pending too, when
asked), in submit order.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import redis

from llmlabel.exports import formats_for
from llmlabel.settings import Settings
from llmlabel.store import Role, Store, keys
from tests.conftest import load_dev_items
from tests.integration.conftest import Processes, service_env
from tests.unit.test_exports_label_studio import LABEL_STUDIO_IMPORT
from tests.unit.test_exports_ner import read_conll

pytestmark = pytest.mark.integration

TASKS = ["ner", "safety", "preference", "instruction", "classification"]
FINAL = {"auto_accepted", "approved", "fixed"}
PENDING = {"needs_review", "in_review"}
CONTENT_TYPES = {
    "jsonl": "application/x-ndjson", "dpo": "application/x-ndjson",
    "dpo-chat": "application/x-ndjson", "spans": "application/x-ndjson",
    "sharegpt": "application/x-ndjson", "openai-chat": "application/x-ndjson",
    "alpaca": "application/x-ndjson", "conll": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8", "label-studio": "application/json",
}


def task_items(task: str) -> list[dict[str, Any]]:
    if task == "classification":
        texts = ["I love this phone", "The train was late again", "The shop opens at nine",
                 "Terrible service, never again", "What a lovely surprise", "It is Tuesday"]
        return [{"id": f"c{i}", "text": t} for i, t in enumerate(texts)]
    fields = {"ner": ("id", "text", "tokens"), "safety": ("id", "text"),
              "preference": ("id", "prompt", "responses"),
              "instruction": ("id", "instruction", "context")}[task]
    return [{k: item[k] for k in fields} for item in load_dev_items(task, 6)]


@pytest.fixture(scope="module")
def stack(
    redis_server: str, fake_provider: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """API, keys and one labeled batch per task; the results of each, as the stream gives them."""
    env = service_env(redis_server, fake_provider, tmp_path_factory.mktemp("var"))
    procs = Processes(Path(tmp_path_factory.mktemp("logs")))
    redis.Redis.from_url(redis_server).flushdb()
    store = Store.from_settings(Settings(_env_file=None, redis_url=redis_server))  # type: ignore[call-arg]
    headers = {
        role: {"Authorization": f"Bearer {store.create_api_key(team='exp', role=role, name=role.value)}"}
        for role in Role
    }
    other = {"Authorization": f"Bearer {store.create_api_key(team='other', role=Role.ADMIN)}"}
    try:
        with httpx.Client(base_url=procs.api(env), timeout=30) as client:
            batches = {}
            for task in TASKS:
                response = client.post("/v1/batches", json={"task": task, "items": task_items(task)},
                                       headers=headers[Role.SUBMITTER])
                assert response.status_code == 201, response.text
                batches[task] = response.json()["id"]
            procs.run_burst(env, name="w-export")
            results = {}
            for task, batch_id in batches.items():
                lines = client.get(f"/v1/batches/{batch_id}/results",
                                   headers=headers[Role.SUBMITTER]).text.splitlines()
                results[task] = [json.loads(line) for line in lines]
                assert all(r["state"] in FINAL | PENDING for r in results[task]), results[task]
            yield {"client": client, "keys": headers, "other": other, "batches": batches,
                   "results": results, "env": env, "procs": procs, "redis": redis_server}
    finally:
        procs.stop_all()


def expected(results: list[dict[str, Any]], pending: bool) -> list[dict[str, Any]]:
    states = FINAL | PENDING if pending else FINAL
    return [r for r in results if r["state"] in states and r["label"] is not None]


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def n_pairs(rows: list[dict[str, Any]], best: bool) -> int:
    return sum(len(r["label"]["ranking"]) - 1 if best else
               len(r["label"]["ranking"]) * (len(r["label"]["ranking"]) - 1) // 2 for r in rows)


# What each format's file must hold, read back with its consumer's reader.
Check = Callable[[str, list[dict[str, Any]]], None]


def check_jsonl(body: str, rows: list[dict[str, Any]]) -> None:
    records = lines(body)
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    assert [r["label"] for r in records] == [r["label"] for r in rows]


def check_conll(body: str, rows: list[dict[str, Any]]) -> None:
    sentences = read_conll(body)
    assert [s.metadata["id"] for s in sentences] == [r["id"] for r in rows]
    assert all(t["tag"] == "O" or t["tag"][:2] in ("B-", "I-") for s in sentences for t in s)


def check_spans(body: str, rows: list[dict[str, Any]]) -> None:
    records = lines(body)
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    assert all(isinstance(r["text"], str) and isinstance(r["entities"], list) for r in records)


def check_csv(body: str, rows: list[dict[str, Any]]) -> None:
    table = list(csv.DictReader(io.StringIO(body)))
    assert [r["id"] for r in table] == [r["id"] for r in rows]
    if rows and "flags" in rows[0]["label"]:
        for record, row in zip(table, rows, strict=True):
            assert {c: record[c] for c in row["label"]["flags"]} == {
                c: str(int(v)) for c, v in row["label"]["flags"].items()}
    else:
        assert [r["label"] for r in table] == [r["label"]["label"] for r in rows]


def check_dpo(body: str, rows: list[dict[str, Any]]) -> None:
    records = lines(body)
    assert len(records) == n_pairs(rows, best=False)
    assert all(isinstance(r["prompt"], str) and r["chosen"] != r["rejected"] for r in records)


def check_dpo_chat(body: str, rows: list[dict[str, Any]]) -> None:
    records = lines(body)
    assert len(records) == n_pairs(rows, best=False)
    assert all(r["chosen"][-1]["role"] == "assistant" for r in records)


def check_chat(key: str) -> Check:
    def check(body: str, rows: list[dict[str, Any]]) -> None:
        records = lines(body)
        assert len(records) == len(rows)
        assert all(key in r for r in records)

    return check


def check_label_studio(body: str, rows: list[dict[str, Any]]) -> None:
    tasks = json.loads(body)
    jsonschema.validate(tasks, LABEL_STUDIO_IMPORT)
    assert len(tasks) == len(rows)


CHECKS: dict[str, Check] = {
    "jsonl": check_jsonl, "conll": check_conll, "spans": check_spans, "csv": check_csv,
    "dpo": check_dpo, "dpo-chat": check_dpo_chat, "sharegpt": check_chat("conversations"),
    "openai-chat": check_chat("messages"), "alpaca": check_chat("instruction"),
    "label-studio": check_label_studio,
}
CASES = [(task, fmt) for task in TASKS for fmt in formats_for(task)]


@pytest.mark.parametrize(("task", "fmt"), CASES, ids=[f"{t}-{f}" for t, f in CASES])
def test_every_format_of_every_task_reads_back(stack: dict[str, Any], task: str, fmt: str) -> None:
    batch_id = stack["batches"][task]
    response = stack["client"].get(
        f"/v1/batches/{batch_id}/export",
        params={"format": fmt, "include_pending": "true", "conll_ids": "true"},
        headers=stack["keys"][Role.SUBMITTER],
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPES[fmt]
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=") and batch_id in disposition
    rows = expected(stack["results"][task], pending=True)
    assert rows, f"no labeled {task} item to export"
    CHECKS[fmt](response.text, rows)
    # The whole file, its length known up front, with what was written and left out.
    assert int(response.headers["content-length"]) == len(response.content)
    assert int(response.headers["x-export-written"]) == len(rows)
    skipped = json.loads(response.headers["x-export-skipped"])
    assert sum(skipped.values()) == len(stack["results"][task]) - len(rows)


def test_only_final_labels_by_default_and_best_pairs(stack: dict[str, Any]) -> None:
    client, headers = stack["client"], stack["keys"][Role.OPERATOR]
    for task in ("safety", "ner"):
        response = client.get(f"/v1/batches/{stack['batches'][task]}/export",
                              params={"format": "jsonl"}, headers=headers)
        check_jsonl(response.text, expected(stack["results"][task], pending=False))
        # Pending labels are left out, and the header says how many and why.
        left_out = Counter("no label" if r["label"] is None else f"state {r['state']}"
                           for r in stack["results"][task]
                           if r["state"] not in FINAL or r["label"] is None)
        assert json.loads(response.headers["x-export-skipped"]) == dict(left_out)
    body = client.get(f"/v1/batches/{stack['batches']['preference']}/export",
                      params={"format": "dpo", "pairs": "best", "include_pending": "true"},
                      headers=headers).text
    assert len(lines(body)) == n_pairs(expected(stack["results"]["preference"], True), best=True)


def test_a_format_the_task_has_not_is_422_listing_the_valid_ones(stack: dict[str, Any]) -> None:
    client, headers = stack["client"], stack["keys"][Role.ADMIN]
    for fmt in ("dpo", "parquet"):
        response = client.get(f"/v1/batches/{stack['batches']['safety']}/export",
                              params={"format": fmt}, headers=headers)
        assert response.status_code == 422
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["valid_formats"] == formats_for("safety")
        assert problem["errors"][0]["field"] == "format"
        assert "csv" in problem["detail"]
    missing = client.get(f"/v1/batches/{stack['batches']['safety']}/export", headers=headers)
    assert missing.status_code == 422


def test_roles_and_teams(stack: dict[str, Any]) -> None:
    client, batch_id = stack["client"], stack["batches"]["ner"]
    url = f"/v1/batches/{batch_id}/export"
    reviewer = stack["keys"][Role.REVIEWER]
    assert client.get(url, params={"format": "jsonl"}, headers=reviewer).status_code == 403
    # Finding 10: one data rule; results with inputs were readable to reviewers, exports not.
    results = client.get(f"/v1/batches/{batch_id}/results", params={"include_input": "true"},
                         headers=reviewer)
    assert results.status_code == 403
    assert results.headers["content-type"].startswith("application/problem+json")
    assert client.get(url, params={"format": "jsonl"}, headers=stack["other"]).status_code == 404
    for role in (Role.SUBMITTER, Role.OPERATOR, Role.ADMIN):
        assert client.get(url, params={"format": "jsonl"},
                          headers=stack["keys"][role]).status_code == 200


def test_ner_tokens_that_do_not_spell_the_text_are_refused_at_submit(stack: dict[str, Any]) -> None:
    items = [{"id": "ok", "text": "Paris is nice", "tokens": ["Paris", "is", "nice"]},
             {"id": "bad", "text": "Paris is nice", "tokens": ["Lyon", "rocks"]},
             {"id": "short", "text": "Paris is nice", "tokens": ["Paris", "is"]}]
    response = stack["client"].post("/v1/batches", json={"task": "ner", "items": items},
                                    headers=stack["keys"][Role.SUBMITTER])
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "tokens"), (2, "tokens")]
    assert "'Lyon'" in errors[0]["message"] and "'nice'" in errors[1]["message"]


def test_an_item_the_format_cannot_hold_is_a_422_listing_it_not_a_short_file(
    stack: dict[str, Any],
) -> None:
    """Rows stored before tokens were checked at submit: CoNLL cannot write them."""
    client, headers = stack["client"], stack["keys"][Role.SUBMITTER]
    items = [{"id": f"n{i}", "text": "Paris is nice", "tokens": ["Paris", "is", "nice"]}
             for i in range(3)]
    created = client.post("/v1/batches", json={"task": "ner", "items": items}, headers=headers)
    assert created.status_code == 201, created.text
    batch_id = created.json()["id"]
    stack["procs"].run_burst(stack["env"], name="w-export-legacy")
    store_redis = redis.Redis.from_url(stack["redis"], decode_responses=True)
    for index in (0, 2):
        store_redis.hset(keys.item("exp", f"{batch_id}:{index}"), "input",
                         json.dumps({"text": "Paris is nice", "tokens": ["Lyon", "rocks"]}))
    url = f"/v1/batches/{batch_id}/export"
    response = client.get(url, params={"format": "conll", "include_pending": "true"},
                          headers=headers)
    assert response.status_code == 422, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["n_items"] == 2
    assert [(e["item"], e["field"]) for e in problem["errors"]] == [
        ("n0", "input.tokens"), ("n2", "input.tokens")]
    # A format that does not read tokens still exports every item, whole.
    whole = client.get(url, params={"format": "jsonl", "include_pending": "true"},
                       headers=headers)
    assert whole.status_code == 200
    assert [r["id"] for r in lines(whole.text)] == ["n0", "n1", "n2"]
    assert whole.headers["x-export-written"] == "3"


def test_csv_cells_that_look_like_formulas_are_neutralized(stack: dict[str, Any]) -> None:
    # Finding 9: ids and texts starting with =, +, - or @ were exported raw.
    client, env = stack["client"], stack["env"]
    headers = stack["keys"][Role.SUBMITTER]
    items = [{"id": "=HYPERLINK(\"http://evil\",\"open\")", "text": "+cmd|' /C calc'!A0"},
             {"id": "@SUM(A1:A9)", "text": "-2+3 looks like a sum"},
             {"id": "plain", "text": "a fine text - with a dash"}]
    created = client.post("/v1/batches", json={"task": "classification", "items": items},
                          headers=headers)
    assert created.status_code == 201, created.text
    stack["procs"].run_burst(env, name="w-csv")
    response = client.get(f"/v1/batches/{created.json()['id']}/export",
                          params={"format": "csv", "include_pending": "true"}, headers=headers)
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["id"], r["text"]) for r in rows] == [
        ("'" + items[0]["id"], "'" + items[0]["text"]),
        ("'" + items[1]["id"], "'" + items[1]["text"]),
        ("plain", "a fine text - with a dash"),
    ]
