"""Calibration of a guideline version: its report, its target precision, a refit on demand.

The report is the JSON the operator page charts: the precision / review-rate
curve (`curve`, one row per threshold, `chosen` marking the fitted one), the
reliability table (`reliability` bins and `ece`), the estimated precision of
accepted labels with its interval (`accepted_precision`, and `audit` from the
blind audit), the review rate and the evidence count.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body
from pydantic import BaseModel, ConfigDict, Field

from llmlabel import calibration_jobs
from llmlabel.api.bodies import api_router
from llmlabel.api.catalog import require_task
from llmlabel.api.deps import Operator, RegistryDep, StoreDep, actor_of
from llmlabel.calibration.report import CalibrationReport
from llmlabel.errors import NotFoundError
from llmlabel.guidelines import VersionRegistry

__all__ = ["router"]

router = api_router(prefix="/v1/tasks", tags=["calibration"])


class CalibrationUpdate(BaseModel):
    """A new target precision for the version (null: back to the guideline's front matter)."""

    model_config = ConfigDict(extra="forbid")

    target_precision: float | None = Field(gt=0.5, lt=1.0)


def _checked(registry: VersionRegistry, task: str, version: str) -> None:
    require_task(registry, task, as_not_found=True)
    have = registry.guideline_versions(task)
    if version not in have:
        raise NotFoundError(
            f"no guideline version {version!r} for task {task!r} (known: {', '.join(have)})"
        )


@router.get(
    "/{task}/versions/{version}/calibration",
    response_model=CalibrationReport,
    summary="Calibration report of a guideline version",
)
def calibration_report(
    principal: Operator, store: StoreDep, registry: RegistryDep, task: str, version: str
) -> CalibrationReport:
    """Threshold and where it comes from, accepted precision, review rate, curve, reliability."""
    _checked(registry, task, version)
    return calibration_jobs.report(store, registry, principal.team, task, version)


@router.post(
    "/{task}/versions/{version}/calibrate",
    response_model=CalibrationReport,
    summary="Refit the version's score and threshold now",
)
def calibrate(
    principal: Operator, store: StoreDep, registry: RegistryDep, task: str, version: str
) -> CalibrationReport:
    """Fit on every judged label of the version (gold, reviews, audits); later labels route by it."""
    _checked(registry, task, version)
    calibration_jobs.refit(store, principal.team, registry.guideline(task, version))
    return calibration_jobs.report(store, registry, principal.team, task, version)


@router.put(
    "/{task}/versions/{version}/calibration",
    response_model=CalibrationReport,
    summary="Set the version's target precision (and refit)",
)
def set_target(
    principal: Operator,
    store: StoreDep,
    registry: RegistryDep,
    task: str,
    version: str,
    body: Annotated[CalibrationUpdate, Body()],
) -> CalibrationReport:
    """Change the target precision over the API; the version is refitted at once."""
    _checked(registry, task, version)
    store.set_calibration_target(
        principal.team, task, version, body.target_precision, actor=actor_of(principal)
    )
    calibration_jobs.refit(store, principal.team, registry.guideline(task, version))
    return calibration_jobs.report(store, registry, principal.team, task, version)
