"""The guideline feedback report (pure), every figure worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from llmlabel.feedback import FeedbackItem, build_feedback, snippet


def item(n: int, llm: dict[str, Any] | None, people: dict[str, Any] | None, *,
         state: str = "fixed", second: dict[str, Any] | None = None, text: str = "",
         twice: bool | None = None) -> FeedbackItem:
    return FeedbackItem(item_id=f"b:{n}", id=f"c{n}", text=text or f"text {n}",
                        state=state, llm=llm, people=people, second=second,  # type: ignore[arg-type]
                        twice=second is not None if twice is None else twice)


def cls(value: str) -> dict[str, Any]:
    return {"label": value}


def test_classification_rows_are_the_llm_labels_with_fix_rates_and_confusions() -> None:
    # LLM positive x4: people keep 2, say negative 1, neutral 1 -> 2/4 changed.
    # LLM negative x2: people keep 1, say positive 1 -> 1/2. One rejection: no judgment.
    items = [
        item(0, cls("positive"), cls("positive"), state="approved"),
        item(1, cls("positive"), cls("positive"), state="approved"),
        item(2, cls("positive"), cls("negative")),
        item(3, cls("positive"), cls("neutral")),
        item(4, cls("negative"), cls("negative"), state="approved"),
        item(5, cls("negative"), cls("positive")),
        item(6, cls("negative"), None, state="rejected"),
    ]
    report = build_feedback("classification", items)
    assert (report.reviewed, report.approved, report.fixed, report.rejected) == (7, 3, 3, 1)
    assert report.fix_rate == pytest.approx(3 / 6)
    rows = {r.row: r for r in report.rows}
    assert (rows["positive"].judged, rows["positive"].changed) == (4, 2)
    assert rows["positive"].fix_rate == pytest.approx(0.5)
    assert (rows["negative"].judged, rows["negative"].changed) == (2, 1)
    assert [(c.llm, c.people, c.count) for c in rows["positive"].confusions] == [
        ("positive", "negative", 1), ("positive", "neutral", 1)]
    [confusion] = rows["negative"].confusions
    assert [e.id for e in confusion.examples] == ["c5"]
    assert confusion.examples[0].snippet == "text 5"
    assert len(report.confusions) == 3
    assert report.summary is not None and report.summary.n_pairs == 6
    assert report.reviewers is None and report.reviewed_twice == 0


def flags(*raised: str) -> dict[str, Any]:
    return {"flags": {c: c in raised for c in ("hate", "violence")}}


def test_safety_rows_per_category_with_reviewer_agreement() -> None:
    # hate: LLM T,T,F,F; people T,F,F,T -> 2 of 4 changed (T->F once, F->T once).
    # violence: LLM F,F,F,F; people F,F,F,F -> 0 of 4.
    # Second reviewer on hate: people T,F,F,T vs second T,F,T,T -> 3/4 equal;
    # alpha: coincidences o_TT=4, o_FF=2, o_TF=o_FT=1: n_T=5, n_F=3, n=8,
    # alpha = 1 - 7 * 2 / (2 * 5 * 3) = 1 - 14/30 = 8/15.
    seconds = [flags("hate"), flags(), flags("hate"), flags("hate")]
    items = [
        item(0, flags("hate"), flags("hate"), state="approved", second=seconds[0]),
        item(1, flags("hate"), flags(), second=seconds[1]),
        item(2, flags(), flags(), state="approved", second=seconds[2]),
        item(3, flags(), flags("hate"), second=seconds[3]),
    ]
    report = build_feedback("safety", items)
    rows = {r.row: r for r in report.rows}
    assert [r.row for r in report.rows] == ["hate", "violence"], "most changed first"
    assert (rows["hate"].judged, rows["hate"].changed) == (4, 2)
    assert rows["violence"].fix_rate == 0.0
    assert {(c.llm, c.people) for c in rows["hate"].confusions} == {("true", "false"),
                                                                    ("false", "true")}
    agreement = rows["hate"].reviewers
    assert agreement is not None
    assert agreement.n_pairs == 4 and agreement.agreement == pytest.approx(3 / 4)
    assert agreement.alpha == pytest.approx(8 / 15)
    violence = rows["violence"].reviewers
    assert violence is not None and violence.agreement == 1.0 and violence.alpha is None
    assert report.reviewers is not None and report.reviewers.agreement == pytest.approx(3 / 4)


def spans(*entities: tuple[int, int, str]) -> dict[str, Any]:
    return {"entities": [{"start": s, "end": e, "label": k} for s, e, k in entities]}


def test_ner_spans_kept_retyped_rebounded_removed_and_missed() -> None:
    text = "Mike flew to Paris with Acme Corp"
    #        0    5    10   15   20   25   30
    llm = spans((0, 4, "person"), (13, 18, "person"), (24, 28, "corporation"), (5, 9, "product"))
    people = spans((0, 4, "person"), (13, 18, "location"), (24, 33, "corporation"))
    # person: Mike kept, Paris retyped to location -> 1 of 2 changed.
    # corporation: Acme -> Acme Corp, other boundary -> 1 of 1.
    # product: "flew" removed -> 1 of 1. Nothing missed.
    report = build_feedback("ner", [item(0, llm, people, text=text)])
    rows = {r.row: r for r in report.rows}
    assert (rows["person"].judged, rows["person"].changed) == (2, 1)
    [retyped] = rows["person"].confusions
    assert (retyped.llm, retyped.people) == ("person", "location")
    assert retyped.examples[0].detail == "Paris"
    [bound] = rows["corporation"].confusions
    assert bound.people == "corporation (other boundary)" and bound.examples[0].detail == "Acme"
    [removed] = rows["product"].confusions
    assert (removed.llm, removed.people, removed.examples[0].detail) == ("product", "no span", "flew")
    # People add a span the LLM missed: the person row, LLM "no span".
    missed = build_feedback("ner", [item(1, spans(), spans((0, 4, "person")), text=text)])
    [row] = missed.rows
    assert (row.row, row.judged, row.changed) == ("person", 1, 1)
    assert (row.confusions[0].llm, row.confusions[0].people) == ("no span", "person")


def test_preference_best_and_ranking_rows() -> None:
    items = [
        item(0, {"ranking": [0, 1, 2]}, {"ranking": [1, 0, 2]}),
        item(1, {"ranking": [0, 1, 2]}, {"ranking": [0, 2, 1]}),
        item(2, {"ranking": [2, 1, 0]}, {"ranking": [2, 1, 0]}, state="approved"),
    ]
    rows = {r.row: r for r in build_feedback("preference", items).rows}
    assert (rows["best"].judged, rows["best"].changed) == (3, 1)
    assert (rows["best"].confusions[0].llm, rows["best"].confusions[0].people) == (
        "response 0", "response 1")
    assert (rows["ranking"].judged, rows["ranking"].changed) == (3, 2)


def test_instruction_fields_and_snippets() -> None:
    llm = {"category": "open_qa", "response": "Paris."}
    people = {"category": "closed_qa", "response": "Paris is the capital."}
    rows = {r.row: r for r in build_feedback("instruction", [item(0, llm, people)]).rows}
    assert rows["category"].changed == 1 and rows["response"].confusions[0].people == "rewritten"
    assert snippet({"instruction": "x" * 500}) == "x" * 120
    assert snippet({"prompt": "Which is better?", "responses": ["a", "b"]}) == "Which is better?"


def test_an_empty_report() -> None:
    report = build_feedback("ner", [])
    assert (report.reviewed, report.fix_rate, report.rows, report.summary) == (0, None, [], None)
