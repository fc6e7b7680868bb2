"""`llmlabel label`, `eval` and `estimate`: the labeling core in-process, no Redis needed."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from llmlabel.backends import build_backend
from llmlabel.cli import app
from llmlabel.cli.eval_calibration import calibrated_payload, resolve_target
from llmlabel.definitions import check_pair
from llmlabel.domain import LabelRecord, Route
from llmlabel.errors import BackendError, DefinitionError, InputError, InvalidInputError
from llmlabel.estimate import estimate_batch
from llmlabel.evaluate import EvalReport, evaluate_records
from llmlabel.guidelines import VersionRegistry
from llmlabel.labeler import Labeler
from llmlabel.settings import Settings
from llmlabel.tasks import build_task
from llmlabel.validation import MAX_DEPTH, loads

_err = Console(stderr=True)

TaskOpt = Annotated[str, typer.Option("--task", "-t", help="Task type: ner, safety, preference, instruction, classification")]
InOpt = Annotated[Path, typer.Option("--in", "-i", help="Input JSONL, one item per line with an `id`", exists=True, dir_okay=False)]
BackendOpt = Annotated[str | None, typer.Option(help="openai | anthropic | local (default: from settings / keys present)")]
ModelOpt = Annotated[str | None, typer.Option(help="Model name; for local: a GGUF path or an alias")]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible server URL")]
GuidelineOpt = Annotated[str | None, typer.Option("--guideline-version", help="A built-in guideline version (default: the latest)")]
PromptOpt = Annotated[str | None, typer.Option("--prompt-version", help="A built-in prompt version (default: the latest)")]
GuidelineFileOpt = Annotated[Path | None, typer.Option("--guideline", help="Label with this guideline file (markdown + YAML front matter) instead of a built-in", exists=True, dir_okay=False)]
PromptFileOpt = Annotated[Path | None, typer.Option("--prompt", help="Label with this prompt file (YAML: system, user) instead of a built-in", exists=True, dir_okay=False)]
ConcurrencyOpt = Annotated[int | None, typer.Option(help="Items labeled at once (default: LLMLABEL_WORKER_CONCURRENCY)")]
LimitOpt = Annotated[int | None, typer.Option(help="Only the first N items")]
FixedKOpt = Annotated[int | None, typer.Option("--fixed-k", help="Draw exactly K samples per item (no adaptive stopping)")]


def read_items(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Items of a JSONL file; a bad line raises InputError naming the line."""
    items: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                # The service's own checks: what labels here would also be accepted there.
                item = loads(raw, line=line_no, max_depth=MAX_DEPTH)
            except InvalidInputError as exc:
                raise InputError(f"{path}: {exc}", field=exc.field, line=line_no) from None
            if not isinstance(item, dict):
                raise InputError(f"{path}:{line_no}: an item is a JSON object", line=line_no)
            item_id = item.get("id")
            if not isinstance(item_id, str) or not item_id:
                raise InputError(f"{path}:{line_no}: field 'id' must be a non-empty string", field="id", line=line_no)
            if item_id in seen:
                raise InputError(f"{path}:{line_no}: id {item_id!r} repeats line {seen[item_id]}", field="id", line=line_no)
            seen[item_id] = line_no
            items.append(item)
            if limit is not None and len(items) >= limit:
                break
    if not items:
        raise InputError(f"{path}: no items")
    return items


def _definition_text(path: Path | None, kind: str, task: str, version: str | None) -> tuple[str, str]:
    """(version name, text): a local file's (named after it), else a built-in version's."""
    if path is None:
        return VersionRegistry().text(kind, task, version)
    try:
        return path.stem, path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start})") from None


def make_labeler(task: str, backend: str | None, model: str | None, base_url: str | None,
                 guideline_version: str | None, prompt_version: str | None,
                 fixed_k: int | None, guideline_file: Path | None = None,
                 prompt_file: Path | None = None) -> tuple[Labeler, Settings]:
    """A labeler with built-in versions, or local files checked like a version pushed to the API."""
    settings = settings_with(backend=backend, model=model, base_url=base_url)
    gv, guideline_text = _definition_text(guideline_file, "guideline", task, guideline_version)
    pv, prompt_text = _definition_text(prompt_file, "prompt", task, prompt_version)
    try:
        pair = check_pair(task, guideline_text, prompt_text, guideline_version=gv, prompt_version=pv)
    except DefinitionError as exc:
        path = guideline_file if exc.part == "guideline" else prompt_file
        where = f"{path}:{exc.line}: " if path and exc.line else f"{path}: " if path else ""
        raise DefinitionError(f"{where}{exc}", part=exc.part, field=exc.field, line=exc.line) from None
    labeler = Labeler(task=pair.task, prompt=pair.prompt, backend=build_backend(settings.profile()),
                      fixed_k=fixed_k)
    return labeler, settings


