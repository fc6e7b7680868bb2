"""Calibration core: bound, threshold fit, reliability table, audit draw, combined score."""

from __future__ import annotations

import pytest

from llmlabel.calibration import (
    EvidenceSource,
    FitStatus,
    JudgedLabel,
    Judgment,
    dedupe_evidence,
    fit_calibration,
    fit_score_model,
    fit_threshold,
    is_audited,
    precision_curve,
    reliability_table,
    wilson_interval,
)
from llmlabel.calibration.audit import audit_draw
from llmlabel.calibration.bounds import Z_95
from llmlabel.evaluate import auroc

Z2 = Z_95**2


def _judged(score: float, correct: bool, n: int) -> list[Judgment]:
    return [Judgment(score=score, correct=correct) for _ in range(n)]


# -- the bound ---------------------------------------------------------------


def test_wilson_interval_by_hand() -> None:
    # 9 of 10: centre (0.9 + z²/20) / (1 + z²/10), half z sqrt(0.009 + z²/400) / (1 + z²/10)
    low, high = wilson_interval(9, 10)
    centre = (0.9 + Z2 / 20) / (1 + Z2 / 10)
    half = Z_95 * (0.009 + Z2 / 400) ** 0.5 / (1 + Z2 / 10)
    assert (low, high) == pytest.approx((centre - half, centre + half))
    assert low == pytest.approx(0.5958, abs=1e-4)
    assert high == pytest.approx(0.9821, abs=1e-4)


def test_wilson_all_right_is_n_over_n_plus_z_squared() -> None:
    # with k = n the lower end simplifies to n / (n + z²): 30 of 30 cannot certify 0.9
    assert wilson_interval(30, 30)[0] == pytest.approx(30 / (30 + Z2))
    assert wilson_interval(30, 30)[0] < 0.9 < wilson_interval(40, 40)[0]
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


# -- the threshold fit -------------------------------------------------------


def test_fit_picks_the_lowest_threshold_whose_lower_bound_reaches_the_target() -> None:
    # 40 right at 0.9; at 0.5, 10 right and 10 wrong; at 0.95, 5 right
    judgments = _judged(0.95, True, 5) + _judged(0.9, True, 40)
    judgments += _judged(0.5, True, 10) + _judged(0.5, False, 10)
    fit = fit_threshold(judgments, target_precision=0.9, configured_threshold=0.8, min_evidence=30)
    assert fit.status == FitStatus.CALIBRATED
    assert fit.source == "calibrated"
    assert fit.threshold == 0.9
    assert (fit.accepted_n, fit.accepted_correct) == (45, 45)
    assert fit.precision_low == pytest.approx(45 / (45 + Z2))  # 0.9214
    assert fit.review_rate == pytest.approx(20 / 65)
    # at 0.5 all 65 are accepted, 55 right: the lower bound is far below 0.9
    assert wilson_interval(55, 65)[0] < 0.9


def test_too_little_evidence_keeps_the_configured_threshold() -> None:
    judgments = _judged(0.9, True, 29)
    fit = fit_threshold(judgments, target_precision=0.9, configured_threshold=0.8, min_evidence=30)
    assert fit.status == FitStatus.UNCALIBRATED
    assert fit.source == "configured"
    assert fit.threshold == 0.8
    assert fit.evidence_n == 29
    assert "uncalibrated" in fit.reason


def test_enough_evidence_but_no_threshold_reaching_the_target_accepts_nothing() -> None:
    # a confidently wrong model: the highest scores are the wrong ones
    judgments = _judged(1.0, False, 20) + _judged(0.6, True, 20)
    fit = fit_threshold(judgments, target_precision=0.9, configured_threshold=0.8, min_evidence=30)
    assert fit.status == FitStatus.UNREACHABLE
    assert fit.threshold is None
    assert fit.accepted_n == 0
    assert fit.review_rate == 1.0
    assert "every item goes to review" in fit.reason


def test_a_threshold_below_min_evidence_items_does_not_qualify() -> None:
    # 20 perfect items at 0.99 would certify nothing (20 / (20 + z²) = 0.836) and are too few
    judgments = _judged(0.99, True, 20) + _judged(0.3, False, 20)
    fit = fit_threshold(judgments, target_precision=0.8, configured_threshold=0.8, min_evidence=30)
    assert fit.status == FitStatus.UNREACHABLE


def test_curve_has_one_point_per_distinct_score_highest_first() -> None:
    judgments = [Judgment(0.2, False), Judgment(0.8, True), Judgment(0.8, False), Judgment(1.0, True)]
    curve = precision_curve(judgments)
    assert [p.threshold for p in curve] == [1.0, 0.8, 0.2]
    assert [(p.accepted_n, p.accepted_correct) for p in curve] == [(1, 1), (3, 2), (4, 2)]
    assert [p.review_rate for p in curve] == [0.75, 0.25, 0.0]


# -- reliability table -------------------------------------------------------


