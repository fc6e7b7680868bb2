"""Agreement measures against values worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import pytest

from llmlabel.agreement import (
    SpanCounts,
    agreement_summary,
    cohen_kappa,
    krippendorff_alpha_nominal,
    micro_span_counts,
    observed_agreement,
    pairwise_accuracy,
    span_counts,
    span_f1,
)
from llmlabel.errors import InputError

# -- Cohen's kappa -----------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "expected"), [
    # po = 4/5; a: 1 x3, 0 x2; b: 1 x2, 0 x3; pe = (3*2 + 2*3)/25 = 12/25;
    # kappa = (4/5 - 12/25) / (1 - 12/25) = (8/25) / (13/25) = 8/13
    ([1, 1, 0, 0, 1], [1, 0, 0, 0, 1], 8 / 13),
    # po = 4/6; a: x3 y2 z1, b: x2 y2 z2; pe = (6 + 4 + 2)/36 = 1/3; kappa = (2/3 - 1/3)/(2/3) = 1/2
    (list("xxxyyz"), list("xxyyzz"), 0.5),
    # po = 0; pe = (1*1 + 1*1)/4 = 1/2; kappa = (0 - 1/2)/(1/2) = -1
    ([1, 0], [0, 1], -1.0),
    # po = 2/3; a: 0 x3, b: 0 x2, 1 x1; pe = 3*2/9 = 2/3; kappa = 0 (agreement no better than chance)
    ([0, 0, 0], [0, 0, 1], 0.0),
])
def test_cohen_kappa_matches_hand_computation(a: list[object], b: list[object], expected: float) -> None:
    assert cohen_kappa(a, b) == pytest.approx(expected)


def test_kappa_is_undefined_when_both_raters_use_one_category() -> None:
    # pe = 3*3/9 = 1: (po - pe)/(1 - pe) is 0/0. None, while the plain agreement is 1.
    assert cohen_kappa([False] * 3, [False] * 3) is None
    assert observed_agreement([False] * 3, [False] * 3) == 1.0


def test_kappa_needs_paired_non_empty_ratings() -> None:
    with pytest.raises(InputError, match="different numbers of items"):
        cohen_kappa([1, 0], [1])
    with pytest.raises(InputError, match="at least one"):
        cohen_kappa([], [])


def test_kappa_three_categories_by_hand() -> None:
    a = ["s", "h", "s", "n", "n", "h", "s", "n", "n", "n"]
    b = ["s", "s", "s", "n", "h", "h", "n", "n", "n", "n"]
    # po = 7/10; marginals s 3/3, h 2/2, n 5/5 -> pe = (9 + 4 + 25) / 100 = 0.38
    # kappa = (0.7 - 0.38) / (1 - 0.38) = 0.32 / 0.62 (scikit-learn gives the same)
    assert cohen_kappa(a, b) == pytest.approx(0.32 / 0.62)


# -- Krippendorff's alpha -------------------------------------------------------------


def test_alpha_on_two_raters_by_hand() -> None:
    # Units (a,a), (a,b), (b,b); each pair weighs 1/(m-1) = 1.
    # o_aa = 2, o_ab = o_ba = 1, o_bb = 2; n_a = n_b = 3, n = 6.
    # alpha = 1 - (n-1) * (o_ab + o_ba) / (n_a n_b + n_b n_a) = 1 - 5*2/18 = 4/9
    units = [("a", "a"), ("a", "b"), ("b", "b")]
    assert krippendorff_alpha_nominal(units) == pytest.approx(4 / 9)
    # Units with fewer than two ratings add nothing.
    assert krippendorff_alpha_nominal([*units, ("a", None), (None, None)]) == pytest.approx(4 / 9)


def test_alpha_weights_a_three_rater_unit_by_one_over_m_minus_one() -> None:
    # (a,a,b): 6 ordered pairs weighing 1/2: o_aa += 2/2, o_ab += 2/2, o_ba += 2/2.
    # Alone: n_a = 2, n_b = 1, n = 3; alpha = 1 - 2 * 2 / (2*1 + 1*2) = 0.
    assert krippendorff_alpha_nominal([("a", "a", "b")]) == pytest.approx(0.0)
    # With (a,a), (a,b), (b,b): o_aa = 3, o_ab = o_ba = 2, o_bb = 2; n_a = 5, n_b = 4, n = 9;
    # alpha = 1 - 8 * 4 / (5*4 + 4*5) = 1 - 32/40 = 0.2
    units = [("a", "a"), ("a", "b"), ("b", "b"), ("a", "a", "b")]
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.2)


def test_alpha_reproduces_krippendorffs_published_nominal_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers,
    # 12 units, missing values; the nominal alpha is reported as 0.743.
    n = None
    observers = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    alpha = krippendorff_alpha_nominal(zip(*observers, strict=True))
    assert alpha is not None and round(alpha, 3) == 0.743


def test_alpha_is_one_for_perfect_agreement_and_undefined_without_variation() -> None:
    assert krippendorff_alpha_nominal([("a", "a"), ("b", "b", "b")]) == pytest.approx(1.0)
    assert krippendorff_alpha_nominal([("a", "a"), ("a", "a")]) is None  # expected disagreement 0
    assert krippendorff_alpha_nominal([("a",), ("b", None)]) is None  # nothing pairable


# -- spans and rankings ----------------------------------------------------------------


def ents(*spans: tuple[int, int, str]) -> dict[str, list[dict[str, object]]]:
    return {"entities": [{"start": s, "end": e, "label": lab} for s, e, lab in spans]}


PRED = ents((0, 3, "person"), (5, 9, "location"))
REF = ents((0, 3, "person"), (5, 9, "org"), (10, 12, "location"))


def test_span_counts_match_start_end_and_label_exactly() -> None:
    # Only (0,3,person) matches: tp 1; (5,9,location) is fp; (5,9,org) and (10,12,location) fn.
    counts = span_counts(PRED, REF)
    assert counts == SpanCounts(tp=1, fp=1, fn=2)
    # P = 1/2, R = 1/3, F1 = 2PR/(P+R) = (1/3)/(5/6) = 2/5
    assert (counts.precision, counts.recall, counts.f1) == pytest.approx((0.5, 1 / 3, 0.4))
    assert span_f1(REF, PRED) == pytest.approx(0.4)  # F1 is symmetric


def test_no_spans_on_either_side_is_full_agreement() -> None:
    assert span_f1(ents(), ents()) == 1.0
    assert span_f1(None, ents((0, 1, "x"))) == 0.0


def test_micro_span_counts_sum_over_items() -> None:
    # (1,1,2) + (0,0,0) + (1,0,0) = (2,1,2); F1 = 2*2 / (2*2 + 1 + 2) = 4/7
    total = micro_span_counts([(PRED, REF), (ents(), ents()), (ents((0, 1, "x")), ents((0, 1, "x")))])
    assert total == SpanCounts(2, 1, 2)
    assert total.f1 == pytest.approx(4 / 7)


@pytest.mark.parametrize(("a", "b", "expected"), [
    ([0, 1, 2], [0, 2, 1], 2 / 3),   # (0,1) same, (0,2) same, (1,2) swapped
    ([2, 1, 0], [0, 1, 2], 0.0),     # every pair reversed
    ([2, 0, 1], [0, 2], 0.0),        # only 0 and 2 are in both; ordered differently
    ([1, 0], [1, 0], 1.0),
    ([0, 1], [0], None),             # fewer than two common responses
])
def test_pairwise_accuracy(a: list[int], b: list[int], expected: float | None) -> None:
    assert pairwise_accuracy(a, b) == (pytest.approx(expected) if expected is not None else None)


# -- summaries per task ------------------------------------------------------------------


def test_safety_summary_is_per_category_kappa_skipping_unjudged_flags() -> None:
    pairs = [
        ({"flags": {"sexual": True, "hate": False}}, {"flags": {"sexual": True, "hate": False}}),
        ({"flags": {"sexual": False, "hate": False}}, {"flags": {"sexual": True, "hate": None}}),
        ({"flags": {"sexual": False, "hate": True}}, {"flags": {"sexual": False, "hate": False}}),
        (None, {"flags": {"sexual": True, "hate": True}}),
    ]
    summary = agreement_summary("safety", pairs)
    assert (summary.n_pairs, summary.n_skipped) == (3, 1)
    # sexual: a = T F F, b = T T F; po = 2/3; pe = (1*2 + 2*1)/9 = 4/9; kappa = (2/9)/(5/9) = 0.4
    assert summary.metrics["kappa/sexual"] == pytest.approx(0.4)
    assert summary.metrics["agreement/sexual"] == pytest.approx(2 / 3)
    # hate (null skipped): a = F T, b = F F; po = 1/2; pe = (1*2)/4 = 1/2; kappa = 0
    assert summary.metrics["kappa/hate"] == pytest.approx(0.0)
    assert summary.metrics["agreement/hate"] == pytest.approx(0.5)


def test_classification_summary_single_label() -> None:
    # a = pos neg neg pos, b = pos pos neg pos; po = 3/4; pe = (2*3 + 2*1)/16 = 1/2; kappa = 1/2
    pairs = [({"label": x}, {"label": y}) for x, y in
             [("pos", "pos"), ("neg", "pos"), ("neg", "neg"), ("pos", "pos")]]
    metrics = agreement_summary("classification", pairs).metrics
    assert metrics == pytest.approx({"kappa/label": 0.5, "agreement/label": 0.75})


def test_classification_summary_multi_label_is_per_label_presence() -> None:
    # "a": present T F vs T F -> kappa 1; "b": T F vs F T -> po 0, pe 1/2 -> kappa -1; no exact match.
    pairs = [({"labels": ["a", "b"]}, {"labels": ["a"]}), ({"labels": []}, {"labels": ["b"]})]
    metrics = agreement_summary("classification", pairs).metrics
    assert metrics["kappa/a"] == pytest.approx(1.0)
    assert metrics["kappa/b"] == pytest.approx(-1.0)
    assert metrics["agreement/exact"] == 0.0


def test_ner_summary_is_micro_span_scores_with_the_reviewer_as_reference() -> None:
    pairs = [(PRED, REF), (ents(), ents()), (ents((0, 1, "x")), ents((0, 1, "x")))]
    # tp 2, fp 1, fn 2: P = 2/3, R = 2/4, F1 = 4/7
    assert agreement_summary("ner", pairs).metrics == pytest.approx(
        {"span_precision": 2 / 3, "span_recall": 0.5, "span_f1": 4 / 7})


def test_preference_summary_is_micro_pairwise_accuracy() -> None:
    # 2 of 3 pairs agree in the first item, 1 of 1 in the second: 3/4; both pick the same best.
    pairs = [({"ranking": [0, 1, 2]}, {"ranking": [0, 2, 1]}), ({"ranking": [1, 0]}, {"ranking": [1, 0]})]
    assert agreement_summary("preference", pairs).metrics == pytest.approx(
        {"pairwise_accuracy": 0.75, "agreement/best": 1.0})


def test_instruction_summary_averages_similarity_and_compares_categories_and_ratings() -> None:
    pairs = [
        # "a b" vs "a c": one shared word, P = R = 1/2 -> 0.5 (ROUGE-L and token F1 agree here)
        ({"response": "a b", "category": "gen"}, {"response": "a c", "category": "gen"}),
        ({"response": "x y", "category": "gen"}, {"response": "x y", "category": "cls"}),
    ]
    metrics = agreement_summary("instruction", pairs).metrics
    assert metrics["similarity"] == pytest.approx(0.75)  # (0.5 + 1.0) / 2
    # category: a = gen gen, b = gen cls; po = 1/2; pe = 2*1/4 = 1/2; kappa = 0
    assert metrics["kappa/category"] == pytest.approx(0.0)
    rated = [({"quality": 4, "issues": []}, {"quality": 5, "issues": []}),
             ({"quality": 3, "issues": []}, {"quality": 3, "issues": []})]
    assert agreement_summary("instruction", rated).metrics == pytest.approx(
        {"agreement/quality": 0.5, "quality_mae": 0.5})  # |4-5| + |3-3| = 1 over 2


def test_summary_of_only_missing_labels_is_empty_and_unknown_tasks_fail() -> None:
    summary = agreement_summary("ner", [(None, None)])
    assert (summary.n_pairs, summary.n_skipped, summary.metrics) == (0, 1, {})
    with pytest.raises(InputError, match="no agreement measure for task 'audio'"):
        agreement_summary("audio", [])


def test_text_similarity_falls_back_to_token_f1_without_the_tasks_package(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from llmlabel import agreement

    # Same bag of words, different order: token F1 = 1; ROUGE-L's LCS is 2 of 3 words -> 2/3.
    monkeypatch.setattr(agreement, "_similarity", None)
    assert agreement.text_similarity("the cat sat", "cat the sat") == pytest.approx(1.0)
    assert agreement.text_similarity("", "") == 1.0
    assert agreement.text_similarity("a", "b") == 0.0
    monkeypatch.undo()
    if agreement.SIMILARITY_METRIC == "rougeL_f1":
        assert agreement.text_similarity("the cat sat", "cat the sat") == pytest.approx(2 / 3)
