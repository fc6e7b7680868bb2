"""Accept or send to review: a threshold per (task, guideline version) plus risk rules."""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmlabel.domain import Consensus, Route
from llmlabel.guidelines import RoutingPolicy

__all__ = ["Cutoff", "decide_route", "reviewer_reason"]

_THRESHOLD_CLAUSE = re.compile(r" (<|>=) (calibrated )?threshold \d+(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class Cutoff:
    """A calibrated threshold on one score; threshold None: no threshold reaches the target."""

    signal: str
    score: float
    threshold: float | None
    fit_id: str


def decide_route(
    consensus: Consensus,
    policy: RoutingPolicy,
    *,
    valid: int,
    drawn: int,
    cutoff: Cutoff | None = None,
) -> tuple[Route, str]:
    """The route for a consensus and a one-line reason a reviewer or operator can read.

    Without a cutoff the version's configured threshold applies to the consensus
    confidence; with one, the calibrated threshold applies to its score.
    """
    if consensus.label is None:
        return Route.REVIEW, f"no usable sample ({drawn - valid} of {drawn} invalid)"
    if valid < policy.min_valid_samples:
        return Route.REVIEW, (
            f"only {valid} usable sample(s) of {drawn}; at least {policy.min_valid_samples} needed"
        )
    if consensus.review_reasons and policy.task_reasons_force_review:
        return Route.REVIEW, "; ".join(consensus.review_reasons)
    if cutoff is not None:
        if cutoff.threshold is None:
            return Route.REVIEW, (
                f"no calibrated threshold reaches the target precision (fit {cutoff.fit_id})"
            )
        relation = "<" if cutoff.score < cutoff.threshold else ">="
        route = Route.REVIEW if relation == "<" else Route.ACCEPT
        return route, (
            f"{cutoff.signal} {cutoff.score:.2f} {relation} calibrated threshold "
            f"{cutoff.threshold:.2f}"
        )
    if consensus.confidence < policy.threshold:
        return Route.REVIEW, f"confidence {consensus.confidence:.2f} < threshold {policy.threshold:.2f}"
    return Route.ACCEPT, f"confidence {consensus.confidence:.2f} >= threshold {policy.threshold:.2f}"


def reviewer_reason(reason: str | None) -> str | None:
    """The routing reason as reviewers see it: "confidence 0.62", without the threshold.

    Blind audit: an accepted label sent to review must look like any other review
    item, and "0.95 >= threshold 0.80" would give it away; so no reviewer view says
    which side of the threshold a label fell (operators see the full reason).
    """
    if reason is None:
        return None
    return _THRESHOLD_CLAUSE.sub("", reason)
