"""Guideline feedback: where people and the LLM disagree, per label, category or span type.

Pure functions over reviewed items (a pilot batch's, or a version's): each item
brings the LLM's label, the reviewer's final label (None: rejected) and, when a
second reviewer decided it too, the second label. The report answers "which
sentence of the guideline do I sharpen": per row (what a row is depends on the
task),

    classification  one row per label the LLM gave (multi-label: per label,
                    present "yes" / absent "no")
    safety          one row per category, the flag "true" / "false"
    ner             one row per span type: each LLM span is kept, retyped,
                    re-bounded or removed; each span people added is "missed"
    preference      "best" (the response ranked first) and "ranking" (the order)
    instruction     "category", "quality" (rate mode) and "response" (rewritten)

the number of judgments, how many people changed (`fix_rate`), the confusions
"LLM said X, people said Y" with a few example items, and how two reviewers of
the same items agree on that row (share equal and Krippendorff's alpha,
`agreement.krippendorff_alpha_nominal`). The overall measures reuse
`agreement.agreement_summary` and `reviewer_agreement.reviewer_agreement`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmlabel.agreement import AgreementSummary, agreement_summary, krippendorff_alpha_nominal
from llmlabel.reviewer_agreement import ReviewerAgreement, reviewer_agreement
from llmlabel.tasks import Task

__all__ = [
    "Confusion",
    "Example",
    "FeedbackItem",
    "FeedbackReport",
    "FeedbackRow",
    "RowAgreement",
    "build_feedback",
    "snippet",
]

Label = dict[str, Any]
MAX_EXAMPLES = 3
"""Example items kept per confusion."""
SNIPPET_CHARS = 120
_NONE = "no span"


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    """One reviewed item as the report needs it (built by the caller from the store)."""

    item_id: str
    id: str
    text: str
    state: Literal["approved", "fixed", "rejected"]
    llm: Label | None
    people: Label | None
    # The second reviewer's label; None when not reviewed twice or the second rejected.
    second: Label | None = None
    twice: bool = False


class Example(BaseModel):
    """An item behind a confusion."""

    model_config = ConfigDict(extra="forbid")

    item_id: str
    id: str
    snippet: str
    detail: str | None = Field(None, description="e.g. the span's text")


class Confusion(BaseModel):
    """LLM said `llm`, people said `people`, `count` times."""

    model_config = ConfigDict(extra="forbid")

    row: str
    llm: str
    people: str
    count: int
    examples: list[Example]


class RowAgreement(BaseModel):
    """Two reviewers of the same items on one row."""

    model_config = ConfigDict(extra="forbid")

    n_pairs: int
    agreement: float | None = Field(description="share of pairs with the same value")
    alpha: float | None = Field(description="Krippendorff's alpha (nominal)")


class FeedbackRow(BaseModel):
    """One label, category or span type."""

    model_config = ConfigDict(extra="forbid")

    row: str
    judged: int = Field(description="LLM judgments on this row that people reviewed")
    changed: int = Field(description="judgments people changed")
    fix_rate: float | None = Field(description="changed / judged")
    confusions: list[Confusion]
    reviewers: RowAgreement | None = Field(None, description="from items reviewed twice")


class FeedbackReport(BaseModel):
    """Where people and the LLM disagree, for one task (a batch or a version)."""

    model_config = ConfigDict(extra="forbid")

    task: str
    reviewed: int
    approved: int
    fixed: int
    rejected: int
    fix_rate: float | None = Field(description="fixed / (approved + fixed)")
    reviewed_twice: int
    rows: list[FeedbackRow] = Field(description="most changed first")
    confusions: list[Confusion] = Field(description="every confusion, most frequent first")
    summary: AgreementSummary | None = Field(description="LLM vs people, the usual measures")
    reviewers: ReviewerAgreement | None = Field(description="reviewer vs reviewer, overall")


def snippet(item_input: dict[str, Any]) -> str:
    """The start of an item's main text, for examples."""
    for name in ("text", "prompt", "instruction"):
        value = item_input.get(name)
        if isinstance(value, str):
            return value[:SNIPPET_CHARS]
    first = next((v for v in item_input.values() if isinstance(v, str)), "")
    return first[:SNIPPET_CHARS]


