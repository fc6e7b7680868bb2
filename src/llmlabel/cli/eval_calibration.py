"""The `--calibrate` part of `llmlabel eval`: fit on one labeled file, report on another."""

from __future__ import annotations

from typing import Any

from llmlabel.calibration.offline import calibrate_records, reroute, summarize
from llmlabel.domain import LabelRecord
from llmlabel.errors import InputError
from llmlabel.evaluate import evaluate_records
from llmlabel.labeler import Labeler

__all__ = ["calibrated_payload", "resolve_target"]

Gold = dict[str, Any]


def resolve_target(labeler: Labeler, target: float | None) -> float:
    """--target-precision, else the version's `routing.target_precision`."""
    value = target if target is not None else labeler.guideline.routing.target_precision
    if value is None:
        raise InputError(
            "--calibrate needs --target-precision (this guideline version sets no target_precision)",
            field="target_precision",
        )
    if not 0.5 < value < 1.0:
        raise InputError("--target-precision must be between 0.5 and 1 (exclusive)", field="target_precision")
    return value


def _pairs(records: list[LabelRecord], golds: dict[str, Gold]) -> list[tuple[LabelRecord, Gold]]:
    return [(r, golds[r.id]) for r in records if r.error is None and r.id in golds]


def _one_side(
    labeler: Labeler, items: dict[str, dict[str, Any]], cal: list[LabelRecord], rep: list[LabelRecord],
    cal_golds: dict[str, Gold], golds: dict[str, Gold], target: float, failed: int,
) -> dict[str, Any]:
    """Fit on `cal`, route `rep` by the fit, and report on `rep` (today's keys + the fit's)."""
    fit = calibrate_records(labeler, _pairs(cal, cal_golds), target)
    routed = _pairs(reroute(labeler, items, rep, fit), golds)
    configured = _pairs(reroute(labeler, items, rep, None), golds)
    payload = evaluate_records(labeler.task, routed, failed=failed).model_dump(mode="json")  # type: ignore[arg-type]
    summary = summarize(labeler, fit, routed, target)
    at_configured = summarize(labeler, fit, configured, target)
    payload.update(summary.model_dump(mode="json"))
    payload["configured_threshold"] = {
        "threshold": labeler.guideline.routing.threshold,
        "accepted_precision": at_configured.accepted_precision,
        "accepted_n": at_configured.accepted_n,
        "review_rate": at_configured.review_rate,
    }
    payload["calibration"] = fit.model_dump(mode="json")
    payload["distinct_values"] = {
        name: len({r.signals.get(name) for r, _ in routed if r.signals.get(name) is not None})
        for name in sorted({k for r, _ in routed for k in r.signals})
    }
    return payload


def calibrated_payload(
    labeler: Labeler, items: dict[str, dict[str, Any]], cal: list[LabelRecord], rep: list[LabelRecord],
    cal_golds: dict[str, Gold], golds: dict[str, Gold], target: float, *, failed: int, replay: bool,
) -> dict[str, Any]:
    """The `eval --calibrate --json` object; with `replay`, the same for adaptive sampling."""
    cal = reroute(labeler, items, cal, None)  # saved samples, current aggregation
    rep = reroute(labeler, items, rep, None)
    payload = _one_side(labeler, items, cal, rep, cal_golds, golds, target, failed)
    if replay:
        keep = {"backend", "model"}
        cal_a = [labeler.replay_adaptive(items[r.id], r).model_copy(update=r.model_dump(include=keep))
                 for r in cal if r.error is None]
        rep_a = [labeler.replay_adaptive(items[r.id], r).model_copy(update=r.model_dump(include=keep))
                 for r in rep if r.error is None]
        payload["adaptive_replay"] = _one_side(
            labeler, items, cal_a, rep_a, cal_golds, golds, target, failed
        )
    return payload
