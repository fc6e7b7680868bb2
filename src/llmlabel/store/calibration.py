"""Calibration in Redis: per project and guideline version, its settings, fits, judged items and counts.

Evidence is not copied anywhere: the ids of items a person decided on are kept,
and the items are read where they live (the state says approved, fixed or
rejected, the record holds the signals), so an undone decision or a re-review is
never counted twice or left behind. The scan reads judged items only, not every
label of the version; the review rate comes from two counters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from llmlabel.calibration import CalibrationFit
from llmlabel.domain import ItemState, LabelRecord
from llmlabel.store import keys
from llmlabel.store.base import StoreBase
from llmlabel.store.models import AuditEvent

__all__ = ["CalibrationMixin", "LabeledItem"]

_FITS_MAX = 100
_SCAN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class LabeledItem:
    """An item labeled under a version: its state now and the record that routed it."""

    item_id: str
    state: ItemState
    record: LabelRecord


class CalibrationMixin(StoreBase):
    """Target precision per version, the current fit and its history, the version's items."""

    def calibration_target(self, team: str, project: str, version: str) -> float | None:
        """The target precision set over the API (None: the guideline's front matter)."""
        value = self._text(self.redis.hget(keys.calibration_settings(team, project, version), "target"))
        return float(value) if value else None

    def set_calibration_target(
        self, team: str, project: str, version: str, target: float | None, *, actor: str
    ) -> None:
        """Set (or with None, clear) the version's target precision; audited."""
        before = self.calibration_target(team, project, version)
        event = AuditEvent(
            at=self._now(),
            actor=actor,
            action="calibration.target",
            before={"project": project, "guideline_version": version, "target_precision": before},
            after={"project": project, "guideline_version": version, "target_precision": target},
        )
        settings = keys.calibration_settings(team, project, version)
        with self.redis.pipeline(transaction=True) as pipe:
            if target is None:
                pipe.hdel(settings, "target")
            else:
                pipe.hset(settings, "target", repr(target))
            pipe.lpush(keys.team_audit(team), event.model_dump_json())
            pipe.execute()

    def calibration_fit(self, team: str, project: str, version: str) -> CalibrationFit | None:
        """The version's current fit, if one was made."""
        text = self._text(self.redis.get(keys.calibration_fit(team, project, version)))
        return CalibrationFit.model_validate_json(text) if text else None

    def save_calibration_fit(self, team: str, project: str, version: str, fit: CalibrationFit) -> None:
        """Make `fit` current, keep a line of history and restart the judgment counter."""
        line = json.dumps({
            "fit_id": fit.fit_id,
            "at": self._now(),
            "status": fit.threshold.status.value,
            "threshold": fit.threshold.threshold,
            "evidence_n": fit.threshold.evidence_n,
            "score_signal": fit.score_signal,
        })
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.calibration_fit(team, project, version), fit.model_dump_json())
            pipe.lpush(keys.calibration_fits(team, project, version), line)
            pipe.ltrim(keys.calibration_fits(team, project, version), 0, _FITS_MAX - 1)
            pipe.set(keys.calibration_judged(team, project, version), 0)
            pipe.execute()

    def calibration_history(self, team: str, project: str, version: str) -> list[dict[str, object]]:
        """Earlier fits, newest first."""
        rows = self.redis.lrange(keys.calibration_fits(team, project, version), 0, -1)
        return [json.loads(row) for row in rows]

    def count_judgments(self, team: str, project: str, version: str, n: int = 1) -> int:
        """Add n new judgments of the version; returns how many since its last fit."""
        return int(self.redis.incrby(keys.calibration_judged(team, project, version), n))

    def labeled_counts(self, team: str, project: str, version: str) -> tuple[int, int]:
        """(labels saved under the version, of them accepted by the threshold)."""
        raw = self._hash(keys.calibration_counts(team, project, version))
        return int(raw.get("labeled", 0)), int(raw.get("accepted", 0))

    def mark_judged(self, team: str, project: str, version: str, item_ids: list[str]) -> None:
        """Remember items a person decided on (the evidence scan reads only these)."""
        if item_ids:
            now = self._now()
            self.redis.zadd(keys.calibration_items(team, project, version), dict.fromkeys(item_ids, now))

    def judged_items(self, team: str, project: str, version: str) -> Iterator[LabeledItem]:
        """Every item marked judged that is still stored, with its state now and label record.

        The state decides: an undone decision leaves the item waiting again, and then
        it is no evidence until decided anew.
        """
        index = keys.calibration_items(team, project, version)
        start = 0
        while True:
            ids = self._strs(self.redis.zrange(index, start, start + _SCAN_CHUNK - 1))
            if not ids:
                return
            with self.redis.pipeline(transaction=False) as pipe:
                for item_id in ids:
                    pipe.hmget(keys.item(team, item_id), ["state", "record"])
                rows = pipe.execute()
            for item_id, (state, record) in zip(ids, rows, strict=True):
                if state and record:
                    yield LabeledItem(
                        item_id=item_id,
                        state=ItemState(state),
                        record=LabelRecord.model_validate_json(record),
                    )
            start += _SCAN_CHUNK

    def label_record(self, team: str, item_id: str) -> LabelRecord | None:
        """The label record an item was routed with (None before it is labeled)."""
        text = self._text(self.redis.hget(keys.item(team, item_id), "record"))
        return LabelRecord.model_validate_json(text) if text else None
