"""`llmlabel export`: turn result rows (JSONL) into a format a trainer or labeling tool reads."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from pydantic import ValidationError

from llmlabel.cli import app
from llmlabel.errors import InputError
from llmlabel.exports import (
    ALL_TASKS,
    EXPORT_FORMATS,
    ExportOptions,
    ExportStats,
    export,
    get_format,
    parse_result_lines,
)
from llmlabel.exports.rows import ResultRow

__all__ = ["export_command"]

_FORMAT_HELP = "One of: " + ", ".join(
    f"{name} ({', '.join(sorted(f.tasks)) if f.tasks != ALL_TASKS else 'all tasks'})"
    for name, f in EXPORT_FORMATS.items()
)


@contextlib.contextmanager
def _open_input(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdin.buffer
        return
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{path}: no such file")
    with file.open("rb") as handle:
        yield handle


def _write(chunks: Iterator[str], out: str) -> None:
    """Write chunks to stdout, or to `out` through a temporary file renamed at the end.

    The rename means a failure midway (a bad row on line 9,000) leaves no
    half-written file behind, and an existing file is only replaced by a whole one.
    """
    if out == "-":
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    target = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _options(include_pending: bool, pairs: str, categories: str | None, min_quality: int | None,
             conll_ids: bool) -> ExportOptions:
    try:
        return ExportOptions(
            include_pending=include_pending, pairs=pairs,  # type: ignore[arg-type]
            categories=tuple(c.strip() for c in categories.split(",") if c.strip()) if categories else None,
            min_quality=min_quality, conll_ids=conll_ids)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = f"--{first['loc'][0]}".replace("_", "-")
        raise InputError(f"{option}: {first['msg']}", field=option) from exc


@app.command("export")
def export_command(
    in_path: Annotated[str, typer.Option("--in", "-i", help="Result rows as JSONL ('-' for stdin)")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=_FORMAT_HELP)],
    task: Annotated[str | None, typer.Option("--task", "-t", help="Default: the rows' `task` field")] = None,
    out: Annotated[str, typer.Option("--out", "-o", help="Output file ('-' for stdout)")] = "-",
    include_pending: Annotated[bool, typer.Option(
        "--include-pending", help="Also export labels still waiting for review")] = False,
    pairs: Annotated[str, typer.Option(help="dpo: 'all' ordered pairs or 'best' vs each other")] = "all",
    categories: Annotated[str | None, typer.Option(help="csv: comma-separated category columns")] = None,
    min_quality: Annotated[int | None, typer.Option(
        "--min-quality", help="instruction (rate mode): keep pairs rated at least this")] = None,
    conll_ids: Annotated[bool, typer.Option("--conll-ids", help="conll: '# id = ...' before each sentence")] = False,
) -> None:
    """Export final labels from result rows (`llmlabel label --out`, or the results endpoint)."""
    options = _options(include_pending, pairs, categories, min_quality, conll_ids)
    source = "stdin" if in_path == "-" else in_path
    with _open_input(in_path) as handle:
        rows = parse_result_lines(handle, source=source)
        first = next(rows, None)
        if first is None:
            raise InputError(f"{source}: no result rows")
        task = task or first.task
        if task is None:
            raise InputError(f"{source}: the rows carry no 'task' field; pass --task", field="task")
        # Checked before anything is written: a wrong name lists the formats that would work.
        get_format(fmt, task)
        stats = ExportStats()

        def all_rows() -> Iterator[ResultRow]:
            yield first
            yield from rows

        _write(export(all_rows(), fmt, task, options=options, stats=stats), out)
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(stats.skipped.items()))
    typer.echo(f"exported {stats.written} {task} row(s) as {fmt}"
               + (f" to {out}" if out != "-" else "") + (f"; skipped {skipped}" if skipped else ""),
               err=True)
    if stats.written == 0 and not include_pending and any(
            r.startswith(("state needs_review", "state in_review", "route review")) for r in stats.skipped):
        typer.echo("hint: --include-pending also exports labels still waiting for review", err=True)