def validate_all(labeler: Labeler, items: list[dict[str, Any]], path: Path) -> None:
    """Check every item before spending a single call; names the first bad line and field."""
    for line_no, item in enumerate(items, start=1):
        try:
            labeler.task.validate_input(item)
        except InputError as exc:
            raise InputError(f"{path}: item {line_no} (id {item['id']!r}): {exc}", field=exc.field, line=line_no) from exc


def failed_record(labeler: Labeler, item_id: str, error: BaseException) -> LabelRecord:
    return LabelRecord(
        id=item_id, task=labeler.task.name, label=None, confidence=0.0, route=Route.REVIEW,
        reason=f"failed: {error}", samples_used=0,
        guideline_version=labeler.guideline.version, guideline_hash=labeler.guideline.content_hash,
        prompt_version=labeler.prompt.version, prompt_hash=labeler.prompt.content_hash,
        backend=labeler.backend.name, model=labeler.backend.model, error=str(error),
    )


async def label_all(labeler: Labeler, items: list[dict[str, Any]], concurrency: int,
                    on_done: Callable[[dict[str, Any], LabelRecord], Awaitable[None] | None]) -> int:
    """Label items with bounded concurrency and a progress bar; returns how many failed."""
    gate = asyncio.Semaphore(concurrency)
    failures = 0
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("review {task.fields[review]}"), TimeRemainingColumn())
    with Progress(*columns, console=_err, transient=False) as progress:
        bar = progress.add_task(f"labeling {labeler.task.name}", total=len(items), review=0)
        reviews = 0

        async def one(item: dict[str, Any]) -> None:
            nonlocal failures, reviews
            async with gate:
                try:
                    record = await labeler.label(item["id"], item)
                except BackendError as exc:
                    failures += 1
                    record = failed_record(labeler, item["id"], exc)
            reviews += record.route == Route.REVIEW
            outcome = on_done(item, record)
            if outcome is not None:
                await outcome
            progress.update(bar, advance=1, review=reviews)

        try:
            await asyncio.gather(*(one(item) for item in items))
        finally:
            await labeler.aclose()
    return failures


def output_line(item: dict[str, Any], record: LabelRecord) -> str:
    row = record.model_dump(mode="json")
    row["input"] = {k: v for k, v in item.items() if k != "id"}
    return json.dumps(row, ensure_ascii=False)


@app.command("label")
def label_command(
    task: TaskOpt,
    in_path: InOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL ('-' for stdout)")] = Path("-"),
    backend: BackendOpt = None, model: ModelOpt = None, base_url: BaseUrlOpt = None,
    guideline_version: GuidelineOpt = None, prompt_version: PromptOpt = None,
    concurrency: ConcurrencyOpt = None, limit: LimitOpt = None, fixed_k: FixedKOpt = None,
    guideline_file: GuidelineFileOpt = None, prompt_file: PromptFileOpt = None,
) -> None:
    """Label a JSONL file in-process and write one JSON line per item."""
    items = read_items(in_path, limit)
    labeler, settings = make_labeler(task, backend, model, base_url, guideline_version, prompt_version, fixed_k,
                                     guideline_file, prompt_file)
    validate_all(labeler, items, in_path)
    sink: TextIO = sys.stdout if str(out) == "-" else out.open("w", encoding="utf-8")
    try:
        def write(item: dict[str, Any], record: LabelRecord) -> None:
            sink.write(output_line(item, record) + "\n")
            sink.flush()

        failures = asyncio.run(label_all(labeler, items, concurrency or settings.worker_concurrency, write))
    finally:
        if sink is not sys.stdout:
            sink.close()
    _err.print(f"labeled {len(items) - failures} of {len(items)} items with {labeler.backend.model}"
               + (f"; {failures} failed (see 'error' in the output)" if failures else ""))
    if failures == len(items):
        raise typer.Exit(1)