# A judgment: (row, what the LLM said, what people said, detail for the example).
Judgment = tuple[str, str, str, str | None]


def _classes(label: Label) -> set[str]:
    return {label["label"]} if "label" in label else set(label.get("labels", []))


def _classification(llm: Label, people: Label, _text: str) -> list[Judgment]:
    if "label" in llm and "label" in people:
        return [(str(llm["label"]), str(llm["label"]), str(people["label"]), None)]
    a, b = _classes(llm), _classes(people)
    return [
        (name, "yes" if name in a else "no", "yes" if name in b else "no", None)
        for name in sorted(a | b)
    ]


def _safety(llm: Label, people: Label, _text: str) -> list[Judgment]:
    out: list[Judgment] = []
    theirs = people.get("flags", {})
    for name, mine in llm.get("flags", {}).items():
        other = theirs.get(name)
        if isinstance(mine, bool) and isinstance(other, bool):
            out.append((name, str(mine).lower(), str(other).lower(), None))
    return out


Span = tuple[int, int, str]


def _span_list(label: Label) -> list[Span]:
    return sorted(
        (int(e["start"]), int(e["end"]), str(e["label"])) for e in label.get("entities", [])
    )


def _ner(llm: Label, people: Label, text: str) -> list[Judgment]:
    """Each LLM span against people's: kept, retyped, other boundary or removed; then missed."""
    mine, theirs = _span_list(llm), _span_list(people)
    left = [s for s in theirs if s not in mine]
    out: list[Judgment] = []
    for start, end, kind in mine:
        quote = text[start:end] or None
        if (start, end, kind) in theirs:
            out.append((kind, kind, kind, quote))
            continue
        same_range = next((s for s in left if s[:2] == (start, end)), None)
        overlap = same_range or next(
            (s for s in left if s[0] < end and start < s[1]), None
        )
        if overlap is None:
            out.append((kind, kind, _NONE, quote))
            continue
        left.remove(overlap)
        other = overlap[2] if overlap[:2] == (start, end) else f"{overlap[2]} (other boundary)"
        out.append((kind, kind, other, quote))
    out.extend((kind, _NONE, kind, text[start:end] or None) for start, end, kind in left)
    return out


def _ranking(label: Label) -> list[int]:
    return [int(i) for i in label.get("ranking") or []]


def _preference(llm: Label, people: Label, _text: str) -> list[Judgment]:
    a, b = _ranking(llm), _ranking(people)
    if not a or not b:
        return []
    return [
        ("best", f"response {a[0]}", f"response {b[0]}", None),
        ("ranking", ">".join(map(str, a)), ">".join(map(str, b)), None),
    ]


def _instruction(llm: Label, people: Label, _text: str) -> list[Judgment]:
    out: list[Judgment] = []
    for name in ("category", "quality"):
        if name in llm and name in people:
            out.append((name, str(llm[name]), str(people[name]), None))
    if "response" in llm and "response" in people:
        same = str(llm["response"]).strip() == str(people["response"]).strip()
        out.append(("response", "as written", "as written" if same else "rewritten", None))
    return out


def _values(task: str, label: Label) -> dict[str, Hashable]:
    """A label's value per row, for reviewer-vs-reviewer agreement (missing: see `_DEFAULT`)."""
    if task == "classification":
        return dict.fromkeys(_classes(label), "yes")
    if task == "safety":
        return {k: v for k, v in label.get("flags", {}).items() if isinstance(v, bool)}
    if task == "ner":
        spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for start, end, kind in _span_list(label):
            spans[kind].append((start, end))
        return {kind: tuple(found) for kind, found in spans.items()}
    if task == "preference":
        ranking = _ranking(label)
        return {"best": ranking[0], "ranking": tuple(ranking)} if ranking else {}
    return {k: str(label[k]).strip() for k in ("category", "quality", "response") if k in label}


