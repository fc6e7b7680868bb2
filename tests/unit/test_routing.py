from __future__ import annotations

from llmlabel.domain import Consensus, Route
from llmlabel.guidelines import RoutingPolicy
from llmlabel.routing import decide_route

POLICY = RoutingPolicy(threshold=0.8, min_valid_samples=2)


def test_confident_label_is_accepted() -> None:
    route, reason = decide_route(Consensus(label={"x": 1}, confidence=0.9), POLICY, valid=3, drawn=3)
    assert route is Route.ACCEPT
    assert "0.90" in reason


def test_low_confidence_goes_to_review_with_threshold_in_reason() -> None:
    route, reason = decide_route(Consensus(label={"x": 1}, confidence=0.6), POLICY, valid=3, drawn=3)
    assert route is Route.REVIEW
    assert "0.60 < threshold 0.80" in reason


def test_no_label_and_too_few_valid_samples_go_to_review() -> None:
    route, reason = decide_route(Consensus(label=None, confidence=0.0), POLICY, valid=0, drawn=3)
    assert route is Route.REVIEW and "3 of 3 invalid" in reason
    route, reason = decide_route(Consensus(label={"x": 1}, confidence=1.0), POLICY, valid=1, drawn=3)
    assert route is Route.REVIEW and "only 1 usable" in reason


def test_task_risk_reason_forces_review_unless_disabled() -> None:
    consensus = Consensus(label={"x": 1}, confidence=1.0, review_reasons=["a sample flagged 'hate'"])
    route, reason = decide_route(consensus, POLICY, valid=3, drawn=3)
    assert route is Route.REVIEW and "flagged 'hate'" in reason
    relaxed = RoutingPolicy(threshold=0.8, task_reasons_force_review=False)
    assert decide_route(consensus, relaxed, valid=3, drawn=3)[0] is Route.ACCEPT
