"""`llmlabel export` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
from typer.testing import CliRunner

import llmlabel.cli.export  # noqa: F401  (registers the command on `app`)
from llmlabel.cli import app
from llmlabel.errors import InputError

runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> Any:
    # With a single registered command typer runs it without its name; with several it
    # is a group. Other test modules may register more commands, so ask which it is.
    argv = list(args) if isinstance(typer.main.get_command(app), typer.core.TyperGroup) else list(args[1:])
    # A wide terminal keeps rich from wrapping error messages inside its box.
    return runner.invoke(app, argv, input=stdin, env={"COLUMNS": "300"})


def pref_row(item_id: str, ranking: list[int], **fields: Any) -> dict[str, Any]:
    return {"id": item_id, "task": "preference", "label": {"ranking": ranking}, "confidence": 0.9,
            "route": "accept", "input": {"prompt": "Human: Pick one.", "responses": ["A", "B"]}, **fields}


def write_rows(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return write_rows(tmp_path / "results.jsonl", [pref_row("a", [0, 1]), pref_row("b", [1, 0]),
                                                  pref_row("c", [0, 1], route="review")])


def test_exports_dpo_to_stdout_inferring_the_task(results: Path) -> None:
    result = invoke("export", "--in", str(results), "--format", "dpo")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records == [
        {"prompt": "Human: Pick one.\n\nAssistant:", "chosen": " A", "rejected": " B"},
        {"prompt": "Human: Pick one.\n\nAssistant:", "chosen": " B", "rejected": " A"},
    ]
    assert "exported 2 preference row(s) as dpo; skipped 1 route review" in result.stderr


def test_include_pending_exports_review_routed_rows_too(results: Path) -> None:
    result = invoke("export", "-i", str(results), "-f", "dpo-chat", "--include-pending")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3


def test_writes_a_whole_file_and_replaces_an_old_one(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    out.write_text("old\n", encoding="utf-8")
    result = invoke("export", "--in", str(results), "--format", "jsonl", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()] == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.jsonl", "results.jsonl"]
    assert f"to {out}" in result.stderr


def test_reads_stdin(results: Path) -> None:
    result = invoke("export", "--in", "-", "--format", "label-studio", stdin=results.read_text(encoding="utf-8"))
    assert result.exit_code == 0, result.output
    tasks = json.loads(result.stdout)
    assert [t["data"]["item_id"] for t in tasks] == ["a", "b"]


@pytest.mark.parametrize(("fmt", "said"), [("parquet", "unknown format 'parquet'"),
                                           ("conll", "format 'conll' does not apply to preference")])
def test_a_wrong_format_lists_the_formats_for_the_task(results: Path, fmt: str, said: str) -> None:
    result = invoke("export", "--in", str(results), "--format", fmt)
    # `llmlabel`'s entry point prints an llmlabel error as one line and exits non-zero.
    assert isinstance(result.exception, InputError) and result.stdout == ""
    assert said in str(result.exception)
    assert "formats for preference: jsonl, dpo, dpo-chat, label-studio" in str(result.exception)


def test_a_malformed_line_names_its_number_and_leaves_no_file(results: Path, tmp_path: Path) -> None:
    bad = write_rows(tmp_path / "bad.jsonl", [pref_row("a", [0, 1]), pref_row("b", [1, 0]), "{oops"])
    out = tmp_path / "out.jsonl"
    result = invoke("export", "--in", str(bad), "--format", "dpo", "--out", str(out))
    assert isinstance(result.exception, InputError)
    assert str(result.exception).startswith(f"{bad}: line 3: invalid JSON")
    assert result.exception.line == 3
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "results.jsonl"]


def test_a_bad_label_names_the_row_and_its_line(tmp_path: Path) -> None:
    bad = write_rows(tmp_path / "bad.jsonl", [pref_row("a", [0, 1]), pref_row("z", [0, 5])])
    result = invoke("export", "--in", str(bad), "--format", "dpo")
    assert isinstance(result.exception, InputError)
    assert "row 'z' (line 2): label 'ranking' must list distinct indices" in str(result.exception)


def test_a_task_override_must_match_the_rows(results: Path) -> None:
    result = invoke("export", "--in", str(results), "--format", "jsonl", "--task", "ner")
    assert isinstance(result.exception, InputError)
    assert "row 'a' (line 1): a 'preference' row in a 'ner' export" in str(result.exception)


def test_rows_without_a_task_need_the_option(tmp_path: Path) -> None:
    row = pref_row("a", [0, 1])
    del row["task"]
    path = write_rows(tmp_path / "r.jsonl", [row])
    missing = invoke("export", "--in", str(path), "--format", "dpo")
    assert isinstance(missing.exception, InputError)
    assert "carry no 'task' field; pass --task" in str(missing.exception)
    given = invoke("export", "--in", str(path), "--format", "dpo", "--task", "preference")
    assert given.exit_code == 0 and json.loads(given.stdout)["chosen"] == " A"


def test_csv_options_reach_the_exporter(tmp_path: Path) -> None:
    row = {"id": "s1", "task": "safety", "state": "approved", "input": {"text": "hi"},
           "label": {"flags": {"hate": True}, "rationale": None}}
    path = write_rows(tmp_path / "s.jsonl", [row])
    result = invoke("export", "--in", str(path), "--format", "csv", "--categories", "sexual, hate")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["id,text,sexual,hate,rationale", "s1,hi,,1,"]


def test_a_bad_option_value_names_the_option(results: Path) -> None:
    result = invoke("export", "--in", str(results), "--format", "dpo", "--pairs", "some")
    assert isinstance(result.exception, InputError)
    assert str(result.exception).startswith("--pairs: Input should be 'all' or 'best'")


def test_an_export_of_only_pending_rows_hints_at_the_flag(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "r.jsonl", [pref_row("a", [0, 1], route="review")])
    result = invoke("export", "--in", str(path), "--format", "dpo")
    assert result.exit_code == 0 and result.stdout == ""
    assert "hint: --include-pending" in result.stderr


@pytest.mark.parametrize(("content", "message"), [(None, "no such file"), ("\n\n", "no result rows")])
def test_missing_or_empty_input_is_an_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "r.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = invoke("export", "--in", str(path), "--format", "jsonl")
    assert isinstance(result.exception, InputError)
    assert message in str(result.exception)