# What a row's value is when a label does not name it (absent label, no span of a type).
_DEFAULT: dict[str, Hashable] = {"classification": "no", "ner": ()}

_JUDGE: dict[str, Callable[[Label, Label, str], list[Judgment]]] = {
    "classification": _classification,
    "safety": _safety,
    "ner": _ner,
    "preference": _preference,
    "instruction": _instruction,
}


@dataclass
class _Row:
    judged: int = 0
    changed: int = 0
    confusions: dict[tuple[str, str], list[Example]] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))


def _row_agreement(
    task: str, row: str, pairs: list[tuple[Label, Label]]
) -> RowAgreement | None:
    default = _DEFAULT.get(task)
    units = []
    for first, second in pairs:
        a = _values(task, first).get(row, default)
        b = _values(task, second).get(row, default)
        if a is not None and b is not None:
            units.append((a, b))
    if not units:
        return None
    return RowAgreement(
        n_pairs=len(units),
        agreement=sum(a == b for a, b in units) / len(units),
        alpha=krippendorff_alpha_nominal(units),
    )


def build_feedback(
    task_name: str, items: Iterable[FeedbackItem], task: Task | None = None
) -> FeedbackReport:
    """The feedback report of reviewed items of one task.

    `task` judges two reviewers' labels equal for the overall reviewer agreement
    (`Task.is_correct`); without it, labels must be identical.
    """
    judge = _JUDGE.get(task_name)
    rows: dict[str, _Row] = {}
    counts = {"approved": 0, "fixed": 0, "rejected": 0}
    pairs: list[tuple[Label | None, Label | None]] = []
    twice: list[tuple[Label | None, Label | None]] = []
    for item in items:
        counts[item.state] += 1
        pairs.append((item.llm, item.people))
        if item.twice:
            twice.append((item.people, item.second))
        if judge is None or item.llm is None or item.people is None:
            continue
        for row, said, corrected, detail in judge(item.llm, item.people, item.text):
            entry = rows.setdefault(row, _Row())
            entry.judged += 1
            if said == corrected:
                continue
            entry.changed += 1
            key = (said, corrected)
            entry.counts[key] += 1
            examples = entry.confusions.setdefault(key, [])
            if len(examples) < MAX_EXAMPLES:
                examples.append(Example(item_id=item.item_id, id=item.id,
                                        snippet=item.text[:SNIPPET_CHARS], detail=detail))
    both = [(a, b) for a, b in twice if a is not None and b is not None]
    out_rows: list[FeedbackRow] = []
    every: list[Confusion] = []
    for name, entry in rows.items():
        confusions = sorted(
            (Confusion(row=name, llm=said, people=corrected, count=entry.counts[(said, corrected)],
                       examples=examples)
             for (said, corrected), examples in entry.confusions.items()),
            key=lambda c: (-c.count, c.llm, c.people),
        )
        every.extend(confusions)
        out_rows.append(FeedbackRow(
            row=name,
            judged=entry.judged,
            changed=entry.changed,
            fix_rate=entry.changed / entry.judged if entry.judged else None,
            confusions=confusions,
            reviewers=_row_agreement(task_name, name, both) if both else None,
        ))
    out_rows.sort(key=lambda r: (-(r.fix_rate or 0.0), -r.judged, r.row))
    every.sort(key=lambda c: (-c.count, c.row, c.llm, c.people))
    decided = counts["approved"] + counts["fixed"]
    return FeedbackReport(
        task=task_name,
        reviewed=sum(counts.values()),
        approved=counts["approved"],
        fixed=counts["fixed"],
        rejected=counts["rejected"],
        fix_rate=counts["fixed"] / decided if decided else None,
        reviewed_twice=len(twice),
        rows=out_rows,
        confusions=every,
        summary=agreement_summary(task_name, pairs) if judge is not None and pairs else None,
        reviewers=reviewer_agreement(task_name, twice, task) if twice else None,
    )
