"""Accept or send to review: a threshold per (task, guideline version) plus risk rules."""

from __future__ import annotations

from llmlabel.domain import Consensus, Route
from llmlabel.guidelines import RoutingPolicy

__all__ = ["decide_route"]


def decide_route(consensus: Consensus, policy: RoutingPolicy, *, valid: int, drawn: int) -> tuple[Route, str]:
    """The route for a consensus and a one-line reason a reviewer or operator can read."""
    if consensus.label is None:
        return Route.REVIEW, f"no usable sample ({drawn - valid} of {drawn} invalid)"
    if valid < policy.min_valid_samples:
        return Route.REVIEW, (
            f"only {valid} usable sample(s) of {drawn}; at least {policy.min_valid_samples} needed"
        )
    if consensus.review_reasons and policy.task_reasons_force_review:
        return Route.REVIEW, "; ".join(consensus.review_reasons)
    if consensus.confidence < policy.threshold:
        return Route.REVIEW, f"confidence {consensus.confidence:.2f} < threshold {policy.threshold:.2f}"
    return Route.ACCEPT, f"confidence {consensus.confidence:.2f} >= threshold {policy.threshold:.2f}"
