"""`label-studio`: a JSON array of Label Studio tasks carrying llmlabel's labels as predictions.

Follows Label Studio's "Import pre-annotated data" guide: each task is
`{"data": {...}, "predictions": [{"model_version", "score", "result": [...]}]}`,
every result has a unique `id`, `from_name`/`to_name` naming the control and
object tags of the project's labeling config, `type` and a `value`. The score
is the label's confidence. `labeling_config(task, labels)` writes a config whose
tag names match these results:

- ner: `Labels name="label" toName="text"`; value `{start, end, text, labels: [label]}`.
- safety: `Choices name="flags" choice="multiple"` with the flagged categories
  (no result when nothing is flagged) and `TextArea name="rationale"`.
- classification: `Choices name="label"`, one choice or several.
- preference: two responses use `Pairwise name="pw" toName="text1,text2"`; its
  result names the control itself as `to_name` (that is how Label Studio's
  editor stores it) and `value.selected` is "left" (text1) or "right" (text2).
  More responses use `Choices name="best"` whose choice is the best text's key.
- instruction: `TextArea name="response"` and `Choices name="category"`; a rate
  label uses `Rating name="quality"` and `Choices name="issues"`.

The item id travels in `data.item_id` so labels can be matched back after review.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from llmlabel.errors import InputError
from llmlabel.exports.ner import entities_of
from llmlabel.exports.rows import ExportOptions, ExportStats, ResultRow, dump_json

__all__ = ["export_label_studio", "labeling_config", "task_of"]

Result = dict[str, Any]


def _result(row: ResultRow, n: int, kind: str, from_name: str, to_name: str, value: dict[str, Any]) -> Result:
    # Label Studio wants result ids unique across the import; a hash of (item, position) is
    # unique and stable, so re-exporting the same rows gives the same file.
    digest = hashlib.sha1(f"{row.id}\x00{n}".encode()).hexdigest()[:12]
    return {"id": digest, "from_name": from_name, "to_name": to_name, "type": kind, "value": value}


def _ner(row: ResultRow) -> tuple[dict[str, Any], list[Result]]:
    text = row.text_input("text")
    results = [_result(row, n, "labels", "label", "text",
                       {"start": s, "end": e, "text": text[s:e], "labels": [label]})
               for n, (s, e, label) in enumerate(sorted(entities_of(row, text)))]
    return {"text": text}, results


def _safety(row: ResultRow) -> tuple[dict[str, Any], list[Result]]:
    flags = (row.label or {}).get("flags")
    if not isinstance(flags, dict):
        raise row.error("label 'flags' must map categories to true/false",
                        field="label.flags")
    results = []
    flagged = [name for name, on in flags.items() if on is True]
    if flagged:
        results.append(_result(row, 0, "choices", "flags", "text", {"choices": flagged}))
    rationale = (row.label or {}).get("rationale")
    if isinstance(rationale, str) and rationale.strip():
        results.append(_result(row, 1, "textarea", "rationale", "text", {"text": [rationale]}))
    return {"text": row.text_input("text")}, results


def _classification(row: ResultRow) -> tuple[dict[str, Any], list[Result]]:
    label = row.label or {}
    choices = [label["label"]] if isinstance(label.get("label"), str) else label.get("labels")
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise row.error("label needs 'label' (a string) or 'labels' (a list of strings)",
                        field="label")
    results = [_result(row, 0, "choices", "label", "text", {"choices": choices})] if choices else []
    return {"text": row.text_input("text")}, results


def _preference(row: ResultRow) -> tuple[dict[str, Any], list[Result]]:
    responses = row.input.get("responses")
    ranking = (row.label or {}).get("ranking")
    if not isinstance(responses, list) or len(responses) < 2:
        raise row.error("input field 'responses' must list 2 or more responses",
                        field="input.responses")
    if not isinstance(ranking, list) or not ranking or ranking[0] not in range(len(responses)):
        raise row.error(f"label 'ranking' must start with a response index, "
                        f"got {ranking!r}", field="label.ranking")
    data = {"prompt": row.text_input("prompt"),
            **{f"text{i + 1}": response for i, response in enumerate(responses)}}
    best = ranking[0]
    if len(responses) == 2:
        return data, [_result(row, 0, "pairwise", "pw", "pw", {"selected": "left" if best == 0 else "right"})]
    return data, [_result(row, 0, "choices", "best", "prompt", {"choices": [f"text{best + 1}"]})]


def _instruction(row: ResultRow) -> tuple[dict[str, Any], list[Result]]:
    label = row.label or {}
    data = {"instruction": row.text_input("instruction"),
            "context": row.text_input("context", required=False)}
    results: list[Result] = []
    if isinstance(label.get("response"), str):
        results.append(_result(row, 0, "textarea", "response", "instruction", {"text": [label["response"]]}))
        if isinstance(label.get("category"), str):
            results.append(_result(row, 1, "choices", "category", "instruction",
                                   {"choices": [label["category"]]}))
        return data, results
    quality = label.get("quality")
    if not isinstance(quality, int) or isinstance(quality, bool):
        raise row.error("label needs 'response' (generate) or 'quality' (rate)",
                        field="label")
    data["response"] = row.text_input("response")
    results.append(_result(row, 0, "rating", "quality", "instruction", {"rating": quality}))
    issues = label.get("issues")
    if isinstance(issues, list) and issues:
        results.append(_result(row, 1, "choices", "issues", "instruction", {"choices": list(issues)}))
    return data, results


_BUILDERS = {
    "ner": _ner,
    "safety": _safety,
    "classification": _classification,
    "preference": _preference,
    "instruction": _instruction,
}


def task_of(row: ResultRow, task: str) -> dict[str, Any]:
    """One Label Studio task (data + one prediction) for a result row."""
    data, results = _BUILDERS[task](row)
    data["item_id"] = row.id
    if row.source == "human":
        model_version = "human"
    else:
        model_version = "/".join(v for v in (row.model, row.guideline_version, row.prompt_version) if v)
    prediction: dict[str, Any] = {"model_version": model_version or "llmlabel", "result": results}
    if row.confidence is not None:
        prediction["score"] = row.confidence
    return {"data": data, "predictions": [prediction]}


def export_label_studio(rows: Iterable[ResultRow], task: str, options: ExportOptions,
                        stats: ExportStats) -> Iterator[str]:
    """A JSON array, streamed one task per chunk (`[`, tasks joined by `,`, `]`)."""
    yield "["
    for row in rows:
        chunk = dump_json(task_of(row, task))
        yield ("\n" if stats.written == 0 else ",\n") + chunk
        stats.written += 1
    yield "\n]\n"


def _choices(name: str, to_name: str, values: Sequence[str], *, multiple: bool) -> str:
    kind = ' choice="multiple"' if multiple else ""
    inner = "".join(f"<Choice value={quoteattr(v)}/>" for v in values)
    return f"<Choices name={quoteattr(name)} toName={quoteattr(to_name)}{kind}>{inner}</Choices>"


def labeling_config(task: str, labels: Sequence[str] = (), *, responses: int = 2,
                    rate: bool = False, issues: Sequence[str] = ()) -> str:
    """A Label Studio labeling config (XML) whose tag names match this module's results.

    `labels` are the entity labels (ner), categories (safety), classes
    (classification) or instruction categories; `responses` is how many
    responses a preference item has; `rate` asks for the instruction rate-mode
    config (`issues` are its issue choices).
    """
    if task == "ner":
        inner = "".join(f"<Label value={quoteattr(v)}/>" for v in labels)
        body = f'<Labels name="label" toName="text">{inner}</Labels><Text name="text" value="$text"/>'
    elif task == "safety":
        body = ('<Text name="text" value="$text"/>' + _choices("flags", "text", labels, multiple=True)
                + '<TextArea name="rationale" toName="text"/>')
    elif task == "classification":
        body = '<Text name="text" value="$text"/>' + _choices("label", "text", labels, multiple=True)
    elif task == "preference":
        texts = "".join(f'<Text name="text{i}" value="$text{i}"/>' for i in range(1, responses + 1))
        body = '<Text name="prompt" value="$prompt"/>' + texts
        if responses == 2:
            body += '<Pairwise name="pw" toName="text1,text2"/>'
        else:
            body += _choices("best", "prompt", [f"text{i}" for i in range(1, responses + 1)], multiple=False)
    elif task == "instruction" and rate:
        body = ('<Text name="instruction" value="$instruction"/><Text name="context" value="$context"/>'
                '<Text name="given_response" value="$response"/>'
                '<Rating name="quality" toName="instruction" maxRating="5"/>'
                + _choices("issues", "instruction", issues, multiple=True))
    elif task == "instruction":
        body = ('<Text name="instruction" value="$instruction"/><Text name="context" value="$context"/>'
                '<TextArea name="response" toName="instruction"/>'
                + _choices("category", "instruction", labels, multiple=False))
    else:
        raise InputError(f"no Label Studio config for task {task!r}")
    return f"<View>{body}</View>"