@app.command("eval")
def eval_command(
    task: TaskOpt, in_path: InOpt,
    backend: BackendOpt = None, model: ModelOpt = None, base_url: BaseUrlOpt = None,
    guideline_version: GuidelineOpt = None, prompt_version: PromptOpt = None,
    concurrency: ConcurrencyOpt = None, limit: LimitOpt = None, fixed_k: FixedKOpt = None,
    guideline_file: GuidelineFileOpt = None, prompt_file: PromptFileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the labels as JSONL")] = None,
    rescore: Annotated[Path | None, typer.Option(
        "--rescore", help="Score labels written earlier by --out instead of labeling again", exists=True,
        dir_okay=False)] = None,
    calibrate: Annotated[Path | None, typer.Option(
        "--calibrate", help="Gold JSONL to fit the threshold on (labeled first); --in is reported on",
        exists=True, dir_okay=False)] = None,
    target_precision: Annotated[float | None, typer.Option(
        "--target-precision", help="Precision the fitted threshold aims at (default: the version's)")] = None,
) -> None:
    """Label items that carry gold labels and report quality, review rate and confidence quality.

    With --fixed-k, the report also shows what adaptive sampling would have given on the
    same samples (replayed over each item's first samples), so one run compares both.
    With --calibrate GOLD, GOLD is labeled too, the score and threshold are fitted on
    it, and the report on --in items is made at the fitted threshold.
    """
    items = read_items(in_path, limit)
    labeler, settings = make_labeler(task, backend, model, base_url, guideline_version, prompt_version, fixed_k,
                                     guideline_file, prompt_file)
    validate_all(labeler, items, in_path)
    golds = gold_labels(labeler, items, in_path)
    cal_items: list[dict[str, Any]] = []
    cal_golds: dict[str, Any] = {}
    target = 0.0
    if calibrate is not None:
        target = resolve_target(labeler, target_precision)
        cal_items = read_items(calibrate, limit)
        validate_all(labeler, cal_items, calibrate)
        cal_golds = gold_labels(labeler, cal_items, calibrate)
        shared = sorted(set(cal_golds) & set(golds))
        if shared:
            raise InputError(f"{calibrate}: {len(shared)} item(s) also in --in, e.g. {shared[0]!r}; "
                             "calibrate and report on disjoint items")
    everything = cal_items + items
    if rescore is not None:
        records, failures = read_records(rescore, {**golds, **cal_golds})
    else:
        records, failures = run_labeling(labeler, everything, concurrency or settings.worker_concurrency, out)
    by_id = {item["id"]: item for item in everything}
    if calibrate is not None:
        payload = calibrated_payload(
            labeler, by_id, [r for r in records if r.id in cal_golds], [r for r in records if r.id in golds],
            cal_golds, golds, target, failed=failures, replay=fixed_k is not None or rescore is not None)
        if as_json:
            typer.echo(json.dumps(payload))
        else:
            print_calibrated(payload)
        return
    records = [r for r in records if r.id in golds]
    scored = [(record, golds[record.id]) for record in records if record.error is None]
    report = evaluate_records(labeler.task, scored, failed=failures)  # type: ignore[arg-type]
    replayed = None
    if fixed_k is not None or rescore is not None:
        replay = [(labeler.replay_adaptive(by_id[r.id], r), gold) for r, gold in scored]
        replayed = evaluate_records(labeler.task, replay, failed=failures)  # type: ignore[arg-type]
    if as_json:
        payload = report.model_dump(mode="json")
        if replayed is not None:
            payload["adaptive_replay"] = replayed.model_dump(mode="json")
        typer.echo(json.dumps(payload))
        return
    print_reports(report, replayed)


def gold_labels(labeler: Labeler, items: list[dict[str, Any]], path: Path) -> dict[str, Any]:
    """Each item's gold label; an item without one is refused."""
    golds = {item["id"]: labeler.task.gold_label(item) for item in items}
    missing = [item_id for item_id, gold in golds.items() if gold is None]
    if missing:
        raise InputError(f"{path}: {len(missing)} item(s) carry no gold label, e.g. {missing[0]!r}")
    return golds