def test_reliability_table_and_ece_by_hand() -> None:
    judgments = [Judgment(0.05, False), Judgment(0.15, True), Judgment(0.95, True), Judgment(0.95, False)]
    table = reliability_table(judgments, n_bins=10)
    filled = {i: b for i, b in enumerate(table.bins) if b.n}
    assert sorted(filled) == [0, 1, 9]
    assert filled[9].mean_score == pytest.approx(0.95)
    assert filled[9].accuracy == 0.5
    assert len(table.bins) == 10 and table.bins[9].high == 1.0
    # ECE = 1/4 |0 - 0.05| + 1/4 |1 - 0.15| + 2/4 |0.5 - 0.95|
    assert table.ece == pytest.approx(0.25 * 0.05 + 0.25 * 0.85 + 0.5 * 0.45)
    assert reliability_table([Judgment(1.0, True)]).bins[9].n == 1  # 1.0 falls in the last bin
    assert reliability_table([]).ece is None


# -- audit draw --------------------------------------------------------------


def test_audit_draw_is_a_fixed_hash_of_salt_and_item() -> None:
    # first 8 bytes of sha256(b"audit\0v2hash\0item-1") / 2**64, computed once by hand
    assert audit_draw("v2hash", "item-1") == pytest.approx(0.2450875351029204)
    assert is_audited("v2hash", "item-1", 0.25)
    assert not is_audited("v2hash", "item-1", 0.24)
    assert not is_audited("v2hash", "item-1", 0.0)
    assert is_audited("v2hash", "item-1", 1.0)


def test_audit_share_is_about_the_configured_share() -> None:
    drawn = sum(is_audited("salt", f"item-{i}", 0.02) for i in range(20_000))
    assert 320 <= drawn <= 480  # 400 expected; 4.5 standard deviations either side
    assert is_audited("salt", "item-7", 0.5) == is_audited("salt", "item-7", 0.5)


# -- combined score ----------------------------------------------------------


def _rows() -> tuple[list[dict[str, float | None]], list[bool]]:
    """Consistency takes two values; a second signal breaks the ties where errors hide."""
    rows: list[dict[str, float | None]] = []
    correct: list[bool] = []
    for i in range(40):
        right = i % 4 > 1  # half wrong, as many at each consistency value
        rows.append({
            "consistency": 1.0 if i % 2 else 0.6,
            "agreement": 0.9 if right else 0.4,
            "logprob": None,
            "samples": 5.0,
        })
        correct.append(right)
    return rows, correct


def test_score_model_breaks_ties_among_raw_scores() -> None:
    rows, correct = _rows()
    model = fit_score_model(rows, correct)
    assert model is not None
    assert model.features == ["agreement", "consistency"]  # samples constant, logprob absent
    fitted = [model.predict(r) for r in rows]
    raw = [float(r["consistency"] or 0) for r in rows]
    assert auroc(raw, correct) == pytest.approx(0.5)
    assert auroc(fitted, correct) == 1.0
    assert all(0.0 < p < 1.0 for p in fitted)
    assert model.weights[0] > 0


def test_no_score_model_with_few_items_or_one_outcome() -> None:
    rows, correct = _rows()
    assert fit_score_model(rows[:19], correct[:19]) is None
    assert fit_score_model(rows, [True] * len(rows)) is None


# -- a whole fit -------------------------------------------------------------


def test_each_judged_item_counts_once_gold_first() -> None:
    evidence = [
        JudgedLabel("a", {"consistency": 1.0}, False, EvidenceSource.REVIEW),
        JudgedLabel("a", {"consistency": 1.0}, True, EvidenceSource.GOLD),
        JudgedLabel("b", {"consistency": 0.5}, True, EvidenceSource.REVIEW),
        JudgedLabel("b", {"consistency": 0.5}, False, EvidenceSource.AUDIT),
    ]
    kept = {j.item_id: j for j in dedupe_evidence(evidence)}
    assert kept["a"].source == EvidenceSource.GOLD and kept["a"].correct
    assert kept["b"].source == EvidenceSource.AUDIT and not kept["b"].correct


def test_fit_calibration_routes_on_the_fitted_score_when_it_can() -> None:
    rows, correct = _rows()
    evidence = [JudgedLabel(f"i{n}", r, c) for n, (r, c) in enumerate(zip(rows, correct, strict=True))]
    fit = fit_calibration(evidence, target_precision=0.8, configured_threshold=0.8, min_evidence=20)
    assert fit.score_signal == "fitted"
    assert fit.score_model is not None
    assert fit.threshold.status == FitStatus.CALIBRATED
    # 20 of 20 right: lower bound 20 / (20 + z²) = 0.839; one wrong more: 0.773 < 0.8
    assert fit.threshold.accepted_n == 20 and fit.threshold.accepted_correct == 20
    assert fit.evidence_by_source == {"gold": 40}
    assert fit.reliability.n == 40
    assert fit.fit_id == fit_calibration(
        evidence, target_precision=0.8, configured_threshold=0.8, min_evidence=20
    ).fit_id


def test_fit_calibration_falls_back_to_consistency_without_a_model() -> None:
    evidence = [JudgedLabel(f"i{n}", {"consistency": 0.9}, True) for n in range(10)]
    fit = fit_calibration(evidence, target_precision=0.9, configured_threshold=0.8)
    assert fit.score_signal == "consistency"
    assert fit.threshold.status == FitStatus.UNCALIBRATED
    assert fit.score({"consistency": 0.7}) == 0.7
