"""The Store facade: one object with every Redis operation the API and workers use.

The methods live in small mixins by concern (api keys, batches, labeling,
review and second review, review tools (undo, bulk approve, history), chart reads, audit,
projects and versions, example pools, gold items, evaluation leases and gold in review, the spend ledger and
budgets, webhook deliveries, offline batches, calibration); all of them
share `StoreBase` (client, settings, Lua scripts).
"""

from __future__ import annotations

from llmlabel.store.apikeys import ApiKeysMixin
from llmlabel.store.audit import AuditMixin
from llmlabel.store.batches import BatchesMixin
from llmlabel.store.calibration import CalibrationMixin
from llmlabel.store.evaluation_leases import EvaluationLeasesMixin
from llmlabel.store.gold import GoldMixin
from llmlabel.store.gold_review import GoldReviewMixin
from llmlabel.store.labeling import LabelingMixin
from llmlabel.store.lifecycle import LifecycleMixin
from llmlabel.store.listings import ListingsMixin
from llmlabel.store.models import ReapReport
from llmlabel.store.offline import OfflineMixin
from llmlabel.store.pool import PoolMixin
from llmlabel.store.projects import ProjectsMixin
from llmlabel.store.review import ReviewMixin
from llmlabel.store.review_tools import ReviewToolsMixin
from llmlabel.store.spend import SpendMixin
from llmlabel.store.stats import StatsMixin
from llmlabel.store.versions import VersionsMixin
from llmlabel.store.webhooks import WebhooksMixin

__all__ = ["Store"]


class Store(
    ApiKeysMixin,
    StatsMixin,
    BatchesMixin,
    LabelingMixin,
    ReviewToolsMixin,
    ReviewMixin,
    VersionsMixin,
    EvaluationLeasesMixin,
    ProjectsMixin,
    PoolMixin,
    GoldMixin,
    GoldReviewMixin,
    SpendMixin,
    WebhooksMixin,
    OfflineMixin,
    CalibrationMixin,
    LifecycleMixin,
    ListingsMixin,
    AuditMixin,
):
    """Every read and atomic state transition of llmlabel, on one sync Redis client.

    Build it with `Store.from_settings(settings)` or `Store(redis.Redis(..., decode_responses=True), settings=...)`.
    """

    def reap(self) -> ReapReport:
        """Housekeeping (`LabelingMixin.reap`), plus gold evaluations whose worker died."""
        report = super().reap()
        requeued, failed = self.reap_evaluations()
        report.evaluations_requeued, report.evaluations_failed = requeued, failed
        return report