def print_calibrated(payload: dict[str, Any]) -> None:
    """The calibrated report as a table: fitted threshold, accepted precision, signals."""
    def fmt(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    sides = [("calibrated", payload)] + ([("adaptive (replayed)", payload["adaptive_replay"])]
                                         if "adaptive_replay" in payload else [])
    table = Table(title=f"{payload['task']}: {payload['n']} items reported, {payload['model']}")
    table.add_column("metric")
    for name, _ in sides:
        table.add_column(name, justify="right")
    keys = ["calibration_status", "threshold_source", "score_signal", "threshold", "accepted_n",
            "accepted_precision", "review_rate", "calibration_evidence", "samples_per_item"]
    for key in keys:
        table.add_row(key, *(fmt(side.get(key)) for _, side in sides))
    for signal in payload["auroc"]:
        table.add_row(f"AUROC {signal}", *(fmt(side["auroc"].get(signal)) for _, side in sides))
    Console().print(table)
    _err.print(payload["calibration_reason"])


def run_labeling(labeler: Labeler, items: list[dict[str, Any]], concurrency: int,
                 out: Path | None) -> tuple[list[LabelRecord], int]:
    records: list[LabelRecord] = []
    sink = out.open("w", encoding="utf-8") if out else None

    def keep(item: dict[str, Any], record: LabelRecord) -> None:
        records.append(record)
        if sink:
            sink.write(output_line(item, record) + "\n")
            sink.flush()

    try:
        failures = asyncio.run(label_all(labeler, items, concurrency, keep))
    finally:
        if sink:
            sink.close()
    return records, failures


def read_records(path: Path, golds: dict[str, Any]) -> tuple[list[LabelRecord], int]:
    """Label records written by --out earlier, restricted to the items being scored."""
    records = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            try:
                record = LabelRecord.model_validate_json(line)
            except ValueError as exc:
                raise InputError(f"{path}:{line_no}: not a label record: {exc}", line=line_no) from None
            if record.id in golds:
                records.append(record)
    return records, sum(1 for r in records if r.error is not None)


def settings_with(*, backend: str | None, model: str | None, base_url: str | None) -> Settings:
    """The environment's settings, with the options given on the command line on top."""
    given = {"backend": backend, "model": model, "base_url": base_url}
    # Only what was given: an omitted option keeps the environment's value or the default.
    return Settings(**{k: v for k, v in given.items() if v})  # type: ignore[arg-type]


def _entry(field: str, key: str) -> Callable[[EvalReport], float | None]:
    """Reads `report.<field>[key]` (None when the report has no such entry)."""
    return lambda report: getattr(report, field).get(key)


def _bias(field: str) -> Callable[[EvalReport], float | None]:
    """Reads one position-bias figure of a preference report."""
    return lambda report: getattr(report.position_bias, field) if report.position_bias else None


def print_reports(report: EvalReport, replayed: EvalReport | None) -> None:
    title = f"{report.task}: {report.n} items, {report.model}"
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("fixed-k" if replayed else "value", justify="right")
    if replayed:
        table.add_column("adaptive (replayed)", justify="right")

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    def row(name: str, pick: Callable[[EvalReport], float | None]) -> None:
        cells = [fmt(pick(report))] + ([fmt(pick(replayed))] if replayed else [])
        table.add_row(name, *cells)

    for name in report.quality:
        row(f"quality.{name}", _entry("quality", name))
    row("review rate", lambda r: r.review_rate)
    for name in report.auroc:
        row(f"AUROC {name}", _entry("auroc", name))
        row(f"errors in lowest 20% ({name})", _entry("errors_in_lowest_20pct", name))
    row("samples per item", lambda r: r.samples_per_item)
    row("failed", lambda r: float(r.failed))
    if report.position_bias is not None:
        # Preference: a biased model picks the first-shown response more often than chance.
        for name, field in [("first-shown share", "first_shown_share"),
                            ("  chance (order-blind)", "chance_first_shown"),
                            ("order consistency", "order_consistency")]:
            row(name, _bias(field))
    Console().print(table)


@app.command("estimate")
def estimate_command(
    task: TaskOpt, in_path: InOpt,
    backend: BackendOpt = None, model: ModelOpt = None, base_url: BaseUrlOpt = None,
    guideline_version: GuidelineOpt = None, prompt_version: PromptOpt = None,
    limit: LimitOpt = None,
    offline: Annotated[bool, typer.Option("--offline", help="Price at the providers' batch-API rate")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """What labeling a JSONL file would cost: calls, tokens and USD as a range, and the time at the rate limit.

    Renders the prompts of a sample of the items and counts their tokens; no provider is called.
    """
    items = read_items(in_path, limit)
    settings = settings_with(backend=backend, model=model, base_url=base_url)
    registry = VersionRegistry()
    task_impl = build_task(registry.guideline(task, guideline_version))
    prompt = registry.prompt(task, prompt_version)
    for line_no, item in enumerate(items, start=1):
        try:
            task_impl.validate_input(item)
        except InputError as exc:
            raise InputError(f"{in_path}: item {line_no} (id {item['id']!r}): {exc}", field=exc.field, line=line_no) from exc
    result = estimate_batch(task_impl, prompt, settings.profile(), items, mode="offline" if offline else "sync")
    if as_json:
        typer.echo(result.model_dump_json())
        return
    table = Table(title=f"{task}: {result.items} items, {result.model} ({result.mode})")
    for column in ("", "initial round only", "expected", "up to the cap"):
        table.add_column(column, justify="right")
    table.add_row("calls", str(result.calls_min), str(result.calls_expected), str(result.calls_max))
    table.add_row("tokens", f"{result.tokens_min:,}", f"{result.tokens_expected:,}", f"{result.tokens_max:,}")
    table.add_row("USD", f"{result.cost_usd_min:.4f}", f"{result.cost_usd_expected:.4f}", f"{result.cost_usd_max:.4f}")
    Console().print(table)
    minutes = result.minutes_at_rate_limit
    _err.print(f"{result.basis}; " + (f"{minutes:.1f} min at the configured rate limit" if minutes is not None
                                      else "no rate limit configured (LLMLABEL_REQUESTS_PER_MINUTE)"))
